"""Benchmark: another user's tab-to-tab latency while one visitor holds many pattern-laden sockets.

The attack of issue 8: one cookie opens many sockets, each holding 256 wildcard patterns, and
every socket publishes global events within its rate limit. Measured: a victim's user-scoped
round trip (tab A publishes, tab B of the same user receives), sequential, p50 and p95, before
and during the attack, on ``tessera run`` (gevent) with the shop fixture's fragments.

Two runs: with the default limits (the attacker gets TESSERA_MAX_PAGES_PER_USER sockets, the
rest are refused with 429), and with the limits lifted (all 250 sockets), which shows what the
subscription index alone does. Loopback only, bounded in count and time.
Run: ``python -m bench.attack`` (``--quick`` for a smoke check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import urllib.request
import uuid

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .common import REPO, Server, free_port, percentile

FRONTENDS = REPO / "tests" / "fixtures" / "shop"
SOCKETS, PATTERNS, RATE = 250, 256, 4  # attacker sockets, patterns each, events/s each (limit: 100)
LIFTED = {"TESSERA_MAX_PAGES_PER_USER": "1000", "TESSERA_MAX_PAGES_PER_ADDRESS": "1000",
          "TESSERA_MAX_PATTERNS_PER_USER": "1000000"}


def cookie(url: str) -> str:
    """A fresh anonymous visitor: the signed cookie the shell page hands out."""
    with urllib.request.urlopen(url + "/", timeout=10) as response:
        return response.headers["Set-Cookie"].split(";", 1)[0]


def event(type_: str, data) -> dict:
    return {"specversion": "1.0", "id": uuid.uuid4().hex, "type": type_, "source": "/shell",
            "time": "2026-12-02T00:00:00Z", "data": data}


async def page(url: str, visitor: str, subscribe: list[str]):
    ws = await connect(url.replace("http", "ws") + "/_tessera/ws", additional_headers={"Cookie": visitor},
                       max_size=None, compression=None, ping_interval=None, max_queue=None)
    await ws.send(json.dumps({"type": "hello", "page": uuid.uuid4().hex, "subscribe": subscribe}))
    while json.loads(await ws.recv())["type"] != "replayed":
        pass
    return ws


async def round_trips(a, b, count: int) -> list[float]:
    """Milliseconds from A's send to B's receipt, one event in flight at a time, 50 a second
    (the victim stays within its own rate limit)."""
    latencies = []
    for n in range(count):
        sent = event("demo.ping", {"n": n})
        start = time.perf_counter()
        await a.send(json.dumps({"type": "publish", "event": sent}))
        while True:
            frame = json.loads(await asyncio.wait_for(b.recv(), timeout=30))
            if frame["type"] == "event" and frame["event"]["id"] == sent["id"]:
                break
        latencies.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(max(0.0, 0.02 - (time.perf_counter() - start)))
    return latencies


async def attacker(url: str, visitor: str, n: int, stop: asyncio.Event) -> bool:
    """One attacking socket: 256 wildcard patterns, RATE global events/s, reading what it gets."""
    patterns = [f"demo.*.w{n}x{i}" if i % 2 else f"w{n}x{i}.>" for i in range(PATTERNS)]
    try:
        ws = await page(url, visitor, patterns[:PATTERNS])
    except InvalidStatus:  # refused: 429 past the pages a user may hold
        return False

    async def drain():
        async for _ in ws:
            pass

    reader = asyncio.create_task(drain())
    try:
        while not stop.is_set():
            await ws.send(json.dumps({"type": "publish", "event": event("demo.shout", {"from": n})}))
            await asyncio.sleep(1 / RATE)
    finally:
        reader.cancel()
        await ws.close()
    return True


async def measure(url: str, samples: int) -> dict:
    victim = cookie(url)
    a = await page(url, victim, [])
    b = await page(url, victim, ["demo.ping"])
    await round_trips(a, b, 20)  # warm up
    baseline = await round_trips(a, b, samples)
    stop = asyncio.Event()
    visitor = cookie(url)  # one attacker: every socket carries the same cookie
    crowd = [asyncio.create_task(attacker(url, visitor, n, stop)) for n in range(SOCKETS)]
    await asyncio.sleep(3)  # the sockets open, say hello and start publishing
    during = await round_trips(a, b, samples)
    stop.set()
    admitted = sum(await asyncio.gather(*crowd))
    await a.close()
    await b.close()
    return {"baseline": baseline, "during": during, "admitted": admitted}


def scenario(name: str, env: dict, samples: int) -> dict:
    """``tessera run`` as a user runs it (gevent, default rate limit), with ``env`` on top."""
    port = free_port()
    argv = [sys.executable, "-m", "tessera", "run", "--port", str(port), "--frontends", str(FRONTENDS)]
    with Server("tessera", argv, port, env={"TESSERA_SECRET_KEY": "bench", **env}, ready_path="/_tessera/health") as server:
        result = asyncio.run(asyncio.wait_for(measure(server.url, samples), timeout=240))
    result["name"] = name
    return result


def report(results: list[dict]) -> str:
    lines = ["| limits | attacker sockets admitted | victim p50 before | p50 during | p95 before | p95 during | p50 ratio |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        p50b, p50d = percentile(r["baseline"], 50), percentile(r["during"], 50)
        p95b, p95d = percentile(r["baseline"], 95), percentile(r["during"], 95)
        lines.append(f"| {r['name']} | {r['admitted']} of {SOCKETS} | {p50b:.2f} ms | {p50d:.2f} ms | "
                     f"{p95b:.2f} ms | {p95d:.2f} ms | {p50d / p50b:.1f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke check, not a measurement")
    samples = 50 if parser.parse_args().quick else 500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 250 sockets and more
    results = [scenario("default", {}, samples), scenario("lifted", LIFTED, samples)]
    print(f"{SOCKETS} attacker sockets x {PATTERNS} wildcard patterns x {RATE} global events/s each")
    print(report(results))


if __name__ == "__main__":
    main()
