"""``GET /_tessera/ws``: the WebSocket that mirrors the bus (flask-sock on simple-websocket)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, request
from flask_sock import Sock

from .connection import Connection
from .hub import Hub

if TYPE_CHECKING:
    from .extension import Tessera

PING_INTERVAL = 25  # seconds between protocol-level pings; a peer that misses one is dropped


def register_socket(app: Flask, tessera: "Tessera") -> Hub:
    hub = Hub(tessera.bus.broker)
    responders = ThreadPoolExecutor(max_workers=8, thread_name_prefix="tessera-responder")
    sock = Sock()
    blueprint = Blueprint("tessera_socket", __name__)
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": PING_INTERVAL})

    @blueprint.before_request
    def check_origin():
        origin = request.headers.get("Origin")
        if origin is not None and not _allowed(origin, tessera.settings["TESSERA_ALLOWED_ORIGINS"]):
            abort(403, description=f"origin {origin} may not open the Tessera socket")

    @sock.route("/_tessera/ws", bp=blueprint)
    def socket(ws):
        connection = Connection(
            ws, user=tessera.current_user(), bus=tessera.bus, guard=tessera.guard,
            rate=tessera.settings["TESSERA_RATE"], max_bytes=tessera.settings["TESSERA_MAX_EVENT_BYTES"],
            executor=responders, register=hub.register,
        )
        connection.run()

    @blueprint.get("/_tessera/ws")
    def not_a_websocket():
        abort(400, description="this endpoint speaks WebSocket only (see docs/protocol.md)")

    sock.init_app(app)
    app.register_blueprint(blueprint)
    return hub


def _allowed(origin: str, allowed: list[str]) -> bool:
    """The page's own origin (the Host it asked for) or one of TESSERA_ALLOWED_ORIGINS."""
    parts = urlsplit(origin)
    return (parts.scheme in ("http", "https") and parts.netloc == request.host) or origin in allowed
