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


ROOT = FIXTURES.parent.parent
BREW_TIMER = ROOT / "remotes" / "brew-timer"


@pytest.mark.skipif(shutil.which("npm") is None, reason="the brew timer's build command needs npm")
def test_the_preact_brew_timer_is_built_with_its_own_command_served_on_its_own_and_talks_on_the_bus(
        tmp_path, tessera_server_factory, tessera_open):
    """remotes/brew-timer: Preact and esbuild from npm (npm ci, package-lock.json), bundled by its
    [build] command, served by `tessera fragment serve`, composed into the demo shop with --remote."""
    source = tmp_path / "remotes" / "brew-timer"
    shutil.copytree(BREW_TIMER, source, ignore=shutil.ignore_patterns("node_modules", "build"))
    done = subprocess.run([sys.executable, "-m", "tessera", "build", "brew-timer", "--frontends", str(source.parent),
                           "--out", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    service = FragmentService(tmp_path / "dist" / "brew-timer" / "1.0.0").start()
    try:
        server = tessera_server_factory(ROOT / "frontends", options=["--remote", f"brew-timer={service.manifest_url}"])
        page = tessera_open(server.url + "/")
        assert states(page)["brew-timer"] == "mounted", page.tessera_console
        timer = page.locator("tessera-fragment[name=brew-timer]")
        assert timer.locator("[data-test=brew-clock]").inner_text() == "3:30"  # rendered by Preact
        # another fragment's event reaches the Preact component through ctx.bus
        page.locator("tessera-fragment[name=catalog] [data-action=add][data-sku=col-huila]").click()
        page.wait_for_function("document.querySelector('[data-test=brew-coffee]').textContent.startsWith('Brew your ')")
        timer.get_by_role("button", name="espresso").click()
        assert timer.locator("[data-test=brew-clock]").inner_text() == "0:28"
        # and the component publishes on the page's bus, as the fragment
        started = page.evaluate("""new Promise((resolve) => {
            window.tessera.bus.subscribe('brew.started', (event) => resolve(event));
            document.querySelector('[data-test=brew-start]').click();
        })""")
        assert started["source"] == "/fragments/brew-timer"
        assert started["data"] == {"method": "espresso", "coffee": started["data"]["coffee"], "seconds": 28}
        assert started["data"]["coffee"] in timer.locator("[data-test=brew-coffee]").inner_text()
    finally:
        service.stop()
        service.log.close()
