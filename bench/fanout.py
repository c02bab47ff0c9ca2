"""Benchmark 3, fan-out: one server-side publish delivered to N = 100 and 1,000 WebSocket clients.

The clients run in a separate process (bench/fanout_clients.py, asyncio + ``websockets``).
Tessera is served as ``tessera run`` serves it (gevent); each peer on Werkzeug threads and on
gevent (common.SOCKET_SERVERS). Each server publishes from a Flask route in-process
(``POST /bench/publish``): Tessera with its Python API ``tessera.bus.publish``, Flask-SocketIO with ``socketio.emit`` (broadcast),
the bare flask-sock relay by sending the JSON text to each socket in turn. Same CloudEvent.

- paced: one event every ``interval`` (long enough to drain); latency = arrival time in a
  client - the publisher's wall-clock time just before the POST. p50 / p99 over all deliveries.
- burst: one POST publishing B events back to back; deliveries/s = N * B / (last arrival - t0).
- memory: server RSS after N clients connected minus before, divided by N (KiB/connection).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from .common import REPO, SOCKET_SERVERS, Row, Server, Settings, median

NAMES = ("tessera", "flask-sock relay", "flask-sock relay gevent", "flask-socketio", "flask-socketio gevent")
CONTENDERS = {name: SOCKET_SERVERS[name] for name in NAMES}


def one_run(kind: str, server: Server, n: int, paced: int, interval: float, burst: int) -> dict:
    """Connect n clients, publish ``paced`` spaced events then ``burst`` at once; measure."""
    before = server.rss()
    clients = subprocess.Popen([sys.executable, "-m", "bench.fanout_clients", kind, server.url, str(n),
                                str(paced + burst)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        ready = clients.stdout.readline().strip()
        if ready != "READY":
            raise RuntimeError(f"fan-out clients did not connect: {ready!r}")
        time.sleep(0.5)
        memory = (server.rss() - before) / n / 1024
        for i in range(paced):
            server.post("/bench/publish", {"type": "bench.fanout", "data": {"phase": "paced", "i": i, "t0": time.time(),
                                                                            "note": "x" * 160}})
            time.sleep(interval)
        t0 = time.time()
        server.post("/bench/publish", {"type": "bench.fanout", "count": burst,
                                       "data": {"phase": "burst", "t0": t0, "note": "x" * 160}})
        clients.stdin.write("DONE 30\n")
        clients.stdin.flush()
        result = json.loads(clients.stdout.readline())
    finally:
        clients.kill()
        clients.wait()
    paced_r, burst_r = result.get("paced", {}), result.get("burst", {})
    lost = n * (paced + burst) - paced_r.get("count", 0) - burst_r.get("count", 0)
    rate = burst_r["count"] / (burst_r["last"] - t0) if burst_r.get("count") else None
    return {"p50": paced_r.get("p50"), "p99": paced_r.get("p99"), "rate": rate, "memory": memory, "lost": lost}


def run(settings: Settings) -> list[Row]:
    rows = []
    for n in (100, 1000):
        paced = settings.scale(20, 5)
        interval = 0.05 if n == 100 else 0.3
        burst = settings.scale(100 if n == 100 else 20, 20 if n == 100 else 5)
        runs = settings.scale(3, 1)
        results: dict[str, list[dict]] = {name: [] for name in CONTENDERS}
        for r in range(runs):
            for name, (kind, make) in CONTENDERS.items():
                with make() as server:  # a fresh server per run: memory is measured cold
                    result = one_run(kind, server, n, paced, interval, burst)
                    results[name].append(result)
                    print(f"  fanout N={n} run {r + 1}: {name:17} p50 {result['p50']:.1f} ms  p99 {result['p99']:.1f} ms"
                          f"  {result['rate'] or 0:,.0f} deliveries/s  {result['memory']:.1f} KiB/conn"
                          f"  lost {result['lost']}", flush=True)
        lost = {name: sum(r["lost"] for r in rs) for name, rs in results.items()}
        note = f"clients in another process; paced {paced} events, burst {burst}" + (
            f"; undelivered: {lost}" if any(lost.values()) else "")

        def metric(key):
            return {name: median([r[key] for r in rs]) for name, rs in results.items()}

        def per_run(key):
            return {name: [r[key] for r in rs] for name, rs in results.items()}

        rows += [
            Row("fanout", f"N={n} delivery p50", "ms", "lower", metric("p50"), note, per_run("p50")),
            Row("fanout", f"N={n} delivery p99", "ms", "lower", metric("p99"), note, per_run("p99")),
            Row("fanout", f"N={n} burst deliveries/s", "1/s", "higher", metric("rate"), note, per_run("rate")),
            Row("fanout", f"N={n} server memory per connection", "KiB", "lower", metric("memory"),
                "server RSS after N clients connected - before, / N; a fresh server per run", per_run("memory")),
        ]
    return rows
