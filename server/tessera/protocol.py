"""The wire protocol: JSON text frames between a page's bridge and the server.

See ``docs/protocol.md`` for the frames and the connection's states. ``parse`` turns a
received text into a checked frame or raises FrameError with the code the page gets.

JSON here is RFC 8259 JSON, both ways: ``loads`` refuses ``NaN``, ``Infinity`` and numbers too
large for a float (which Python's json would read as infinity, or as an integer that browsers
read as Infinity), and ``encode`` never writes NaN or Infinity (browsers' ``JSON.parse`` would
reject the frame). The HTTP endpoint reads bodies with ``loads`` too.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .events import MAX_ID_LENGTH
from .topics import pattern_problem

MAX_PATTERNS = 256
MAX_STRING_MEMBER = MAX_ID_LENGTH  # a hello's page, a request's rid, a resume's epoch

# client frame type -> the members it must have, with their JSON types
CLIENT_FRAMES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "hello": {"page": str},
    "subscribe": {"patterns": list},
    "unsubscribe": {"patterns": list},
    "publish": {"event": dict},
    "request": {"rid": str, "event": dict},
    "ping": {},
    "pong": {},
}


class FrameError(ValueError):
    """A frame the server refuses; ``code`` is one of the ``tessera.error`` codes."""

    def __init__(self, code: str, message: str, event_id: str | None = None, *, rid: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.event_id = event_id
        self.rid = rid  # the refused frame was a request: answer it with a reply to this rid

    def frame(self) -> dict[str, Any]:
        """The answer: an ``error`` frame, or for a request the ``reply`` its promise waits for."""
        if self.rid is not None:
            return {"type": "reply", "rid": self.rid, "error": {"code": self.code, "message": self.message}}
        return error_frame(self.code, self.message, self.event_id)


def parse(text: str | bytes, *, max_bytes: int) -> dict[str, Any]:
    """Decode and check one client frame."""
    if isinstance(text, bytes):
        raise FrameError("bad_frame", "frames are JSON text, not binary")
    if (len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))) > max_bytes:
        event_id, rid = _claimed(text)
        raise FrameError("too_large", f"frame is larger than {max_bytes} bytes", event_id, rid=rid)
    try:
        frame = loads(text)
    except (ValueError, RecursionError) as error:
        event_id, rid = _claimed(text)
        raise FrameError("bad_frame", f"frame is not JSON we can read: {error}", event_id, rid=rid) from None
    if not isinstance(frame, dict):
        raise FrameError("bad_frame", "a frame must be a JSON object")
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_FRAMES:
        raise FrameError("bad_frame", f"unknown frame type {_shown(kind)}; expected one of {', '.join(CLIENT_FRAMES)}")
    event = frame.get("event")
    event_id = _short(event.get("id")) if isinstance(event, dict) else None
    rid = _short(frame.get("rid")) if kind == "request" else None  # a request's refusal is a reply, when it can be
    for member, expected in CLIENT_FRAMES[kind].items():
        if not isinstance(frame.get(member), expected):
            raise FrameError("bad_frame", f'"{kind}" frame needs "{member}" of type {expected.__name__}', event_id,
                             rid=rid)
        if expected is str and len(frame[member]) > MAX_STRING_MEMBER:
            raise FrameError("bad_frame", f'"{kind}" frame: "{member}" is longer than {MAX_STRING_MEMBER} characters',
                             event_id, rid=rid)
    if kind in ("subscribe", "unsubscribe"):
        _check_patterns(frame["patterns"])
    if kind == "hello":
        _check_patterns(frame.get("subscribe", []))
        _check_resume(frame.get("resume"))
    return frame


def _check_patterns(patterns: Any) -> None:
    if not isinstance(patterns, list) or len(patterns) > MAX_PATTERNS:
        raise FrameError("bad_frame", f"patterns must be a list of at most {MAX_PATTERNS} patterns")
    for pattern in patterns:
        if (problem := pattern_problem(pattern)) is not None:
            raise FrameError("invalid", problem)


def _check_resume(resume: Any) -> None:
    if resume is None:
        return
    seq = resume.get("seq") if isinstance(resume, dict) else None
    epoch = resume.get("epoch") if isinstance(resume, dict) else None
    if not (isinstance(epoch, str) and len(epoch) <= MAX_STRING_MEMBER
            and isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0):
        raise FrameError("bad_frame", 'hello "resume" must be null or {"epoch": string of at most '
                                      f'{MAX_STRING_MEMBER} characters, "seq": integer >= 0}}')


def _claimed(text: str) -> tuple[str | None, str | None]:
    """The event id and, for a request, the rid a refused frame claims, to answer it by them
    (read leniently: NaN and all)."""
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(frame, dict):
        return None, None
    event = frame.get("event")
    event_id = event.get("id") if isinstance(event, dict) else None
    rid = frame.get("rid") if frame.get("type") == "request" else None
    return _short(event_id), _short(rid)


def _short(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= MAX_ID_LENGTH else None


def _shown(value: Any, limit: int = 60) -> str:
    """A value named in an error, cut to ``limit`` characters: an error never echoes a stranger's
    frame back whole (and a list or object, however deep, is named by its JSON type)."""
    if isinstance(value, (list, dict)):
        return "an array" if isinstance(value, list) else "an object"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def loads(text: str | bytes) -> Any:
    """Read RFC 8259 JSON: ValueError for NaN, Infinity, a number that overflows a float, or bytes
    that are not UTF-8 (RecursionError for nesting too deep)."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")  # RFC 8259 section 8.1: JSON exchanged between systems is UTF-8
    return _DECODER.decode(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"number {text[:40]} is too large")
    return number


def _finite_int(text: str) -> int:
    """An integer a double can hold: a longer one (10**400) would reach browsers as Infinity."""
    number = int(text)
    if len(text) > 308:  # 1.8e308, the largest double, has 309 digits: shorter integers always fit
        try:
            float(number)
        except OverflowError:
            raise ValueError(f"number {text[:40]}... is too large") from None
    return number


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_finite_int)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)  # made once: json.dumps makes one per call


def encode(frame: dict[str, Any]) -> str:
    """The frame as JSON text; ValueError rather than a NaN or Infinity no browser could read."""
    return _ENCODER.encode(frame)


def error_frame(code: str, message: str, event_id: str | None = None) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "event_id": event_id}
