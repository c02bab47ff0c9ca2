"""Scale-out on Redis, in Chromium: two `tessera run` instances on one stream behave as one host,
and an instance killed and restarted on its port lets its pages recover what they missed.

Each test's instances share a key prefix on the test Redis (deleted after) and a
TESSERA_SECRET_KEY, so they agree on the anonymous users of the signed cookie.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid

import pytest
from playwright.sync_api import Error as PlaywrightError

from tessera.testing.server import TesseraServer

from conftest import FIXTURES
from live import TOKEN, http
from redis_support import RedisKeys, RedisServer, redis_keys, redis_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

WAIT_MS = 10000
RECONNECT_MS = 20000  # the bridge's backoff grows while the instance is down: 0.25 s, 0.5 s, 1 s, ...


class Cluster:
    """`tessera run --app scale_app:app` instances on one Redis stream (``broker`` URL with its prefix)."""

    def __init__(self, broker: str, history: int = 1000):
        self.broker = broker
        self.secret = secrets.token_hex(16)
        self.history = history
        self.servers: list[TesseraServer] = []
        self.crashed: list[TesseraServer] = []

    def start(self, port: int | None = None) -> TesseraServer:
        server = TesseraServer(app="scale_app:app", cwd=FIXTURES / "apps", port=port,
                               options=["--broker", self.broker, "--publish-token", TOKEN],
                               env={"TESSERA_SECRET_KEY": self.secret, "TESSERA_HISTORY": str(self.history)})
        self.servers.append(server)
        return server.start()

    def crash(self, server: TesseraServer) -> None:
        """SIGKILL: no shutdown, no goodbye to the pages or to Redis."""
        self.crashed.append(server)
        server.process.kill()
        server.process.wait(timeout=10)
        server.stop()  # keeps its output

    def restart(self, server: TesseraServer) -> TesseraServer:
        """A new process on the crashed one's port, with the same settings."""
        return self.start(port=server.port)

    def outputs(self) -> str:
        return "\n".join(f"--- instance on port {s.port} ({'alive' if s.alive() else 'stopped'}):\n"
                         f"{s.output()[-3000:]}" for s in self.servers)

    def died(self) -> list[TesseraServer]:
        """Instances that exited without being crashed on purpose."""
        return [s for s in self.servers if s not in self.crashed and s.process.poll() is not None]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def broker_url(keys: RedisKeys) -> str:
    return f"{keys.url}?prefix={keys.prefix}"


@pytest.fixture
def cluster(redis_keys):  # noqa: F811 (redis_keys first: its keys are deleted after the instances stop)
    running = Cluster(broker_url(redis_keys))
    yield running
    died = running.died()
    running.stop()
    if died:
        print(f"instances died during the test:\n{running.outputs()}")


@pytest.fixture(scope="module")
def pair(redis_url):  # noqa: F811
    """Two instances on one prefix for the whole module (neither is killed by the tests using it)."""
    keys = RedisKeys(redis_url, f"tessera-test:{uuid.uuid4().hex[:10]}:")
    running = Cluster(broker_url(keys))
    try:
        a, b = running.start(), running.start()
        yield running, a, b
        if running.died():
            print(f"instances died during the tests:\n{running.outputs()}")
    finally:
        running.stop()
        keys.lose_everything()


# -- helpers ----------------------------------------------------------------------------------
def until(predicate, timeout=10.0, what="the condition"):
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def python_publish(server, type, data=None, user=None, batch=None):
    """Events published by tessera.bus.publish in ``server``'s process (a list, one per batch item)."""
    body = {"type": type, "data": data, "user": user} | ({"batch": batch} if batch is not None else {})
    status, events = http(server, "/test/publish", body, {"Content-Type": "application/json"})
    assert status == 200, events
    return events


def http_publish(server, type, data, **attributes):
    """POST /_tessera/events (structured mode) to ``server``; the event's id."""
    event = {"specversion": "1.0", "id": uuid.uuid4().hex, "type": type, "source": "/billing", "data": data,
             **attributes}
    status, body = http(server, "/_tessera/events", event,
                        {"Content-Type": "application/cloudevents+json", "Authorization": f"Bearer {TOKEN}"})
    assert status == 202, body
    return event["id"]


def seen_by_python(server):
    status, seen = http(server, "/test/seen")
    assert status == 200, seen
    return seen


def health(server):
    return http(server, "/_tessera/health")[1]


def user_of(page):
    return page.evaluate("JSON.parse(document.getElementById('tessera-config').textContent).user")


def wait_open(page, timeout=WAIT_MS):
    page.wait_for_function("window.tessera.connection.state === 'open'", timeout=timeout)


def watch_resyncs(page):
    """Record each ``tessera.resync`` the page gets: its data, and how many demo events came before it."""
    page.evaluate("() => { window.resyncs = []; window.tessera.bus.subscribe('tessera.resync', (e) =>"
                  " window.resyncs.push({...e.data, after: window.received.length})); }")


def wait_resync(page, cluster):
    """Wait until the page got a ``tessera.resync`` and is open again; on timeout, say what it got
    and what the instances logged (requests left out)."""
    try:
        page.wait_for_function("window.resyncs.length > 0 && window.tessera.connection.state === 'open'",
                               timeout=RECONNECT_MS)
    except PlaywrightError:
        got = [(e["data"], e.get("seq"), e.get("epoch")) for e in received(page)]
        logs = "\n".join(line for line in cluster.outputs().splitlines() if "tessera.access" not in line)
        pytest.fail(f"no tessera.resync within {RECONNECT_MS} ms: connection "
                    f"{page.evaluate('window.tessera.connection.state')}, received {got}\n{logs}")


def resynced_cleanly(page, old_epoch):
    """The page got one ``tessera.resync`` naming the new stream's position, then exactly the new
    stream's events after that position, in order: no partial replay of the old or the new stream.
    Call it after a sentinel published once the page resynced."""
    resyncs, got = page.evaluate("window.resyncs"), received(page)
    assert len(resyncs) == 1, f"resyncs: {resyncs}"
    resync = resyncs[0]
    assert resync["epoch"] != old_epoch
    assert {e["epoch"] for e in got[:resync["after"]]} == {old_epoch}, "new-stream events before the resync"
    after = got[resync["after"]:]
    assert after and {e["epoch"] for e in after} == {resync["epoch"]}
    assert [e["seq"] for e in after] == list(range(resync["seq"] + 1, resync["seq"] + 1 + len(after))), \
        f"after the resync at seq {resync['seq']}, the new stream's events in order, once: {after}"
    return resync


def received(page):
    """The demo.* events the page's alpha fragment received (its own publishes included), in order."""
    return page.evaluate("window.received.filter(e => e.type.startsWith('demo.'))")


def wait_for(page, event_id, timeout=WAIT_MS):
    page.wait_for_function(f"window.received.some(e => e.id === {json.dumps(event_id)})", timeout=timeout)


def sentinel(server, *pages):
    """Publish a global event through ``server`` and wait until every page got it: whatever was
    published before it has reached those pages by then (one stream, delivered in seq order)."""
    event = python_publish(server, "demo.sentinel", uuid.uuid4().hex)[0]
    for page in pages:
        wait_for(page, event["id"])
    return event


def ids(events):
    return [e["id"] for e in events]


# -- item 2: two instances behave as one host --------------------------------------------------
def test_one_browser_is_the_same_user_on_both_instances(pair, tessera_open, tessera_browser):
    """Cookies are per host, not per port: 127.0.0.1:A and 127.0.0.1:B share the signed
    anonymous id, and B accepts A's signature (shared TESSERA_SECRET_KEY) instead of minting another."""
    _, a, b = pair
    context = tessera_browser.new_context()
    on_a = tessera_open("/", context=context, base=a.url)
    on_b = tessera_open("/", context=context, base=b.url)
    again_on_a = tessera_open("/", context=context, base=a.url)
    assert user_of(on_a).startswith("anon-")
    assert user_of(on_a) == user_of(on_b) == user_of(again_on_a)
    assert len(context.cookies()) == 1  # B did not replace A's cookie with one of its own
    other = tessera_open("/", base=b.url)
    assert user_of(other) != user_of(on_a)
    context.close()


def test_user_events_reach_the_same_users_pages_on_both_instances_and_nobody_elses(
        pair, tessera_open, tessera_browser):
    _, a, b = pair
    alice = tessera_browser.new_context()
    alice_a, alice_b = tessera_open("/", context=alice, base=a.url), tessera_open("/", context=alice, base=b.url)
    bob_a, bob_b = tessera_open("/", base=a.url), tessera_open("/", base=b.url)
    for page in (alice_a, alice_b, bob_a, bob_b):
        wait_open(page)
    from_a = alice_a.evaluate("window.alphaBus.publish('demo.ping', {n: 1})")
    wait_for(alice_b, from_a["id"])
    from_b = alice_b.evaluate("window.alphaBus.publish('demo.ping', {n: 2})")
    wait_for(alice_a, from_b["id"])
    sentinel(a, alice_a, alice_b, bob_a, bob_b)
    got_a, got_b = received(alice_a), received(alice_b)
    assert ids(got_a)[:2] == ids(got_b)[:2] == [from_a["id"], from_b["id"]]  # each once, own one included
    assert [e["data"]["n"] for e in got_b[:2]] == [1, 2] and isinstance(got_b[0]["seq"], int)
    assert got_a[1]["seq"] > got_b[0]["seq"]  # one stream: the same seqs on both instances
    assert [e["type"] for e in received(bob_a)] == [e["type"] for e in received(bob_b)] == ["demo.sentinel"]
    alice.close()


def test_global_events_reach_every_page_on_both_instances(pair, tessera_open, tessera_browser):
    _, a, b = pair
    alice = tessera_browser.new_context()
    pages = [tessera_open("/", context=alice, base=a.url), tessera_open("/", context=alice, base=b.url),
             tessera_open("/", base=a.url), tessera_open("/", base=b.url)]
    for page in pages:
        wait_open(page)
    shouts = [pages[0].evaluate("window.alphaBus.publish('demo.shout', 'from a')"),
              pages[3].evaluate("window.alphaBus.publish('demo.shout', 'from b')")]
    for page in pages:
        for shout in shouts:
            wait_for(page, shout["id"])
    sentinel(b, *pages)
    for page in pages:
        got = [e for e in received(page) if e["type"] == "demo.shout"]
        assert sorted(ids(got)) == sorted(ids(shouts)), "each global event once on every page"
    alice.close()


def test_events_posted_to_either_instance_reach_pages_on_both(pair, tessera_open, tessera_browser):
    _, a, b = pair
    alice = tessera_browser.new_context()
    alice_a, alice_b = tessera_open("/", context=alice, base=a.url), tessera_open("/", context=alice, base=b.url)
    bob_b = tessera_open("/", base=b.url)
    pages = (alice_a, alice_b, bob_b)
    for page in pages:
        wait_open(page)
    everyone = [http_publish(a, "demo.posted", "to A"), http_publish(b, "demo.posted", "to B")]
    for_alice = [http_publish(a, "demo.posted", "alice via A", user=user_of(alice_a)),
                 http_publish(b, "demo.posted", "alice via B", user=user_of(alice_b))]
    sentinel(a, *pages)
    for page in (alice_a, alice_b):
        assert ids(e for e in received(page) if e["type"] == "demo.posted") == everyone + for_alice
    assert ids(e for e in received(bob_b) if e["type"] == "demo.posted") == everyone
    alice.close()


def test_python_subscribers_on_each_instance_see_events_published_on_the_other_once(
        pair, tessera_open):
    _, a, b = pair
    page_a, page_b = tessera_open("/", base=a.url), tessera_open("/", base=b.url)
    wait_open(page_a), wait_open(page_b)
    published = [
        page_a.evaluate("window.alphaBus.publish('demo.shout', 'page on A')")["id"],
        page_b.evaluate("window.alphaBus.publish('demo.shout', 'page on B')")["id"],
    ]
    wait_for(page_a, published[1]), wait_for(page_b, published[0])  # both in the stream before what follows
    published += [python_publish(a, "demo.python", "python on A")[0]["id"],
                  python_publish(b, "demo.python", "python on B")[0]["id"],
                  http_publish(a, "demo.posted", "posted to A"), http_publish(b, "demo.posted", "posted to B")]
    last = sentinel(b, page_a, page_b)["id"]
    for server in (a, b):
        seen = until(lambda: (s := seen_by_python(server)) and last in ids(s) and s,
                     what=f"the sentinel reaching Python on port {server.port}")
        mine = [s for s in seen if s["id"] in published]
        assert sorted(ids(mine)) == sorted(published), f"Python on port {server.port}: each event once"
        assert [s["seq"] for s in seen] == sorted({s["seq"] for s in seen}), "in order, no duplicates"


# -- item 4: crash recovery --------------------------------------------------------------------
def test_pages_of_a_killed_instance_recover_every_event_published_meanwhile_once_in_order(
        cluster, tessera_open, tessera_browser):
    a, b = cluster.start(), cluster.start()
    alice = tessera_browser.new_context()
    page_a, page_b = tessera_open("/", context=alice, base=a.url), tessera_open("/", context=alice, base=b.url)
    alice_id = user_of(page_a)
    for page in (page_a, page_b):
        wait_open(page)
        watch_resyncs(page)
    before = python_publish(a, "demo.stream", batch=[0, 1, 2])
    wait_for(page_a, before[-1]["id"])
    epoch = health(a)["broker"]["epoch"]
    assert {e["epoch"] for e in received(page_a)} == {epoch}

    cluster.crash(a)
    page_a.wait_for_function("window.tessera.connection.state !== 'open'", timeout=WAIT_MS)
    meanwhile = [e["id"] for e in python_publish(b, "demo.stream", batch=list(range(3, 203)))]
    from_page_b = [page_b.evaluate("window.alphaBus.publish('demo.ping', {n: 7})")["id"],
                   page_b.evaluate("window.alphaBus.publish('demo.shout', 'from the page on B')")["id"]]
    meanwhile += from_page_b + [python_publish(b, "demo.direct", "for alice", user=alice_id)[0]["id"],
                                http_publish(b, "demo.posted", "posted to B"),
                                http_publish(b, "demo.posted", "posted to B for alice", user=alice_id)]
    elsewhere = python_publish(b, "demo.direct", "for someone else", user="someone-else")[0]["id"]
    meanwhile += [python_publish(b, "demo.stream", "last while A is down")[0]["id"]]
    until(lambda: set(meanwhile) <= set(ids(seen_by_python(b))), what="every event published meanwhile stored")
    assert page_a.evaluate("window.tessera.connection.state") != "open"

    restarted = cluster.restart(a)
    wait_open(page_a, timeout=RECONNECT_MS)  # by itself: nobody asked the page to reconnect
    last = sentinel(restarted, page_a, page_b)

    stream = seen_by_python(b)  # every demo.* event of the stream, as B's Python saw them, in seq order
    assert [s["seq"] for s in stream] == sorted({s["seq"] for s in stream})
    expected = [(s["id"], s["seq"]) for s in stream if s["id"] != elsewhere]
    assert set(meanwhile) <= {i for i, _ in expected}
    got = [(e["id"], e.get("seq")) for e in received(page_a)]
    if got != expected:
        seqs = [seq for _, seq in got]
        pytest.fail(f"the page on the restarted instance got {len(got)} events, expected {len(expected)}; "
                    f"missing {[e for e in expected if e not in got][:5]}, "
                    f"duplicated {sorted({s for s in seqs if seqs.count(s) > 1})[:5]}, "
                    f"in order: {seqs == sorted(seqs)}\n{cluster.outputs()}")
    assert [(e["id"], e.get("seq")) for e in received(page_b) if e["id"] not in from_page_b] == \
        [x for x in expected if x[0] not in from_page_b]  # B's page, connected throughout, got them once too
    assert {e["epoch"] for e in received(page_a)} == {epoch}
    assert health(restarted)["broker"]["epoch"] == epoch
    assert page_a.evaluate("window.resyncs") == [] and page_b.evaluate("window.resyncs") == []
    # The restarted process follows the stream from where it is: its Python subscribers do not rerun history.
    assert ids(seen_by_python(restarted)) == [last["id"]]
    alice.close()


def test_a_page_reconnecting_after_the_stream_was_lost_gets_resync_not_a_partial_replay(
        cluster, redis_keys, tessera_open):  # noqa: F811
    a, b = cluster.start(), cluster.start()
    page = tessera_open("/", base=a.url)
    wait_open(page)
    watch_resyncs(page)
    before = python_publish(a, "demo.stream", "before")[0]
    wait_for(page, before["id"])
    cluster.crash(a)
    page.wait_for_function("window.tessera.connection.state !== 'open'", timeout=WAIT_MS)
    python_publish(b, "demo.stream", batch=["lost 1", "lost 2"])  # missed by the page, then lost with the stream
    redis_keys.lose_everything()
    new_stream = python_publish(b, "demo.stream", batch=["new 1", "new 2"])
    assert new_stream[0]["epoch"] != before["epoch"] and new_stream[0]["seq"] == 1

    restarted = cluster.restart(a)
    wait_resync(page, cluster)
    after = sentinel(restarted, page)
    resync = resynced_cleanly(page, before["epoch"])
    assert resync == {"epoch": new_stream[0]["epoch"], "seq": 2, "after": 1}  # nothing of "new 1", "new 2"
    assert [e["data"] for e in received(page)] == ["before", after["data"]]
    assert health(restarted)["broker"]["epoch"] == after["epoch"] == resync["epoch"]


def test_a_redis_restarted_without_its_data_gives_reconnecting_pages_resync(tessera_open):
    with RedisServer() as redis_server:
        cluster = Cluster(f"{redis_server.url}?prefix=scale:")
        try:
            a = cluster.start()
            page = tessera_open("/", base=a.url)
            wait_open(page)
            watch_resyncs(page)
            before = python_publish(a, "demo.stream", batch=["before 1", "before 2"])
            wait_for(page, before[-1]["id"])
            cluster.crash(a)
            page.wait_for_function("window.tessera.connection.state !== 'open'", timeout=WAIT_MS)
            redis_server.stop()  # without saving: everything is lost
            redis_server.start()
            restarted = cluster.restart(a)
            wait_resync(page, cluster)
            after = sentinel(restarted, page)
            assert resynced_cleanly(page, before[0]["epoch"]) == {"epoch": after["epoch"], "seq": 0, "after": 2}
            assert [e["data"] for e in received(page)] == ["before 1", "before 2", after["data"]]
        finally:
            cluster.stop()


def test_a_page_connected_while_the_stream_is_lost_gets_resync(cluster, redis_keys, tessera_open):  # noqa: F811
    """Both instances stay up; the stream disappears under them and a new one starts."""
    a, b = cluster.start(), cluster.start()
    on_a, on_b = tessera_open("/", base=a.url), tessera_open("/", base=b.url)
    for page in (on_a, on_b):
        wait_open(page)
        watch_resyncs(page)
    before = python_publish(a, "demo.stream", "before")[0]
    wait_for(on_a, before["id"]), wait_for(on_b, before["id"])
    redis_keys.lose_everything()
    new_stream = python_publish(a, "demo.stream", batch=["new 1", "new 2"])
    assert new_stream[0]["epoch"] != before["epoch"] and new_stream[0]["seq"] == 1
    for page in (on_a, on_b):
        wait_resync(page, cluster)
    sentinel(b, on_a, on_b)
    for page in (on_a, on_b):
        assert resynced_cleanly(page, before["epoch"])["epoch"] == new_stream[0]["epoch"]
