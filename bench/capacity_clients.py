"""The capacity benchmark's clients: N WebSocket pages in one asyncio process, cheap per page.

``python -m bench.capacity_clients KIND URL N SECONDS`` opens N connections speaking KIND's
protocol (tessera | raw | socketio) with at most ``IN_FLIGHT`` handshakes at a time, for at
most SECONDS, each as its own user (``X-Bench-User: u1`` ... ``uN``, as on a real site). A page
counts as held once its protocol says so: Tessera's ``welcome`` after a ``hello`` that
subscribes to ``bench.>``, Socket.IO's namespace ``40`` connect, the relay's 101.

Each page is a bare ``asyncio.Protocol`` (no ``websockets``, no task per page: about 2 KiB of
client memory per page): it parses server frames by their header, answers WebSocket pings and
Engine.IO pings, and of the data frames only looks for ``"burst":K`` to count arrivals per burst.
Client frames are masked with a zero key (legal, and no XOR to compute).

Lines on stdin drive it; it answers each with one JSON line on stdout:
- (at start, no command) ``{"held", "failed", "seconds"}`` once all N are held, failed, or time ran out;
- ``WAIT K SECONDS``: ``{"burst": K, "count", "last", "held"}`` once every held page has burst K
  (``last`` is the wall-clock time of the last arrival) or SECONDS passed;
- ``QUIT``: aborts every connection and exits.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import struct
import sys
import time
import uuid
from urllib.parse import urlsplit

IN_FLIGHT = 100  # handshakes at a time (gevent's listen backlog is 128)
BURST = re.compile(rb'"burst": ?(\d+)')  # python-socketio writes JSON with spaces
PATHS = {"tessera": "/_tessera/ws", "raw": "/ws", "socketio": "/socket.io/?EIO=4&transport=websocket"}


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame with the all-zero mask key (payload unchanged)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + b"\0\0\0\0" + payload


class Page(asyncio.Protocol):
    """One page: handshake, protocol greeting, then counting bursts."""

    __slots__ = ("pool", "transport", "buffer", "upgraded", "held", "closed")

    def __init__(self, pool: "Pool"):
        self.pool = pool
        self.transport = None
        self.buffer = bytearray()
        self.upgraded = self.held = self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        pool = self.pool
        transport.write(b"GET " + PATHS[pool.kind].encode() + b" HTTP/1.1\r\nHost: " + pool.host +
                        b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                        b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) +
                        b"\r\nX-Bench-User: " + pool.user() + b"\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.pool.fail(self, bytes(buffer[:80]))
                return
            del buffer[:end + 4]
            self.upgraded = True
            self.greet()
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start:start + length])
            del buffer[:start + length]
            if opcode == 0x9:
                self.transport.write(client_frame(0xA, payload))
            elif opcode == 0x8:
                self.transport.close()
                return
            elif opcode in (0x1, 0x2, 0x0):
                self.message(payload)

    def greet(self) -> None:
        kind = self.pool.kind
        if kind == "tessera":
            hello = {"type": "hello", "page": uuid.uuid4().hex, "subscribe": ["bench.>"], "resume": None}
            self.transport.write(client_frame(0x1, json.dumps(hello).encode()))
        elif kind == "raw":
            self.pool.hold(self)

    def message(self, payload: bytes) -> None:
        kind = self.pool.kind
        if kind == "socketio":
            if payload == b"2":  # Engine.IO ping
                self.transport.write(client_frame(0x1, b"3"))
                return
            if payload.startswith(b"0{"):  # Engine.IO open: join the default namespace
                self.transport.write(client_frame(0x1, b"40"))
                return
            if payload.startswith(b"40"):
                self.pool.hold(self)
                return
        elif kind == "tessera" and payload.startswith(b'{"type":"welcome"'):
            self.pool.hold(self)
            return
        match = BURST.search(payload)
        if match:
            self.pool.arrived(int(match[1]))

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.pool.lost(self)


class Pool:
    """All pages, their counts, and what the parent waits for."""

    def __init__(self, kind: str, url: str):
        parts = urlsplit(url)
        self.kind, self.address = kind, (parts.hostname, parts.port)
        self.host = parts.netloc.encode()
        self.pages: list[Page] = []
        self.held = self.failed = self.dropped = self.users = 0
        self.counts: dict[int, int] = {}
        self.last: dict[int, float] = {}
        self.changed = asyncio.Event()
        self.reasons: dict[str, int] = {}

    def user(self) -> bytes:
        """A user per page, as on a real site (Tessera's bench app reads X-Bench-User)."""
        self.users += 1
        return b"u%d" % self.users

    def hold(self, page: Page) -> None:
        if not page.held:
            page.held = True
            self.held += 1
            self.changed.set()

    def fail(self, page: Page, reason: bytes | str) -> None:
        page.closed = True
        self.failed += 1
        key = str(reason)[:80]
        self.reasons[key] = self.reasons.get(key, 0) + 1
        if page.transport:
            page.transport.abort()
        self.changed.set()

    def lost(self, page: Page) -> None:
        if page.held:
            self.held -= 1
            self.dropped += 1
        self.changed.set()

    def arrived(self, burst: int) -> None:
        self.counts[burst] = self.counts.get(burst, 0) + 1
        self.last[burst] = time.time()
        if self.counts[burst] >= self.held:
            self.changed.set()

    async def open_one(self, slots: asyncio.Semaphore) -> None:
        async with slots:
            page = Page(self)
            try:
                await asyncio.get_running_loop().create_connection(lambda: page, *self.address)
            except OSError as error:
                self.fail(page, f"connect: {error.strerror or error}")
                return
            self.pages.append(page)
            while not (page.held or page.closed or page.transport.is_closing()):
                self.changed.clear()
                await self.changed.wait()
            if not page.held and not page.closed:
                self.fail(page, "closed before the greeting")

    async def open_all(self, n: int, seconds: float) -> dict:
        started = time.monotonic()
        slots = asyncio.Semaphore(IN_FLIGHT)
        tasks = [asyncio.ensure_future(self.open_one(slots)) for _ in range(n)]
        done, pending = await asyncio.wait(tasks, timeout=seconds)
        for task in pending:
            task.cancel()
        return {"held": self.held, "failed": self.failed + len(pending), "dropped": self.dropped,
                "seconds": time.monotonic() - started, "reasons": self.reasons}

    async def wait_burst(self, burst: int, seconds: float) -> dict:
        deadline = time.monotonic() + seconds
        while self.counts.get(burst, 0) < self.held and time.monotonic() < deadline:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        return {"burst": burst, "count": self.counts.get(burst, 0), "last": self.last.get(burst), "held": self.held,
                "dropped": self.dropped}


async def main(kind: str, url: str, n: int, seconds: float) -> None:
    pool = Pool(kind, url)
    print(json.dumps(await pool.open_all(n, seconds)), flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        words = line.split()
        if words[:1] == ["WAIT"]:
            print(json.dumps(await pool.wait_burst(int(words[1]), float(words[2]))), flush=True)
        elif words[:1] == ["QUIT"]:
            break
    for page in pool.pages:
        if page.transport:
            page.transport.abort()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
