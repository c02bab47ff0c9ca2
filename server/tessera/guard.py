"""What a browser may send: declared topics and scopes, JSON Schema, size and rate limits."""

from __future__ import annotations

import time
from typing import Any

from jsonschema import Draft202012Validator

from .events import Event, EventError
from .protocol import FrameError
from .registry import Registry
from .topics import is_reserved

MIRRORED = ("user", "global")


class Guard:
    """Checks events that pages publish, against the fragments' declarations."""

    def __init__(self, registry: Registry):
        self.scopes = registry.scopes()
        self.sources = {"/shell"} | {f"/fragments/{f.name}" for f in registry.fragments}
        self.validators = {
            topic: Draft202012Validator(p.schema) for topic, p in registry.publications.items() if p.schema
        }

    def event(self, body: dict[str, Any], user: str) -> Event:
        """A page's event as an Event of ``user``, or FrameError("invalid" | "forbidden")."""
        event_id = body.get("id") if isinstance(body.get("id"), str) else None
        try:
            event = Event.from_dict(body, user=user)
        except EventError as error:
            raise FrameError("invalid", str(error), event_id) from None
        if is_reserved(event.type):
            raise FrameError("forbidden", f"{event.type!r}: topics starting with 'tessera.' are reserved", event.id)
        if event.source not in self.sources:
            raise FrameError("forbidden", f"source {event.source!r} is not /shell or a loaded fragment", event.id)
        return event

    def publication(self, event: Event) -> str:
        """The scope a page may publish ``event`` with; FrameError when it may not."""
        scope = self.scopes.get(event.type)
        if scope not in MIRRORED:
            why = "is not declared by any fragment" if scope is None else f"is declared with scope {scope!r}"
            raise FrameError("forbidden", f"{event.type!r} {why}; pages may publish only user or global topics",
                             event.id)
        self.check_data(event)
        return scope

    def check_data(self, event: Event) -> None:
        """FrameError("invalid") when a declared topic's data does not match its JSON Schema."""
        validator = self.validators.get(event.type)
        if validator is None:
            return
        error = next(iter(validator.iter_errors(event.data)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "data"
            raise FrameError("invalid", f"{event.type!r} data does not match its schema at {where}: {error.message}",
                             event.id)


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
