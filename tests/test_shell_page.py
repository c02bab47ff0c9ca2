"""The shell page and the HTTP surface, through Flask's test client."""

import json
import re

import pytest
from flask import Flask

from tessera import Tessera
from tessera.state import State

from conftest import FIXTURES


@pytest.fixture
def tessera():
    tessera = Tessera(frontends=FIXTURES / "shop")

    @tessera.props("alpha")
    def alpha_props():
        return {"greeting": "hello from props", "user": tessera.current_user()}

    yield tessera
    tessera.close()


@pytest.fixture
def app(tessera):
    app = Flask(__name__)
    tessera.init_app(app)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def config_of(html):
    return json.loads(re.search(r'<script type="application/json" id="tessera-config">(.*?)</script>', html).group(1))


def test_extension_state_is_in_app_extensions(app):
    state = app.extensions["tessera"]
    assert isinstance(state, State) and state.app is app
    assert [f.name for f in state.registry.fragments] == ["alpha", "badmodule", "beta", "broken"]
    assert app.config["TESSERA_HISTORY"] == 10000
    assert app.config["TESSERA_MAX_EVENT_BYTES"] == 65536


def test_fragments_are_rendered_into_their_slots(client):
    html = client.get("/").get_data(as_text=True)
    main = re.search(r'<main class="tessera-slot tessera-slot--main">(.*?)</main>', html, re.S).group(1)
    aside = re.search(r'<aside class="tessera-slot tessera-slot--aside">(.*?)</aside>', html, re.S).group(1)
    assert 'name="alpha"' in main and 'name="beta"' not in main
    assert 'name="beta"' in aside and 'name="broken"' in aside


def test_props_reach_the_template_and_the_browser(client):
    html = client.get("/").get_data(as_text=True)
    assert '<p data-test="alpha-prop">hello from props</p>' in html
    assert "hello from props" in html.split('name="alpha"')[1].split(">")[0]


def test_assets_have_content_hashed_urls_that_are_served_immutable(client):
    html = client.get("/").get_data(as_text=True)
    css = re.search(r'href="(/_tessera/fragments/alpha/[0-9a-f]{12}/src/alpha.css)"', html).group(1)
    with client.get(css) as response:
        assert response.status_code == 200 and "immutable" in response.headers["Cache-Control"]
    with client.get(css.replace(css.split("/")[4], "0" * 12)) as stale:
        assert stale.status_code == 200 and "no-cache" in stale.headers["Cache-Control"]


def test_server_code_and_manifests_are_not_served(client):
    html = client.get("/").get_data(as_text=True)
    base = re.search(r"(/_tessera/fragments/alpha/[0-9a-f]{12}/)", html).group(1)
    assert client.get(base + "fragment.toml").status_code == 404
    assert client.get(base + "../beta/src/index.js").status_code == 404


def test_page_config_lists_scopes_fragments_and_socket(client):
    config = config_of(client.get("/").get_data(as_text=True))
    assert config["scopes"] == {"demo.ping": "user", "demo.shout": "global", "demo.local": "page"}
    assert config["socket"] == "/_tessera/ws"
    assert set(config["fragments"]) == {"alpha", "beta", "broken", "badmodule"}
    assert config["position"]["seq"] == 0


def test_anonymous_visitor_gets_a_signed_cookie_and_keeps_their_id(client):
    first = client.get("/")
    user = config_of(first.get_data(as_text=True))["user"]
    assert user.startswith("anon-") and "tessera_uid" in first.headers["Set-Cookie"]
    assert config_of(client.get("/").get_data(as_text=True))["user"] == user


def test_only_the_root_and_declared_routes_are_pages(client):
    assert client.get("/favicon.ico").status_code == 404
    assert client.get("/no/such/page").status_code == 404


def test_fragments_endpoint(client):
    listing = client.get("/_tessera/fragments").get_json()
    assert {(f["name"], f["version"], f["slot"], f["state"]) for f in listing} == {
        ("alpha", "1.0.0", "main", "loaded"), ("beta", "2.1.0", "aside", "loaded"),
        ("broken", "0.1.0", "aside", "loaded"), ("badmodule", "0.1.0", "footer", "loaded")}


def test_health_endpoint(client):
    body = client.get("/_tessera/health").get_json()
    assert body["status"] == "ok" and body["broker"]["url"] == "memory://"
    assert body["connections"] == 0


def test_custom_shell_template(tmp_path):
    shell = tmp_path / "my-shell.html"
    shell.write_text("<html><head>{{ tessera_head }}</head><body><div id=mine>{{ slot('main') }}</div>"
                     "{{ tessera_scripts }}</body></html>")
    app = Flask(__name__)
    tessera = Tessera(app, frontends=FIXTURES / "shop", shell=shell)
    html = app.test_client().get("/").get_data(as_text=True)
    tessera.close()
    assert '<div id=mine><tessera-fragment name="alpha"' in html
    assert 'name="beta"' not in html


def test_fragments_whose_slot_the_shell_lacks_are_reported_once(tmp_path, caplog):
    shell = tmp_path / "main-only.html"
    shell.write_text("<html><head>{{ tessera_head }}</head><body>{{ slot('main') }}{{ tessera_scripts }}</body></html>")
    app = Flask(__name__)
    tessera = Tessera(app, frontends=FIXTURES / "shop", shell=shell)  # reported at start-up
    app.test_client().get("/")  # and not again
    tessera.close()
    warnings = [r.getMessage() for r in caplog.records if "has no slot" in r.getMessage()]
    assert warnings == ["the shell template has no slot('aside'): fragments beta, broken are not on the page",
                        "the shell template has no slot('footer'): fragments badmodule are not on the page"]


def test_init_app_pattern_and_setting_precedence(monkeypatch):
    monkeypatch.setenv("TESSERA_HISTORY", "77")
    app = Flask(__name__)
    app.config.update(TESSERA_HISTORY=5, TESSERA_RATE=7.0, TESSERA_FRONTENDS=str(FIXTURES / "shop"))
    tessera = Tessera()
    tessera.init_app(app)
    tessera.close()
    assert app.extensions["tessera"].app is app
    assert app.config["TESSERA_HISTORY"] == 77  # the environment wins (deployments set it)
    assert app.config["TESSERA_RATE"] == 7.0  # then the app's config, then the default
    assert app.config["TESSERA_MAX_EVENT_BYTES"] == 65536


def test_template_error_renders_the_fallback_and_keeps_the_page(tmp_path, caplog):
    folder = tmp_path / "oops"
    (folder / "src").mkdir(parents=True)
    (folder / "fragment.toml").write_text('name = "oops"\nversion = "1.0.0"\nslot = "main"\n'
                                          'entry = "src/i.js"\ntemplate = "src/t.html"\nfallback = "<p>sorry</p>"\n')
    (folder / "src" / "i.js").write_text("export function mount() {}")
    (folder / "src" / "t.html").write_text("{{ 1 / 0 }}")
    app = Flask(__name__)
    tessera = Tessera(app, frontends=tmp_path)
    response = app.test_client().get("/")
    listing = app.test_client().get("/_tessera/fragments").get_json()
    tessera.close()
    assert response.status_code == 200
    assert 'data-state="failed"' in response.get_data(as_text=True)
    assert "<p>sorry</p>" in response.get_data(as_text=True)
    assert "'oops' failed to render" in caplog.text
    assert [f["state"] for f in listing] == ["failed"]


@pytest.mark.parametrize(("shell", "message"), [
    ("<html>{{ broken", "is not a valid Jinja2 shell template: line 1"),
    ("<html>{% for x in %}</html>", "is not a valid Jinja2 shell template: line 1"),
])
def test_a_shell_with_a_syntax_error_stops_start_up(tmp_path, shell, message):
    from tessera import ManifestError

    path = tmp_path / "bad-shell.html"
    path.write_text(shell)
    with pytest.raises(ManifestError, match=message):
        Tessera(Flask(__name__), frontends=FIXTURES / "shop", shell=path)


def test_a_fragment_template_with_a_syntax_error_stops_start_up(tmp_path):
    from tessera import ManifestError

    folder = tmp_path / "oops"
    folder.mkdir()
    (folder / "fragment.toml").write_text('name = "oops"\nversion = "1.0.0"\nslot = "main"\n'
                                          'entry = "i.js"\ntemplate = "t.html"\n')
    (folder / "i.js").write_text("export function mount() {}")
    (folder / "t.html").write_text("<p>{{ unclosed </p>")
    with pytest.raises(ManifestError, match='field "template" t.html line 1'):
        Tessera(Flask(__name__), frontends=tmp_path)


def test_routes_star_stays_within_a_segment_and_double_star_crosses(tmp_path):
    from tessera.composition import route_matches

    assert route_matches(("/products/*",), "/products/42")
    assert not route_matches(("/products/*",), "/products/42/reviews")
    assert route_matches(("/products/**",), "/products/42/reviews")
    assert not route_matches(("/a.b",), "/axb")


def reference_route_regex(route):
    """The route semantics as a regex (the former implementation): fine for short paths only."""
    parts = re.split(r"(\*\*|\*)", route)
    return re.compile("".join({"**": ".*", "*": "[^/]*"}.get(part, re.escape(part)) for part in parts))


def test_route_matching_agrees_with_the_regex_semantics_on_random_routes_and_paths():
    import random

    from tessera.composition import route_matches

    rng = random.Random(8)
    for _ in range(5000):
        route = "/" + "".join(rng.choice("ab/*.") for _ in range(rng.randrange(8)))
        path = "/" + "".join(rng.choice("ab/.") for _ in range(rng.randrange(10)))
        expected = reference_route_regex(route).fullmatch(path) is not None
        assert route_matches((route,), path) is expected, (route, path)


CRAFTED = [("/**a**a**b", "/" + "a/" * 50_000),  # several ** and no final b: regex backtracking is cubic
           ("/**/**/**/**/x", "/" + "y/" * 50_000),
           ("/*a*a*a*b", "/" + "a" * 100_000)]


@pytest.mark.parametrize(("route", "path"), CRAFTED)
def test_route_matching_reads_each_character_of_a_crafted_100_kb_path_once(route, path):
    from tessera.composition import RoutePattern

    pattern = RoutePattern(route)
    steps = list(pattern.states(path))
    assert len(steps) <= len(path)  # one step per character, each a few operations on one int...
    assert all(states < 2 * pattern.accept for states in steps)  # ...of at most len(route) + 1 bits
    assert not pattern.matches(path) and pattern.matches(path + "b" if route.endswith("b") else path + "x")


def test_route_matching_stops_reading_once_nothing_can_match():
    from tessera.composition import RoutePattern

    assert len(list(RoutePattern("/products/*").states("/people/" + "x" * 100_000))) == 3


def test_routes_limit_where_fragments_appear(tmp_path):
    for name, routes in (("home", '["/"]'), ("product", '["/products/*"]')):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "fragment.toml").write_text(f'name = "{name}"\nversion = "1.0.0"\nslot = "main"\n'
                                              f'entry = "i.js"\nroutes = {routes}\n')
        (folder / "i.js").write_text("export function mount() {}")
    app = Flask(__name__)
    tessera = Tessera(app, frontends=tmp_path)
    client = app.test_client()
    home, product, missing = client.get("/"), client.get("/products/42"), client.get("/nowhere")
    tessera.close()
    assert 'name="home"' in home.get_data(as_text=True) and 'name="product"' not in home.get_data(as_text=True)
    assert 'name="product"' in product.get_data(as_text=True)
    assert missing.status_code == 404


def test_registering_after_the_first_request_is_an_error(tessera, client):
    client.get("/_tessera/health")
    with pytest.raises(AssertionError, match="before the app serves its first request"):
        tessera.props("beta")
    with pytest.raises(AssertionError, match="before the app serves its first request"):
        tessera.identify(lambda: None)
