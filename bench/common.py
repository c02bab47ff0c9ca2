"""Shared helpers: servers in subprocesses, statistics, time budgets and result rows."""

from __future__ import annotations

import json
import os
import resource
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
# Capacity and fan-out open thousands of pages from one address: lift the per-visitor page limits.
TESSERA_ENV = {"TESSERA_RATE": "1000000", "TESSERA_SECRET_KEY": "bench-secret", "TESSERA_MAX_PAGES_PER_USER": "100000",
               "TESSERA_MAX_PAGES_PER_ADDRESS": "100000"}


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


def raise_open_files() -> int:
    """Raise this process's soft open-file limit to the hard one (servers and clients inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a gunicorn master and its workers), from /proc."""
    pids, index = [pid], 0
    while index < len(pids):
        for task in Path(f"/proc/{pids[index]}/task").glob("*"):
            try:
                pids += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
        index += 1
    return pids


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
        """Exactly what a user runs: ``python -m tessera run`` (gevent, one process)."""
        port = free_port()
        argv = [sys.executable, "-m", "tessera", "run", "--port", str(port), *extra] + (["--app", app] if app else [])
        return cls("tessera", argv, port, env=TESSERA_ENV, ready_path="/bench/ok" if app else "/_tessera/health")

    @classmethod
    def tessera_gunicorn(cls) -> "Server":
        """The bench app on one gunicorn gevent worker (what ``--workers N`` runs, here N = 1)."""
        port = free_port()
        argv = [sys.executable, "-m", "gunicorn", "--worker-class", "gevent", "--workers", "1",
                "--worker-connections", str(resource.getrlimit(resource.RLIMIT_NOFILE)[0]), "--bind", f"{HOST}:{port}",
                "--log-level", "warning", "bench.servers.tessera_app:app"]
        return cls("tessera-gunicorn", argv, port, env=TESSERA_ENV)

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
        """Resident memory of the server's processes (a gunicorn master and its worker), in bytes."""
        total = 0
        for pid in process_tree(self.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        return total

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes used so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in process_tree(self.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def post(self, path: str, body: dict, headers: dict | None = None) -> dict:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            children = {pid: _cmdline(pid) for pid in process_tree(self.pid)[1:]}
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            for pid, cmdline in children.items():  # a worker its master did not stop: only what we started
                if cmdline and _cmdline(pid) == cmdline:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        if getattr(self, "log", None):
            self.log.close()


# The WebSocket contenders: column -> (the protocol its clients speak, its server). Tessera is
# what `tessera run` serves (gevent); each peer on Werkzeug threads and on gevent.
SOCKET_SERVERS = {
    "tessera": ("tessera", lambda: Server.tessera()),
    "flask-sock relay": ("raw", lambda: Server.peer("sock_relay")),
    "flask-sock relay gevent": ("raw", lambda: Server.peer("sock_relay", "gevent")),
    "flask-socketio": ("socketio", lambda: Server.peer("socketio_relay")),
    "flask-socketio gevent": ("socketio", lambda: Server.peer("socketio_relay", "gevent")),
    "tessera gunicorn": ("tessera", lambda: Server.tessera_gunicorn()),
}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


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
