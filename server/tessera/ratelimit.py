"""How often one page may send: a token bucket per connection.

What a page may publish (declared topics and scopes, schemas, sizes) is admission.py's job,
the same for every origin.
"""

from __future__ import annotations

import time


class RateLimit:
    """A token bucket: ``rate`` per second on average, bursts up to ``2 * rate``."""

    def __init__(self, rate: float):
        self.rate = rate
        self.capacity = 2 * rate
        self.tokens = self.capacity
        self.checked = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.checked) * self.rate)
        self.checked = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
