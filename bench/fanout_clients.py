"""The fan-out benchmark's clients, in their own process: N asyncio WebSocket connections.

``python -m bench.fanout_clients KIND URL N EXPECTED`` connects N clients (``websockets``,
no compression, like simple-websocket's client) speaking KIND's protocol (tessera | raw |
socketio), prints ``READY``, then records the arrival time of every event until each client
has EXPECTED events or the parent writes ``DONE <seconds>`` and that grace time passes.
It prints one JSON line: per phase (``data.phase``), the latencies ``arrival - data.t0`` (ms,
wall clock of this machine) summarised as count, p50, p99 and the last arrival time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid

from websockets.asyncio.client import connect

from .common import percentile

CONNECT_AT_ONCE = 50  # Werkzeug's listen backlog is 128


async def open_client(kind: str, url: str):
    ws_url = url.replace("http", "ws")
    if kind == "tessera":
        ws = await connect(ws_url + "/_tessera/ws", compression=None, ping_interval=None, max_queue=None,
                           additional_headers={"X-Bench-User": "bench"})
        await ws.send(json.dumps({"type": "hello", "page": uuid.uuid4().hex, "subscribe": ["bench.>"], "resume": None}))
        while '"welcome"' not in await ws.recv():
            pass
    elif kind == "socketio":
        ws = await connect(ws_url + "/socket.io/?EIO=4&transport=websocket", compression=None, ping_interval=None,
                           max_queue=None)
        assert (await ws.recv()).startswith("0")
        await ws.send("40")
        assert (await ws.recv()).startswith("40")
    else:
        ws = await connect(ws_url + "/ws", compression=None, ping_interval=None, max_queue=None)
    return ws


async def receive(kind: str, ws, expected: int, arrivals: list) -> None:
    got = 0
    while got < expected:
        text = await ws.recv()
        now = time.time()
        if kind == "socketio":
            if text == "2":
                await ws.send("3")
                continue
            if not text.startswith("42"):
                continue
        elif kind == "tessera" and not text.startswith('{"type":"event"'):
            continue
        arrivals.append((now, text))
        got += 1


def data_of(kind: str, text: str) -> dict:
    if kind == "tessera":
        return json.loads(text)["event"]["data"]
    if kind == "socketio":
        return json.loads(text[2:])[1]["data"]
    return json.loads(text)["data"]


async def main(kind: str, url: str, n: int, expected: int) -> None:
    clients = []
    for start in range(0, n, CONNECT_AT_ONCE):
        clients += await asyncio.gather(*(open_client(kind, url) for _ in range(start, min(n, start + CONNECT_AT_ONCE))))
    arrivals: list = []
    tasks = [asyncio.create_task(receive(kind, ws, expected, arrivals)) for ws in clients]
    print("READY", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    grace = float(line.split()[1]) if line.startswith("DONE") else 0.0
    await asyncio.wait(tasks, timeout=grace)
    phases: dict[str, dict] = {}
    for arrived, text in arrivals:
        data = data_of(kind, text)
        phase = phases.setdefault(data["phase"], {"latencies": [], "last": 0.0})
        phase["latencies"].append((arrived - data["t0"]) * 1000)
        phase["last"] = max(phase["last"], arrived)
    result = {name: {"count": len(p["latencies"]), "p50": percentile(p["latencies"], 50),
                     "p99": percentile(p["latencies"], 99), "last": p["last"]} for name, p in phases.items()}
    print(json.dumps(result), flush=True)
    for ws in clients:
        ws.transport.abort()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
