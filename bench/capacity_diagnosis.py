"""Where each contender's memory and burst time go at N pages (not a benchmark: a diagnosis).

``python -m bench.capacity_diagnosis [N [CONTENDER ...]] [--tracemalloc]`` holds N pages (default
10,000) on each capacity contender (or those named), like bench/capacity.py, and asks the
server's ``GET /bench/objects`` (bench/servers/introspect.py) before the pages connect, once
they are held, and after five bursts. It prints, per contender: objects tracked by the garbage
collector per page, the types that grew most (per page), the collections each generation ran
during the connects and during the bursts, and with ``--tracemalloc`` (Tessera only:
``PYTHONTRACEMALLOC=1``, which doubles its memory and slows it) the source lines that hold the
most memory per page. The reading goes into bench/analysis.md. ``BENCH_GC=off`` or
``BENCH_GC=50000`` in the environment reaches the servers (bench/servers/introspect.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter

from .capacity import CONNECT_SECONDS, CONTENDERS, read_line
from .common import REPO, SOCKET_SERVERS, Server, raise_open_files


def objects(server: Server) -> dict:
    with urllib.request.urlopen(server.url + "/bench/objects", timeout=120) as response:
        return json.loads(response.read())


def collections(before: dict, after: dict) -> str:
    """Collections per generation between two answers, with the seconds they took."""
    return ", ".join(f"gen{g}: {b['collections'] - a['collections']} in {sb - sa:.2f} s"
                     for g, (a, b, sa, sb) in enumerate(zip(before["gc"], after["gc"], before["gc_seconds"],
                                                           after["gc_seconds"])))


def diagnose(name: str, n: int, trace: bool) -> None:
    kind, make = SOCKET_SERVERS[name]
    server = make()
    server.env["BENCH_DIAGNOSIS"] = "1"
    if trace:
        server.env["PYTHONTRACEMALLOC"] = "1"
    with server:
        empty = objects(server)
        rss = server.rss()
        clients = subprocess.Popen([sys.executable, "-m", "bench.capacity_clients", kind, server.url, str(n),
                                    str(CONNECT_SECONDS)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True)
        try:
            opened = read_line(clients, CONNECT_SECONDS + 30)
            held = opened["held"]
            time.sleep(2)
            full = objects(server)
            memory = (server.rss() - rss) / held / 1024
            for k in range(5):
                server.post("/bench/publish", {"type": "bench.capacity", "data": {"burst": k, "note": "x" * 160}})
                clients.stdin.write(f"WAIT {k} 30\n")
                clients.stdin.flush()
                read_line(clients, 40)
            after = objects(server)
        finally:
            clients.kill()
            clients.wait()
    grew = Counter(dict(full["types"]))
    grew.subtract(dict(empty["types"]))
    print(f"== {name}: {held:,} pages held, {memory:.1f} KiB/page (RSS), "
          f"{(full['tracked'] - empty['tracked']) / held:.1f} GC-tracked objects per page "
          f"({full['tracked']:,} in all)\n   collections while connecting: {collections(empty, full)}"
          f"\n   during 5 bursts: {collections(full, after)}; longest full collection {after['gc_longest'][2]:.2f} s")
    for type_, count in grew.most_common(20):
        if count / held >= 0.5:
            print(f"   {count / held:5.1f}/page  {type_}")
    if full.get("lines"):
        before = {line: size for line, size, _ in empty.get("lines", [])}
        traced = (full["traced"] - empty.get("traced", 0)) / held / 1024
        print(f"   tracemalloc: {traced:.1f} KiB/page traced; by line:")
        for line, size, count in full["lines"][:25]:
            print(f"   {(size - before.get(line, 0)) / held:8.0f} B/page {count / held:5.1f} blocks/page  {line}")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 10_000
    raise_open_files()
    chosen = [name for name in CONTENDERS if not args[1:] or name in args[1:]]
    for name in chosen:
        diagnose(name, n, trace="--tracemalloc" in sys.argv and name == "tessera")


if __name__ == "__main__":
    main()
