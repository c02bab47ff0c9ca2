"""Serving an app for real: on gevent, one process or N processes on one port under gunicorn.

``tessera run`` patches the standard library for gevent before anything else is imported
(``tessera/__main__.py``), so the app's threads (the hub's fan-out, each socket's writer and
reader, the bus dispatcher, the responders) are greenlets: an open page costs memory, not a
thread. One process serves on gevent's WSGI server; ``--workers N`` runs N gunicorn gevent
workers on the same port, each building its own app (they share events through the broker).
"""

from __future__ import annotations

import gc
import logging
import resource
import signal
import socket
from typing import Callable

from flask import Flask

log = logging.getLogger("tessera")

RESERVED_FILES = 64  # descriptors kept for all but pages: the listener, logs, the broker, files read
READ_BUFFER = 1024  # bytes of each connection's HTTP read buffer on gevent's server (its default: 8 KiB)


class ServeError(OSError):
    """The server cannot listen where it was asked to."""


def check_address(host: str, port: int) -> None:
    """Raise ServeError now, before the app is built, if ``host:port`` cannot be listened on."""
    try:
        socket.create_server((host, port)).close()
    except OSError as error:
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}; "
                         "pick another --port or --host") from None


def raise_open_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the limit now in force.

    Each open page holds a socket; at the usual soft limit of 1,024 a server would stop
    accepting at about a thousand pages.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, target)
    return soft


def fewer_collections() -> None:
    """Collect young objects after 50,000 allocations, not 700: a burst to thousands of pages
    allocates a few objects per page, and collecting every 700 spent a third of its CPU."""
    gc.set_threshold(50_000, 10, 10)


def pages_held(open_files: int) -> int:
    """How many open pages a process with this open-file limit can hold."""
    return max(0, open_files - RESERVED_FILES)


def serve(app: Flask, *, host: str, port: int) -> None:
    """One process on gevent's WSGI server, until SIGINT or SIGTERM; then close the app's Tessera."""
    files = raise_open_file_limit()
    fewer_collections()

    def started(bound: int) -> None:
        _announce(app, host, bound, f"gevent, 1 process, up to {pages_held(files):,} open pages "
                                    f"(open-file limit {files:,})")

    serve_on_gevent(app, host=host, port=port, started=started, stopped=app.extensions["tessera"].close)


def serve_on_gevent(app: Flask, *, host: str, port: int, started: Callable[[int], None],
                    stopped: Callable[[], None] = lambda: None) -> None:
    """Serve any WSGI ``app`` on gevent's WSGI server until SIGINT or SIGTERM: ``started(port)`` once
    it listens, ``stopped()`` after it stopped (a Tessera host, or a fragment service)."""
    from gevent import signal_handler
    from gevent.pywsgi import LoggingLogAdapter, WSGIServer

    access = LoggingLogAdapter(logging.getLogger("tessera.access"), logging.INFO)
    server = WSGIServer((host, port), app, log=access, error_log=LoggingLogAdapter(log, logging.ERROR),
                        handler_class=_small_buffer_handler())
    server.start()
    started(server.server_port)
    # both stop the server the same way: a KeyboardInterrupt raised in gevent's hub is printed as a traceback
    stopping = [signal_handler(signum, server.stop) for signum in (signal.SIGTERM, signal.SIGINT)]
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for handler in stopping:
            handler.cancel()
        server.stop(timeout=1)
        stopped()


def _small_buffer_handler() -> type:
    """gevent's WSGI handler with a READ_BUFFER read buffer. The buffer lives as long as the
    connection, so as long as an open page, whose WebSocket reads the raw socket and never uses
    it; a request longer than the buffer is still read whole, in more than one read."""
    from gevent.pywsgi import WSGIHandler

    class SmallBufferHandler(WSGIHandler):
        def __init__(self, sock, address, server, rfile=None):  # type: ignore[no-untyped-def]
            super().__init__(sock, address, server, sock.makefile("rb", READ_BUFFER) if rfile is None else rfile)

    return SmallBufferHandler


def serve_workers(load: Callable[[], Flask], *, host: str, port: int, workers: int) -> None:
    """``workers`` gunicorn gevent workers on one port; each calls ``load`` to build its own app."""
    from gunicorn.app.base import BaseApplication

    files = raise_open_file_limit()
    held = pages_held(files)

    class Workers(BaseApplication):
        def load_config(self) -> None:
            for name, value in {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gevent",
                                "worker_connections": held, "graceful_timeout": 5, "keepalive": 5,
                                "accesslog": None, "loglevel": "warning"}.items():
                self.cfg.set(name, value)

        def load(self) -> Flask:
            fewer_collections()
            app = load()
            _announce(app, host, port, f"gevent, worker of {workers} processes, up to {held:,} open pages "
                                       f"each (open-file limit {files:,})")
            return app

    Workers().run()


def _announce(app: Flask, host: str, port: int, how: str) -> None:
    state = app.extensions["tessera"]
    names = ", ".join(f.name for f in state.registry.fragments) or "none"
    log.info("Tessera serving %d fragments (%s) on http://%s:%d/ (%s)", len(state.registry.fragments),
             names, host, port, how)
