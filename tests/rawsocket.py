"""A WebSocket client on a bare TCP socket, for what ``SocketClient`` cannot do: read slowly or
not at all, send a frame's header without its payload, set RSV bits, and see every byte the
server writes after the 101 response (each parsed strictly as an RFC 6455 server frame)."""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import struct
import time
from dataclasses import dataclass

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class BadFrame(AssertionError):
    """The server wrote bytes that are not a valid RFC 6455 server frame."""


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if self.opcode == CLOSE and self.payload else None

    def json(self) -> dict:
        """A text frame's JSON (a BadFrame if it is not complete JSON)."""
        try:
            return json.loads(self.payload.decode("utf-8"))
        except ValueError as error:
            raise BadFrame(f"text frame is not JSON ({error}): {self.payload[:80]!r}...") from None


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False,
                 length: int | None = None, mask: bytes | None = None) -> bytes:
    """A masked client frame; ``length`` announces another payload length (send the rest yourself,
    masked with ``mask``: all zeros leaves it as it is)."""
    length = len(payload) if length is None else length
    mask = os.urandom(4) if mask is None else mask
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + mask + masked(payload, mask)


def masked(payload: bytes, mask: bytes) -> bytes:
    """``payload`` XOR the repeated 4-byte ``mask`` (RFC 6455 5.3)."""
    if not any(mask) or not payload:
        return payload
    key = (mask * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(len(payload), "big")


class ServerFrames:
    """Incremental strict parser of what a server writes: unmasked, no RSV bits, known opcodes,
    control frames final and short, text frames whole (our server never fragments)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.parsed = 0  # bytes of complete frames so far
        self.closed: Frame | None = None

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def _next(self) -> Frame | None:
        if self.closed is not None and self.buffer:
            raise BadFrame(f"bytes after the close frame: {bytes(self.buffer[:80])!r}")
        if len(self.buffer) < 2:
            return None
        first, second = self.buffer[0], self.buffer[1]
        fin, rsv, opcode = first & 0x80, first & 0x70, first & 0x0F
        if rsv or second & 0x80 or opcode not in (TEXT, BINARY, CLOSE, PING, PONG) or not fin:
            raise BadFrame(f"not a server frame (fin, rsv, mask or opcode) after {self.parsed} good bytes: "
                           f"{bytes(self.buffer[:24])!r}")
        length, offset = second & 0x7F, 2
        if length == 126:
            if len(self.buffer) < 4:
                return None
            length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
        elif length == 127:
            if len(self.buffer) < 10:
                return None
            length, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
        if opcode >= CLOSE and length > 125:
            raise BadFrame(f"control frame of {length} bytes")
        if len(self.buffer) < offset + length:
            return None
        frame = Frame(opcode, bytes(self.buffer[offset:offset + length]))
        del self.buffer[:offset + length]
        self.parsed += offset + length
        if opcode == CLOSE:
            self.closed = frame
        return frame


class RawSocket:
    """One WebSocket connection, byte by byte. ``rcvbuf`` shrinks the receive buffer (set
    before connecting, so the TCP window stays small and the server's sends block early)."""

    def __init__(self, server, *, user: str | None = None, rcvbuf: int | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 10.0):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /_tessera/ws HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{name}: {value}" for name, value in ((headers or {}) | ({"X-Test-User": user} if user else {})).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = bytearray()
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, f"connection closed during the handshake: {bytes(head)!r}"
            head += chunk
        head, rest = bytes(head).split(b"\r\n\r\n", 1)
        self.status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.headers = [tuple(part.strip() for part in line.split(":", 1)) for line in header_lines]
        assert self.status_line.startswith("HTTP/1.1 101"), f"upgrade refused: {head!r}"
        self.after_head = bytearray(rest)  # every byte the server wrote after the 101 response
        self.eof = False  # the server ended the connection
        self.parser = ServerFrames()
        self.pending: list[Frame] = self.parser.feed(rest)

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    # -- sending ---------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_json(self, frame: dict) -> None:
        self.sock.sendall(client_frame(TEXT, json.dumps(frame).encode()))

    def ping(self, payload: bytes = b"") -> None:
        self.sock.sendall(client_frame(PING, payload))

    def hello(self, page: str, subscribe=(">",), resume: dict | None = None) -> None:
        self.send_json({"type": "hello", "page": page, "subscribe": list(subscribe), "resume": resume})

    # -- receiving -------------------------------------------------------------------------
    def receive(self, size: int = 65536, wait: float | None = None) -> list[Frame]:
        """Read once (at most ``size`` bytes, waiting at most ``wait`` seconds, None: the socket's
        timeout); the frames completed so far. Sets ``eof`` when the server ended the connection."""
        if not self.eof and (wait is None or select.select([self.sock], [], [], wait)[0]):
            try:
                data = self.sock.recv(size)
            except ConnectionResetError:
                data = b""
            self.after_head += data
            self.eof = not data
            self.pending += self.parser.feed(data)
        frames, self.pending = self.pending, []
        return frames

    def frames_until(self, done, timeout: float = 10.0) -> list[Frame]:
        """Frames received until ``done(frame)`` is true for one of them (included), or EOF."""
        got, deadline = [], time.monotonic() + timeout
        while True:
            while self.pending:
                got.append(self.pending.pop(0))
                if done(got[-1]):
                    return got
            if self.eof:
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"not done within {timeout} s; last frames: {[describe(f) for f in got[-5:]]}")
            self.pending = self.receive(1 << 20, wait=remaining)

    def read_to_eof(self, timeout: float = 10.0) -> list[Frame]:
        """Every frame until the server ends the connection."""
        return self.frames_until(lambda frame: False, timeout)

    def close(self) -> None:
        self.sock.close()


def describe(frame: Frame) -> str:
    if frame.opcode == TEXT:
        return frame.payload[:60].decode("utf-8", "replace")
    return {CLOSE: f"close {frame.close_code}", PING: "ping", PONG: f"pong {frame.payload!r}"}.get(
        frame.opcode, f"opcode {frame.opcode}")
