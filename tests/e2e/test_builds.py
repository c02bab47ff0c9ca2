"""Built fragments in Chromium: `tessera build` output composed by a real `tessera run --frontends dist`
and served as its own `tessera fragment serve dist/<name>/<version>` process, hashed files immutable."""

import re
import shutil
import subprocess
import sys
import urllib.request

import pytest

from conftest import FIXTURES
from test_remote import FragmentService  # tests/e2e/test_remote.py: `tessera fragment serve` in a subprocess

pytestmark = pytest.mark.browser

BUILDS = FIXTURES / "builds"
REMOTE = FIXTURES / "remote"


@pytest.fixture
def dist(tmp_path):
    """tests/fixtures/builds/frontends built by `tessera build` into a temporary dist/."""
    frontends = tmp_path / "frontends"
    shutil.copytree(BUILDS / "frontends", frontends)
    done = subprocess.run([sys.executable, "-m", "tessera", "build", "--frontends", str(frontends),
                           "--out", str(tmp_path / "dist")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return tmp_path / "dist"


def states(page):
    return page.evaluate("Object.fromEntries([...document.querySelectorAll('tessera-fragment')]"
                         ".map(el => [el.getAttribute('name'), el.dataset.state]))")


def test_a_host_serving_dist_mounts_the_built_fragments_from_hashed_files(dist, tessera_server_factory, tessera_open):
    server = tessera_server_factory(dist)
    page = tessera_open(server.url + "/")
    assert states(page) == {"bundled": "mounted", "widget": "mounted"}, page.tessera_console
    widget = page.locator("tessera-fragment[name=widget]")
    assert widget.get_attribute("data-built") == "widget 1.2.0"  # ./lib/util.<hash>.js was imported
    assert re.fullmatch(r"logo\.[0-9a-f]{8}\.svg", widget.get_attribute("data-logo"))
    assert page.evaluate("document.querySelector('tessera-fragment[name=widget] img').naturalWidth") == 8
    # the style sheet's @import of ./base.<hash>.css and url(../img/logo.<hash>.svg) resolved
    assert "logo." in page.evaluate("getComputedStyle(document.querySelector('tessera-fragment[name=widget]'))"
                                    ".backgroundImage")
    assert page.evaluate("getComputedStyle(document.querySelector('tessera-fragment[name=widget] button')).fontFamily"
                         " === getComputedStyle(document.body).fontFamily")
    assert page.get_attribute("tessera-fragment[name=bundled]", "data-bundled") == "bundled"
    entry = page.evaluate("[...document.scripts].map(s => s.textContent).join('')")
    url = re.search(r"/_tessera/fragments/widget/[0-9a-f]+/src/index\.[0-9a-f]{8}\.js", page.content() + entry)
    with urllib.request.urlopen(server.url + url.group(0), timeout=5) as response:
        assert {"public", "max-age=31536000", "immutable"} <= {
            d.strip() for d in response.headers["Cache-Control"].split(",")}


def test_a_built_fragment_served_as_its_own_service_is_composed_and_mounted(
        dist, tessera_server_factory, tessera_open):
    service = FragmentService(dist / "bundled").start()  # dist/NAME: its newest version, dist/bundled/0.3.0
    try:
        server = tessera_server_factory(REMOTE / "host", options=["--remote", f"bundled={service.manifest_url}"])
        page = tessera_open(server.url + "/")
        assert states(page) == {"board": "mounted", "bundled": "mounted"}, page.tessera_console
        assert page.get_attribute("tessera-fragment[name=bundled]", "data-bundled") == "bundled"
        src = page.evaluate("[...performance.getEntriesByType('resource')].map(e => e.name)"
                            ".find(n => n.includes('/build/index.'))")
        assert re.fullmatch(rf"{service.url}/assets/[0-9a-f]+/build/index\.[0-9a-f]{{8}}\.js", src)
        with urllib.request.urlopen(src, timeout=5) as response:
            assert "immutable" in response.headers["Cache-Control"]
    finally:
        service.stop()
        service.log.close()
