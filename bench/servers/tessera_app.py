"""Tessera's bench app, served by a real ``tessera run --app bench.servers.tessera_app:app``.

- Fragments: ``bench/servers/fragments`` (one fragment declaring ``bench.ping``, scope user).
- ``@tessera.identify`` reads ``X-Bench-User`` so two clients can be the same user.
- ``POST /bench/publish`` ``{"type", "data", "count"}`` publishes ``count`` events with the
  Python API ``tessera.bus.publish`` (to everyone), like the peers' ``/bench/publish``.
The per-connection rate limit is lifted by the runner (``TESSERA_RATE``), since the round
trip benchmark publishes back to back.
"""

from pathlib import Path

from flask import Flask, jsonify, request

from tessera import Tessera

from . import introspect

app = Flask(__name__)
tessera = Tessera(app, frontends=Path(__file__).parent / "fragments")


@tessera.identify
def bench_user():
    return request.headers.get("X-Bench-User")


@app.post("/bench/publish")
def publish():
    body = request.get_json()
    seq = None
    for _ in range(int(body.get("count", 1))):
        seq = tessera.bus.publish(body["type"], body.get("data")).seq
    return jsonify({"seq": seq})


introspect.register(app)


@app.get("/bench/ok")
def ok():
    return "ok"
