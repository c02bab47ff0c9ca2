"""The Python side of the bus: subscribe, respond and publish, independent of any transport.

The socket endpoint and the HTTP publish endpoint are clients of this bus, like user code.
Every event enters through ``admission`` (publish from Python too), then the broker.
Subscribers run on one dispatcher thread, in event order, never on a socket's read loop;
an exception in one is logged with the handler's name and affects nothing else.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import replace
from typing import Any, Callable

from .admission import Admission
from .brokers.base import Broker, Envelope, Published
from .events import Event
from .topics import matches, validate_pattern, validate_topic

log = logging.getLogger("tessera.bus")

Handler = Callable[[Event], Any]


class NoResponder(LookupError):
    """Nobody answers requests of this type."""


class Bus:
    """Python subscribers and responders, and publishing into the broker.

    ``admission`` checks what Python publishes; ``Tessera.init_app`` replaces the default
    (no declared topics) with one that knows the fragments' declarations.
    """

    def __init__(self) -> None:
        self.admission = Admission()
        self._subscribers: list[tuple[str, Handler]] = []
        self._responders: dict[str, Handler] = {}
        self._broker: Broker | None = None
        self._stop_listening: Callable[[], None] | None = None
        self._queue: queue.SimpleQueue[Envelope | None] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None

    # -- registration (decorators) -------------------------------------------------
    def subscribe(self, pattern: str) -> Callable[[Handler], Handler]:
        """``@bus.subscribe("checkout.>")``: call the function with every matching event."""
        validate_pattern(pattern)

        def register(handler: Handler) -> Handler:
            self._subscribers.append((pattern, handler))
            return handler

        return register

    def respond(self, topic: str) -> Callable[[Handler], Handler]:
        """``@bus.respond("pricing.quote")``: answer pages' ``bus.request()`` of that type."""
        validate_topic(topic)

        def register(handler: Handler) -> Handler:
            if topic in self._responders:
                raise ValueError(f"{topic!r} already has a responder: {_name(self._responders[topic])}")
            self._responders[topic] = handler
            return handler

        return register

    # -- publishing ------------------------------------------------------------------
    def publish(self, type: str, data: Any = None, *, user: str | None = None, source: str | None = None) -> Event:
        """Publish from Python to every subscribed page, or only to ``user``'s pages.

        The fragments' declarations apply: a topic declared ``page`` is refused, one declared
        ``user`` needs ``user``, a declared schema must match; undeclared topics are free.
        Raises ``admission.Refused`` (``.code`` "invalid", "forbidden" or "too_large").
        """
        envelope = self.admission.from_python(type, data, user=user, source=source)
        published = self.publish_event(envelope)
        return _with_seq(envelope.event, published, self.broker.epoch)

    def publish_event(self, envelope: Envelope) -> Published:
        """Store an envelope that ``admission`` let in (from a page, a backend or Python)."""
        return self.broker.publish(envelope)

    # -- requests --------------------------------------------------------------------
    def answer(self, event: Event) -> Any:
        """Run the Python responder for ``event.type``; raise NoResponder when there is none."""
        handler = self._responders.get(event.type)
        if handler is None:
            raise NoResponder(f"nobody answers {event.type!r}")
        return handler(event)

    # -- wiring to a broker ----------------------------------------------------------
    @property
    def broker(self) -> Broker:
        if self._broker is None:
            raise RuntimeError("the bus has no broker yet: call Tessera.init_app(app) first")
        return self._broker

    def attach(self, broker: Broker) -> None:
        """Start delivering the broker's events to Python subscribers."""
        self._broker = broker
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="tessera-bus", daemon=True)
        self._dispatcher.start()
        self._stop_listening = broker.listen(self._offer)

    def close(self) -> None:
        if self._stop_listening:
            self._stop_listening()
        self._queue.put(None)
        if self._dispatcher and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(timeout=5)

    def _offer(self, envelope: Envelope) -> None:
        """The broker's listener: queue what a subscriber wants (the dispatcher wakes for nothing else)."""
        if any(matches(pattern, envelope.event.type) for pattern, _ in self._subscribers):
            self._queue.put(envelope)

    def _dispatch_loop(self) -> None:
        while (envelope := self._queue.get()) is not None:
            event = envelope.event
            for pattern, handler in list(self._subscribers):
                if matches(pattern, event.type):
                    self._run(handler, event)

    @staticmethod
    def _run(handler: Handler, event: Event) -> None:
        try:
            handler(event)
        except Exception:
            log.exception("subscriber %s failed on %s event %s", _name(handler), event.type, event.id)


def _name(handler: Callable[..., Any]) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


def _with_seq(event: Event, published: Published, epoch: str) -> Event:
    return replace(event, seq=published.seq, epoch=epoch)
