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
