"""The Python bus on its own: decorators, dispatch order, failures contained."""

import datetime
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

from tessera import Tessera
from tessera.admission import Refused
from tessera.brokers import Envelope, MemoryBroker
from tessera.bus import Bus, NoResponder
from tessera.events import Event
from tessera.topics import TopicError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def bus():
    bus = Bus()
    bus.attach(MemoryBroker(history=100))
    yield bus
    bus.close()


def wait_for(condition, seconds=5):
    """Poll ``condition`` (subscribers run on the bus's dispatcher thread)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_subscribers_get_matching_events_in_order(bus):
    got = []
    bus.subscribe("order.>")(lambda event: got.append((event.type, event.data, event.seq)))
    for n in range(20):
        bus.publish("order.placed", n)
    bus.publish("stock.changed", "ignored")
    assert wait_for(lambda: len(got) == 20)
    assert [data for _, data, _ in got] == list(range(20))
    assert [seq for _, _, seq in got] == list(range(1, 21))


def test_a_failing_subscriber_is_logged_and_others_still_run(bus, caplog):
    got = []

    @bus.subscribe("order.placed")
    def broken(event):
        raise RuntimeError("boom")

    bus.subscribe("order.placed")(lambda event: got.append(event.data))
    bus.publish("order.placed", 1)
    bus.publish("order.placed", 2)
    assert wait_for(lambda: got == [1, 2])
    assert "test_python_bus.test_a_failing_subscriber_is_logged_and_others_still_run.<locals>.broken" in caplog.text


def test_publish_addresses_a_user_and_names_the_source(bus):
    event = bus.publish("order.confirmed", {"id": 7}, user="alice", source="checkout")
    assert (event.user, event.source, event.seq, event.epoch) == ("alice", "/server/checkout", 1, bus.broker.epoch)
    stored = bus.broker.since(bus.broker.epoch, 0)[0]
    assert stored.scope == "user"
    assert bus.broker.since(bus.broker.epoch, 0)[0].event.id == event.id
    assert bus.publish("stock.changed", {}).source == "/server"
    assert bus.broker.since(bus.broker.epoch, 1)[0].scope == "global"


def test_respond_answers_and_reports_missing_responders(bus):
    bus.respond("pricing.quote")(lambda event: {"total": event.data * 2})
    assert bus.answer(Event(type="pricing.quote", data=21)) == {"total": 42}
    with pytest.raises(NoResponder, match="nobody answers 'nobody.home'"):
        bus.answer(Event(type="nobody.home"))


def test_one_responder_per_topic(bus):
    bus.respond("pricing.quote")(lambda event: 1)
    with pytest.raises(ValueError, match="already has a responder"):
        bus.respond("pricing.quote")(lambda event: 2)


def test_bad_topics_are_refused_at_registration_and_at_publish(bus):
    with pytest.raises(TopicError):
        bus.subscribe("order.>.x")
    with pytest.raises(TopicError):
        bus.respond("order.*")
    with pytest.raises(Refused, match="bad topic") as refused:
        bus.publish("bad topic")
    assert refused.value.code == "invalid"


def test_publishing_before_init_app_says_so():
    with pytest.raises(RuntimeError, match="init_app"):
        Bus().publish("order.placed")


def test_events_from_pages_reach_subscribers_with_their_user(bus):
    got = []
    bus.subscribe("cart.>")(lambda event: got.append((event.user, event.source)))
    page_event = Event(type="cart.item.added", source="/fragments/catalog", user="bob")
    bus.publish_event(Envelope(page_event, scope="user", origin="page-1"))
    assert wait_for(lambda: got == [("bob", "/fragments/catalog")])


@pytest.mark.parametrize("data", [{"at": datetime.datetime.now()}, float("nan"), {1, 2}])
def test_data_that_is_not_json_is_refused_at_publish(bus, data):
    with pytest.raises(Refused, match="must be JSON") as refused:
        bus.publish("news.when", data)
    assert refused.value.code == "invalid"
    assert bus.broker.position() == 0


def test_reserved_topics_cannot_be_published_from_python(bus):
    with pytest.raises(Refused, match="reserved") as refused:
        bus.publish("tessera.resync", {})
    assert refused.value.code == "forbidden"


def test_events_larger_than_the_limit_are_refused_at_publish(bus):
    with pytest.raises(Refused) as refused:
        bus.publish("news.long", "x" * 70_000)
    assert refused.value.code == "too_large"
    assert bus.broker.position() == 0


# -- the fragments' declarations apply to Python too (tests/fixtures/shop: alpha declares demo.*) --

@pytest.fixture
def shop():
    """``tessera.bus.publish`` of an app over the shop fixtures (demo.ping: user, with a schema;
    demo.shout: global; demo.local: page), and that app's broker."""
    app = Flask(__name__)
    tessera = Tessera(app, frontends=FIXTURES / "shop")
    yield SimpleNamespace(publish=tessera.bus.publish, broker=app.extensions["tessera"].bus.broker)
    tessera.close()


@pytest.mark.parametrize(("type", "data", "user", "code"), [
    ("demo.local", 1, None, "forbidden"),          # declared page: never leaves the page
    ("demo.local", 1, "alice", "forbidden"),
    ("demo.ping", {"n": 1}, None, "invalid"),      # declared user: needs user=
    ("demo.ping", {"n": "one"}, "alice", "invalid"),  # declared schema
    ("demo.ping", {}, "alice", "invalid"),
])
def test_python_publishes_of_declared_topics_follow_the_declaration(shop, type, data, user, code):
    with pytest.raises(Refused) as refused:
        shop.publish(type, data, user=user)
    assert refused.value.code == code
    assert shop.broker.position() == 0


def test_python_publishes_that_match_their_declaration_go_through(shop):
    ping = shop.publish("demo.ping", {"n": 1}, user="alice")
    shout = shop.publish("demo.shout", "hi")
    narrowed = shop.publish("demo.shout", "only you", user="bob")
    stored = shop.broker.since(shop.broker.epoch, 0)
    assert [(e.event.id, e.scope, e.event.user) for e in stored] == [
        (ping.id, "user", "alice"), (shout.id, "global", None), (narrowed.id, "user", "bob")]


def test_undeclared_topics_are_free_from_python(shop):
    shop.publish("order.confirmed", {"id": 7}, user="alice", source="cart")
    shop.publish("stock.changed", {"sku": "a"})
    stored = shop.broker.since(shop.broker.epoch, 0)
    assert [(e.scope, e.event.user, e.event.source) for e in stored] == [
        ("user", "alice", "/server/cart"), ("global", None, "/server")]


@pytest.mark.parametrize("user", ["", 7])
def test_user_must_be_a_non_empty_string_or_none(bus, user):
    with pytest.raises(Refused, match='"user"') as refused:
        bus.publish("order.confirmed", {}, user=user)
    assert refused.value.code == "invalid"


def test_python_data_that_browsers_cannot_read_back_is_refused():
    from tessera.admission import Admission, Refused

    admission = Admission()
    with pytest.raises(Refused, match="too large"):
        admission.from_python("demo.big", {"n": 10**400})
    assert admission.from_python("demo.big", {"n": 10**300}).event.data == {"n": 10**300}
