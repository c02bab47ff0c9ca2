"""Inputs that could hurt: every field bounded, RFC 8259 JSON only, RFC 3339 times, bodies read
up to the limit only. The same rules from every origin: page frames, POST /_tessera/events and
``tessera.bus.publish``.
"""

import json
import math
import socket
import time
from pathlib import Path

import pytest
from flask import Flask

from conftest import ROOT
from live import TOKEN, cloudevent, http
from tessera import Tessera
from tessera.admission import Refused
from tessera.brokers.base import idempotency_key
from tessera.events import Event, EventError, is_rfc3339
from tessera.protocol import FrameError, encode, loads, parse

SHOP = Path(__file__).parent / "fixtures" / "shop"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
NOT_JSON_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]


def publish_frame(data_text, id="e1"):
    return ('{"type":"publish","event":{"specversion":"1.0","id":"%s","type":"demo.shout","source":"/shell",'
            '"data":%s}}' % (id, data_text))


@pytest.fixture(scope="module")
def python_bus():
    app = Flask(__name__)  # kept alive here: Tessera holds its apps weakly
    tessera = Tessera(app, frontends=SHOP)
    yield tessera.bus
    tessera.close()


# -- RFC 8259 JSON: no NaN or Infinity, in or out --------------------------------------------------

@pytest.mark.parametrize("number", NOT_JSON_NUMBERS)
def test_nan_and_infinity_are_not_json_when_read(number):
    with pytest.raises(ValueError):
        loads(f'{{"n": {number}}}')
    with pytest.raises(FrameError) as refused:
        parse(publish_frame(number, id="nan-1"), max_bytes=65536)
    assert (refused.value.code, refused.value.event_id) == ("bad_frame", "nan-1")


def test_large_but_finite_numbers_and_invalid_utf8_bytes():
    assert loads("[1e308, -1e308, 123456789012345678901234567890]")[2] == 123456789012345678901234567890
    with pytest.raises(ValueError):
        loads(b'{"a": "\xff"}')


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_frames_never_carry_nan_or_infinity_out(value):
    with pytest.raises(ValueError):
        encode({"type": "event", "event": {"data": value}})


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS)
def test_a_page_frame_with_nan_or_infinity_is_refused_and_others_never_see_it(connect, number):
    sender, watcher = connect("alice"), connect("bob")
    sender.join([])
    watcher.join(["demo.>"])
    sender.send(publish_frame(number, id="nan-page"))
    assert sender.expect("error")["code"] == "bad_frame"
    sender.send('{"type":"request","rid":"r-nan","event":{"specversion":"1.0","id":"q","type":"pricing.quote",'
                f'"source":"/shell","data":{number}}}}}')
    reply = sender.expect("reply")  # a request is answered by its rid, so its promise rejects at once
    assert (reply["rid"], reply["error"]["code"]) == ("r-nan", "bad_frame")
    sender.publish("demo.shout", "sentinel", id=f"nan-sentinel-{number}")
    assert [e["id"] for e in watcher.events(1)] == [f"nan-sentinel-{number}"]


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS)
@pytest.mark.parametrize("content_type", ["application/json", "application/cloudevents+json"])
def test_an_http_body_with_nan_or_infinity_is_a_400(server, number, content_type):
    body = b'{"specversion":"1.0","id":"nan-http","type":"notify.new","source":"/billing","data":%s}' % number.encode()
    status, answer = http(server, "/_tessera/events", body, AUTH | {"Content-Type": content_type})
    assert (status, answer["error"]) == (400, "invalid") and "JSON" in answer["reason"]


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS)
def test_binary_and_batched_bodies_with_nan_or_infinity_are_a_400(server, number):
    binary = {"ce-specversion": "1.0", "ce-id": "nan-bin", "ce-type": "notify.new", "ce-source": "/billing"}
    status, answer = http(server, "/_tessera/events", b'{"n": %s}' % number.encode(), AUTH | binary)
    assert (status, answer["error"]) == (400, "invalid")
    batch = b'[{"specversion":"1.0","id":"nan-b","type":"notify.new","source":"/billing","data":%s}]' % number.encode()
    status, answer = http(server, "/_tessera/events", batch,
                          AUTH | {"Content-Type": "application/cloudevents-batch+json"})
    assert (status, answer["error"]) == (400, "invalid")


@pytest.mark.parametrize("data", [math.nan, math.inf, -math.inf, {"deep": [1.0, math.inf]}])
def test_python_publishes_of_nan_or_infinity_are_refused(python_bus, data):
    with pytest.raises(Refused) as refused:
        python_bus.publish("news.number", data)
    assert refused.value.code == "invalid"


def test_a_lone_surrogate_is_not_unicode_and_is_refused(connect):
    page = connect("alice")
    page.join([])
    page.send(publish_frame('"\\ud800"', id="surrogate"))
    assert page.expect("error")["code"] == "invalid"


# -- every field has a bound ------------------------------------------------------------------------

LONG = "x" * 257


@pytest.mark.parametrize("field", ["id", "source", "subject"])
def test_ids_sources_and_subjects_are_at_most_256_characters(field):
    event = {"specversion": "1.0", "id": "e", "type": "a.b", "source": "/s"}
    assert Event.from_dict(event | {field: "/" + "x" * 255})
    with pytest.raises(EventError, match=f'"{field}" is longer than 256'):
        Event.from_dict(event | {field: "/" + LONG})


def test_extension_values_and_names_are_bounded():
    event = {"specversion": "1.0", "id": "e", "type": "a.b", "source": "/s"}
    assert Event.from_dict(event | {"tracestate": "x" * 1024, "n" * 64: 1}).extensions["tracestate"]
    with pytest.raises(EventError, match="longer than 1024"):
        Event.from_dict(event | {"tracestate": "x" * 1025})
    with pytest.raises(EventError, match="at most 64"):
        Event.from_dict(event | {"n" * 65: 1})
    with pytest.raises(EventError, match="longer than 1024"):
        Event.from_dict(event | {"dataschema": "https://x/" + "x" * 1020})


def test_a_long_id_is_refused_from_every_origin(server, connect, python_bus):
    page = connect("alice")
    page.join([])
    page.publish("demo.shout", 1, id=LONG)
    refused = page.expect("error")
    assert (refused["code"], refused["event_id"]) == ("invalid", None)  # a huge id is not echoed back
    status, answer = http(server, "/_tessera/events", cloudevent(id=LONG), AUTH)
    assert (status, answer["error"]) == (400, "invalid") and "longer than 256" in answer["reason"]
    with pytest.raises(Refused, match="longer than 256"):
        python_bus.publish("news.long", 1, source="x" * 256)  # source /server/<256 x>
    with pytest.raises(Refused, match="user"):
        python_bus.publish("news.long", 1, user=LONG)


@pytest.mark.parametrize("frame", [
    {"type": "hello", "page": LONG, "subscribe": []},
    {"type": "hello", "page": "p", "subscribe": [], "resume": {"epoch": LONG, "seq": 1}},
    {"type": "request", "rid": LONG, "event": {}},
])
def test_pages_and_rids_are_at_most_256_characters(frame):
    with pytest.raises(FrameError, match="at most 256|longer than 256") as refused:
        parse(json.dumps(frame), max_bytes=65536)
    assert refused.value.code == "bad_frame"
    assert parse(json.dumps(frame | {key: "x" * 256 for key in ("page", "rid") if key in frame}
                            | ({"resume": None} if "resume" in frame else {})), max_bytes=65536)


def test_a_page_with_a_long_page_id_or_rid_gets_an_error_frame(connect):
    stranger = connect("alice")
    stranger.send({"type": "hello", "page": LONG, "subscribe": []})
    assert stranger.expect("error")["code"] == "bad_frame"
    page = connect("alice")
    page.join([])
    page.send({"type": "request", "rid": LONG, "event": Event(type="pricing.quote", source="/shell").to_dict()})
    assert page.expect("error")["code"] == "bad_frame"


def test_the_idempotency_window_keeps_fixed_size_keys_whatever_the_id():
    assert len(idempotency_key("event", "/" + "x" * 255, "y" * 256)) == len(idempotency_key("event", "/s", "1")) == 64


# -- time is RFC 3339 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "2026-11-28T10:00:00Z", "2026-11-28T10:00:00.123Z", "2026-11-28T10:00:00.123456+02:00",
    "2026-11-28t10:00:00z", "2016-12-31T23:59:60Z", "2024-02-29T00:00:00-23:59", "2026-11-28T10:00:00.123456789Z",
])
def test_rfc3339_times_are_accepted(text):
    assert is_rfc3339(text)
    assert Event.from_dict({"specversion": "1.0", "id": "e", "type": "a.b", "source": "/s", "time": text}).time == text


@pytest.mark.parametrize("text", [
    "2024-W01-1", "2024-05-01", "2024-05-01T10:00:00", "2024-05-01T10:00Z", "2024-05-01 10:00:00Z",
    "20240501T100000Z", "2024-02-30T10:00:00Z", "2023-02-29T10:00:00Z", "2024-13-01T10:00:00Z",
    "2024-05-01T24:00:00Z", "2024-05-01T10:60:00Z", "2024-05-01T10:00:61Z", "2024-05-01T10:00:00+24:00",
    "2024-05-01T10:00:00.Z", "2024-05-01T10:00:00+0200", "yesterday", "", "2024-05-01T10:00:00Z\n",
    "２０２４-05-01T10:00:00Z", 1714557600, ["2024-05-01T10:00:00Z"],
])
def test_other_times_are_refused(text):
    assert not is_rfc3339(text)
    with pytest.raises(EventError, match="RFC 3339"):
        Event.from_dict({"specversion": "1.0", "id": "e", "type": "a.b", "source": "/s", "time": text})


@pytest.mark.parametrize("text", ["2024-W01-1", "2024-05-01"])
def test_a_time_that_is_not_rfc3339_is_refused_from_pages_and_backends(server, connect, text):
    page = connect("alice")
    page.join([])
    event = Event(type="demo.shout", source="/shell", id="week-time").to_dict() | {"time": text}
    page.send({"type": "publish", "event": event})
    assert (page.expect("error")["code"]) == "invalid"
    status, answer = http(server, "/_tessera/events", cloudevent(time=text), AUTH)
    assert (status, answer["error"]) == (400, "invalid") and "RFC 3339" in answer["reason"]


# -- HTTP bodies are read up to the limit only ------------------------------------------------------------

def raw_post(server, head: bytes, chunks) -> tuple[int, float]:
    """Send a request head then body chunks until the server answers; (status, seconds to answer)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(head)
        raw.setblocking(False)
        answer = b""
        for chunk in chunks:
            try:
                answer += raw.recv(65536)
            except BlockingIOError:
                pass
            if answer:
                break
            try:
                raw.sendall(chunk)
            except (BlockingIOError, ConnectionError):
                break
        raw.settimeout(10)
        while b"\r\n" not in answer:
            answer += raw.recv(65536)
    return int(answer.split()[1]), time.monotonic() - started


def test_a_body_announced_larger_than_the_limit_is_413_before_it_is_read(server):
    head = (b"POST /_tessera/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (20 << 20))
    status, seconds = raw_post(server, head, [b"x" * 1024])  # 1 KiB of the 20 MiB announced, then wait
    assert status == 413 and seconds < 5


@pytest.mark.parametrize(("size", "status"), [(65536, 202), (65537, 413)])
def test_the_body_limit_is_exact(server, size, status):
    event = json.dumps(cloudevent(id=f"exact-{size}")).encode()
    assert http(server, "/_tessera/events", event + b" " * (size - len(event)), AUTH)[0] == status


def test_a_chunked_body_is_cut_at_the_limit(server):
    head = (b"POST /_tessera/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode()
            + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (16384, b" " * 16384)

    def chunks():
        for _ in range(20 << 20 >> 14):  # up to 20 MiB, while the server has not answered
            yield chunk
            time.sleep(0.001)

    status, seconds = raw_post(server, head, chunks())
    assert status == 413 and seconds < 10


# -- the demo's bell survives a time it cannot read -------------------------------------------------------

@pytest.fixture(scope="module")
def tessera_frontends():
    return ROOT / "frontends"


@pytest.fixture(scope="module")
def tessera_server_options():
    return ["--publish-token", TOKEN]


@pytest.mark.browser
def test_the_bell_renders_a_notification_whose_time_the_browser_cannot_read(tessera_open, tessera_server):
    page = tessera_open("/")
    page.wait_for_function("() => window.tessera.connection.state === 'open'", timeout=10000)
    user = page.evaluate("JSON.parse(document.getElementById('tessera-config').textContent).user")
    for id, title, when in [("leap", "Leap second", "2016-12-31T23:59:60Z"),
                            ("after", "After it", "2026-11-28T10:00:00Z")]:
        status, _ = http(tessera_server, "/_tessera/events",
                         cloudevent(id=id, user=user, time=when, data={"title": title}), AUTH)
        assert status == 202  # a leap second is RFC 3339; `new Date()` calls it an Invalid Date
    page.wait_for_function(
        "() => document.querySelector('tessera-fragment[name=header] .header-badge').textContent === '2'")
    page.locator("tessera-fragment[name=header] [data-action=toggle]").click()
    header = page.locator("tessera-fragment[name=header]")
    assert header.get_by_text("Leap second").is_visible() and header.get_by_text("After it").is_visible()
    errors = [line for line in page.tessera_console if line.startswith(("error", "pageerror"))]
    assert errors == []
