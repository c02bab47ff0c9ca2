"""Tessera: micro-frontend composition for Flask, with a browser bus mirrored to the server.

The public names, imported when first used (so that ``tessera run`` can patch the standard
library for gevent before Flask and threading are imported: ``__main__.py``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .admission import Refused as Refused
    from .brokers import Broker as Broker
    from .brokers import Envelope as Envelope
    from .brokers import MemoryBroker as MemoryBroker
    from .events import Event as Event
    from .extension import Tessera as Tessera
    from .fragment_server import FragmentContext as FragmentContext
    from .manifest import Fragment as Fragment
    from .manifest import ManifestError as ManifestError

__version__ = "0.1.0"

_PUBLIC = {
    "Tessera": ".extension",
    "Event": ".events",
    "Refused": ".admission",
    "Broker": ".brokers",
    "Envelope": ".brokers",
    "MemoryBroker": ".brokers",
    "Fragment": ".manifest",
    "ManifestError": ".manifest",
    "FragmentContext": ".fragment_server",
}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tessera' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name], __name__), name)
