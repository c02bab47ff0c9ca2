"""Pages' requests to Python responders over a real socket: once, answered, fair, logged."""

import time

import pytest

from tessera.events import Event
from tessera.testing.server import TesseraServer

from conftest import FIXTURES
from live import http


@pytest.fixture(scope="module")
def server():
    """wire_app (slow, counting and non-JSON responders); TESSERA_RATE is the default, 100/s."""
    with TesseraServer(app="wire_app:app", cwd=FIXTURES / "apps") as running:
        yield running
        assert running.alive(), running.output()


def request_frame(type, data=None, rid="r1"):
    return {"type": "request", "rid": rid, "event": Event(type=type, data=data, source="/shell").to_dict()}


def runs(server):
    return http(server, "/test/runs")[1]


def test_a_request_resent_after_a_reconnect_while_its_responder_runs_runs_once(server, connect):
    frame = request_frame("once.count", {"key": "while-running", "sleep": 0.5}, rid="again-1")
    first = connect("resender")
    first.join(page="resending-page")
    first.send(frame)
    first.sync()  # the server has the request: its responder is running now
    first.close()  # the answer has nowhere to go
    again = connect("resender")
    again.join(page="resending-page")
    again.send(frame)  # the bridge resends unanswered requests after the next welcome
    reply = again.expect("reply")
    assert reply == {"type": "reply", "rid": "again-1", "data": {"key": "while-running", "run": 1}}
    assert runs(server)["while-running"] == 1


def test_a_request_resent_after_its_answer_was_lost_gets_the_kept_answer(server, connect):
    frame = request_frame("once.count", {"key": "answer-lost"}, rid="again-2")
    first = connect("resender")
    first.join(page="losing-page")
    first.send(frame)
    first.close()  # before reading the answer
    deadline = time.monotonic() + 5
    while runs(server).get("answer-lost") != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    again = connect("resender")
    again.join(page="losing-page")
    again.send(frame)
    assert again.expect("reply") == {"type": "reply", "rid": "again-2", "data": {"key": "answer-lost", "run": 1}}
    again.send(frame)  # and again, on the same connection
    assert again.expect("reply")["data"] == {"key": "answer-lost", "run": 1}
    assert runs(server)["answer-lost"] == 1


def test_the_same_rid_from_another_page_is_another_request(connect):
    frame = request_frame("once.count", {"key": "two-pages"}, rid="same-rid")
    one, two = connect("resender"), connect("resender")
    one.join(page="page-one")
    two.join(page="page-two")
    one.send(frame)
    assert one.expect("reply")["data"]["run"] == 1
    two.send(frame)
    assert two.expect("reply")["data"]["run"] == 2


@pytest.mark.parametrize(("event", "code"), [
    ({"specversion": "1.0", "id": "q1", "type": "tessera.x", "source": "/shell"}, "forbidden"),
    ({"specversion": "1.0", "id": "q2", "type": "fast.echo", "source": "/fragments/nobody"}, "forbidden"),
    ({"specversion": "0.3", "id": "q3", "type": "fast.echo", "source": "/shell"}, "invalid"),
])
def test_a_refused_request_is_answered_at_once_with_the_code(connect, event, code):
    client = connect("alice")
    client.join()
    sent = time.monotonic()
    client.send({"type": "request", "rid": "refused", "event": event})
    reply = client.expect("reply", timeout=2)  # the page's promise rejects now, not at its timeout
    assert (reply["rid"], reply["error"]["code"]) == ("refused", code)
    assert time.monotonic() - sent < 1


def test_every_request_over_the_rate_limit_gets_a_rate_limited_reply(connect):
    client = connect("alice")
    client.join([])
    count = 260  # the default rate allows bursts of 200
    for n in range(count):
        client.send(request_frame("fast.echo", n, rid=f"burst-{n}"))
    replies = {}
    while len(replies) < count:
        frame = client.expect("reply", timeout=5)
        assert frame["rid"] not in replies, f"two replies to {frame['rid']}"
        replies[frame["rid"]] = frame
    answered = [n for n in range(count) if "data" in replies[f"burst-{n}"]]
    refused = {replies[f"burst-{n}"]["error"]["code"] for n in range(count) if n not in answered}
    assert answered and len(answered) <= 200 and refused == {"rate_limited"}
    assert all(replies[f"burst-{n}"]["data"] == n for n in answered)


def test_a_responder_answering_data_that_is_not_json_gets_an_error_reply_and_is_logged(server, connect):
    client = connect("alice")
    client.join()
    client.send(request_frame("bad.answer", rid="bad-1"))
    reply = client.expect("reply")
    assert (reply["rid"], reply["error"]["code"]) == ("bad-1", "responder_failed")
    assert "the responder of 'bad.answer' returned data that is not JSON" in server.output()


def test_one_page_flooding_a_slow_responder_does_not_hold_up_another_users_request(connect):
    flooder, patient = connect("flooder"), connect("patient")
    flooder.join([])
    patient.join([])
    for n in range(100):  # 50 s of work for one worker; within the rate limit
        flooder.send(request_frame("slow.echo", n, rid=f"flood-{n}"))
    flooder.send({"type": "ping"})
    flooder.frames_until("pong")  # every request is queued, running or refused by now
    sent = time.monotonic()
    patient.send(request_frame("fast.echo", "me", rid="mine"))
    assert patient.expect("reply", timeout=15) == {"type": "reply", "rid": "mine", "data": "me"}
    waited = time.monotonic() - sent
    assert waited < 3, f"another user's request waited {waited:.1f} s behind one page's flood"


def test_a_request_over_the_size_limit_is_answered_with_a_reply_to_its_rid(connect):
    client = connect("alice")
    client.join()
    client.send({"type": "request", "rid": "big-1", "event": {
        "specversion": "1.0", "id": "q-big", "type": "pricing.quote", "source": "/shell",
        "data": {"items": [], "pad": "x" * 70000}}})
    reply = client.expect("reply", timeout=2)
    assert (reply["rid"], reply["error"]["code"]) == ("big-1", "too_large")
