"""``POST /_tessera/events``: any backend publishes a CloudEvent (structured mode) with a token.

The endpoint only reads the request; what gets in is admission's verdict (``from_backend``),
answered 202, 400 ``{"error": code, "reason"}``, or 413 for ``too_large``.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, abort, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from .admission import Refused

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
            body, status = _reject(401, "unauthorized", "missing or wrong bearer token")
            return body, status, {"WWW-Authenticate": 'Bearer realm="tessera"'}
        if request.mimetype and request.mimetype not in JSON_TYPES:
            return _reject(415, "unsupported_media_type", f"Content-Type must be application/json or "
                                                          f"application/cloudevents+json, not {request.mimetype}")
        limit = tessera.settings["TESSERA_MAX_EVENT_BYTES"]
        request.max_content_length = limit  # refused before buffering, with or without Content-Length
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return _reject(413, "too_large", f"body is larger than {limit} bytes")
        try:
            raw: Any = json.loads(body)
        except (ValueError, RecursionError) as error:
            return _reject(400, "invalid", f"body is not JSON we can read: {error}")
        try:
            envelope = tessera.admission.from_backend(raw)
        except Refused as refused:
            return _reject(413 if refused.code == "too_large" else 400, refused.code, refused.message)
        published = tessera.bus.publish_event(envelope)
        return jsonify({"id": envelope.event.id, "seq": published.seq, "duplicate": published.duplicate}), 202

    app.register_blueprint(blueprint)


def _authorized(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _reject(status: int, code: str, reason: str):
    return jsonify({"error": code, "reason": reason}), status
