"""Benchmark 4, composition: shell render throughput, and navigation to ``tessera.ready``.

- requests/s of ``GET /`` of the demo shop on a real ``tessera run`` (composes 5 fragments:
  manifests, Jinja templates, props, import map, config) vs plain Flask returning the same
  final HTML bytes through ``render_template_string`` (fetched once from Tessera), and the same from a template compiled once. Load: ``wrk``
  (2 threads, 8 connections, keep-alive) with the returning visitor's cookie, so Tessera does not
  mint an anonymous id per request. wrk and the server share the 2 cores, for both contenders.
- ms from navigation start to ``tessera.ready`` resolving in Chromium (warm cache, new page
  per navigation), next to the same navigations' DOMContentLoaded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import urllib.request

from .common import Row, Server, Settings, launch_chromium, median

READY_PROBE = """(() => {
  Object.defineProperty(window, "tessera", {configurable: true, get() { return undefined; }, set(value) {
    Object.defineProperty(window, "tessera", {value, writable: true, configurable: true});
    value.ready.then(() => { window.__benchReadyAt = performance.now(); });
  }});
})();"""


def fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        cookie = response.headers.get("Set-Cookie", "").split(";")[0]
        return response.read(), cookie


def wrk(url: str, seconds: int, cookie: str) -> float:
    """requests/s reported by wrk."""
    argv = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--timeout", "5s", url]
    if cookie:
        argv[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def ready_times(url: str, navigations: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    ready, dcl = [], []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context()
        context.add_init_script(READY_PROBE)
        for i in range(navigations + 1):
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("() => window.__benchReadyAt !== undefined", timeout=10_000)
            at, loaded = page.evaluate("() => [window.__benchReadyAt, "
                                       "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd]")
            page.close()
            if i:  # the first navigation fills the cache
                ready.append(at)
                dcl.append(loaded)
        browser.close()
    return ready, dcl


def run(settings: Settings) -> list[Row]:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is missing: run `apt-get update && apt-get install -y wrk`")
    seconds = settings.scale(5, 2)
    rps: dict[str, list[float]] = {"tessera": [], "plain flask render_template_string": [],
                                   "plain flask, template compiled once": []}
    with Server.tessera(app=None) as tessera:
        html, cookie = fetch(tessera.url + "/")
        with tempfile.NamedTemporaryFile("wb", suffix=".html", delete=False) as page:
            page.write(html)
        with Server.peer("plain_flask", page.name) as plain:
            plain_html, _ = fetch(plain.url + "/")
            assert plain_html == html, "the plain Flask page differs from Tessera's"
            assert fetch(plain.url + "/cached")[0] == html
            urls = {"tessera": (tessera.url + "/", cookie), "plain flask render_template_string": (plain.url + "/", ""),
                    "plain flask, template compiled once": (plain.url + "/cached", "")}
            for url, cookie_ in urls.values():
                wrk(url, 1, cookie_)  # warm-up
            names = list(urls)
            for r in range(settings.scale(3, 1)):
                for name in names[r % 3:] + names[:r % 3]:
                    url, cookie_ = urls[name]
                    rps[name].append(wrk(url, seconds, cookie_))
                    print(f"  composition run {r + 1}: {name:35} {rps[name][-1]:,.0f} requests/s", flush=True)
        ready, dcl = ready_times(tessera.url + "/", settings.scale(15, 3))
        print(f"  composition: navigation → tessera.ready median {median(ready):.1f} ms, "
              f"DOMContentLoaded {median(dcl):.1f} ms", flush=True)
    return [
        Row("composition", "GET / (demo page, 5 fragments)", "requests/s", "higher",
            {n: median(v) for n, v in rps.items()}, f"wrk -t2 -c8 -d{seconds}s, {len(html):,} bytes per page", rps),
        Row("composition", "navigation → tessera.ready", "ms", "lower",
            {"tessera": median(ready), "DOMContentLoaded (same navigations)": median(dcl)},
            "Chromium, warm cache; the ratio shows the share of the time spent before DOMContentLoaded",
            {"tessera": ready, "DOMContentLoaded (same navigations)": dcl},
            references=("DOMContentLoaded (same navigations)",)),
    ]
