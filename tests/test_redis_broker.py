"""What only the Redis broker does: several instances share one stream, history and epoch live
in Redis, and an outage is survived without re-creating the broker.

The broker contract itself (tests/test_broker.py) runs on Redis too.
"""

import threading
import time

import pytest
from redis_support import RedisServer, redis_keys, redis_url, spare_port  # noqa: F401 (fixtures)
from test_broker import envelope, received

from tessera.brokers import BrokerError, open_broker
from tessera.brokers.redis import MIN_KEPT, RedisBroker


@pytest.fixture
def open_redis(redis_keys):
    """open_redis(history=100, url=None) -> a RedisBroker on this test's prefix; closed after the test."""
    made = []

    def make(history=100, url=None):
        broker = RedisBroker(url or redis_keys.url, history=history, prefix=redis_keys.prefix)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()


def seqs(got):
    return [e.event.seq for e in got]


def wait_until(condition, timeout=10.0, message="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.01)


# -- several instances -------------------------------------------------------------------------
def test_two_instances_behave_as_one_each_listener_sees_every_event_once_in_order(open_redis):
    a, b = open_redis(), open_redis()
    got_a, got_b = [], []
    a.listen(got_a.append)
    b.listen(got_b.append)

    def publish_from(broker, base):
        for n in range(150):
            broker.publish(envelope(base + n))

    threads = [threading.Thread(target=publish_from, args=args) for args in ((a, 0), (b, 1000))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    a.publish(envelope(9999))  # the sentinel
    assert seqs(received(got_a, 301)) == seqs(received(got_b, 301)) == list(range(1, 302))
    assert [e.event.id for e in got_a] == [e.event.id for e in got_b]
    assert a.epoch == b.epoch == got_a[0].event.epoch and a.position() == b.position() == 301


def test_a_key_stored_by_one_instance_is_a_duplicate_on_another(open_redis):
    a, b = open_redis(), open_redis()
    got = []
    b.listen(got.append)
    first = a.publish(envelope(1))
    again = b.publish(envelope(1))
    assert (again.duplicate, again.seq) == (True, first.seq)
    b.publish(envelope(2))  # the sentinel
    assert [e.event.data for e in received(got, 2)] == [1, 2]


def test_instances_racing_with_one_key_store_it_once(open_redis):
    a, b = open_redis(history=200), open_redis(history=200)
    results = {a: [], b: []}
    start = threading.Barrier(2)

    def publish_all(broker):
        start.wait()
        results[broker] = [broker.publish(envelope(n)) for n in range(200)]

    threads = [threading.Thread(target=publish_all, args=(broker,)) for broker in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for from_a, from_b in zip(results[a], results[b]):
        assert from_a.seq == from_b.seq and from_a.duplicate != from_b.duplicate
    assert a.position() == 200 and [e.event.data for e in a.since(a.epoch, 0)] == list(range(200))


# -- history and epoch ---------------------------------------------------------------------------
def test_history_is_trimmed_to_history(open_redis, redis_keys):
    broker = open_redis(history=MIN_KEPT)
    for n in range(MIN_KEPT + 300):
        broker.publish(envelope(n))
    with redis_keys.client() as client:
        kept = client.xlen(f"{redis_keys.prefix}stream")
    assert MIN_KEPT <= kept < MIN_KEPT + 300  # MAXLEN ~: whole nodes are trimmed, the newest kept
    assert broker.since(broker.epoch, 299) is None
    assert seqs(broker.since(broker.epoch, 300)) == list(range(301, MIN_KEPT + 301))


def test_history_and_epoch_survive_a_new_broker_instance(open_redis):
    before = open_redis()
    for n in range(3):
        before.publish(envelope(n))
    epoch = before.epoch
    before.close()
    after = open_redis()
    got = []
    after.listen(got.append)
    assert (after.epoch, after.position()) == (epoch, 3)
    assert seqs(after.since(epoch, 1)) == [2, 3]
    assert after.publish(envelope(3)).seq == 4
    assert seqs(received(got, 1)) == [4]  # a new instance delivers from where the stream is, not from its start


def test_a_lost_stream_gives_a_new_epoch_and_listeners_follow_it(open_redis, redis_keys):
    a, b = open_redis(), open_redis()
    got = []
    a.listen(got.append)
    for n in range(3):
        a.publish(envelope(n))
    received(got, 3)
    old = a.epoch
    redis_keys.lose_everything()  # Redis restarted without persistence
    assert [b.publish(envelope(10 + n)).seq for n in range(5)] == [1, 2, 3, 4, 5]
    assert b.epoch != old and a.position() == 5 and a.epoch == b.epoch
    assert a.since(old, 3) is None and a.since(old, 0) is None
    assert [(e.event.epoch, e.event.seq) for e in received(got, 8)[3:]] == [(b.epoch, n) for n in range(1, 6)]


# -- URLs, health, listeners --------------------------------------------------------------------
def test_an_unreachable_redis_is_one_line_naming_the_url_without_its_password():
    url = f"redis://:s3cret@127.0.0.1:{spare_port()}/0"
    with pytest.raises(BrokerError) as raised:
        open_broker(url, history=10)
    message = str(raised.value)
    assert "\n" not in message and "s3cret" not in message
    assert url.replace("s3cret", "***") in message and "cannot reach Redis" in message


def test_a_database_that_is_not_a_number_is_refused():
    with pytest.raises(BrokerError, match="must be a database number"):
        open_broker("redis://127.0.0.1:6379/cache", history=10)


def test_an_unknown_url_option_is_refused_in_one_line(redis_keys):
    with pytest.raises(BrokerError, match="an option of the URL is not a Redis connection option"):
        open_broker(f"{redis_keys.url}?colour=red&prefix={redis_keys.prefix}", history=10)


def test_the_url_may_name_the_key_prefix(redis_keys):
    broker = open_broker(f"{redis_keys.url}?prefix={redis_keys.prefix}", history=10)
    try:
        broker.publish(envelope(1))
        assert f"{redis_keys.prefix}stream" in redis_keys.names()
        assert broker.health()["url"] == f"{redis_keys.url}?prefix={redis_keys.prefix}"
    finally:
        broker.close()
    assert not [name for name in redis_keys.names() if ":wake:" in name]  # closing leaves nothing of its own


def test_health_names_the_broker_and_its_position(open_redis, redis_keys):
    broker = open_redis()
    broker.publish(envelope(1))
    assert broker.health() == {"ok": True, "url": redis_keys.url, "epoch": broker.epoch, "seq": 1, "error": None}


def test_a_failing_listener_does_not_stop_the_others(open_redis):
    broker = open_redis()
    got = []

    def fails(envelope):
        raise RuntimeError("boom")

    broker.listen(fails)
    broker.listen(got.append)
    broker.publish(envelope(1))
    broker.publish(envelope(2))
    assert seqs(received(got, 2)) == [1, 2]


# -- outage (a redis-server of the test's own; the shared one is never stopped) ------------------
@pytest.fixture
def own_redis():
    with RedisServer() as server:
        yield server


def test_an_outage_fails_publishes_clearly_and_delivery_resumes_on_a_new_stream(own_redis):
    broker = RedisBroker(own_redis.url, history=100)
    try:
        got = []
        broker.listen(got.append)
        broker.publish(envelope(1))
        received(got, 1)
        old = broker.epoch
        own_redis.stop()
        with pytest.raises(BrokerError, match=f"Redis broker {own_redis.url}: cannot store test.event"):
            broker.publish(envelope(2))
        health = broker.health()
        assert health["ok"] is False and own_redis.url in health["error"] and health["url"] == own_redis.url
        assert broker.since(old, 0) is None and broker.position() == 1  # the last position it saw
        own_redis.start()  # empty: the stream is lost
        wait_until(lambda: broker.health()["ok"], message="health to be ok again")
        assert broker.publish(envelope(3)).seq == 1 and broker.epoch != old
        assert [(e.event.data, e.event.epoch) for e in received(got, 2)] == [(1, old), (3, broker.epoch)]
    finally:
        broker.close()


def test_after_an_outage_that_lost_nothing_delivery_resumes_after_the_last_event(own_redis):
    listening = RedisBroker(own_redis.url, history=100)
    try:
        got = []
        listening.listen(got.append)
        for n in range(3):
            listening.publish(envelope(n))
        received(got, 3)
        own_redis.stop(save=True)
        assert listening.health()["ok"] is False
        own_redis.start()
        publisher = RedisBroker(own_redis.url, history=100)  # at once, while the listener may still back off
        try:
            assert publisher.epoch == listening.epoch
            for n in range(3, 6):
                publisher.publish(envelope(n))
        finally:
            publisher.close()
        assert seqs(received(got, 6)) == [1, 2, 3, 4, 5, 6]
        listening.publish(envelope(6))  # the sentinel: nothing was delivered twice
        assert seqs(received(got, 7)) == [1, 2, 3, 4, 5, 6, 7]
        assert listening.health()["ok"] is True
    finally:
        listening.close()

