"""Tessera: micro-frontend composition for Flask, with a browser bus mirrored to the server."""

from .brokers import Broker as Broker
from .brokers import Envelope as Envelope
from .brokers import MemoryBroker as MemoryBroker
from .events import Event as Event
from .extension import Tessera as Tessera
from .manifest import Fragment as Fragment
from .manifest import ManifestError as ManifestError

__version__ = "0.1.0"
