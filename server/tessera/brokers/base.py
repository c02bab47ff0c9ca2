"""The Broker protocol: an ordered, replayable log of events with fan-out to listeners.

Brokers know nothing of Flask, sockets or pages. They give each stored event a ``seq``
(increasing within one ``epoch``), keep the last ``history`` events for replay, drop
envelopes whose ``key`` they already stored within an idempotency window, and call every
listener with every stored event, in ``seq`` order.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Protocol

from ..events import Event

log = logging.getLogger("tessera.brokers")

Listener = Callable[["Envelope"], None]


class Listeners:
    """A broker's listeners: added and stopped from any thread; each called in turn with every
    stored envelope, and one that fails is logged without keeping the envelope from the others."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def add(self, listener: Listener) -> Callable[[], None]:
        """Start calling ``listener``; returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def call(self, envelope: "Envelope") -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(envelope)
            except Exception:
                log.exception("a listener failed on %s event %s (seq %s)", envelope.event.type,
                              envelope.event.id, envelope.event.seq)

    def clear(self) -> None:
        with self._lock:
            self._listeners.clear()


def idempotency_key(*parts: str) -> str:
    """A fixed-length string naming one event for duplicate detection, from the parts that
    make it unique: ``("page", user, source, id)`` for pages, ``("event", source, id)`` for
    backends and Python. Hashed, so a broker stores 64 characters whatever the id's length
    (Redis: ``SET <prefix><key> <seq> NX EX <window>``)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()  # repr: one text per tuple


@dataclass(frozen=True, slots=True)
class Envelope:
    """An event and how it is routed: ``scope`` "user" (only ``event.user``'s pages) or
    "global" (every page); ``origin`` is the publishing page, which never gets it back.

    ``key`` is the idempotency key: a broker stores one envelope per key. Admission sets it;
    left empty, it is the CloudEvents identity ``(source, id)``. ``body``, when admission gives
    it, is the event's CloudEvents JSON as admission measured it (``to_dict()`` before the broker
    set ``seq`` and ``epoch``): the frame to pages is made from it without encoding the event again.
    """

    event: Event
    scope: str = "global"
    origin: str | None = None
    key: str = ""
    body: str | None = field(default=None, compare=False, repr=False)  # see ``text``

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", idempotency_key("event", self.event.source, self.event.id))

    def stored(self, seq: int, epoch: str) -> "Envelope":
        return Envelope(self.event.placed(seq, epoch), self.scope, self.origin, self.key, self.body)


@dataclass(frozen=True, slots=True)
class Published:
    """What ``Broker.publish`` did: the event's position, and whether its key was already stored
    (then ``seq`` is the stored event's)."""

    seq: int
    duplicate: bool = False


class BrokerError(RuntimeError):
    """The broker cannot be reached or used."""


class Broker(Protocol):
    epoch: str

    def publish(self, envelope: Envelope) -> Published:
        """Store and fan out ``envelope`` unless an envelope with its ``key`` was already stored."""

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every stored envelope, in order; returns a stop function."""

    def since(self, epoch: str, seq: int) -> list[Envelope] | None:
        """Every envelope after ``seq`` of ``epoch``, or None when history cannot cover the gap."""

    def position(self) -> int:
        """The seq of the latest stored envelope (0 when none)."""

    def health(self) -> dict:
        """A JSON-able description, with "ok": bool."""

    def close(self) -> None:
        """Stop background work and release connections."""
