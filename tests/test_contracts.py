"""One contract: what `tessera check` reports, `tessera run` and `tessera asyncapi` refuse, word for word."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tessera import contracts
from tessera.manifest import Fragment, ManifestError, Publication
from tessera.registry import load_fragments, load_registry
from tessera.testing.server import free_port

BASE = 'version = "1.0.0"\nslot = "main"\nentry = "i.js"\n'


def fragment(folder, name, tables="", files=None):
    """Write ``folder/fragment.toml`` for ``name`` with the extra TOML ``tables`` and ``files``."""
    folder.mkdir(parents=True)
    (folder / "fragment.toml").write_text(f'name = "{name}"\n{BASE}{tables}')
    (folder / "i.js").write_text("export function mount() {}")
    for file, text in (files or {}).items():
        (folder / file).write_text(text)


def ping(scope="user", schema=None):
    tables = f'[publishes."demo.ping"]\nscope = "{scope}"\n'
    if schema is None:
        return tables, {}
    return tables + 'schema = "ping.json"\n', {"ping.json": json.dumps(schema)}


def two_schemas(root):
    fragment(root / "alpha", "alpha", *ping(schema={"type": "object"}))
    fragment(root / "beta", "beta", *ping(schema={"type": "array"}))


def two_scopes(root):
    fragment(root / "alpha", "alpha", *ping(scope="user"))
    fragment(root / "beta", "beta", *ping(scope="global"))


def one_name_twice(root):
    fragment(root / "one", "cart")
    fragment(root / "two", "cart")


def broken_manifest(root):
    fragment(root / "alpha", "alpha")
    fragment(root / "beta", "beta", 'colour = "red"\n')


def tessera(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tessera", *args], capture_output=True, text=True,
                          timeout=30, cwd=cwd)


def refusal(*args, cwd=None):
    """The one stderr line of a command that must exit 2, without the ``tessera: error: `` prefix."""
    try:
        done = tessera(*args, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tessera {' '.join(args)} did not refuse: it was still running after 30 s")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    prefix = "tessera: error: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix):]


def check_problems(*args, cwd=None):
    done = tessera("check", *args, cwd=cwd)
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stdout.strip().splitlines()


# -- the command line: check, run and asyncapi agree --------------------------------------

@pytest.mark.parametrize(("make", "expected"), [
    (two_schemas, 'beta/fragment.toml: field "publishes.demo.ping.schema" differs from the schema'),
    (two_scopes, 'beta/fragment.toml: field "publishes.demo.ping.scope" is \'global\' but'),
    (one_name_twice, 'two/fragment.toml: field "name" \'cart\' is already used by'),
    (broken_manifest, 'beta/fragment.toml: field "colour" is not a known field'),
], ids=["schemas differ", "scopes differ", "name used twice", "invalid manifest"])
def test_run_and_asyncapi_refuse_with_the_line_check_reports(tmp_path, make, expected):
    make(tmp_path)
    problems = check_problems("--frontends", str(tmp_path))
    assert len(problems) == 1 and expected in problems[0], problems
    assert refusal("run", "--frontends", str(tmp_path), "--port", str(free_port())) == problems[0]
    assert refusal("asyncapi", "--frontends", str(tmp_path)) == problems[0]


def test_run_refuses_with_the_first_of_several_problems_check_lists(tmp_path):
    two_schemas(tmp_path)
    fragment(tmp_path / "gamma", "alpha", *ping(scope="page"))
    problems = check_problems("--frontends", str(tmp_path))
    assert len(problems) == 4, problems
    assert refusal("run", "--frontends", str(tmp_path), "--port", str(free_port())) == problems[0]
    assert refusal("asyncapi", "--frontends", str(tmp_path)) == problems[0]


def test_check_and_run_name_the_same_files_when_given_a_relative_folder(tmp_path):
    two_scopes(tmp_path / "frontends")
    problems = check_problems(cwd=tmp_path)
    assert problems[0].startswith(str(tmp_path / "frontends" / "beta" / "fragment.toml")), problems
    assert refusal("run", "--port", str(free_port()), cwd=tmp_path) == problems[0]
    assert refusal("asyncapi", cwd=tmp_path) == problems[0]


# -- the loader ------------------------------------------------------------------------------

def test_load_registry_raises_the_first_problem_load_fragments_returns(tmp_path):
    broken_manifest(tmp_path)
    fragment(tmp_path / "gamma", "alpha")
    fragments, problems = load_fragments(tmp_path)
    assert [f.name for f in fragments] == ["alpha", "alpha"]
    assert [p.field for p in problems] == ["colour", "name"]
    with pytest.raises(ManifestError) as caught:
        load_registry(tmp_path)
    assert str(caught.value) == str(problems[0])


def test_load_registry_refuses_producers_that_disagree_on_a_schema(tmp_path):
    two_schemas(tmp_path)
    with pytest.raises(ManifestError, match="producers of one topic must agree on its data") as caught:
        load_registry(tmp_path)
    assert caught.value.field == "publishes.demo.ping.schema"


def test_producers_that_agree_load(tmp_path):
    fragment(tmp_path / "alpha", "alpha", *ping(schema={"type": "object", "required": ["n"]}))
    fragment(tmp_path / "beta", "beta", *ping(schema={"required": ["n"], "type": "object"}))
    registry = load_registry(tmp_path)
    assert registry.publications["demo.ping"].schema == {"type": "object", "required": ["n"]}


# -- the rules, on fragments from anywhere (no files needed) ---------------------------------

def remote(name, **publishes):
    return Fragment(name=name, version="1.0.0", slot="main", root=Path("/remote") / name, entry="i.js",
                    publishes={t.replace("_", "."): p for t, p in publishes.items()})


def test_contract_rules_take_fragments_wherever_they_came_from():
    fragments = [
        remote("alpha", demo_ping=Publication("demo.ping", "user", {"type": "object"})),
        remote("beta", demo_ping=Publication("demo.ping", "global", {"type": "array"})),
        remote("alpha"),
    ]
    found = [(p.path, p.field) for p in contracts.problems(fragments)]
    assert found == [
        ("/remote/alpha/fragment.toml", "name"),
        ("/remote/beta/fragment.toml", "publishes.demo.ping.scope"),
        ("/remote/beta/fragment.toml", "publishes.demo.ping.schema"),
    ]


def test_schemas_must_resolve_inside_themselves_wherever_the_fragment_came_from():
    fragments = [remote("alpha", demo_ping=Publication("demo.ping", "user", {"items": {"$ref": "item.json"}})),
                 remote("beta", demo_pong=Publication("demo.pong", "user",
                                                      {"$schema": "http://json-schema.org/draft-04/schema#"}))]
    assert [(p.path, p.field, p.message.split(":")[1].strip()[:20]) for p in contracts.problems(fragments)] == [
        ("/remote/alpha/fragment.toml", "publishes.demo.ping.schema", "$ref 'item.json' poi"),
        ("/remote/beta/fragment.toml", "publishes.demo.pong.schema", "it declares $schema "),
    ]


def test_a_topic_declared_with_no_schema_and_with_one_disagrees():
    fragments = [remote("alpha", demo_ping=Publication("demo.ping", "user")),
                 remote("beta", demo_ping=Publication("demo.ping", "user", {"type": "object"}))]
    assert [p.field for p in contracts.problems(fragments)] == ["publishes.demo.ping.schema"]


def test_notes_are_not_problems():
    fragments = [remote("alpha", demo_ping=Publication("demo.ping", "user"))]
    assert contracts.problems(fragments) == []
    assert contracts.notes(fragments) == [
        "alpha publishes 'demo.ping', which no fragment subscribes to (your app's Python or other backends may)"]


# -- who publishes what a fragment hears, and who answers what it asks ----------------------

SERVER = '''def setup(fragment):
    @fragment.bus.respond("pricing.quote")
    def quote(event):
        return {"total": 1}

    @fragment.bus.subscribe("order.requested")
    def on_order(event):
        fragment.bus.publish("order.confirmed", {"id": 1}, user=event.user)
        fragment.bus.publish(type="stock.changed", data={})
        fragment.bus.publish(event.data["topic"], {})
'''


def listener(root, tables, name="listener"):
    fragment(root / name, name, tables)


def test_a_subscription_nothing_publishes_is_one_line_naming_file_topic_and_fix(tmp_path):
    listener(tmp_path, '[subscribes."notify.new"]\n')
    problems = check_problems("--frontends", str(tmp_path))
    assert problems == [f'{tmp_path / "listener" / "fragment.toml"}: field "subscribes.notify.new" is published by '
                        "nothing: no fragment declares a matching [publishes] and no fragment's server.py calls "
                        "bus.publish with it; declare the publisher, fix the topic, or add from = \"backend\" to it "
                        "if a backend (POST /_tessera/events, your app's Python) publishes it"]
    assert refusal("run", "--frontends", str(tmp_path), "--port", str(free_port())) == problems[0]


@pytest.mark.parametrize("subscription", ['[subscribes."order.confirmed"]', '[subscribes."stock.*"]',
                                          '[subscribes."order.>"]', '[subscribes."notify.new"]\nfrom = "backend"',
                                          '[subscribes."tessera.resync"]', '[subscribes."demo.ping"]'])
def test_subscriptions_heard_from_a_fragment_server_code_a_backend_or_tessera_pass(tmp_path, subscription):
    fragment(tmp_path / "shop", "shop", 'server = "server.py"\n', {"server.py": SERVER})
    fragment(tmp_path / "alpha", "alpha", *ping(scope="page"))
    listener(tmp_path, subscription + "\n")
    fragments, problems = load_fragments(tmp_path)
    assert problems == []


def test_a_request_without_a_responder_is_a_problem_until_something_answers(tmp_path):
    listener(tmp_path, '[requests."cart.get"]\n\n[requests."pricing.quote"]\n\n'
                       '[requests."tax.rate"]\nfrom = "backend"\n')
    fragments, problems = load_fragments(tmp_path)
    assert [(p.field, p.message.split(":")[0]) for p in problems] == [
        ("requests.cart.get", "has no responder"), ("requests.pricing.quote", "has no responder")]
    assert "add the responder, fix the topic, or add from = \"backend\"" in problems[0].message
    fragment(tmp_path / "shop", "shop", 'server = "server.py"\n', {"server.py": SERVER})   # answers pricing.quote
    fragment(tmp_path / "cart", "cart", '[responds."cart.get"]\n')                          # answers in the page
    assert load_fragments(tmp_path)[1] == []


def test_server_code_is_read_not_run_and_what_check_cannot_see_is_a_note(tmp_path):
    fragment(tmp_path / "shop", "shop", 'server = "server.py"\n',
             {"server.py": "raise SystemExit('must not run')\n" + SERVER})
    fragments, problems = load_fragments(tmp_path)
    code = fragments[0].server_code
    assert (code.publishes, code.subscribes, code.responds) == (
        ("order.confirmed", "stock.changed"), ("order.requested",), ("pricing.quote",))
    assert [use.line for use in code.dynamic] == [11]
    assert "shop/server.py line 11: bus.publish of a topic computed at run time, which check cannot see" \
        in "\n".join(contracts.notes(fragments))


def test_a_server_module_that_is_not_python_is_one_line_for_check_and_run(tmp_path):
    fragment(tmp_path / "shop", "shop", 'server = "server.py"\n', {"server.py": "def setup(:\n"})
    problems = check_problems("--frontends", str(tmp_path))
    assert problems == [f'{tmp_path / "shop" / "fragment.toml"}: field "server" server.py raised SyntaxError: '
                        "invalid syntax (line 1)"]
    assert refusal("run", "--frontends", str(tmp_path), "--port", str(free_port())) == problems[0]


@pytest.mark.parametrize(("tables", "field", "message"), [
    ('[subscribes."a.b"]\nfrom = "python"\n', "subscribes.a.b.from", 'must be "backend"'),
    ('[subscribes."a.b"]\nvia = "x"\n', "subscribes.a.b.via", "is not a known field (known: from)"),
    ('[requests."a.*"]\n', "requests.a.*", "segment"),
    ('[requests."tessera.x"]\n', "requests.tessera.x", "reserved"),
    ('[responds."a.b"]\nfrom = "backend"\n', "responds.a.b", "takes no fields"),
    ("requests = 3\n", "requests", "must be a table"),
])
def test_requests_responds_and_from_are_checked_field_by_field(tmp_path, tables, field, message):
    listener(tmp_path, tables)
    fragments, problems = load_fragments(tmp_path)
    assert [p.field for p in problems] == [field] and message in problems[0].message, problems


def test_publishes_nobody_hears_are_notes_even_from_server_code(tmp_path):
    fragment(tmp_path / "shop", "shop", 'server = "server.py"\n', {"server.py": SERVER})
    notes = contracts.notes(load_fragments(tmp_path)[0])
    assert ("shop/server.py publishes 'order.confirmed', which no fragment subscribes to "
            "(your app's Python or other backends may)") in notes


# -- schemas: valid JSON Schema 2020-12 whose references resolve inside the file --------------

@pytest.mark.parametrize(("schema", "message"), [
    ({"type": "no-such-type"}, "is not a valid JSON Schema (2020-12)"),
    ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "$ref '#/$defs/missing' does not resolve inside this file"),
    ({"properties": {"a": {"$ref": "item.json"}}}, "$ref 'item.json' points outside this file"),
    ({"properties": {"a": {"$ref": "#nowhere"}}}, "$ref '#nowhere' does not resolve"),
    ({"const": {"$ref": "#/nowhere"}}, "$ref '#/nowhere' does not resolve"),
    ({"$schema": "http://json-schema.org/draft-07/schema#"}, "declares $schema 'http://json-schema.org/draft-07/"),
])
def test_schemas_that_are_not_valid_or_do_not_resolve_are_problems(tmp_path, schema, message):
    fragment(tmp_path / "alpha", "alpha", *ping(schema=schema))
    problems = load_fragments(tmp_path)[1]
    assert [p.field for p in problems] == ["publishes.demo.ping.schema"] and message in problems[0].message


def test_schemas_with_defs_anchors_and_their_own_id_load(tmp_path):
    schema = {"$id": "https://shop.example/ping", "$defs": {"n": {"type": "integer"}, "s": {"$anchor": "s"}},
              "properties": {"n": {"$ref": "#/$defs/n"}, "s": {"$ref": "#s"},
                             "m": {"$ref": "https://shop.example/ping#/$defs/n"}, "self": {"$ref": "#"}}}
    fragment(tmp_path / "alpha", "alpha", *ping(schema=schema))
    assert load_fragments(tmp_path)[1] == []


@pytest.mark.parametrize(("scope", "call", "problem"), [
    ("page", 'fragment.bus.publish("demo.ping", {}, user=None)', "declares with scope 'page'"),
    ("user", 'fragment.bus.publish("demo.ping", {})', "declares with scope 'user', so it needs user="),
    ("user", 'fragment.bus.publish("demo.ping", {}, user=None)', "declares with scope 'user', so it needs user="),
    ("user", 'fragment.bus.publish("demo.ping", {}, user=event.user)', None),
    ("user", 'fragment.bus.publish("demo.ping", {}, **where)', None),
    ("global", 'fragment.bus.publish("demo.ping", {})', None),
])
def test_server_code_publishes_only_what_admission_would_accept(tmp_path, scope, call, problem):
    fragment(tmp_path / "alpha", "alpha", *ping(scope=scope))
    code = f"def setup(fragment):\n    @fragment.bus.subscribe('x.y')\n    def on(event, where={{}}):\n        {call}\n"
    fragment(tmp_path / "shop", "shop", 'server = "server.py"\n', {"server.py": code})
    problems = load_fragments(tmp_path)[1]
    if problem is None:
        assert problems == []
    else:
        assert [p.field for p in problems] == ["server"], problems
        assert problems[0].message.startswith(f"server.py line 4 publishes 'demo.ping', which "
                                              f"{tmp_path / 'alpha' / 'fragment.toml'} {problem}"), problems[0].message
