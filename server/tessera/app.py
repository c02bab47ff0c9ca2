"""The built-in app that ``tessera run`` serves when no ``--app`` is given."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask import Flask

from .config import command_line
from .extension import Tessera


def create_app(*, frontends: str | Path | None = None, shell: str | Path | None = None,
               broker: str | None = None, allowed_origins: Sequence[str] = (),
               publish_token: str | None = None, trusted_hosts: Sequence[str] = (),
               remotes: Sequence[str] = (), secret_key: str | None = None) -> Flask:
    """A Flask app composing the fragments of ``./frontends`` (or ``TESSERA_FRONTENDS``).

    The arguments are ``tessera run``'s options and rank as such: above the ``TESSERA_*``
    environment variables (``gunicorn "tessera.app:create_app()"`` reads only those).
    """
    app = Flask("tessera.app", root_path=".")
    with command_line(frontends=frontends, shell=shell, broker=broker, allowed_origins=allowed_origins,
                      publish_token=publish_token, trusted_hosts=trusted_hosts, remotes=remotes,
                      secret_key=secret_key):
        Tessera(app)
    return app
