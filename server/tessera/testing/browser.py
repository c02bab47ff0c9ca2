"""Finding (or installing) the Chromium that end-to-end tests drive.

A system Chromium comes first (Debian's ``chromium``); Playwright's own browser is the
fallback where one is installed. ``python -m tessera.testing install-browser`` installs one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def find_chromium() -> str | None:
    """The path of a system Chromium (``TESSERA_CHROMIUM`` first), or None."""
    explicit = os.environ.get("TESSERA_CHROMIUM")
    if explicit:
        return explicit
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def launch_options(headless: bool = True) -> dict:
    """Keyword arguments for ``playwright.chromium.launch``."""
    options = {"headless": headless, "args": list(LAUNCH_ARGS)}
    if (path := find_chromium()) is not None:
        options["executable_path"] = path
    return options


def install_browser() -> int:
    """Make sure a Chromium is available: Debian's package where apt works, else Playwright's."""
    if (path := find_chromium()) is not None:
        print(f"tessera: using the system Chromium at {path}")
        return 0
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env)
        done = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env)
        if done.returncode == 0 and find_chromium():
            print(f"tessera: installed Debian's Chromium at {find_chromium()}")
            return 0
    print("tessera: no system Chromium; asking Playwright to install its own", file=sys.stderr)
    return subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"]).returncode
