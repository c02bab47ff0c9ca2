"""Events: CloudEvents 1.0 envelopes, as they travel between pages, Python and brokers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .topics import topic_problem

SPEC_VERSION = "1.0"
REQUIRED = ("specversion", "id", "type", "source")


class EventError(ValueError):
    """An object that is not an acceptable CloudEvents 1.0 event."""


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Event:
    """One event: the CloudEvents fields as attributes, plus ``seq``, ``epoch`` and ``user``.

    ``user`` is the publishing page's user id, or the user an event was addressed to.
    """

    type: str
    data: Any = None
    source: str = "/server"
    id: str = field(default_factory=new_id)
    time: str = field(default_factory=now_rfc3339)
    seq: int | None = None
    epoch: str | None = None
    user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The CloudEvents object as sent to pages (``user`` is routing, not part of it)."""
        body = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "data": self.data,
        }
        if self.seq is not None:
            body["seq"] = self.seq
            body["epoch"] = self.epoch
        return body

    @classmethod
    def from_dict(cls, body: Any, *, user: str | None = None) -> "Event":
        """Validate a CloudEvents object received from outside; raise EventError."""
        if not isinstance(body, dict):
            raise EventError("an event must be a JSON object")
        for name in REQUIRED:
            if name not in body:
                raise EventError(f'field "{name}" is missing')
        if body["specversion"] != SPEC_VERSION:
            raise EventError(f'field "specversion" must be "1.0", got {body["specversion"]!r}')
        for name in ("id", "source"):
            if not isinstance(body[name], str) or not body[name]:
                raise EventError(f'field "{name}" must be a non-empty string')
        if (problem := topic_problem(body["type"])) is not None:
            raise EventError(f'field "type": {problem}')
        time = body.get("time") or now_rfc3339()
        if not isinstance(time, str):
            raise EventError('field "time" must be an RFC 3339 string')
        try:
            datetime.fromisoformat(time.replace("Z", "+00:00"))
        except ValueError:
            raise EventError(f'field "time" is not RFC 3339: {time!r}') from None
        return cls(
            type=body["type"],
            data=body.get("data"),
            source=body["source"],
            id=body["id"],
            time=time,
            user=user,
        )
