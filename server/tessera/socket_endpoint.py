"""``GET /_tessera/ws``: the WebSocket that mirrors the bus.

The request's own thread upgrades the socket and reads it; its writer (writer.py) orders every
frame written to it, and the process's ticker (ticker.py) pings it and enforces its deadlines. When the session ends, nothing more is written on the socket:
the WSGI server is told the connection was taken over, so it writes no HTTP response after it.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import Any

from flask import Response, abort, request

from . import origins
from .connection import Connection
from .hub import Hub, Limits, Refused
from .responders import Responders
from .state import State, blueprint, current
from .websocket import HandshakeError, WebSocket
from .writer import SocketWriter

log = logging.getLogger("tessera.socket")

SEND_BUFFER = 4 * 1024 * 1024  # characters of frames waiting for a page before it counts as not reading
FRAME_SLACK = 2  # frames up to this many times TESSERA_MAX_EVENT_BYTES get a too_large error frame; larger: 1009


def open_sockets(state: State) -> None:
    """Per app: the hub that fans events out to its sockets, and the responders answering them."""
    settings = state.settings
    state.hub = Hub(state.bus.broker, Limits(
        pages_per_user=settings["TESSERA_MAX_PAGES_PER_USER"], pages_per_address=settings["TESSERA_MAX_PAGES_PER_ADDRESS"],
        patterns_per_user=settings["TESSERA_MAX_PATTERNS_PER_USER"], queue=settings["TESSERA_HUB_QUEUE"]))
    state.responders = Responders(state.bus)


@blueprint.get("/ws", websocket=True)
def socket():
    state = current()
    origin = request.headers.get("Origin")
    if origin is not None and not origins.allowed(origin, scheme=request.scheme, host=request.host,
                                                  others=state.settings["TESSERA_ALLOWED_ORIGINS"]):
        abort(403, description=f"origin {origin[:100]} may not open the Tessera socket")
    user = state.identity.current(mint=False)
    try:
        release = state.hub.admit(user, request.remote_addr or "")
    except Refused as refused:
        abort(429, description=str(refused))
    try:
        return _serve(state, user)
    finally:
        release()


def _serve(state: State, user: str) -> Response:
    """Upgrade, then read frames until the page goes (or says no hello in time); the writer
    sends, the connection dispatches."""
    max_bytes = state.settings["TESSERA_MAX_EVENT_BYTES"]
    try:
        ws = WebSocket(request.environ, max_message=FRAME_SLACK * max_bytes + 1024)
    except HandshakeError as error:
        abort(400, description=str(error))
    writer = SocketWriter(ws, limit=SEND_BUFFER)
    connection = Connection(writer, user=user, bus=state.bus, rate=state.settings["TESSERA_RATE"],
                            max_bytes=max_bytes, responders=state.responders, hub=state.hub)
    writer.start()
    writer.ticker.at(time.monotonic() + state.settings["TESSERA_HELLO_TIMEOUT"], connection.no_hello)
    try:  # past the upgrade, nothing may reach Flask's error handling: it would write HTTP on the socket
        for message in ws.messages(writer):
            connection.handle(message)
    except Exception:
        log.exception("the connection of %s failed", user)
    finally:
        try:
            connection.close(1000)
        except Exception:
            log.exception("closing the connection of %s failed", user)
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
        # gevent's pywsgi closes quietly on a broken pipe, instead of reading what the peer left
        # unread as the next request
        raise OSError(errno.EPIPE, "WebSocket session ended")
