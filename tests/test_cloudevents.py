"""POST /_tessera/events speaks the CloudEvents HTTP binding, with the CloudEvents SDK as the producer.

Structured, binary and batched modes; every optional and extension attribute reaches pages and
Python subscribers unchanged (mirror_app records what Python gets), and what they receive
parses with the SDK again.
"""

import base64
import http.client as http_client
import json
import time

import pytest

from live import TOKEN, http

try:  # cloudevents 2.x keeps the 1.x API under cloudevents.v1
    from cloudevents.v1 import conversion
    from cloudevents.v1.http import CloudEvent, from_dict, from_json
except ImportError:  # cloudevents 1.x
    from cloudevents import conversion
    from cloudevents.http import CloudEvent, from_dict, from_json

AUTH = {"Authorization": f"Bearer {TOKEN}"}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# every optional attribute, and extensions of each CloudEvents type the JSON format carries
ATTRIBUTES = {
    "subject": "invoice/2026-117",
    "dataschema": "https://billing.example/schemas/invoice.json",
    "datacontenttype": "application/json",
    "traceparent": TRACEPARENT,
    "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    "partitionkey": "customer-42",
    "comexampleextension1": "value",
}
TYPED_EXTENSIONS = {"priority": 3, "urgent": True}  # Integer and Boolean (structured mode only: headers are text)


def sdk_event(id, type="ce.invoice", data=None, **attributes):
    return CloudEvent({"type": type, "source": "/billing", "id": id, "time": "2026-11-28T10:00:00.123456+00:00",
                       **attributes}, {"total": 12.5} if data is None else data)


def post_exactly(server, headers, body):
    """POST /_tessera/events with these headers and no others (urllib would add a Content-Type)."""
    connection = http_client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("POST", "/_tessera/events", body=body, headers=AUTH | headers)
    response = connection.getresponse()
    answer = json.loads(response.read() or b"null")
    connection.close()
    return response.status, answer


def python_saw(server, id, count=1):
    """What mirror_app's Python subscriber recorded for events of this ``id`` (waits until it has them)."""
    deadline = time.monotonic() + 5
    while True:
        status, seen = http(server, f"/test/attributes/{id}")
        if len(seen) >= count or time.monotonic() > deadline:
            return seen
        time.sleep(0.02)


def without_stream_position(event):
    assert isinstance(event["seq"], int) and event["epoch"]
    return {name: value for name, value in event.items() if name not in ("seq", "epoch")}


def sdk_attributes(event):
    """The attributes the SDK reads from ``event`` (data aside)."""
    return {name: value for name, value in conversion.to_dict(event).items() if name != "data"}


@pytest.fixture
def alice(connect):
    page = connect("alice")
    page.join(["ce.>", "demo.>"])
    return page


# -- structured mode ----------------------------------------------------------------------------

def test_a_structured_sdk_event_reaches_pages_with_every_attribute_unchanged(server, alice):
    sent = sdk_event("st-1", **ATTRIBUTES, **TYPED_EXTENSIONS)
    headers, body = conversion.to_structured(sent)
    status, answer = post_exactly(server, headers, body)
    assert (status, answer["id"], answer["duplicate"]) == (202, "st-1", False)
    received = alice.events(1)[0]
    assert without_stream_position(received) == json.loads(body)
    assert received["seq"] == answer["seq"]
    parsed = from_dict(received)
    assert sdk_attributes(parsed) == sdk_attributes(sent) | {"seq": received["seq"], "epoch": received["epoch"]}
    assert parsed.data == {"total": 12.5}


def test_python_subscribers_get_every_attribute_on_the_event(server, alice):
    sent = sdk_event("st-py", **ATTRIBUTES, **TYPED_EXTENSIONS, user="alice")
    assert post_exactly(server, *conversion.to_structured(sent))[0] == 202
    received = alice.events(1)[0]
    [event] = python_saw(server, "st-py")
    assert {name: event[name] for name in ("id", "type", "source", "time", "subject", "dataschema",
                                           "datacontenttype", "data", "user")} == {
        "id": "st-py", "type": "ce.invoice", "source": "/billing", "time": "2026-11-28T10:00:00.123456+00:00",
        "subject": ATTRIBUTES["subject"], "dataschema": ATTRIBUTES["dataschema"],
        "datacontenttype": "application/json", "data": {"total": 12.5}, "user": "alice"}
    assert event["extensions"] == {"traceparent": TRACEPARENT, "tracestate": ATTRIBUTES["tracestate"],
                                   "partitionkey": "customer-42", "comexampleextension1": "value",
                                   "priority": 3, "urgent": True}
    assert (event["seq"], event["epoch"]) == (received["seq"], received["epoch"])
    assert event["to_dict"] == received  # Event.to_dict() is what pages get
    assert sdk_attributes(from_dict(event["to_dict"]))["traceparent"] == TRACEPARENT


def test_a_json_body_without_ce_headers_is_a_structured_event(server, alice):
    event = {"specversion": "1.0", "id": "st-json", "type": "ce.invoice", "source": "/billing",
             "subject": "x", "traceparent": TRACEPARENT, "data": [1, 2]}
    assert http(server, "/_tessera/events", event, AUTH | {"Content-Type": "application/json"})[0] == 202
    received = alice.events(1)[0]
    assert {name: received[name] for name in event} == event


# -- binary mode ----------------------------------------------------------------------------------

def test_a_binary_sdk_event_reaches_pages_and_python_with_every_attribute(server, alice):
    sent = sdk_event("bin-1", **ATTRIBUTES)
    headers, body = conversion.to_binary(sent)
    assert headers["content-type"] == "application/json" and "ce-traceparent" in headers
    status, answer = post_exactly(server, headers, body)
    assert (status, answer["id"]) == (202, "bin-1")
    received = alice.events(1)[0]
    assert without_stream_position(received) == conversion.to_dict(sent)
    assert sdk_attributes(from_dict(received)) == sdk_attributes(sent) | {"seq": received["seq"],
                                                                           "epoch": received["epoch"]}
    [event] = python_saw(server, "bin-1")
    assert (event["subject"], event["dataschema"], event["data"]) == (ATTRIBUTES["subject"],
                                                                      ATTRIBUTES["dataschema"], {"total": 12.5})
    assert event["extensions"]["traceparent"] == TRACEPARENT


def test_binary_mode_without_a_content_type_reads_the_body_as_json_data(server, alice):
    headers, body = conversion.to_binary(sdk_event("bin-untyped"))
    assert "content-type" not in headers  # what the SDK sends for a dict without datacontenttype
    assert post_exactly(server, headers, body)[0] == 202
    received = alice.events(1)[0]
    assert received["data"] == {"total": 12.5} and "datacontenttype" not in received


def test_binary_mode_ignores_an_event_shaped_body_it_is_the_data(server, alice):
    looks_like_an_event = {"specversion": "1.0", "id": "body-id", "type": "ce.other", "source": "/body"}
    headers = {"ce-specversion": "1.0", "ce-id": "bin-body", "ce-type": "ce.invoice", "ce-source": "/billing",
               "Content-Type": "application/json"}
    assert post_exactly(server, headers, json.dumps(looks_like_an_event))[0] == 202
    received = alice.events(1)[0]
    assert (received["id"], received["type"], received["data"]) == ("bin-body", "ce.invoice", looks_like_an_event)


def test_binary_header_values_are_percent_decoded(server, alice):
    headers = {"ce-specversion": "1.0", "ce-id": "bin-%C3%A9", "ce-type": "ce.invoice", "ce-source": "/billing",
               "ce-subject": "caf%C3%A9%20cr%C3%A8me", "Content-Type": "application/json"}
    assert post_exactly(server, headers, b"1")[0] == 202
    received = alice.events(1)[0]
    assert (received["id"], received["subject"]) == ("bin-é", "café crème")


def test_binary_text_data_is_carried_as_text_with_its_content_type(server, alice):
    headers = {"ce-specversion": "1.0", "ce-id": "bin-text", "ce-type": "ce.invoice", "ce-source": "/billing",
               "Content-Type": "text/plain; charset=utf-8"}
    assert post_exactly(server, headers, "Grüße".encode())[0] == 202
    received = alice.events(1)[0]
    assert (received["data"], received["datacontenttype"]) == ("Grüße", "text/plain; charset=utf-8")


@pytest.mark.parametrize(("headers", "reason"), [
    ({"ce-id": "b", "ce-type": "ce.invoice", "ce-source": "/billing"}, '"specversion" is missing'),
    ({"ce-specversion": "1.0", "ce-type": "ce.invoice", "ce-source": "/billing"}, '"id" is missing'),
    ({"ce-specversion": "1.0", "ce-id": "b", "ce-type": "ce.invoice", "ce-source": "/billing",
      "ce-time": "2024-05-01"}, "RFC 3339"),
    ({"ce-specversion": "1.0", "ce-id": "b", "ce-type": "ce.invoice", "ce-source": "/billing",
      "ce-Bad-Name": "x"}, "lowercase letters and digits"),
    ({"ce-specversion": "1.0", "ce-id": "b", "ce-type": "ce.invoice", "ce-source": "/billing",
      "ce-subject": "%FF"}, "not UTF-8"),
])
def test_binary_mode_refusals_name_what_is_wrong(server, headers, reason):
    status, answer = post_exactly(server, headers | {"Content-Type": "application/json"}, b"{}")
    assert (status, answer["error"]) == (400, "invalid") and reason in answer["reason"]


def test_a_binary_event_with_a_non_json_body_for_a_json_type_is_refused(server):
    headers = {"ce-specversion": "1.0", "ce-id": "b", "ce-type": "ce.invoice", "ce-source": "/billing",
               "Content-Type": "application/json"}
    status, answer = post_exactly(server, headers, b"{not json")
    assert (status, answer["error"]) == (400, "invalid") and "body" in answer["reason"]


# -- binary data (data_base64) ----------------------------------------------------------------------

BLOB = bytes(range(256))


def test_binary_data_from_the_sdk_is_carried_as_data_base64(server, alice):
    sent = sdk_event("b64-structured", data=BLOB, datacontenttype="application/octet-stream")
    headers, body = conversion.to_structured(sent)
    assert "data_base64" in json.loads(body)
    assert post_exactly(server, headers, body)[0] == 202
    received = alice.events(1)[0]
    assert received["data_base64"] == base64.b64encode(BLOB).decode() and "data" not in received
    assert from_json(json.dumps(received)).data == BLOB
    [event] = python_saw(server, "b64-structured")
    assert event["data"] == {"base64": base64.b64encode(BLOB).decode()}  # Python's event.data is the bytes


def test_a_binary_mode_body_of_another_media_type_is_carried_as_bytes(server, alice):
    headers, body = conversion.to_binary(sdk_event("b64-binary", data=BLOB, datacontenttype="image/png"))
    assert post_exactly(server, headers, body)[0] == 202
    received = alice.events(1)[0]
    assert (received["datacontenttype"], from_json(json.dumps(received)).data) == ("image/png", BLOB)


@pytest.mark.parametrize("extra", [{"data_base64": "not base64!"}, {"data_base64": 7},
                                   {"data_base64": "AAE=", "data": 1}])
def test_bad_data_base64_is_refused(server, extra):
    event = {"specversion": "1.0", "id": "b64-bad", "type": "ce.invoice", "source": "/billing", **extra}
    status, answer = http(server, "/_tessera/events", event, AUTH | {"Content-Type": "application/cloudevents+json"})
    assert (status, answer["error"]) == (400, "invalid") and "data" in answer["reason"]


# -- batched mode -------------------------------------------------------------------------------------

def batch(*events):
    return json.dumps([json.loads(conversion.to_structured(event)[1]) for event in events]).encode()


BATCH = {"Content-Type": "application/cloudevents-batch+json"}


def test_a_batch_is_published_in_order_and_answered_with_each_id_and_seq(server, alice):
    events = [sdk_event(f"batch-{n}", subject=f"s{n}", traceparent=TRACEPARENT) for n in range(3)]
    status, answer = post_exactly(server, BATCH, batch(*events))
    assert status == 202
    assert [a["id"] for a in answer] == ["batch-0", "batch-1", "batch-2"]
    assert [a["seq"] for a in answer] == sorted(a["seq"] for a in answer) and len({a["seq"] for a in answer}) == 3
    received = alice.events(3)
    assert [(e["id"], e["seq"], e["subject"], e["traceparent"]) for e in received] == [
        (f"batch-{n}", answer[n]["seq"], f"s{n}", TRACEPARENT) for n in range(3)]


def test_a_batch_is_admitted_all_or_nothing_and_names_the_event_refused(server, alice):
    good, bad = sdk_event("all-or-none-0"), sdk_event("all-or-none-1", type="tessera.resync")
    status, answer = post_exactly(server, BATCH, batch(good, bad, sdk_event("all-or-none-2")))
    assert (status, answer["error"], answer["index"]) == (400, "forbidden", 1)
    assert "event 1" in answer["reason"]
    assert post_exactly(server, *conversion.to_structured(sdk_event("all-or-none-sentinel")))[0] == 202
    assert [e["id"] for e in alice.events(1)] == ["all-or-none-sentinel"]


@pytest.mark.parametrize(("body", "reason"), [(b'{"specversion": "1.0"}', "JSON array"), (b"[1", "not JSON")])
def test_a_batch_must_be_a_json_array(server, body, reason):
    status, answer = post_exactly(server, BATCH, body)
    assert (status, answer["error"]) == (400, "invalid") and reason in answer["reason"]


def test_an_empty_batch_publishes_nothing(server):
    assert post_exactly(server, BATCH, b"[]") == (202, [])


def test_a_batch_event_addressed_to_a_user_reaches_only_that_user(server, connect):
    alice, bob = connect("alice"), connect("bob")
    for page in (alice, bob):
        page.join(["ce.>"])
    status, _ = post_exactly(server, BATCH, batch(sdk_event("batch-alice", user="alice"), sdk_event("batch-all")))
    assert status == 202
    assert [e["id"] for e in alice.events(2)] == ["batch-alice", "batch-all"]
    assert [e["id"] for e in bob.events(1)] == ["batch-all"]


# -- user addressing, in every mode ----------------------------------------------------------------------

def test_ce_user_addresses_one_users_pages(server, connect):
    alice, bob = connect("alice"), connect("bob")
    for page in (alice, bob):
        page.join(["ce.>"])
    headers, body = conversion.to_binary(sdk_event("bin-alice", user="alice"))
    assert headers["ce-user"] == "alice"
    assert post_exactly(server, headers, body)[0] == 202
    assert post_exactly(server, *conversion.to_binary(sdk_event("bin-everyone")))[0] == 202
    assert [e["id"] for e in alice.events(2)] == ["bin-alice", "bin-everyone"]
    assert [e["id"] for e in bob.events(1)] == ["bin-everyone"]
    assert "user" not in python_saw(server, "bin-alice")[0]["to_dict"]  # routing, not an attribute
    assert python_saw(server, "bin-alice")[0]["user"] == "alice"


@pytest.mark.parametrize("mode", ["structured", "binary", "batch"])
def test_a_user_scoped_topic_without_a_user_is_a_400_in_every_mode(server, mode):
    event = sdk_event(f"scoped-{mode}", type="demo.ping", data={"n": 1})
    if mode == "batch":
        status, answer = post_exactly(server, BATCH, batch(event))
    else:
        status, answer = post_exactly(server, *getattr(conversion, f"to_{mode}")(event))
    assert (status, answer["error"]) == (400, "invalid") and "address it to a user" in answer["reason"]


# -- media types -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/xml", "text/plain", "application/cloudevents+xml",
                                          "application/cloudevents-batch+xml", "multipart/form-data"])
def test_other_media_types_without_ce_headers_are_415(server, content_type):
    status, answer = post_exactly(server, {"Content-Type": content_type}, json.dumps(
        {"specversion": "1.0", "id": "m", "type": "ce.invoice", "source": "/billing"}))
    assert (status, answer["error"]) == (415, "unsupported_media_type") and answer["reason"]


# -- pages send attributes too ------------------------------------------------------------------------------

def test_pages_may_send_optional_and_extension_attributes_and_others_get_them(server, connect):
    sender, other_tab = connect("alice"), connect("alice")
    sender.join([])
    other_tab.join(["demo.>"])
    event = {"specversion": "1.0", "id": "page-attrs", "type": "demo.shout", "source": "/shell",
             "time": "2026-11-28T10:00:00Z", "subject": "greeting", "dataschema": "https://shop.example/shout",
             "datacontenttype": "application/json", "traceparent": TRACEPARENT, "retries": 2, "data": "hi"}
    sender.send({"type": "publish", "event": event})
    assert sender.expect("ack")["duplicate"] is False
    received = other_tab.events(1)[0]
    assert without_stream_position(received) == event
    assert sdk_attributes(from_dict(received))["traceparent"] == TRACEPARENT
    [python] = python_saw(server, "page-attrs")
    assert (python["subject"], python["extensions"], python["user"]) == ("greeting",
                                                                         {"traceparent": TRACEPARENT, "retries": 2},
                                                                         "alice")


@pytest.mark.parametrize(("attribute", "value"), [
    ("Traceparent", "x"), ("trace_parent", "x"), ("a" * 65, "x"), ("ratio", 0.5), ("big", 2**31),
    ("nested", {"a": 1}), ("list", [1]), ("subject", ""), ("subject", 7), ("dataschema", ["x"]),
])
def test_malformed_attributes_are_refused_from_pages_and_backends(server, connect, attribute, value):
    event = {"specversion": "1.0", "id": f"bad-{attribute[:10]}", "type": "demo.shout", "source": "/shell",
             "data": 1, attribute: value}
    page = connect("alice")
    page.join([])
    page.send({"type": "publish", "event": event})
    assert page.expect("error")["code"] == "invalid"
    status, answer = http(server, "/_tessera/events", event, AUTH | {"Content-Type": "application/json"})
    assert (status, answer["error"]) == (400, "invalid")


def test_given_seq_and_epoch_are_replaced_by_the_servers(server, alice):
    event = {"specversion": "1.0", "id": "restamped", "type": "ce.invoice", "source": "/billing",
             "seq": 999999, "epoch": "forged"}
    status, answer = http(server, "/_tessera/events", event, AUTH | {"Content-Type": "application/json"})
    received = alice.events(1)[0]
    assert status == 202 and (received["seq"], received["epoch"]) == (answer["seq"], alice.welcome["epoch"])
