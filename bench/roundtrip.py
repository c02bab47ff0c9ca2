"""Benchmark 2, mirror round trip: page A publishes, page B (same user, other tab) receives.

Measured: the time from A's ``send`` of one event to B's receipt of it, one event in flight
at a time, with Python WebSocket clients (simple-websocket) in this process. Tessera, as
``tessera run`` serves it (gevent): ``publish`` frame of ``bench.ping`` (scope user, no schema)
through admission, broker and hub to B's ``event`` frame (A's ``ack`` is read after the timing).
Peers, same CloudEvents object: a bare flask-sock relay (the raw limit of a Flask WebSocket) and
Flask-SocketIO (``emit(..., broadcast=True, include_self=False)``), each on Werkzeug threads and
on gevent (common.SOCKET_SERVERS). 15 blocks of 500 trips, the contenders in turn (rotated).
Reported: p50 and p99 in ms (each the median over blocks), ratios to Tessera.
"""

from __future__ import annotations

import time

from .common import SOCKET_SERVERS, Deadline, Row, Settings, cloud_event, median, payload, percentile
from .wsclients import RawClient, SocketIOClient, TesseraClient

PAIRS = {  # A (publishes) and B (receives), per protocol
    "tessera": lambda url: (TesseraClient(url, subscribe=()), TesseraClient(url)),
    "raw": lambda url: (RawClient(url), RawClient(url)),
    "socketio": lambda url: (SocketIOClient(url), SocketIOClient(url)),
}
NAMES = ("tessera", "flask-sock relay", "flask-sock relay gevent", "flask-socketio", "flask-socketio gevent")
CONTENDERS = {name: (SOCKET_SERVERS[name][1], PAIRS[SOCKET_SERVERS[name][0]]) for name in NAMES}


def round_trips(a, b, count: int, seconds: float, warmup: int) -> list[float]:
    """Latencies (ms) of up to ``count`` sequential A -> B deliveries, within ``seconds``."""
    latencies = []
    deadline = Deadline(seconds)
    for i in range(warmup + count):
        event = cloud_event("bench.ping", payload(i))
        text = a.frame(event)
        start = time.perf_counter()
        a.ws.send(text)
        received = b.receive_event()
        elapsed = (time.perf_counter() - start) * 1000
        assert event["id"] in received, "B received another event than A sent"
        a.drain_ack()
        if i >= warmup:
            latencies.append(elapsed)
            if deadline.passed:
                break
    return latencies


def run(settings: Settings) -> list[Row]:
    # many short blocks, the contenders taking turns: drift on this shared machine reaches each alike
    blocks, count, seconds, warmup = settings.scale(15, 1), settings.scale(500, 200), settings.scale(4, 3), settings.scale(200, 50)
    p50s = {name: [] for name in CONTENDERS}
    p99s = {name: [] for name in CONTENDERS}
    servers = {name: make() for name, (make, _) in CONTENDERS.items()}
    for server in servers.values():
        server.__enter__()
    try:
        clients = {name: CONTENDERS[name][1](server.url) for name, server in servers.items()}
        names = list(CONTENDERS)
        for r in range(blocks):
            for name in names[r % len(names):] + names[:r % len(names)]:  # rotate the order
                a, b = clients[name]
                latencies = round_trips(a, b, count, seconds, warmup if r == 0 else 20)
                p50s[name].append(percentile(latencies, 50))
                p99s[name].append(percentile(latencies, 99))
                print(f"  roundtrip run {r + 1}: {name:17} p50 {p50s[name][-1]:.3f} ms  p99 {p99s[name][-1]:.3f} ms"
                      f"  ({len(latencies)} trips)", flush=True)
        for a, b in clients.values():
            a.close()
            b.close()
    finally:
        for server in servers.values():
            server.__exit__()
    note = "Python clients; one event in flight; Tessera rate limit lifted (TESSERA_RATE)"
    return [
        Row("roundtrip", "A→B latency p50", "ms", "lower", {n: median(v) for n, v in p50s.items()}, note, p50s),
        Row("roundtrip", "A→B latency p99", "ms", "lower", {n: median(v) for n, v in p99s.items()}, note, p99s),
    ]
