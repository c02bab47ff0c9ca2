"""Where the browser runtime and the default shell live inside the installed package."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from .manifest import digest


@cache
def shell_folder() -> Path:
    """The ``shell/`` folder (``tessera.shell`` in the wheel)."""
    return Path(str(files("tessera.shell")))


@cache
def shell_digest() -> str:
    return digest(shell_folder())


def runtime_url(path: str) -> str:
    return f"/_tessera/shell/{shell_digest()}/{path}"
