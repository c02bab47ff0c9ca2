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


def test_check_passes_on_the_demo_and_notes_topics_nobody_in_the_page_hears():
    done = tessera("check", "--frontends", str(ROOT / "frontends"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("5 fragments, no problems")
    assert "note: cart publishes 'checkout.requested'" in done.stdout


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
    assert ping["payload"]["required"] == ["n"] and ping["x-tessera-scope"] == "user"
    assert doc["operations"]["alpha.send.demo-ping"]["action"] == "send"
    assert doc["operations"]["beta.receive.demo-ping"]["channel"] == {"$ref": "#/channels/demo-ping"}
    assert "beta.receive.demo-shout" not in doc["operations"]


def test_asyncapi_includes_topics_fragments_only_subscribe_to():
    doc = json.loads(tessera("asyncapi", "--frontends", str(ROOT / "frontends")).stdout)
    notify = doc["channels"]["notify-new"]
    assert notify["address"] == "notify.new" and "published by the server" in notify["description"]
    assert notify["messages"]["event"]["x-tessera-scope"] == "server"
    assert doc["operations"]["header.receive.notify-new"]["action"] == "receive"


def test_asyncapi_json_endpoint_serves_the_same_document(tessera_server):
    import urllib.request

    with urllib.request.urlopen(tessera_server.url + "/_tessera/asyncapi.json") as response:
        served = json.loads(response.read())
    printed = json.loads(tessera("asyncapi", "--frontends", str(FIXTURES / "shop")).stdout)
    assert served == printed


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
