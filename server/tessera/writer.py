"""The one writer of a socket: text frames, pings, pongs and the close frame, in order.

Everybody else only queues: the connection its frames (``send``), the reader pongs and
closes (``pong``, ``close``), the hub events. A page that stops reading fills the queue
(``send`` answers False and the connection evicts it); a page whose TCP window stays shut
makes ``sendall`` time out, which ends the connection instead of a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from .outbox import EMPTY, Outbox
from .websocket import Close, ControlSink, Pong, WebSocket

log = logging.getLogger("tessera.writer")

PING_INTERVAL = 25.0  # seconds between pings; a peer silent for two of them is dropped
CLOSE_GRACE = 5.0  # seconds a peer has to answer our close frame
PONG_DUE = object()  # queued once while a pong waits to be written


class SocketWriter(ControlSink):
    """Owns every write to ``ws``; runs on its own thread until the close frame is sent."""

    def __init__(self, ws: WebSocket, *, limit: int, ping_interval: float = PING_INTERVAL,
                 grace: float = CLOSE_GRACE, spawn: Callable[..., threading.Thread] = threading.Thread):
        self.ws = ws
        self.outbox = Outbox(limit)
        self.ping_interval = ping_interval
        self.grace = grace
        self.closing: Close | None = None
        self.closed_at: float | None = None
        self.heard_at = time.monotonic()
        self.read_all = threading.Event()  # the reader is done: the peer closed, or the connection broke
        self._lock = threading.Lock()
        self._pong: Pong | None = None  # the answer to the latest ping, until it is written
        self._thread = spawn(target=self._run, name="tessera-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # -- what others queue -------------------------------------------------------------
    def send(self, text: str, timeout: float | None = None) -> bool:
        """Queue a text frame; False when the page has left too much unread."""
        return self.outbox.put(text, timeout)

    def pong(self, payload: bytes) -> None:
        """Answer a ping. Only the latest unanswered ping is answered (RFC 6455 5.5.3), so a page
        that pings without reading costs one pending pong, not one per ping."""
        with self._lock:
            queued, self._pong = self._pong is not None, Pong(payload)
        if not queued:
            self.outbox.put_control(PONG_DUE)

    def close(self, code: int, reason: str = "") -> None:
        """Drop what is queued and send one close frame (the first close asked for wins)."""
        with self._lock:
            if self.closing is not None:
                return
            self.closing, self.closed_at = Close(code, reason), time.monotonic()
        self.outbox.close()

    def heard(self) -> None:
        """The reader got bytes from the peer: it is alive."""
        self.heard_at = time.monotonic()

    def idle(self) -> bool:
        """The reader waited a while for bytes; False when it should stop reading."""
        now = time.monotonic()
        if self.closed_at is not None:
            return now - self.closed_at < self.grace
        if now - self.heard_at > 2 * self.ping_interval:
            self.close(1001, "no answer to pings")
        return True

    # -- the writer thread --------------------------------------------------------------
    def _run(self) -> None:
        next_ping = time.monotonic() + self.ping_interval
        try:
            while (item := self.outbox.get(timeout=max(0.0, next_ping - time.monotonic()))) is not None:
                if isinstance(item, str):
                    self.ws.write_text(item)
                elif item is PONG_DUE:
                    with self._lock:
                        pong, self._pong = self._pong, None
                    self.ws.write_pong(pong.payload)
                if time.monotonic() >= next_ping or item is EMPTY:
                    self.ws.write_ping()
                    next_ping = time.monotonic() + self.ping_interval
            if self.closing is not None:
                self.ws.write_close(self.closing)
            if not self.read_all.wait(self.grace):  # the peer did not answer our close frame in time
                self.ws.shutdown()
        except OSError as error:  # the peer is gone, or its window stayed shut past the timeout
            log.info("stopped writing to a page: %r", error)
            self.close(1006)
            self.ws.shutdown()
