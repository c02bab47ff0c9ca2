"""Docs as tests: the README's tutorial, followed word for word in an empty folder."""

import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.browser

README = (ROOT / "README.md").read_text()
TUTORIAL = README.split("## Tutorial", 1)[1].split("\n## ", 1)[0]
STEP = re.compile(r"<!-- tutorial: (\S+) -->\n```\w*\n(.*?)```|```bash\n(.*?)```", flags=re.S)


def steps():
    """The tutorial's files and commands, in the order a reader meets them."""
    for match in STEP.finditer(TUTORIAL):
        if match.group(1):
            yield "file", match.group(1), match.group(2)
        else:
            yield from (("run", line.strip(), None) for line in match.group(3).splitlines() if line.strip())


def command_line(command):
    """The command as typed: ``python`` is this interpreter, ``tessera`` the installed script."""
    words = shlex.split(command)
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    if words[0] == "tessera":
        return [shutil.which("tessera") or sys.executable, *([] if shutil.which("tessera") else ["-m", "tessera"]),
                *words[1:]]
    pytest.fail(f"the tutorial runs {command!r}, which this test does not know how to follow")


def test_the_tutorial_has_its_steps_in_order():
    assert [(kind, what) for kind, what, _ in steps()] == [
        ("run", "tessera new tip-jar"),
        ("file", "frontends/tip-jar/fragment.toml"), ("file", "frontends/tip-jar/schemas/tip.json"),
        ("file", "frontends/tip-jar/src/tip-jar.html"), ("file", "frontends/tip-jar/src/index.js"),
        ("file", "frontends/tip-jar/server.py"),
        ("run", "tessera check"), ("run", "tessera run"),
        ("file", "test_tip_jar.py"), ("run", "python -m pytest test_tip_jar.py"),
    ]


def test_the_tutorial_works_as_written(tmp_path, tessera_server_factory, tessera_open):
    for kind, what, text in steps():
        if kind == "file":
            (tmp_path / what).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / what).write_text(text)
        elif what == "tessera run":   # serves until stopped: run it as the tests' server, and click
            server = tessera_server_factory(tmp_path / "frontends", cwd=tmp_path)
            page = tessera_open("/", base=server.url)
            other_tab = tessera_open("/", context=page.context, base=server.url)
            page.click("tessera-fragment[name=tip-jar] button")
            for tab in (page, other_tab):
                tab.wait_for_function("document.querySelector('tessera-fragment[name=tip-jar] output')"
                                      ".textContent === '1'")
            assert page.tessera_console == [], page.tessera_console
        else:
            done = subprocess.run(command_line(what), cwd=tmp_path, capture_output=True, text=True, timeout=240)
            assert done.returncode == 0, f"{what}:\n{done.stdout}\n{done.stderr}"
            if what == "tessera check":
                assert done.stdout.strip() == "1 fragment, no problems", done.stdout
            if what.startswith("python -m pytest"):
                assert "1 passed" in done.stdout, done.stdout
