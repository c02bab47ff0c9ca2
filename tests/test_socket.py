"""The wire protocol over a real WebSocket, against a real server with Python handlers."""

import time

import pytest

from live import http, python_publish


# -- hello / welcome ------------------------------------------------------------------------

def test_welcome_names_the_user_and_the_stream_position(connect):
    welcome = connect("alice").hello()
    assert welcome["user"] == "alice"
    assert welcome["recovered"] is False and welcome["resumed"] is False
    assert isinstance(welcome["epoch"], str) and isinstance(welcome["seq"], int)


def test_pong_frames_are_accepted_silently(connect):
    client = connect("alice")
    client.join()
    client.send({"type": "pong"})
    client.sync()  # the next frame is the pong to our ping: no error came before it


def test_first_frame_must_be_hello(connect):
    client = connect("alice")
    client.send({"type": "ping"})
    error = client.expect("error")
    assert error["code"] == "bad_frame" and "hello" in error["message"]


def test_second_hello_is_refused(connect):
    client = connect("alice")
    client.hello()
    client.send({"type": "hello", "page": "p"})
    assert client.expect("error", skip=("replayed",))["code"] == "bad_frame"


@pytest.mark.parametrize(("text", "code"), [
    ("not json", "bad_frame"),
    ("[" * 30000 + "]" * 30000, "bad_frame"),
    ('{"type": "publish", "event": {"specversion": "1.0", "id": 5, "type": "demo.shout", "source": "/shell"}}',
     "invalid"),
    ('{"type": "publish", "event": {"specversion": "1.0", "id": "x", "type": "demo.shout", "source": "/shell",'
     ' "time": 12}}', "invalid"),
    ('{"type": "request", "rid": 7, "event": {}}', "bad_frame"),
    ('{"type": "unsubscribe", "patterns": [1, 2]}', "invalid"),
    ('"just a string"', "bad_frame"),
    ("[1, 2]", "bad_frame"),
    ('{"type": "launch"}', "bad_frame"),
    ('{"type": "subscribe", "patterns": "demo.>"}', "bad_frame"),
    ('{"type": "subscribe", "patterns": ["demo.>.x"]}', "invalid"),
    ('{"type": "publish"}', "bad_frame"),
])
def test_bad_frames_get_error_frames_and_the_connection_stays(connect, text, code):
    client = connect("alice")
    client.join()
    client.send(text)
    assert client.expect("error")["code"] == code
    client.send({"type": "ping"})
    assert client.expect("pong")["type"] == "pong"


def test_subscriptions_per_page_are_bounded(connect):
    client = connect("alice")
    client.join([f"topic.n{n}" for n in range(200)])
    client.send({"type": "subscribe", "patterns": [f"topic.m{n}" for n in range(100)]})
    error = client.expect("error")
    assert error["code"] == "bad_frame" and "at most 256" in error["message"]


def test_binary_frame_is_a_bad_frame(connect):
    client = connect("alice")
    client.join()
    client.ws.send(b"\x00\x01")
    assert client.expect("error")["code"] == "bad_frame"


# -- publish, ack, scopes ------------------------------------------------------------------

def test_publish_is_acked_with_its_seq_and_reaches_python(server, connect):
    client = connect("alice")
    client.join()
    event = client.publish("demo.ping", {"n": 1})
    ack = client.expect("ack")
    assert ack["id"] == event["id"] and ack["seq"] > 0 and ack["duplicate"] is False
    seen = http(server, "/test/seen")[1]
    deadline = time.monotonic() + 5
    while not any(s["seq"] == ack["seq"] for s in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = http(server, "/test/seen")[1]
    mine = next(s for s in seen if s["seq"] == ack["seq"])
    assert mine == {"type": "demo.ping", "user": "alice", "seq": ack["seq"], "source": "/shell", "data": {"n": 1}}


def test_user_scope_reaches_the_same_users_other_pages_only(server, connect):
    sender, same, other = connect("alice"), connect("alice"), connect("bob")
    for client in (sender, same, other):
        client.join(["demo.>", "sentinel.>"])
    event = sender.publish("demo.ping", {"n": 2})
    sender.expect("ack")
    got = same.events(1)[0]
    assert (got["id"], got["type"], got["data"]) == (event["id"], "demo.ping", {"n": 2})
    assert isinstance(got["seq"], int) and got["epoch"] == sender.welcome["epoch"]
    sentinel = python_publish(server, "sentinel.user-scope")
    assert other.events_until(sentinel["id"]) == []
    assert sender.events_until(sentinel["id"]) == []


def test_global_scope_reaches_every_subscribed_page(server, connect):
    sender, bob, unsubscribed = connect("alice"), connect("bob"), connect("carol")
    sender.join()
    bob.join(["demo.*"])
    unsubscribed.join(["other.>"])
    sender.publish("demo.shout", "hi")
    sender.expect("ack")
    assert bob.events(1)[0]["data"] == "hi"
    sentinel = python_publish(server, "other.sentinel")
    assert unsubscribed.events_until(sentinel["id"]) == []


def test_subscribe_and_unsubscribe_change_what_arrives(server, connect):
    sender, receiver = connect("alice"), connect("bob")
    sender.join()
    receiver.join(["sentinel.>"])
    receiver.send({"type": "subscribe", "patterns": ["demo.shout"]})
    receiver.sync()
    sender.publish("demo.shout", 1)
    sender.expect("ack")
    assert receiver.events(1)[0]["data"] == 1
    receiver.send({"type": "unsubscribe", "patterns": ["demo.shout"]})
    receiver.sync()
    sender.publish("demo.shout", 2)
    sender.expect("ack")
    sentinel = python_publish(server, "sentinel.unsubscribed")
    assert receiver.events_until(sentinel["id"]) == []


@pytest.mark.parametrize(("type", "data", "source", "code"), [
    ("demo.local", 1, "/shell", "forbidden"),
    ("undeclared.topic", 1, "/shell", "forbidden"),
    ("tessera.resync", 1, "/shell", "forbidden"),
    ("demo.ping", {"n": 1}, "/server", "forbidden"),
    ("demo.ping", {"n": "one"}, "/shell", "invalid"),
    ("demo.ping", {}, "/fragments/alpha", "invalid"),
])
def test_rejected_publishes_get_tessera_error_codes_with_the_event_id(connect, type, data, source, code):
    client = connect("alice")
    client.join()
    event = client.publish(type, data, source=source)
    error = client.expect("error")
    assert (error["code"], error["event_id"]) == (code, event["id"])


def test_invalid_cloudevent_is_invalid(connect):
    client = connect("alice")
    client.join()
    client.send({"type": "publish", "event": {"specversion": "0.3", "id": "x1", "type": "demo.ping",
                                              "source": "/shell"}})
    error = client.expect("error")
    assert error["code"] == "invalid" and error["event_id"] == "x1" and "specversion" in error["message"]


def test_too_large_event(connect):
    client = connect("alice")
    client.join()
    event = client.publish("demo.shout", "x" * 70000)
    error = client.expect("error")
    assert (error["code"], error["event_id"]) == ("too_large", event["id"])


def test_rate_limit_answers_rate_limited_after_the_burst(connect):
    client = connect("alice")
    client.join([])
    for n in range(130):
        client.publish("demo.shout", n)
    kinds = [client.next() for _ in range(130)]
    codes = [k.get("code") for k in kinds if k["type"] == "error"]
    assert 0 < len(codes) and set(codes) == {"rate_limited"}
    assert sum(1 for k in kinds if k["type"] == "ack") >= 100


def test_duplicate_event_ids_are_dropped(connect):
    sender, receiver = connect("alice"), connect("bob")
    sender.join()
    receiver.join(["demo.>"])
    first = sender.publish("demo.shout", 1, id="dup-1")
    ack = sender.expect("ack")
    sender.publish("demo.shout", 1, id="dup-1")
    again = sender.expect("ack")
    assert again["duplicate"] is True and again["seq"] == ack["seq"]
    sentinel = sender.publish("demo.shout", "sentinel")
    assert [e["id"] for e in receiver.events_until(sentinel["id"])] == [first["id"]]


# -- Python: publish, respond --------------------------------------------------------------

def test_python_publish_to_one_user(server, connect):
    alice, bob = connect("alice"), connect("bob")
    for client in (alice, bob):
        client.join(["order.>"])
    sent = python_publish(server, "order.confirmed", {"id": 7}, user="alice")
    got = alice.events(1)[0]
    assert (got["id"], got["source"], got["data"]) == (sent["id"], "/server", {"id": 7})
    sentinel = python_publish(server, "order.sentinel")
    assert bob.events_until(sentinel["id"]) == []


def test_python_publish_to_everyone(server, connect):
    alice, bob = connect("alice"), connect("bob")
    for client in (alice, bob):
        client.join(["stock.>"])
    python_publish(server, "stock.changed", {"sku": "a", "stock": 3})
    assert alice.events(1)[0]["data"] == bob.events(1)[0]["data"] == {"sku": "a", "stock": 3}


def test_request_is_answered_by_a_python_responder(connect):
    client = connect("alice")
    client.join()
    client.request("pricing.quote", {"items": [{"price": 2.5, "qty": 2}]}, rid="q1")
    reply = client.expect("reply")
    assert reply == {"type": "reply", "rid": "q1", "data": {"total": 5.0, "user": "alice"}}


@pytest.mark.parametrize(("type", "code"), [("nobody.home", "no_responder"), ("server.fail", "responder_failed")])
def test_request_without_answer_replies_with_an_error(connect, type, code):
    client = connect("alice")
    client.join()
    client.request(type, rid="q2")
    reply = client.expect("reply")
    assert reply["rid"] == "q2" and reply["error"]["code"] == code


def test_a_failing_python_subscriber_is_logged_with_its_name(server, connect):
    client = connect("alice")
    client.join()
    client.publish("demo.ping", {"n": 3})
    client.expect("ack")
    deadline = time.monotonic() + 5
    while "mirror_app.explode" not in server.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "subscriber mirror_app.explode failed on demo.ping" in server.output()


# -- replay and resync ------------------------------------------------------------------------

def test_resume_replays_missed_events_in_order_once(server, connect):
    first = connect("alice")
    first.join(["feed.>"])
    python_publish(server, "feed.item", 0, user="alice")
    position = {"epoch": first.welcome["epoch"], "seq": first.events(1)[0]["seq"]}
    first.close()
    sent = [python_publish(server, "feed.item", n, user="alice")["id"] for n in range(1, 11)]
    python_publish(server, "feed.item", "for bob", user="bob")
    again = connect("alice")
    welcome = again.hello(["feed.>"], resume=position)
    assert welcome["recovered"] is True
    replay = again.events(10)
    assert [e["id"] for e in replay] == sent
    assert [e["seq"] for e in replay] == sorted(e["seq"] for e in replay)
    replayed = again.expect("replayed")
    assert replayed["seq"] >= replay[-1]["seq"]


def test_gap_beyond_history_is_not_recovered(server, connect):
    first = connect("alice")
    welcome = first.hello(["feed.>"])
    position = {"epoch": welcome["epoch"], "seq": welcome["seq"]}
    for n in range(60):  # the app keeps TESSERA_HISTORY = 50
        python_publish(server, "feed.item", n)
    again = connect("alice")
    welcome = again.hello(["feed.>"], resume=position)
    assert welcome["recovered"] is False and welcome["resumed"] is True
    assert again.expect("replayed")["seq"] == welcome["seq"]


@pytest.mark.parametrize("resume", [{"epoch": "e", "seq": True}, {"epoch": "e", "seq": -1}, {"seq": 3}, "e:3"])
def test_malformed_resume_is_a_bad_frame(connect, resume):
    client = connect("alice")
    client.send({"type": "hello", "page": "p", "resume": resume})
    assert client.expect("error")["code"] == "bad_frame"


def test_unknown_epoch_is_not_recovered(connect):
    client = connect("alice")
    welcome = client.hello(resume={"epoch": "another-server", "seq": 3})
    assert welcome["recovered"] is False and welcome["resumed"] is True


def test_own_events_are_not_replayed_to_the_same_page(server, connect):
    first = connect("alice")
    welcome = first.join(["demo.>"], page="page-1")
    first.publish("demo.ping", {"n": 4})
    first.expect("ack")
    first.close()
    again = connect("alice")
    again.hello(["demo.>"], resume={"epoch": welcome["epoch"], "seq": welcome["seq"]}, page="page-1")
    frame = again.next()
    assert frame["type"] == "replayed"
