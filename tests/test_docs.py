"""Docs as tests: the README's commands and every contract name are where users look."""

import re

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def shell_commands(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_has_exactly_two_set_up_commands():
    set_up = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert shell_commands(set_up) == [
        "python -m pip install -e . && tessera run",
        'python -m pip install -q -e ".[test]" && python -m tessera.testing install-browser && python -m pytest',
    ]


def test_ci_runs_the_readme_test_command_verbatim():
    set_up = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    test_command = shell_commands(set_up)[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci


SETTINGS = ["TESSERA_BROKER", "TESSERA_FRONTENDS", "TESSERA_ALLOWED_ORIGINS", "TESSERA_PUBLISH_TOKEN",
            "TESSERA_MAX_EVENT_BYTES", "TESSERA_RATE", "TESSERA_HISTORY", "TESSERA_FRAGMENT_TIMEOUT",
            "TESSERA_SECRET_KEY"]
OPTIONS = ["--host", "--port", "--frontends", "--shell", "--broker", "--workers", "--remote",
           "--allowed-origin", "--publish-token", "--app"]


def test_every_contract_setting_is_documented_with_its_default():
    from tessera.config import SETTINGS as DEFAULTS

    for name in SETTINGS:
        assert f"`{name}`" in README, name
        assert name in DEFAULTS, name
    for name, default in [("TESSERA_MAX_EVENT_BYTES", "65536"), ("TESSERA_RATE", "100"),
                          ("TESSERA_HISTORY", "10000"), ("TESSERA_FRAGMENT_TIMEOUT", "1.0")]:
        assert re.search(rf"`{name}` \| `{re.escape(default)}`", README), name


def test_every_cli_option_is_documented():
    for option in OPTIONS:
        assert f"`{option}" in README, option


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documentation_lines() -> list[str]:
    return [line for path in DOCS for line in path.read_text().splitlines()]


def commands():
    """(``tessera check``, its click command) for every command of the CLI, sub-commands included."""
    import click

    from tessera.cli import main

    def walk(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, command

    return list(walk(main, "tessera"))


def test_every_option_of_every_command_is_documented_with_its_command():
    """An option is documented on a line that names its command (``tessera check [--frontends DIR]``);
    ``tessera run``'s options also by their row in the README's options table."""
    lines = documentation_lines()
    missing = []
    for path, command in commands():
        for option in (o for param in command.params if param.param_type_name == "option" for o in param.opts):
            on_its_line = any(path in line and re.search(rf"{re.escape(option)}\b", line) for line in lines)
            in_run_table = path == "tessera run" and any(line.startswith(f"| `{option}") for line in lines)
            if not (on_its_line or in_run_table):
                missing.append(f"{path} {option}")
    assert missing == []
    assert {path for path, _ in commands()} >= {"tessera run", "tessera check", "tessera asyncapi", "tessera new"}


def test_every_config_key_is_documented():
    from tessera.config import SETTINGS as DEFAULTS

    text = "\n".join(documentation_lines())
    assert [name for name in DEFAULTS if f"`{name}`" not in text and f"`{name}=" not in text] == []


def test_every_error_code_is_documented():
    protocol = (ROOT / "docs" / "protocol.md").read_text()
    for code in ("forbidden", "invalid", "too_large", "rate_limited", "bad_frame"):
        assert f"`{code}`" in README and f"`{code}`" in protocol, code


def test_the_fragment_server_api_in_the_readme_exists():
    from tessera.fragment_server import FragmentBus, FragmentContext

    paragraph = README.split("- `server.py` defines `setup(fragment)`", 1)[1].split("\n- ", 1)[0]
    named = set(re.findall(r"`@?fragment\.([a-z_.]+)", paragraph))
    assert named == {"name", "version", "bus.subscribe", "bus.respond", "bus.publish", "props", "current_user"}
    for name in named:
        owner, attribute = (FragmentBus, name[4:]) if name.startswith("bus.") else (FragmentContext, name)
        assert attribute in ("name", "version") or callable(getattr(owner, attribute)), name
