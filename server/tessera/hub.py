"""The live connections of this process, and the fan-out of broker events to them."""

from __future__ import annotations

import threading
from typing import Callable

from .brokers.base import Broker, Envelope
from .connection import Connection


class Hub:
    """Offers every event the broker stores to every open connection of this process."""

    def __init__(self, broker: Broker):
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._stop = broker.listen(self.offer)

    def register(self, connection: Connection) -> Callable[[], None]:
        with self._lock:
            self._connections.add(connection)

        def unregister() -> None:
            with self._lock:
                self._connections.discard(connection)

        return unregister

    def offer(self, envelope: Envelope) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.offer(envelope)

    def __len__(self) -> int:
        return len(self._connections)

    def close(self) -> None:
        self._stop()
        for connection in list(self._connections):
            connection.close(1001, "server shutting down")
