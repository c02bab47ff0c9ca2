"""CloudEvents envelopes: what Event accepts from outside and what it sends."""

import pytest

from tessera.events import Event, EventError


def valid(**overrides):
    body = {"specversion": "1.0", "id": "e1", "type": "cart.item.added", "source": "/fragments/cart",
            "time": "2026-11-28T10:00:00Z", "data": {"sku": "x"}}
    body.update(overrides)
    return body


def test_round_trip_keeps_cloudevents_fields():
    event = Event.from_dict(valid(), user="alice")
    assert event.user == "alice"
    assert event.to_dict() == valid()


def test_seq_and_epoch_are_sent_once_assigned():
    event = Event(type="a.b", seq=3, epoch="ep")
    assert event.to_dict()["seq"] == 3 and event.to_dict()["epoch"] == "ep"
    assert "seq" not in Event(type="a.b").to_dict()


def test_new_events_have_unique_ids_and_rfc3339_times():
    first, second = Event(type="a"), Event(type="a")
    assert first.id != second.id
    assert first.time.endswith("Z") and "T" in first.time


def test_missing_time_is_filled_in():
    body = valid()
    del body["time"]
    assert Event.from_dict(body).time.endswith("Z")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"specversion": "0.3"}, '"specversion" must be "1.0"'),
    ({"id": ""}, '"id" must be a non-empty string'),
    ({"type": "cart item"}, '"type"'),
    ({"source": 7}, '"source" must be a non-empty string'),
    ({"time": "yesterday"}, "not RFC 3339"),
])
def test_invalid_fields_are_named(overrides, message):
    with pytest.raises(EventError, match=message):
        Event.from_dict(valid(**overrides))


@pytest.mark.parametrize("missing", ["specversion", "id", "type", "source"])
def test_required_fields(missing):
    body = valid()
    del body[missing]
    with pytest.raises(EventError, match=f'"{missing}" is missing'):
        Event.from_dict(body)


def test_non_object_is_rejected():
    with pytest.raises(EventError, match="JSON object"):
        Event.from_dict(["not", "an", "event"])


def test_optional_and_extension_attributes_round_trip_unchanged():
    body = valid(subject="sku-1", datacontenttype="application/json", dataschema="https://x.example/item.json",
                 traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", priority=3, urgent=False)
    event = Event.from_dict(body)
    assert (event.subject, event.datacontenttype, event.dataschema) == ("sku-1", "application/json",
                                                                        "https://x.example/item.json")
    assert event.extensions == {"traceparent": body["traceparent"], "priority": 3, "urgent": False}
    assert event.to_dict() == body


def test_null_optional_attributes_are_absent():
    event = Event.from_dict(valid(subject=None, traceparent=None))
    assert event.subject is None and event.extensions == {}
    assert "subject" not in event.to_dict() and "traceparent" not in event.to_dict()


def test_binary_data_is_bytes_in_python_and_data_base64_on_the_wire():
    body = valid(data_base64="AAH/")
    del body["data"]
    event = Event.from_dict(body)
    assert event.data == b"\x00\x01\xff"
    assert event.to_dict() == body


def test_seq_epoch_and_user_given_from_outside_are_not_attributes():
    event = Event.from_dict(valid(seq=5, epoch="forged", user="mallory"), user="alice")
    assert (event.seq, event.epoch, event.user, event.extensions) == (None, None, "alice", {})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"Upper": 1}, "lowercase letters and digits"),
    ({"with-dash": 1}, "lowercase letters and digits"),
    ({"ratio": 0.5}, "32-bit integer"),
    ({"big": 2**31}, "32-bit integer"),
    ({"nested": {}}, "32-bit integer"),
    ({"subject": ""}, '"subject" must be a non-empty string'),
    ({"datacontenttype": 7}, '"datacontenttype" must be a non-empty string'),
    ({"data_base64": "AAAA"}, '"data" or "data_base64", not both'),
])
def test_malformed_attributes_are_named(overrides, message):
    with pytest.raises(EventError, match=message):
        Event.from_dict(valid(**overrides))


@pytest.mark.parametrize("encoded", ["A", "not base64!", 7, ["AAAA"]])
def test_data_base64_must_be_base64(encoded):
    body = valid(data_base64=encoded)
    del body["data"]
    with pytest.raises(EventError, match="must be a base64 string"):
        Event.from_dict(body)


def test_an_event_placed_in_the_stream_is_a_copy_with_its_position_and_nothing_else_changed():
    """``Event.placed`` lists the fields itself (for speed): it must stay ``dataclasses.replace``."""
    import dataclasses

    event = Event(type="a.b", data={"x": [1]}, source="/s", id="i", time="2026-01-01T00:00:00Z", user="u",
                  subject="sub", datacontenttype="application/json", dataschema="https://s", extensions={"e": 1})
    assert {f.name for f in dataclasses.fields(Event)} == {
        "type", "data", "source", "id", "time", "seq", "epoch", "user", "subject", "datacontenttype", "dataschema",
        "extensions"}, "a field was added: add it to Event.placed too"
    for field in dataclasses.fields(Event):  # every field distinct, so a swapped pair would show
        assert getattr(event.placed(7, "ep"), field.name) == getattr(dataclasses.replace(event, seq=7, epoch="ep"),
                                                                     field.name)
