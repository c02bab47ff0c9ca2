"""Shared helpers: servers in subprocesses, statistics, time budgets and result rows."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
HOST = "127.0.0.1"
LOGS = Path(tempfile.gettempdir()) / "tessera-bench-logs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# The round trip benchmark publishes back to back from one connection: lift the 100/s limit.
TESSERA_ENV = {"TESSERA_RATE": "1000000", "TESSERA_SECRET_KEY": "bench-secret"}


@dataclass
class Settings:
    """How much work each benchmark does: ``quick`` is a smoke check, not a measurement."""

    quick: bool = False

    @property
    def runs(self) -> int:
        return 1 if self.quick else 5

    def scale(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass
class Row:
    """One metric of one benchmark, measured for Tessera and each peer (medians of runs)."""

    benchmark: str
    metric: str
    unit: str
    better: str  # "higher" or "lower"
    values: dict[str, float | None]
    note: str = ""
    runs: dict[str, list[float]] = field(default_factory=dict)
    references: tuple[str, ...] = ()  # columns shown for scale, not competitors

    def ratio(self, peer: str) -> float | None:
        """Tessera's advantage over ``peer``: > 1 Tessera is better, < 1 Tessera loses."""
        mine, theirs = self.values.get("tessera"), self.values.get(peer)
        if not mine or not theirs:
            return None
        return mine / theirs if self.better == "higher" else theirs / mine


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, q: float):
    """The ``q``-th percentile (0..100), nearest rank; None for no values."""
    values = sorted(values)
    if not values:
        return None
    rank = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return values[rank]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tessera_command() -> list[str]:
    script = shutil.which("tessera")
    return [script] if script else [sys.executable, "-m", "tessera"]


class Server:
    """A server in its own process on 127.0.0.1; ``with Server(...) as s: s.url``; stops on exit."""

    def __init__(self, name: str, argv: list[str], port: int, *, env: dict | None = None, cwd: Path = REPO,
                 ready_path: str = "/bench/ok"):
        self.name, self.argv, self.port, self.cwd, self.ready_path = name, argv, port, cwd, ready_path
        self.env = {**os.environ, **(env or {})}
        self.url = f"http://{HOST}:{port}"
        self.process: subprocess.Popen | None = None

    @classmethod
    def tessera(cls, *, app: str | None = "bench.servers.tessera_app:app", extra: list[str] = ()) -> "Server":
        port = free_port()
        argv = tessera_command() + ["run", "--port", str(port), *extra] + (["--app", app] if app else [])
        return cls("tessera", argv, port, env=TESSERA_ENV, ready_path="/bench/ok" if app else "/_tessera/health")

    @classmethod
    def peer(cls, module: str, *args: str) -> "Server":
        port = free_port()
        return cls(module, [sys.executable, "-m", f"bench.servers.{module}", str(port), *args], port)

    def __enter__(self) -> "Server":
        LOGS.mkdir(exist_ok=True)
        self.log = open(LOGS / f"{self.name}-{self.port}.log", "wb")
        self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"{self.name} did not answer within 20 s; see {self.log.name}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        """Resident memory of the server process, in bytes (from /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def post(self, path: str, body: dict, headers: dict | None = None) -> dict:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()


def payload(seq: int = 0, **extra) -> dict:
    """The data every contender carries: the same ~250-byte JSON object."""
    return {"seq": seq, "sku": "ETH-YIRG-250", "qty": 1, "note": "x" * 160, **extra}


def cloud_event(type_: str, data) -> dict:
    """A CloudEvents 1.0 object as a page would publish it (what every contender relays)."""
    from tessera.events import Event

    return Event(type=type_, data=data, source="/shell").to_dict()


def launch_chromium(playwright):
    """Debian's Chromium, headless, with the flags the benchmarks fix."""
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)


class Deadline:
    """A time budget in seconds: ``while not deadline.passed: ...``."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end
