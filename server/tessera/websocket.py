"""A server-side WebSocket (RFC 6455) on the socket of a WSGI request: handshake and frames.

Reading and writing are split so that each has one owner: ``WebSocket.messages`` is called
by the connection's reader (the request's own thread) and ``WebSocket.send_*`` only by the
socket's writer of the moment (writer.py), which also sends pongs and the close frame. The
socket has no timeout: the reader waits for bytes without waking up, and the process's ticker
(ticker.py) pings, drops silent peers and ends writes that make no progress. Incoming messages are limited
in size while they arrive (close 1009 before anything larger is buffered); no compression
extension is negotiated, so a small frame cannot inflate into a large one.

Frames are parsed by wsproto's ``FrameProtocol``; server frames are never masked, so
writing them needs only the header built here.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any, Iterator

from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode, ParseFailed
from wsproto.utilities import generate_accept_token

RECEIVE_BYTES = 65536
SOCKET_TIMEOUT = 10.0  # a write that makes no progress this long ends the connection (checked by the ticker)
NORMAL = 1000
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
UNSUPPORTED_DATA = 1003
TOO_BIG = 1009


class HandshakeError(ValueError):
    """The request cannot be upgraded to a WebSocket (answer it with HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Close:
    """A close frame to send (as a reply, or to start the closing handshake)."""

    code: int
    reason: str = ""


def raw_socket(environ: dict[str, Any]) -> tuple[socket.socket, str]:
    """The request's TCP socket and the server's name: Werkzeug, gunicorn or gevent's pywsgi."""
    if "werkzeug.socket" in environ:
        return environ["werkzeug.socket"], "werkzeug"
    if "gunicorn.socket" in environ:
        return environ["gunicorn.socket"], "gunicorn"
    if environ.get("SERVER_SOFTWARE", "").startswith("gevent"):
        stream = environ["wsgi.input"]
        stream = getattr(stream, "rfile", stream)
        return stream.raw._sock, "gevent"
    raise HandshakeError("this WSGI server does not expose its sockets; serve with Werkzeug, gunicorn or gevent")


class WebSocket:
    """One upgraded connection. ``messages()`` is for the reader, ``send_*`` for the writer."""

    def __init__(self, environ: dict[str, Any], *, max_message: int):
        if "websocket" not in environ.get("HTTP_UPGRADE", "").lower():
            raise HandshakeError("this endpoint speaks WebSocket only (see docs/protocol.md)")
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        if environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13" or not key:
            raise HandshakeError("a WebSocket handshake needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13")
        self.sock, self.server = raw_socket(environ)
        self.max_message = max_message
        self.protocol = FrameProtocol(client=False, extensions=[])
        self.received_close: Close | None = None
        self.sock.settimeout(None)  # reads wait without waking up; the ticker bounds what must be bounded
        self._now = getattr(self.sock, "_sock", self.sock)  # gevent's socket wraps a non-blocking one
        self.sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Accept: " + generate_accept_token(key.encode()) + b"\r\n\r\n")

    # -- the reader's side ----------------------------------------------------------------
    def messages(self, replies: "ControlSink") -> Iterator[str | bytes]:
        """Yield each complete message until the peer closes or breaks the protocol.

        Pings are answered, and the closing handshake is started or answered, through
        ``replies`` (the writer); nothing here writes to the socket.
        """
        parts: list[str | bytes] = []
        size = 0
        while True:
            try:
                data = self.sock.recv(RECEIVE_BYTES)
            except OSError:
                return
            if not data:
                return
            replies.heard()
            self.protocol.receive_bytes(data)
            try:
                for frame in self.protocol.received_frames():
                    if frame.opcode is Opcode.PING:
                        replies.pong(bytes(frame.payload))
                    elif frame.opcode is Opcode.PONG:
                        continue
                    elif frame.opcode is Opcode.CLOSE:
                        code, reason = frame.payload
                        self.received_close = Close(int(code), reason)
                        replies.close(_echo(int(code)), reason="")
                        return
                    else:
                        size += len(frame.payload) if isinstance(frame.payload, bytes) else _utf8_length(frame.payload)
                        if size > self.max_message:
                            replies.close(TOO_BIG, f"messages are limited to {self.max_message} bytes")
                            return
                        parts.append(frame.payload)
                        if frame.message_finished:
                            yield parts[0] if len(parts) == 1 else type(parts[0])().join(parts)
                            parts, size = [], 0
            except ParseFailed as error:
                replies.close(int(error.code), str(error)[:120])
                return

    # -- the writer's side ----------------------------------------------------------------
    def send_now(self, data: bytes | memoryview) -> int:
        """Send what the socket takes without waiting: the bytes sent (0 when its buffer is full)."""
        try:
            return self._now.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return 0

    def send_some(self, data: bytes | memoryview) -> int:
        """Wait until the socket takes some of ``data``: the bytes sent."""
        return self.sock.send(data)

    def shutdown(self) -> None:
        """End the TCP connection (both directions); safe to call more than once."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class ControlSink:
    """What the reader needs from the writer: answer a ping, start or answer a close."""

    __slots__ = ()

    def heard(self) -> None:
        """Bytes arrived from the peer."""

    def pong(self, payload: bytes) -> None:
        raise NotImplementedError

    def close(self, code: int, reason: str = "") -> None:
        raise NotImplementedError


def _utf8_length(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (what the limit counts), without copying it when it is ASCII."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _echo(code: int) -> int:
    """The code to answer a peer's close frame with (1005 "no status" is answered with none)."""
    return 0 if code == CloseReason.NO_STATUS_RCVD else code


def text_frame(text: str) -> bytes:
    return _frame(Opcode.TEXT, text.encode())


def ping_frame() -> bytes:
    return _frame(Opcode.PING, b"")


def pong_frame(payload: bytes) -> bytes:
    return _frame(Opcode.PONG, payload)


def close_frame(close: Close) -> bytes:
    """The close frame to send (code 0: one without a status, the answer to a peer's 1005)."""
    return _frame(Opcode.CLOSE, struct.pack("!H", close.code) + close.reason.encode()[:120] if close.code else b"")


def _frame(opcode: Opcode, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload
