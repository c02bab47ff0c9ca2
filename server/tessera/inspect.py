"""``GET /_tessera/inspect``: the server inspector, and ``/_tessera/inspect.json`` that feeds it.

What one process sees, refreshed every second: the broker's health, how many pages are open
(and how they spread over users, as counts: never a user id), how many events of each topic
the broker stored lately, and the fragments. Off unless ``TESSERA_INSPECT`` says otherwise:
``local`` serves it to loopback clients only, ``on`` to anyone who can reach the server.

Event rates come from a broker listener of its own (``Rates``), registered when the app
registers Tessera's blueprint, and only when the inspector is enabled: apps that leave it off
pay nothing. The page is drawn by the runtime's ``inspector.js`` (``serverPage``), under the
same Content-Security-Policy as the shell page.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable

from flask import abort, jsonify, request
from flask.blueprints import BlueprintSetupState
from markupsafe import Markup

from .assets import runtime_url
from .brokers.base import Envelope
from .http import content_security_policy
from .state import KEY, State, blueprint, current

RATES = "tessera.inspect"  # app.extensions[RATES]: the app's Rates, when the inspector is enabled
WINDOW = 60  # seconds of per-second counts kept for each topic
RECENT = 10  # the rate shown is the mean over this many seconds
MAX_TOPICS = 500  # topics counted one by one; the others together, under OTHER
OTHER = "(other topics)"
BUCKETS = ((1, 1), (2, 2), (3, 4), (5, 8), (9, None))  # pages per user, as shown


class Rates:
    """Counts the events the broker stores, per topic: in total, and per second for a minute.

    ``count`` is a broker listener: it runs in the broker's thread (the publisher's, for the
    memory broker), so it only takes a lock and adds one.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._topics: dict[str, _Topic] = {}
        self.since = clock()

    def count(self, envelope: Envelope) -> None:
        topic, now = envelope.event.type, self._clock()
        with self._lock:
            counter = self._topics.get(topic)
            if counter is None:
                if len(self._topics) >= MAX_TOPICS:
                    topic = OTHER
                counter = self._topics.setdefault(topic, _Topic())
            counter.add(now, envelope.scope)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every topic counted, busiest first: ``topic``, ``scope``, ``per_second`` (the mean
        over the last ``RECENT`` seconds), ``last_minute``, ``total`` and ``last`` (RFC 3339)."""
        now = self._clock()
        with self._lock:
            rows = [{"topic": topic, "scope": c.scope, "per_second": c.recent(now, RECENT) / RECENT,
                     "last_minute": c.recent(now, WINDOW), "total": c.total, "last": _rfc3339(c.last)}
                    for topic, c in self._topics.items()]
        rows.sort(key=lambda row: (-row["per_second"], -row["last_minute"], -row["total"], row["topic"]))
        return rows


class _Topic:
    """One topic's counts: ``WINDOW`` one-second slots, each stamped with its second."""

    __slots__ = ("total", "last", "scope", "seconds", "counts")

    def __init__(self) -> None:
        self.total = 0
        self.last = 0.0
        self.scope = ""
        self.seconds = [0] * WINDOW
        self.counts = [0] * WINDOW

    def add(self, now: float, scope: str) -> None:
        second = int(now)
        slot = second % WINDOW
        if self.seconds[slot] != second:
            self.seconds[slot], self.counts[slot] = second, 0
        self.counts[slot] += 1
        self.total += 1
        self.last, self.scope = now, scope

    def recent(self, now: float, seconds: int) -> int:
        """Events in the last ``seconds`` seconds (this second included)."""
        second = int(now)
        return sum(count for stamp, count in zip(self.seconds, self.counts) if 0 <= second - stamp < seconds)


def mode(state: State) -> str:
    """``off``, ``local`` or ``on`` (TESSERA_INSPECT)."""
    return state.settings.get("TESSERA_INSPECT", "off")


@blueprint.record_once
def _count_events(setup: BlueprintSetupState) -> None:
    """When an app registers Tessera's endpoints: start counting its events, if it inspects."""
    state = setup.app.extensions.get(KEY)
    if state is not None and mode(state) != "off":
        rates = Rates()
        setup.app.extensions[RATES] = rates
        state.bus.broker.listen(rates.count)  # stopped with the broker (State.close)


def _allowed() -> State:
    """The app's state, if the inspector may be shown to this request; else 404 or 403."""
    state = current()
    setting = mode(state)
    if setting == "off":
        abort(404)
    if setting == "local" and not _loopback(request.remote_addr):
        abort(403, description="the inspector is served to this machine only (TESSERA_INSPECT=local)")
    return state


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@blueprint.get("/inspect")
def inspect_page():
    _allowed()
    nonce = secrets.token_urlsafe(18)
    start = f"import {{ serverPage }} from {_js(runtime_url('runtime/inspector.js'))}; serverPage({_js('/_tessera/inspect.json')});"
    html = PAGE.format(nonce=nonce, script=Markup(start))
    return html, 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                       "Content-Security-Policy": content_security_policy(nonce, request.host)}


@blueprint.get("/inspect.json")
def inspect_json():
    state = _allowed()
    broker = state.bus.broker.health()
    rates: Rates | None = state.app.extensions.get(RATES)
    body = {
        "status": "ok" if broker.get("ok") else "degraded",
        "time": _rfc3339(time.time()),
        "broker": broker,
        "pages": _pages(state),
        "events": {"since": _rfc3339(rates.since) if rates else None, "topics": rates.snapshot() if rates else []},
        "fragments": [
            {"name": f.name, "version": f.version, "slot": f.slot,
             "state": "failed" if f.name in state.composer.failing else "loaded",
             "publishes": {t: p.scope for t, p in f.publishes.items()}, "subscribes": list(f.subscribes)}
            for f in state.registry.fragments
        ],
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def _pages(state: State) -> dict[str, Any]:
    """Open pages of this process: how many, of how many users, and how many users have 1, 2,
    3-4, 5-8 or 9+ pages open. Counts only: which user has which pages is never shown."""
    users: Counter[str] = state.hub.pages_per_user() if state.hub is not None else Counter()
    per_user = []
    for low, high in BUCKETS:
        label = str(low) if low == high else f"{low}+" if high is None else f"{low}-{high}"
        count = sum(1 for pages in users.values() if pages >= low and (high is None or pages <= high))
        per_user.append({"pages": label, "users": count})
    return {"open": sum(users.values()), "users": len(users), "per_user": per_user}


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _js(value: str) -> Markup:
    """A JSON string literal that is safe inside a <script> element."""
    return Markup(json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


PAGE = Markup("""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="dark">
  <title>Tessera inspector</title>
  <link rel="icon" href="data:,">
  <script type="module" nonce="{nonce}">{script}</script>
</head>
<body>
  <noscript>The Tessera inspector needs JavaScript; its data is at /_tessera/inspect.json.</noscript>
</body>
</html>
""")
