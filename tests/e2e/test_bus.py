"""window.tessera.bus in Chromium, as CONTRACT.md section 5 describes it."""

import json

import pytest

pytestmark = pytest.mark.browser


def run(page, script, arg=None):
    """Evaluate an async function body in the page with `bus` = window.tessera.bus."""
    return page.evaluate(f"async (arg) => {{ const bus = window.tessera.bus; {script} }}", arg)


def test_publish_returns_a_cloudevent_from_the_shell(tessera_page):
    event = run(tessera_page, "return bus.publish('demo.local', {a: 1});")
    assert event["specversion"] == "1.0"
    assert (event["type"], event["source"], event["data"]) == ("demo.local", "/shell", {"a": 1})
    assert event["id"] and event["time"].endswith("Z")


def test_subscribers_receive_synchronously_with_wildcards(tessera_page):
    got = run(tessera_page, """
        const seen = [];
        for (const p of ['demo.*', 'demo.>', '>', '*', 'demo.local.x', 'demo.local'])
            bus.subscribe(p, (e) => seen.push(p + ':' + e.type));
        bus.publish('demo.local', 1);
        bus.publish('demo.local.x', 2);
        return seen;""")
    assert got == ["demo.*:demo.local", "demo.>:demo.local", ">:demo.local", "demo.local:demo.local",
                   "demo.>:demo.local.x", ">:demo.local.x", "demo.local.x:demo.local.x"]


def test_every_event_is_also_a_custom_event_on_window(tessera_page):
    detail = run(tessera_page, """
        let detail;
        window.addEventListener('demo.local', (e) => { detail = e.detail; }, {once: true});
        const event = bus.publish('demo.local', 'hi');
        return {same: detail.id === event.id, data: detail.data, isCustom: true};""")
    assert detail == {"same": True, "data": "hi", "isCustom": True}


def test_unsubscribe_and_unsubscribing_during_dispatch(tessera_page):
    got = run(tessera_page, """
        const seen = [];
        const offA = bus.subscribe('demo.local', () => { seen.push('a'); offA(); offB(); });
        const offB = bus.subscribe('demo.local', () => seen.push('b'));
        bus.publish('demo.local');
        bus.publish('demo.local');
        return seen;""")
    assert got == ["a"]


def test_a_throwing_handler_is_reported_and_does_not_break_the_publisher(tessera_page):
    got = run(tessera_page, """
        const seen = [];
        bus.scoped('thrower').subscribe('demo.local', () => { throw new Error('handler boom'); });
        bus.subscribe('demo.local', () => seen.push('after'));
        bus.publish('demo.local');
        return seen;""")
    assert got == ["after"]
    assert any('fragment "thrower"' in line and "handler boom" in line for line in tessera_page.tessera_console)


def test_once_resolves_with_the_next_event_and_can_time_out(tessera_page):
    got = run(tessera_page, """
        const next = bus.once('demo.*');
        bus.publish('demo.local', 5);
        const event = await next;
        let error = null;
        try { await bus.once('demo.never', {timeout: 50}); } catch (e) { error = e.message; }
        return {data: event.data, error};""")
    assert got["data"] == 5
    assert "demo.never" in got["error"]


def test_last_returns_the_latest_event_of_a_type(tessera_page):
    got = run(tessera_page, """
        const before = bus.last('demo.local');
        bus.publish('demo.local', 1); bus.publish('demo.local', 2);
        return {before: before === undefined, last: bus.last('demo.local').data};""")
    assert got == {"before": True, "last": 2}


def test_request_is_answered_by_a_responder_in_the_page(tessera_page):
    assert run(tessera_page, "return await bus.request('beta.echo', {x: 1});") == {"echoed": {"x": 1}, "by": "beta"}


def test_async_responder_and_request_timeout(tessera_page):
    got = run(tessera_page, """
        const off = bus.respond('demo.slow', () => new Promise((r) => setTimeout(() => r('late'), 500)));
        let error = null;
        try { await bus.request('demo.slow', null, {timeout: 50}); } catch (e) { error = e.message; }
        off();
        bus.respond('demo.fast', async (e) => e.data * 2);
        return {error, fast: await bus.request('demo.fast', 21)};""")
    assert "timed out" in got["error"]
    assert got["fast"] == 42


def test_invalid_topics_and_reserved_topics_throw(tessera_page):
    got = run(tessera_page, """
        const errors = [];
        for (const f of [() => bus.publish('bad topic'), () => bus.subscribe('a.>.b', () => {}),
                         () => bus.publish('tessera.mine')])
            try { f(); } catch (e) { errors.push(e.name); }
        return errors;""")
    assert got == ["TypeError", "TypeError", "TypeError"]


def test_fragment_bus_carries_its_source(tessera_page):
    assert run(tessera_page, "return window.alphaBus.publish('demo.local').source;") == "/fragments/alpha"


def test_runtime_is_importable_as_an_es_module_and_is_the_same_bus(tessera_page):
    assert run(tessera_page, "const m = await import('tessera'); return m.bus === window.tessera.bus;")


def test_ready_and_connection_state_exist(tessera_page):
    got = run(tessera_page, "await window.tessera.ready; return window.tessera.connection.state;")
    assert got in ("connecting", "open", "closed")


def test_javascript_matcher_agrees_with_the_shared_table(tessera_page, topic_cases):
    url = tessera_page.evaluate("document.querySelector('script[type=importmap]').textContent")
    topics_js = json.loads(url)["imports"]["tessera"].replace("tessera.js", "topics.js")
    got = run(tessera_page, """
        const {matches, topicProblem} = await import(arg.url);
        const c = arg.cases;
        return {
          wrongMatches: c.matches.filter(([p, t, want]) => matches(p, t) !== want),
          badValid: c.valid_topics.filter((t) => topicProblem(t)),
          badInvalid: c.invalid_topics.filter((t) => !topicProblem(t)),
          badValidPatterns: c.valid_patterns.filter((p) => topicProblem(p, true)),
          badInvalidPatterns: c.invalid_patterns.filter((p) => !topicProblem(p, true)),
        };""", {"url": topics_js, "cases": topic_cases})
    assert got == {"wrongMatches": [], "badValid": [], "badInvalid": [], "badValidPatterns": [],
                   "badInvalidPatterns": []}
