"""What one page receives: its replay after hello, then live events, each once and in order.

    AWAITING_HELLO --hello--> RESUMING --replay and backlog sent--> OPEN --close--> CLOSED

From hello on, the hub offers live events; while RESUMING they are kept in a backlog. The
replay is queued first, then the backlog is drained until it is empty, and only then does
the stream switch to OPEN. The lock only decides (state, backlog, floor); every send and
every eviction happens after it is released, so a slow page can never hold up the hub.
"""

from __future__ import annotations

import enum
import functools
import json
import threading
from typing import Any, Callable, Protocol

from .brokers.base import Broker, Envelope
from .protocol import encode

REPLAY_PUT_TIMEOUT = 10.0  # seconds a resuming page may take to make room for the next replayed event
MAX_BACKLOG = 10_000  # live events held while a page resumes; past that it is evicted and resumes later


class State(enum.Enum):
    AWAITING_HELLO = "awaiting hello"
    RESUMING = "resuming"
    OPEN = "open"
    CLOSED = "closed"


class Sink(Protocol):
    def send(self, text: str, timeout: float | None = None) -> bool:
        """Queue a frame; False when the page is not reading."""


class Delivery:
    """The event stream of one page. ``offer`` runs on the hub's thread, the rest on the reader's."""

    def __init__(self, sink: Sink, *, may_see: Callable[[Envelope], bool],
                 wanted: Callable[[], Callable[[Envelope], bool]], evict: Callable[[], None],
                 lost: Callable[[], None] = lambda: None):
        self.sink = sink
        self.may_see = may_see  # for live events: the hub offers only those the page's patterns match
        self.wanted = wanted  # for replays: a predicate that also matches the patterns
        self.evict = evict
        self.lost = lost  # the stream changed under an open page (the broker lost it): it must resync
        self.state = State.AWAITING_HELLO
        self.lock = threading.Lock()
        self.backlog: list[Envelope] = []
        self.floor = 0  # seq up to which the page has been sent (or excused from) every event
        self.epoch: str | None = None  # the stream the page follows; events of another mean it was lost

    def begin(self) -> None:
        """Hello arrived: keep live events from now on (call before reading the broker)."""
        with self.lock:
            if self.state is State.AWAITING_HELLO:
                self.state = State.RESUMING

    def resume(self, broker: Broker, resume: dict[str, Any] | None, welcome: dict[str, Any]) -> None:
        """Send ``welcome``, the events missed since ``resume``, the backlog, then go OPEN."""
        replay = broker.since(resume["epoch"], resume["seq"]) if resume else None
        position = broker.position() if replay is None else (replay[-1].event.seq if replay else resume["seq"])
        welcome |= {"epoch": broker.epoch, "seq": position, "recovered": replay is not None,
                    "resumed": resume is not None}
        if not self._send(encode(welcome)):
            return
        self.floor, self.epoch = position, broker.epoch
        wants = self.wanted()
        for envelope in replay or []:
            if wants(envelope) and not self._send(event_text(envelope), REPLAY_PUT_TIMEOUT):
                return
        while True:
            with self.lock:
                pending, self.backlog = self.backlog, []
                if not pending:
                    if self.state is State.RESUMING:
                        self.state = State.OPEN
                    floor = self.floor
                    break
            for envelope in pending:
                if envelope.event.epoch != self.epoch:
                    self.lost()
                    return
                if envelope.event.seq > self.floor:
                    self.floor = envelope.event.seq
                    if wants(envelope) and not self._send(event_text(envelope), REPLAY_PUT_TIMEOUT):
                        return
        self._send(encode({"type": "replayed", "epoch": broker.epoch, "seq": floor}))

    def offer(self, envelope: Envelope, text: str) -> None:
        """Called by the hub for every stored event, in order; ``text`` is its encoded frame."""
        with self.lock:  # decide only: evicting and resyncing close the connection, which takes this lock
            if self.state is State.RESUMING and len(self.backlog) < MAX_BACKLOG:
                self.backlog.append(envelope)
                return
            if self.state is State.RESUMING:
                verdict = "evict"  # its backlog is full: it resumes later, from where it got to
            elif self.state is not State.OPEN:
                return
            elif envelope.event.epoch != self.epoch:
                verdict = "resync"  # the broker lost the stream this page follows
            elif envelope.event.seq <= self.floor:
                return  # an event the replay already covered
            else:
                verdict = "send"
        if verdict == "resync":
            self.lost()
        elif verdict == "evict" or self.may_see(envelope) and not self.sink.send(text):
            self.evict()

    def close(self) -> bool:
        """Stop; True the first time."""
        with self.lock:
            first = self.state is not State.CLOSED
            self.state = State.CLOSED
            self.backlog = []
        return first

    def _send(self, text: str, timeout: float | None = None) -> bool:
        if self.sink.send(text, timeout):
            return True
        self.evict()
        return False


def event_frame(envelope: Envelope) -> dict[str, Any]:
    """The frame that carries one event to a page."""
    return {"type": "event", "event": envelope.event.to_dict()}


def event_text(envelope: Envelope) -> str:
    """``event_frame`` as JSON text; made from the envelope's ``body`` when admission kept it (the
    event's JSON without ``seq`` and ``epoch``, which ``to_dict`` puts last)."""
    event = envelope.event
    if envelope.body is None or event.seq is None:
        return encode(event_frame(envelope))
    return f'{{"type":"event","event":{envelope.body[:-1]},"seq":{event.seq:d},"epoch":{_quoted(event.epoch)}}}}}'


@functools.lru_cache(maxsize=8)
def _quoted(epoch: str) -> str:
    """An epoch as a JSON string (there is one per stream: encoded once)."""
    return json.dumps(epoch)
