"""The bundled demo shop, as a visitor and a backend would use it."""

import json
import urllib.request
import uuid

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


def server_cart(page, expected, attempts=50):
    """The server's copy of the page user's cart (SKU -> quantity), once it is ``expected`` (its
    events are applied in order, a moment after the page applied them) or after ``attempts`` tries."""
    for _ in range(attempts):
        cart = {i["sku"]: i["qty"] for i in page.evaluate("window.tessera.bus.request('cart.get', {})")["items"]}
        if cart == expected:
            break
        page.wait_for_timeout(20)
    return cart


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


def wait_for_sentinel(server, page):
    """Notify the page's user and wait until the page has it: every event published before it that
    was going to reach the page has reached it by then (a page receives events in order)."""
    sentinel = {"specversion": "1.0", "id": f"sentinel-{uuid.uuid4().hex}", "type": "notify.new",
                "source": "/tests", "data": {"title": "Sentinel"}, "user": user_of(page)}
    request = urllib.request.Request(server.url + "/_tessera/events", data=json.dumps(sentinel).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202
    page.wait_for_function(f"window.tessera.bus.last('notify.new')?.id === '{sentinel['id']}'", timeout=10000)


def two_tabs_and_another_user(tessera_open, tessera_browser):
    """(alice's context, her two connected tabs, bob's connected page)."""
    alice = tessera_browser.new_context()
    pages = tessera_open("/", context=alice), tessera_open("/", context=alice), tessera_open("/")
    for page in pages:
        wait_open(page)
    return (alice, *pages)


def test_cart_follows_the_user_across_tabs_but_not_to_other_users(tessera_open, tessera_browser, tessera_server):
    alice, tab1, tab2, bob = two_tabs_and_another_user(tessera_open, tessera_browser)
    fragment(tab1, "catalog").locator("[data-action=add][data-sku=ken-nyeri]").click()
    tab2.wait_for_function("document.querySelector('tessera-fragment[name=cart] li[data-sku=ken-nyeri]')")
    assert cart_skus(tab1) == cart_skus(tab2) == ["ken-nyeri"]
    fragment(tab2, "recommendations").locator("[data-action=add]:visible").first.click()
    tab1.wait_for_function("document.querySelectorAll('tessera-fragment[name=cart] li[data-sku]').length === 2")
    wait_for_sentinel(tessera_server, bob)
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


def test_cart_asks_python_for_the_quote_at_the_catalogs_prices(tessera_page):
    wait_open(tessera_page)
    quote = tessera_page.evaluate(
        "window.tessera.bus.request('pricing.quote', {items: [{sku: 'col-huila', name: 'X', price: 0.01, qty: 5},"
        " {sku: 'no-such-thing', name: 'Y', price: 1, qty: 1}]})")
    assert quote["total"] == 65 and quote["shipping"] == 0 and quote["currency"] == "EUR"
    assert quote["items"] == [{"sku": "col-huila", "name": "Huila Pink Bourbon", "price": 13.0, "qty": 5, "max": 18}]


def test_a_forged_price_is_ignored_and_the_catalogs_price_is_charged(tessera_page):
    wait_open(tessera_page)
    confirmed = tessera_page.evaluate("""() => {
        const confirmed = window.tessera.bus.once('order.confirmed', {timeout: 10000});
        window.tessera.bus.publish('checkout.requested',
            {items: [{sku: 'gear-kettle', name: 'Free kettle', price: 0, qty: 1}], total: 0});
        return confirmed.then((event) => event.data);
    }""")
    assert confirmed["total"] == 49.0
    assert [(i["sku"], i["price"], i["qty"]) for i in confirmed["items"]] == [("gear-kettle", 49.0, 1)]
    badge = "tessera-fragment[name=header] .header-badge"
    tessera_page.wait_for_function(f"!document.querySelector('{badge}').hidden")
    fragment(tessera_page, "header").locator("[data-action=toggle]").click()
    assert fragment(tessera_page, "header").get_by_text("€49.00", exact=False).first.is_visible()


def test_an_order_for_more_than_is_in_stock_is_refused_and_takes_nothing(tessera_page):
    wait_open(tessera_page)
    bus = "window.tessera.bus"
    before = tessera_page.evaluate(f"{bus}.request('catalog.stock', {{}})")
    refused = tessera_page.evaluate(f"""() => {{
        const refused = {bus}.once('order.refused', {{timeout: 10000}});
        {bus}.publish('checkout.requested', {{items: [
            {{sku: 'gear-dripper', name: 'Dripper', price: 0, qty: 1}},
            {{sku: 'gear-grinder', name: 'Grinder', price: 0, qty: 99}}], total: 0}});
        return refused.then((event) => event.data);
    }}""")
    assert (refused["sku"], refused["available"]) == ("gear-grinder", before["gear-grinder"])
    assert tessera_page.evaluate(f"{bus}.request('catalog.stock', {{}})") == before  # all or nothing


def test_the_cart_holds_no_more_than_is_in_stock(tessera_open, tessera_browser):
    shopper = tessera_open("/")
    wait_open(shopper)
    stock = int(shopper.get_attribute(
        "tessera-fragment[name=catalog] li[data-sku=gear-grinder] [data-stock]", "data-stock"))
    add = fragment(shopper, "catalog").locator("[data-action=add][data-sku=gear-grinder]")
    for _ in range(stock + 2):
        add.click()
    line = "tessera-fragment[name=cart] li[data-sku=gear-grinder]"
    shopper.wait_for_function(f"document.querySelector('{line} [aria-label=Quantity]')?.textContent === '{stock}'")
    assert shopper.locator(f"{line} [data-action=inc]").is_disabled()
    assert server_cart(shopper, {"gear-grinder": stock}) == {"gear-grinder": stock}  # the server's copy too


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
    wait_for_sentinel(tessera_server, bob)
    assert bob.locator("tessera-fragment[name=header] .header-list").text_content().count("Sentinel") == 1
    assert "Invoice ready" not in bob.locator("tessera-fragment[name=header] .header-list").text_content()


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


def test_when_stock_runs_out_before_checkout_the_cart_says_so_and_adjusts(tessera_open):
    alice, bob = tessera_open("/"), tessera_open("/")
    wait_open(alice), wait_open(bob)
    stock = alice.evaluate("window.tessera.bus.request('catalog.stock', {})")["sum-decaf"]
    for _ in range(stock):
        fragment(alice, "catalog").locator("[data-action=add][data-sku=sum-decaf]").click()
    quantity = "tessera-fragment[name=cart] li[data-sku=sum-decaf] [aria-label=Quantity]"
    alice.wait_for_function(f"document.querySelector('{quantity}')?.textContent === '{stock}'")
    bob.evaluate("""() => {
        const confirmed = window.tessera.bus.once('order.confirmed', {timeout: 10000});
        window.tessera.bus.publish('checkout.requested',
            {items: [{sku: 'sum-decaf', name: 'Decaf', price: 13.5, qty: 1}], total: 13.5});
        return confirmed;
    }""")
    fragment(alice, "cart").locator("[data-action=checkout]").click()
    note = fragment(alice, "cart").locator(".cart-note")
    note.wait_for(timeout=10000)
    assert note.inner_text() == f"Only {stock - 1} left of Mandheling Decaf: we've updated your cart."
    alice.wait_for_function(f"document.querySelector('{quantity}')?.textContent === '{stock - 1}'")
    assert server_cart(alice, {"sum-decaf": stock - 1}) == {"sum-decaf": stock - 1}


def test_the_recommendations_show_the_prices_the_catalog_charges():
    import importlib.util
    import re

    spec = importlib.util.spec_from_file_location("catalog_server", ROOT / "frontends/catalog/server.py")
    catalog = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(catalog)
    template = (ROOT / "frontends/recommendations/src/recommendations.html").read_text()
    shown = {sku: (name, float(price)) for sku, name, price in re.findall(
        r'"sku": "([^"]+)", "icon": "[^"]+", "name": "([^"]+)", "blurb": "[^"]+", "price": ([0-9.]+)', template)}
    assert len(shown) == 8
    assert shown == {p["sku"]: (p["name"], p["price"]) for p in catalog.PRODUCTS if p["sku"] in shown}
