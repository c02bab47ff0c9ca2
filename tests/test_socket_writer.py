"""The socket's writer and the process's ticker, on one end of a socketpair.

Whoever queues a frame while nobody writes writes it at once; a helper thread takes over what
the socket does not take. The ticker pings, drops silent peers and ends stalled writes. The
client end parses every byte strictly (wsproto), so a frame cut by another would fail here.
"""

import json
import socket
import threading
import time

from wsproto.frame_protocol import FrameProtocol, Opcode

import tessera.writer
from tessera.ticker import Ticker
from tessera.writer import SocketWriter

from test_connection_parts import done, masked, read_with, upgraded


def read_until_eof(client, seconds=10):
    client.settimeout(seconds)
    data = b""
    while chunk := client.recv(65536):
        data += chunk
    return data


def parse(data):
    protocol = FrameProtocol(client=True, extensions=[])
    protocol.receive_bytes(data)
    return list(protocol.received_frames())


def test_the_ticker_pings_an_idle_page_and_closes_it_with_1001_once_silent_for_two_intervals():
    ws, client, _ = upgraded()
    writer = SocketWriter(ws, limit=10_000, grace=0.3, ticker=Ticker(ping_interval=0.1, tick=0.02))
    writer.start()
    frames = parse(read_until_eof(client))  # the peer never answers: after the close, the grace, then EOF
    assert [f.opcode for f in frames[:-1]] == [Opcode.PING] * (len(frames) - 1) and len(frames) >= 2
    assert frames[-1].opcode is Opcode.CLOSE and frames[-1].payload == (1001, "no answer to pings")
    done(ws, client)


def test_a_page_that_answers_pings_stays_open():
    ws, client, _ = upgraded()
    writer = SocketWriter(ws, limit=10_000, grace=0.5, ticker=Ticker(ping_interval=0.1, tick=0.02))
    writer.start()
    got, reader = read_with(ws, writer)
    protocol, pings, deadline = FrameProtocol(client=True, extensions=[]), 0, time.monotonic() + 0.8
    client.settimeout(1)
    while time.monotonic() < deadline:  # four times the silence allowed
        protocol.receive_bytes(client.recv(4096))
        for frame in protocol.received_frames():
            assert frame.opcode is Opcode.PING, f"got {frame.opcode} {frame.payload!r} while answering pings"
            pings += 1
            client.sendall(masked(Opcode.PONG, b""))
    client.sendall(masked(Opcode.CLOSE, b"\x03\xe8"))  # the sentinel: our close is answered with 1000
    reader.join(5)
    frames = parse(read_until_eof(client))
    assert pings >= 4 and [(f.opcode, f.payload) for f in frames if f.opcode is not Opcode.PING] == [
        (Opcode.CLOSE, (1000, ""))]
    done(ws, client)


def test_frames_from_many_threads_pings_and_pongs_stay_whole_and_in_order_when_the_socket_is_full():
    ws, client, _ = upgraded(max_message=1000)
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    writer = SocketWriter(ws, limit=100_000_000, grace=0.5, ticker=Ticker(ping_interval=0.05, tick=0.01))
    writer.start()
    got, reader = read_with(ws, writer)
    producers = [threading.Thread(target=lambda k=k: [writer.send(json.dumps({"k": k, "n": n, "pad": "x" * (n * 997 % 9000)}))
                                                      for n in range(300)], daemon=True) for k in range(3)]
    for producer in producers:
        producer.start()
    protocol, texts, pongs, pings, part = FrameProtocol(client=True, extensions=[]), [], [], 0, ""
    client.settimeout(5)
    sent = 0
    while len(texts) < 900 or not pongs or not pings:  # a pong queued behind the last frames comes after them
        if len(texts) < 900 or not pongs:
            client.sendall(masked(Opcode.PING, b"%d" % sent))  # keeps the page heard, and asks for pongs
            sent += 1
        protocol.receive_bytes(client.recv(8192))  # about 8 MB/s: the writer's socket is full most of the time
        for frame in protocol.received_frames():  # raises ParseFailed on a cut or mixed frame
            if frame.opcode in (Opcode.TEXT, Opcode.CONTINUATION):  # wsproto hands a frame over as it arrives
                part += frame.payload
                if frame.message_finished:
                    texts.append(json.loads(part))
                    part = ""
            elif frame.opcode is Opcode.PONG:
                pongs.append(int(frame.payload))
            else:
                assert frame.opcode is Opcode.PING, frame
                pings += 1
        time.sleep(0.0005)
    for k in range(3):
        mine = [t for t in texts if t["k"] == k]
        assert [t["n"] for t in mine] == list(range(300))
        assert all(t["pad"] == "x" * (t["n"] * 997 % 9000) for t in mine)
    assert pongs == sorted(set(pongs)) and pongs, "pongs answered in order, each at most once"
    assert pings > 0, "the ticker's pings went between the frames"
    client.sendall(masked(Opcode.CLOSE, b"\x03\xe8"))
    reader.join(5)
    writer.join(5)
    done(ws, client)


def test_a_write_that_makes_no_progress_ends_the_connection(monkeypatch):
    monkeypatch.setattr(tessera.writer, "SOCKET_TIMEOUT", 0.3)
    ws, client, _ = upgraded()
    writer = SocketWriter(ws, limit=100_000_000, grace=0.5, ticker=Ticker(ping_interval=60, tick=0.02))
    writer.start()
    assert writer.send("x" * 20_000_000)  # the client never reads: the helper thread's send blocks
    writer.join(5)
    assert writer.closing is not None and writer.closing.code == 1006
    done(ws, client)


def test_a_deadline_is_called_once_after_its_time_and_a_failing_one_does_not_stop_the_others():
    ticker = Ticker(ping_interval=1, tick=0.01)
    calls = []
    done_event = threading.Event()
    start = time.monotonic()
    ticker.at(start + 0.05, lambda: 1 / 0)
    ticker.at(start + 0.1, lambda: calls.append(time.monotonic() - start))
    ticker.at(start + 0.15, done_event.set)
    assert done_event.wait(5)
    assert len(calls) == 1 and calls[0] >= 0.1
