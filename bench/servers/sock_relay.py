"""The raw limit of a Flask WebSocket: a bare flask-sock (simple-websocket) relay, on Werkzeug
threaded, or with ``gevent`` as the second argument on gunicorn's gevent worker (one worker).

On gevent it runs under gunicorn, as flask-sock's docs deploy it, not on gevent's own WSGI
server: there simple-websocket ``dup()``s each request's socket, two descriptors per page,
so 10,000 pages would not fit under the 20,000 open-file limit of the bench machine.

- ``GET /ws``: every text message a client sends is relayed, unchanged, to every other client.
- ``POST /bench/publish`` ``{"type", "data", "count"}``: sends ``count`` CloudEvents JSON texts to
  every client (the same event object Tessera sends; encoded once per event).
No protocol, no validation, no history: the floor any Flask + simple-websocket server pays.
Run: ``python -m bench.servers.sock_relay PORT [gevent]``.
"""

import json
import os
import sys
import threading
import uuid
from datetime import datetime, timezone

from flask import Flask, jsonify, request
from flask_sock import Sock
from werkzeug.serving import make_server

from . import introspect

app = Flask(__name__)
sock = Sock(app)
clients: set = set()
lock = threading.Lock()  # simple-websocket's send is not thread-safe: one sender at a time


@sock.route("/ws")
def relay(ws):
    with lock:
        clients.add(ws)
    try:
        while True:
            text = ws.receive()
            with lock:
                for other in list(clients):
                    if other is not ws:
                        _send(other, text)
    finally:
        with lock:
            clients.discard(ws)


def _send(ws, text):
    try:
        ws.send(text)
    except Exception:
        clients.discard(ws)


@app.post("/bench/publish")
def publish():
    body = request.get_json()
    for _ in range(int(body.get("count", 1))):
        text = json.dumps(cloud_event(body["type"], body.get("data")), separators=(",", ":"))
        with lock:
            for ws in list(clients):
                _send(ws, text)
    return jsonify({"ok": True})


introspect.register(app)


@app.get("/bench/ok")
def ok():
    return "ok"


def cloud_event(type_, data):
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"specversion": "1.0", "id": uuid.uuid4().hex, "type": type_, "source": "/server", "time": now,
            "data": data}


def gunicorn_gevent(port: int) -> None:
    """Become gunicorn (same pid): one gevent worker, connections bounded by the open-file limit."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "--worker-class", "gevent", "--workers", "1",
                              "--worker-connections", str(limit), "--bind", f"127.0.0.1:{port}",
                              "--log-level", "warning", "--graceful-timeout", "2", "bench.servers.sock_relay:app"])


if __name__ == "__main__":
    if sys.argv[2:] == ["gevent"]:
        gunicorn_gevent(int(sys.argv[1]))
    make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
