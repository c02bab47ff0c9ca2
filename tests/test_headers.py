"""Protective headers: a Content-Security-Policy on the shell page, and nosniff and
SAMEORIGIN framing on everything Tessera answers."""

import re

import pytest
from flask import Flask

from tessera import Tessera

from conftest import FIXTURES, ROOT

TOKEN = "header-token"


@pytest.fixture(scope="module")
def app():
    app = Flask(__name__)
    app.config["TESSERA_PUBLISH_TOKEN"] = TOKEN

    @app.get("/mine")
    def mine():
        return "the app's own page"

    tessera = Tessera(app, frontends=ROOT / "frontends")
    yield app
    tessera.close()


@pytest.fixture
def client(app):
    return app.test_client()


def policy(response):
    """The Content-Security-Policy as {directive: [sources]}."""
    directives = [d.split() for d in response.headers["Content-Security-Policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


def test_the_shell_page_has_a_strict_policy_with_a_fresh_nonce(client):
    first, second = client.get("/"), client.get("/")
    csp = policy(first)
    nonce = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{22,})'", csp["script-src"][1]).group(1)
    assert csp["script-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert csp["style-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert csp["default-src"] == ["'self'"] and csp["img-src"] == ["'self'", "data:"]
    assert csp["connect-src"] == ["'self'", "ws://localhost", "wss://localhost"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'self'"]
    assert policy(second)["script-src"][1] != f"'nonce-{nonce}'", "a nonce is used for one page only"


def test_every_script_the_page_runs_inline_carries_the_nonce(client):
    response = client.get("/")
    nonce = policy(response)["script-src"][1][len("'nonce-"):-1]
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert any('type="importmap"' in attrs for attrs in scripts)
    for attrs in scripts:
        if 'type="application/json"' not in attrs:  # a data block, never run
            assert f'nonce="{nonce}"' in attrs, attrs


def test_the_demo_page_needs_no_inline_style_or_handler_attributes(client):
    html = client.get("/").get_data(as_text=True)
    assert not re.search(r"<[^>]+\sstyle=", html), "style attributes are refused by style-src 'self'"
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "inline handlers are refused by script-src"
    assert "javascript:" not in html


def test_a_forged_host_header_cannot_add_to_the_policy(client):
    response = client.get("/", headers={"Host": "evil.example; script-src *"})
    csp = policy(response)
    assert csp["connect-src"] == ["'self'"] and csp["script-src"][0] == "'self'" and len(csp["script-src"]) == 2
    assert client.get("/", headers={"Host": "127.0.0.1:8000"}).headers["Content-Security-Policy"].count(
        "ws://127.0.0.1:8000 wss://127.0.0.1:8000") == 1


def responses(client, app):
    """One response of each kind Tessera sends."""
    html = client.get("/").get_data(as_text=True)
    fragment_asset = re.search(r'href="(/_tessera/fragments/cart/[^"]+\.css)"', html).group(1)
    runtime_asset = re.search(r'src="(/_tessera/shell/[^"]+/boot\.js)"', html).group(1)
    event = {"specversion": "1.0", "id": "h1", "type": "notify.new", "source": "/test", "data": {"title": "t"}}
    return {
        "shell page": client.get("/"),
        "fragment asset": client.get(fragment_asset),
        "runtime asset": client.get(runtime_asset),
        "missing asset": client.get(fragment_asset + "x"),
        "fragments JSON": client.get("/_tessera/fragments"),
        "asyncapi JSON": client.get("/_tessera/asyncapi.json"),
        "health JSON": client.get("/_tessera/health"),
        "unknown page": client.get("/no/such/page"),
        "unknown tessera path": client.get("/_tessera/nothing/here"),
        "published event": client.post("/_tessera/events", json=event,
                                       headers={"Authorization": f"Bearer {TOKEN}"}),
        "refused event": client.post("/_tessera/events", json=event),
        "plain GET of the socket": client.get("/_tessera/ws"),
    }


def test_everything_tessera_answers_is_nosniff_and_not_framed_by_other_origins(client, app):
    for kind, response in responses(client, app).items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", kind
        assert response.headers.get("X-Frame-Options") == "SAMEORIGIN", kind
        response.close()


def test_assets_are_sent_with_their_exact_media_types(client):
    html = client.get("/").get_data(as_text=True)
    for url, media_type in [(re.search(r'href="([^"]+/cart\.css)"', html).group(1), "text/css"),
                            (re.search(r'src="([^"]+/boot\.js)"', html).group(1), "text/javascript")]:
        with client.get(url) as response:
            assert response.mimetype == media_type


def test_the_apps_own_routes_are_left_alone(client):
    response = client.get("/mine")
    assert response.get_data(as_text=True) == "the app's own page"
    assert "X-Frame-Options" not in response.headers and "Content-Security-Policy" not in response.headers


def test_a_custom_shell_gets_the_nonce_as_csp_nonce(tmp_path):
    shell = tmp_path / "shell.html"
    shell.write_text('<html><head>{{ tessera_head }}<script nonce="{{ csp_nonce }}">window.mine = 1</script>'
                     '</head><body>{{ slot("main") }}{{ tessera_scripts }}</body></html>')
    app = Flask(__name__)
    tessera = Tessera(app, frontends=FIXTURES / "shop", shell=shell)
    response = app.test_client().get("/")
    tessera.close()
    nonce = policy(response)["script-src"][1][len("'nonce-"):-1]
    assert f'<script nonce="{nonce}">window.mine = 1</script>' in response.get_data(as_text=True)


# -- in Chromium -------------------------------------------------------------------------

VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def open_recording(tessera_browser, tessera_open, base):
    """A page of ``base`` that records every CSP violation in ``window.cspViolations``."""
    context = tessera_browser.new_context()
    context.add_init_script(VIOLATIONS)
    return context, tessera_open("/", context=context, base=base)


@pytest.mark.browser
def test_the_test_fixtures_run_under_the_policy_without_a_violation(tessera_server_factory, tessera_browser,
                                                                   tessera_open):
    server = tessera_server_factory(FIXTURES / "shop")
    context, page = open_recording(tessera_browser, tessera_open, server.url)
    page.wait_for_function("window.tessera.connection.state === 'open'")
    states = page.eval_on_selector_all("tessera-fragment", "els => els.map(e => e.dataset.state)")
    assert sorted(states) == ["failed", "failed", "mounted", "mounted"]  # broken and badmodule fail on purpose
    page.evaluate("window.alphaBus.publish('demo.ping', {n: 1})")
    assert page.inner_text("[data-test=beta-count]") == "1"
    assert page.evaluate("window.cspViolations") == []
    assert not [line for line in page.tessera_console if "Content Security Policy" in line]
    context.close()


@pytest.mark.browser
def test_in_a_custom_shell_only_scripts_with_the_nonce_run(tmp_path, tessera_server_factory, tessera_browser,
                                                          tessera_open):
    shell = tmp_path / "shell.html"
    shell.write_text('<html><head>{{ tessera_head }}</head><body>{{ slot("main") }}{{ tessera_scripts }}'
                     '<script nonce="{{ csp_nonce }}">window.withNonce = true</script>'
                     '<script>window.withoutNonce = true</script></body></html>')
    server = tessera_server_factory(FIXTURES / "shop", options=["--shell", str(shell)])
    context, page = open_recording(tessera_browser, tessera_open, server.url)
    assert page.evaluate("[window.withNonce, window.withoutNonce]") == [True, None]
    assert [v.split()[0] for v in page.evaluate("window.cspViolations")] == ["script-src-elem"]
    context.close()
