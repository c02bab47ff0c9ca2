"""One clock for every open socket of a process: pings, silence and deadlines.

A socket needs a few things done on time: a ping every PING_INTERVAL, a close for a peer silent
for two of them, a close for a page that never said hello, a shutdown for a peer that never
answered our close frame or whose window stays shut. One thread per process (a greenlet under
gevent), started with the first socket, does them all, so that a socket waits for nothing with
a timeout of its own: an idle page costs no wake-ups, no timers and no thread.

Each tick handles the deadlines that are due and one slot of the watched sockets: a socket is
visited once per PING_INTERVAL, and the visits of many sockets are spread over the interval.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable, Protocol

log = logging.getLogger("tessera.ticker")

PING_INTERVAL = 25.0  # seconds between pings; a peer silent for two of them is dropped
TICK = 0.25  # seconds between two ticks: how late a deadline may fire


class Watched(Protocol):
    def tick(self, now: float) -> None:
        """Visited once per ping interval (on the ticker's thread): ping, or close when silent."""


class Ticker:
    """Visits every watched socket once per ``ping_interval`` and calls each deadline once it passes.

    Whatever it calls runs on its thread and must not block (queue a frame, close, shut down).
    """

    def __init__(self, *, ping_interval: float = PING_INTERVAL, tick: float = TICK):
        self.ping_interval = ping_interval
        self.tick = tick
        self._slots: list[set[Watched]] = [set() for _ in range(max(1, round(ping_interval / tick)))]
        self._next_slot = 0  # where the next socket goes (round robin)
        self._deadlines: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # keeps the heap from comparing callbacks
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, watched: Watched) -> int:
        """Visit ``watched`` from now on; returns its slot, for ``unwatch``."""
        with self._lock:
            slot = self._next_slot
            self._next_slot = (slot + 1) % len(self._slots)
            self._slots[slot].add(watched)
            self._start()
        return slot

    def unwatch(self, watched: Watched, slot: int) -> None:
        with self._lock:
            self._slots[slot].discard(watched)

    def at(self, when: float, call: Callable[[], None]) -> None:
        """Call ``call`` once, on the first tick at or after ``when`` (time.monotonic())."""
        with self._lock:
            heapq.heappush(self._deadlines, (when, next(self._order), call))
            self._start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tessera-ticker", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        slot = 0
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            due = []
            with self._lock:  # decide only: the calls happen after it is released
                while self._deadlines and self._deadlines[0][0] <= now:
                    due.append(heapq.heappop(self._deadlines)[2])
                visited = list(self._slots[slot])
            slot = (slot + 1) % len(self._slots)
            for call in due:
                try:
                    call()
                except Exception:
                    log.exception("a socket deadline failed")
            for watched in visited:
                try:
                    watched.tick(now)
                except Exception:
                    log.exception("pinging a socket failed")


_process_ticker: Ticker | None = None
_made = threading.Lock()


def process_ticker() -> Ticker:
    """The ticker of this process, made on first use (its thread starts with the first socket)."""
    global _process_ticker
    with _made:
        if _process_ticker is None:
            _process_ticker = Ticker()
        return _process_ticker
