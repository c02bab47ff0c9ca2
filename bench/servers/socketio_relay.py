"""Flask-SocketIO (threading async mode, on Werkzeug threaded like Tessera) doing the same relay.

- Socket.IO event ``publish``: re-emitted as ``event`` to every other client
  (``broadcast=True, include_self=False``), the payload unchanged.
- ``POST /bench/publish`` ``{"type", "data", "count"}``: ``socketio.emit("event", cloud_event)``
  to every client, ``count`` times.
Run: ``python -m bench.servers.socketio_relay PORT``.
"""

import sys

from flask import Flask, jsonify, request
from flask_socketio import SocketIO, emit
from werkzeug.serving import make_server

from .sock_relay import cloud_event

app = Flask(__name__)
socketio = SocketIO(app, async_mode="threading", cors_allowed_origins="*")


@socketio.on("publish")
def relay(data):
    emit("event", data, broadcast=True, include_self=False)


@app.post("/bench/publish")
def publish():
    body = request.get_json()
    for _ in range(int(body.get("count", 1))):
        socketio.emit("event", cloud_event(body["type"], body.get("data")))
    return jsonify({"ok": True})


@app.get("/bench/ok")
def ok():
    return "ok"


if __name__ == "__main__":
    make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
