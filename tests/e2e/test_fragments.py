"""Fragment lifecycle in Chromium: mount, ctx, failure containment, unmount."""

import pytest

pytestmark = pytest.mark.browser


def states(page):
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('tessera-fragment')]"
        ".map(el => [el.getAttribute('name'), el.dataset.state]))"
    )


def test_every_fragment_settles_and_ready_resolves(tessera_page):
    assert states(tessera_page) == {"alpha": "mounted", "beta": "mounted", "broken": "failed", "badmodule": "failed"}


def test_server_rendered_content_is_in_the_html_before_javascript(tessera_server):
    import urllib.request

    with urllib.request.urlopen(tessera_server.url + "/") as response:
        html = response.read().decode()
    assert '<h2 data-test="alpha-title">Alpha for anon-' in html
    assert '<tessera-fragment name="alpha" data-version="1.0.0" data-state="loading"' in html


def test_ctx_carries_name_version_props_and_the_fragment_source(tessera_page):
    ctx = tessera_page.evaluate("window.alphaCtx")
    assert ctx == {"name": "alpha", "version": "1.0.0", "props": {}, "source": "/fragments/alpha"}
    assert tessera_page.get_attribute("tessera-fragment[name=alpha]", "data-mounted-by") == "alpha"


def test_mount_that_throws_shows_the_fallback_and_is_reported_by_name(tessera_page):
    fallback = tessera_page.locator("tessera-fragment[name=broken] [data-test=broken-fallback]")
    assert fallback.inner_text() == "Broken is unavailable"
    assert any('fragment "broken"' in line and "broken on purpose" in line for line in tessera_page.tessera_console)


def test_module_that_fails_to_load_shows_its_fallback(tessera_page):
    assert tessera_page.locator("[data-test=badmodule-fallback]").is_visible()
    assert any('fragment "badmodule"' in line for line in tessera_page.tessera_console)


def test_failed_fragment_leaves_no_subscriptions_and_others_still_work(tessera_page):
    tessera_page.evaluate("window.alphaBus.publish('demo.ping', {n: 1})")
    assert tessera_page.inner_text("[data-test=beta-count]") == "1"
    assert tessera_page.evaluate("window.brokenHeard === undefined")


def test_removing_a_fragment_unmounts_it_and_ends_its_subscriptions(tessera_page):
    tessera_page.evaluate("document.querySelector('tessera-fragment[name=alpha]').remove()")
    tessera_page.wait_for_function("window.alphaUnmounted === true")
    tessera_page.evaluate("window.tessera.bus.publish('demo.local', 1)")
    assert tessera_page.evaluate("window.received.length") == 0
