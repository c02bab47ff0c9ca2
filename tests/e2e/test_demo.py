"""The bundled demo shop, as a visitor and a backend would use it."""

import json
import urllib.request

import pytest

from conftest import ROOT

pytestmark = pytest.mark.browser
TOKEN = "demo-token"


@pytest.fixture(scope="module")
def tessera_frontends():
    return ROOT / "frontends"


@pytest.fixture(scope="module")
def tessera_server_options():
    return ["--publish-token", TOKEN]


def fragment(page, name):
    return page.locator(f"tessera-fragment[name={name}]")


def cart_skus(page):
    return fragment(page, "cart").locator("li[data-sku]").evaluate_all("els => els.map(e => e.dataset.sku)")


def user_of(page):
    return page.evaluate("JSON.parse(document.getElementById('tessera-config').textContent).user")


def wait_open(page):
    page.wait_for_function("window.tessera.connection.state === 'open'", timeout=10000)


def test_demo_composes_five_independent_fragments_without_errors(tessera_page):
    names = tessera_page.eval_on_selector_all(
        "tessera-fragment", "els => els.map(e => [e.getAttribute('name'), e.dataset.state])")
    assert dict(names) == {n: "mounted" for n in ("header", "catalog", "recommendations", "cart", "activity")}
    for name in dict(names):
        folder = ROOT / "frontends" / name
        assert (folder / "fragment.toml").is_file()
        code = "".join(p.read_text() for p in folder.rglob("*.js"))
        others = [other for other in dict(names) if other != name]
        assert not any(f"frontends/{o}" in code or f"../{o}/" in code for o in others), f"{name} imports another"
    errors = [line for line in tessera_page.tessera_console if line.startswith(("error", "pageerror"))]
    assert errors == []


CSP_RECORDER = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def test_the_demo_works_under_its_content_security_policy(tessera_open, tessera_browser, tessera_server):
    with urllib.request.urlopen(tessera_server.url + "/") as response:
        assert "script-src 'self' 'nonce-" in response.headers["Content-Security-Policy"]
    context = tessera_browser.new_context()
    context.add_init_script(CSP_RECORDER)
    page = tessera_open("/", context=context)
    wait_open(page)
    catalog, cart = fragment(page, "catalog"), fragment(page, "cart")
    catalog.locator("[data-action=filter][data-filter=gear]").click()
    catalog.locator("[data-action=filter][data-filter=all]").click()
    catalog.locator("[data-action=add][data-sku=col-huila]").click()
    cart.locator("progress.cart-ship-bar").wait_for()
    fragment(page, "recommendations").locator("[data-action=add]:visible").first.click()
    page.wait_for_function("document.querySelectorAll('tessera-fragment[name=cart] li[data-sku]').length === 2")
    fragment(page, "header").locator("[data-action=toggle]").click()
    second = tessera_open("/", context=context)  # the cart rendered on the server
    assert second.locator("tessera-fragment[name=cart] progress.cart-ship-bar").count() == 1
    for tab in (page, second):
        assert tab.evaluate("window.cspViolations") == []
        assert not [line for line in tab.tessera_console if line.startswith(("error", "pageerror"))]
    context.close()


def two_tabs_and_another_user(tessera_open, tessera_browser):
    """(alice's context, her two connected tabs, bob's connected page)."""
    alice = tessera_browser.new_context()
    pages = tessera_open("/", context=alice), tessera_open("/", context=alice), tessera_open("/")
    for page in pages:
        wait_open(page)
    return (alice, *pages)


def test_cart_follows_the_user_across_tabs_but_not_to_other_users(tessera_open, tessera_browser):
    alice, tab1, tab2, bob = two_tabs_and_another_user(tessera_open, tessera_browser)
    fragment(tab1, "catalog").locator("[data-action=add][data-sku=ken-nyeri]").click()
    tab2.wait_for_function("document.querySelector('tessera-fragment[name=cart] li[data-sku=ken-nyeri]')")
    assert cart_skus(tab1) == cart_skus(tab2) == ["ken-nyeri"]
    fragment(tab2, "recommendations").locator("[data-action=add]:visible").first.click()
    tab1.wait_for_function("document.querySelectorAll('tessera-fragment[name=cart] li[data-sku]').length === 2")
    bob.wait_for_timeout(300)
    assert cart_skus(bob) == []
    tab3 = tessera_open("/", context=alice)
    assert sorted(cart_skus(tab3)) == sorted(cart_skus(tab1)), "a new tab renders the cart on the server"
    alice.close()


def test_checkout_is_handled_in_python_and_notifies_only_that_user(tessera_open, tessera_browser):
    alice, shopper, other_tab, bob = two_tabs_and_another_user(tessera_open, tessera_browser)
    stock = "tessera-fragment[name=catalog] li[data-sku=gear-kettle] [data-stock]"
    before = int(bob.get_attribute(stock, "data-stock"))
    fragment(shopper, "catalog").locator("[data-action=add][data-sku=gear-kettle]").click()
    shopper.wait_for_function("document.querySelector('tessera-fragment[name=cart] li[data-sku=gear-kettle]')")
    fragment(shopper, "cart").locator("[data-action=checkout]").click()
    badge = "tessera-fragment[name=header] .header-badge"
    for page in (shopper, other_tab):
        page.wait_for_function(f"!document.querySelector('{badge}').hidden", timeout=10000)
    bob.wait_for_function(f"document.querySelector('{stock}').dataset.stock === '{before - 1}'", timeout=10000)
    assert bob.locator(badge).is_hidden()
    fragment(bob, "activity").get_by_text("order", exact=False).first.wait_for(timeout=10000)
    shopper.wait_for_function("document.querySelectorAll('tessera-fragment[name=cart] li[data-sku]').length === 0")
    alice.close()


def test_cart_asks_python_for_the_quote(tessera_page):
    wait_open(tessera_page)
    quote = tessera_page.evaluate(
        "window.tessera.bus.request('pricing.quote', {items: [{sku: 'x', name: 'X', price: 10, qty: 5}]})")
    assert quote["total"] == 50 and quote["shipping"] == 0 and quote["currency"] == "EUR"


def test_backend_notification_over_http_appears_in_that_users_bell(tessera_open, tessera_server):
    alice, bob = tessera_open("/"), tessera_open("/")
    wait_open(alice), wait_open(bob)
    body = {"specversion": "1.0", "id": "n-http-1", "type": "notify.new", "source": "/billing",
            "data": {"title": "Invoice ready", "body": "Your November invoice is ready."}, "user": user_of(alice)}
    request = urllib.request.Request(tessera_server.url + "/_tessera/events", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202
    alice.wait_for_function("!document.querySelector('tessera-fragment[name=header] .header-badge').hidden")
    fragment(alice, "header").locator("[data-action=toggle]").click()
    assert fragment(alice, "header").get_by_text("Invoice ready").is_visible()
    bob.wait_for_timeout(300)
    assert bob.locator("tessera-fragment[name=header] .header-badge").is_hidden()


def test_after_a_long_outage_the_cart_refetches_its_state(tessera_server_factory, tessera_open, tessera_browser):
    from tessera.testing.proxy import NetworkProxy

    server = tessera_server_factory(ROOT / "frontends", env={"TESSERA_HISTORY": "3"})
    proxy = NetworkProxy(server.port).start()
    try:
        alice = tessera_browser.new_context()
        offline = tessera_open("/", context=alice, base=proxy.url)
        online = tessera_open("/", context=alice, base=server.url)
        wait_open(offline), wait_open(online)
        proxy.cut()
        offline.wait_for_function("window.tessera.connection.state !== 'open'")
        for sku in ("eth-yirgacheffe", "col-huila", "ken-nyeri", "gua-antigua", "sum-decaf"):
            fragment(online, "catalog").locator(f"[data-action=add][data-sku={sku}]").click()
        proxy.restore()
        offline.wait_for_function(
            "document.querySelectorAll('tessera-fragment[name=cart] li[data-sku]').length === 5", timeout=20000)
        assert offline.evaluate("window.tessera.bus.last('tessera.resync') !== undefined")
        assert sorted(cart_skus(offline)) == sorted(cart_skus(online))
        alice.close()
    finally:
        proxy.close()
