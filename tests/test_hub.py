"""The hub: fans every stored event out to the connections that asked for it, whatever happens."""

import threading

import pytest

from tessera.brokers import Envelope, MemoryBroker
from tessera.events import Event
from tessera.hub import Hub, Limits, Refused

from test_python_bus import wait_for


class Recorder:
    def __init__(self, user="u"):
        self.user = user
        self.patterns = frozenset()
        self.texts = []
        self.arrived = threading.Event()

    def offer(self, envelope, text):
        self.texts.append(text)
        self.arrived.set()

    def close(self, code, reason):
        pass

    def watching(self, hub, *patterns):
        assert hub.watch(self, patterns)
        self.patterns |= set(patterns)
        return self


def test_an_event_that_cannot_be_encoded_does_not_stop_the_next_ones(caplog):
    broker = MemoryBroker(history=10)
    hub = Hub(broker)
    page = Recorder()
    hub.register(page)
    page.watching(hub, "news.>")
    broker.publish(Envelope(Event(type="news.bad", data={1, 2})))  # a set is not JSON
    broker.publish(Envelope(Event(type="news.good", data=1)))
    assert page.arrived.wait(5)
    hub.close()
    assert len(page.texts) == 1 and '"news.good"' in page.texts[0]
    assert "could not fan out news.bad event" in caplog.text


def test_only_connections_whose_patterns_match_are_offered_an_event():
    broker = MemoryBroker(history=10)
    hub = Hub(broker)
    shopper, other, sentinel = Recorder(), Recorder(), Recorder()
    for page, pattern in ((shopper, "cart.*"), (other, "news.>"), (sentinel, "zz.end")):
        hub.register(page)
        page.watching(hub, pattern)
    broker.publish(Envelope(Event(type="cart.added")))
    broker.publish(Envelope(Event(type="zz.end")))
    assert sentinel.arrived.wait(5)  # fan-out is in order: everything before the sentinel was offered
    hub.close()
    assert len(shopper.texts) == 1 and other.texts == []


def test_pages_are_bounded_per_user_and_per_address_and_released():
    hub = Hub(MemoryBroker(), Limits(pages_per_user=2, pages_per_address=3))
    releases = [hub.admit("alice", "10.0.0.1"), hub.admit("alice", "10.0.0.1")]
    with pytest.raises(Refused, match="user"):
        hub.admit("alice", "10.0.0.2")
    hub.admit("bob", "10.0.0.1")
    with pytest.raises(Refused, match="address"):
        hub.admit("carol", "10.0.0.1")
    releases[0]()
    releases[0]()  # releasing twice counts once
    hub.admit("alice", "10.0.0.2")
    with pytest.raises(Refused):
        hub.admit("alice", "10.0.0.3")
    hub.close()


def test_patterns_are_bounded_per_user_over_all_their_pages():
    hub = Hub(MemoryBroker(), Limits(patterns_per_user=3))
    first, second, stranger = Recorder("mallory"), Recorder("mallory"), Recorder("alice")
    for page in (first, second, stranger):
        hub.register(page)
    first.watching(hub, "a.b", "a.c")
    assert not hub.watch(second, ["b.a", "b.b"])
    second.watching(hub, "b.a")
    stranger.watching(hub, "a.b", "a.c", "a.d")  # another user's budget is their own
    hub.unwatch(first, ["a.b"])
    first.patterns -= {"a.b"}
    assert hub.watch(second, ["b.b"])
    hub.close()


def test_a_page_that_fails_to_take_an_event_costs_no_other_page_that_event(caplog):
    class Broken(Recorder):
        def offer(self, envelope, text):
            raise RuntimeError("broken page")

    broker = MemoryBroker(history=10)
    hub = Hub(broker)
    pages = [Recorder(), Broken(), Recorder()]
    for page in pages:
        hub.register(page)
        page.watching(hub, "news.>")
    broker.publish(Envelope(Event(type="news.one")))
    assert pages[0].arrived.wait(5) and pages[2].arrived.wait(5)
    hub.close()
    assert "could not offer news.one event" in caplog.text


class Republisher(Recorder):
    """Publishes another event while the first one is offered to it (as a subscriber that answers might)."""

    def __init__(self, broker):
        super().__init__()
        self.broker = broker

    def offer(self, envelope, text):
        super().offer(envelope, text)
        if envelope.event.type == "news.first":
            self.broker.publish(Envelope(Event(type="news.second")))
            self.offered_first_in = threading.current_thread()


def test_a_publisher_offers_its_event_itself_and_an_event_published_meanwhile_keeps_its_turn():
    broker = MemoryBroker(history=10)
    hub = Hub(broker)
    before, republisher, after = Recorder(), Republisher(broker), Recorder()
    for page in (before, republisher, after):  # "after" is offered each event after the republisher
        hub.register(page)
        page.watching(hub, "news.>")
    broker.publish(Envelope(Event(type="news.first")))
    # offered by the publishing thread, before publish returned: no hand-off to the fan-out thread
    assert republisher.offered_first_in is threading.current_thread() and len(before.texts) >= 1
    broker.publish(Envelope(Event(type="news.third")))
    for page in (before, republisher, after):
        assert wait_for(lambda: len(page.texts) == 3), page.texts
        assert ['"news.first"' in page.texts[0], '"news.second"' in page.texts[1], '"news.third"' in page.texts[2]] \
            == [True, True, True], page.texts  # in seq order for every page, though the second was queued
    hub.close()
