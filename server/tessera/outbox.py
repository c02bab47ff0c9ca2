"""What waits to be written to one socket, and who may write to it now.

At most one owner writes to a socket at a time. Whoever queues a frame while nobody writes and
nothing waits becomes the owner and writes it at once (``put`` answers WRITE); otherwise the
frame waits its turn behind the owner, who takes it with ``next``. ``next`` gives ownership up,
in the same locked step, when nothing is left, so no frame is ever stranded and no two writers
ever interleave. The wait is bounded in characters, not in count: a refused frame means the page
is not reading. Only a producer that waits for room (the replay) pays for a ``threading.Event``.

The first close wins: queued frames are dropped, and the close item is the last one taken.
"""

from __future__ import annotations

import enum
import threading
import time
from typing import Any


class Put(enum.Enum):
    WRITE = "write"  # nobody writes and nothing waits: the caller owns the socket and writes the item itself
    QUEUED = "queued"  # the owner will write it (or the outbox is closed and it was dropped)
    FULL = "full"  # refused: the page has left too much unread


class Outbox:
    """A FIFO of items holding at most ``limit`` characters of frames (one larger frame fits alone)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.lock = threading.Lock()
        self._items: list[Any] = []
        self._head = 0  # items before it were taken
        self._size = 0
        self._owned = False
        self._last: Any = None  # the close item, taken after everything else
        self._closed = False
        self._room: threading.Event | None = None  # made by the first producer that waits for room
        self._waiting = False

    def put(self, item: Any, size: int = 0, timeout: float | None = None) -> Put:
        """Queue ``item``; ``size`` characters count against the limit (0 for control items, never
        refused). Waits up to ``timeout`` seconds for room."""
        deadline = time.monotonic() + (timeout or 0)
        while True:
            with self.lock:
                if self._closed:
                    return Put.QUEUED
                if not self._owned:
                    self._owned = True
                    return Put.WRITE
                if size == 0 or self._size == 0 or self._size + size <= self.limit:
                    self._size += size
                    self._items.append(item)
                    return Put.QUEUED
                self._waiting = bool(timeout)
                if self._room is None:
                    self._room = threading.Event()
                self._room.clear()
                room = self._room
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not room.wait(remaining):
                return Put.FULL

    def next(self) -> Any:
        """For the owner: the next item (the close item last); None when nothing is left, and then
        the caller owns the socket no more (unless it is closed: then nobody writes again)."""
        with self.lock:
            if self._closed:
                item, self._last = self._last, None
                return item
            if self._head == len(self._items):
                self._items.clear()
                self._head = 0
                self._owned = False
                return None
            item = self._items[self._head]
            self._items[self._head] = None
            self._head += 1
            if self._head > 64 and self._head * 2 > len(self._items):
                del self._items[:self._head]
                self._head = 0
            if isinstance(item, str):
                self._size -= len(item)
                if self._waiting:
                    self._waiting = False
                    self._room.set()
            return item

    def close(self, last: Any) -> tuple[bool, bool]:
        """Drop what waits; ``last`` is the one item still to write. Returns (first close, caller
        owns the socket and writes ``last`` itself)."""
        with self.lock:
            if self._closed:
                return False, False
            self._closed = True
            self._items, self._head, self._size = [], 0, 0
            if self._room is not None:
                self._room.set()
            if self._owned:
                self._last = last
                return True, False
            self._owned = True
            return True, True
