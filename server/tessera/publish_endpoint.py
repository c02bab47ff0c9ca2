"""``POST /_tessera/events``: any backend publishes CloudEvents with a token, per the CloudEvents
HTTP protocol binding 1.0 (section 3), in its three content modes:

- **structured**: ``Content-Type: application/cloudevents+json``, or a JSON body
  (``application/json``, curl's default form type, or no type) without ``ce-`` headers: the
  body is the event, in the JSON event format.
- **binary**: ``ce-<name>`` headers carry the attributes (percent-decoded), ``Content-Type`` is
  ``datacontenttype`` and the body is the data: JSON for JSON media types (``application/json``,
  ``*/*+json``, and when the type is absent or curl's form type), text for UTF-8 ``text/*``,
  bytes otherwise (``Event.data`` is then ``bytes``; pages get ``data_base64``).
- **batched**: ``Content-Type: application/cloudevents-batch+json``, a JSON array of events in
  the JSON event format, admitted all or none: 202 with ``[{"id", "seq", "duplicate"}, ...]``
  in order, or the first refusal with its ``index``.

The ``user`` attribute (``ce-user``) addresses one user's pages. Every other attribute is
carried unchanged (events.py). Every body, a batch's included, is read up to
``TESSERA_MAX_EVENT_BYTES`` and no further. What gets in is admission's verdict
(``from_backend``); this endpoint only reads the request and answers 202, 400
``{"error": code, "reason"}`` (``invalid``, ``forbidden``), 401, 413 (a body above the limit,
refused before it is read any further, or an event that encodes above it), or 415 for any other
media type.

The CloudEvents SDK is not used to read requests: its readers accept what admission must
refuse (NaN, times that are not RFC 3339, any attribute name), its v1 API has no batched mode,
and the binding itself is the mapping of headers to attributes below. The tests use the SDK as
the producer and to parse what pages and Python receive.
"""

from __future__ import annotations

import base64
import hmac
from typing import Any
from urllib.parse import unquote

from flask import abort, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from .admission import Refused
from .brokers.base import Envelope
from .protocol import loads
from .brokers.base import BrokerError
from .state import State, blueprint, current

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
FORM = "application/x-www-form-urlencoded"  # curl -d sends it by default; its body is still JSON
JSON_BODIES = ("", "application/json", FORM)  # a structured event without ce- headers
CE_PREFIX = "ce-"
TEXT_CHARSETS = ("utf-8", "utf8", "us-ascii")  # text/* bodies carried as text; other charsets as bytes


class BadRequest(Exception):
    """A request this endpoint answers with ``status`` and ``{"error": code, "reason"}``."""

    def __init__(self, status: int, code: str, reason: str, index: int | None = None):
        super().__init__(reason)
        self.status, self.code, self.reason, self.index = status, code, reason, index


@blueprint.post("/events")
def publish():
    state = current()
    token = state.settings["TESSERA_PUBLISH_TOKEN"]
    if not token:
        abort(404)
    if not _authorized(request.headers.get("Authorization", ""), token):
        body, status = _reject(BadRequest(401, "unauthorized", "missing or wrong bearer token"))
        return body, status, {"WWW-Authenticate": 'Bearer realm="tessera"'}
    try:
        mode = _mode()
        body = _body(state.settings["TESSERA_MAX_EVENT_BYTES"])
        if mode == "batch":
            return jsonify([_published(state, envelope) for envelope in _admit_batch(state, body)]), 202
        event = _binary_event(body) if mode == "binary" else _json(body, "the body")
        return jsonify(_published(state, _admit(state, event))), 202
    except BadRequest as error:
        return _reject(error)
    except BrokerError as error:  # nothing was lost: the sender may try again (same id: no duplicate)
        body, status = _reject(BadRequest(503, "unavailable", str(error)))
        return body, status, {"Retry-After": "1"}


def _mode() -> str:
    """The content mode (structured, binary or batch), from the media type and the headers; else 415."""
    mimetype = request.mimetype
    if mimetype == BATCH:
        return "batch"
    if mimetype == STRUCTURED:
        return "structured"
    if mimetype.startswith("application/cloudevents"):
        raise BadRequest(415, "unsupported_media_type", f"{mimetype}: only the JSON event format is supported "
                                                        f"({STRUCTURED}, {BATCH})")
    if any(name.lower().startswith(CE_PREFIX) for name in request.headers.keys()):
        return "binary"
    if mimetype in JSON_BODIES:
        return "structured"
    raise BadRequest(415, "unsupported_media_type",
                     f"Content-Type {mimetype} without ce- headers: send {STRUCTURED} (or application/json), "
                     f"{BATCH}, or the event's attributes as ce- headers (binary mode)")


def _body(limit: int) -> bytes:
    """The body, read up to ``limit`` bytes and no further (with or without Content-Length).

    Werkzeug refuses a Content-Length above the maximum before reading, but cuts a chunked body
    at the maximum silently: one byte more is read to tell a body that is too large."""
    request.max_content_length = limit + 1
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        body = None
    if body is None or len(body) > limit:
        raise BadRequest(413, "too_large", f"body is larger than {limit} bytes")
    return body


def _json(body: bytes, what: str) -> Any:
    try:
        return loads(body)
    except (ValueError, RecursionError) as error:
        raise BadRequest(400, "invalid", f"{what} is not JSON we can read (RFC 8259, UTF-8): {error}") from None


def _binary_event(body: bytes) -> dict[str, Any]:
    """The event of a binary-mode request: attributes from ``ce-`` headers, data from the body."""
    event: dict[str, Any] = {}
    for name, value in request.headers.items():
        if name.lower().startswith(CE_PREFIX):
            try:
                event[name.lower()[len(CE_PREFIX):]] = unquote(value, errors="strict")
            except UnicodeDecodeError:
                raise BadRequest(400, "invalid", f"header {name}: percent-encoded bytes are not UTF-8") from None
    mimetype = request.mimetype
    if mimetype and mimetype != FORM:
        event["datacontenttype"] = request.headers["Content-Type"]
    for name in ("data", "data_base64"):
        if name in event:
            raise BadRequest(400, "invalid", f"header ce-{name}: in binary mode the data is the body")
    if body:
        event.update(_binary_data(body, mimetype))
    return event


def _binary_data(body: bytes, mimetype: str) -> dict[str, Any]:
    """``{"data": ...}`` or ``{"data_base64": ...}`` for a binary-mode body of this media type."""
    if mimetype in ("", FORM, "application/json") or mimetype.endswith("+json"):
        return {"data": _json(body, f"binary mode: the body (data of Content-Type {mimetype or 'absent'})")}
    if mimetype.startswith("text/") and request.mimetype_params.get("charset", "utf-8").lower() in TEXT_CHARSETS:
        try:
            return {"data": body.decode("utf-8")}
        except UnicodeDecodeError:
            pass  # not the text it says it is: carried as it came, in bytes
    return {"data_base64": base64.b64encode(body).decode("ascii")}


def _admit(state: State, event: Any) -> Envelope:
    try:
        return state.admission.from_backend(event)
    except Refused as refused:
        raise BadRequest(413 if refused.code == "too_large" else 400, refused.code, refused.message) from None


def _admit_batch(state: State, body: bytes) -> list[Envelope]:
    """Every event of a batch admitted, or the first refusal (with its index): all or none."""
    events = _json(body, "the batch")
    if not isinstance(events, list):
        raise BadRequest(400, "invalid", f"a batch ({BATCH}) is a JSON array of events")
    envelopes = []
    for index, event in enumerate(events):
        try:
            envelopes.append(_admit(state, event))
        except BadRequest as error:
            raise BadRequest(error.status, error.code, f"event {index} of the batch: {error.reason} "
                                                       "(no event of the batch was published)", index) from None
    return envelopes


def _published(state: State, envelope: Envelope) -> dict[str, Any]:
    published = state.bus.publish_event(envelope)
    return {"id": envelope.event.id, "seq": published.seq, "duplicate": published.duplicate}


def _authorized(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _reject(error: BadRequest):
    answer: dict[str, Any] = {"error": error.code, "reason": error.reason}
    if error.index is not None:
        answer["index"] = error.index
    return jsonify(answer), error.status
