"""One page's WebSocket connection, as an explicit state machine with a single writer.

    AWAITING_HELLO --hello--> RESUMING --replay sent--> OPEN --close/error--> CLOSED

Live events that arrive while the connection is RESUMING are buffered and sent after the
replay, so the page sees every event once and in order. Frames to the page go through one
bounded queue drained by one writer thread (the socket's ``send`` is not thread-safe); a
page that stops reading fills the queue (SEND_BUFFER) and is disconnected with close code 4008.
"""

from __future__ import annotations

import enum
import logging
import socket
import threading
from concurrent.futures import Executor
from typing import Any, Callable

from simple_websocket import ConnectionClosed

from .brokers.base import Envelope
from .bus import Bus, NoResponder
from .guard import Guard, RateLimit
from .outbox import Outbox
from .protocol import MAX_PATTERNS, FrameError, encode, parse
from .topics import matches

log = logging.getLogger("tessera.connection")

SEND_BUFFER = 4 * 1024 * 1024  # characters of frames waiting for a page before it counts as not reading
REPLAY_PUT_TIMEOUT = 10.0
CLOSE_SLOW = 4008
CLOSE_GRACE = 5.0


class State(enum.Enum):
    AWAITING_HELLO = "awaiting hello"
    RESUMING = "resuming"
    OPEN = "open"
    CLOSED = "closed"


class Connection:
    """Reads frames from one socket, answers them, and relays the events the page may see."""

    def __init__(self, ws: Any, *, user: str, bus: Bus, guard: Guard, rate: float, max_bytes: int,
                 executor: Executor, register: Callable[["Connection"], Callable[[], None]]):
        self.ws = ws
        self.user = user
        self.bus = bus
        self.guard = guard
        self.limit = RateLimit(rate)
        self.max_bytes = max_bytes
        self.executor = executor
        self.register = register
        self.page: str | None = None
        self.patterns: frozenset[str] = frozenset()
        self.state = State.AWAITING_HELLO
        self.lock = threading.Lock()
        self.buffer: list[Envelope] = []
        self.floor = 0  # seq up to which the page has been sent (or excused from) every event
        self.outgoing = Outbox(SEND_BUFFER)
        self.unregister: Callable[[], None] = lambda: None
        self.close_code: int | None = None
        self.close_reason = ""
        self.reader_done = threading.Event()

    # -- life ----------------------------------------------------------------------------
    def run(self) -> None:
        """Serve the connection until the page goes away; never raises for the page's input."""
        writer = threading.Thread(target=self._write_loop, name="tessera-writer", daemon=True)
        writer.start()
        try:
            while self.state is not State.CLOSED:
                text = self.ws.receive()
                if text is None:
                    continue
                self.handle(text)
        except ConnectionClosed:
            pass
        except OSError as error:  # the peer vanished without a close frame
            log.info("connection of %s ended: %r", self.user, error)
        finally:
            self.reader_done.set()
            self.close()
            writer.join(timeout=2)

    def close(self, code: int | None = None, reason: str = "") -> None:
        """Stop relaying; with ``code``, the writer ends the socket with that close code.

        Frames still queued are dropped. A page that does not answer the close frame
        within CLOSE_GRACE seconds has its TCP connection shut down.
        """
        with self.lock:
            if self.state is State.CLOSED:
                return
            self.state = State.CLOSED
            self.close_code, self.close_reason = code, reason
        self.unregister()
        self.outgoing.close()
        if code is not None:
            threading.Thread(target=self._shut_if_stuck, daemon=True).start()

    def _shut_if_stuck(self) -> None:
        """The page has CLOSE_GRACE seconds to take the close frame and answer it."""
        if not self.reader_done.wait(CLOSE_GRACE):
            try:
                self.ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- frames from the page ---------------------------------------------------------------
    def handle(self, text: str | bytes) -> None:
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
        self.patterns = frozenset(frame.get("subscribe", []))
        with self.lock:
            self.state = State.RESUMING
        self.unregister = self.register(self)
        broker = self.bus.broker
        resume = frame.get("resume")
        replay = broker.since(resume["epoch"], resume["seq"]) if resume else None
        position = broker.position() if replay is None else (replay[-1].event.seq if replay else resume["seq"])
        self.send({"type": "welcome", "epoch": broker.epoch, "seq": position, "recovered": replay is not None,
                   "resumed": resume is not None, "user": self.user})
        for envelope in replay or []:
            if self.wants(envelope):
                self._send_event(envelope, timeout=REPLAY_PUT_TIMEOUT)
        with self.lock:  # live events that arrived meanwhile, then OPEN: nothing missed, nothing twice
            self.floor = position
            for envelope in self.buffer:
                if envelope.event.seq > self.floor:
                    self.floor = envelope.event.seq
                    if self.wants(envelope):
                        self._send_event(envelope)
            self.buffer.clear()
            self.send({"type": "replayed", "epoch": broker.epoch, "seq": self.floor})
            if self.state is State.RESUMING:
                self.state = State.OPEN

    def on_subscribe(self, frame: dict[str, Any]) -> None:
        patterns = self.patterns | set(frame["patterns"])
        if len(patterns) > MAX_PATTERNS:
            raise FrameError("bad_frame", f"a page may hold at most {MAX_PATTERNS} subscriptions")
        self.patterns = patterns

    def on_unsubscribe(self, frame: dict[str, Any]) -> None:
        self.patterns = self.patterns - set(frame["patterns"])

    def on_publish(self, frame: dict[str, Any]) -> None:
        self._check_rate(self.bus.admission.claimed_id(frame["event"]))
        envelope = self.bus.admission.from_page(frame["event"], user=self.user, page=self.page)
        published = self.bus.publish_event(envelope)
        self.send({"type": "ack", "id": envelope.event.id, "seq": published.seq, "duplicate": published.duplicate})

    def on_request(self, frame: dict[str, Any]) -> None:
        self._check_rate(self.bus.admission.claimed_id(frame["event"]))
        event = self.bus.admission.request_from_page(frame["event"], user=self.user)
        self.executor.submit(self._answer, frame["rid"], event)

    def on_ping(self, frame: dict[str, Any]) -> None:
        self.send({"type": "pong"})

    def on_pong(self, frame: dict[str, Any]) -> None:
        pass

    def _check_rate(self, event_id: str) -> None:
        if not self.limit.allow():
            raise FrameError("rate_limited", f"more than {self.limit.rate:g} events/s from this page", event_id)

    def _answer(self, rid: str, event: Any) -> None:
        try:
            reply = {"type": "reply", "rid": rid, "data": self.bus.answer(event)}
        except NoResponder as error:
            reply = {"type": "reply", "rid": rid, "error": {"code": "no_responder", "message": str(error)}}
        except Exception:
            log.exception("responder for %r failed", event.type)
            reply = {"type": "reply", "rid": rid,
                     "error": {"code": "responder_failed", "message": f"the responder of {event.type!r} failed"}}
        self.send(reply)

    # -- events to the page -----------------------------------------------------------------
    def offer(self, envelope: Envelope, text: str) -> None:
        """Called by the hub for every stored event, in order; ``text`` is its encoded frame."""
        with self.lock:
            if self.state is State.RESUMING:
                self.buffer.append(envelope)
                return
            if self.state is not State.OPEN or envelope.event.seq <= self.floor:
                return  # the hub may still hold events that the replay already covered
        if self.wants(envelope):
            self._queue_text(text)

    def wants(self, envelope: Envelope) -> bool:
        """Whether this page asked for, and may see, ``envelope``."""
        if envelope.origin is not None and envelope.origin == self.page:
            return False
        if envelope.scope == "user" and envelope.event.user != self.user:
            return False
        return any(matches(pattern, envelope.event.type) for pattern in self.patterns)

    def send(self, frame: dict[str, Any], *, timeout: float | None = None) -> None:
        """Queue a frame for the writer; a page that lets the queue fill up is disconnected."""
        self._queue_text(encode(frame), timeout)

    def _send_event(self, envelope: Envelope, timeout: float | None = None) -> None:
        try:
            text = encode(event_frame(envelope))
        except (TypeError, ValueError):  # stored by code that bypassed Bus.publish's check
            log.exception("cannot encode %s event %s; not sent", envelope.event.type, envelope.event.id)
            return
        self._queue_text(text, timeout)

    def _queue_text(self, text: str, timeout: float | None = None) -> None:
        if not self.outgoing.put(text, timeout=timeout):
            self._evict()

    def _evict(self) -> None:
        log.warning("page of %s is not reading its events; disconnecting it (%d)", self.user, CLOSE_SLOW)
        self.close(CLOSE_SLOW, "too slow: reconnect to resume")

    def _write_loop(self) -> None:
        """The only thread that writes to the socket: frames, then the close frame if any."""
        try:
            while (text := self.outgoing.get()) is not None:
                self.ws.send(text)
            if self.close_code is not None:
                self.ws.close(reason=self.close_code, message=self.close_reason)
        except Exception:  # the peer is gone; the read loop sees it too
            self.close()


def event_frame(envelope: Envelope) -> dict[str, Any]:
    """The frame that carries one event to a page."""
    return {"type": "event", "event": envelope.event.to_dict()}

