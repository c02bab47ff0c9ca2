"""``Tessera``: the Flask extension that composes fragments and mirrors the bus."""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from flask import Flask

from . import config as settings
from .admission import Admission
from .bus import Bus
from .brokers import open_broker
from .composition import Composer, PropsProvider
from .http import register_routes
from .identity import Identify, Identity
from .manifest import Fragment, ManifestError
from .publish_endpoint import register_publish
from .registry import Registry, load_registry
from .socket_endpoint import register_socket

log = logging.getLogger("tessera")


class Tessera:
    """Compose the fragments of ``frontends`` into a shell page and mirror the bus.

    ``Tessera(app)`` or ``Tessera()`` then ``init_app(app)``. Settings come from
    ``TESSERA_*`` environment variables, else the arguments, else ``app.config``.
    """

    def __init__(self, app: Flask | None = None, *, frontends: str | Path | None = None,
                 shell: str | Path | None = None, broker: str | None = None):
        self.bus = Bus()
        self._overrides = {"TESSERA_FRONTENDS": frontends, "TESSERA_SHELL": shell, "TESSERA_BROKER": broker}
        self._props: dict[str, PropsProvider] = {}
        self._identify: Identify | None = None
        self.app: Flask | None = None
        self.registry: Registry | None = None
        self.identity: Identity | None = None
        if app is not None:
            self.init_app(app)

    # -- set-up ----------------------------------------------------------------------
    def init_app(self, app: Flask) -> None:
        if self.app is not None and self.app is not app:
            raise RuntimeError("this Tessera is already bound to another app; create one Tessera per app")
        config = settings.resolve(app.config, overrides=self._overrides)
        app.config.update(config)
        folder = Path(config["TESSERA_FRONTENDS"])
        self.registry = load_registry(folder if folder.is_absolute() else Path(app.root_path) / folder)
        self.settings = config
        self.admission = Admission(self.registry, max_bytes=config["TESSERA_MAX_EVENT_BYTES"])
        self.bus.admission = self.admission
        self.guard = self.admission  # socket_endpoint still passes it to Connection; goes with the lead's rewrite
        self.bus.attach(open_broker(config["TESSERA_BROKER"], history=config["TESSERA_HISTORY"]))
        self.app = app
        app.extensions["tessera"] = self
        self._load_fragment_servers()
        self.identity = Identity(config["TESSERA_SECRET_KEY"])
        self.identity.identify = self._identify
        shell = config["TESSERA_SHELL"]
        self.composer = Composer(
            registry=self.registry,
            shell_file=Path(shell).resolve() if shell else None,
            props=self._props,
            client_config={"scopes": self.registry.scopes(), "socket": "/_tessera/ws"},
        )
        register_routes(app, self)
        register_publish(app, self)
        self.hub = register_socket(app, self)
        app.after_request(self.identity.save)

    def _load_fragment_servers(self) -> None:
        """Run ``setup(tessera)`` of every fragment that declares a ``server`` module."""
        for fragment in self.registry.fragments:
            if not fragment.server:
                continue
            module = _import_fragment_server(fragment)
            try:
                module.setup(self)
            except Exception as error:
                path = fragment.root / fragment.server
                raise ManifestError(fragment.manifest_path, "server",
                                    "setup(tessera) of " + _failure(fragment.server, path, error)) from error

    def _check_setup(self, what: str) -> None:
        if self.app is not None and self.app._got_first_request:
            raise AssertionError(f"{what} must be registered before the app serves its first request")

    # -- decorators --------------------------------------------------------------------
    def identify(self, function: Identify) -> Identify:
        """Register the function that returns the current user's id (or None if anonymous)."""
        self._check_setup("@tessera.identify")
        self._identify = function
        if self.identity is not None:
            self.identity.identify = function
        return function

    def props(self, fragment: str) -> Callable[[PropsProvider], PropsProvider]:
        """Register the function that returns ``ctx.props`` (and the template's ``props``)."""
        self._check_setup("@tessera.props")

        def register(function: PropsProvider) -> PropsProvider:
            self._props[fragment] = function
            return function

        return register

    def current_user(self) -> str:
        """The user id of the current request (an anonymous id when nobody is signed in)."""
        return self.identity.current()

    def close(self) -> None:
        self.hub.close()
        self.bus.close()
        self.bus.broker.close()


def _import_fragment_server(fragment: Fragment) -> Any:
    """Import a fragment's ``server`` module; its errors become a ManifestError naming the line."""
    path = fragment.root / fragment.server
    module_name = f"tessera_fragments.{fragment.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise ManifestError(fragment.manifest_path, "server", _failure(fragment.server, path, error)) from error
    if not callable(getattr(module, "setup", None)):
        raise ManifestError(fragment.manifest_path, "server", f"{fragment.server} must define setup(tessera)")
    return module


def _failure(name: str, path: Path, error: Exception) -> str:
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path]
    where = f" (line {lines[-1]})" if lines else ""
    return f"{name} raised {type(error).__name__}: {error}{where}"
