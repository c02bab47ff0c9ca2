"""The wire protocol: JSON text frames between a page's bridge and the server.

See ``docs/protocol.md`` for the frames and the connection's states. ``parse`` turns a
received text into a checked frame or raises FrameError with the code the page gets.
"""

from __future__ import annotations

import json
from typing import Any

from .topics import pattern_problem

MAX_PATTERNS = 256

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

    def __init__(self, code: str, message: str, event_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.event_id = event_id

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, self.message, self.event_id)


def parse(text: str | bytes, *, max_bytes: int) -> dict[str, Any]:
    """Decode and check one client frame."""
    if isinstance(text, bytes):
        raise FrameError("bad_frame", "frames are JSON text, not binary")
    if len(text.encode()) > max_bytes:
        raise FrameError("too_large", f"frame is larger than {max_bytes} bytes", _event_id(text))
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise FrameError("bad_frame", f"frame is not JSON we can read: {error}") from None
    if not isinstance(frame, dict):
        raise FrameError("bad_frame", "a frame must be a JSON object")
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_FRAMES:
        raise FrameError("bad_frame", f"unknown frame type {kind!r}; expected one of {', '.join(CLIENT_FRAMES)}")
    for member, expected in CLIENT_FRAMES[kind].items():
        if not isinstance(frame.get(member), expected):
            event_id = frame.get("event", {}).get("id") if isinstance(frame.get("event"), dict) else None
            raise FrameError("bad_frame", f'"{kind}" frame needs "{member}" of type {expected.__name__}', event_id)
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
    if not (isinstance(resume, dict) and isinstance(resume.get("epoch"), str)
            and isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0):
        raise FrameError("bad_frame", 'hello "resume" must be null or {"epoch": string, "seq": integer >= 0}')


def _event_id(text: str) -> str | None:
    try:
        event = json.loads(text).get("event")
        return event.get("id") if isinstance(event.get("id"), str) else None
    except (ValueError, AttributeError):
        return None


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


def error_frame(code: str, message: str, event_id: str | None = None) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "event_id": event_id}
