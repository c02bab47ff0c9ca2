"""The live connections of this process, and the fan-out of broker events to them.

The broker hands every stored event to ``Hub.offer`` (in the publisher's thread, in seq
order); the hub only queues it. One fan-out thread then encodes each event's frame once and
offers it to every connection, so a publisher never waits for N sockets.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from .brokers.base import Broker, Envelope
from .connection import Connection
from .delivery import event_text

log = logging.getLogger("tessera.hub")


class Hub:
    """Offers every event the broker stores to every open connection of this process."""

    def __init__(self, broker: Broker):
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Envelope | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._fan_out, name="tessera-fan-out", daemon=True)
        self._thread.start()
        self._stop = broker.listen(self.offer)

    def register(self, connection: Connection) -> Callable[[], None]:
        with self._lock:
            self._connections.add(connection)

        def unregister() -> None:
            with self._lock:
                self._connections.discard(connection)

        return unregister

    def offer(self, envelope: Envelope) -> None:
        self._queue.put(envelope)

    def _fan_out(self) -> None:
        while (envelope := self._queue.get()) is not None:
            try:
                self._offer_all(envelope)
            except Exception:  # one bad event must not stop delivery of the next ones
                log.exception("could not fan out %s event %s", envelope.event.type, envelope.event.id)

    def _offer_all(self, envelope: Envelope) -> None:
        with self._lock:
            connections = list(self._connections)
        text = event_text(envelope)
        for connection in connections:
            connection.offer(envelope, text)

    def __len__(self) -> int:
        return len(self._connections)

    def close(self) -> None:
        self._stop()
        self._queue.put(None)
        for connection in list(self._connections):
            connection.close(1001, "server shutting down")
