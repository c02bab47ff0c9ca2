"""Flask-SocketIO doing the same relay: threading mode on Werkzeug threaded (like Tessera), or
with ``gevent`` as the second argument, gevent mode on gevent's server with gevent-websocket
(Flask-SocketIO's recommended production set-up, to see whether it helps it).

- Socket.IO event ``publish``: re-emitted as ``event`` to every other client
  (``broadcast=True, include_self=False``), the payload unchanged.
- ``POST /bench/publish`` ``{"type", "data", "count"}``: ``socketio.emit("event", cloud_event)``
  to every client, ``count`` times.
Run: ``python -m bench.servers.socketio_relay PORT [gevent]``.
"""

import sys

GEVENT = sys.argv[2:] == ["gevent"]
if GEVENT:  # before anything else imports socket or threading
    from gevent import monkey

    monkey.patch_all()

from flask import Flask, jsonify, request
from flask_socketio import SocketIO, emit
from werkzeug.serving import make_server

from . import introspect
from .sock_relay import cloud_event

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent" if GEVENT else "threading", cors_allowed_origins="*")


@socketio.on("publish")
def relay(data):
    emit("event", data, broadcast=True, include_self=False)


@app.post("/bench/publish")
def publish():
    body = request.get_json()
    for _ in range(int(body.get("count", 1))):
        socketio.emit("event", cloud_event(body["type"], body.get("data")))
    return jsonify({"ok": True})


introspect.register(app)


@app.get("/bench/ok")
def ok():
    return "ok"


if __name__ == "__main__":
    if GEVENT:
        socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_output=False)
    else:
        make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
