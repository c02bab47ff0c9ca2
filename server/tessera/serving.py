"""Serving an app on a real server that supports WebSockets (Werkzeug, threaded)."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.serving import make_server

log = logging.getLogger("tessera")


def serve(app: Flask, *, host: str, port: int) -> None:
    """Serve until interrupted; one process, a thread per connection."""
    server = make_server(host, port, app, threaded=True)
    tessera = app.extensions["tessera"]
    names = ", ".join(f.name for f in tessera.registry.fragments) or "none"
    log.info("Tessera serving %d fragments (%s) on http://%s:%d/", len(tessera.registry.fragments),
             names, host, server.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        tessera.close()
