"""The live connections of this app, their subscriptions, and the fan-out of broker events to them.

The broker hands every stored event to ``Hub.offer`` (in order). When nothing is waiting, the
publisher's thread offers it at once; otherwise it is queued, in a bounded queue (a publisher
waits when it is full), for the fan-out thread. Either way the event's frame is encoded once
and offered, in order, to the connections whose patterns match its type, found in one
subscription index (subscriptions.py): an event costs what matches it, not every pattern
of every page. What one visitor may hold is bounded: open pages per user and per address,
patterns per user.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

from .brokers.base import Broker, Envelope
from .connection import Connection
from .delivery import event_text
from .subscriptions import Subscriptions

log = logging.getLogger("tessera.hub")


@dataclass(frozen=True)
class Limits:
    pages_per_user: int = 32
    pages_per_address: int = 256
    patterns_per_user: int = 2048
    queue: int = 100_000


class Refused(Exception):
    """A visitor already holds as much as the limits allow; the message says which."""


class Hub:
    """Offers every event the broker stores to every open connection that asked for it."""

    def __init__(self, broker: Broker, limits: Limits = Limits()):
        self.limits = limits
        self._connections: set[Connection] = set()
        self._index: Subscriptions[Connection] = Subscriptions()
        self._held: dict[Connection, set[str]] = {}  # each connection's patterns, as the index holds them
        self._pages: Counter[tuple[str, str]] = Counter()  # ("user", id) and ("address", ip) -> open pages
        self._patterns: Counter[str] = Counter()  # user -> patterns held over all their pages
        self._lock = threading.Lock()
        self._queue: queue.Queue[Envelope | None] = queue.Queue(limits.queue)
        self._queued = self._done = 0  # events queued for the fan-out thread, and those it finished
        self._inline = False  # a publisher's thread is offering an event itself
        self._thread = threading.Thread(target=self._fan_out, name="tessera-fan-out", daemon=True)
        self._thread.start()
        self._stop = broker.listen(self.offer)

    # -- who is here ----------------------------------------------------------------------
    def admit(self, user: str, address: str) -> Callable[[], None]:
        """Count one more page of ``user`` at ``address``; Refused past the limits. Returns the release."""
        keys = (("user", user), ("address", address))
        with self._lock:
            if self._pages[keys[0]] >= self.limits.pages_per_user:
                raise Refused(f"this user has {self.limits.pages_per_user} pages open already")
            if self._pages[keys[1]] >= self.limits.pages_per_address:
                raise Refused(f"this address has {self.limits.pages_per_address} pages open already")
            self._pages.update(keys)
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if not released.is_set():
                    released.set()
                    self._pages.subtract(keys)
                    for key in keys:
                        if self._pages[key] <= 0:
                            del self._pages[key]

        return release

    def register(self, connection: Connection) -> Callable[[], None]:
        with self._lock:
            self._connections.add(connection)
            self._held[connection] = set()

        def unregister() -> None:
            with self._lock:
                self._connections.discard(connection)
                self._drop(connection, self._held.pop(connection, set()))

        return unregister

    def watch(self, connection: Connection, patterns: Iterable[str]) -> bool:
        """Add ``patterns`` for ``connection``; False (nothing added) past the user's limit."""
        with self._lock:
            held = self._held.get(connection)
            if held is None:  # unregistered meanwhile
                return True
            new = set(patterns) - held
            if self._patterns[connection.user] + len(new) > self.limits.patterns_per_user:
                return False
            self._patterns[connection.user] += len(new)
            held |= new
            for pattern in new:
                self._index.add(connection, pattern)
        return True

    def unwatch(self, connection: Connection, patterns: Iterable[str]) -> None:
        with self._lock:
            held = self._held.get(connection, set())
            gone = held & set(patterns)
            held -= gone
            self._drop(connection, gone)

    def _drop(self, connection: Connection, patterns: set[str]) -> None:
        for pattern in patterns:
            self._index.remove(connection, pattern)
        self._patterns[connection.user] -= len(patterns)
        if self._patterns[connection.user] <= 0:
            del self._patterns[connection.user]

    # -- fan-out --------------------------------------------------------------------------
    def offer(self, envelope: Envelope) -> None:
        """The broker's listener (called for one event at a time, in order): when nothing before it
        is still queued or being fanned out, offer ``envelope`` at once, in the caller's thread
        (no hand-off on the way from a publisher to the other pages); else queue it behind the
        others, waiting while the queue is full."""
        if not self._inline and self._queued == self._done:
            self._inline = True  # an event published while this one is offered waits its turn in the queue
            try:
                self._offer(envelope)
            finally:
                self._inline = False
            return
        self._queued += 1
        self._queue.put(envelope)

    def _fan_out(self) -> None:
        while (envelope := self._queue.get()) is not None:
            self._offer(envelope)
            self._done += 1  # only this thread counts done, only offer() counts queued

    def _offer(self, envelope: Envelope) -> None:
        try:
            self._offer_matching(envelope)
        except Exception:  # one bad event must not stop delivery of the next ones
            log.exception("could not fan out %s event %s", envelope.event.type, envelope.event.id)

    def _offer_matching(self, envelope: Envelope) -> None:
        with self._lock:
            connections = self._index.match(envelope.event.type)
        if not connections:
            return
        text = event_text(envelope)
        for connection in connections:
            try:
                connection.offer(envelope, text)
            except Exception:  # one page's failure must not cost the pages after it this event
                log.exception("could not offer %s event %s to a page of %s", envelope.event.type,
                              envelope.event.id, connection.user)

    def __len__(self) -> int:
        return len(self._connections)

    def pages_per_user(self) -> Counter[str]:
        """How many open connections each user has in this process."""
        with self._lock:
            return Counter(connection.user for connection in self._connections)

    def close(self) -> None:
        self._stop()
        self._queue.put(None)
        for connection in list(self._connections):
            connection.close(1001, "server shutting down")
