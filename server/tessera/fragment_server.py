"""A fragment's ``server`` module: imported at start-up, its ``setup(fragment)`` given a
context scoped to that fragment, the Python counterpart of the browser's ``ctx``.

```python
def setup(fragment):                       # fragment.name, fragment.version
    @fragment.props                        # this fragment's ctx.props (and its template's props)
    def props(): return {"user": fragment.current_user()}

    @fragment.bus.subscribe("order.placed")
    def on_order(event):
        fragment.bus.publish("stock.changed", {...})   # source /server/<fragment name>
```
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from .bus import Handler
from .composition import PropsProvider
from .events import Event
from .manifest import Fragment, ManifestError
from .state import State


class FragmentBus:
    """``fragment.bus``: the app's Python bus; what it publishes has source ``/server/<name>``."""

    def __init__(self, state: State, name: str):
        self._state = state
        self._name = name

    def subscribe(self, pattern: str) -> Callable[[Handler], Handler]:
        """``@fragment.bus.subscribe("checkout.>")``: call the function with every matching event."""
        register = self._state.bus.subscribe(pattern)
        return lambda handler: _registered(register, self._state.in_context(handler), handler)

    def respond(self, topic: str) -> Callable[[Handler], Handler]:
        """``@fragment.bus.respond("pricing.quote")``: answer pages' ``bus.request()`` of that type."""
        register = self._state.bus.respond(topic)
        return lambda handler: _registered(register, self._state.in_context(handler), handler)

    def publish(self, type: str, data: Any = None, *, user: str | None = None, source: str | None = None) -> Event:
        """Publish to every subscribed page, or only to ``user``'s pages; ``source`` defaults
        to this fragment's name (``/server/<name>``)."""
        return self._state.bus.publish(type, data, user=user, source=source or self._name)


class FragmentContext:
    """What ``setup(fragment)`` receives: this fragment's name, version, bus and props."""

    def __init__(self, state: State, fragment: Fragment):
        self._state = state
        self.name = fragment.name
        self.version = fragment.version
        self.bus = FragmentBus(state, fragment.name)

    def props(self, function: PropsProvider) -> PropsProvider:
        """``@fragment.props``: the function returning this fragment's ``ctx.props`` (and template ``props``)."""
        self._state.add_props(self.name, function, what="@fragment.props")
        return function

    def current_user(self) -> str:
        """The user id of the current request (an anonymous id when nobody is signed in)."""
        return self._state.current_user()

    def __repr__(self) -> str:
        return f"<FragmentContext {self.name} {self.version}>"


def start_fragment_servers(state: State) -> None:
    """Import each fragment's ``server`` module and run its ``setup(fragment)`` in the app's context."""
    for fragment in state.registry.fragments:
        if not fragment.server:
            continue
        module = _import(fragment)
        path = fragment.root / fragment.server
        try:
            with state.app.app_context():
                module.setup(FragmentContext(state, fragment))
        except Exception as error:
            raise ManifestError(fragment.manifest_path, "server",
                                "setup(fragment) of " + _failure(fragment.server, path, error)) from error


def _registered(register: Callable[[Handler], Handler], wrapped: Handler, handler: Handler) -> Handler:
    register(wrapped)
    return handler


def _import(fragment: Fragment) -> Any:
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
        raise ManifestError(fragment.manifest_path, "server", f"{fragment.server} must define setup(fragment)")
    return module


def _failure(name: str, path: Path, error: Exception) -> str:
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path]
    where = f" (line {lines[-1]})" if lines else ""
    return f"{name} raised {type(error).__name__}: {error}{where}"
