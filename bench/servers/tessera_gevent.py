"""Tessera's bench app unchanged, served by gevent's WSGI server after monkey-patching.

Threads (the hub's fan-out thread, each connection's writer) become greenlets; flask-sock and
simple-websocket work as they are. This is how to deploy Tessera when fan-out matters: the same
WSGI app under gevent (e.g. ``gunicorn -k gevent``, one worker while the broker is in memory).
Run: ``python -m bench.servers.tessera_gevent PORT``.
"""

import sys

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402  (after patching, on purpose)

from gevent.pywsgi import WSGIServer  # noqa: E402

from ..common import TESSERA_ENV  # noqa: E402

os.environ.update(TESSERA_ENV)

from .tessera_app import app  # noqa: E402

if __name__ == "__main__":
    WSGIServer(("127.0.0.1", int(sys.argv[1])), app, log=None).serve_forever()
