"""The Flask extension: per-app state, several apps in one process, settings precedence, and
the context a fragment's server.py gets."""

import os
import queue
import re

import pytest
from flask import Flask, current_app

from tessera import Tessera
from tessera.config import command_line
from tessera.state import State


def fragment(folder, name, *, slot="main", server=None, publishes=""):
    """Write a minimal fragment ``name`` under ``folder`` (with ``server`` as its server.py)."""
    root = folder / name
    root.mkdir(parents=True)
    manifest = (f'name = "{name}"\nversion = "1.2.3"\nslot = "{slot}"\nentry = "i.js"\n'
                f'template = "t.html"\n')
    if server is not None:
        manifest += 'server = "server.py"\n'
        (root / "server.py").write_text(server)
    (root / "fragment.toml").write_text(manifest + publishes)
    (root / "i.js").write_text(f"export function mount() {{}} // {name}")
    (root / "t.html").write_text(f"<p>{name}: {{{{ props.get('text', 'none') }}}}</p>")
    return folder


def asset_url(html, name):
    return re.search(rf'"(/_tessera/fragments/{name}/[0-9a-f]{{12}}/i\.js)"', html).group(1)


@pytest.fixture
def close():
    """close(tessera) -> tessera, closed after the test."""
    opened = []
    yield lambda tessera: opened.append(tessera) or tessera
    for tessera in opened:
        tessera.close()


def test_two_apps_in_one_process_serve_their_own_page_and_fragments(tmp_path, close):
    first, second = Flask("first"), Flask("second")
    close(Tessera(first, frontends=fragment(tmp_path / "a", "one")))
    close(Tessera(second, frontends=fragment(tmp_path / "b", "two")))
    pages = {app.name: app.test_client().get("/").get_data(as_text=True) for app in (first, second)}

    assert 'name="one"' in pages["first"] and 'name="two"' not in pages["first"]
    assert 'name="two"' in pages["second"] and 'name="one"' not in pages["second"]
    with first.test_client().get(asset_url(pages["first"], "one")) as asset:
        assert asset.get_data(as_text=True).endswith("// one")
    assert second.test_client().get(asset_url(pages["first"], "one")).status_code == 404
    assert [f["name"] for f in first.test_client().get("/_tessera/fragments").get_json()] == ["one"]
    assert [f["name"] for f in second.test_client().get("/_tessera/fragments").get_json()] == ["two"]


def test_init_app_on_a_second_app_does_not_disturb_the_first(tmp_path, close):
    tessera = close(Tessera())
    first = Flask("first")
    first.config["TESSERA_FRONTENDS"] = str(fragment(tmp_path / "a", "one"))
    tessera.init_app(first)
    state, config = first.extensions["tessera"], dict(first.config)
    before = first.test_client().get("/").get_data(as_text=True)

    second = Flask("second")
    second.config.update(TESSERA_FRONTENDS=str(fragment(tmp_path / "b", "two")), TESSERA_HISTORY=5)
    tessera.init_app(second)

    assert first.extensions["tessera"] is state and dict(first.config) == config
    assert second.extensions["tessera"] is not state and second.config["TESSERA_HISTORY"] == 5
    after = first.test_client().get("/").get_data(as_text=True)
    assert 'name="one"' in after and 'name="two"' not in after
    per_page = r'anon-[0-9a-f]+|nonce="[^"]*"'  # the user id and the CSP nonce differ on every page
    assert re.sub(per_page, "", after) == re.sub(per_page, "", before)


def test_the_state_lives_in_app_extensions_and_the_extension_keeps_no_app(tmp_path, close):
    app = Flask(__name__)
    tessera = close(Tessera(app, frontends=fragment(tmp_path, "one")))
    state = app.extensions["tessera"]
    assert isinstance(state, State) and state.app is app
    assert not any(value is app for value in vars(tessera).values())
    assert "secret" not in repr(state).lower() and repr(state) == "<tessera.State of app 'test_extension': 1 fragments>"


def test_a_second_init_app_on_the_same_app_is_refused(tmp_path, close):
    app = Flask(__name__)
    close(Tessera(app, frontends=fragment(tmp_path, "one")))
    with pytest.raises(RuntimeError, match="already has a Tessera"):
        Tessera(frontends=tmp_path).init_app(app)


def test_one_tessera_serving_two_apps_publishes_to_the_app_in_context(tmp_path, close):
    tessera = close(Tessera())
    got = queue.Queue()

    @tessera.bus.subscribe("order.>")
    def record(event):  # Python handlers run inside their app's context
        got.put((current_app.name, event.type))
        if event.type == "order.placed":
            tessera.bus.publish("order.seen", event.data)

    apps = []
    for name in ("first", "second"):
        app = Flask(name)
        app.config["TESSERA_FRONTENDS"] = str(fragment(tmp_path / name, "one"))
        tessera.init_app(app)
        apps.append(app)
    with apps[1].app_context():
        tessera.bus.publish("order.placed", 1)

    assert [got.get(timeout=5) for _ in range(2)] == [("second", "order.placed"), ("second", "order.seen")]
    assert [app.extensions["tessera"].bus.broker.position() for app in apps] == [0, 2]
    with pytest.raises(RuntimeError, match="serves 2 apps"):
        tessera.bus.publish("order.placed", 2)


def test_publish_outside_an_app_context_goes_to_the_only_app(tmp_path, close):
    tessera = Tessera(frontends=fragment(tmp_path, "one"))
    with pytest.raises(RuntimeError, match="init_app"):
        tessera.bus.publish("order.placed", 1)
    app = Flask(__name__)
    close(tessera).init_app(app)
    event = tessera.bus.publish("order.placed", 1)
    assert (event.source, event.seq) == ("/server", 1)


def test_registrations_made_before_and_after_init_app_apply(tmp_path, close):
    tessera = Tessera(frontends=fragment(tmp_path, "one"))
    tessera.identify(lambda: "early")
    got = queue.Queue()
    tessera.bus.subscribe("order.>")(lambda event: got.put(("early", event.type)))
    app = Flask(__name__)
    close(tessera).init_app(app)
    tessera.props("one")(lambda: {"text": "from props"})
    tessera.bus.subscribe("order.>")(lambda event: got.put(("late", event.type)))

    html = app.test_client().get("/").get_data(as_text=True)
    assert "<p>one: from props</p>" in html and '"user":"early"' in html
    tessera.bus.publish("order.placed")
    assert [got.get(timeout=5) for _ in range(2)] == [("early", "order.placed"), ("late", "order.placed")]


def test_an_explicit_argument_wins_over_the_environment_with_a_warning(tmp_path, monkeypatch, caplog, close):
    monkeypatch.setenv("TESSERA_FRONTENDS", str(fragment(tmp_path / "env", "from-env")))
    app = Flask(__name__)
    close(Tessera(app, frontends=fragment(tmp_path / "code", "from-code")))
    assert [f.name for f in app.extensions["tessera"].registry.fragments] == ["from-code"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "wins over" in r.getMessage()]
    assert len(warnings) == 1
    assert "Tessera(frontends=" in warnings[0] and "environment variable TESSERA_FRONTENDS" in warnings[0]
    assert str(tmp_path / "code") in warnings[0] and str(tmp_path / "env") in warnings[0]


def test_the_same_value_from_two_sources_is_no_conflict(tmp_path, monkeypatch, caplog, close):
    folder = fragment(tmp_path, "one")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TESSERA_FRONTENDS", str(folder))
    close(Tessera(Flask(__name__, root_path=str(tmp_path)), frontends="."))
    assert "wins over" not in caplog.text


def test_command_line_options_beat_the_environment_and_lose_to_arguments(tmp_path, monkeypatch, caplog, close):
    monkeypatch.setenv("TESSERA_PUBLISH_TOKEN", "from-env")
    monkeypatch.setenv("TESSERA_FRONTENDS", str(fragment(tmp_path / "env", "from-env")))
    cli, code = fragment(tmp_path / "cli", "from-cli"), fragment(tmp_path / "code", "from-code")
    environ = dict(os.environ)
    with command_line(frontends=cli, publish_token="from-cli", allowed_origins=["https://Partner.example"]):
        plain, explicit = Flask("plain"), Flask("explicit")
        close(Tessera(plain))
        close(Tessera(explicit, frontends=code))
    outside = Flask("outside")
    close(Tessera(outside))

    assert dict(os.environ) == environ
    assert plain.config["TESSERA_PUBLISH_TOKEN"] == "from-cli"
    assert plain.config["TESSERA_ALLOWED_ORIGINS"] == ["https://partner.example"]
    assert [f.name for f in plain.extensions["tessera"].registry.fragments] == ["from-cli"]
    assert [f.name for f in explicit.extensions["tessera"].registry.fragments] == ["from-code"]
    assert [f.name for f in outside.extensions["tessera"].registry.fragments] == ["from-env"]
    assert outside.config["TESSERA_PUBLISH_TOKEN"] == "from-env"
    warnings = [r.getMessage() for r in caplog.records if "wins over" in r.getMessage()]
    assert len(warnings) == 2 and all("Tessera(frontends=" in w for w in warnings)
    assert "--frontends" in warnings[0] and "environment variable TESSERA_FRONTENDS" in warnings[1]


def test_a_bad_command_line_value_names_the_option(tmp_path):
    from tessera.config import ConfigError

    with command_line(allowed_origins=["not-an-origin"]), pytest.raises(ConfigError, match="--allowed-origin"):
        Tessera(Flask(__name__), frontends=fragment(tmp_path, "one"))


SERVER = '''
seen = []

def setup(fragment):
    @fragment.props
    def props():
        return {"text": f"{fragment.name} {fragment.version} for {fragment.current_user()}"}

    @fragment.bus.respond("stock.get")
    def stock(event):
        return {"answered_by": fragment.name}

    @fragment.bus.subscribe("order.placed")
    def on_order(event):
        fragment.bus.publish("stock.changed", {"left": 3})
        fragment.bus.publish("stock.audited", None, source="audit")
'''


def test_a_fragment_server_gets_a_context_scoped_to_its_fragment(tmp_path, close):
    frontends = fragment(tmp_path, "stock", server=SERVER)
    fragment(frontends, "other", slot="aside")
    tessera = Tessera(frontends=frontends)
    got = queue.Queue()
    tessera.bus.subscribe("stock.>")(lambda event: got.put((event.type, event.source, event.data)))
    tessera.identify(lambda: "alice")
    app = Flask(__name__)
    close(tessera).init_app(app)

    html = app.test_client().get("/").get_data(as_text=True)
    assert "<p>stock: stock 1.2.3 for alice</p>" in html and "<p>other: none</p>" in html
    tessera.bus.publish("order.placed", {"sku": "x"})
    assert got.get(timeout=5) == ("stock.changed", "/server/stock", {"left": 3})
    assert got.get(timeout=5) == ("stock.audited", "/server/audit", None)
    from tessera.events import Event

    assert app.extensions["tessera"].bus.answer(Event(type="stock.get", source="/shell")) == {"answered_by": "stock"}


def test_a_fragment_props_provider_cannot_be_registered_twice(tmp_path, close):
    frontends = fragment(tmp_path, "stock", server="def setup(fragment):\n    fragment.props(dict)\n")
    tessera = Tessera(frontends=frontends)
    tessera.props("stock")(dict)
    from tessera import ManifestError

    with pytest.raises(ManifestError, match="'stock' already has a props provider"):
        close(tessera).init_app(Flask(__name__))
