"""Remote fragments in Chromium: real `tessera fragment serve` processes composed by a real
`tessera run --remote`, and a fragment served by a plain http.server from the documented format."""

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from tessera.testing.server import free_port

from conftest import FIXTURES

pytestmark = pytest.mark.browser

REMOTE = FIXTURES / "remote"
_spec = importlib.util.spec_from_file_location("plain_fragment", REMOTE / "plain_fragment.py")
plain_fragment = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plain_fragment)


class FragmentService:
    """``tessera fragment serve FOLDER --port PORT`` in a subprocess; ``start()`` waits for /health."""

    def __init__(self, folder, port=None):
        self.folder, self.port = folder, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.manifest_url = self.url + "/manifest.json"
        self.process = None
        self.log = tempfile.TemporaryFile(mode="a+")  # appended to: reading it never moves where the service writes

    def start(self):
        self.process = subprocess.Popen([sys.executable, "-m", "tessera", "fragment", "serve", str(self.folder),
                                         "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"fragment service did not start:\n{self.output()}")

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def services():
    started = []

    def start(folder, port=None):
        service = FragmentService(folder, port).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
        service.log.close()


@pytest.fixture
def plain():
    started = []

    def start(name, **knobs):
        fragment = plain_fragment.PlainFragment(name, **knobs).start()
        started.append(fragment)
        return fragment

    yield start
    for fragment in started:
        fragment.stop()


def states(page):
    return page.evaluate("Object.fromEntries([...document.querySelectorAll('tessera-fragment')]"
                         ".map(el => [el.getAttribute('name'), el.dataset.state]))")


def host(factory, *remotes, env=None):
    options = [option for name, url in remotes for option in ("--remote", f"{name}={url}")]
    return factory(REMOTE / "host", options=options, env=env or {})


def test_a_remote_fragment_is_mounted_and_talks_on_the_bus_both_ways_and_through_the_mirror(
        services, tessera_server_factory, tessera_open, tessera_browser):
    reviews = services(REMOTE / "reviews")
    server = host(tessera_server_factory, ("reviews", reviews.manifest_url))
    context = tessera_browser.new_context()
    page = tessera_open(server.url + "/", context=context)
    assert states(page) == {"board": "mounted", "reviews": "mounted"}, page.tessera_console
    assert page.get_attribute("tessera-fragment[name=reviews]", "data-mounted-by") == "reviews"
    assert page.inner_text("[data-test=reviews-title]").startswith("Reviews v1.0.0 for anon-")
    ctx = page.evaluate("window.reviewsCtx")
    assert ctx["name"] == "reviews" and ctx["version"] == "1.0.0" and ctx["url"].startswith(reviews.url + "/assets/")
    assert page.evaluate("getComputedStyle(document.querySelector('[data-test=reviews-title]')).color") == "rgb(1, 2, 3)"
    assert page.evaluate("document.querySelector('[data-test=reviews-star]').naturalWidth") > 0
    other_tab = tessera_open(server.url + "/", context=context)
    for tab in (page, other_tab):
        tab.wait_for_function("window.tessera.connection.state === 'open'", timeout=10000)
    # remote -> local in the page, and to the same user's other tab through the server
    page.evaluate("window.reviewsBus.publish('review.posted', {stars: 5})")
    for tab in (page, other_tab):
        tab.wait_for_selector("[data-test=board-heard] li:has-text('review.posted {\"stars\":5} from /fragments/reviews')")
    # local -> remote, in the page and through the server (global)
    page.evaluate("window.boardBus.publish('board.note', {text: 'hi'})")
    for tab in (page, other_tab):
        tab.wait_for_selector("[data-test=reviews-heard] li:has-text('board.note from /fragments/board')")
    # the host validates the remote's events with the schema its manifest declares
    error = page.evaluate("""new Promise((resolve) => {
        window.tessera.bus.subscribe('tessera.error', (event) => resolve(event.data));
        window.reviewsBus.publish('review.posted', {stars: 9});
    })""")
    assert error["code"] == "invalid"


def test_a_dead_fragment_shows_its_fallback_and_the_next_page_has_it_once_it_is_back(
        services, tessera_server_factory, tessera_open):
    reviews = services(REMOTE / "reviews")
    server = host(tessera_server_factory, ("reviews", reviews.manifest_url), env={"TESSERA_FRAGMENT_TIMEOUT": "0.5"})
    reviews.stop()
    page = tessera_open(server.url + "/")
    assert states(page) == {"board": "mounted", "reviews": "failed"}
    assert page.inner_text("[data-test=reviews-fallback]") == "Reviews are resting"
    services(REMOTE / "reviews", port=reviews.port)
    page = tessera_open(server.url + "/")
    assert states(page) == {"board": "mounted", "reviews": "mounted"}


def test_a_hung_fragment_costs_the_timeout_and_shows_its_fallback(plain, tessera_server_factory, tessera_open):
    hung = plain("ratings", delay=5)
    # 1 s: far below the fragment's 5 s, and room for the recovered fragment's answer on a loaded machine
    server = host(tessera_server_factory, ("ratings", hung.manifest_url), env={"TESSERA_FRAGMENT_TIMEOUT": "1.0"})
    started = time.monotonic()
    page = tessera_open(server.url + "/")
    assert time.monotonic() - started < 4
    assert states(page) == {"board": "mounted", "ratings": "failed"}
    assert page.get_attribute("tessera-fragment[name=ratings]", "data-error") == "timeout"
    assert page.inner_text("[data-test=ratings-fallback]") == "ratings is away"
    hung.delay = 0
    page = tessera_open(server.url + "/")
    assert states(page)["ratings"] == "mounted"


def test_a_fragment_served_by_plain_http_server_is_composed_and_mounted(plain, tessera_server_factory, tessera_open):
    ratings = plain("ratings")
    server = host(tessera_server_factory, ("ratings", ratings.manifest_url))
    page = tessera_open(server.url + "/")
    assert states(page) == {"board": "mounted", "ratings": "mounted"}, page.tessera_console
    assert page.get_attribute("tessera-fragment[name=ratings]", "data-plain") == "ratings@1.0.0"
    assert "ratings 1.0.0 for anon-" in page.inner_text("[data-test=ratings-content]")
    page.wait_for_function("window.tessera.connection.state === 'open'", timeout=10000)
    page.evaluate("window.boardBus.publish('board.note', {})")
    page.wait_for_selector("tessera-fragment[name=ratings] [data-heard]:has-text('board.note')")


def test_a_new_version_is_picked_up_live_with_new_asset_urls(services, tessera_server_factory, tessera_open, tmp_path):
    folder = tmp_path / "reviews"
    shutil.copytree(REMOTE / "reviews", folder)
    reviews = services(folder)
    server = host(tessera_server_factory, ("reviews", reviews.manifest_url), env={"TESSERA_REMOTE_TTL": "0.2"})
    page = tessera_open(server.url + "/")
    old_url = page.evaluate("window.reviewsCtx.url")
    assert page.evaluate("window.reviewsCtx.version") == "1.0.0"
    manifest = folder / "fragment.toml"
    manifest.write_text(manifest.read_text().replace('version = "1.0.0"', 'version = "1.1.0"'))
    reviews.stop()
    services(folder, port=reviews.port)  # the new deploy, same address; the host is not restarted
    deadline = time.monotonic() + 15
    while True:
        page = tessera_open(server.url + "/")
        if page.evaluate("window.reviewsCtx && window.reviewsCtx.version") == "1.1.0" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert page.evaluate("window.reviewsCtx.version") == "1.1.0"
    assert page.inner_text("[data-test=reviews-title]").startswith("Reviews v1.1.0")
    assert page.evaluate("window.reviewsCtx.url") != old_url
    assert states(page) == {"board": "mounted", "reviews": "mounted"}


def test_the_browser_shows_the_shell_before_a_slow_fragment_which_then_fills_its_slot(
        plain, tessera_server_factory, tessera_browser):
    from tessera.testing.plugin import csp_safe_waits

    slow = plain("ratings", delay=1.5)
    server = host(tessera_server_factory, ("ratings", slow.manifest_url), env={"TESSERA_FRAGMENT_TIMEOUT": "5"})
    context = tessera_browser.new_context()
    try:
        page = context.new_page()
        csp_safe_waits(page)
        started = time.monotonic()
        page.goto(server.url + "/", wait_until="commit")
        page.wait_for_selector("[data-test=board-title]", state="attached")
        shell_shown = time.monotonic() - started
        assert page.get_attribute("tessera-fragment[name=ratings]", "data-pending") == ""  # still on its way
        page.wait_for_function("window.tessera && window.tessera.ready", timeout=15000)
        page.evaluate("window.tessera.ready")
        settled = time.monotonic() - started
        assert shell_shown < settled / 2, (shell_shown, settled)
        assert states(page) == {"board": "mounted", "ratings": "mounted"}
        assert page.get_attribute("tessera-fragment[name=ratings]", "data-pending") is None
        assert "ratings 1.0.0 for anon-" in page.inner_text("[data-test=ratings-content]")
        assert page.evaluate("document.querySelectorAll('template[data-tessera-fill], body > script:not([src]):not([type])').length") == 0
    finally:
        context.close()
