"""One page's session: frames from the page are checked and dispatched; answers go to its writer.

The parts, each in its own module: the socket and its frames (websocket.py), the only thread
that writes to it (writer.py), what the page receives and when (delivery.py: replay, then
live events), and Python responders (responders.py). This module is the protocol dispatch
(docs/protocol.md): a ``Connection`` never writes to a socket and never blocks on one.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Protocol

from .brokers.base import BrokerError, Envelope
from .bus import Bus
from .delivery import Delivery, State
from .protocol import MAX_PATTERNS, FrameError, encode, parse
from .ratelimit import RateLimit
from .responders import Responders, TooManyRequests
from .subscriptions import Subscriptions

log = logging.getLogger("tessera.connection")

CLOSE_SLOW = 4008
CLOSE_RESYNC = 4009


class Hub(Protocol):
    def register(self, connection: "Connection") -> Callable[[], None]:
        """Start offering events to ``connection``; returns the function that stops it."""

    def watch(self, connection: "Connection", patterns: Iterable[str]) -> bool:
        """Offer events matching ``patterns`` too; False when the user holds too many already."""

    def unwatch(self, connection: "Connection", patterns: Iterable[str]) -> None:
        """Stop offering events matching ``patterns`` (unless another pattern matches them)."""


class Writer(Protocol):
    def send(self, text: str, timeout: float | None = None) -> bool:
        """Queue a frame for the page; False when it is not reading."""

    def close(self, code: int, reason: str = "") -> None:
        """Drop queued frames and end the socket with this close code."""


class Connection:
    """Reads frames from one page, answers them, and relays the events the page may see."""

    def __init__(self, writer: Writer, *, user: str, bus: Bus, rate: float, max_bytes: int,
                 responders: Responders, hub: Hub):
        self.writer = writer
        self.user = user
        self.bus = bus
        self.limit = RateLimit(rate)
        self.max_bytes = max_bytes
        self.responders = responders
        self.hub = hub
        self.page: str | None = None
        self.patterns: frozenset[str] = frozenset()
        self.delivery = Delivery(writer, may_see=self.may_see, wanted=self.wanted, evict=self._evict,
                                 lost=self._resync)
        self.unregister: Callable[[], None] = lambda: None

    @property
    def state(self) -> State:
        return self.delivery.state

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Stop relaying and end the socket with ``code``; queued frames are dropped. Idempotent."""
        if not self.delivery.close():
            return
        self.unregister()
        if self.page is not None:
            self.responders.forget((self.user, self.page), self)
        self.writer.close(code, reason)

    # -- frames from the page ---------------------------------------------------------------
    def handle(self, text: str | bytes) -> None:
        """Dispatch one frame; a bad one is answered with an error frame, never raised."""
        try:
            frame = parse(text, max_bytes=self.max_bytes)
            if self.state is State.AWAITING_HELLO and frame["type"] != "hello":
                raise FrameError("bad_frame", f'expected a "hello" frame first, got "{frame["type"]}"')
            if self.state is not State.AWAITING_HELLO and frame["type"] == "hello":
                raise FrameError("bad_frame", '"hello" was already received on this connection')
            getattr(self, f"on_{frame['type']}")(frame)
        except FrameError as error:
            self.send(error.frame())
        except Exception:  # our fault, not the page's: keep serving; an unacked publish is resent
            log.exception("could not handle a frame from %s", self.user)

    def on_hello(self, frame: dict[str, Any]) -> None:
        self.page = frame["page"]
        self.delivery.begin()
        self.unregister = self.hub.register(self)
        try:
            self._watch(frame.get("subscribe", []))
        finally:  # even past the subscription limit (an error frame follows the replay), the page is served
            self.delivery.resume(self.bus.broker, frame.get("resume"), {"type": "welcome", "user": self.user})

    def on_subscribe(self, frame: dict[str, Any]) -> None:
        self._watch(frame["patterns"])

    def on_unsubscribe(self, frame: dict[str, Any]) -> None:
        gone = set(frame["patterns"]) & self.patterns
        self.hub.unwatch(self, gone)
        self.patterns -= gone

    def _watch(self, patterns: list[str]) -> None:
        new = set(patterns) - self.patterns
        if len(self.patterns) + len(new) > MAX_PATTERNS:
            raise FrameError("bad_frame", f"a page may hold at most {MAX_PATTERNS} subscriptions")
        if not self.hub.watch(self, new):
            raise FrameError("bad_frame", "this user holds too many subscriptions over all their pages "
                                          "(TESSERA_MAX_PATTERNS_PER_USER)")
        self.patterns |= new

    def no_hello(self) -> None:
        """The hello timeout passed: a page that never said hello is closed."""
        if self.state is State.AWAITING_HELLO:
            self.close(1008, "no hello frame in time")

    def on_publish(self, frame: dict[str, Any]) -> None:
        self._check_rate(self.bus.admission.claimed_id(frame["event"]))
        envelope = self.bus.admission.from_page(frame["event"], user=self.user, page=self.page)
        try:
            published = self.bus.publish_event(envelope)
        except BrokerError as error:  # not refused, not stored: the page keeps it and sends it again
            raise FrameError("unavailable", f"the event could not be stored ({error}); it will be sent again",
                             envelope.event.id) from None
        self.send({"type": "ack", "id": envelope.event.id, "seq": published.seq, "duplicate": published.duplicate})

    def on_request(self, frame: dict[str, Any]) -> None:
        rid = frame["rid"]
        try:
            self._check_rate(self.bus.admission.claimed_id(frame["event"]))
            event = self.bus.admission.request_from_page(frame["event"], user=self.user)
            self.responders.submit((self.user, self.page), rid, event, self._replier(rid), owner=self)
        except FrameError as error:  # the page's promise rejects now, with the code
            error.rid = rid
            self.send(error.frame())
        except TooManyRequests as error:
            self.send({"type": "reply", "rid": rid, "error": {"code": "rate_limited", "message": str(error)}})

    def on_ping(self, frame: dict[str, Any]) -> None:
        self.send({"type": "pong"})

    def on_pong(self, frame: dict[str, Any]) -> None:
        pass

    def _check_rate(self, event_id: str) -> None:
        if not self.limit.allow():
            raise FrameError("rate_limited", f"more than {self.limit.rate:g} events/s from this page", event_id)

    def _replier(self, rid: str) -> Callable[[dict[str, Any]], None]:
        return lambda answer: self.send({"type": "reply", "rid": rid} | answer)

    # -- events to the page -----------------------------------------------------------------
    def offer(self, envelope: Envelope, text: str) -> None:
        """Called by the hub for every stored event, in order; ``text`` is its encoded frame."""
        self.delivery.offer(envelope, text)

    def may_see(self, envelope: Envelope) -> bool:
        """Whether this page may see ``envelope`` (the hub offers only events its patterns match)."""
        if envelope.origin is not None and envelope.origin == self.page:
            return False
        return envelope.scope != "user" or envelope.event.user == self.user

    def wanted(self) -> Callable[[Envelope], bool]:
        """For a replay: whether the page may see an event and asked for it, its patterns indexed
        once for the whole replay (an open page keeps no index of its own: the hub's serves)."""
        asked: Subscriptions[str] = Subscriptions()
        for pattern in self.patterns:
            asked.add(pattern, pattern)
        return lambda envelope: self.may_see(envelope) and bool(asked.match(envelope.event.type))

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame for the writer; a page that lets the queue fill up is disconnected."""
        if not self.writer.send(encode(frame)):
            self._evict()

    def _resync(self) -> None:
        """The broker's stream changed (it was lost): the page reconnects, finds its position gone, resyncs."""
        self.close(CLOSE_RESYNC, "the event stream was reset: reconnect to resync")

    def _evict(self) -> None:
        log.warning("page of %s is not reading its events; disconnecting it (%d)", self.user, CLOSE_SLOW)
        self.close(CLOSE_SLOW, "too slow: reconnect to resume")
