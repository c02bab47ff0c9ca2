"""Benchmark 6, capacity: 10,000 open pages on one server process, side by side in one run.

For each contender on gevent (Tessera as ``tessera run`` serves it; Flask-SocketIO with
gevent-websocket; a bare flask-sock relay on gunicorn's gevent worker), a fresh server:

- **pages held**: one client process (bench/capacity_clients.py: asyncio, a bare protocol per
  page) opens N = 10,000 WebSockets, 100 handshakes at a time, within ``CONNECT_SECONDS``; a
  page is held once its greeting completed (Tessera: ``hello`` subscribing ``bench.>`` answered
  by ``welcome``; Socket.IO: the namespace connect; the relay: the 101).
- **memory per page**: server RSS (master and worker for gunicorn) two seconds after the pages
  are held, minus before any connected, divided by the pages held (KiB).
- **idle CPU**: the server's CPU time (user + system, all its processes) over ``IDLE_SECONDS``
  with every page open and nothing published, as a share of one core (keep-alive work).
- **burst**: one event published by the server's ``POST /bench/publish`` (Tessera's
  ``tessera.bus.publish``, ``socketio.emit``, the relay's loop over its sockets): the time from
  just before the POST until the last held page has it (ms), ``BURSTS`` times, a second apart.

The script raises its own open-file limit to the hard limit (servers and clients inherit it),
runs on 127.0.0.1 only, and bounds every contender to ``BUDGET`` seconds; every process it
starts is stopped by pid when the contender ends. Targets (issue 9): at most 45 KiB per page,
a burst no slower than Flask-SocketIO's on gevent.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

from .common import REPO, SOCKET_SERVERS, Deadline, Row, Settings, median, raise_open_files

CONTENDERS = ("tessera", "flask-sock relay gevent", "flask-socketio gevent")
REFERENCES = ("tessera gunicorn",)  # the same app on one gunicorn gevent worker: the other server `tessera run` has
CONNECT_SECONDS = 120.0
BURST_SECONDS = 20.0
IDLE_SECONDS = 5.0  # the server's CPU is measured this long with every page open and nothing sent
BUDGET = 180.0  # per contender, all phases
TARGET_KIB = 45.0


def read_line(process: subprocess.Popen, seconds: float) -> dict | None:
    """The client's next JSON line, or None if it said nothing within ``seconds`` (or died)."""
    ready, _, _ = select.select([process.stdout], [], [], max(0.0, seconds))
    line = process.stdout.readline() if ready else ""
    return json.loads(line) if line.strip() else None


def measure(name: str, n: int, bursts: int, env: dict | None = None) -> dict:
    """Hold ``n`` pages on a fresh server of contender ``name`` (``env`` added to its environment),
    then time ``bursts`` bursts."""
    kind, make = SOCKET_SERVERS[name]
    deadline = Deadline(BUDGET)
    load = os.getloadavg()[0]
    server = make()
    server.env.update(env or {})
    with server:
        time.sleep(1)
        before = server.rss()
        clients = subprocess.Popen([sys.executable, "-m", "bench.capacity_clients", kind, server.url, str(n),
                                    str(CONNECT_SECONDS)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True)
        try:
            opened = read_line(clients, CONNECT_SECONDS + 30)
            if opened is None:
                raise RuntimeError(f"{name}: the clients said nothing within {CONNECT_SECONDS + 30:.0f} s")
            time.sleep(2)
            held = opened["held"]
            result = {"held": held, "failed": opened["failed"], "open_s": opened["seconds"], "load": load,
                      "reasons": opened["reasons"], "memory": (server.rss() - before) / max(held, 1) / 1024,
                      "bursts": [], "short": []}
            idle = server.cpu_seconds()
            time.sleep(IDLE_SECONDS)
            result["idle_cpu"] = (server.cpu_seconds() - idle) / IDLE_SECONDS * 100
            cpu = 0.0
            for k in range(bursts):
                if deadline.passed or not held:
                    break
                cpu -= server.cpu_seconds()
                t0 = time.time()
                server.post("/bench/publish", {"type": "bench.capacity", "data": {"burst": k, "note": "x" * 160}})
                clients.stdin.write(f"WAIT {k} {BURST_SECONDS}\n")
                clients.stdin.flush()
                got = read_line(clients, BURST_SECONDS + 10)
                if got is None:
                    raise RuntimeError(f"{name}: the clients did not answer WAIT {k}")
                cpu += server.cpu_seconds()
                complete = got["count"] >= got["held"] and got["last"]
                result["bursts"].append((got["last"] - t0) * 1000 if complete else None)
                result["short"].append(got["held"] - got["count"])
                result["held_end"] = got["held"]
                time.sleep(1)
            result["cpu_per_burst"] = cpu * 1000 / max(len(result["bursts"]), 1)
            result["memory_after"] = (server.rss() - before) / max(held, 1) / 1024
        finally:
            if clients.poll() is None:
                try:
                    clients.stdin.write("QUIT\n")
                    clients.stdin.flush()
                    clients.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    clients.kill()
                    clients.wait()
    result["burst"] = median(result["bursts"])
    return result


def run(settings: Settings) -> list[Row]:
    limit = raise_open_files()
    n = settings.scale(10_000, 1_000)
    bursts = settings.scale(5, 2)
    if limit < n + 200:
        raise RuntimeError(f"the open-file limit is {limit}: {n} pages need at least {n + 200}")
    results = {}
    for name in CONTENDERS + REFERENCES:
        try:
            results[name] = r = measure(name, n, bursts)
        except Exception as error:  # the others still run; this one's columns stay empty
            print(f"  capacity N={n:,}: {name} failed: {error!r}", flush=True)
            results[name] = {"held": 0, "failed": n, "open_s": 0.0, "load": os.getloadavg()[0], "memory": None,
                             "memory_after": None, "idle_cpu": None, "burst": None, "bursts": [], "short": [],
                             "cpu_per_burst": None, "reasons": {"error": repr(error)[:200]}}
            continue
        print(f"  capacity N={n:,}: {name:23} held {r['held']:,} in {r['open_s']:.1f} s  {r['memory']:.1f} KiB/page "
              f"({r['memory_after']:.1f} after bursts)  idle CPU {r['idle_cpu']:.0f} %  burst {r['burst'] or 0:.0f} ms "
              f"{[round(b) if b else None for b in r['bursts']]}  server CPU {r['cpu_per_burst']:.0f} ms/burst"
              + (f"  failed {r['failed']} {r['reasons']}" if r["failed"] else ""), flush=True)

    def metric(key):
        return {name: (float(r[key]) if r[key] is not None else None) for name, r in results.items()}

    tessera, socketio = results["tessera"], results["flask-socketio gevent"]
    memory_met = tessera["memory"] is not None and tessera["memory"] <= TARGET_KIB
    burst_met = bool(tessera["burst"] and socketio["burst"] and tessera["burst"] <= socketio["burst"])
    verdict = (f"targets for Tessera: <= {TARGET_KIB:g} KiB per page {'met' if memory_met else 'MISSED'}, "
               f"burst no slower than Flask-SocketIO on gevent {'met' if burst_met else 'MISSED'}")
    opened = "; ".join(f"{name}: {r['held']:,} in {r['open_s']:.1f} s" + (f" ({r['failed']} failed)" if r["failed"]
                       else "") for name, r in results.items())
    after = "; ".join(f"{name}: {r['memory_after']:.1f}" for name, r in results.items() if r["memory_after"])
    short = {name: sum(r["short"]) for name, r in results.items() if any(r["short"])}
    load = ", ".join(f"{r['load']:.1f}" for r in results.values())
    return [
        Row("capacity", f"pages held of {n:,}", "pages", "higher", metric("held"),
            f"one asyncio client process, 100 handshakes at a time, a user per page; held in: {opened}",
            references=REFERENCES),
        Row("capacity", f"server memory per page at {n:,}", "KiB", "lower", metric("memory"),
            f"server RSS 2 s after the pages are held - before, / pages held; after the bursts: {after}; {verdict}",
            references=REFERENCES),
        Row("capacity", f"burst to all {n:,} pages", "ms", "lower", metric("burst"),
            f"one server-side publish until the last page has it, median of {bursts}; load average before each "
            f"contender: {load}" + (f"; deliveries missing: {short}" if short else ""),
            {name: r["bursts"] for name, r in results.items()}, references=REFERENCES),
        Row("capacity", f"server CPU per burst at {n:,}", "ms", "lower", metric("cpu_per_burst"),
            "server user + system CPU from the POST to the last arrival, mean over the bursts: the work, "
            "less exposed to the other load on the machine than the burst's wall time", references=REFERENCES),
        Row("capacity", f"server CPU while {n:,} pages idle", "% core", "lower", metric("idle_cpu"),
            f"{IDLE_SECONDS:g} s with every page open and nothing published (pings, timeouts)", references=REFERENCES),
    ]
