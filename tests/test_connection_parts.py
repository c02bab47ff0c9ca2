"""The parts of a page's connection, each alone, on fakes: delivery, dispatch, responders, frames.

No server here: a fake writer records frames, a fake broker holds a log, and the WebSocket
runs on one end of a socketpair. Whatever could deadlock runs in a thread joined with a bound.
"""

import json
import logging
import socket
import threading

import pytest
from wsproto.frame_protocol import FrameProtocol, Opcode

from tessera.admission import Admission
from tessera.brokers import MemoryBroker
from tessera.brokers.base import Envelope
from tessera.bus import Bus
from tessera.connection import Connection
from tessera.delivery import Delivery, State, event_frame, event_text
from tessera.protocol import encode
from tessera.events import Event
from tessera.responders import Responders, TooManyRequests
from tessera.websocket import TOO_BIG, WebSocket
from tessera.writer import SocketWriter


class FakeWriter:
    """Records frames; refuses them (a page not reading) once ``room`` frames were taken."""

    def __init__(self, room=10_000):
        self.room = room
        self.frames: list[dict] = []
        self.closed: tuple[int, str] | None = None

    def send(self, text, timeout=None):
        if self.closed:
            return True  # a closed outbox drops frames silently
        if len(self.frames) >= self.room:
            return False
        self.frames.append(json.loads(text))
        return True

    def close(self, code, reason=""):
        self.closed = self.closed or (code, reason)

    def kinds(self):
        return [f["type"] for f in self.frames]

    def seqs(self):
        return [f["event"]["seq"] for f in self.frames if f["type"] == "event"]


class FakeHub:
    """Takes every subscription; a real Hub's index and limits are tested in test_hub.py."""

    def register(self, connection):
        return lambda: None

    def watch(self, connection, patterns):
        return True

    def unwatch(self, connection, patterns):
        pass


def finishes(target, *args, within=5.0):
    """Run ``target`` in a thread; True if it returned within the bound (False: it hung)."""
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    thread.join(within)
    return not thread.is_alive()


def stored(broker, n, type="demo.shout"):
    return [broker.publish(Envelope(Event(type=type, data=i))) for i in range(n)]


# -- delivery ------------------------------------------------------------------------------------

class LiveDuringReplay(MemoryBroker):
    """A broker whose events keep arriving while a page reads its replay (as the hub would offer them)."""

    def __init__(self, delivery_box, live):
        super().__init__(history=1000)
        self.box, self.live = delivery_box, live

    def since(self, epoch, seq):
        replay = super().since(epoch, seq)
        live, self.live = self.live, 0
        for _ in range(live):  # published after the replay was read, offered during the resume
            self.box[0].offer(self._latest(self.publish(Envelope(Event(type="demo.shout"))).seq), "")
        return replay

    def _latest(self, seq):
        return next(e for e in reversed(self._history) if e.event.seq == seq)


def test_replay_then_backlog_then_live_each_event_once_in_order():
    box = []
    broker = LiveDuringReplay(box, live=3)
    stored(broker, 5)
    writer = FakeWriter()
    delivery = Delivery(writer, may_see=lambda e: True, wanted=lambda: lambda e: True, evict=lambda: None)
    box.append(delivery)
    delivery.begin()
    delivery.resume(broker, {"epoch": broker.epoch, "seq": 2}, {"type": "welcome"})
    for envelope in broker.since(broker.epoch, 0):  # the hub offers everything again: all below the floor
        delivery.offer(envelope, event_text(envelope))
    assert writer.kinds()[0] == "welcome" and writer.kinds()[-1] == "replayed"
    assert writer.seqs() == [3, 4, 5, 6, 7, 8]
    assert delivery.state is State.OPEN


def test_a_page_that_stops_reading_during_its_replay_is_evicted_without_deadlock():
    """Defect 1: eviction (which closes) from inside the resume must not wait on the delivery's lock."""
    broker = MemoryBroker(history=1000)
    stored(broker, 50)
    writer = FakeWriter(room=10)
    responders = Responders(bus_on(broker), workers=1)
    connection = Connection(writer, user="u", bus=bus_on(broker), rate=1000, max_bytes=65536,
                            responders=responders, hub=FakeHub())
    hello = {"type": "hello", "page": "p", "resume": {"epoch": broker.epoch, "seq": 0}, "subscribe": [">"]}
    assert finishes(connection.handle, json.dumps(hello))
    assert writer.closed[0] == 4008
    envelope = broker.since(broker.epoch, 49)[0]
    assert finishes(connection.offer, envelope, event_text(envelope))  # the hub is never held up
    responders.close()


def test_a_page_whose_backlog_overflows_while_resuming_is_evicted(monkeypatch):
    monkeypatch.setattr("tessera.delivery.MAX_BACKLOG", 3)
    broker = MemoryBroker()
    writer = FakeWriter()
    connection = Connection(writer, user="u", bus=bus_on(broker), rate=1000, max_bytes=65536,
                            responders=Responders(bus_on(broker), workers=1), hub=FakeHub())
    connection.delivery.begin()  # as after hello, before the replay is read
    for envelope in [Envelope(Event(type="demo.shout")).stored(n, broker.epoch) for n in range(1, 6)]:
        connection.offer(envelope, event_text(envelope))
    assert writer.closed[0] == 4008 and connection.state is State.CLOSED
    connection.responders.close()


def test_an_open_page_whose_stream_was_lost_is_closed_to_resync():
    """The broker lost its stream (a new epoch): events of the new one must not be taken as old."""
    broker = MemoryBroker()
    stored(broker, 3)
    writer = FakeWriter()
    connection = Connection(writer, user="u", bus=bus_on(broker), rate=1000, max_bytes=65536,
                            responders=Responders(bus_on(broker), workers=1), hub=FakeHub())
    connection.handle(json.dumps({"type": "hello", "page": "p", "subscribe": [">"]}))
    reborn = Envelope(Event(type="demo.shout")).stored(1, "another-epoch")
    connection.offer(reborn, event_text(reborn))
    assert writer.closed[0] == 4009 and not writer.seqs()
    connection.responders.close()


def test_live_events_go_straight_to_the_writer_once_open_and_only_those_it_may_see():
    broker = MemoryBroker()
    writer = FakeWriter()
    delivery = Delivery(writer, may_see=lambda e: e.event.data != "skip", wanted=lambda: lambda e: True,
                        evict=lambda: None)
    delivery.begin()
    delivery.resume(broker, None, {"type": "welcome"})
    for n, data in enumerate(["a", "skip", "b"], start=1):
        envelope = Envelope(Event(type="demo.shout", data=data)).stored(n, broker.epoch)
        delivery.offer(envelope, event_text(envelope))
    assert [f["event"]["data"] for f in writer.frames if f["type"] == "event"] == ["a", "b"]


# -- dispatch --------------------------------------------------------------------------------

def bus_on(broker):
    bus = Bus()
    bus.admission = Admission()
    bus.attach(broker)
    return bus


@pytest.fixture
def page():
    broker = MemoryBroker()
    writer = FakeWriter()
    responders = Responders(bus_on(broker), workers=1)
    connection = Connection(writer, user="u", bus=bus_on(broker), rate=1000, max_bytes=4096,
                            responders=responders, hub=FakeHub())
    yield connection, writer
    responders.close()


@pytest.mark.parametrize("text, code", [
    ('{"type": "publish", "event": {}}', "bad_frame"),           # before hello
    ("[1, 2]", "bad_frame"),
    ('{"type": ["hello"]}', "bad_frame"),
    ("x" * 5000, "too_large"),
    (b"\x00\x01", "bad_frame"),
])
def test_bad_frames_are_answered_with_error_frames(page, text, code):
    connection, writer = page
    connection.handle(text)
    assert writer.frames[-1] == {**writer.frames[-1], "type": "error", "code": code}
    assert connection.state is State.AWAITING_HELLO


def test_a_refused_request_is_answered_with_its_code_in_a_reply(page):
    connection, writer = page
    connection.handle(json.dumps({"type": "hello", "page": "p"}))
    event = {"specversion": "1.0", "id": "r1", "type": "tessera.secret", "source": "/shell"}
    connection.handle(json.dumps({"type": "request", "rid": "r1", "event": event}))
    assert writer.frames[-1]["type"] == "reply" and writer.frames[-1]["error"]["code"] == "forbidden"


def test_closing_is_idempotent_and_closes_the_writer_once(page):
    connection, writer = page
    connection.handle(json.dumps({"type": "hello", "page": "p"}))
    connection.close(4008, "slow")
    connection.close(1000)
    assert writer.closed == (4008, "slow") and connection.state is State.CLOSED


# -- responders ------------------------------------------------------------------------------

class Answers:
    def __init__(self):
        self.got: dict[str, list] = {}
        self.done = threading.Event()
        self.expected = 0

    def to(self, name):
        def reply(answer):
            self.got.setdefault(name, []).append(answer)
            if sum(map(len, self.got.values())) >= self.expected:
                self.done.set()
        return reply


def responders_with(handler, **kwargs):
    bus = Bus()
    bus.respond("demo.ask")(handler)
    return Responders(bus, **kwargs)


def ask(n=0):
    return Event(type="demo.ask", data=n)


def test_one_page_flooding_a_slow_responder_waits_behind_itself_not_others():
    release = threading.Event()
    order = []

    def slow(event):
        release.wait(5)
        order.append(event.data)
        return event.data

    responders = responders_with(slow, workers=1, max_pending=50)
    answers = Answers()
    answers.expected = 21
    for n in range(20):
        responders.submit("flood", f"r{n}", ask(n), answers.to("flood"), owner=None)
    responders.submit("other", "r0", ask("other"), answers.to("other"), owner=None)
    release.set()
    assert answers.done.wait(5)
    assert order.index("other") <= 2  # its turn came after the flood's running one and one more
    responders.close()


def test_a_resent_request_runs_once_and_gets_the_first_answer():
    runs = []
    responders = responders_with(lambda event: runs.append(event.data) or {"n": len(runs)}, workers=1)
    answers = Answers()
    answers.expected = 1
    responders.submit("page", "r1", ask(), answers.to("first"), owner="old")
    assert answers.done.wait(5)
    answers.done.clear()
    answers.expected = 2
    responders.submit("page", "r1", ask(), answers.to("resent"), owner="new")
    assert answers.done.wait(5)
    assert runs == [0] and answers.got["resent"] == answers.got["first"] == [{"data": {"n": 1}}]
    responders.close()


def test_a_request_resent_while_it_runs_is_answered_on_the_new_connection_once():
    release = threading.Event()
    runs = []

    def slow(event):
        runs.append(1)
        release.wait(5)
        return "ok"

    responders = responders_with(slow, workers=1)
    answers = Answers()
    answers.expected = 1
    responders.submit("page", "r1", ask(), answers.to("old"), owner="old")
    responders.submit("page", "r1", ask(), answers.to("new"), owner="new")
    release.set()
    assert answers.done.wait(5)
    assert runs == [1] and answers.got == {"new": [{"data": "ok"}]}
    responders.close()


def test_pending_requests_per_page_are_capped_and_a_closed_pages_queue_is_dropped():
    release = threading.Event()
    runs = []
    responders = responders_with(lambda event: runs.append(event.data) or release.wait(5), workers=1, max_pending=3)
    answers = Answers()
    for n in range(3):
        responders.submit("page", f"r{n}", ask(n), answers.to("page"), owner="conn")
    with pytest.raises(TooManyRequests):
        responders.submit("page", "r3", ask(3), answers.to("page"), owner="conn")
    responders.forget("page", "conn")  # the running one finishes; the two queued are dropped
    answers.expected = 1
    responders.submit("other", "s", ask("sentinel"), answers.to("other"), owner="o")
    release.set()
    assert answers.done.wait(5)
    assert "sentinel" in runs and runs.count(1) == runs.count(2) == 0
    responders.close()


@pytest.mark.parametrize("handler, code", [
    (lambda event: {"at": float("nan")}, "responder_failed"),
    (lambda event: object(), "responder_failed"),
    (lambda event: 1 / 0, "responder_failed"),
])
def test_every_responder_failure_is_answered_and_logged(caplog, handler, code):
    responders = responders_with(handler, workers=1)
    answers = Answers()
    answers.expected = 1
    with caplog.at_level(logging.ERROR, logger="tessera.responders"):
        responders.submit("page", "r", ask(), answers.to("page"), owner=None)
        assert answers.done.wait(5)
    assert answers.got["page"][0]["error"]["code"] == code
    assert "demo.ask" in caplog.text
    responders.close()


# -- frames on a socket ----------------------------------------------------------------------

def upgraded(max_message=1000):
    """A server WebSocket on one end of a socketpair, and the client's end, past the handshake."""
    server, client = socket.socketpair()
    environ = {"werkzeug.socket": server, "HTTP_UPGRADE": "websocket", "HTTP_SEC_WEBSOCKET_VERSION": "13",
               "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==", "HTTP_SEC_WEBSOCKET_EXTENSIONS":
               "permessage-deflate; client_max_window_bits"}
    ws = WebSocket(environ, max_message=max_message)
    response = client.recv(4096)
    return ws, client, response


def done(ws, client):
    ws.shutdown()
    ws.sock.close()  # the WSGI server's to close in real life
    client.close()


def client_frames(data):
    protocol = FrameProtocol(client=True, extensions=[])
    protocol.receive_bytes(data)
    return list(protocol.received_frames())


def masked(opcode, payload, rsv1=False):
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    head = bytes([0x80 | (0x40 if rsv1 else 0) | opcode])
    head += bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + length.to_bytes(2, "big")
    return head + mask + body


def test_the_handshake_accepts_no_compression():
    ws, client, response = upgraded()
    assert response.startswith(b"HTTP/1.1 101") and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in response
    assert b"Extensions" not in response and b"Set-Cookie" not in response
    done(ws, client)


def read_with(ws, writer):
    got = []
    thread = threading.Thread(target=lambda: got.extend(ws.messages(writer)), daemon=True)
    thread.start()
    return got, thread


def test_the_reader_answers_pings_through_the_writer_and_yields_messages():
    ws, client, _ = upgraded()
    writer = SocketWriter(ws, limit=10_000, grace=0.5)
    writer.start()
    got, reader = read_with(ws, writer)
    client.sendall(masked(Opcode.PING, b"hi") + masked(Opcode.TEXT, b'{"a": 1}'))
    pong = client_frames(client.recv(4096))
    client.sendall(masked(Opcode.CLOSE, b"\x03\xe8"))
    reader.join(5)
    writer.join(5)
    closing = client_frames(client.recv(4096))
    assert got == ['{"a": 1}']
    assert [(f.opcode, f.payload) for f in pong + closing] == [(Opcode.PONG, b"hi"), (Opcode.CLOSE, (1000, ""))]
    done(ws, client)


def test_a_message_over_the_limit_is_refused_with_1009_before_it_is_buffered():
    ws, client, _ = upgraded(max_message=1000)
    writer = SocketWriter(ws, limit=10_000, grace=0.5)
    writer.start()
    got, reader = read_with(ws, writer)
    header = bytes([0x81, 0x80 | 127]) + (200 * 2**20).to_bytes(8, "big") + b"\x00\x00\x00\x00"
    client.sendall(header + b"x" * 4096)  # a 200 MiB frame announced; 4 KiB of it sent
    reader.join(5)
    writer.join(5)
    assert got == [] and not reader.is_alive()
    assert client_frames(client.recv(4096))[0].payload[0] == TOO_BIG
    done(ws, client)


def test_a_compressed_frame_is_a_protocol_error():
    ws, client, _ = upgraded()
    writer = SocketWriter(ws, limit=10_000, grace=0.5)
    writer.start()
    got, reader = read_with(ws, writer)
    client.sendall(masked(Opcode.TEXT, b"\xf2H\xcd\xc9\xc9\x07\x00", rsv1=True))
    reader.join(5)
    writer.join(5)
    assert got == [] and client_frames(client.recv(4096))[0].payload[0] == 1002
    done(ws, client)


def test_nothing_is_written_after_the_close_frame():
    ws, client, _ = upgraded()
    writer = SocketWriter(ws, limit=10_000, grace=0.5)
    writer.start()
    writer.close(4008, "slow")
    assert writer.send("late") is True  # taken and dropped: the outbox is closed
    writer.join(5)  # the peer never answers our close frame: after the grace, the socket is shut
    ws.shutdown()
    data = b""
    while chunk := client.recv(4096):
        data += chunk
    assert [f.opcode for f in client_frames(data)] == [Opcode.CLOSE]
    done(ws, client)


@pytest.mark.parametrize("body", [
    {"specversion": "1.0", "id": "e1", "type": "news.posted", "source": "/cms", "data": {"é": ["\u2028", 2.5, None]},
     "subject": "s", "traceparent": "00-x", "user": None},
    {"specversion": "1.0", "id": "e2", "type": "news.posted", "source": "/cms", "data_base64": "AAEC"},
    {"specversion": "1.0", "id": "e3", "type": "news.posted", "source": "/cms"},
])
def test_the_frame_made_from_the_admitted_json_is_the_frame_of_the_stored_event(body):
    """Admission keeps the event's JSON it measured; the page's frame is made from it, not encoded again."""
    body = {k: v for k, v in body.items() if v is not None}
    stored = Admission().from_backend(body).stored(41, 'epoch"1')
    assert stored.body is not None
    assert json.loads(event_text(stored)) == json.loads(encode(event_frame(stored)))
    assert json.loads(event_text(stored))["event"]["seq"] == 41
