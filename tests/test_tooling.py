"""tessera check, tessera asyncapi (and /_tessera/asyncapi.json) and tessera new."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT


def tessera(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tessera", *args], capture_output=True, text=True,
                          timeout=30, cwd=cwd)


def test_check_passes_on_the_demo():
    done = tessera("check", "--frontends", str(ROOT / "frontends"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "5 fragments, no problems"


def test_check_notes_topics_nobody_in_the_page_hears(tmp_path):
    (tmp_path / "bell").mkdir()
    (tmp_path / "bell" / "fragment.toml").write_text('name = "bell"\nversion = "1.0.0"\nslot = "main"\n'
                                                    'entry = "i.js"\n[publishes."bell.rang"]\nscope = "user"\n')
    (tmp_path / "bell" / "i.js").write_text("export function mount() {}")
    done = tessera("check", "--frontends", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "note: bell publishes 'bell.rang', which no fragment subscribes to (your app's Python or other "
        "backends may)", "1 fragment, no problems"]


def test_check_lists_every_problem_and_exits_1(tmp_path):
    shutil.copytree(FIXTURES / "shop", tmp_path / "shop")
    (tmp_path / "shop" / "beta" / "fragment.toml").write_text('name = "beta"\nversion = "two"\nslot = "aside"\n'
                                                             'entry = "src/index.js"\n')
    (tmp_path / "shop" / "broken" / "fragment.toml").write_text('name = "alpha"\nversion = "1.0.0"\nslot = "aside"\n'
                                                               'entry = "src/index.js"\n'
                                                               '[publishes."demo.ping"]\nscope = "global"\n')
    done = tessera("check", "--frontends", str(tmp_path / "shop"))
    assert done.returncode == 1
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4, lines
    assert any('beta/fragment.toml: field "version"' in line for line in lines)
    assert any('field "name" \'alpha\' is already used' in line for line in lines)
    assert any('field "publishes.demo.ping.scope" is \'global\'' in line for line in lines)
    assert any('field "publishes.demo.ping.schema" differs' in line for line in lines)


def test_check_on_a_missing_folder_is_a_usage_error(tmp_path):
    done = tessera("check", "--frontends", str(tmp_path / "nope"))
    assert done.returncode == 2 and "is not a folder of fragments" in done.stderr


def test_asyncapi_documents_every_declared_topic_with_its_producers_and_consumers():
    done = tessera("asyncapi", "--frontends", str(FIXTURES / "shop"))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["asyncapi"] == "3.0.0"
    assert {c["address"] for c in doc["channels"].values()} == {"demo.ping", "demo.shout", "demo.local"}
    ping = doc["channels"]["demo-ping"]["messages"]["event"]
    assert doc["components"]["schemas"]["demo-ping.data"]["required"] == ["n"] and ping["x-tessera-scope"] == "user"
    assert doc["operations"]["alpha.send.demo-ping"]["action"] == "send"
    assert doc["operations"]["beta.receive.demo-ping"]["channel"] == {"$ref": "#/channels/demo-ping"}
    assert "beta.receive.demo-shout" not in doc["operations"]


def test_asyncapi_includes_topics_fragments_only_subscribe_to():
    doc = json.loads(tessera("asyncapi", "--frontends", str(ROOT / "frontends")).stdout)
    notify = doc["channels"]["notify-new"]
    assert notify["address"] == "notify.new" and "published by the server" in notify["description"]
    assert notify["messages"]["event"]["x-tessera-scope"] == "server"
    assert doc["operations"]["header.receive.notify-new"]["action"] == "receive"


def test_asyncapi_json_endpoint_serves_the_same_document_with_its_own_address(tessera_server):
    import urllib.request

    with urllib.request.urlopen(tessera_server.url + "/_tessera/asyncapi.json") as response:
        served = json.loads(response.read())
    printed = json.loads(tessera("asyncapi", "--frontends", str(FIXTURES / "shop")).stdout)
    assert served.pop("servers")["websocket"]["host"] == f"127.0.0.1:{tessera_server.port}"
    assert printed.pop("servers")["websocket"]["host"] == "127.0.0.1:8000"
    assert served == printed


def test_asyncapi_messages_are_whole_cloudevents_with_the_declared_data():
    doc = json.loads(tessera("asyncapi", "--frontends", str(FIXTURES / "shop")).stdout)
    message = doc["channels"]["demo-ping"]["messages"]["event"]
    assert message["contentType"] == "application/cloudevents+json"
    event = doc["components"]["schemas"]["demo-ping"]
    assert message["payload"] == {"$ref": "#/components/schemas/demo-ping"}
    assert event["required"] == ["specversion", "id", "source", "type"]
    properties = event["properties"]
    assert properties["specversion"]["const"] == "1.0" and properties["type"] == {"const": "demo.ping"}
    assert properties["time"]["format"] == "date-time"
    assert {"subject", "datacontenttype", "dataschema", "seq", "epoch"} <= set(properties)
    assert properties["data"] == {"$ref": "#/components/schemas/demo-ping.data"}
    assert doc["components"]["schemas"]["demo-ping.data"]["required"] == ["n"]
    assert "no schema" in doc["components"]["schemas"]["demo-shout"]["properties"]["data"]["description"]


def test_asyncapi_lists_the_websocket_the_http_endpoint_and_its_bearer_scheme():
    doc = json.loads(tessera("asyncapi", "--frontends", str(FIXTURES / "shop")).stdout)
    websocket, http = doc["servers"]["websocket"], doc["servers"]["http"]
    assert (websocket["protocol"], websocket["pathname"]) == ("ws", "/_tessera/ws")
    assert (http["protocol"], http["pathname"]) == ("http", "/_tessera/events")
    assert http["security"] == [{"$ref": "#/components/securitySchemes/bearer"}]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": ANY_TEXT}


class _AnyText:
    def __eq__(self, other):
        return isinstance(other, str) and len(other) > 10


ANY_TEXT = _AnyText()


def test_asyncapi_shows_what_fragments_server_code_publishes():
    doc = json.loads(tessera("asyncapi", "--frontends", str(ROOT / "frontends")).stdout)
    assert doc["operations"]["cart.server.send.order-confirmed"]["summary"] == "cart/server.py 1.0.0 publishes it"
    assert doc["operations"]["catalog.server.send.stock-changed"]["action"] == "send"
    assert doc["channels"]["catalog-products"]["address"] == "catalog.products"


def test_asyncapi_shows_requests_with_who_asks_and_who_answers():
    doc = json.loads(tessera("asyncapi", "--frontends", str(ROOT / "frontends")).stdout)
    asked = doc["operations"]["cart.request.pricing-quote"]
    answered = doc["operations"]["cart.server.respond.pricing-quote"]
    assert (asked["action"], answered["action"]) == ("send", "receive")
    assert asked["channel"] == answered["channel"] == {"$ref": "#/channels/pricing-quote.request"}
    reply = "#/channels/pricing-quote.reply"
    assert asked["reply"] == answered["reply"] == {"channel": {"$ref": reply},
                                                   "messages": [{"$ref": f"{reply}/messages/reply"}]}
    assert doc["channels"]["pricing-quote.request"]["address"] == "pricing.quote"
    assert doc["components"]["schemas"]["pricing-quote.request"]["properties"]["type"] == {"const": "pricing.quote"}


# -- the official parser: @asyncapi/parser, installed by the test from tests/asyncapi/package-lock.json --

PARSER = ROOT / "tests" / "asyncapi"


@pytest.fixture(scope="session")
def asyncapi_parser():
    """validate(document) -> the parser's diagnostics (dicts), asserting it found no error."""
    if not (PARSER / "node_modules" / "@asyncapi" / "parser").is_dir():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install @asyncapi/parser (tests/asyncapi/package.json)"
        done = subprocess.run([npm, "ci", "--prefix", str(PARSER), "--no-audit", "--no-fund"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    def validate(document):
        done = subprocess.run(["node", str(PARSER / "validate.mjs")], input=json.dumps(document),
                              capture_output=True, text=True, timeout=60)
        diagnostics = [json.loads(line) for line in done.stdout.splitlines()]
        errors = [d for d in diagnostics if d["severity"] == "error"]
        assert done.returncode == 0 and not errors, errors or done.stderr
        return diagnostics

    return validate


SCHEMAS = {
    "plain": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
    "defs and ref": {"type": "object", "properties": {"item": {"$ref": "#/$defs/item"}},
                     "$defs": {"item": {"type": "object", "properties": {"sku": {"type": "string"}}}}},
    "nested defs": {"$defs": {"a": {"$defs": {"b": {"type": "string"}}, "$ref": "#/$defs/a/$defs/b"}},
                    "items": {"$ref": "#/$defs/a"}},
    "anchor": {"$defs": {"price": {"$anchor": "price", "type": "number"}}, "properties": {"p": {"$ref": "#price"}}},
    "own id": {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://shop.example/item",
               "$defs": {"n": {"type": "integer"}}, "properties": {"n": {"$ref": "https://shop.example/item#/$defs/n"},
                                                                    "m": {"$ref": "#/$defs/n"}}},
    "recursive": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}},
    "2020-12 keywords": {"type": "array", "prefixItems": [{"type": "string"}], "items": False,
                         "unevaluatedProperties": False, "dependentRequired": {"a": ["b"]}},
    "a $ref as a value": {"$defs": {"n": {}}, "const": {"$ref": "#/$defs/n"}},
    "true": True,
    "false": False,
}


@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=list(SCHEMAS))
def test_the_official_parser_accepts_the_document_for_every_schema_check_accepts(tmp_path, asyncapi_parser, schema):
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "fragment.toml").write_text('name = "alpha"\nversion = "1.0.0"\nslot = "main"\n'
                                                     'entry = "i.js"\n[publishes."demo.ping"]\nscope = "user"\n'
                                                     'schema = "s.json"\n[subscribes."demo.ping"]\n'
                                                     '[requests."demo.ask"]\n[responds."demo.ask"]\n')
    (tmp_path / "alpha" / "i.js").write_text("export function mount() {}")
    (tmp_path / "alpha" / "s.json").write_text(json.dumps(schema))
    assert tessera("check", "--frontends", str(tmp_path)).returncode == 0
    done = tessera("asyncapi", "--frontends", str(tmp_path))
    assert done.returncode == 0, done.stderr
    asyncapi_parser(json.loads(done.stdout))


@pytest.mark.parametrize("folder", [ROOT / "frontends", FIXTURES / "shop"], ids=["demo", "fixtures"])
def test_the_official_parser_accepts_the_demo_documents(asyncapi_parser, folder):
    asyncapi_parser(json.loads(tessera("asyncapi", "--frontends", str(folder)).stdout))


def test_the_official_parser_resolves_rewritten_references_to_the_declared_definitions():
    from tessera.asyncapi import bundled

    schema = SCHEMAS["own id"] | {"properties": {"a": {"$ref": "#/$defs/n"}, "b": {"$ref": "#"}}}
    out = bundled(schema, "#/components/schemas/x")
    assert out["properties"] == {"a": {"$ref": "#/components/schemas/x/$defs/n"},
                                 "b": {"$ref": "#/components/schemas/x"}}
    assert "$id" not in out and out["x-schema-id"] == "https://shop.example/item"
    assert bundled(SCHEMAS["anchor"], "#/c")["properties"]["p"] == {"$ref": "#/c/$defs/price"}


def test_new_scaffolds_a_fragment_that_passes_check(tmp_path):
    done = tessera("new", "price-alert", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "frontends" / "price-alert" / "fragment.toml").is_file()
    assert tessera("check", cwd=tmp_path).returncode == 0
    again = tessera("new", "price-alert", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize("name", ["Price", "9lives", "with space", "tessera"])
def test_new_refuses_bad_names(tmp_path, name):
    done = tessera("new", name, cwd=tmp_path)
    assert done.returncode == 2 and ("must match" in done.stderr or "reserved" in done.stderr)


@pytest.mark.browser
def test_a_scaffolded_fragment_mounts_and_talks_over_the_bus(tmp_path, tessera_server_factory, tessera_open):
    assert tessera("new", "hello-world", cwd=tmp_path).returncode == 0
    server = tessera_server_factory(tmp_path / "frontends")
    page = tessera_open("/", base=server.url)
    fragment = page.locator("tessera-fragment[name=hello-world]")
    assert fragment.get_attribute("data-state") == "mounted"
    fragment.locator("button").click()
    fragment.locator("button").click()
    assert fragment.locator("[data-count]").inner_text() == "2"


def test_check_notes_a_slot_the_default_shell_does_not_have(tmp_path):
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "fragment.toml").write_text('name = "odd"\nversion = "1.0.0"\nslot = "nowhere"\n'
                                                   'entry = "i.js"\n')
    (tmp_path / "odd" / "i.js").write_text("export function mount() {}")
    done = tessera("check", "--frontends", str(tmp_path))
    assert done.returncode == 0
    assert "note: odd is in slot 'nowhere', which the default shell does not have" in done.stdout
