"""The socket's transport against a real server: slow pages, one writer per socket, sizes, closing.

Raw sockets (rawsocket.py) read slowly or not at all, and check every byte the server writes.
"""

import struct
import threading
import time
import zlib
from pathlib import Path

import pytest

from tessera.testing.client import SocketClient
from tessera.testing.server import TesseraServer

from conftest import FIXTURES
from live import python_publish
from rawsocket import CLOSE, CONTINUATION, PING, PONG, TEXT, RawSocket, client_frame, describe

PAD = "x" * 40_000  # one event frame is about 40 KB
LIMIT = 65536  # TESSERA_MAX_EVENT_BYTES


@pytest.fixture(scope="module")
def server():
    with TesseraServer(app="wire_app:app", cwd=FIXTURES / "apps") as running:
        yield running
        assert running.alive(), running.output()


@pytest.fixture
def open_raw():
    """open_raw(server, user=None, **kwargs) -> a RawSocket, closed after the test."""
    sockets = []

    def open_socket(server, user=None, **kwargs):
        sockets.append(RawSocket(server, user=user, **kwargs))
        return sockets[-1]

    yield open_socket
    for raw in sockets:
        raw.close()


def replayed(frame):
    return frame.opcode == TEXT and frame.json()["type"] == "replayed"


@pytest.fixture
def joined(open_raw):
    """joined(server, user, **kwargs) -> a RawSocket whose hello was answered (welcome, replayed)."""
    def join(server, user, **kwargs):
        raw = open_raw(server, user, **kwargs)
        raw.hello(f"{user}-page")
        raw.frames_until(replayed)
        return raw
    return join


class SlowReader(threading.Thread):
    """Reads a RawSocket at about ``rate`` bytes/s (or at full speed after ``fast()``) until the
    server closes it; ``settled`` is set once the replay has ended (``replayed``) or the socket has."""

    def __init__(self, raw: RawSocket, rate: float):
        super().__init__(daemon=True)
        self.raw, self.chunk, self.pause = raw, 16384, 16384 / rate
        self.events: list[dict] = []
        self.close_code: int | None = None
        self.settled = threading.Event()
        self.error: BaseException | None = None

    def fast(self) -> None:
        self.pause = 0

    def run(self) -> None:
        try:
            while not self.raw.eof and self.close_code is None:
                for frame in self.raw.receive(self.chunk if self.pause else 1 << 20, wait=10):
                    message = frame.json() if frame.opcode == TEXT else {}
                    if message.get("type") == "event":
                        self.events.append(message["event"])
                    elif message.get("type") == "replayed":
                        self.settled.set()
                    elif frame.opcode == CLOSE:
                        self.close_code = frame.close_code
                time.sleep(self.pause)
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            self.settled.set()


def position_of(server, user):
    client = SocketClient(server.url, headers={"X-Test-User": user})
    welcome = client.hello([])
    client.close()
    return {"epoch": welcome["epoch"], "seq": welcome["seq"]}


def test_a_slow_page_resuming_a_large_replay_while_events_flow_does_not_hold_up_other_pages(
        tessera_server_factory, open_raw):
    server = tessera_server_factory(app="wire_app:app", cwd=FIXTURES / "apps", env={"TESSERA_HISTORY": "1000"})
    position = position_of(server, "slow")
    for start in range(0, 300, 50):  # 12 MB missed by the slow page: three times its 4 MiB send queue
        python_publish(server, "missed.item", batch=[{"n": n, "pad": PAD} for n in range(start, start + 50)],
                       user="slow")
    other = SocketClient(server.url, headers={"X-Test-User": "other"})
    other.join(["live.>"])
    slow = open_raw(server, user="slow", rcvbuf=16384)
    slow.hello("slow-page", resume=position)
    reader = SlowReader(slow, rate=3_000_000)  # its replay takes seconds: live events pile up meanwhile
    reader.start()
    latencies, after_settled = [], 0
    try:
        while after_settled < 5 and len(latencies) < 300:  # until 5 events after its replay ended (or it closed)
            sent = time.monotonic()
            n = len(latencies)
            python_publish(server, "live.tick", {"n": n, "pad": PAD})
            try:
                assert other.events(1, timeout=3)[0]["data"]["n"] == n
            except TimeoutError:
                pytest.fail(f"another page got nothing for 3 s while the slow page resumed (live event {n}; "
                            f"the slow page got {len(reader.events)} events)")
            latencies.append(time.monotonic() - sent)
            after_settled += reader.settled.is_set()
            time.sleep(0.03)
        assert after_settled == 5, "the slow page neither finished its replay nor was closed"
        assert max(latencies) < 2, f"another page waited {max(latencies):.1f} s for an event"
        reader.fast()
        python_publish(server, "live.tick", {"n": "last"})
        assert other.events(1)[0]["data"] == {"n": "last"}
        deadline = time.monotonic() + 15
        while (reader.close_code is None and not any(e["data"] == {"n": "last"} for e in reader.events[-3:])
               and time.monotonic() < deadline):
            time.sleep(0.05)
    finally:
        other.close()
    assert reader.error is None, reader.error
    assert reader.close_code in (None, 4008)
    if reader.close_code is None:  # it kept up after all: it got everything
        assert reader.events[-1]["data"] == {"n": "last"}
    missed = [e["data"]["n"] for e in reader.events if e["type"] == "missed.item"]
    assert missed == list(range(len(missed))), "the replay lost or repeated events"
    seqs = [e["seq"] for e in reader.events]
    assert seqs == sorted(set(seqs)), "the slow page got events twice or out of order"


def test_a_page_that_never_reads_its_replay_does_not_hold_up_other_pages(tessera_server_factory, open_raw):
    server = tessera_server_factory(app="wire_app:app", cwd=FIXTURES / "apps", env={"TESSERA_HISTORY": "1000"})
    position = position_of(server, "sleepy")
    for start in range(0, 200, 50):  # 8 MB, twice its send queue
        python_publish(server, "missed.item", batch=[{"n": n, "pad": PAD} for n in range(start, start + 50)],
                       user="sleepy")
    other = SocketClient(server.url, headers={"X-Test-User": "other"})
    other.join(["live.>"])
    sleepy = open_raw(server, user="sleepy", rcvbuf=4096)
    sleepy.hello("sleepy-page", resume=position)  # it is closed once its replay has waited 10 s for room
    try:
        for n in range(40):  # two seconds of live events while its replay is stuck
            python_publish(server, "live.tick", {"n": n, "pad": PAD})
            assert other.events(1, timeout=3)[0]["data"]["n"] == n
            time.sleep(0.05)
    finally:
        other.close()


def test_pongs_never_land_inside_event_frames_sent_to_a_slow_reader(server, joined):
    raw = joined(server, "pinger", rcvbuf=16384)
    total, batch, unread_max = 120, 10, 80  # events of 50 KB: 6 MB in all, at most 4 MB unread at a time
    frames, pings, received = [], [], []

    def publish():
        """Keep about 4 MB unread: more than the kernel holds (about 2.5 MB on loopback), so the
        writer's sends block mid-frame, yet always within the 4 MiB send queue (no eviction)."""
        for start in range(0, total, batch):
            while start - len(received) > unread_max - batch:
                time.sleep(0.005)
            python_publish(server, "burst.item", batch=[{"n": n, "pad": "y" * 50_000}
                                                        for n in range(start, start + batch)], user="pinger")

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    deadline = time.monotonic() + 30
    while len(received) < total and time.monotonic() < deadline:
        pings.append(b"%d" % len(pings))
        raw.ping(pings[-1])  # every 2 ms while reading about 2 MB/s
        for frame in raw.receive(8192, wait=0.002):  # every frame parses, or this raises BadFrame
            frames.append(frame)
            received += [frame.json()["event"]["data"]] if frame.opcode == TEXT else []
        time.sleep(0.002)
    publisher.join(5)
    raw.ping(b"last")
    frames += raw.frames_until(lambda frame: frame.opcode == PONG and frame.payload == b"last")
    assert [e["n"] for e in received] == list(range(total))
    assert all(e["pad"] == "y" * 50_000 for e in received)
    order = pings + [b"last"]
    pongs = [f.payload for f in frames if f.opcode == PONG]
    # answered in order, each at most once, the latest always (RFC 6455 5.5.3 lets a busy
    # endpoint answer only the most recent of several pings)
    assert pongs[-1] == b"last" and [order.index(p) for p in pongs] == sorted({order.index(p) for p in pongs})
    assert len(pings) > 200, "the pings must overlap the stream"


def rss_mib(server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def test_a_frame_far_over_the_limit_is_closed_with_1009_before_it_is_buffered(server, joined):
    raw = joined(server, "huge")
    before = rss_mib(server)
    raw.send_raw(client_frame(TEXT, b"", length=200 * 2**20, mask=bytes(4)))  # announces 200 MiB
    started, sent, frames = time.monotonic(), 0, []
    while sent < 16 * 2**20 and not frames:  # then sends at most 16 MiB of it
        try:
            raw.send_raw(b"x" * 65536)
        except OSError:  # the server has closed: the rest of the frame is not wanted
            break
        sent += 65536
        frames = raw.receive(wait=0)
    try:
        frames += raw.read_to_eof(timeout=5)
    except TimeoutError:
        pytest.fail(f"no close after {sent >> 20} MiB of a 200 MiB frame")
    assert [describe(f) for f in frames] == ["close 1009"]
    assert time.monotonic() - started < 3
    assert sent < 8 * 2**20, f"the server read {sent >> 20} MiB of a frame over its limit"
    assert rss_mib(server) - before < 32, "the server buffered the frame"


def test_a_fragmented_message_over_the_limit_is_closed_with_1009(server, joined):
    raw = joined(server, "pieces")
    try:
        for n in range(100):  # 100 fragments of 4 KB: 6 times the limit, no single frame is large
            raw.send_raw(client_frame(TEXT if n == 0 else CONTINUATION, b"x" * 4096, fin=False))
    except OSError:
        pass
    assert [describe(f) for f in raw.read_to_eof(timeout=5)] == ["close 1009"]


def test_a_frame_somewhat_over_the_limit_gets_too_large_and_the_connection_stays(connect):
    client = connect("big")
    client.join()
    event = client.publish("demo.shout", "x" * (LIMIT * 3 // 2))
    error = client.expect("error")
    assert (error["code"], error["event_id"]) == ("too_large", event["id"])
    client.sync()


def test_compression_is_declined_so_a_compressed_frame_is_a_protocol_error(server, open_raw):
    raw = open_raw(server, user="zip",
                    headers={"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
    assert raw.header("Sec-WebSocket-Extensions") == []
    deflate = zlib.compressobj(wbits=-15)
    bomb = deflate.compress(b" " * (32 * 2**20)) + deflate.flush(zlib.Z_SYNC_FLUSH)[:-4]  # 32 KB -> 32 MiB
    raw.send_raw(client_frame(TEXT, bomb, rsv1=True))
    assert [describe(f) for f in raw.read_to_eof(timeout=5)] == ["close 1002"]


def test_after_the_closing_handshake_the_server_writes_nothing_more(server, open_raw):
    raw = open_raw(server)  # anonymous: the handshake is where an identity cookie could be minted
    assert raw.header("Set-Cookie") == []
    raw.hello("leaving-page")
    raw.frames_until(replayed)
    raw.send_raw(client_frame(CLOSE, struct.pack("!H", 1000)))
    assert [describe(f) for f in raw.read_to_eof(timeout=5)] == ["close 1000"]  # a BadFrame if bytes follow it
    assert raw.eof and b"HTTP/1.1" not in raw.after_head


def test_a_page_that_pings_without_reading_its_pongs_cannot_grow_server_memory(server):
    """Only the latest unanswered ping is answered: a ping flood costs one pending pong."""
    raw = RawSocket(server, user="ping-flood", rcvbuf=4096, timeout=2)
    raw.hello("ping-flood-page")
    raw.frames_until(lambda f: f.opcode == TEXT and f.json()["type"] == "replayed")
    before = rss_mib(server)
    pings = client_frame(PING, b"p" * 125, mask=bytes(4)) * 1000
    sent = 0
    try:
        while sent < 48 * 2**20:
            raw.send_raw(pings)
            sent += len(pings)
    except OSError:  # back-pressure or a close: either bounds it
        pass
    grown = rss_mib(server) - before
    raw.close()
    assert grown < 24, f"the server grew {grown:.0f} MiB holding pongs for {sent >> 20} MiB of pings"


def test_bytes_left_unread_after_a_session_are_not_taken_for_a_request(server, joined):
    """After a 1009 close the rest of the frame is still in flight: the HTTP server must not parse it."""
    raw = joined(server, "leftover")
    try:
        raw.send_raw(client_frame(TEXT, b"x" * (3 * LIMIT + 4096), mask=bytes(4)))
    except OSError:
        pass
    assert [describe(f) for f in raw.read_to_eof(timeout=5)] == ["close 1009"]
    sentinel = joined(server, "after-leftover")  # the server goes on; then its log says nothing of it
    sentinel.close()
    assert "Invalid HTTP method" not in server.output() and "Traceback" not in server.output()
