"""The Broker contract: every broker (memory, Redis) must pass these same tests.

Listeners may be called in the publisher's thread (memory) or later by the broker's own
reader (Redis), so tests wait for what they expect, and prove that nothing else arrives by
waiting for a sentinel published after it.
"""

import threading
import time
from dataclasses import replace

import pytest
from redis_support import redis_keys, redis_url  # noqa: F401 (fixtures)

from tessera.brokers import Envelope, MemoryBroker, open_broker
from tessera.brokers.base import BrokerError, idempotency_key
from tessera.events import Event

def _redis_broker(history, keys):
    from tessera.brokers.redis import RedisBroker

    return RedisBroker(keys.url, history=history, prefix=keys.prefix)


# name -> (fixture giving where it keeps its data or None, broker factory (history, place))
BROKERS = {
    "memory": (None, lambda history, place: MemoryBroker(history=history)),
    "redis": ("redis_keys", _redis_broker),  # a key prefix of its own on the test Redis
}


@pytest.fixture(params=sorted(BROKERS))
def make_broker(request):
    place_fixture, factory = BROKERS[request.param]
    place = request.getfixturevalue(place_fixture) if place_fixture else None  # torn down after the brokers
    made = []

    def make(history=100):
        broker = factory(history, place)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()


def envelope(n, **routing):
    return Envelope(Event(type="test.event", data=n, id=f"e{n}"), **routing)


def received(got, count, timeout=10.0):
    """``got`` once it holds ``count`` items (fail after ``timeout`` seconds, saying what came)."""
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, f"expected {count} deliveries, got {len(got)}: {got[-5:]}"
        time.sleep(0.002)
    return got


def test_seq_increases_from_one_and_events_carry_seq_and_epoch(make_broker):
    broker = make_broker()
    got = []
    broker.listen(got.append)
    assert broker.position() == 0
    assert [broker.publish(envelope(n)).seq for n in range(3)] == [1, 2, 3]
    assert [(e.event.seq, e.event.epoch) for e in received(got, 3)] == [(n, broker.epoch) for n in (1, 2, 3)]
    assert broker.position() == 3


def test_routing_is_kept(make_broker):
    broker = make_broker()
    broker.publish(envelope(1, scope="user", origin="page-1"))
    stored = broker.since(broker.epoch, 0)[0]
    assert (stored.scope, stored.origin, stored.event.data) == ("user", "page-1", 1)


def test_since_returns_what_came_after_a_position_in_order(make_broker):
    broker = make_broker()
    for n in range(5):
        broker.publish(envelope(n))
    assert [e.event.seq for e in broker.since(broker.epoch, 2)] == [3, 4, 5]
    assert broker.since(broker.epoch, 5) == []


def test_since_refuses_a_gap_history_no_longer_covers(make_broker):
    broker = make_broker(history=3)
    for n in range(6):
        broker.publish(envelope(n))
    assert broker.since(broker.epoch, 2) is None
    assert [e.event.seq for e in broker.since(broker.epoch, 3)] == [4, 5, 6]


def test_since_refuses_another_epoch_or_a_future_position(make_broker):
    broker = make_broker()
    broker.publish(envelope(1))
    assert broker.since("another-epoch", 0) is None
    assert broker.since(broker.epoch, 9) is None


def test_a_repeated_key_is_a_duplicate_and_not_stored_twice(make_broker):
    broker = make_broker()
    got = []
    broker.listen(got.append)
    first = broker.publish(envelope(1))
    again = broker.publish(envelope(1))
    assert (again.seq, again.duplicate, first.duplicate) == (first.seq, True, False)
    broker.publish(envelope(2))  # the sentinel
    assert [e.event.data for e in received(got, 2)] == [1, 2] and broker.position() == 2


def test_duplicates_are_found_by_key_not_by_id(make_broker):
    broker = make_broker()
    event = Event(type="test.event", id="7")
    alice = broker.publish(Envelope(event, key=idempotency_key("page", "alice", "/shell", "7")))
    bob = broker.publish(Envelope(event, key=idempotency_key("page", "bob", "/shell", "7")))
    bob_again = broker.publish(Envelope(event, key=idempotency_key("page", "bob", "/shell", "7")))
    assert (alice.duplicate, bob.duplicate) == (False, False) and alice.seq != bob.seq
    assert (bob_again.duplicate, bob_again.seq) == (True, bob.seq)


def test_without_a_key_the_cloudevents_identity_source_and_id_is_the_key(make_broker):
    broker = make_broker()
    billing = broker.publish(Envelope(Event(type="test.event", id="7", source="/billing")))
    shipping = broker.publish(Envelope(Event(type="test.event", id="7", source="/shipping")))
    again = broker.publish(Envelope(Event(type="test.event", id="7", source="/shipping", data="retry")))
    assert (billing.duplicate, shipping.duplicate, again.duplicate) == (False, False, True)
    assert [e.event.source for e in broker.since(broker.epoch, 0)] == ["/billing", "/shipping"]


def test_keys_are_plain_fixed_length_strings_that_keep_their_parts_apart():
    key = idempotency_key("event", "/billing", "x" * 10_000)
    assert isinstance(key, str) and len(key) == 64  # what a shared broker stores: SET key seq NX EX window
    assert idempotency_key("event", "/a", "b/c") != idempotency_key("event", "/a/b", "c")
    assert idempotency_key("page", "alice", "/shell", "7") != idempotency_key("page", "bob", "/shell", "7")


def test_stopped_listeners_hear_nothing_more(make_broker):
    broker = make_broker()
    got, still = [], []
    stop = broker.listen(got.append)
    broker.listen(still.append)
    broker.publish(envelope(1))
    received(got, 1)
    stop()
    broker.publish(envelope(2))
    received(still, 2)
    assert [e.event.data for e in got] == [1]


def test_every_listener_hears_every_event_once_in_order(make_broker):
    broker = make_broker()
    first, second = [], []
    broker.listen(first.append)
    broker.listen(second.append)
    for n in range(5):
        broker.publish(envelope(n))
    broker.publish(envelope(5))  # the sentinel
    assert [e.event.seq for e in received(first, 6)] == [e.event.seq for e in received(second, 6)] == [*range(1, 7)]


def test_a_failing_listener_is_logged_and_keeps_no_event_from_the_others(make_broker, caplog):
    broker = make_broker()

    def broken(envelope):
        raise RuntimeError("a broken listener")

    got = []
    broker.listen(broken)
    broker.listen(got.append)
    assert broker.publish(envelope(1)).seq == 1  # the publisher does not see the listener's failure
    broker.publish(envelope(2))
    assert [e.event.data for e in received(got, 2)] == [1, 2]
    assert "a listener failed" in caplog.text


def test_an_event_comes_back_as_it_went_in(make_broker):
    broker = make_broker()
    text = Event(type="test.event", data={"list": [1, "two", None], "text": "é\u2028"}, source="/billing",
                 id="x1", time="2026-01-01T00:00:00.000Z", user="alice")
    binary = Event(type="test.event", data=b"\x00\xffbytes", id="x2")
    for event in (text, binary):
        broker.publish(Envelope(event, scope="user", origin="page-9", key=f"key-{event.id}"))
    stored = broker.since(broker.epoch, 0)
    assert [s.event for s in stored] == [replace(e, seq=n, epoch=broker.epoch) for n, e in ((1, text), (2, binary))]
    assert [(s.scope, s.origin, s.key) for s in stored] == [("user", "page-9", "key-x1"), ("user", "page-9", "key-x2")]


def test_concurrent_publishers_get_distinct_seqs_and_listeners_see_them_in_order(make_broker):
    broker = make_broker(history=10_000)
    got = []
    broker.listen(lambda e: got.append(e.event.seq))

    def publish_many(base):
        for n in range(500):
            broker.publish(envelope(base + n))

    threads = [threading.Thread(target=publish_many, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert received(got, 2000) == list(range(1, 2001))


def test_health_says_ok(make_broker):
    assert make_broker().health()["ok"] is True


def test_unknown_broker_url_is_a_clear_error():
    with pytest.raises(BrokerError, match="unknown scheme"):
        open_broker("kafka://localhost", history=10)
