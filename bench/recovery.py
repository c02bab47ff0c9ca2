"""Benchmark 5, recovery: reconnect and replay 1,000 missed events.

Per run, with a Python client of Tessera's protocol (simple-websocket): connect and
``hello`` (timed: the fresh connect), note the ``welcome`` position, disconnect; the server
publishes 1,000 events with the Python API; reconnect with ``resume: {epoch, seq}`` and time
until the ``replayed`` frame, checking that exactly the 1,000 events arrived, in order.
Flask-SocketIO has no replay: a reconnecting client gets nothing of what it missed. Its fresh
connect (Engine.IO open + namespace connect) is shown for scale only.
"""

from __future__ import annotations

import json
import time

from .common import Row, Server, Settings, median
from .wsclients import SocketIOClient, TesseraClient

MISSED = 1000


def replay_once(server: Server) -> tuple[float, float]:
    """(fresh connect ms, reconnect + replay ms)."""
    start = time.perf_counter()
    client = TesseraClient(server.url)
    fresh = (time.perf_counter() - start) * 1000
    position = {"epoch": client.welcome["epoch"], "seq": client.welcome["seq"]}
    client.close()
    server.post("/bench/publish", {"type": "bench.missed", "count": MISSED,
                                   "data": {"sku": "ETH-YIRG-250", "qty": 1, "note": "x" * 160}})
    start = time.perf_counter()
    client = TesseraClient(server.url, resume=position)
    seqs = []
    while True:
        frame = json.loads(client.ws.receive(timeout=10))
        if frame["type"] == "event":
            seqs.append(frame["event"]["seq"])
        elif frame["type"] == "replayed":
            break
    replay = (time.perf_counter() - start) * 1000
    client.close()
    assert client.welcome["recovered"], "the server could not fill the gap"
    assert seqs == list(range(position["seq"] + 1, position["seq"] + MISSED + 1)), "replay is not the 1,000 events in order"
    return fresh, replay


def run(settings: Settings) -> list[Row]:
    runs = settings.scale(7, 2)
    fresh, replay, sio = [], [], []
    with Server.tessera() as server:
        replay_once(server)  # warm-up
        for r in range(runs):
            f, p = replay_once(server)
            fresh.append(f)
            replay.append(p)
            print(f"  recovery run {r + 1}: fresh connect {f:.2f} ms, reconnect + replay {MISSED} {p:.1f} ms", flush=True)
    with Server.peer("socketio_relay") as server:
        SocketIOClient(server.url).close()
        for _ in range(runs):
            start = time.perf_counter()
            client = SocketIOClient(server.url)
            sio.append((time.perf_counter() - start) * 1000)
            client.close()
    values = {"tessera": median(replay), "tessera fresh connect": median(fresh),
              "flask-socketio fresh connect (no replay)": median(sio)}
    return [Row("recovery", f"reconnect + replay {MISSED:,} missed events", "ms", "lower", values,
                "Flask-SocketIO has no replay: its reconnect loses the 1,000 events; connect times for scale",
                {"tessera": replay, "tessera fresh connect": fresh, "flask-socketio fresh connect (no replay)": sio},
                references=("tessera fresh connect", "flask-socketio fresh connect (no replay)"))]
