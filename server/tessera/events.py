"""Events: CloudEvents 1.0 envelopes, as they travel between pages, Python and brokers.

``Event.from_dict`` is the one reader of an event from outside (pages, backends, brokers); it
applies the CloudEvents rules and Tessera's bounds:

- ``id``, ``source`` and ``subject``: non-empty strings of at most ``MAX_ID_LENGTH`` characters
  (ids and sources are what duplicates are detected by: what the server remembers is bounded).
- ``type``: a topic (topics.py). ``time``: RFC 3339 (``2026-11-28T10:00:00Z``, an offset, any
  fraction of a second), filled in with the current time when absent.
- ``datacontenttype``, ``dataschema`` and every extension attribute: carried unchanged.
  Extension names are lowercase ``a-z0-9``, at most ``MAX_NAME_LENGTH`` characters (the spec
  recommends 20); values are strings of at most ``MAX_VALUE_LENGTH`` characters (a W3C
  ``tracestate`` fits), booleans or 32-bit integers. An optional attribute set to null is absent.
- ``data`` (any JSON value) or ``data_base64`` (binary data: ``Event.data`` is then ``bytes``,
  and ``to_dict`` writes it back as ``data_base64``), never both.
- ``seq`` and ``epoch`` are the server's: given ones are ignored, the broker sets them.
  ``user`` is routing, not an attribute: the caller says who it is.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from .topics import topic_problem

SPEC_VERSION = "1.0"
REQUIRED = ("specversion", "id", "type", "source")
OPTIONAL = ("subject", "datacontenttype", "dataschema")
MAX_ID_LENGTH = 256  # id, source, subject (and a page's id, a request's rid: protocol.py)
MAX_VALUE_LENGTH = 1024  # datacontenttype, dataschema, extension values
MAX_NAME_LENGTH = 64  # extension attribute names
# names that are not extension attributes: the spec's own, and Tessera's (server-set or routing)
NOT_EXTENSIONS = frozenset({*REQUIRED, *OPTIONAL, "time", "data", "data_base64", "seq", "epoch", "user"})

_NAME = re.compile(r"[a-z0-9]+")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,12})?(?:[Zz]|[+-](\d{2}):(\d{2}))", re.ASCII
)
_INT32 = range(-(2**31), 2**31)


class EventError(ValueError):
    """An object that is not an acceptable CloudEvents 1.0 event."""


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def is_rfc3339(text: str) -> bool:
    """Whether ``text`` is an RFC 3339 date-time (``date-time`` of section 5.6, values checked)."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return False
    year, month, day, hour, minute, second, offset_hours, offset_minutes = (
        int(part) if part is not None else 0 for part in match.groups())
    try:
        date(year, month, day)
    except ValueError:
        return False
    return hour < 24 and minute < 60 and second <= 60 and offset_hours < 24 and offset_minutes < 60


@dataclass(frozen=True, slots=True)
class Event:
    """One event: the CloudEvents attributes as attributes, plus ``seq``, ``epoch`` and ``user``.

    ``user`` is the publishing page's user id, or the user an event was addressed to.
    ``subject``, ``datacontenttype`` and ``dataschema`` are None when absent; ``extensions``
    maps every extension attribute's name to its value (``{"traceparent": "00-..."}``).
    ``data`` is ``bytes`` for binary data (``data_base64`` on the wire).
    """

    type: str
    data: Any = None
    source: str = "/server"
    id: str = field(default_factory=new_id)
    time: str = field(default_factory=now_rfc3339)
    seq: int | None = None
    epoch: str | None = None
    user: str | None = None
    subject: str | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    extensions: dict[str, str | int | bool] = field(default_factory=dict)

    def placed(self, seq: int, epoch: str) -> "Event":
        """This event at ``seq`` of the stream ``epoch``, as a broker stores it (``replace``, without
        the generic machinery: every event that enters the log is copied once)."""
        return Event(self.type, self.data, self.source, self.id, self.time, seq, epoch, self.user, self.subject,
                     self.datacontenttype, self.dataschema, self.extensions)

    def to_dict(self) -> dict[str, Any]:
        """The CloudEvents object (JSON event format) as sent to pages; ``user`` is routing, not part of it."""
        body: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
        }
        for name in OPTIONAL:
            if (value := getattr(self, name)) is not None:
                body[name] = value
        body.update(self.extensions)
        if isinstance(self.data, (bytes, bytearray)):
            body["data_base64"] = base64.b64encode(self.data).decode("ascii")
        else:
            body["data"] = self.data
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
            raise EventError(f'field "specversion" must be "1.0", got {_shown(body["specversion"])}')
        for name in ("id", "source"):
            _check_string(name, body[name], MAX_ID_LENGTH)
        if (problem := topic_problem(body["type"])) is not None:
            raise EventError(f'field "type": {problem}')
        time = body.get("time")
        if time is None:
            time = now_rfc3339()
        elif not is_rfc3339(time):
            raise EventError(f'field "time" is not RFC 3339 (like 2026-11-28T10:00:00Z): {_shown(time)}')
        optional = {name: body.get(name) for name in OPTIONAL}
        for name, value in optional.items():
            if value is not None:
                _check_string(name, value, MAX_ID_LENGTH if name == "subject" else MAX_VALUE_LENGTH)
        return cls(
            type=body["type"],
            data=_data(body),
            source=body["source"],
            id=body["id"],
            time=time,
            user=user,
            **optional,
            extensions=_extensions(body),
        )


def _check_string(name: str, value: Any, limit: int) -> None:
    if not isinstance(value, str) or not value:
        raise EventError(f'field "{name}" must be a non-empty string')
    if len(value) > limit:
        raise EventError(f'field "{name}" is longer than {limit} characters')


def _data(body: dict[str, Any]) -> Any:
    if body.get("data_base64") is None:
        return body.get("data")
    if "data" in body:
        raise EventError('an event has "data" or "data_base64", not both')
    encoded = body["data_base64"]
    try:
        if not isinstance(encoded, str):
            raise ValueError
        return base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise EventError('field "data_base64" must be a base64 string (RFC 4648)') from None


def _extensions(body: dict[str, Any]) -> dict[str, str | int | bool]:
    extensions = {}
    for name, value in body.items():
        if name in NOT_EXTENSIONS or value is None:
            continue
        if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
            raise EventError(f"attribute name {_shown(name)} must be lowercase letters and digits (a-z, 0-9), "
                             f"at most {MAX_NAME_LENGTH} characters")
        if isinstance(value, str):
            if len(value) > MAX_VALUE_LENGTH:
                raise EventError(f'attribute "{name}" is longer than {MAX_VALUE_LENGTH} characters')
        elif not isinstance(value, bool) and not (isinstance(value, int) and value in _INT32):
            raise EventError(f'attribute "{name}" must be a string, a boolean or a 32-bit integer')
        extensions[name] = value
    return extensions


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: error messages never echo a stranger's megabyte."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
