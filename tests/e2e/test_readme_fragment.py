"""Docs as tests: the fragment the README teaches, built from the README, joins the demo."""

import re
import shutil

import pytest

from conftest import ROOT

pytestmark = pytest.mark.browser


def readme_files():
    text = (ROOT / "README.md").read_text()
    return dict(re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, flags=re.S))


def test_readme_lists_the_three_files_of_its_fragment():
    assert sorted(readme_files()) == ["frontends/hello/fragment.toml", "frontends/hello/src/hello.html",
                                      "frontends/hello/src/index.js"]


def test_the_readme_fragment_appears_after_a_restart_and_talks_over_the_bus(
        tmp_path, tessera_server_factory, tessera_open):
    shutil.copytree(ROOT / "frontends", tmp_path / "frontends", ignore=shutil.ignore_patterns("__pycache__"))
    for path, text in readme_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    server = tessera_server_factory(tmp_path / "frontends")
    page = tessera_open("/", base=server.url)
    hello = page.locator("tessera-fragment[name=hello]")
    assert hello.get_attribute("data-state") == "mounted"
    assert hello.locator("p").inner_text().startswith("Hello, anon-")
    hello.locator("button").click()
    assert page.evaluate("window.tessera.bus.last('hello.waved').source") == "/fragments/hello"
    page.click("tessera-fragment[name=catalog] [data-action=add][data-sku=col-huila]")
    assert hello.locator("p").inner_text() == "Nice pick: Huila Pink Bourbon"
