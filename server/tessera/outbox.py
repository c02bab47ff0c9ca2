"""Frames waiting for a connection's writer thread, bounded in characters, not in count.

Built on ``queue.SimpleQueue`` (implemented in C): the fan-out thread hands one frame to
each of N connections per event, so the hand-off must be cheap. Only a producer that
waits for room (the replay) pays for a ``threading.Event``.
"""

from __future__ import annotations

import queue
import threading
import time


class Outbox:
    """A FIFO of encoded frames holding at most ``limit`` characters (one larger frame fits alone).

    ``put`` refuses (returns False) a frame that does not fit, or waits up to ``timeout``
    seconds for room; a refused frame means the page is not reading.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._frames: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._size = 0
        self._lock = threading.Lock()
        self._room = threading.Event()
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
                self._room.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._room.wait(remaining):
                return False

    def get(self) -> str | None:
        """The next frame; None once the outbox is closed (frames still queued are dropped)."""
        text = self._frames.get()
        with self._lock:
            if self._closed or text is None:
                return None
            self._size -= len(text)
            if self._waiting:
                self._waiting = False
                self._room.set()
        return text

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._room.set()
        self._frames.put(None)
