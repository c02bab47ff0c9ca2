"""The built-in app that ``tessera run`` serves when no ``--app`` is given."""

from __future__ import annotations

from flask import Flask

from .extension import Tessera


def create_app() -> Flask:
    """A Flask app composing the fragments of ``TESSERA_FRONTENDS`` (default ``./frontends``)."""
    app = Flask("tessera.app", root_path=".")
    Tessera(app)
    return app
