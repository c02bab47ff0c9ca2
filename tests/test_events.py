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
