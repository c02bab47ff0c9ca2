"""Manifests: every problem is caught at start-up and names the file and the field."""

import json
import re
import shutil

import pytest

from tessera.manifest import ManifestError, load_fragment
from tessera.registry import load_registry

from conftest import FIXTURES


def write(folder, toml, files=("src/index.js",)):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fragment.toml").write_text(toml)
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("export function mount() {}")
    return folder


BASE = 'name = "cart"\nversion = "1.4.0"\nslot = "aside"\nentry = "src/index.js"\n'


def problem(tmp_path, toml, files=("src/index.js",)):
    with pytest.raises(ManifestError) as caught:
        load_fragment(write(tmp_path / "cart", toml, files))
    return caught.value


def test_loads_every_field_of_the_fixture():
    alpha = load_fragment(FIXTURES / "shop" / "alpha")
    assert (alpha.name, alpha.version, alpha.slot, alpha.entry) == ("alpha", "1.0.0", "main", "src/index.js")
    assert alpha.styles == ("src/alpha.css",)
    assert alpha.publishes["demo.ping"].scope == "user"
    assert alpha.publishes["demo.ping"].schema["required"] == ["n"]
    assert alpha.subscribes == ("demo.>",)
    assert re.fullmatch(r"[0-9a-f]{12}", alpha.digest)


@pytest.mark.parametrize("field", ["name", "version", "slot", "entry"])
def test_missing_required_field_is_named_with_the_file(tmp_path, field):
    toml = "\n".join(line for line in BASE.splitlines() if not line.startswith(field))
    error = problem(tmp_path, toml)
    assert error.field == field
    assert str(error).startswith(str(tmp_path / "cart" / "fragment.toml"))
    assert f'field "{field}" is missing' in str(error)


@pytest.mark.parametrize(("line", "field", "message"), [
    ('name = "Cart"', "name", "must match"),
    ('version = "1.4"', "version", "semantic version"),
    ('slot = "Main Slot"', "slot", "must match"),
    ('entry = "src/missing.js"', "entry", "does not exist"),
    ('entry = "../../etc/passwd"', "entry", "outside the fragment folder"),
    ('styles = "a.css"', "styles", "must be a list"),
    ('styles = ["src/none.css"]', "styles", "does not exist"),
    ('template = "src/none.html"', "template", "does not exist"),
    ('routes = ["products"]', "routes", "starting with"),
    ('colour = "red"', "colour", "not a known field"),
])
def test_bad_field_is_named(tmp_path, line, field, message):
    key = line.split(" ")[0]
    toml = "\n".join(l for l in BASE.splitlines() if not l.startswith(key + " ")) + "\n" + line + "\n"
    error = problem(tmp_path, toml)
    assert error.field == field
    assert message in str(error)


@pytest.mark.parametrize(("table", "field", "message"), [
    ('[publishes."cart item"]\nscope = "user"', 'publishes.cart item', "must match"),
    ('[publishes."cart.added"]\nscope = "everyone"', "publishes.cart.added.scope", "page, user, global"),
    ('[publishes."tessera.mine"]\nscope = "user"', "publishes.tessera.mine", "reserved"),
    ('[publishes."cart.added"]\nscope = "user"\nschema = "none.json"', "publishes.cart.added.schema", "does not exist"),
    ('[publishes."cart.added"]\nscope = "user"\nretain = true', "publishes.cart.added.retain", "not a known field"),
    ('[subscribes."cart.>.x"]', "subscribes.cart.>.x", "last segment"),
])
def test_bad_topic_declarations_are_named(tmp_path, table, field, message):
    error = problem(tmp_path, BASE + table + "\n")
    assert error.field == field
    assert message in str(error)


def test_invalid_json_schema_is_rejected(tmp_path):
    folder = write(tmp_path / "cart", BASE + '[publishes."cart.added"]\nscope = "user"\nschema = "s.json"\n')
    (folder / "s.json").write_text(json.dumps({"type": "no-such-type"}))
    with pytest.raises(ManifestError, match="not a valid JSON Schema"):
        load_fragment(folder)


def test_invalid_toml_names_the_file(tmp_path):
    error = problem(tmp_path, 'name = "cart\n')
    assert "is not valid TOML" in str(error)
    assert error.path.endswith("fragment.toml")


def test_duplicate_fragment_names_are_rejected(tmp_path):
    write(tmp_path / "one", BASE)
    write(tmp_path / "two", BASE)
    with pytest.raises(ManifestError, match="'cart' is already used by") as caught:
        load_registry(tmp_path)
    assert caught.value.field == "name"


def test_one_topic_has_one_scope_across_fragments(tmp_path):
    write(tmp_path / "one", BASE + '[publishes."cart.added"]\nscope = "user"\n')
    write(tmp_path / "two", BASE.replace('"cart"', '"other"') + '[publishes."cart.added"]\nscope = "global"\n')
    with pytest.raises(ManifestError, match="one topic has one scope"):
        load_registry(tmp_path)


def test_missing_frontends_folder_is_reported(tmp_path):
    with pytest.raises(ManifestError, match="is not a folder of fragments"):
        load_registry(tmp_path / "nowhere")


def test_digest_changes_when_a_file_changes(tmp_path):
    folder = tmp_path / "alpha"
    shutil.copytree(FIXTURES / "shop" / "alpha", folder)
    before = load_fragment(folder).digest
    (folder / "src" / "alpha.css").write_text(".alpha-box { color: red; }")
    assert load_fragment(folder).digest != before


def test_folders_without_a_manifest_are_skipped(tmp_path):
    write(tmp_path / "cart", BASE)
    (tmp_path / "notes").mkdir()
    assert [f.name for f in load_registry(tmp_path).fragments] == ["cart"]
