"""``Tessera``: the Flask extension that composes fragments and mirrors the bus.

As Flask's extension guidance asks, the ``Tessera`` object holds no app: ``init_app(app)``
builds that app's ``State`` (state.py) in ``app.extensions["tessera"]``, and endpoints read it
through ``current_app``. One ``Tessera`` may serve several apps; what it keeps is what users
register on it (``@tessera.identify``, ``@tessera.props``, ``@tessera.bus.subscribe``...),
applied to every app it serves.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import weakref
from pathlib import Path
from typing import Any, Callable

from flask import Flask, current_app, has_app_context

from . import config
from .admission import Admission
from .brokers import open_broker
from .bus import Bus, Handler
from .composition import Composer, PropsProvider
from .events import Event
from .fragment_server import start_fragment_servers
from .http import pages
from .identity import Identify, Identity
from . import publish_endpoint  # noqa: F401  (adds POST /_tessera/events to the blueprint)
from . import inspect  # noqa: F401  (adds GET /_tessera/inspect and inspect.json to the blueprint)
from . import contracts
from .manifest import Fragment
from .registry import load_registry
from .remotes import Remotes
from .socket_endpoint import open_sockets
from .state import KEY, State, blueprint
from .topics import validate_pattern, validate_topic

log = logging.getLogger("tessera")


class Tessera:
    """Compose the fragments of ``frontends`` into a shell page and mirror the bus.

    ``Tessera(app)``, or ``Tessera()`` then ``init_app(app)`` (once per app). A setting comes
    from the argument given here, else the ``tessera run`` option, else the ``TESSERA_*``
    environment variable, else ``app.config``, else its default (config.py).
    """

    def __init__(self, app: Flask | None = None, *, frontends: str | Path | None = None,
                 shell: str | Path | None = None, broker: str | None = None):
        self._arguments = {"TESSERA_FRONTENDS": frontends, "TESSERA_SHELL": shell, "TESSERA_BROKER": broker}
        self._identify: Identify | None = None
        self._props: dict[str, PropsProvider] = {}
        # The apps' states, only to reach them outside an app context (a module-level publish,
        # a user's thread) and to apply late registrations; weak, so no app is kept alive.
        self._served: weakref.WeakSet[State] = weakref.WeakSet()
        self.bus = ExtensionBus(self)
        if app is not None:
            self.init_app(app)

    # -- set-up ----------------------------------------------------------------------
    def init_app(self, app: Flask) -> None:
        """Set Tessera up on ``app``: load its fragments, open its broker, add the endpoints."""
        if KEY in app.extensions:
            raise RuntimeError(f"app {app.name!r} already has a Tessera: call init_app once per app")
        settings = config.resolve(app.config, arguments=self._arguments, root=app.root_path)
        app.config.update(settings)
        if settings["TESSERA_TRUSTED_HOSTS"]:  # Flask then refuses (400) a Host header not on the list
            app.config["TRUSTED_HOSTS"] = settings["TESSERA_TRUSTED_HOSTS"]
        remotes = Remotes(settings["TESSERA_REMOTES"], timeout=settings["TESSERA_FRAGMENT_TIMEOUT"],
                          ttl=settings["TESSERA_REMOTE_TTL"], token=settings["TESSERA_REMOTE_TOKEN"])
        try:
            registry = load_registry(settings["TESSERA_FRONTENDS"], remotes.load() if remotes else ())
        except BaseException:
            remotes.close()
            raise
        props = dict(self._props)
        shell = settings["TESSERA_SHELL"]
        composer = Composer(
            registry=registry,
            shell_file=Path(shell) if shell else None,
            props=props,
            client_config={"scopes": registry.scopes(), "socket": "/_tessera/ws",
                           "maxEventBytes": settings["TESSERA_MAX_EVENT_BYTES"]},
            remotes=remotes,
        )
        identity = Identity(settings["TESSERA_SECRET_KEY"])
        identity.identify = self._identify
        bus = Bus()
        admission = Admission(registry, max_bytes=settings["TESSERA_MAX_EVENT_BYTES"])
        bus.admission = admission
        state = State(app=app, settings=settings, registry=registry, identity=identity, composer=composer,
                      bus=bus, admission=admission, props=props, remotes=remotes)
        remotes.adopt = functools.partial(_adopt, state)
        self.bus.apply_to(state)
        bus.attach(open_broker(settings["TESSERA_BROKER"], history=settings["TESSERA_HISTORY"]))
        app.extensions[KEY] = state
        try:
            start_fragment_servers(state)
            open_sockets(state)
        except BaseException:
            del app.extensions[KEY]
            state.close()
            raise
        app.register_blueprint(pages)
        app.register_blueprint(blueprint)
        app.after_request(identity.save)
        self._served.add(state)

    def _state(self) -> State:
        """The state of the current app context's app, else of the one app this Tessera serves."""
        if has_app_context():
            state = current_app.extensions.get(KEY)
            if state in self._served:
                return state
        served = list(self._served)
        if len(served) == 1:
            return served[0]
        if not served:
            raise RuntimeError("this Tessera serves no app yet: call Tessera(app) or tessera.init_app(app) first")
        raise RuntimeError(f"this Tessera serves {len(served)} apps: call it inside `with app.app_context():` "
                           "to say which")

    def _check_setup(self, what: str) -> None:
        for state in self._served:
            state.check_setup(what)

    # -- decorators --------------------------------------------------------------------
    def identify(self, function: Identify) -> Identify:
        """Register the function that returns the current user's id (or None if anonymous)."""
        self._check_setup("@tessera.identify")
        self._identify = function
        for state in self._served:
            state.identity.identify = function
        return function

    def props(self, fragment: str) -> Callable[[PropsProvider], PropsProvider]:
        """Register the function that returns ``ctx.props`` (and the template's ``props``) of ``fragment``."""
        self._check_setup("@tessera.props")

        def register(function: PropsProvider) -> PropsProvider:
            if fragment in self._props:
                raise ValueError(f"fragment {fragment!r} already has a props provider")
            for state in self._served:
                state.add_props(fragment, function, what="@tessera.props")
            self._props[fragment] = function
            return function

        return register

    def current_user(self) -> str:
        """The user id of the current request (an anonymous id when nobody is signed in)."""
        return self._state().current_user()

    def close(self) -> None:
        """Stop Tessera in every app it serves: sockets, Python bus and broker."""
        for state in list(self._served):
            self._served.discard(state)
            state.close()


def _adopt(state: State, fragment: Fragment) -> bool:
    """Swap in a new manifest of a remote fragment for the next pages, events included (its
    declarations, the browser's scopes, admission), if it keeps the contract with the others."""
    fragments = tuple(fragment if f.name == fragment.name else f for f in state.registry.fragments)
    problems = contracts.problems(fragments)
    if problems:
        log.error("remote fragment %s %s is refused, its fallback is shown until it is fixed: %s",
                  fragment.name, fragment.version, problems[0])
        return False
    registry = dataclasses.replace(state.registry, fragments=fragments)
    admission = Admission(registry, max_bytes=state.settings["TESSERA_MAX_EVENT_BYTES"])
    state.composer.adopt(registry)
    state.registry, state.admission, state.bus.admission = registry, admission, admission
    return True


class ExtensionBus:
    """``tessera.bus``: subscribers and responders for every app the Tessera serves.

    Handlers run inside their app's context, so ``tessera.bus.publish`` from a handler (or a
    request) goes to that app; outside any app context it goes to the one app served.
    """

    def __init__(self, tessera: Tessera):
        self._tessera = tessera
        self._subscribers: list[tuple[str, Handler]] = []
        self._responders: dict[str, Handler] = {}

    def subscribe(self, pattern: str) -> Callable[[Handler], Handler]:
        """``@tessera.bus.subscribe("checkout.>")``: call the function with every matching event."""
        validate_pattern(pattern)

        def register(handler: Handler) -> Handler:
            for state in self._tessera._served:
                state.bus.subscribe(pattern)(state.in_context(handler))
            self._subscribers.append((pattern, handler))
            return handler

        return register

    def respond(self, topic: str) -> Callable[[Handler], Handler]:
        """``@tessera.bus.respond("pricing.quote")``: answer pages' ``bus.request()`` of that type."""
        validate_topic(topic)

        def register(handler: Handler) -> Handler:
            if topic in self._responders:
                raise ValueError(f"{topic!r} already has a responder: {self._responders[topic].__qualname__}")
            for state in self._tessera._served:
                state.bus.respond(topic)(state.in_context(handler))
            self._responders[topic] = handler
            return handler

        return register

    def publish(self, type: str, data: Any = None, *, user: str | None = None, source: str | None = None) -> Event:
        """Publish from Python to every subscribed page, or only to ``user``'s pages."""
        return self._tessera._state().bus.publish(type, data, user=user, source=source)

    def apply_to(self, state: State) -> None:
        """Give a new app's bus every subscriber and responder registered so far."""
        for pattern, handler in self._subscribers:
            state.bus.subscribe(pattern)(state.in_context(handler))
        for topic, handler in self._responders.items():
            state.bus.respond(topic)(state.in_context(handler))
