"""The embedded in-memory broker: one process, history in a ring buffer."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, deque
from typing import Callable

from .base import Envelope, Listener, Listeners, Published

IDEMPOTENCY_WINDOW = 50_000


class MemoryBroker:
    """Keeps the last ``history`` envelopes; listeners run in the publisher's thread, in order."""

    def __init__(self, history: int = 10_000):
        self.epoch = uuid.uuid4().hex[:12]
        self._history: deque[Envelope] = deque(maxlen=max(history, 0))
        self._seq = 0
        self._keys: OrderedDict[str, int] = OrderedDict()  # idempotency key -> seq, oldest first
        self._listeners = Listeners()
        self._lock = threading.RLock()

    def publish(self, envelope: Envelope) -> Published:
        with self._lock:
            if (seq := self._keys.get(envelope.key)) is not None:
                return Published(seq, duplicate=True)
            self._seq += 1
            stored = envelope.stored(self._seq, self.epoch)
            self._remember(envelope.key, self._seq)
            self._history.append(stored)
            self._listeners.call(stored)  # under the lock: every listener sees seq order
            return Published(self._seq)

    def _remember(self, key: str, seq: int) -> None:
        self._keys[key] = seq
        if len(self._keys) > IDEMPOTENCY_WINDOW:
            self._keys.popitem(last=False)

    def listen(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def since(self, epoch: str, seq: int) -> list[Envelope] | None:
        with self._lock:
            if epoch != self.epoch or seq > self._seq:
                return None
            if seq == self._seq:
                return []
            if not self._history or self._history[0].event.seq > seq + 1:
                return None
            return [e for e in self._history if e.event.seq > seq]

    def position(self) -> int:
        return self._seq

    def health(self) -> dict:
        return {"ok": True, "url": "memory://", "epoch": self.epoch, "seq": self._seq}

    def close(self) -> None:
        self._listeners.clear()
