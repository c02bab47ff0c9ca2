"""Frames waiting for a connection's writer thread, bounded in bytes, not in count."""

from __future__ import annotations

import threading
from collections import deque


class Outbox:
    """A FIFO of encoded frames that holds at most ``limit`` characters.

    ``put`` refuses (returns False) a frame that would pass the limit, or waits up to
    ``timeout`` seconds for room; a refused frame means the page is not reading.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._frames: deque[str] = deque()
        self._size = 0
        self._closed = False
        self._changed = threading.Condition()

    def put(self, text: str, timeout: float | None = None) -> bool:
        with self._changed:
            if timeout:
                self._changed.wait_for(lambda: self._fits(text) or self._closed, timeout)
            if self._closed:
                return True
            if not self._fits(text):
                return False
            self._frames.append(text)
            self._size += len(text)
            self._changed.notify_all()
            return True

    def _fits(self, text: str) -> bool:
        return not self._frames or self._size + len(text) <= self.limit

    def get(self) -> str | None:
        """The next frame; None once the outbox is closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._frames or self._closed)
            if self._closed:
                return None
            text = self._frames.popleft()
            self._size -= len(text)
            self._changed.notify_all()
            return text

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._frames.clear()
            self._changed.notify_all()
