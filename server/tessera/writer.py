"""Every write to a socket, in order: text frames, pings, pongs and the close frame.

One writer at a time, and the outbox (outbox.py) says who. Whoever queues a frame while nobody
writes and nothing waits writes it at once with a send that never waits: the connection its
frames (``send``), the reader pongs and closes (``pong``, ``close``), the hub events, the ticker
pings. That is the common case, and it costs no thread switch. What the socket does not take at
once (its buffer is full: the page reads slowly) goes to a helper thread, started then, which
waits for the socket, writes the rest and whatever queued up behind it, and ends when nothing is
left. So a frame is written whole before the next one starts, and nothing follows the close frame.

A page that stops reading fills the outbox (``send`` answers False and the connection evicts
it). Nothing here waits with a timeout: the process's ticker (ticker.py) pings every page, closes
a silent one, shuts a socket down when its write makes no progress for SOCKET_TIMEOUT or when its
peer does not answer our close frame within the grace.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from .outbox import Outbox, Put
from .ticker import PING_INTERVAL, Ticker, process_ticker
from .websocket import SOCKET_TIMEOUT, Close, ControlSink, WebSocket, close_frame, ping_frame, pong_frame, text_frame

log = logging.getLogger("tessera.writer")

__all__ = ["CLOSE_GRACE", "PING_INTERVAL", "SocketWriter"]

CLOSE_GRACE = 5.0  # seconds a peer has to answer our close frame
PONG_DUE = object()  # queued once while a pong waits to be written
PING = object()


class SocketWriter(ControlSink):
    """Owns the order of every write to ``ws``; writes at once, or through a helper thread."""

    __slots__ = ("ws", "outbox", "grace", "ticker", "closing", "heard_at", "_pong", "_rest", "_rest_closes",
                 "_progress", "_helper", "_spawn", "_slot", "_stall_watched")

    def __init__(self, ws: WebSocket, *, limit: int, grace: float = CLOSE_GRACE, ticker: Ticker | None = None,
                 spawn: Callable[..., threading.Thread] = threading.Thread):
        self.ws = ws
        self.outbox = Outbox(limit)
        self.grace = grace
        self.ticker = ticker or process_ticker()
        self.closing: Close | None = None
        self.heard_at = time.monotonic()
        self._pong: bytes | None = None  # the answer to the latest ping, until it is written
        self._rest: memoryview | None = None  # what the socket did not take at once, for the helper
        self._rest_closes = False  # that rest is the close frame's
        self._progress = 0.0  # when the helper last called send
        self._helper: threading.Thread | None = None
        self._spawn = spawn
        self._slot = -1
        self._stall_watched = False

    def start(self) -> None:
        """Be pinged from now on (first within one ping interval)."""
        self._slot = self.ticker.watch(self)

    def join(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` for what a helper is still writing (the close frame included)."""
        if self._helper is not None:
            self._helper.join(timeout)

    # -- what others queue -------------------------------------------------------------
    def send(self, text: str, timeout: float | None = None) -> bool:
        """Queue a text frame (written at once if nothing is in its way); False when the page has
        left too much unread. Waits up to ``timeout`` seconds for room."""
        put = self.outbox.put(text, len(text), timeout)
        if put is Put.WRITE:
            self._write_now(text)
        return put is not Put.FULL

    def pong(self, payload: bytes) -> None:
        """Answer a ping. Only the latest unanswered ping is answered (RFC 6455 5.5.3), so a page
        that pings without reading costs one pending pong, not one per ping."""
        with self.outbox.lock:
            queued, self._pong = self._pong is not None, payload
        if not queued:
            self._queue(PONG_DUE)

    def close(self, code: int, reason: str = "") -> None:
        """Drop what is queued and send one close frame (the first close asked for wins)."""
        close = Close(code, reason)
        first, write = self.outbox.close(close)
        if not first:
            return
        self.closing = close
        if self._slot >= 0:
            self.ticker.unwatch(self, self._slot)
        if write:
            self._write_now(close)

    def heard(self) -> None:
        """The reader got bytes from the peer: it is alive."""
        self.heard_at = time.monotonic()

    def tick(self, now: float) -> None:
        """The ticker's visit, once per ping interval: ping the peer, or close it when it stayed silent."""
        if now - self.heard_at > 2 * self.ticker.ping_interval:
            self.close(1001, "no answer to pings")
        else:
            self._queue(PING)

    def _queue(self, item: object) -> None:
        if self.outbox.put(item) is Put.WRITE:
            self._write_now(item)

    # -- writing ------------------------------------------------------------------------
    def _write_now(self, item: Any) -> None:
        """The caller owns the socket: write ``item`` and what queues behind it, never waiting;
        what the socket does not take goes to a helper thread, which then owns the socket."""
        try:
            while item is not None:
                frame = self._frame(item)
                sent = self.ws.send_now(frame) if frame else 0
                if sent < len(frame):
                    self._rest, self._rest_closes = memoryview(frame)[sent:], isinstance(item, Close)
                    self._helper = self._spawn(target=self._drain, name="tessera-writer", daemon=True)
                    self._helper.start()
                    return
                if isinstance(item, Close):
                    self._closed()
                    return
                item = self.outbox.next()
        except OSError as error:  # the peer is gone
            self._broken(error)

    def _drain(self) -> None:
        """The helper: wait for the socket to take the rest, then write what queued meanwhile."""
        if not self._stall_watched:
            self._stall_watched = True
            self.ticker.at(time.monotonic() + SOCKET_TIMEOUT, self._check_stall)
        try:
            rest, self._rest = self._rest, None
            self._write(rest)
            if self._rest_closes:
                self._closed()
                return
            while (item := self.outbox.next()) is not None:
                self._write(memoryview(self._frame(item)))
                if isinstance(item, Close):
                    self._closed()
                    return
        except OSError as error:  # the peer is gone, or the ticker ended a write that made no progress
            self._broken(error)

    def _write(self, view: memoryview) -> None:
        while view:
            self._progress = time.monotonic()
            view = view[self.ws.send_some(view):]

    def _frame(self, item: Any) -> bytes:
        if isinstance(item, str):
            return text_frame(item)
        if item is PING:
            return ping_frame()
        if item is PONG_DUE:
            with self.outbox.lock:
                payload, self._pong = self._pong, None
            return pong_frame(payload or b"")
        return close_frame(item) if item.code != 1006 else b""  # 1006: the connection broke, nothing to send

    def _closed(self) -> None:
        """The close frame is written: the peer has the grace to answer it, then the socket is shut."""
        self.ticker.at(time.monotonic() + self.grace, self.ws.shutdown)

    def _broken(self, error: OSError) -> None:
        log.info("stopped writing to a page: %r", error)
        self.close(1006)
        self.ws.shutdown()

    def _check_stall(self) -> None:
        """On the ticker: end a helper's write that has made no progress for SOCKET_TIMEOUT."""
        helper = self._helper
        if helper is None or not helper.is_alive():
            self._stall_watched = False
        elif time.monotonic() - self._progress >= SOCKET_TIMEOUT:
            log.info("a write to a page made no progress for %g s; ending its connection", SOCKET_TIMEOUT)
            self._stall_watched = False
            self.ws.shutdown()
        else:
            self.ticker.at(self._progress + SOCKET_TIMEOUT, self._check_stall)
