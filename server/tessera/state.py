"""One app's Tessera: the state ``init_app`` builds, where it lives, and how endpoints reach it.

``Tessera.init_app(app)`` stores a ``State`` in ``app.extensions["tessera"]``. Endpoints never
see the ``Tessera`` object: they hang from ``blueprint`` (every route under ``/_tessera``) and
read the state of the app serving the request with ``current()``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from flask import Blueprint, Flask, current_app

if TYPE_CHECKING:
    from .admission import Admission
    from .bus import Bus
    from .composition import Composer, PropsProvider
    from .hub import Hub
    from .identity import Identity
    from .registry import Registry
    from .remotes import Remotes
    from .responders import Responders

KEY = "tessera"  # app.extensions[KEY]

# Tessera's endpoints; each endpoint module adds its routes at import, before any app registers it.
blueprint = Blueprint("tessera", __name__, url_prefix="/_tessera")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(eq=False, repr=False)  # its settings hold secrets: never in a repr
class State:
    """Everything Tessera keeps for one app."""

    app: Flask
    settings: dict[str, Any]  # every TESSERA_* setting in use (also written to app.config)
    registry: Registry
    identity: Identity
    composer: Composer
    bus: Bus
    admission: Admission
    props: dict[str, PropsProvider] = field(default_factory=dict)  # fragment name -> ctx.props provider
    hub: Hub | None = None  # this app's open sockets (socket_endpoint.open_sockets)
    responders: Responders | None = None  # Python responders answering pages (socket_endpoint.open_sockets)
    remotes: Remotes | None = None  # remote fragments' manifests and content fetches (remotes.py)

    def current_user(self) -> str:
        """The user id of the current request (an anonymous id when nobody is signed in)."""
        return self.identity.current()

    def in_context(self, handler: F) -> F:
        """``handler``, run inside this app's context (for bus handlers, which run on Tessera's threads)."""
        app = self.app

        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return handler(*args, **kwargs)

        return run  # type: ignore[return-value]

    def add_props(self, fragment: str, provider: PropsProvider, *, what: str) -> None:
        """Register ``fragment``'s props provider (``what`` names the decorator in errors)."""
        self.check_setup(what)
        if fragment in self.props:
            raise ValueError(f"fragment {fragment!r} already has a props provider: {_name(self.props[fragment])}")
        self.props[fragment] = provider

    def check_setup(self, what: str) -> None:
        """Like Flask's ``@setupmethod``: set-up is refused once the app has served a request."""
        if self.started():
            raise AssertionError(f"{what} must be registered before the app serves its first request")

    def started(self) -> bool:
        """Whether the app has served a request (set-up decorators are refused from then on)."""
        return self.app._got_first_request

    def __repr__(self) -> str:
        return f"<tessera.State of app {self.app.name!r}: {len(self.registry.fragments)} fragments>"

    def close(self) -> None:
        """Stop delivering: close the sockets, the responders, the bus and the broker."""
        if self.hub is not None:
            self.hub.close()
        if self.responders is not None:
            self.responders.close()
        if self.remotes is not None:
            self.remotes.close()
        self.bus.close()
        self.bus.broker.close()


def current() -> State:
    """The Tessera state of the app handling this request (or of the active app context)."""
    state = current_app.extensions.get(KEY)
    if state is None:
        raise RuntimeError(f"Tessera is not set up on app {current_app.name!r}: "
                           "call Tessera(app) or tessera.init_app(app) first")
    return state


def _name(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
