"""Malformed frames by the thousand (hypothesis) against one real ``tessera run``.

Every frame sent here is wrong: a wrong JSON type or an out-of-bounds string in a member of
a frame or of its event, a bad discriminator, a number no browser can read, nesting too deep,
text that is not JSON or not UTF-8, a binary frame, a frame that breaks RFC 6455. Each must be
answered with an ``error`` frame (a ``reply`` carrying an error for a request whose ``rid``
can be read), or end its connection with a close code docs/protocol.md lists. The server must
log no unhandled exception, and a well-behaved page on the same server keeps getting what is
published: after every example a sentinel, which must be the only event it sees (nothing
malformed is ever relayed).

Hypothesis draws values; each value is put in every member of every frame type whose rules
it breaks (``SLOTS``: a member, and whether a value might be acceptable there). Frames are
pipelined over long-lived connections a chunk at a time, each chunk followed by a sentinel
frame whose answer marks that every synchronous answer has come (replies from the responder
workers may come later). The page rate limit is lifted (``TESSERA_RATE``) so that frames reach
admission rather than the token bucket.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tessera.protocol import FrameError, loads, parse
from tessera.testing.client import SocketClient
from tessera.testing.server import TesseraServer

from conftest import FIXTURES
from rawsocket import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, RawSocket, describe

LIMIT = 65536  # TESSERA_MAX_EVENT_BYTES: a larger frame gets too_large
HARD = 2 * LIMIT + 1024  # a larger message is refused as it arrives: close 1009
CHUNK = 512 * 1024  # bytes of frames sent before their answers are read
DOCUMENTED_CLOSES = {1002, 1003, 1007, 1008, 1009, 4008}
ERROR_CODES = {"bad_frame", "invalid", "forbidden", "too_large", "rate_limited"}
REPLY_CODES = ERROR_CODES | {"no_responder", "responder_failed"}
FRAME_TYPES = ("hello", "subscribe", "unsubscribe", "publish", "request", "ping", "pong")
PAGE_SOURCES = ("/shell", "/fragments/alpha", "/fragments/beta", "/fragments/broken", "/fragments/badmodule")
FUZZ = settings(deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
                suppress_health_check=list(HealthCheck))

# -- what a member may hold (CONTRACT.md 4, docs/protocol.md): True when a value might be accepted ---------

_TOPIC = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_PATTERN = re.compile(r"([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?|>")
_TIME_LIKE = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def unicode(value: str) -> bool:
    """No lone surrogate (which no UTF-8 text can carry)."""
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def text(value: Any, high: int, low: int = 0) -> bool:
    return isinstance(value, str) and low <= len(value) <= high and unicode(value)


def short(value: Any, high: int = 256) -> bool:
    """A string of at most ``high`` characters, whatever they are (a page, a rid, an epoch)."""
    return isinstance(value, str) and len(value) <= high


def integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and value.is_integer()


def json_clean(value: Any) -> bool:
    """RFC 8259 JSON a browser reads as it was meant: finite numbers, Unicode strings."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) < 2**1024  # beyond, a double is Infinity
    if isinstance(value, str):
        return unicode(value)
    if isinstance(value, list):
        return all(json_clean(v) for v in value)
    if isinstance(value, dict):
        return all(json_clean(k) and json_clean(v) for k, v in value.items())
    return True


def topic(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 200 and bool(_TOPIC.fullmatch(value))


def pattern(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 200 and bool(_PATTERN.fullmatch(value))


def patterns(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= 256 and all(pattern(p) for p in value)


def natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


EVENT = {"specversion": "1.0", "id": "fuzz-1", "type": "demo.shout", "source": "/shell",
         "time": "2026-11-28T10:00:00Z", "data": {"k": 1}}
PING_EVENT = EVENT | {"type": "demo.ping", "data": {"n": 1}}


@dataclass(frozen=True)
class Slot:
    """A place in a frame: ``build(value)`` is the frame with ``value`` there; ``may(value)``
    is False only when the value breaks that member's rules for sure."""

    name: str
    build: Callable[[Any], Any]
    may: Callable[[Any], bool]


def _event_slots(kind: str) -> list[Slot]:
    def at(member: str, base: dict = EVENT) -> Callable[[Any], Any]:
        def build(value):
            event = base | {member: value}
            return {"type": "publish", "event": event} if kind == "publish" else {
                "type": "request", "rid": "r", "event": event}
        return build

    optional = lambda high: lambda v: v is None or text(v, high, 1)  # noqa: E731 - an absent attribute may be null
    slots = [
        Slot(f"{kind}.event.specversion", at("specversion"), lambda v: v == "1.0"),
        Slot(f"{kind}.event.id", at("id"), lambda v: text(v, 256, 1)),
        Slot(f"{kind}.event.source", at("source"), lambda v: v in PAGE_SOURCES),
        Slot(f"{kind}.event.time", at("time"), lambda v: v is None or isinstance(v, str) and bool(_TIME_LIKE.fullmatch(v))),
        Slot(f"{kind}.event.subject", at("subject"), optional(256)),
        Slot(f"{kind}.event.datacontenttype", at("datacontenttype"), optional(1024)),
        Slot(f"{kind}.event.dataschema", at("dataschema"), optional(1024)),
        Slot(f"{kind}.event.data_base64", at("data_base64"), lambda v: v is None),  # "data" is there too
        Slot(f"{kind}.event.<extension>", at("fuzzext"), lambda v: v is None or isinstance(v, bool) or (
            isinstance(v, int) and -(2**31) <= v < 2**31) or text(v, 1024)),
        Slot(f"{kind}.event.data", at("data"), json_clean),
    ]
    if kind == "publish":  # only declared user/global topics; data checked against the declared schema
        slots += [
            Slot("publish.event.type", at("type"), lambda v: v in ("demo.shout", "demo.ping")),
            Slot("publish.event.data (demo.ping)", at("data", PING_EVENT),
                 lambda v: isinstance(v, dict) and integer(v.get("n"))),
            Slot("publish.event.data.n (demo.ping)", lambda v: {"type": "publish", "event": PING_EVENT | {
                "data": {"n": v}}}, integer),
        ]
    else:  # requests need no declaration: any topic but a reserved one
        slots.append(Slot("request.event.type", at("type"), lambda v: topic(v) and not v.startswith("tessera.")))
    return slots


SLOTS = [
    Slot("frame", lambda v: v, lambda v: isinstance(v, dict) and v.get("type") in FRAME_TYPES),
    Slot("type", lambda v: {"type": v}, lambda v: v in FRAME_TYPES),
    Slot("hello.page", lambda v: {"type": "hello", "page": v, "subscribe": []}, short),
    Slot("hello.subscribe", lambda v: {"type": "hello", "page": "p", "subscribe": v}, patterns),
    Slot("hello.subscribe[1]", lambda v: {"type": "hello", "page": "p", "subscribe": ["demo.>", v]}, pattern),
    Slot("hello.resume", lambda v: {"type": "hello", "page": "p", "resume": v}, lambda v: v is None or isinstance(
        v, dict) and short(v.get("epoch")) and natural(v.get("seq"))),
    Slot("hello.resume.epoch", lambda v: {"type": "hello", "page": "p", "resume": {"epoch": v, "seq": 0}},
         short),
    Slot("hello.resume.seq", lambda v: {"type": "hello", "page": "p", "resume": {"epoch": "e", "seq": v}}, natural),
    *(Slot(f"{kind}.patterns", lambda v, kind=kind: {"type": kind, "patterns": v}, patterns)
      for kind in ("subscribe", "unsubscribe")),
    *(Slot(f"{kind}.patterns[1]", lambda v, kind=kind: {"type": kind, "patterns": ["a.b", v]}, pattern)
      for kind in ("subscribe", "unsubscribe")),
    Slot("publish.event", lambda v: {"type": "publish", "event": v}, lambda v: isinstance(v, dict)),
    Slot("request.rid", lambda v: {"type": "request", "rid": v, "event": EVENT}, short),
    Slot("request.event", lambda v: {"type": "request", "rid": "r", "event": v}, lambda v: isinstance(v, dict)),
    *_event_slots("publish"),
    *_event_slots("request"),
]


# -- values -------------------------------------------------------------------------------------------

any_char = st.characters(exclude_categories=())  # lone surrogates too: sent as \udXXX escapes
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-10**400, max_value=10**400),
    st.floats(),  # NaN and Infinity go out as the tokens NaN, Infinity, -Infinity
    st.text(any_char, max_size=10),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(any_char, max_size=4), inner, max_size=3)), max_leaves=8)
# strings at and past every bound: 200 (topics), 256 (ids, pages, rids), 1024 (attributes), the frame limits
BOUNDS = [0, 1, 199, 200, 201, 255, 256, 257, 1023, 1024, 1025, LIMIT // 2 + 1, HARD // 2 + 1]
bounded = st.builds(lambda n, fill: (fill * n)[:n], st.sampled_from(BOUNDS),
                    st.text(st.sampled_from("aZ9_-.*>/ é\ud800😀"), min_size=1, max_size=2))
near_misses = st.sampled_from([
    "1.0 ", "1", "1.00", " /shell", "/shell/", "/fragments/", "/fragments/nope", "/server", "/Shell",
    "demo.shout ", "Demo.Shout", "demo..shout", "demo.*", "demo.>", ">", "demo.local", "tessera.resync",
    "demo.undeclared", "2024-05-01", "2024-W01-1", "2024-02-30T00:00:00Z", "2024-05-01T24:00:00Z",
    "2024-05-01 10:00:00Z", "2024-05-01T10:00:00", "2024-05-01T10:00:00+25:00", "2024-13-01T10:00:00Z",
    "!!!!", "aGk", "aGk=\n", "HELLO", " ping", "ping\x00", "publish\u200b", "a.>.b", "**", "a b", "\ud800",
])
strings = st.one_of(st.text(any_char, max_size=30), bounded, near_misses)


# -- the oracle ---------------------------------------------------------------------------------------

@dataclass
class Case:
    """One malformed message and what may answer it."""

    wire: bytes
    opcode: int = TEXT
    rid: str | None = None  # a request whose rid the server can read: a reply to it may answer
    strict: bool = False  # ... and must, once the connection said hello

    def __str__(self) -> str:
        kind = "binary" if self.opcode == BINARY else "text"
        return f"{kind} {self.wire[:300]!r}{'...' if len(self.wire) > 300 else ''}"


_rids = iter(range(10**9))


def frame_case(frame: Any) -> Case:
    """A frame object as JSON text (unicode raw where UTF-8 can carry it); a readable rid made unique."""
    rid = None
    if isinstance(frame, dict) and frame.get("type") == "request" and short(frame.get("rid")):
        rid = f"{frame['rid'][:200]}~{next(_rids)}"
        frame = frame | {"rid": rid}
    try:
        wire = json.dumps(frame, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate: escaped, the text stays UTF-8
        wire = json.dumps(frame).encode()
    return Case(wire, rid=rid, strict=rid is not None)


def text_case(message: str | bytes, opcode: int = TEXT) -> Case:
    """Text or bytes that are not a frame; a request's rid counts if plain JSON parsing reads it."""
    wire = message if isinstance(message, bytes) else message.encode("utf-8", "surrogatepass")
    if "%RID%".encode() in wire:
        wire = wire.replace(b"%RID%", f"t~{next(_rids)}".encode())
    try:
        frame = json.loads(wire)
    except (ValueError, RecursionError):
        frame = None
    rid = frame.get("rid") if isinstance(frame, dict) and frame.get("type") == "request" else None
    return Case(wire, opcode, rid=rid if opcode == TEXT and short(rid) else None)


def product(values: list[Any]) -> list[Case]:
    """Each value in every slot whose rules it breaks for sure."""
    return [frame_case(slot.build(value)) for value in values for slot in SLOTS if not slot.may(value)]
class Fuzzer:
    """The connections the fuzz runs over, the well-behaved page, and what was sent."""

    def __init__(self, server: TesseraServer):
        self.server = server
        self.raw: RawSocket | None = None
        self.sent: Counter[str] = Counter()  # test -> malformed messages sent
        self.observer = SocketClient(server.url)
        self.observer.join(["demo.shout"])
        self.publisher = SocketClient(server.url)
        self.publisher.join([])
        self.sentinels = 0

    def run(self, test: str, cases: list[Case], *, hello: bool = True) -> None:
        """Send ``cases`` and check every answer, then check the well-behaved page.

        Text that is not UTF-8 (close 1007) and messages over the hard limit (close 1009) each go
        on a connection of their own; the rest is pipelined, over the connection that said hello
        (``hello``) or over new ones that never do.
        """
        alone, piped = [], []
        for case in cases:
            (alone if len(case.wire) > HARD or case.opcode == TEXT and not _utf8(case.wire) else piped).append(case)
        chunk: list[Case] = []
        for case in piped:
            chunk.append(case)
            if sum(len(c.wire) for c in chunk) > CHUNK:
                self._exchange(chunk, hello)
                chunk = []
        if chunk:
            self._exchange(chunk, hello)
        for case in alone:
            if len(case.wire) > HARD:
                self.break_transport(over_the_limit(case.opcode, case.wire), {1009} if _utf8(case.wire) else {1007, 1009},
                                     hello=hello)
            else:
                self.break_transport(frame(case.opcode, case.wire), {1007}, hello=hello)
        self.sent[test] += len(cases)
        self.check_observer()

    def close(self) -> None:
        for client in (self.observer, self.publisher):
            client.close()
        if self.raw is not None:
            self.raw.close()

    def _connection(self, hello: bool) -> RawSocket:
        if not hello:
            return RawSocket(self.server)
        if self.raw is None:
            self.raw = RawSocket(self.server)
            self.raw.hello(f"fuzz-{time.monotonic_ns()}", subscribe=[])
            self.raw.frames_until(lambda f: f.opcode == TEXT and f.json()["type"] == "replayed")
        return self.raw

    def _exchange(self, cases: list[Case], hello: bool) -> None:
        """Pipeline ``cases`` and a sentinel: a ping (its pong) once open, else a good hello (its welcome)."""
        raw = self._connection(hello)
        sentinel, answer_to_sentinel = ({"type": "ping"}, "pong") if hello else (
            {"type": "hello", "page": "finally", "subscribe": []}, "welcome")
        try:
            raw.send_raw(b"".join(frame(c.opcode, c.wire) for c in cases) + frame(TEXT, json.dumps(sentinel).encode()))
            self._answers(raw, cases, answer_to_sentinel, strict=hello)
        finally:
            if not hello:
                raw.close()

    @staticmethod
    def _answers(raw: RawSocket, cases: list[Case], answer_to_sentinel: str, strict: bool) -> None:
        """Exactly one answer per case: the synchronous ones before the sentinel's, replies any time."""
        may_reply = Counter(c.rid for c in cases if c.rid is not None)
        must_reply = Counter(c.rid for c in cases if c.strict and strict)
        errors, replies, after = 0, Counter(), False
        sent = "\n".join(map(str, cases))
        deadline = time.monotonic() + 15
        while not after or errors + replies.total() < len(cases) or must_reply - replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"{errors} error frames and {replies.total()} replies for {len(cases)} frames "
                            f"(replies missing: {list(must_reply - replies)}); sent:\n{sent}")
            for got in raw.receive(1 << 20, wait=remaining):
                if got.opcode in (PING, PONG):
                    continue
                assert got.opcode == TEXT, f"{describe(got)} after:\n{sent}"
                answer = got.json()
                if answer["type"] == answer_to_sentinel and not after:
                    after = True
                elif answer["type"] == "replayed" and after and answer_to_sentinel == "welcome":
                    continue
                elif answer["type"] == "error" and not after:
                    assert answer["code"] in ERROR_CODES and set(answer) == {"type", "code", "message", "event_id"}, answer
                    assert answer["event_id"] is None or isinstance(answer["event_id"], str), answer
                    errors += 1
                elif answer["type"] == "reply" and replies[answer.get("rid")] < may_reply[answer.get("rid")]:
                    assert set(answer) == {"type", "rid", "error"} and answer["error"]["code"] in REPLY_CODES, answer
                    replies[answer["rid"]] += 1
                else:
                    pytest.fail(f"unexpected {str(answer)[:300]}{' after the sentinel' if after else ''}; sent:\n{sent}")
                assert errors + replies.total() <= len(cases), f"more answers than frames; sent:\n{sent}"
        assert not must_reply - replies

    def break_transport(self, wire: bytes, closes: set[int], *, hello: bool) -> None:
        """Send ``wire`` on a connection of its own, which must be closed with one of ``closes``."""
        assert closes and closes <= DOCUMENTED_CLOSES
        raw = RawSocket(self.server)
        try:
            if hello:
                raw.hello("breaker", subscribe=[])
                raw.frames_until(lambda f: f.opcode == TEXT and f.json()["type"] == "replayed")
            try:
                for start in range(0, len(wire), 1 << 16):
                    raw.send_raw(wire[start:start + (1 << 16)])
            except OSError:  # the server closed before the rest arrived: it was not wanted
                pass
            got = [describe(f) for f in raw.read_to_eof(timeout=10) if f.opcode not in (PING, PONG)]
        finally:
            raw.close()
        assert got in ([f"close {code}"] for code in closes), f"expected close {sorted(closes)}, got {got} for {wire[:200]!r}"

    def check_observer(self) -> None:
        """The well-behaved page still gets what is published, and nothing else arrived before it."""
        self.sentinels += 1
        sentinel = self.publisher.publish("demo.shout", {"sentinel": self.sentinels})
        assert self.publisher.expect("ack")["id"] == sentinel["id"]
        assert self.observer.events_until(sentinel["id"], timeout=10) == []

    def check_logs(self) -> None:
        output = self.server.output()
        assert "Traceback" not in output and "ERROR" not in output, output[-5000:]


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True,
          length: int | None = None) -> bytes:
    """A client frame (RFC 6455 5.2); ``rsv``: the three RSV bits; ``length``: announce a longer
    payload than ``payload`` (the start of a frame whose rest is never sent)."""
    length = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv & 7) << 4 | opcode
    bit = 0x80 if mask else 0
    if length < 126:
        header = struct.pack("!BB", first, bit | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, bit | 127, length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    stream = (key * (len(payload) // 4 + 1))[:len(payload)]
    return header + key + (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(payload), "big")


def over_the_limit(opcode: int, payload: bytes, *, fragment: int | None = None) -> bytes:
    """The start of a message over the hard limit: what it takes to cross it, and not a byte more
    (the crossing byte is the last one the server reads, so nothing is left unread on the socket),
    in one frame announcing the whole ``payload``, or in fragments of ``fragment`` bytes."""
    cut = HARD + 1
    while cut < len(payload) and payload[cut] & 0xC0 == 0x80:  # end on a whole character
        cut += 1
    if fragment is None:
        return frame(opcode, payload[:cut], length=len(payload))
    pieces = [payload[start:start + fragment] for start in range(0, cut, fragment)]
    pieces[-1] = payload[(len(pieces) - 1) * fragment:cut]
    return b"".join(frame(opcode if n == 0 else CONTINUATION, piece, fin=False) for n, piece in enumerate(pieces))


# -- text and bytes that are not frames ----------------------------------------------------------------

def nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "0" + "}" * depth


NOT_JSON = ["NaN", "-NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1" + "0" * 400, "-" + "9" * 330,
            "1" * 5000, "0x10", "01", "1.", ".5", "+1", "1e", "--1", "Inf", "nan", "undefined", "'a'", '"\\x41"',
            '"\\u12"', '"\t"', "[1,]", '{"a" 1}', "tru", "nul"]
TEMPLATES = [  # a frame with a hole; the rest is well formed (the hole is where the server must stop)
    '{"type":"publish","event":{"specversion":"1.0","id":"t1","type":"demo.shout","source":"/shell","data":%s}}',
    '{"type":"request","rid":"%%RID%%","event":{"specversion":"1.0","id":"t2","type":"a.b","source":"/shell",'
    '"data":%s}}',
    '{"type":"publish","event":{"specversion":"1.0","id":"t3","type":"demo.ping","source":"/shell","data":{"n":%s}}}',
    '{"type":"subscribe","patterns":["demo.shout",%s]}',
    '{"type":"hello","page":"p","resume":{"epoch":"e","seq":%s}}',
    '{"type":%s}',
    '{"type":"request","rid":%s,"event":{}}',
    "%s",
]
holes = st.one_of(
    st.sampled_from(NOT_JSON),
    st.builds(nested, st.sampled_from([1500, 3000, 10_000, 30_000, 70_000]),  # deeper than any parser's
              st.sampled_from(["list", "dict"])),  # stack; the deepest past the frame limits too
)
not_json = st.one_of(
    st.text(any_char, max_size=40),
    st.text(st.sampled_from('{}[]",:0123456789.eE+-truefalsn \\type'), max_size=40),
    st.sampled_from(["", " ", "{", "}", "null", "[]", "{}", '{"type":"ping"', "{'type': 'ping'}", '{"type":"ping"}x',
                     '{"type":"ping"}{"type":"ping"}', '\ufeff{"type":"ping"}', '{"type":"ping",}', "[{}]",
                     '{"type":"ping","type":"publish"}']),
)


def not_a_frame(message: str) -> bool:
    try:
        frame = json.loads(message)
    except (ValueError, RecursionError):
        return True
    return not (isinstance(frame, dict) and frame.get("type") in ("ping", "pong"))


# -- transport: each message on a connection of its own -------------------------------------------------

bad_utf8 = st.one_of(
    st.binary(min_size=1, max_size=40).filter(lambda data: not _utf8(data)),
    st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80",
                     b"\xf8\x88\x80\x80\x80"]),
).flatmap(lambda bad: st.sampled_from([bad, b'{"type":"ping","x":"' + bad + b'"}', b'{"type":"' + bad + b'"}']))


@st.composite
def transport_breaks(draw) -> tuple[bytes, set[int]]:
    """(bytes that break RFC 6455 or the size limit, the close codes that may answer them)."""
    kind = draw(st.sampled_from(["utf8", "rsv", "opcode", "unmasked", "long control", "fragmented control",
                                 "lone continuation", "interleaved", "close code", "close reason", "oversize"]))
    payload = draw(st.binary(max_size=30))
    if kind == "utf8":
        bad = draw(bad_utf8)
        if draw(st.booleans()):  # in two fragments, split anywhere
            cut = draw(st.integers(0, len(bad)))
            return frame(TEXT, bad[:cut], fin=False) + frame(CONTINUATION, bad[cut:]), {1007}
        return frame(TEXT, bad), {1007}
    if kind == "rsv":  # no extension was negotiated: every RSV bit is an error
        return frame(draw(st.sampled_from([TEXT, BINARY, PING])), payload, rsv=draw(st.integers(1, 7))), {1002}
    if kind == "opcode":
        return frame(draw(st.sampled_from([3, 4, 5, 6, 7, 11, 12, 13, 14, 15])), payload), {1002}
    if kind == "unmasked":
        return frame(draw(st.sampled_from([TEXT, BINARY, PING, CLOSE])), b'{"type":"ping"}', mask=False), {1002}
    if kind == "long control":
        return frame(draw(st.sampled_from([PING, PONG, CLOSE])), b"\x03\xe8" + b"x" * draw(st.integers(124, 300))), {1002}
    if kind == "fragmented control":
        return frame(draw(st.sampled_from([PING, PONG])), payload, fin=False), {1002}
    if kind == "lone continuation":
        return frame(CONTINUATION, payload, fin=draw(st.booleans())), {1002}
    if kind == "interleaved":  # a new message before the fragmented one ended
        return frame(TEXT, b'{"type":', fin=False) + frame(draw(st.sampled_from([TEXT, BINARY])), b"{}"), {1002}
    if kind == "close code":
        code = draw(st.one_of(st.integers(0, 999), st.sampled_from([1004, 1005, 1006, 1015]),
                              st.integers(1016, 2999), st.integers(5000, 65535)))
        return frame(CLOSE, struct.pack("!H", code) + payload[:20]), {1002}
    if kind == "close reason":
        code = draw(st.sampled_from([1000, 1001, 3000, 4000]))
        return frame(CLOSE, struct.pack("!H", code) + draw(bad_utf8)[:60]), {1007}
    payload = b"x" * (HARD + draw(st.integers(1, 2**20)))
    fragment = draw(st.one_of(st.none(), st.integers(1000, 40_000)))  # one frame, or many small ones
    return over_the_limit(draw(st.sampled_from([TEXT, BINARY])), payload, fragment=fragment), {1009}


# -- the tests ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fuzzer():
    with TesseraServer(FIXTURES / "shop", env={"TESSERA_RATE": "1000000"}) as server:
        fuzzer = Fuzzer(server)
        try:
            yield fuzzer
        finally:
            fuzzer.close()
        print(f"\nmalformed messages: {dict(fuzzer.sent)}, {fuzzer.sent.total()} in all")
        assert server.alive(), server.output()[-5000:]


def fuzz(check: Callable[[Any], None], strategy: st.SearchStrategy, examples: int) -> None:
    """Run ``check`` on ``examples`` examples drawn from ``strategy``."""
    settings(FUZZ, max_examples=examples)(given(strategy)(check))()


def test_a_wrong_json_type_in_any_member_of_any_frame_is_refused(fuzzer):
    def check(drawn):
        values, after_hello = drawn
        fuzzer.run("types", product(values), hello=after_hello)

    fuzz(check, st.tuples(st.lists(json_values, min_size=8, max_size=10), st.booleans()), examples=30)
    assert fuzzer.sent["types"] >= 6500
    fuzzer.check_logs()


def test_strings_out_of_bounds_in_any_member_of_any_frame_are_refused(fuzzer):
    def check(drawn):
        values, after_hello = drawn
        fuzzer.run("strings", product(values), hello=after_hello)

    fuzz(check, st.tuples(st.lists(strings, min_size=5, max_size=6), st.booleans()), examples=25)
    assert fuzzer.sent["strings"] >= 2600
    fuzzer.check_logs()


def test_text_that_is_not_a_frame_and_binary_frames_get_bad_frame(fuzzer):
    def check(drawn):
        fillings, garbage, after_hello = drawn
        texts = [template % hole for hole in fillings for template in TEMPLATES] + garbage
        binary = [text_case(t.encode("utf-8", "surrogatepass"), BINARY) for t in texts[:8]]
        binary.append(text_case(b'{"type":"ping"}', BINARY))
        fuzzer.run("text", [text_case(t) for t in texts] + binary, hello=after_hello)

    fuzz(check, st.tuples(st.lists(holes, min_size=2, max_size=3), st.lists(not_json.filter(not_a_frame), max_size=10),
                          st.booleans()), examples=40)
    assert fuzzer.sent["text"] >= 1000
    fuzzer.check_logs()


def test_frames_that_break_the_transport_close_with_a_documented_code(fuzzer):
    def check(drawn):
        (wire, closes), after_hello = drawn
        fuzzer.break_transport(wire, closes, hello=after_hello)
        fuzzer.sent["transport"] += 1
        fuzzer.check_observer()

    fuzz(check, st.tuples(transport_breaks(), st.booleans()), examples=150)
    assert fuzzer.sent["transport"] >= 150
    fuzzer.check_logs()


def test_ten_thousand_malformed_messages_in_all(fuzzer):
    if len(fuzzer.sent) < 4:
        pytest.skip("counts the messages of the tests above, run with them")
    assert fuzzer.sent.total() >= 10_000, dict(fuzzer.sent)


# -- what the fuzz found, pinned --------------------------------------------------------------------------

@pytest.mark.parametrize("frame", [{"type": "request", "rid": "r1", "event": 5}, {"type": "request", "rid": "r1"},
                                   {"type": "request", "rid": "r1", "event": ["e"]}])
def test_a_request_refused_for_a_wrong_member_is_answered_with_a_reply_to_its_rid(frame):
    with pytest.raises(FrameError) as refused:
        parse(json.dumps(frame), max_bytes=LIMIT)
    answer = refused.value.frame()
    assert (answer["type"], answer["rid"], answer["error"]["code"]) == ("reply", "r1", "bad_frame")


def test_a_refused_frame_names_its_event_only_by_a_short_string_id_and_never_echoes_it_whole():
    with pytest.raises(FrameError) as refused:
        parse(json.dumps({"type": "request", "rid": ["r"], "event": {"id": ["not", "a", "string"]}}), max_bytes=LIMIT)
    assert refused.value.frame()["type"] == "error" and refused.value.frame()["event_id"] is None
    with pytest.raises(FrameError) as refused:
        parse(json.dumps({"type": "x" * 5000}), max_bytes=LIMIT)
    assert len(refused.value.message) < 200


@pytest.mark.parametrize("number", ["1" + "0" * 400, "-" + "9" * 309, str(2**1024), str(2**1024 - 2**970)],
                         ids=["10**400", "-(10**309 - 1)", "2**1024", "rounds to 2**1024"])
def test_integers_no_double_can_hold_are_not_json(number):
    """Browsers would read them as Infinity, like 1e999 (which was refused already)."""
    with pytest.raises(ValueError):
        loads(f'{{"n": {number}}}')


def test_integers_a_double_can_hold_are_json_however_long():
    for number in (2**1023, -(2**1023), 10**308, 2**1024 - 2**970 - 1):
        assert loads(f"[{number}]") == [number]
