"""The bus mirrored over the WebSocket, in Chromium: tabs, users, Python, network loss."""

import json
import threading
import urllib.request

import pytest

from tessera.testing.proxy import NetworkProxy

from conftest import FIXTURES
from live import python_publish

pytestmark = pytest.mark.browser


@pytest.fixture
def mirror_server(tessera_server_factory):
    def start(history=5000):
        return tessera_server_factory(app="mirror_app:app", cwd=FIXTURES / "apps",
                                      env={"TESSERA_HISTORY": str(history)})
    return start


@pytest.fixture
def proxy_to():
    proxies = []

    def start(server):
        proxy = NetworkProxy(server.port).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


def wait_open(page):
    page.wait_for_function("window.tessera.connection.state === 'open'", timeout=10000)


def received(page, type_prefix="demo."):
    return page.evaluate(f"window.received.filter(e => e.type.startsWith('{type_prefix}'))")


def wait_for_sentinel(page, server):
    """Publish an event the page receives after everything published before, and wait for it:
    whatever else was going to reach the page has reached it by then."""
    sentinel = python_publish(server, "demo.sentinel")
    try:
        page.wait_for_function(f"window.received.some(e => e.id === '{sentinel['id']}')", timeout=30000)
    except Exception:
        state = page.evaluate("window.tessera.connection.state")
        pytest.fail(f"the sentinel did not arrive (connection {state}); the page got "
                    f"{[e['type'] for e in received(page)][-5:]}; server: {server.output()[-2000:]}")


def test_user_events_reach_the_same_users_other_tab_but_not_other_users(tessera_open, tessera_browser,
                                                                      tessera_server):
    alice = tessera_browser.new_context()
    tab1, tab2 = tessera_open("/", context=alice), tessera_open("/", context=alice)
    bob = tessera_open("/")
    for page in (tab1, tab2, bob):
        wait_open(page)
    event = tab1.evaluate("window.alphaBus.publish('demo.ping', {n: 1})")
    tab2.wait_for_function("window.received.some(e => e.type === 'demo.ping')")
    got = tab2.evaluate("window.received.find(e => e.type === 'demo.ping')")
    assert got["id"] == event["id"] and got["data"] == {"n": 1} and isinstance(got["seq"], int)
    assert tab2.inner_text("[data-test=beta-count]") == "1"
    tab1.evaluate("window.alphaBus.publish('demo.shout', 'everyone')")
    bob.wait_for_function("window.received.some(e => e.type === 'demo.shout')")
    assert [e["type"] for e in received(bob)] == ["demo.shout"]
    assert [e["type"] for e in received(tab1)] == ["demo.ping", "demo.shout"]  # its own, once each
    alice.close()


def test_page_scope_never_leaves_the_page(tessera_open, tessera_browser):
    alice = tessera_browser.new_context()
    tab1, tab2 = tessera_open("/", context=alice), tessera_open("/", context=alice)
    wait_open(tab1), wait_open(tab2)
    tab1.evaluate("() => { window.alphaBus.publish('demo.local', 1); window.alphaBus.publish('demo.shout', 2); }")
    tab2.wait_for_function("window.received.some(e => e.type === 'demo.shout')")
    assert [e["type"] for e in received(tab2)] == ["demo.shout"]
    alice.close()


def test_rejected_event_arrives_as_a_local_tessera_error(tessera_page):
    wait_open(tessera_page)
    got = tessera_page.evaluate("""async () => {
        const error = window.tessera.bus.once('tessera.error', {timeout: 5000});
        const sent = window.alphaBus.publish('demo.ping', {n: 'not a number'});
        const e = await error;
        return {code: e.data.code, same: e.data.event_id === sent.id, message: e.data.message};
    }""")
    assert got["code"] == "invalid" and got["same"] is True and "schema" in got["message"]


def test_python_subscriber_responder_and_user_publish(tessera_open, mirror_server):
    server = mirror_server()
    page = tessera_open("/", base=server.url)
    wait_open(page)
    total = page.evaluate("window.tessera.bus.request('pricing.quote', {items: [{price: 3, qty: 2}]})")
    assert total["total"] == 6
    user = page.evaluate("JSON.parse(document.getElementById('tessera-config').textContent).user")
    assert total["user"] == user
    python_publish(server, "demo.direct", {"to": "me"}, user=user)
    python_publish(server, "demo.direct", {"to": "someone else"}, user="someone-else")
    python_publish(server, "demo.direct", {"to": "all"})
    wait_for_sentinel(page, server)
    assert [e["data"]["to"] for e in received(page, "demo.direct")] == ["me", "all"]
    assert {e["source"] for e in received(page, "demo.direct")} == {"/server"}


def test_request_nobody_answers_rejects(tessera_page):
    wait_open(tessera_page)
    message = tessera_page.evaluate(
        "window.tessera.bus.request('nobody.home', null).then(() => 'answered', (e) => e.message)")
    assert "nobody answers" in message


@pytest.mark.parametrize("type, data, code", [
    ("tessera.secret", None, "forbidden"),              # refused by admission on the server
    ("demo.big", "x" * 70000, "too_large"),            # refused by the bridge before sending
])
def test_a_refused_request_rejects_at_once_with_its_code(tessera_page, type, data, code):
    """Within a minute-long timeout, the promise rejects as soon as the refusal is known."""
    wait_open(tessera_page)
    outcome = tessera_page.evaluate(
        "([type, data]) => window.tessera.bus.request(type, data, {timeout: 60000})"
        ".then(() => 'answered', (e) => e.code)", [type, data])
    assert outcome == code


def test_a_too_large_event_is_refused_in_the_page_and_never_sent(tessera_page):
    wait_open(tessera_page)
    error = tessera_page.evaluate("""() => new Promise((resolve) => {
        window.tessera.bus.subscribe("tessera.error", (e) => resolve(e.data));
        window.tessera.bus.publish("demo.shout", "x".repeat(70000));
    })""")
    assert error["code"] == "too_large"
    round_trip = "window.tessera.bus.request('nobody.home', null).then(() => 'answered', (e) => e.code)"
    assert tessera_page.evaluate(round_trip) == "no_responder"   # the socket was never closed over it


def test_forced_disconnect_during_a_stream_loses_nothing_and_duplicates_nothing(
        tessera_open, mirror_server, proxy_to):
    server = mirror_server(history=5000)
    proxy = proxy_to(server)
    page = tessera_open("/", base=proxy.url)
    wait_open(page)
    total, batch = 1200, 50
    cut_after, restore_after = 300, 700  # events published before the cut, and before the restore
    offline_sent = []

    def stream():
        for start in range(0, total, batch):
            python_publish(server, "demo.stream", batch=list(range(start, start + batch)))
            if start + batch == cut_after:
                proxy.cut()
                page_ready.wait(10)
            if start + batch == restore_after:
                proxy.restore()

    page_ready = threading.Event()
    publisher = threading.Thread(target=stream)
    publisher.start()
    page.wait_for_function("window.tessera.connection.state !== 'open'", timeout=10000)
    offline_sent += page.evaluate("[1, 2, 3].map(n => window.alphaBus.publish('demo.shout', {offline: n}).id)")
    page_ready.set()
    publisher.join(timeout=60)
    try:
        page.wait_for_function(f"window.received.filter(e => e.type === 'demo.stream').length >= {total}",
                               timeout=60000)
    except Exception:
        got = [e["data"] for e in received(page, "demo.stream")]
        state = page.evaluate("window.tessera.connection.state")
        pytest.fail(f"{len(got)} of {total} events arrived (last {got[-3:]}), connection {state}; "
                    f"console: {page.tessera_console[-5:]}; server: {server.output()[-2000:]}")
    wait_for_sentinel(page, server)  # a late duplicate would have arrived before it
    numbers = [e["data"] for e in received(page, "demo.stream")]
    assert numbers == list(range(total)), "events lost, duplicated or out of order"
    seqs = [e["seq"] for e in received(page, "demo.stream")]
    assert seqs == sorted(set(seqs))
    assert page.evaluate("window.received.some(e => e.type === 'tessera.resync')") is False
    seen = json.loads(urllib.request.urlopen(server.url + "/test/seen", timeout=5).read())
    offline = [s["data"]["offline"] for s in seen if s["type"] == "demo.shout"]
    assert offline == [1, 2, 3], "events published while offline must reach the server once, in order"


def test_gap_beyond_history_gives_tessera_resync_not_a_partial_replay(tessera_open, mirror_server, proxy_to):
    server = mirror_server(history=20)
    proxy = proxy_to(server)
    page = tessera_open("/", base=proxy.url)
    wait_open(page)
    page.evaluate("() => { window.resyncs = []; window.tessera.bus.subscribe('tessera.resync', (e) => window.resyncs.push(e)); }")
    python_publish(server, "demo.stream", "before")
    page.wait_for_function("window.received.length === 1")
    proxy.cut()
    page.wait_for_function("window.tessera.connection.state !== 'open'")
    for n in range(40):
        python_publish(server, "demo.stream", n)
    proxy.restore()
    page.wait_for_function("window.resyncs.length === 1", timeout=20000)
    wait_open(page)
    assert [e["data"] for e in received(page, "demo.stream")] == ["before"]
    python_publish(server, "demo.stream", "after")
    page.wait_for_function("window.received.length === 2")


def test_connection_state_follows_the_socket(tessera_open, tessera_server, proxy_to):
    proxy = proxy_to(tessera_server)
    page = tessera_open("/", base=proxy.url)
    wait_open(page)
    page.evaluate("() => { window.states = []; window.tessera.bus.subscribe('tessera.connection', (e) => window.states.push(e.data.state)); }")
    proxy.cut()
    page.wait_for_function("window.tessera.connection.state !== 'open'")
    proxy.restore()
    wait_open(page)
    states = page.evaluate("window.states")
    assert states[0] == "closed" and states[-1] == "open"
