"""Benchmark 1, in-page bus: events/s from one publisher to 10 subscribers, in Chromium.

One page served by a real ``tessera run`` (the demo shop, from the repository root) holds
all three contenders, measured in turn (order rotated each run):
- tessera: ``window.tessera.bus.publish("bench.tick", data)`` with 10 ``bus.subscribe``
  handlers (an undeclared topic, so nothing is mirrored to the server; publish still builds
  a CloudEvent, keeps last value and de-duplication, and dispatches a CustomEvent on window);
- customevent: ``window.dispatchEvent(new CustomEvent("bench.tick", {detail: data}))`` with
  10 ``addEventListener`` handlers;
- mitt: ``emitter.emit("bench.tick", data)`` with 10 ``on`` handlers (mitt 3 from npm,
  loaded as an ES module).
Every handler counts deliveries; a run fails unless all 10 x count arrived.
Also: gzipped size (Python gzip, level 9) of the runtime vs mitt and single-spa dist files.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from .common import BENCH, REPO, Row, Server, Settings, launch_chromium, median

MITT = BENCH / "node_modules/mitt/dist/mitt.mjs"
SINGLE_SPA = BENCH / "node_modules/single-spa/lib/es2015/esm/single-spa.min.js"
RUNTIME = REPO / "shell/runtime"
CORE = ("bus.js", "topics.js", "events.js")

CONTENDERS = ("tessera", "customevent", "mitt")

MEASURE = """async ({kind, count, maxMs}) => {
  const data = {seq: 0, sku: "ETH-YIRG-250", qty: 1, note: "x".repeat(160)};
  let received = 0;
  const handler = () => { received++; };
  let publish, cleanup;
  if (kind === "tessera") {
    const bus = window.tessera.bus;
    const offs = Array.from({length: 10}, () => bus.subscribe("bench.tick", handler));
    publish = () => bus.publish("bench.tick", data);
    cleanup = () => offs.forEach((off) => off());
  } else if (kind === "customevent") {
    const listeners = Array.from({length: 10}, () => () => { received++; });
    listeners.forEach((listener) => window.addEventListener("bench.tick", listener));
    publish = () => window.dispatchEvent(new CustomEvent("bench.tick", {detail: data}));
    cleanup = () => listeners.forEach((listener) => window.removeEventListener("bench.tick", listener));
  } else {
    const mitt = (await import("/__bench/mitt.mjs")).default;
    const emitter = mitt();
    for (let i = 0; i < 10; i++) emitter.on("bench.tick", handler);
    publish = () => emitter.emit("bench.tick", data);
    cleanup = () => emitter.all.clear();
  }
  for (let i = 0; i < 1000; i++) publish();  // warm-up (JIT)
  received = 0;
  let n = 0;
  const start = performance.now();
  while (n < count) {
    for (let i = 0; i < 1000; i++) publish();
    n += 1000;
    if (performance.now() - start > maxMs) break;
  }
  const elapsed = performance.now() - start;
  cleanup();
  if (received !== n * 10) throw new Error(`${kind}: ${received} deliveries, expected ${n * 10}`);
  return {events: n, ms: elapsed};
}"""


def gz(*paths: Path) -> int:
    return len(gzip.compress(b"".join(p.read_bytes() for p in paths), compresslevel=9))


def sizes() -> list[Row]:
    core = [RUNTIME / name for name in CORE]
    everything = sorted(RUNTIME.glob("*.js"))
    note = "gzip -9 of the files concatenated; Tessera's runtime ships unminified, the peers' dist files are minified"
    return [
        Row("inpage", "bus core size (bus+topics+events.js vs mitt)", "bytes gz", "lower",
            {"tessera": gz(*core), "mitt": gz(MITT)}, note),
        Row("inpage", "whole runtime size (shell/runtime/*.js vs single-spa)", "bytes gz", "lower",
            {"tessera": gz(*everything), "single-spa": gz(SINGLE_SPA)}, note),
    ]


def run(settings: Settings) -> list[Row]:
    from playwright.sync_api import sync_playwright

    count, max_ms = settings.scale(200_000, 20_000), settings.scale(3000, 1000)
    rates: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    with Server.tessera(app=None) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.route("**/__bench/mitt.mjs", lambda route: route.fulfill(
            body=MITT.read_text(), content_type="text/javascript"))
        for r in range(settings.runs):
            order = CONTENDERS[r % 3:] + CONTENDERS[:r % 3]
            for kind in order:
                page.goto(server.url + "/")  # a fresh page per measurement: no leftover listeners
                page.evaluate("() => window.tessera.ready")
                result = page.evaluate(MEASURE, {"kind": kind, "count": count, "maxMs": max_ms})
                rates[kind].append(result["events"] / result["ms"] * 1000)
                print(f"  inpage run {r + 1}: {kind:12} {rates[kind][-1]:,.0f} events/s "
                      f"({result['events']} events x 10 subscribers)", flush=True)
        browser.close()
    return [Row("inpage", "publish → 10 subscribers", "events/s", "higher",
                {n: median(v) for n, v in rates.items()},
                "Chromium headless, one page; each event reaches all 10 handlers", rates)] + sizes()
