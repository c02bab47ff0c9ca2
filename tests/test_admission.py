"""Admission: one set of rules and codes for events from pages, backends and Python.

tests/fixtures/shop declares demo.ping (scope user, schema {"n": integer}), demo.shout
(global) and demo.local (page). The same table runs against every origin: first against
Admission itself, then through each transport (socket frames, POST /_tessera/events,
``tessera.bus.publish``), which must only translate the verdict.
"""

import math
from pathlib import Path

import pytest
from flask import Flask

from live import TOKEN, http
from tessera import Tessera
from tessera.admission import Admission, Refused
from tessera.events import Event
from tessera.registry import load_registry

SHOP = Path(__file__).parent / "fixtures" / "shop"
ADMITTED = None

# (type, data, code) — the same verdict whatever the origin; every origin addresses user "alice"
CASES = [
    ("demo.shout", "hi", ADMITTED),
    ("demo.ping", {"n": 1}, ADMITTED),
    ("tessera.resync", {}, "forbidden"),            # reserved prefix
    ("demo.local", 1, "forbidden"),                 # declared page: never leaves the page
    ("demo.ping", {"n": "one"}, "invalid"),         # declared schema
    ("demo.ping", {}, "invalid"),
    ("demo.shout", math.nan, "invalid"),            # not JSON
    ("bad topic", 1, "invalid"),                    # not a topic
    ("demo.shout", "x" * 70_000, "too_large"),      # TESSERA_MAX_EVENT_BYTES (65536)
]
IDS = [f"{type}-{code or 'admitted'}-{n}" for n, (type, _, code) in enumerate(CASES)]


def body(type, data, *, source="/shell", id="e1", **extra):
    return {"specversion": "1.0", "id": id, "type": type, "source": source, "time": "2026-11-28T10:00:00Z",
            "data": data, **extra}


@pytest.fixture(scope="module")
def admission():
    return Admission(load_registry(SHOP), max_bytes=65536)


ORIGINS = {
    "page": lambda a, type, data: a.from_page(body(type, data), user="alice", page="p1"),
    "backend": lambda a, type, data: a.from_backend(body(type, data, source="/billing", user="alice")),
    "python": lambda a, type, data: a.from_python(type, data, user="alice"),
}


def verdict(admit):
    try:
        admit()
    except Refused as refused:
        return refused.code
    return ADMITTED


# -- the rules, per origin -------------------------------------------------------------------

@pytest.mark.parametrize("origin", sorted(ORIGINS))
@pytest.mark.parametrize(("type", "data", "code"), CASES, ids=IDS)
def test_the_same_event_gets_the_same_verdict_from_every_origin(admission, origin, type, data, code):
    assert verdict(lambda: ORIGINS[origin](admission, type, data)) == code


@pytest.mark.parametrize("broken", [
    {"specversion": "0.3"}, {"id": ""}, {"id": 5}, {"source": 7}, {"time": "yesterday"},
])
def test_an_invalid_cloudevent_is_invalid_from_pages_and_backends(admission, broken):
    event = body("demo.shout", "hi") | broken
    assert verdict(lambda: admission.from_page(event, user="alice", page="p1")) == "invalid"
    assert verdict(lambda: admission.from_backend(event)) == "invalid"
    assert verdict(lambda: admission.request_from_page(event, user="alice")) == "invalid"


@pytest.mark.parametrize("user", ["", 7, ["alice"]])
def test_the_user_a_backend_or_python_addresses_is_a_non_empty_string(admission, user):
    assert verdict(lambda: admission.from_backend(body("demo.shout", 1, user=user))) == "invalid"
    assert verdict(lambda: admission.from_python("demo.shout", 1, user=user)) == "invalid"


def test_a_page_cannot_choose_its_user(admission):
    envelope = admission.from_page(body("demo.ping", {"n": 1}, user="bob"), user="alice", page="p1")
    assert envelope.event.user == "alice"


def test_refusals_name_the_event_they_refuse(admission):
    with pytest.raises(Refused, match="reserved") as refused:
        admission.from_page(body("tessera.resync", {}, id="mine"), user="alice", page="p1")
    assert (refused.value.event_id, refused.value.frame()["event_id"]) == ("mine", "mine")
    with pytest.raises(Refused) as refused:
        admission.from_backend(body("demo.shout", 1, id=5))
    assert refused.value.event_id is None


def test_pages_may_publish_only_declared_user_and_global_topics_from_their_own_sources(admission):
    assert verdict(lambda: admission.from_page(body("undeclared.topic", 1), user="alice", page="p1")) == "forbidden"
    for source in ("/server", "/billing", "/fragments/nobody"):
        assert verdict(lambda: admission.from_page(body("demo.shout", 1, source=source), user="alice",
                                                   page="p1")) == "forbidden"
    assert admission.from_page(body("demo.shout", 1, source="/fragments/alpha"), user="alice", page="p1")


def test_the_server_side_may_publish_undeclared_topics_to_everyone_or_one_user(admission):
    for admit in (lambda user: admission.from_backend(body("stock.changed", 1, source="/stock", user=user)),
                  lambda user: admission.from_python("stock.changed", 1, user=user)):
        everyone, alice = admit(None), admit("alice")
        assert (everyone.scope, everyone.event.user) == ("global", None)
        assert (alice.scope, alice.event.user) == ("user", "alice")


def test_a_topic_declared_user_needs_a_user_from_the_server_side(admission):
    assert verdict(lambda: admission.from_backend(body("demo.ping", {"n": 1}))) == "invalid"
    assert verdict(lambda: admission.from_python("demo.ping", {"n": 1})) == "invalid"


def test_admitted_page_events_are_routed_as_declared_and_never_back_to_their_page(admission):
    ping = admission.from_page(body("demo.ping", {"n": 1}), user="alice", page="p1")
    shout = admission.from_page(body("demo.shout", 1), user="alice", page="p1")
    assert (ping.scope, ping.origin, ping.event.user) == ("user", "p1", "alice")
    assert (shout.scope, shout.origin, shout.event.user) == ("global", "p1", "alice")


def test_page_keys_are_per_user_and_server_keys_are_source_and_id(admission):
    def page(user, id="7", source="/shell"):
        return admission.from_page(body("demo.shout", 1, id=id, source=source), user=user, page="p").key

    def backend(source, id="7", user=None):
        return admission.from_backend(body("demo.shout", 1, id=id, source=source, user=user)).key

    assert page("alice") == page("alice") != page("bob")
    assert page("alice") != page("alice", source="/fragments/alpha") != page("alice", id="8")
    assert backend("/billing") == backend("/billing", user="alice") != backend("/shipping")
    assert backend("/shell") != page("alice")  # a backend cannot collide with a page's event either
    python = admission.from_python("demo.shout", 1)
    assert python.key != admission.from_python("demo.shout", 1).key  # fresh ids
    assert python.key == backend(python.event.source, id=python.event.id)  # same rule as backends


def test_requests_get_the_envelope_checks_but_need_no_declaration(admission):
    event = admission.request_from_page(body("pricing.quote", {"items": []}), user="alice")
    assert isinstance(event, Event) and (event.type, event.user) == ("pricing.quote", "alice")
    assert verdict(lambda: admission.request_from_page(body("tessera.resync", 1), user="alice")) == "forbidden"
    assert verdict(lambda: admission.request_from_page(body("x.y", 1, source="/server"), user="alice")) == "forbidden"
    assert verdict(lambda: admission.request_from_page(body("x.y", "x" * 70_000), user="alice")) == "too_large"


def test_the_size_limit_counts_the_encoded_event_in_utf8():
    small = Admission(max_bytes=1024)
    fits = "é" * 400  # 800 bytes of UTF-8, 2400 characters if escaped as \\u00e9
    assert small.from_python("news.long", fits)
    assert verdict(lambda: small.from_python("news.long", "é" * 600)) == "too_large"


# -- the same table through every transport -------------------------------------------------

@pytest.fixture(scope="module")
def python_bus():
    app = Flask(__name__)  # kept: a Tessera holds its apps weakly, and a collected app takes its bus with it
    tessera = Tessera(app, frontends=SHOP)
    yield tessera.bus
    tessera.close()


@pytest.mark.parametrize(("type", "data", "code"), CASES, ids=IDS)
def test_python_publish_raises_the_verdict(python_bus, type, data, code):
    assert verdict(lambda: python_bus.publish(type, data, user="alice")) == code


@pytest.mark.parametrize(("type", "data", "code"), CASES, ids=IDS)
def test_http_publish_answers_the_verdict(server, type, data, code):
    status, answer = http(server, "/_tessera/events", body(type, data, source="/billing", id=f"t-{type}", user="alice"),
                          {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    if code is ADMITTED:
        assert status == 202
    else:
        assert (status, answer["error"]) == (413 if code == "too_large" else 400, code)


@pytest.mark.parametrize(("type", "data", "code"), CASES, ids=IDS)
def test_a_page_publish_is_answered_with_the_verdict(connect, type, data, code):
    page = connect("alice")
    page.join([])
    sent = page.publish(type, data)
    frame = page.expect("ack" if code is ADMITTED else "error")
    if isinstance(data, float) and math.isnan(data):
        code = "bad_frame"  # a frame holding NaN is not JSON: refused as it is read, still naming the event
    if code is not ADMITTED:
        assert (frame["code"], frame["event_id"]) == (code, sent["id"])


# -- duplicates over a real socket -----------------------------------------------------------

def test_a_page_resending_its_own_event_gets_a_duplicate_ack_and_it_is_delivered_once(connect):
    page, other_tab = connect("alice"), connect("alice")
    page.join([])
    other_tab.join(["demo.>"])
    page.publish("demo.ping", {"n": 1}, id="resent-1")
    first = page.expect("ack")
    page.publish("demo.ping", {"n": 1}, id="resent-1")
    again = page.expect("ack")
    assert (first["duplicate"], again["duplicate"], again["seq"]) == (False, True, first["seq"])
    page.publish("demo.ping", {"n": 2}, id="resent-sentinel")
    page.expect("ack")
    assert [e["id"] for e in other_tab.events(2)] == ["resent-1", "resent-sentinel"]


def test_an_id_another_user_used_is_not_a_duplicate(connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    alice.join([])
    bob.join([])
    carol.join(["demo.>"])
    alice.publish("demo.shout", "from alice", id="seen-1")
    alice.expect("ack")
    bob.publish("demo.shout", "from bob", id="seen-1")  # bob saw alice's global event and reuses its id
    assert bob.expect("ack")["duplicate"] is False
    assert [(e["id"], e["data"]) for e in carol.events(2)] == [("seen-1", "from alice"), ("seen-1", "from bob")]


def test_a_page_cannot_suppress_another_users_next_event_by_publishing_its_id_first(connect):
    bob, alice, alice_tab = connect("bob"), connect("alice"), connect("alice")
    bob.join([])
    alice.join([])
    alice_tab.join(["demo.>"])
    bob.publish("demo.ping", {"n": 666}, id="alices-next")
    bob.expect("ack")
    alice.publish("demo.ping", {"n": 1}, id="alices-next")
    assert alice.expect("ack")["duplicate"] is False
    alice.publish("demo.ping", {"n": 2}, id="alice-sentinel")
    alice.expect("ack")
    assert [(e["id"], e["data"]) for e in alice_tab.events(2)] == [("alices-next", {"n": 1}),
                                                                    ("alice-sentinel", {"n": 2})]


def test_a_backend_event_and_a_page_event_with_the_same_source_and_id_are_both_delivered(server, connect):
    page, watcher = connect("alice"), connect("bob")
    page.join([])
    watcher.join(["demo.>"])
    status, answer = http(server, "/_tessera/events", body("demo.shout", "backend", id="shared-9"),
                          {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert (status, answer["duplicate"]) == (202, False)
    page.publish("demo.shout", "page", id="shared-9")
    assert page.expect("ack")["duplicate"] is False
    assert [e["data"] for e in watcher.events(2)] == ["backend", "page"]


# -- the page's side, in Chromium -------------------------------------------------------------

@pytest.mark.browser
def test_browser_event_ids_are_random_not_a_counter(tessera_open, server):
    page = tessera_open(server.url + "/")
    ids = page.evaluate("[1, 2, 3].map((n) => window.alphaBus.publish('demo.local', n).id)")
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") for i in ids) and len(set(ids)) == 3
    assert len({i[:24] for i in ids}) == 3  # no shared per-page prefix


@pytest.mark.browser
def test_the_page_drops_duplicates_by_source_and_id_like_the_server(tessera_open, server):
    page = tessera_open(server.url + "/")
    page.wait_for_function("window.tessera.connection.state === 'open'", timeout=10000)
    page.evaluate("window.tessera.bus.request('pricing.quote', {items: []})")  # alpha's subscription is in
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for source, id in [("/billing", "page-7"), ("/shipping", "page-7"), ("/shipping", "page-7"),
                       ("/billing", "page-sentinel")]:
        assert http(server, "/_tessera/events", body("demo.shout", source, id=id, source=source), headers)[0] == 202
    page.wait_for_function("window.received.some((e) => e.id === 'page-sentinel')", timeout=10000)
    got = page.evaluate("window.received.filter((e) => e.id.startsWith('page-')).map((e) => [e.source, e.id])")
    assert got == [["/billing", "page-7"], ["/shipping", "page-7"], ["/billing", "page-sentinel"]]
