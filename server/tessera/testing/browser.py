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


def install_browser(verbose: bool = False) -> int:
    """Make sure a Chromium is available: Debian's package where apt works, else Playwright's.

    Says in a line what it did; the installers' output is printed with ``verbose`` or when they fail.
    """
    if (path := find_chromium()) is not None:
        print(f"tessera: using the system Chromium at {path}")
        return 0
    log: list[str] = []
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        print("tessera: no system Chromium; installing Debian's chromium package with apt-get", flush=True)
        _run(["apt-get", "update", "-q"], log, verbose, env=env)
        done = _run(["apt-get", "install", "-y", "-q", "chromium"], log, verbose, env=env)
        if done == 0 and (path := find_chromium()):
            print(f"tessera: installed Debian's Chromium at {path}")
            return 0
        _show(log, verbose)
        log.clear()
        print("tessera: apt-get could not install chromium (its output is above); trying Playwright's browser",
              file=sys.stderr)
    print("tessera: asking Playwright to install its Chromium", flush=True)
    done = _run([sys.executable, "-m", "playwright", "install", "chromium"], log, verbose)
    if done == 0:
        print("tessera: installed Playwright's Chromium")
        return 0
    _show(log, verbose)
    print(f"tessera: error: could not install a Chromium (playwright install exited {done}); install "
          "chromium with your package manager, or set TESSERA_CHROMIUM to a Chromium binary", file=sys.stderr)
    return done or 1


def _run(command: list[str], log: list[str], verbose: bool, env: dict | None = None) -> int:
    """Run ``command``: its output streams through with ``verbose``, else is kept in ``log``."""
    if verbose:
        return subprocess.run(command, env=env).returncode
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace")
    log.append(f"$ {' '.join(command)}\n{done.stdout}")
    return done.returncode


def _show(log: list[str], verbose: bool) -> None:
    if not verbose:
        sys.stderr.write("".join(log))
