"""``GET /_tessera/ws``: the WebSocket that mirrors the bus.

The request's own thread upgrades the socket and reads it; one writer thread per socket
writes every frame (writer.py). When the session ends, nothing more is written on the socket:
the WSGI server is told the connection was taken over, so it writes no HTTP response after it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, abort, request

from .connection import Connection
from .hub import Hub
from .responders import Responders
from .state import State, blueprint, current
from .websocket import HandshakeError, WebSocket
from .writer import SocketWriter

SEND_BUFFER = 4 * 1024 * 1024  # characters of frames waiting for a page before it counts as not reading
FRAME_SLACK = 2  # frames up to this many times TESSERA_MAX_EVENT_BYTES get a too_large error frame; larger: 1009


def open_sockets(state: State) -> None:
    """Per app: the hub that fans events out to its sockets, and the responders answering them."""
    state.hub = Hub(state.bus.broker)
    state.responders = Responders(state.bus)


@blueprint.get("/ws", websocket=True)
def socket():
    state = current()
    origin = request.headers.get("Origin")
    if origin is not None and not _allowed(origin, state.settings["TESSERA_ALLOWED_ORIGINS"]):
        abort(403, description=f"origin {origin} may not open the Tessera socket")
    max_bytes = state.settings["TESSERA_MAX_EVENT_BYTES"]
    try:
        ws = WebSocket(request.environ, max_message=FRAME_SLACK * max_bytes + 1024)
    except HandshakeError as error:
        abort(400, description=str(error))
    writer = SocketWriter(ws, limit=SEND_BUFFER)
    connection = Connection(
        writer, user=state.identity.current(mint=False), bus=state.bus, rate=state.settings["TESSERA_RATE"],
        max_bytes=max_bytes, responders=state.responders, register=state.hub.register,
    )
    writer.start()
    try:
        for message in ws.messages(writer):
            connection.handle(message)
    finally:
        connection.close(1000)
        writer.join(timeout=writer.grace)
        ws.shutdown()
    return TakenOver(ws.server)


@blueprint.get("/ws")
def not_a_websocket():
    abort(400, description="this endpoint speaks WebSocket only (see docs/protocol.md)")


class TakenOver(Response):
    """The response to an upgraded request: the socket was ours, so the server writes nothing."""

    def __init__(self, server: str):
        super().__init__()
        self.server = server

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self.server == "werkzeug":
            raise ConnectionAbortedError("WebSocket session ended")  # Werkzeug drops the connection silently
        if self.server == "gunicorn":
            raise StopIteration  # gunicorn closes the connection without a response
        return []


def _allowed(origin: str, allowed: list[str]) -> bool:
    """The page's own origin (the Host it asked for) or one of TESSERA_ALLOWED_ORIGINS."""
    parts = urlsplit(origin)
    return (parts.scheme in ("http", "https") and parts.netloc == request.host) or origin in allowed
