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


def test_a_topic_declared_with_no_schema_and_with_one_disagrees():
    fragments = [remote("alpha", demo_ping=Publication("demo.ping", "user")),
                 remote("beta", demo_ping=Publication("demo.ping", "user", {"type": "object"}))]
    assert [p.field for p in contracts.problems(fragments)] == ["publishes.demo.ping.schema"]


def test_notes_are_not_problems():
    fragments = [remote("alpha", demo_ping=Publication("demo.ping", "user"))]
    assert contracts.problems(fragments) == []
    assert contracts.notes(fragments) == [
        "alpha publishes 'demo.ping', which no fragment subscribes to (Python or other backends may)"]
