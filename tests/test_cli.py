"""The tessera command: bad input ends with exit 2 and one line naming the problem."""

import os
import subprocess
import sys

import pytest

from conftest import FIXTURES


def tessera(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tessera", *args], capture_output=True, text=True,
                          timeout=30, cwd=cwd)


def one_line_error(done):
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_missing_frontends_folder(tmp_path):
    line = one_line_error(tessera("run", "--frontends", str(tmp_path / "nope")))
    assert str(tmp_path / "nope") in line and "--frontends" in line


def test_invalid_manifest_names_file_and_field(tmp_path):
    (tmp_path / "cart").mkdir()
    (tmp_path / "cart" / "fragment.toml").write_text('name = "cart"\nversion = "x"\nslot = "main"\nentry = "a.js"\n')
    line = one_line_error(tessera("run", "--frontends", str(tmp_path)))
    assert str(tmp_path / "cart" / "fragment.toml") in line and 'field "version"' in line


def test_unknown_option_is_a_click_usage_error():
    done = tessera("run", "--colour", "red")
    assert done.returncode == 2 and "--colour" in done.stderr


def test_malformed_option_value_is_a_usage_error():
    done = tessera("run", "--port", "eighty")
    assert done.returncode == 2 and "--port" in done.stderr


def test_missing_shell_template_is_a_usage_error(tmp_path):
    done = tessera("run", "--frontends", str(FIXTURES / "shop"), "--shell", str(tmp_path / "none.html"))
    assert done.returncode == 2 and "--shell" in done.stderr


def test_an_unreachable_redis_broker_is_one_line():
    line = one_line_error(tessera("run", "--frontends", str(FIXTURES / "shop"), "--broker", "redis://127.0.0.1:1/0"))
    assert "TESSERA_BROKER" in line and "redis://127.0.0.1:1/0" in line


def test_workers_need_a_shared_broker():
    line = one_line_error(tessera("run", "--frontends", str(FIXTURES / "shop"), "--workers", "2"))
    assert "--workers 2" in line and "redis://" in line


def test_unknown_broker_scheme(tmp_path):
    line = one_line_error(tessera("run", "--frontends", str(FIXTURES / "shop"), "--broker", "kafka://x"))
    assert "TESSERA_BROKER" in line and "memory://" in line


@pytest.mark.parametrize(("app", "message"), [
    ("nomodule:app", "no module 'nomodule'"),
    ("justmodule", "expected MODULE:ATTR"),
])
def test_bad_app_option(tmp_path, app, message):
    assert message in one_line_error(tessera("run", "--app", app, cwd=tmp_path))


def test_help_lists_the_contract_options():
    done = tessera("run", "--help")
    for option in ("--host", "--port", "--frontends", "--shell", "--broker", "--workers", "--remote",
                   "--allowed-origin", "--publish-token", "--app"):
        assert option in done.stdout


def test_port_in_use_is_one_line(tessera_server):
    line = one_line_error(tessera("run", "--frontends", str(FIXTURES / "shop"), "--port", str(tessera_server.port)))
    assert f"127.0.0.1:{tessera_server.port}" in line and "--port" in line


@pytest.mark.parametrize(("code", "message"), [
    ("import nowhere_to_be_found\n", "server.py raised ModuleNotFoundError"),
    ("def setup(fragment):\n    raise ValueError('no stock file')\n", "setup(fragment) of server.py raised "
                                                                        "ValueError: no stock file (line 2)"),
    ("x = 1\n", "server.py must define setup(fragment)"),
])
def test_broken_fragment_server_module_is_one_line(tmp_path, code, message):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "fragment.toml").write_text('name = "shop"\nversion = "1.0.0"\nslot = "main"\n'
                                          'entry = "i.js"\nserver = "server.py"\n')
    (folder / "i.js").write_text("export function mount() {}")
    (folder / "server.py").write_text(code)
    line = one_line_error(tessera("run", "--frontends", str(tmp_path)))
    assert 'fragment.toml: field "server"' in line and message in line


@pytest.mark.parametrize(("code", "message"), [
    ("import nonexistent_dependency\n", "importing broken failed: ModuleNotFoundError: No module named "
                                        "'nonexistent_dependency' (broken.py line 1)"),
    ("x = 1\nraise ValueError('no config')\n", "importing broken failed: ValueError: no config (broken.py line 2)"),
])
def test_an_app_module_that_fails_to_import_is_one_line(tmp_path, code, message):
    (tmp_path / "broken.py").write_text(code)
    assert message in one_line_error(tessera("run", "--app", "broken:app", cwd=tmp_path))


@pytest.mark.parametrize(("name", "value"), [
    ("TESSERA_MAX_EVENT_BYTES", "-5"), ("TESSERA_RATE", "0"), ("TESSERA_HISTORY", "-1"),
    ("TESSERA_FRAGMENT_TIMEOUT", "abc"), ("TESSERA_ALLOWED_ORIGINS", "notanorigin"),
])
def test_settings_out_of_range_name_the_setting_and_the_fix(name, value):
    done = subprocess.run([sys.executable, "-m", "tessera", "run", "--frontends", str(FIXTURES / "shop")],
                          capture_output=True, text=True, timeout=30, env=os.environ | {name: value})
    line = one_line_error(done)
    assert name in line and "use " in line


def test_allowed_origins_are_normalised():
    from tessera.config import resolve

    values = resolve({}, environ={"TESSERA_ALLOWED_ORIGINS": "HTTP://Shop.Example/, https://b.example:8443"})
    assert values["TESSERA_ALLOWED_ORIGINS"] == ["http://shop.example", "https://b.example:8443"]


def test_options_reach_an_app_module_without_writing_the_environment(tessera_server_factory):
    import json
    import urllib.request

    server = tessera_server_factory(
        app="settings_app:app", cwd=FIXTURES / "apps", env={"TESSERA_RATE": "42", "TESSERA_PUBLISH_TOKEN": "env"},
        options=["--frontends", str(FIXTURES / "shop"), "--publish-token", "cli", "--broker", "memory://",
                 "--allowed-origin", "http://partner.example"])
    with urllib.request.urlopen(server.url + "/test/settings") as response:
        seen = json.load(response)
    set_by_the_user = sorted({k for k in os.environ if k.startswith("TESSERA_")} | {"TESSERA_RATE",
                                                                                   "TESSERA_PUBLISH_TOKEN"})
    assert seen["environ"] == set_by_the_user
    assert seen["config"]["TESSERA_FRONTENDS"] == str(FIXTURES / "shop")
    assert seen["config"]["TESSERA_PUBLISH_TOKEN"] == "cli"  # the option beats the environment variable
    assert seen["config"]["TESSERA_ALLOWED_ORIGINS"] == ["http://partner.example"]
    assert seen["config"]["TESSERA_RATE"] == 42.0


def test_an_app_argument_wins_over_the_option_with_a_warning(tessera_server_factory, tmp_path):
    import urllib.request

    server = tessera_server_factory(app="mirror_app:app", cwd=FIXTURES / "apps",
                                    options=["--frontends", str(tmp_path)])
    with urllib.request.urlopen(server.url + "/") as response:
        assert 'name="alpha"' in response.read().decode()  # mirror_app's Tessera(app, frontends=shop)
    warning = next(line for line in server.output().splitlines() if "wins over" in line)
    assert "WARNING" in warning and "Tessera(frontends=" in warning
    assert f"--frontends '{tmp_path}'" in warning and str(FIXTURES / "shop") in warning
