"""Fragments deployed on their own, started by ``tessera run`` beside the host, for development.

``tessera run --fragment-services remotes`` (the default when ``tessera run`` is given neither
``--frontends`` nor ``--app`` and ``./remotes`` exists: the demo's layout) takes every fragment
folder under that folder and, for each:

1. builds it into ``dist/<name>/<version>/`` (``tessera build``, its own ``[build]`` command
   included) when that build is missing or older than one of its source files;
2. starts ``tessera fragment serve`` on the build, as a child process on a free loopback port,
   its output in a log file, and waits until it answers ``/manifest.json``;
3. hands ``NAME=http://127.0.0.1:PORT/manifest.json`` to the host as a ``--remote``: composed,
   fetched and revalidated like any remote fragment.

The services stop with the host: on its way out, and, on Linux, when it is killed (the kernel
sends them SIGTERM when their parent dies). A fragment that cannot be built or started is logged
with the reason and left out: the page is composed without it, as it is without any other part
that is down. In production each fragment is deployed by its team and named with ``--remote``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .build import BuildError, build_fragment
from .manifest import MANIFEST, Fragment, ManifestError, load_fragment

log = logging.getLogger("tessera.services")

STARTUP = 30.0  # seconds a fragment service has to answer /manifest.json
STOP_GRACE = 5.0  # seconds it has to stop after SIGTERM before it is killed
SKIPPED_FOLDERS = {"node_modules", "__pycache__"}  # and dot folders: never a fragment's sources


def declared_fragments(folder: Path, *, skip: set[str] = frozenset()) -> tuple[list[Fragment], list[ManifestError]]:
    """The fragments of ``folder`` but ``skip``, as their own manifests declare them (before their
    builds), for ``tessera check`` and ``tessera asyncapi``; and the problems of those that cannot be read."""
    fragments, problems = [], []
    for fragment_folder in _fragment_folders(folder):
        if fragment_folder.name not in skip:
            try:
                fragments.append(load_fragment(fragment_folder, before_build=True))
            except ManifestError as problem:
                problems.append(problem)
    return fragments, problems


def _fragment_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if (p / MANIFEST).is_file())


class ServiceError(Exception):
    """A fragment service that could not be built or started; the message says why and the fix."""


@dataclass
class Service:
    name: str
    version: str
    manifest_url: str
    process: subprocess.Popen
    log_path: Path
    reported: bool = False  # its unexpected exit was logged


class FragmentServices:
    """The fragment services one ``tessera run`` started: ``start`` them, then ``stop`` them.

    ``tag`` names their log files (the host's port: a host that restarts overwrites its own logs)."""

    def __init__(self, folder: Path, *, out: Path = Path("dist"), host: str = "127.0.0.1", tag: str = ""):
        self.folder = folder
        self.out = out
        self.host = host
        self.tag = tag
        self.services: list[Service] = []
        self._owner = os.getpid()  # gunicorn forks workers: only this process stops the services
        self._stopping = threading.Event()

    def start(self, skip: set[str] = frozenset()) -> dict[str, str]:
        """Build and start every fragment under ``folder`` but those named in ``skip``; their manifest
        URLs by name. SIGTERM and SIGINT meanwhile stop it (KeyboardInterrupt), builds included."""
        with _interrupted_by_signals():
            for fragment_folder in _fragment_folders(self.folder):
                name = fragment_folder.name
                try:
                    declared = load_fragment(fragment_folder, before_build=True)
                    name = declared.name
                    if name in skip:
                        log.info("fragment service %s: not started, --remote names it", name)
                        continue
                    self.services.append(self._start_one(declared))
                except (ServiceError, BuildError, ManifestError, OSError) as error:
                    log.warning("fragment service %s: not started, the page is composed without it: %s", name, error)
        if self.services:
            threading.Thread(target=self._watch, name="tessera-services", daemon=True).start()
        return {service.name: service.manifest_url for service in self.services}

    def _start_one(self, declared: Fragment) -> Service:
        built = self._built(declared)
        port = _free_port(self.host)
        tag = f"-{self.tag}" if self.tag else ""
        log_path = Path(tempfile.gettempdir()) / f"tessera-fragment-{declared.name}{tag}.log"
        manifest_url = f"http://{self.host}:{port}/manifest.json"
        with log_path.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "tessera", "fragment", "serve", str(built), "--host", self.host,
                 "--port", str(port)], stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's Ctrl-C reaches the host only: the host stops them
                preexec_fn=_die_with_parent)
        service = Service(declared.name, declared.version, manifest_url, process, log_path)
        try:
            _wait_until_serving(service)
        except BaseException:
            _stop(service)
            raise
        log.info("fragment service %s %s started: %s (pid %d, log %s)", service.name, service.version,
                 manifest_url, process.pid, log_path)
        return service

    def _built(self, declared: Fragment) -> Path:
        """``dist/<name>/<version>`` of ``declared``, built first when missing or older than its sources;
        when that build fails, the one already there (if any), with a warning."""
        target = self.out / declared.name / declared.version
        made = declared.build.output if declared.build else None
        if not _older_than_sources(target / "manifest.json", declared.root, made):
            return target
        log.info("fragment service %s: building %s into %s (its build is missing or older than its sources)",
                 declared.name, declared.version, target)
        try:
            return build_fragment(declared.root, self.out).folder
        except (BuildError, ManifestError) as error:
            if not (target / "manifest.json").is_file():
                raise
            log.warning("fragment service %s: its build failed, so the older build in %s is served: %s",
                        declared.name, target, error)
            return target

    def _watch(self) -> None:
        """Say so when a service exits while the host runs (its slot shows the fallback meanwhile)."""
        while not self._stopping.wait(2.0):
            for service in self.services:
                if not service.reported and service.process.poll() is not None:
                    service.reported = True
                    log.warning("fragment service %s exited with status %s; the page shows its fallback "
                                "(log: %s)", service.name, service.process.returncode, service.log_path)

    def stop(self) -> None:
        """Stop every started service (in the process that started them; a forked worker does nothing)."""
        if os.getpid() != self._owner:
            return
        self._stopping.set()
        for service in self.services:
            _stop(service)
        self.services.clear()


def _older_than_sources(built: Path, folder: Path, made: str | None) -> bool:
    """Whether ``built`` is missing or older than a file of ``folder`` (not what its build makes)."""
    try:
        built_at = built.stat().st_mtime
    except FileNotFoundError:
        return True
    made_by_build = (folder / made).resolve() if made else None
    for directory, folders, files in os.walk(folder):
        here = Path(directory)
        folders[:] = [f for f in folders if not f.startswith(".") and f not in SKIPPED_FOLDERS
                      and (here / f).resolve() != made_by_build]
        if any((here / name).stat().st_mtime > built_at for name in files):
            return True
    return False


def _wait_until_serving(service: Service) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise ServiceError(f"tessera fragment serve exited with status {service.process.returncode}: "
                               f"{_last_line(service.log_path)} (log: {service.log_path})")
        try:
            with urllib.request.urlopen(service.manifest_url, timeout=1.0) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise ServiceError(f"{service.manifest_url} did not answer within {STARTUP:g} s (log: {service.log_path})")


def _stop(service: Service) -> None:
    if service.process.poll() is None:
        service.process.terminate()
        try:
            service.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
    log.info("fragment service %s stopped", service.name)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _last_line(path: Path) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


@contextmanager
def _interrupted_by_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise KeyboardInterrupt in the main thread (the main greenlet under gevent,
    without gevent's report of it), so that a build under way is stopped with its process group."""
    main = _main_greenlet()

    def interrupt(signum: int, frame: Any) -> None:
        if main is not None and _current_greenlet() is not main:
            import gevent

            gevent.kill(main, KeyboardInterrupt)
            return
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main_greenlet() -> Any:
    """The running greenlet when gevent patched threading (``tessera run``), else None."""
    try:
        from gevent import monkey
    except ImportError:
        return None
    return _current_greenlet() if monkey.is_module_patched("threading") else None


def _current_greenlet() -> Any:
    import greenlet

    return greenlet.getcurrent()


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before it runs: on Linux, get SIGTERM when the host dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
