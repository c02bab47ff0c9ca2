"""Where Tessera spends its time in the comparisons it loses most (run at the end of ``python -m bench``).

- Server side: ``py-spy record`` (the one beside ``sys.executable``) on the Tessera server process
  while each of the two losing benchmarks' Tessera load runs; capacity comes first whenever Tessera
  misses one of its targets there (the load: 10,000 pages held, a burst to all of them every
  0.2 s). ``--nonblocking``, 200 Hz, samples of the threads while they run (not while idle: on
  gevent the one thread runs every greenlet, and a socket's ``send`` is on-CPU time spent without
  the GIL, so ``--gil`` would hide it): ``profile-<name>.svg`` (flame graph) and
  ``profile-<name>.txt`` (collapsed stacks), summarised as top frames by own time and by total time.
- In the page: Chromium's CPU profiler (DevTools protocol) during ``bus.publish`` to 10
  subscribers: ``profile-inpage.cpuprofile`` (open in DevTools), summarised the same way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from .common import BENCH, REPO, Row, Server, launch_chromium

SECONDS = 10
RATE = 200
WARM_SECONDS = 150  # the longest a load may take to be ready (10,000 pages to connect)


# Issue 9's targets for Tessera: (benchmark, metric prefix, peer, the lowest ratio that meets it)
TARGETS = (("capacity", "burst", "flask-socketio gevent", 1.0),
           ("roundtrip", "A→B latency p50", "flask-socketio gevent", 1.0),
           ("roundtrip", "A→B latency p50", "flask-sock relay", 1 / 1.5))


def missed(rows: list[Row]) -> list[tuple[Row, str, float]]:
    """The targets Tessera misses in ``rows`` (capacity's memory target is in its note)."""
    found = []
    for row in rows:
        for benchmark, metric, peer, floor in TARGETS:
            ratio = row.ratio(peer)
            if row.benchmark == benchmark and row.metric.startswith(metric) and ratio is not None and ratio < floor:
                found.append((row, peer, ratio))
        if row.benchmark == "capacity" and "MISSED" in row.note:
            found.append((row, "target", 0.0))
    return found


def worst(rows: list[Row], count: int = 2) -> list[tuple[Row, str, float]]:
    """What to profile: one comparison per benchmark where Tessera misses a target (capacity, then the
    round trip), then the server-side comparisons with its lowest ratio against a real peer; at most
    ``count`` benchmarks, or one per missed target if there are more."""
    found: dict[str, tuple[Row, str, float]] = {}
    for row in rows:
        if row.benchmark not in LOADS or "memory" in row.metric or "idle" in row.metric:
            continue
        for peer in row.values:
            ratio = row.ratio(peer)
            if peer == "tessera" or peer in row.references or ratio is None:
                continue
            if row.benchmark not in found or ratio < found[row.benchmark][2]:
                found[row.benchmark] = (row, peer, ratio)
    first: dict[str, tuple[Row, str, float]] = {}
    for item in missed(rows):
        first.setdefault(item[0].benchmark, item)
    rest = [item for item in sorted(found.values(), key=lambda item: item[2]) if item[0].benchmark not in first]
    return (list(first.values()) + rest)[:max(count, len(first))]


# -- loads that exercise Tessera's side of a benchmark: each sets ``ready`` once warm, ends on ``stop``
def load_fanout(server: Server, stop: threading.Event, ready: threading.Event) -> None:
    clients = subprocess.Popen([sys.executable, "-m", "bench.fanout_clients", "tessera", server.url, "100", "10000000"],
                               cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert clients.stdout.readline().strip() == "READY"
        ready.set()
        while not stop.is_set():
            server.post("/bench/publish", {"type": "bench.fanout", "count": 20,
                                           "data": {"phase": "burst", "t0": time.time(), "note": "x" * 160}})
            time.sleep(0.05)
    finally:
        clients.kill()
        clients.wait()


def load_roundtrip(server: Server, stop: threading.Event, ready: threading.Event) -> None:
    from .roundtrip import round_trips
    from .wsclients import TesseraClient

    a, b = TesseraClient(server.url, subscribe=()), TesseraClient(server.url)
    try:
        ready.set()
        while not stop.is_set():
            round_trips(a, b, 200, 5, 0)
    finally:
        a.close()
        b.close()


def load_composition(server: Server, stop: threading.Event, ready: threading.Event) -> None:
    from .composition import fetch, wrk

    _, cookie = fetch(server.url + "/")
    ready.set()
    while not stop.is_set():
        wrk(server.url + "/", 3, cookie)


def load_capacity(server: Server, stop: threading.Event, ready: threading.Event, n: int = 10_000) -> None:
    """``n`` pages held, and one event to all of them as soon as the last burst arrived, plus 0.2 s."""
    from .capacity import CONNECT_SECONDS, read_line

    clients = subprocess.Popen([sys.executable, "-m", "bench.capacity_clients", "tessera", server.url, str(n),
                                str(CONNECT_SECONDS)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        opened = read_line(clients, CONNECT_SECONDS + 30)
        if not opened or not opened["held"]:
            raise RuntimeError(f"capacity load: no page held ({opened})")
        ready.set()
        burst = 0
        while not stop.is_set():
            server.post("/bench/publish", {"type": "bench.capacity", "data": {"burst": burst, "note": "x" * 160}})
            clients.stdin.write(f"WAIT {burst} 20\n")
            clients.stdin.flush()
            read_line(clients, 30)
            burst += 1
            stop.wait(0.2)
    finally:
        clients.kill()
        clients.wait()


LOADS = {"fanout": (load_fanout, {}), "roundtrip": (load_roundtrip, {}),
         "composition": (load_composition, {"app": None}), "capacity": (load_capacity, {})}


def py_spy() -> str:
    """The py-spy installed with this Python (the bench extra), else the one on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("py-spy")
    if not found:
        raise RuntimeError(f'py-spy is missing beside {sys.executable}: {sys.executable} -m pip install -e ".[bench]"')
    return found


def profile_server(name: str) -> dict:
    load, options = LOADS[name]
    svg, raw = BENCH / f"profile-{name}.svg", BENCH / f"profile-{name}.txt"
    with Server.tessera(**options) as server:
        stop, ready = threading.Event(), threading.Event()
        failed: list[BaseException] = []

        def drive() -> None:
            try:
                load(server, stop, ready)
            except BaseException as error:  # reported below, not lost in the thread
                failed.append(error)
                ready.set()

        worker = threading.Thread(target=drive, name=f"load-{name}", daemon=True)
        worker.start()
        try:
            if not ready.wait(WARM_SECONDS) or failed:
                raise RuntimeError(f"the {name} load did not start: {failed[0] if failed else 'timed out'}")
            time.sleep(2)  # warm
            common = ["record", "--pid", str(server.pid), "--duration", str(SECONDS), "--rate", str(RATE),
                      "--nonblocking"]
            for fmt, out in (("raw", raw), ("flamegraph", svg)):
                spy = subprocess.run([py_spy(), *common, "--format", fmt, "-o", str(out)], capture_output=True,
                                     text=True, timeout=SECONDS + 60)
                if spy.returncode or server.process.poll() is not None:
                    raise RuntimeError(f"py-spy failed ({server.process.poll()=}): {spy.stderr.strip()[-500:]}")
        finally:
            stop.set()
            worker.join(timeout=60)
    return {"svg": svg.name, "raw": raw.name, **top_python_frames(raw.read_text())}


FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:]*)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "server/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['func']} ({file})"


def top_python_frames(collapsed: str, limit: int = 10) -> dict:
    own, total, samples = Counter(), Counter(), 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(f) for f in stack.split(";") if f.strip()]
        samples += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            total[frame] += int(count)
    skip = ("_bootstrap", "run (threading.py)", "process_request_thread", "serve_forever", "<module>", "main (",
            "_run_module", "run_wsgi", "execute (", "__call__", "wsgi_app", "full_dispatch", "dispatch_request",
            "handle (", "handle_one_request", "finish_request", "__init__ (socketserver", "_handle_request_noblock",
            "handle_request", "invoke", "run_simple", "serve (", "_call_with_frames_removed",
            "_handle_and_close_when_done", "WSGIServer.handle", "WSGIHandler.", "Flask.", "Thread.run")
    return {
        "samples": samples,
        "own": [(f, n / samples) for f, n in own.most_common(limit)],
        "total": [(f, n / samples) for f, n in total.most_common(60) if not any(s in f for s in skip)][:limit],
    }


def profile_inpage(count: int = 200_000) -> dict:
    """Chromium's CPU profile of ``tessera.bus.publish`` to 10 subscribers."""
    from playwright.sync_api import sync_playwright

    from .inpage import MEASURE

    out = BENCH / "profile-inpage.cpuprofile"
    with Server.tessera(app=None) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.goto(server.url + "/")
        page.evaluate("() => window.tessera.ready")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 100})
        cdp.send("Profiler.start")
        page.evaluate(MEASURE, {"kind": "tessera", "count": count, "maxMs": 4000})
        profile = cdp.send("Profiler.stop")["profile"]
        browser.close()
    out.write_text(json.dumps(profile))
    nodes = {node["id"]: node for node in profile["nodes"]}
    own, samples = Counter(), 0
    for node in nodes.values():
        frame = node["callFrame"]
        name = f"{frame['functionName'] or '(anonymous)'} ({Path(frame['url']).name or 'native'}:{frame['lineNumber'] + 1})"
        own[name] += node.get("hitCount", 0)
        samples += node.get("hitCount", 0)
    skip = ("(idle)", "(program)", "(garbage collector)")
    busy = sum(n for f, n in own.items() if not f.startswith(skip))
    return {"file": out.name, "samples": samples,
            "own": [(f, n / busy) for f, n in own.most_common(14) if not f.startswith(skip)][:10],
            "gc": sum(n for f, n in own.items() if f.startswith("(garbage collector)")) / max(samples, 1)}


def run(rows: list[Row]) -> dict | None:
    """Profile where Tessera misses a target or loses most (server side), and the in-page bus when it
    was measured; None when no profile could be taken (the report then has no profile section)."""
    import traceback

    result: dict = {"server": []}
    for row, peer, ratio in worst(rows) or [(None, None, None)]:
        name = row.benchmark if row else "fanout"
        why = "" if not row else (f" ({row.metric}: misses its target)" if peer == "target"
                                  else f" ({row.metric}: {ratio:.2f}x of {peer})")
        print(f"  profiling Tessera's server in '{name}'{why}", flush=True)
        try:
            result["server"].append({"benchmark": name, "row": (row.metric, peer, ratio) if row else None,
                                     **profile_server(name)})
        except Exception:
            traceback.print_exc()
    if not rows or any(row.benchmark == "inpage" for row in rows):
        print("  profiling the in-page bus in Chromium", flush=True)
        try:
            result["inpage"] = profile_inpage()
        except Exception:
            traceback.print_exc()
    return result if result["server"] or result.get("inpage") else None
