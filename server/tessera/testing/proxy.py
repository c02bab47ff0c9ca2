"""A TCP proxy whose network can be cut: pages keep their URL, their connections die.

``NetworkProxy(target_port).start()`` listens on ``proxy.port``; ``cut()`` drops every
open connection and refuses new ones until ``restore()``. Tests use it to pull the
network from under a page, as a flaky Wi-Fi would.
"""

from __future__ import annotations

import socket
import threading

from .server import free_port

CHUNK = 65536


class NetworkProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        self.target = (host, target_port)
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self._listener = socket.create_server((host, self.port))
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._up = True
        self._closed = False

    def start(self) -> "NetworkProxy":
        threading.Thread(target=self._accept_loop, name="tessera-proxy", daemon=True).start()
        return self

    def cut(self) -> None:
        """Drop every connection through the proxy; refuse new ones until restore()."""
        with self._lock:
            self._up = False
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _shut(sock)

    def restore(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        _shut(self._listener)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                up = self._up
            if not up:
                _shut(client)
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _shut(client)
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                _shut(sock)
            with self._lock:
                self._sockets -= {source, sink}


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
