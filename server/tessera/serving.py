"""Serving an app on a real server that supports WebSockets (Werkzeug, threaded)."""

from __future__ import annotations

import logging
import socket

from flask import Flask
from werkzeug.serving import make_server

log = logging.getLogger("tessera")


class ServeError(OSError):
    """The server cannot listen where it was asked to."""


def check_address(host: str, port: int) -> None:
    """Raise ServeError now, before the app is built, if ``host:port`` cannot be listened on."""
    try:
        socket.create_server((host, port)).close()
    except OSError as error:
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}; "
                         "pick another --port or --host") from None


def serve(app: Flask, *, host: str, port: int) -> None:
    """Serve until interrupted; one process, a thread per connection."""
    server = make_server(host, port, app, threaded=True)
    state = app.extensions["tessera"]
    names = ", ".join(f.name for f in state.registry.fragments) or "none"
    log.info("Tessera serving %d fragments (%s) on http://%s:%d/", len(state.registry.fragments),
             names, host, server.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        state.close()
