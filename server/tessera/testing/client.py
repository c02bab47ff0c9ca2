"""A Python client of Tessera's socket protocol, for tests of Python handlers and delivery."""

from __future__ import annotations

import json
from typing import Any

from simple_websocket import Client, ConnectionClosed

from ..events import Event


class SocketClient:
    """One page's connection: ``hello``, ``publish``, ``request``, ``next``/``expect`` frames.

    ``cookie`` (``tessera_uid=...``, as ``GET /`` sets it) makes it the same user as that browser or client.
    """

    def __init__(self, base_url: str, *, cookie: str | None = None, origin: str | None = None,
                 headers: dict[str, str] | None = None):
        url = base_url.replace("http://", "ws://").replace("https://", "wss://") + "/_tessera/ws"
        headers = dict(headers or {})
        if cookie:
            headers["Cookie"] = cookie
        if origin:
            headers["Origin"] = origin
        self.ws = Client.connect(url, headers=headers)
        self.page = Event(type="x").id
        self.welcome: dict[str, Any] | None = None

    def send(self, frame: dict[str, Any] | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def next(self, timeout: float = 5.0) -> dict[str, Any]:
        text = self.ws.receive(timeout=timeout)
        if text is None:
            raise TimeoutError(f"no frame within {timeout} s")
        return json.loads(text)

    def expect(self, kind: str, timeout: float = 5.0, skip: tuple[str, ...] = ("pong",)) -> dict[str, Any]:
        """The next frame, which must be of type ``kind`` (frames of types in ``skip`` are passed over)."""
        while True:
            frame = self.next(timeout)
            if frame["type"] in skip and kind not in skip:
                continue
            assert frame["type"] == kind, f"expected a {kind!r} frame, got {frame}"
            return frame

    def hello(self, subscribe: list[str] = (">",), resume: dict | None = None, page: str | None = None) -> dict:
        self.page = page or self.page
        self.send({"type": "hello", "page": self.page, "subscribe": list(subscribe), "resume": resume})
        self.welcome = self.expect("welcome")
        return self.welcome

    def join(self, subscribe: list[str] = (">",), resume: dict | None = None, page: str | None = None) -> dict:
        """``hello``, then wait for the replay to end (``replayed``); returns the welcome."""
        welcome = self.hello(subscribe, resume, page)
        self.expect("replayed", timeout=10)
        return welcome

    def sync(self) -> None:
        """Ping and wait for the pong: every frame sent before has been handled by the server."""
        self.send({"type": "ping"})
        self.expect("pong", skip=())

    def publish(self, type: str, data: Any = None, *, source: str = "/shell", id: str | None = None) -> dict:
        """Send a publish frame; returns the event sent (read the ack with ``expect("ack")``)."""
        event = Event(type=type, data=data, source=source, id=id or Event(type="x").id).to_dict()
        self.send({"type": "publish", "event": event})
        return event

    def request(self, type: str, data: Any = None, *, rid: str = "r1", source: str = "/shell") -> dict:
        event = Event(type=type, data=data, source=source).to_dict()
        self.send({"type": "request", "rid": rid, "event": event})
        return event

    def events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next ``count`` events (other frames are passed over)."""
        found = []
        while len(found) < count:
            frame = self.next(timeout)
            if frame["type"] == "event":
                found.append(frame["event"])
        return found

    def events_until(self, sentinel_id: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events that arrive before the one with id ``sentinel_id`` (which is read, not returned).

        Proves that an event did not arrive: publish a sentinel the page will get after it and
        assert it is not in this list. A page receives events in the order they were stored,
        so whatever was coming has come before the sentinel; no timeout is waited out.
        """
        found = []
        while True:
            frame = self.next(timeout)
            if frame["type"] == "event":
                if frame["event"]["id"] == sentinel_id:
                    return found
                found.append(frame["event"])

    def frames_until(self, kind: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every frame up to the next one of type ``kind`` (included, last)."""
        frames = [self.next(timeout)]
        while frames[-1]["type"] != kind:
            frames.append(self.next(timeout))
        return frames

    def close(self) -> None:
        """Close the connection (nothing happens if it is already closed)."""
        try:
            self.ws.close()
        except ConnectionClosed:
            pass
