"""The ``tessera_events`` fixture: what pages and the server saw, waited for and asserted in tests.

Two sides, recorded from the moment a page is attached (``tessera_open`` attaches every page it
opens when the test uses ``tessera_events``), so an event published before ``wait_for`` is called
is not missed:

- ``where="page"``: every event the page's bus delivered (published in the page, received from the
  server, Tessera's own ``tessera.*`` notices). An init script wraps ``window.dispatchEvent``, which
  the bus calls for each delivery; nothing is subscribed, so the page asks the server for nothing more.
- ``where="server"``: every event that passed through the server and that the page's user may see
  (user-scoped events of that user, global events, events the server published to everyone or to that
  user). A ``SocketClient`` with the page's cookies joins with ``>`` when the page is attached. Without
  a page, an anonymous client joins ``tessera_server`` at the first server-side call.

``wait_for`` returns the first matching event (or the ``count``-th) and fails after ``timeout``
seconds with what was recorded; ``published`` returns what has been recorded so far, without waiting.
To prove that something did not arrive, publish a sentinel after it, ``wait_for`` the sentinel, then
look at ``published``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

from simple_websocket import ConnectionClosed

from ..topics import matches
from .client import SocketClient

Event = dict[str, Any]
Check = Callable[[Event], bool]

# Runs before the page's own scripts (Playwright's init scripts are not subject to the page's CSP).
RECORD_SCRIPT = """(() => {
  if (window.__tesseraRecorder) return;
  const events = [];
  const dispatch = window.dispatchEvent.bind(window);
  const test = (pattern, type) => {
    const want = pattern.split("."), have = type.split(".");
    for (let i = 0; i < want.length; i++) {
      if (want[i] === ">") return i === want.length - 1 && have.length > i;
      if (i >= have.length || (want[i] !== "*" && want[i] !== have[i])) return false;
    }
    return want.length === have.length;
  };
  window.dispatchEvent = (event) => {
    const detail = event instanceof CustomEvent ? event.detail : undefined;
    if (detail && detail.specversion && detail.type === event.type) {
      try { events.push(JSON.parse(JSON.stringify(detail))); } catch { events.push({ type: detail.type }); }
    }
    return dispatch(event);
  };
  window.__tesseraRecorder = {
    events,
    find: (pattern, count) => events.filter((e) => test(pattern, e.type)).slice(0, count),
  };
})();"""

FIND = "([pattern, count]) => window.__tesseraRecorder ? window.__tesseraRecorder.find(pattern, count) : []"
WAIT = ("([pattern, count]) => window.__tesseraRecorder && "
        "window.__tesseraRecorder.find(pattern, count).length >= count")
SIDES = ("page", "server")


class EventRecorder:
    """``tessera_events``: ``attach(page)``, ``wait_for(pattern, ...)``, ``published(pattern, ...)``."""

    def __init__(self, server_url: Callable[[], str]):
        self._server_url = server_url
        self._pages: list[Any] = []
        self._listeners: dict[int, _Listener] = {}  # id(page) or 0 (anonymous) -> its server-side client

    # -- attaching --------------------------------------------------------------------------
    def attach(self, page: Any, *, base: str | None = None) -> Any:
        """Record ``page`` from its next navigation (call it before ``page.goto``); returns the page.

        ``base`` is the server the page talks to (default: ``tessera_server``); its server side is
        recorded once the page has loaded (``listen(page)``, called by ``tessera_open``)."""
        page.add_init_script(RECORD_SCRIPT)
        page.tessera_base = base
        self._pages.append(page)
        return page

    def listen(self, page: Any = None, *, base: str | None = None) -> None:
        """Start recording the server side for ``page``'s user (its cookies), or anonymously."""
        key = id(page) if page is not None else 0
        if key in self._listeners:
            return
        base = base or (getattr(page, "tessera_base", None) if page is not None else None) or self._server_url()
        cookie = None
        if page is not None:
            cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies(base)) or None
        self._listeners[key] = _Listener(base, cookie)

    # -- asserting ----------------------------------------------------------------------------
    def wait_for(self, pattern: str, *, where: str = "page", page: Any = None, timeout: float = 5.0,
                 count: int = 1, check: Check | None = None) -> Event:
        """The first event matching ``pattern`` (and ``check``) seen on that side, or the ``count``-th;
        waits up to ``timeout`` seconds, then fails listing what was seen."""
        side = self._side(where)
        if side == "page" and check is None:
            page = self._page(page)
            try:
                page.wait_for_function(WAIT, arg=[pattern, count], timeout=timeout * 1000)
            except Exception:  # Playwright's TimeoutError: say what the page did see
                raise AssertionError(self._missing(pattern, count, where, self.published(">", page=page),
                                                   timeout)) from None
            return self.published(pattern, page=page)[count - 1]
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.published(pattern, where=side, page=page) if check is None or check(e)]
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() >= deadline:
                raise AssertionError(self._missing(pattern, count, where, self.published(">", where=side, page=page),
                                                   timeout))
            if side == "server":
                self._listener(page).wait(deadline - time.monotonic())
            else:
                time.sleep(0.05)

    def published(self, pattern: str = ">", *, where: str = "page", page: Any = None) -> list[Event]:
        """Every event matching ``pattern`` recorded so far on that side, in the order seen."""
        if self._side(where) == "page":
            return self._page(page).evaluate(FIND, [pattern, 1_000_000])
        return [e for e in self._listener(page).events() if matches(pattern, e["type"])]

    # -- internals ----------------------------------------------------------------------------
    def _side(self, where: str) -> str:
        if where not in SIDES:
            raise ValueError(f"where={where!r}: use 'page' or 'server'")
        return where

    def _page(self, page: Any) -> Any:
        if page is not None:
            return page
        if not self._pages:
            raise LookupError("no page is recorded: open one with tessera_open, or call tessera_events.attach(page)")
        return self._pages[-1]

    def _listener(self, page: Any) -> "_Listener":
        if page is None and self._pages and 0 not in self._listeners:
            page = self._pages[-1]
        key = id(page) if page is not None else 0
        if key not in self._listeners:
            self.listen(page)
        return self._listeners[key]

    @staticmethod
    def _missing(pattern: str, count: int, where: str, seen: list[Event], timeout: float) -> str:
        what = f"{count} {pattern!r} events" if count > 1 else f"{pattern!r} event"
        types = ", ".join(e.get("type", "?") for e in seen[-20:]) or "nothing"
        return f"no {what} on the {where} side within {timeout} s; seen: {types}"

    def close(self) -> None:
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()


class _Listener:
    """A SocketClient joined with ``>``, read by a thread into a list."""

    def __init__(self, base: str, cookie: str | None):
        self._client = SocketClient(base, cookie=cookie)
        self._client.join([">"])
        self._events: list[Event] = []
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="tessera-events", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                frame = self._client.next(timeout=0.2)
            except TimeoutError:
                continue
            except (ConnectionClosed, OSError, json.JSONDecodeError):
                return
            if frame.get("type") == "ping":
                self._client.send({"type": "pong"})
            elif frame.get("type") == "event":
                with self._changed:
                    self._events.append(frame["event"])
                    self._changed.notify_all()

    def events(self) -> list[Event]:
        with self._changed:
            return list(self._events)

    def wait(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(max(0.0, min(timeout, 0.5)))

    def close(self) -> None:
        self._closed = True
        self._client.close()
        self._thread.join(timeout=2)
