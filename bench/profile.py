"""Where Tessera spends its time in the comparisons it loses most (run at the end of ``python -m bench``).

- Server side: ``py-spy record`` on the Tessera server process while each of the two losing benchmarks'
  Tessera load runs (``--nonblocking --gil``, 100 Hz: only the thread
  holding the GIL is sampled, i.e. where the process's Python CPU time goes): ``profile-<name>.svg``
  (flame graph) and ``profile-<name>.txt`` (collapsed stacks), summarised as top frames by own
  time and by total time.
- In the page: Chromium's CPU profiler (DevTools protocol) during ``bus.publish`` to 10
  subscribers: ``profile-inpage.cpuprofile`` (open in DevTools), summarised the same way.
"""

from __future__ import annotations

import json
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
RATE = 100  # py-spy falls behind at higher rates with the hundreds of threads Tessera runs


def worst(rows: list[Row], count: int = 2) -> list[tuple[Row, str, float]]:
    """The server-side comparisons with Tessera's lowest ratio against a real peer, one per benchmark."""
    found: dict[str, tuple[Row, str, float]] = {}
    for row in rows:
        if row.benchmark not in LOADS or "memory" in row.metric:
            continue
        for peer in row.values:
            ratio = row.ratio(peer)
            if peer == "tessera" or peer in row.references or ratio is None:
                continue
            if row.benchmark not in found or ratio < found[row.benchmark][2]:
                found[row.benchmark] = (row, peer, ratio)
    return sorted(found.values(), key=lambda item: item[2])[:count]


# -- loads that exercise Tessera's side of a benchmark -----------------------------------------
def load_fanout(server: Server, stop: threading.Event) -> None:
    clients = subprocess.Popen([sys.executable, "-m", "bench.fanout_clients", "tessera", server.url, "100", "10000000"],
                               cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert clients.stdout.readline().strip() == "READY"
    while not stop.is_set():
        server.post("/bench/publish", {"type": "bench.fanout", "count": 20,
                                       "data": {"phase": "burst", "t0": time.time(), "note": "x" * 160}})
        time.sleep(0.05)
    clients.kill()
    clients.wait()


def load_roundtrip(server: Server, stop: threading.Event) -> None:
    from .roundtrip import round_trips
    from .wsclients import TesseraClient

    a, b = TesseraClient(server.url, subscribe=()), TesseraClient(server.url)
    while not stop.is_set():
        round_trips(a, b, 200, 5, 0)
    a.close()
    b.close()


def load_composition(server: Server, stop: threading.Event) -> None:
    from .composition import fetch, wrk

    _, cookie = fetch(server.url + "/")
    while not stop.is_set():
        wrk(server.url + "/", 3, cookie)


LOADS = {"fanout": (load_fanout, {}), "roundtrip": (load_roundtrip, {}),
         "composition": (load_composition, {"app": None})}


def py_spy() -> str:
    found = shutil.which("py-spy")
    if not found:
        raise RuntimeError('py-spy is missing: python -m pip install -e ".[bench]"')
    return found


def profile_server(name: str) -> dict:
    load, options = LOADS[name]
    svg, raw = BENCH / f"profile-{name}.svg", BENCH / f"profile-{name}.txt"
    with Server.tessera(**options) as server:
        stop = threading.Event()
        worker = threading.Thread(target=load, args=(server, stop), daemon=True)
        worker.start()
        time.sleep(2)  # connected and warm
        common = ["record", "--pid", str(server.pid), "--duration", str(SECONDS), "--rate", str(RATE), "--nonblocking", "--gil"]
        for fmt, out in (("raw", raw), ("flamegraph", svg)):
            spy = subprocess.run([py_spy(), *common, "--format", fmt, "-o", str(out)], capture_output=True, text=True,
                                 timeout=SECONDS + 60)
            if spy.returncode or server.process.poll() is not None:
                raise RuntimeError(f"py-spy failed ({server.process.poll()=}): {spy.stderr.strip()[-500:]}")
        stop.set()
        worker.join(timeout=30)
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
            "handle_request", "invoke", "run_simple", "serve (", "_call_with_frames_removed")
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


def run(rows: list[Row]) -> dict:
    """Profile the two worst server-side comparisons, and the in-page bus."""
    result = {"server": []}
    for row, peer, ratio in worst(rows) or [(None, None, None)]:
        name = row.benchmark if row else "fanout"
        print(f"  profiling Tessera's server in '{name}'" + (f" ({row.metric}: {ratio:.2f}x of {peer})" if row else ""),
              flush=True)
        result["server"].append({"benchmark": name, "row": (row.metric, peer, ratio) if row else None,
                                 **profile_server(name)})
    print("  profiling the in-page bus in Chromium", flush=True)
    result["inpage"] = profile_inpage()
    return result
