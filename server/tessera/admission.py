"""Admission: the one way into the log, for events from pages, backends and Python alike.

Every event is checked by the same rules, in this order, with the same codes:

1. ``invalid``: not a CloudEvents 1.0 event within Tessera's bounds (events.py: ids, sources
   and subjects of at most 256 characters, an RFC 3339 ``time``, well-formed extension
   attributes), or a ``user`` that is not a non-empty string of at most 256 characters.
2. ``forbidden``: a reserved ``tessera.`` topic.
3. ``forbidden``: from a page, a ``source`` other than ``/shell`` or a loaded fragment.
4. The declared scope. From a page: ``forbidden`` unless the topic is declared ``user`` or
   ``global``. From the server side (backends, Python): ``forbidden`` when declared ``page``,
   ``invalid`` when declared ``user`` but addressed to nobody; undeclared topics are free.
5. ``invalid`` when the data is not RFC 8259 JSON (NaN and Infinity included) or a string is
   not valid Unicode; ``too_large`` when the encoded event is more than ``max_bytes`` of UTF-8.
6. ``invalid``: data that does not match the topic's declared JSON Schema.

An admitted event leaves as an ``Envelope`` with its routing and its idempotency key: pages'
events are unique per user (``("page", user, source, id)``), everything else per CloudEvents
identity (``("event", source, id)``), so no publisher can make another's event a duplicate.
Transports only translate a ``Refused``: an error frame, an HTTP status, or the exception itself.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from jsonschema import Draft202012Validator

from .brokers.base import Envelope, idempotency_key
from .events import MAX_ID_LENGTH, SPEC_VERSION, Event, EventError, new_id, now_rfc3339
from .protocol import FrameError, loads
from .registry import Registry
from .topics import is_reserved

MIRRORED = ("user", "global")
DEFAULT_MAX_BYTES = 65536


_MEASURED = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))  # an event's JSON, as sized


class Refused(FrameError):
    """An event admission does not let in: ``code`` is ``invalid``, ``forbidden`` or ``too_large``.

    A FrameError, so the socket answers it like any refused frame (``error.frame()``);
    the HTTP endpoint answers 400 (413 for ``too_large``); Python code gets it raised.
    """


class Admission:
    """The fragments' declarations and the size limit, applied to events from every origin."""

    def __init__(self, registry: Registry | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES):
        publications = registry.publications if registry else {}
        fragments = registry.fragments if registry else ()
        self.max_bytes = max_bytes
        self.scopes = {topic: p.scope for topic, p in publications.items()}
        self.validators = {topic: Draft202012Validator(p.schema) for topic, p in publications.items() if p.schema}
        self.page_sources = frozenset({"/shell"} | {f"/fragments/{f.name}" for f in fragments})

    @staticmethod
    def claimed_id(body: Any) -> str | None:
        """The id an event body claims, for reports about it before it is checked (None if unusable)."""
        event_id = body.get("id") if isinstance(body, dict) else None
        return event_id if isinstance(event_id, str) and len(event_id) <= MAX_ID_LENGTH else None

    # -- the origins -------------------------------------------------------------------------
    def from_page(self, body: Any, *, user: str, page: str) -> Envelope:
        """A page's ``publish``: its event, as published by ``user`` from ``page`` (which never gets it back)."""
        return self._admit(body, user=user, page=page)

    def request_from_page(self, body: Any, *, user: str) -> Event:
        """A page's ``request``: rules 1-3 and the size only (not the declarations): requests do
        not enter the log, and Python responders need no manifest entry."""
        event = self._cloudevent(body, user=user, from_page=True)
        self._check_size(event)
        return event

    def from_backend(self, body: Any) -> Envelope:
        """A CloudEvent a backend posted; its ``user`` attribute, if any, addresses one user's pages."""
        user = body.get("user") if isinstance(body, dict) else None
        return self._admit(body, user=user, page=None)

    def from_python(self, type: str, data: Any = None, *, user: str | None = None,
                    source: str | None = None) -> Envelope:
        """``bus.publish``: an event of source ``/server`` (``/server/<source>``) to everyone, or to ``user``.

        ``bytes`` data is binary data (``data_base64`` to pages)."""
        body = {"specversion": SPEC_VERSION, "id": new_id(), "type": type,
                "source": f"/server/{source}" if source else "/server", "time": now_rfc3339()}
        if isinstance(data, (bytes, bytearray)):
            body["data_base64"] = base64.b64encode(data).decode("ascii")
        else:
            _check_json(type, data)
            body["data"] = data
        return self._admit(body, user=user, page=None)

    # -- the rules -----------------------------------------------------------------------------
    def _admit(self, body: Any, *, user: Any, page: str | None) -> Envelope:
        """The checks every event that enters the log passes; ``page`` is None for the server side."""
        event = self._cloudevent(body, user=user, from_page=page is not None)
        scope = self._scope(event, from_page=page is not None)
        body = self._check_size(event)
        self._check_schema(event)
        if page is not None:
            return Envelope(event, scope=scope, origin=page,
                            key=idempotency_key("page", event.user, event.source, event.id), body=body)
        return Envelope(event, scope=scope, key=idempotency_key("event", event.source, event.id), body=body)

    def _cloudevent(self, body: Any, *, user: Any, from_page: bool) -> Event:
        event_id = self.claimed_id(body)
        if user is not None and (not isinstance(user, str) or not user or len(user) > MAX_ID_LENGTH):
            raise Refused("invalid", f'field "user" must be a non-empty string of at most {MAX_ID_LENGTH} '
                                     "characters, or absent", event_id)
        try:
            event = Event.from_dict(body, user=user)
        except EventError as error:
            raise Refused("invalid", str(error), event_id) from None
        if is_reserved(event.type):
            raise Refused("forbidden", f"{event.type!r}: topics starting with 'tessera.' are reserved for Tessera",
                          event.id)
        if from_page and event.source not in self.page_sources:
            raise Refused("forbidden", f"source {event.source!r} is not /shell or a loaded fragment", event.id)
        return event

    def _scope(self, event: Event, *, from_page: bool) -> str:
        declared = self.scopes.get(event.type)
        if from_page:
            if declared not in MIRRORED:
                why = "is not declared by any fragment" if declared is None else f"is declared with scope {declared!r}"
                raise Refused("forbidden", f"{event.type!r} {why}; pages may publish only user or global topics",
                              event.id)
            return declared
        if declared == "page":
            raise Refused("forbidden", f"{event.type!r} is declared with scope 'page': it never leaves the page",
                          event.id)
        if declared == "user" and event.user is None:
            raise Refused("invalid", f"{event.type!r} is declared with scope 'user': address it to a user",
                          event.id)
        return "user" if event.user is not None else "global"

    def _check_size(self, event: Event) -> str:
        """``event``'s JSON; refused unless it is RFC 8259 JSON (no NaN or Infinity, valid Unicode)
        of at most ``max_bytes`` of UTF-8."""
        try:
            text = _MEASURED.encode(event.to_dict())
        except (TypeError, ValueError, RecursionError) as error:
            raise Refused("invalid", f"data of {event.type!r} must be JSON (any JSON value): {error}",
                          event.id) from None
        try:
            size = len(text.encode())
        except UnicodeEncodeError:  # a lone surrogate ("\\ud800") read from JSON text
            raise Refused("invalid", "event holds a string that is not valid Unicode (a lone surrogate)",
                          event.id) from None
        if size > self.max_bytes:
            raise Refused("too_large", f"event is {size} bytes, more than {self.max_bytes}", event.id)
        return text

    def _check_schema(self, event: Event) -> None:
        validator = self.validators.get(event.type)
        if validator is None:
            return
        error = next(iter(validator.iter_errors(event.data)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "data"
            raise Refused("invalid", f"{event.type!r} data does not match its schema at {where}: {error.message}",
                          event.id)


def _check_json(type: str, data: Any) -> None:
    """Refused unless ``data`` is RFC 8259 JSON as pages read it back: Python writes integers no
    double can hold (10**400) and NaN, which browsers would read as Infinity or not at all.
    (What pages and backends send was already read by ``protocol.loads``.)"""
    try:
        loads(json.dumps(data, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as error:
        raise Refused("invalid", f"data of {type!r} must be JSON (any JSON value): {error}") from None
