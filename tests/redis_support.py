"""Redis for the tests: the shared server (or one the session starts when none runs), a key
prefix per test that is deleted afterwards, and servers a test may stop and start itself.

Test modules import the fixtures by name: ``from redis_support import redis_keys``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

SHARED_URL = os.environ.get("TESSERA_TEST_REDIS", "redis://127.0.0.1:6379/0")


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reachable(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisServer:
    """A ``redis-server`` of our own on a spare port, without persistence; stop and start it at will.

    ``stop(save=True)`` writes its data first (SHUTDOWN SAVE), so the next ``start`` finds it:
    an outage that loses nothing. A plain ``stop`` loses everything, as a restart would.
    """

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.port = spare_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="tessera-redis-")
        self._log = Path(self._dir.name) / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--dir", self._dir.name, "--logfile", str(self._log)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not reachable(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{self.output()}")
            time.sleep(0.02)
        return self

    def stop(self, *, save: bool = False) -> None:
        if self.process is None:
            return
        if save and self.process.poll() is None:
            client = redis.Redis.from_url(self.url, socket_timeout=5)
            try:
                client.shutdown(save=True)
            except redis.ConnectionError:
                pass  # the server closes the connection as it exits
            finally:
                client.close()
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def output(self) -> str:
        return self._log.read_text() if self._log.exists() else "(no log)"

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self._dir.cleanup()


@pytest.fixture(scope="session")
def redis_url():
    """The shared Redis (``TESSERA_TEST_REDIS``, default 127.0.0.1:6379/0), or a private one when none runs."""
    if reachable(SHARED_URL):
        yield SHARED_URL
        return
    with RedisServer() as server:
        yield server.url


@dataclass(frozen=True)
class RedisKeys:
    """Where one test keeps its keys: ``url`` and a ``prefix`` no other test uses."""

    url: str
    prefix: str

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def names(self) -> list[str]:
        with self.client() as client:
            return sorted(client.scan_iter(match=f"{self.prefix}*", count=1000))

    def lose_everything(self) -> None:
        """What a Redis restart without persistence does to this test's keys."""
        with self.client() as client:
            if names := self.names():
                client.delete(*names)


@pytest.fixture
def redis_keys(redis_url):
    """A fresh key prefix on the test Redis; every key under it is deleted after the test
    (close the test's brokers first: request this fixture before the one that makes them)."""
    keys = RedisKeys(redis_url, f"tessera-test:{uuid.uuid4().hex[:10]}:")
    yield keys
    keys.lose_everything()
