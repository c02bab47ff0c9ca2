"""Remote composition: page time with 5 remote fragments of 100 ms each, against the sequential
sum and against one fragment (issue 10).

    python -m bench.remote_composition [--pages 15] [--delay 0.1]

Each remote fragment is a plain ``http.server`` (manifest format 1, docs/remote-fragments.md)
in this process whose content answers after ``--delay`` seconds. The host is a real
``tessera run`` (gevent) subprocess composing 5 of them, then another composing 1. Page time
is a whole ``GET /`` (the last streamed byte), median of ``--pages`` after one warm-up page;
time to first byte is shown beside it. "Sequential" is the same 5 contents fetched one after
the other by this process: what composing them one at a time would cost.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def remote_fragment(name: str, delay: float) -> ThreadingHTTPServer:
    """A fragment service whose content takes ``delay`` seconds; started in a thread."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    manifest = json.dumps({"tessera": 1, "name": name, "version": "1.0.0", "digest": digest, "slot": "main",
                           "entry": f"/static/{digest}/index.js", "content": "/render"}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, body: bytes, kind: str, **headers: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/manifest.json":
                return self.reply(manifest, "application/json", ETag=f'"{digest}"')
            self.reply(b"export function mount() {}", "text/javascript", **{"Access-Control-Allow-Origin": "*"})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(delay)
            self.reply(f"<p>{name}</p>".encode(), "text/html", **{"Tessera-Fragment-Digest": digest})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Host:
    """``tessera run`` composing ``remotes`` (name -> manifest URL) and an empty folder of local fragments."""

    def __init__(self, remotes: dict[str, str]):
        self.folder = tempfile.TemporaryDirectory()
        self.port = free_port()
        command = [sys.executable, "-m", "tessera", "run", "--port", str(self.port), "--frontends", self.folder.name]
        for name, url in remotes.items():
            command += ["--remote", f"{name}={url}"]
        env = os.environ | {"TESSERA_SECRET_KEY": "bench", "TESSERA_FRAGMENT_TIMEOUT": "2"}
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_tessera/health", timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tessera run did not start")
                time.sleep(0.05)

    def page(self) -> tuple[float, float, int]:
        """(seconds to the first byte of the body, seconds to the last, fragments that arrived)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        started = time.perf_counter()
        connection.request("GET", "/", headers={"Cookie": ""})
        response = connection.getresponse()
        first = response.read(1)
        first_at = time.perf_counter() - started
        body = first + response.read()
        total = time.perf_counter() - started
        connection.close()
        return first_at, total, body.count(b'data-state="loading" data-props')

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.folder.cleanup()


def sequential(servers: list[ThreadingHTTPServer]) -> float:
    """Seconds to fetch every fragment's content one after the other."""
    started = time.perf_counter()
    for server in servers:
        request = urllib.request.Request(f"http://127.0.0.1:{server.server_address[1]}/render", data=b"{}",
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
    return time.perf_counter() - started


def measure(remotes: dict[str, str], pages: int, expected: int) -> tuple[float, float]:
    host = Host(remotes)
    try:
        host.page()  # warm up: connections, template compilation
        runs = [host.page() for _ in range(pages)]
    finally:
        host.close()
    if any(arrived != expected for _, _, arrived in runs):
        raise RuntimeError(f"some pages did not get all {expected} fragments: {[a for _, _, a in runs]}")
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=15)
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    servers = [remote_fragment(f"remote-{i}", args.delay) for i in range(5)]
    urls = {f"remote-{i}": f"http://127.0.0.1:{s.server_address[1]}/manifest.json" for i, s in enumerate(servers)}
    try:
        sequential_sum = statistics.median(sequential(servers) for _ in range(3))
        ttfb_five, page_five = measure(urls, args.pages, 5)
        ttfb_one, page_one = measure(dict(list(urls.items())[:1]), args.pages, 1)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    ms = lambda seconds: f"{seconds * 1000:7.1f} ms"  # noqa: E731
    print(f"Remote composition: fragments answering in {args.delay * 1000:.0f} ms, median of {args.pages} pages")
    print(f"{'':42} {'page':>10} {'first byte':>12}")
    print(f"{'5 remote fragments (parallel, streamed)':42} {ms(page_five):>10} {ms(ttfb_five):>12}")
    print(f"{'1 remote fragment':42} {ms(page_one):>10} {ms(ttfb_one):>12}")
    print(f"{'5 contents fetched sequentially (the sum)':42} {ms(sequential_sum):>10}")
    print(f"5 fragments cost {page_five / page_one:.2f}x one fragment, "
          f"{page_five / sequential_sum:.2f}x the sequential sum")


if __name__ == "__main__":
    main()
