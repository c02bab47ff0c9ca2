"""The inspector in Chromium: the in-page panel (?tessera-inspect, Alt+Shift+E) and the server
page GET /_tessera/inspect, both under the shell's Content-Security-Policy."""

import json
import re
import urllib.request

import pytest

from tessera.testing.server import TesseraServer

INSPECTOR = "tessera-inspector"
HOSTILE = '<img src=x onerror="window.pwned = true">'


@pytest.fixture(scope="module")
def tessera_server(tessera_frontends, request):
    """The shop fixture with the server inspector on for this machine (TESSERA_INSPECT=local)."""
    with TesseraServer(tessera_frontends, env={"TESSERA_INSPECT": "local"}, cwd=request.config.rootpath) as server:
        yield server
        assert server.alive(), server.output()


@pytest.fixture
def inspected(tessera_open):
    """A shell page opened with ?tessera-inspect, its panel showing."""
    page = tessera_open("/?tessera-inspect")
    page.locator(f"{INSPECTOR} [data-view=events]").wait_for()
    return page


def panel(page, selector):
    return page.locator(f"{INSPECTOR} {selector}")


def no_csp_violations(page):
    violations = [line for line in page.tessera_console if "Content Security Policy" in line]
    assert violations == []


@pytest.mark.browser
def test_a_page_without_the_flag_loads_no_inspector_until_the_shortcut(tessera_browser, tessera_server):
    page = tessera_browser.new_page()
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(tessera_server.url + "/")
    page.evaluate("window.tessera.ready")
    page.evaluate("window.tessera.bus.publish('demo.local', 'sentinel')")
    assert any(url.endswith("/runtime/boot.js") for url in requested)
    assert not [url for url in requested if "inspector" in url]
    assert page.locator(INSPECTOR).count() == 0

    page.keyboard.press("Alt+Shift+E")  # the documented shortcut imports it then
    panel(page, "[data-view=events]").wait_for()
    assert [url for url in requested if url.endswith("/runtime/inspector.js")]
    page.wait_for_function("() => document.body.style.paddingBottom.endsWith('px')")  # room for the panel
    page.keyboard.press("Alt+Shift+E")  # and hides it again
    page.locator(INSPECTOR).wait_for(state="hidden")
    assert page.evaluate("document.body.style.paddingBottom") == ""
    page.close()


@pytest.mark.browser
def test_events_are_listed_with_their_data_as_text_only(inspected):
    inspected.evaluate("(data) => window.tessera.bus.publish('demo.shout', data)", {"note": HOSTILE, "n": 1})
    row = panel(inspected, "tr[data-event-type='demo.shout']").first
    assert row.locator(".c-source").inner_text() == "/shell"
    assert row.locator(".c-scope").inner_text() == "global"
    assert re.fullmatch(r"\d+ B", row.locator(".c-size").inner_text())
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", row.locator(".c-time").inner_text())
    row.click()
    shown = panel(inspected, "[data-detail-data]").inner_text()
    assert json.loads(shown) == {"note": HOSTILE, "n": 1}
    assert '"note": "<img src=x onerror=' in shown  # pretty-printed, as text
    assert inspected.evaluate("""() => ({
        pwned: window.pwned === true,
        images: document.querySelector('tessera-inspector').shadowRoot.querySelectorAll('img').length})""") == {
        "pwned": False, "images": 0}
    assert panel(inspected, "tr[data-event-type='tessera.connection']").count() >= 2  # connecting, open
    no_csp_violations(inspected)


@pytest.mark.browser
def test_the_filter_uses_the_bus_wildcards(inspected):
    inspected.evaluate("""() => {
        const bus = window.tessera.bus;
        bus.publish('demo.local', 1); bus.publish('demo.local.deep', 2); bus.publish('other.thing', 3);
    }""")
    panel(inspected, "tr[data-event-type='other.thing']").wait_for()
    listed = lambda: panel(inspected, "tbody tr[data-event-type]").evaluate_all(  # noqa: E731
        "rows => rows.map(r => r.getAttribute('data-event-type'))")

    panel(inspected, "[data-filter]").fill("demo.*")
    assert set(listed()) == {"demo.local"}
    panel(inspected, "[data-filter]").fill("demo.>")
    assert set(listed()) == {"demo.local", "demo.local.deep"}
    panel(inspected, "[data-filter]").fill("tessera.*")
    assert set(listed()) == {"tessera.connection"}
    panel(inspected, "[data-filter]").fill("demo..x")  # not a pattern: said so, the list stays
    assert "must match" in panel(inspected, ".toolbar .note").inner_text()
    assert set(listed()) == {"tessera.connection"}
    panel(inspected, "[data-filter]").fill("")
    assert {"demo.local", "demo.local.deep", "other.thing", "tessera.connection"} <= set(listed())


@pytest.mark.browser
def test_fragments_show_version_state_slot_and_declarations(inspected):
    panel(inspected, "[data-tab=fragments]").click()
    alpha = panel(inspected, "tr[data-fragment=alpha]")
    alpha.locator(".chip").first.wait_for()  # the declarations arrived from /_tessera/fragments
    cells = alpha.locator("td").all_inner_texts()
    assert cells[:4] == ["alpha", "1.0.0", "mounted", "main"]
    assert set(alpha.locator("td").nth(4).locator(".chip").all_inner_texts()) == {"demo.ping", "demo.shout", "demo.local"}
    assert alpha.locator("td").nth(5).inner_text() == "demo.>"
    assert panel(inspected, "tr[data-fragment=beta] td").all_inner_texts()[:4] == ["beta", "2.1.0", "mounted", "aside"]
    assert panel(inspected, "tr[data-fragment=badmodule]").get_attribute("data-fragment-state") == "failed"
    assert panel(inspected, "tr[data-fragment=broken]").get_attribute("data-fragment-state") == "failed"
    # live: a fragment whose state changes, and one that leaves the page
    inspected.evaluate("document.querySelector('tessera-fragment[name=beta]').setAttribute('data-state', 'loading')")
    panel(inspected, "tr[data-fragment=beta][data-fragment-state=loading]").wait_for()
    inspected.evaluate("document.querySelector('tessera-fragment[name=alpha]').remove()")
    panel(inspected, "tr[data-fragment=alpha][data-fragment-state='not on this page']").wait_for()


@pytest.mark.browser
def test_errors_show_failed_mounts_and_tessera_errors(inspected):
    panel(inspected, "[data-tab=errors]").click()
    failed = panel(inspected, "[data-problem=mount]")
    assert sorted(re.search(r'fragment "(\w+)"', t)[1] for t in failed.all_inner_texts()) == ["badmodule", "broken"]
    inspected.evaluate("window.tessera.bus.publish('demo.ping', {n: 'not a number'})")  # the schema wants an integer
    error = panel(inspected, "[data-problem='tessera.error']")
    error.wait_for()
    assert "tessera.error · invalid" in error.inner_text()
    assert panel(inspected, "[data-tab=errors] .badge").inner_text() == "3"
    assert panel(inspected, "tr.error[data-event-type='tessera.error']").count() == 1


@pytest.mark.browser
def test_a_test_event_and_a_republished_one_reach_another_tab(inspected, tessera_open):
    other = tessera_open("/", context=inspected.context)  # another tab of the same user
    other.evaluate("() => { window.got = []; window.tessera.bus.subscribe('demo.ping', (e) => window.got.push(e.data)); }")

    panel(inspected, "[data-tab=publish]").click()
    panel(inspected, "[data-publish-type]").fill("demo.ping")
    assert "scope user" in panel(inspected, "[data-view=publish] .note").inner_text()
    panel(inspected, "[data-publish-data]").fill('{"n": 7}')
    panel(inspected, "[data-action=publish]").click()
    assert "sent to the server" in panel(inspected, "[data-publish-result]").inner_text()
    other.wait_for_function("window.got.length === 1")

    panel(inspected, "[data-tab=events]").click()
    panel(inspected, "tr[data-event-type='demo.ping']").first.click()
    panel(inspected, "[data-action=republish]").click()
    other.wait_for_function("window.got.length === 2")
    assert other.evaluate("window.got") == [{"n": 7}, {"n": 7}]

    panel(inspected, "[data-tab=publish]").click()  # bad input is explained, nothing is sent
    panel(inspected, "[data-publish-data]").fill("{nope")
    panel(inspected, "[data-action=publish]").click()
    assert "not JSON" in panel(inspected, "[data-publish-result]").inner_text()
    panel(inspected, "[data-publish-type]").fill("tessera.error")
    panel(inspected, "[data-publish-data]").fill("1")
    panel(inspected, "[data-action=publish]").click()
    assert "reserved" in panel(inspected, "[data-publish-result]").inner_text()
    no_csp_violations(inspected)


@pytest.mark.browser
def test_the_connection_its_resumes_and_position_are_shown(inspected, tessera_open):
    assert panel(inspected, "[data-connection]").inner_text() == "open"
    panel(inspected, "[data-tab=connection]").click()
    assert panel(inspected, "[data-fact=opened]").inner_text() == "1"
    assert panel(inspected, "[data-fact=position]").inner_text() == "no server event yet"
    other = tessera_open("/", context=inspected.context)
    other.evaluate("window.tessera.bus.publish('demo.shout', 'from the other tab')")  # reaches us through the server
    panel(inspected, "[data-fact=position]").filter(has_text="seq").wait_for()
    inspected.evaluate("window.tessera.connection.reconnect()")
    panel(inspected, "[data-fact=resumed]").filter(has_text="1").wait_for()
    assert panel(inspected, "[data-connection]").inner_text() == "open"
    assert panel(inspected, "[data-fact=resyncs]").inner_text() == "0"
    assert panel(inspected, ".timeline li").all_inner_texts()[0].endswith("open")


@pytest.mark.browser
def test_a_resync_is_shown_when_the_server_lost_the_page_s_stream(tessera_frontends, tessera_open, request):
    from tessera.testing.server import free_port

    port = free_port()
    with TesseraServer(tessera_frontends, port=port, cwd=request.config.rootpath) as first:
        page = tessera_open(first.url + "/?tessera-inspect")
        panel(page, "[data-view=events]").wait_for()
    panel(page, "[data-connection=connecting], [data-connection=closed]").wait_for()
    with TesseraServer(tessera_frontends, port=port, cwd=request.config.rootpath):  # a new memory stream
        panel(page, "[data-tab=connection]").click()
        panel(page, "[data-fact=resyncs]").filter(has_text="1").wait_for()
        assert panel(page, "[data-fact=resumed]").inner_text() == "1"
        assert "resync" in panel(page, ".timeline").inner_text()
        assert panel(page, "tr[data-event-type='tessera.resync']").count() == 1


@pytest.mark.browser
def test_the_server_page_shows_pages_rates_fragments_and_health(tessera_browser, tessera_server, inspected):
    page = tessera_browser.new_page()
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    response = page.goto(tessera_server.url + "/_tessera/inspect")
    assert "nonce-" in response.headers["content-security-policy"]
    page.locator("[data-status=ok]").wait_for()
    assert int(page.inner_text("[data-count=pages]")) >= 1  # the inspected page, at least
    assert page.inner_text("[data-section=broker] [data-fact=url]") == "memory://"
    assert page.locator("[data-section=fragments] tr[data-fragment=alpha]").inner_text().startswith("alpha")

    with urllib.request.urlopen(tessera_server.url + "/_tessera/inspect.json") as response:
        topics = {row["topic"]: row for row in json.load(response)["events"]["topics"]}
    before = topics["demo.shout"]["total"] if "demo.shout" in topics else 0
    for n in range(3):
        inspected.evaluate("(n) => window.tessera.bus.publish('demo.shout', n)", n)
    page.wait_for_function(  # the page refreshes by itself, once a second
        "(n) => Number(document.querySelector(\"[data-section=rates] tr[data-topic='demo.shout'] [data-total]\")"
        "?.textContent) === n", arg=before + 3)
    assert not [line for line in console if "Content Security Policy" in line or line.startswith("error")]
    page.close()


def test_the_server_inspector_is_off_unless_enabled(tessera_frontends):
    from flask import Flask
    from tessera import Tessera

    for setting, local, remote in [("off", 404, 404), ("local", 200, 403), ("on", 200, 200)]:
        app = Flask(__name__)
        app.config["TESSERA_INSPECT"] = setting
        tessera = Tessera(app, frontends=tessera_frontends)
        client = app.test_client()
        for path in ("/_tessera/inspect", "/_tessera/inspect.json"):
            assert client.get(path).status_code == local, (setting, path)
            assert client.get(path, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == remote, (setting, path)
        tessera.close()


def test_the_json_counts_events_per_topic_and_never_names_users(tessera_frontends):
    from flask import Flask
    from tessera import Tessera

    app = Flask(__name__)
    app.config["TESSERA_INSPECT"] = "local"
    tessera = Tessera(app, frontends=tessera_frontends)
    for n in range(3):
        tessera.bus.publish("demo.shout", n)
    tessera.bus.publish("order.placed", {"user": "alice"}, user="alice")
    body = app.test_client().get("/_tessera/inspect.json").get_json()
    tessera.close()
    rates = {row["topic"]: row for row in body["events"]["topics"]}
    assert (rates["demo.shout"]["total"], rates["demo.shout"]["last_minute"], rates["demo.shout"]["scope"]) == (3, 3, "global")
    assert (rates["order.placed"]["total"], rates["order.placed"]["scope"]) == (1, "user")
    assert body["pages"] == {"open": 0, "users": 0, "per_user": [
        {"pages": "1", "users": 0}, {"pages": "2", "users": 0}, {"pages": "3-4", "users": 0},
        {"pages": "5-8", "users": 0}, {"pages": "9+", "users": 0}]}
    assert body["status"] == "ok" and body["broker"]["ok"] is True
    assert [f["name"] for f in body["fragments"]] == ["alpha", "badmodule", "beta", "broken"]
    assert "alice" not in json.dumps({k: v for k, v in body.items() if k != "events"})


def test_an_unknown_inspect_setting_is_refused_with_the_values_it_takes(monkeypatch, tessera_frontends):
    from flask import Flask
    from tessera import Tessera
    from tessera.config import ConfigError

    monkeypatch.setenv("TESSERA_INSPECT", "maybe")
    with pytest.raises(ConfigError, match="off, local"):
        Tessera(Flask(__name__), frontends=tessera_frontends)



def test_rates_count_per_second_for_a_minute_and_bound_the_topics_they_name():
    from tessera.brokers.base import Envelope
    from tessera.events import Event
    from tessera.inspect import MAX_TOPICS, OTHER, Rates

    now = [1000.0]
    rates = Rates(clock=lambda: now[0])

    def stored(topic, scope="global"):
        rates.count(Envelope(Event(id=f"{topic}-{now[0]}", type=topic, source="/server", data=None), scope=scope))

    for second in range(70):  # one event a second for 70 s, and a burst of 5 in the last one
        now[0] = 1000.0 + second
        stored("a.tick")
    for _ in range(5):
        stored("b.burst", scope="user")
    [tick, burst] = sorted(rates.snapshot(), key=lambda row: row["topic"])
    assert (tick["total"], tick["last_minute"], tick["per_second"]) == (70, 60, 1.0)
    assert (burst["total"], burst["last_minute"], burst["per_second"], burst["scope"]) == (5, 5, 0.5, "user")
    assert rates.snapshot()[0]["topic"] == "a.tick"  # busiest first
    now[0] += 61
    assert [row["last_minute"] for row in rates.snapshot()] == [0, 0]

    for n in range(MAX_TOPICS + 10):
        stored(f"many.t{n}")
    named = {row["topic"] for row in rates.snapshot()}
    assert len(named) == MAX_TOPICS + 1 and OTHER in named
    assert next(row for row in rates.snapshot() if row["topic"] == OTHER)["total"] == 12
