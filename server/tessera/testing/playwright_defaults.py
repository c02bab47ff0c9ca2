"""pytest-playwright's ``browser``, ``context`` and ``page`` on the Chromium Tessera's tests use.

Registered by the plugin (``pytest_configure``) after pytest-playwright, so these fixtures wrap
its own: a test that asks for ``page`` gets a page of the system Chromium (or Playwright's, as
``tessera.testing.browser.launch_options()`` finds it) with the flags a container needs, and
``--headed``, ``--browser-channel`` and ``--slowmo`` keep working. Other browsers are untouched.
"""

from __future__ import annotations

from typing import Any

import pytest

from .browser import launch_options


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], browser_name: str | None) -> dict[str, Any]:
    if browser_name not in (None, "chromium"):
        return browser_type_launch_args
    options = launch_options(headless=browser_type_launch_args.get("headless", True))
    if "channel" in browser_type_launch_args or "executable_path" in browser_type_launch_args:
        options.pop("executable_path", None)  # the user chose a browser
    args = options.pop("args")
    args += [a for a in browser_type_launch_args.get("args", []) if a not in args]
    return {**options, **browser_type_launch_args, "args": args}
