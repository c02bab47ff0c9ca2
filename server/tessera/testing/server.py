"""A Tessera server run as a real subprocess on a free port, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Sequence

START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerDied(RuntimeError):
    """The server process exited or never answered; the message carries its output."""


class TesseraServer:
    """``tessera run`` in a subprocess: ``start()``, ``url``, ``output()``, ``stop()``.

    ``frontends`` is a folder of fragments; ``app`` a ``MODULE:ATTR`` importable from ``cwd``;
    ``start_timeout``: seconds it has to answer (more when it builds fragment services first).
    """

    def __init__(self, frontends: str | Path | None = None, *, app: str | None = None,
                 options: Sequence[str] = (), env: dict[str, str] | None = None,
                 cwd: str | Path | None = None, port: int | None = None, start_timeout: float = START_TIMEOUT):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "tessera", "run", "--port", str(self.port)]
        if frontends is not None:
            self.command += ["--frontends", str(frontends)]
        if app is not None:
            self.command += ["--app", app]
        self.command += list(options)
        self.env = os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {})
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile(mode="a+")  # appended to: reading it (seek) never moves where the server writes
        self._final_output = ""

    def start(self) -> "TesseraServer":
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise ServerDied(f"tessera run exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/_tessera/health", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServerDied(f"tessera run did not answer within {self.start_timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        """Everything the server printed so far."""
        if self._log.closed:
            return self._final_output
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and keep its output."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._final_output = self.output()
            self._log.close()

    def __enter__(self) -> "TesseraServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
