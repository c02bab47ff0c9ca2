"""Tessera's pytest plugin (entry point ``pytest11``), installed with the ``test`` extra.

Fixtures, for the project's own tests and for users testing their fragments:

- ``tessera_frontends``: the folder of fragments to serve (default ``<rootdir>/frontends``);
  override it in a conftest.py. ``tessera_app``: ``MODULE:ATTR`` to serve instead (None).
- ``tessera_server``: a running ``tessera run`` subprocess for those (one per module).
- ``tessera_server_factory``: start servers with other frontends or options in a test.
- ``tessera_browser``: a headless Chromium (the system one first, Playwright's otherwise).
- ``tessera_open``: open a page and wait for ``tessera.ready``; ``tessera_page``: "/" opened.
- ``tessera_events``: wait for and assert events seen by pages and by the server (recorder.py).

pytest-playwright's own ``browser``, ``context`` and ``page`` fixtures launch the same Chromium
(``browser.launch_options()``): see ``playwright_defaults.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from .browser import launch_options
from .recorder import EventRecorder
from .server import TesseraServer

READY_TIMEOUT_MS = 15000
FUNCTION = re.compile(r"\s*(async\b\s*)?(function\b|\([^()]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)")


def pytest_configure(config: pytest.Config) -> None:
    """Registered now, after every entry-point plugin, so that its fixtures override pytest-playwright's."""
    if config.pluginmanager.has_plugin("playwright") and not config.pluginmanager.has_plugin("tessera-playwright"):
        from . import playwright_defaults

        config.pluginmanager.register(playwright_defaults, "tessera-playwright")


@pytest.fixture(scope="module")
def tessera_frontends(request: pytest.FixtureRequest) -> Path:
    return Path(request.config.rootpath) / "frontends"


@pytest.fixture(scope="module")
def tessera_app() -> str | None:
    return None


@pytest.fixture(scope="module")
def tessera_server_options() -> list[str]:
    """Extra ``tessera run`` options for ``tessera_server``."""
    return []


@pytest.fixture(scope="module")
def tessera_server(tessera_frontends: Path, tessera_app: str | None, tessera_server_options: list[str],
                   request: pytest.FixtureRequest) -> Iterator[TesseraServer]:
    frontends = None if tessera_app else tessera_frontends
    server = TesseraServer(frontends, app=tessera_app, options=tessera_server_options,
                           cwd=request.config.rootpath)
    with server:
        yield server
        if not server.alive():
            print(f"tessera server died during the tests (exit {server.process.returncode}):\n{server.output()}")


@pytest.fixture
def tessera_server_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., TesseraServer]]:
    """``tessera_server_factory(frontends, options=[...], env={...}, app=None)`` -> started server."""
    servers: list[TesseraServer] = []

    def start(frontends=None, **kwargs) -> TesseraServer:
        kwargs.setdefault("cwd", request.config.rootpath)
        server = TesseraServer(frontends, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def tessera_browser(playwright):
    """A headless Chromium, launched with the flags this sandbox needs."""
    browser = playwright.chromium.launch(**launch_options())
    yield browser
    browser.close()


@pytest.fixture
def tessera_open(tessera_browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., object]]:
    """``tessera_open(url_or_path="/", context=None, base=None)``: a Page on which ``tessera.ready`` resolved.

    Relative paths use ``tessera_server``. Each page records its console in ``page.tessera_console``
    (a list of ``"type: text"``). Pages of one context are tabs of one user; a new context
    (``tessera_browser.new_context()``) is another user. Their ``wait_for_function`` works
    under the shell's Content-Security-Policy (see ``csp_safe_waits``).
    """
    contexts = []
    recorder = request.getfixturevalue("tessera_events") if "tessera_events" in request.fixturenames else None

    def open_page(target: str = "/", context=None, base: str | None = None):
        if context is None:
            context = tessera_browser.new_context()
            contexts.append(context)
        page = context.new_page()
        csp_safe_waits(page)
        page.tessera_console = []
        page.on("console", lambda message: page.tessera_console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: page.tessera_console.append(f"pageerror: {error}"))
        if not target.startswith("http"):
            base = base or request.getfixturevalue("tessera_server").url
            target = base + target
        if recorder is not None:
            recorder.attach(page, base=base or _origin(target))
        page.goto(target)
        page.wait_for_function("window.tessera && window.tessera.ready", timeout=READY_TIMEOUT_MS)
        page.evaluate("window.tessera.ready")
        if recorder is not None:
            recorder.listen(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


@pytest.fixture
def tessera_events(request: pytest.FixtureRequest) -> Iterator[EventRecorder]:
    """Events seen by pages (``where="page"``) and by the server (``where="server"``):
    ``wait_for(pattern, where=..., page=None, timeout=5.0, count=1, check=None)`` and
    ``published(pattern, where=..., page=None)``. Pages opened with ``tessera_open`` are recorded
    from their first script; attach others with ``tessera_events.attach(page)`` before ``goto``."""
    recorder = EventRecorder(lambda: request.getfixturevalue("tessera_server").url)
    yield recorder
    recorder.close()


def csp_safe_waits(page: Any) -> None:
    """Let ``page.wait_for_function("expression")`` poll under a policy without 'unsafe-eval'.

    Playwright evaluates a string predicate with ``eval`` on every poll, which the shell's
    Content-Security-Policy refuses after the first; a predicate that is a function is
    evaluated once and then called. So an expression is sent as ``() => (expression)``.
    """
    wait_for_function = page.wait_for_function

    def csp_safe(expression: str, *args: Any, **kwargs: Any) -> Any:
        if isinstance(expression, str) and not FUNCTION.match(expression):
            expression = f"() => ({expression.strip().rstrip(';')})"
        return wait_for_function(expression, *args, **kwargs)

    page.wait_for_function = csp_safe


@pytest.fixture
def tessera_page(tessera_open):
    """The shell page "/" of ``tessera_server``, with every fragment settled."""
    return tessera_open("/")

