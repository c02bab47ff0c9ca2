"""``POST /_tessera/events``: any backend publishes a CloudEvent (structured mode) with a token."""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, abort, jsonify, request

from .brokers.base import Envelope
from .events import Event, EventError
from .protocol import FrameError
from .topics import is_reserved

if TYPE_CHECKING:
    from .extension import Tessera

# curl -d sends form encoding by default; its body is still the JSON event
JSON_TYPES = ("application/json", "application/cloudevents+json", "application/x-www-form-urlencoded")


def register_publish(app: Flask, tessera: "Tessera") -> None:
    blueprint = Blueprint("tessera_publish", __name__)

    @blueprint.post("/_tessera/events")
    def publish():
        token = tessera.settings["TESSERA_PUBLISH_TOKEN"]
        if not token:
            abort(404)
        if not _authorized(request.headers.get("Authorization", ""), token):
            body, status = _reject(401, "missing or wrong bearer token")
            return body, status, {"WWW-Authenticate": 'Bearer realm="tessera"'}
        limit = tessera.settings["TESSERA_MAX_EVENT_BYTES"]
        body = request.get_data(cache=False)
        if len(body) > limit:
            return _reject(413, f"event is larger than {limit} bytes")
        if request.mimetype and request.mimetype not in JSON_TYPES:
            return _reject(400, f"Content-Type must be application/json or application/cloudevents+json, "
                                f"not {request.mimetype}")
        try:
            event = _event(body)
            tessera.guard.check_data(event)
        except (EventError, FrameError) as error:
            return _reject(400, str(error))
        published = tessera.bus.publish_event(Envelope(event, scope="user" if event.user else "global"))
        return jsonify({"id": event.id, "seq": published.seq, "duplicate": published.duplicate}), 202

    app.register_blueprint(blueprint)


def _authorized(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _event(body: bytes) -> Event:
    try:
        raw: Any = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise EventError(f"body is not JSON we can read: {error}") from None
    user = raw.get("user") if isinstance(raw, dict) else None
    if user is not None and (not isinstance(user, str) or not user):
        raise EventError('field "user" must be a non-empty string or absent')
    event = Event.from_dict(raw, user=user)
    if is_reserved(event.type):
        raise EventError(f'field "type": {event.type!r} uses the reserved prefix "tessera."')
    return event


def _reject(status: int, reason: str):
    return jsonify({"error": {401: "unauthorized", 413: "too_large"}.get(status, "invalid"), "reason": reason}), status
