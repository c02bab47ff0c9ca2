"""Frames waiting for a connection's writer, bounded in characters, not in count.

Built on ``queue.SimpleQueue`` (implemented in C): the fan-out thread hands one frame to
each of N connections per event, so the hand-off must be cheap. Only a producer that
waits for room (the replay) pays for a ``threading.Event``. Control items (a pong) are
tiny and always taken, so a page that reads slowly still gets its pings answered in order.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

EMPTY = object()  # what ``get`` returns when nothing arrived within its timeout


class Outbox:
    """A FIFO of encoded frames holding at most ``limit`` characters (one larger frame fits alone).

    ``put`` refuses (returns False) a frame that does not fit, or waits up to ``timeout``
    seconds for room; a refused frame means the page is not reading.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._frames: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._size = 0
        self._lock = threading.Lock()
        self._room: threading.Event | None = None  # made by the first producer that waits for room
        self._waiting = False
        self._closed = False

    def put(self, text: str, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or 0)
        while True:
            with self._lock:
                if self._closed:
                    return True
                if self._size == 0 or self._size + len(text) <= self.limit:
                    self._size += len(text)
                    self._frames.put(text)
                    return True
                self._waiting = bool(timeout)
                if self._room is None:
                    self._room = threading.Event()
                self._room.clear()
                room = self._room
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not room.wait(remaining):
                return False

    def put_control(self, item: object) -> None:
        """Queue a control item (not text) behind the frames already queued; never refused."""
        with self._lock:
            if not self._closed:
                self._frames.put(item)

    def get(self, timeout: float | None = None) -> Any:
        """The next frame or control item; EMPTY after ``timeout`` seconds; None once closed."""
        try:
            item = self._frames.get(timeout=timeout)
        except queue.Empty:
            return EMPTY
        with self._lock:
            if self._closed or item is None:
                return None
            if isinstance(item, str):
                self._size -= len(item)
                if self._waiting:
                    self._waiting = False
                    self._room.set()
        return item

    def close(self) -> None:
        """Drop what is queued; ``get`` answers None from now on."""
        with self._lock:
            self._closed = True
            if self._room is not None:
                self._room.set()
        self._frames.put(None)
