"""Brokers: where events get their position, are kept for replay, and fan out."""

from __future__ import annotations

from urllib.parse import urlparse

from .base import Broker, BrokerError, Envelope, Published
from .memory import MemoryBroker


def open_broker(url: str, *, history: int) -> Broker:
    """The broker for a ``TESSERA_BROKER`` URL: ``memory://``, or ``redis://HOST:PORT/DB`` (also
    ``rediss://``; ``?prefix=NAME`` puts the keys under NAME instead of ``tessera:``).

    Raises BrokerError, one line naming the URL (without its password), when it cannot be used.
    """
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return MemoryBroker(history=history)
    if scheme in ("redis", "rediss"):
        from .redis import RedisBroker  # imports redis-py only for those who use it

        return RedisBroker(url, history=history)
    raise BrokerError(f"TESSERA_BROKER {url!r}: unknown scheme; use memory:// or redis://HOST:PORT/DB")


__all__ = ["Broker", "BrokerError", "Envelope", "MemoryBroker", "Published", "open_broker"]
