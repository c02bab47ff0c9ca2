"""The Broker contract: every broker (memory today, Redis next) must pass these same tests."""

import threading

import pytest

from tessera.brokers import Envelope, MemoryBroker, open_broker
from tessera.brokers.base import BrokerError
from tessera.events import Event

BROKERS = {"memory": lambda history: MemoryBroker(history=history)}


@pytest.fixture(params=sorted(BROKERS))
def make_broker(request):
    made = []

    def make(history=100):
        broker = BROKERS[request.param](history)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()


def envelope(n, **routing):
    return Envelope(Event(type="test.event", data=n, id=f"e{n}"), **routing)


def test_seq_increases_from_one_and_events_carry_seq_and_epoch(make_broker):
    broker = make_broker()
    got = []
    broker.listen(got.append)
    assert broker.position() == 0
    assert [broker.publish(envelope(n)).seq for n in range(3)] == [1, 2, 3]
    assert [(e.event.seq, e.event.epoch) for e in got] == [(1, broker.epoch), (2, broker.epoch), (3, broker.epoch)]
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


def test_duplicate_ids_are_not_stored_twice(make_broker):
    broker = make_broker()
    got = []
    broker.listen(got.append)
    first = broker.publish(envelope(1))
    again = broker.publish(envelope(1))
    assert (again.seq, again.duplicate, first.duplicate) == (first.seq, True, False)
    assert len(got) == 1 and broker.position() == 1


def test_stopped_listeners_hear_nothing_more(make_broker):
    broker = make_broker()
    got = []
    stop = broker.listen(got.append)
    broker.publish(envelope(1))
    stop()
    broker.publish(envelope(2))
    assert [e.event.data for e in got] == [1]


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
    assert got == list(range(1, 2001))


def test_health_says_ok(make_broker):
    assert make_broker().health()["ok"] is True


def test_unknown_broker_url_is_a_clear_error():
    with pytest.raises(BrokerError, match="unknown scheme"):
        open_broker("kafka://localhost", history=10)
