"""Blocking WebSocket clients (simple-websocket, the stack Tessera's server uses) for the three protocols.

Each client ``connect()``s as a page would and exposes ``send_event(event)`` and
``receive_event()`` (the next relayed event, as text), so every benchmark drives Tessera,
the bare flask-sock relay and Flask-SocketIO the same way with the same CloudEvents object.
"""

from __future__ import annotations

import json

from simple_websocket import Client

BENCH_USER = {"X-Bench-User": "bench"}


class TesseraClient:
    """Tessera's protocol (docs: server/tessera/connection.py): hello, publish, event frames."""

    def __init__(self, base: str, subscribe=("bench.>",), resume=None):
        self.ws = Client.connect(base.replace("http", "ws") + "/_tessera/ws", headers=BENCH_USER)
        self.send({"type": "hello", "page": _page_id(), "subscribe": list(subscribe), "resume": resume})
        self.welcome = self.next_of("welcome")

    def send(self, frame: dict) -> None:
        self.ws.send(json.dumps(frame, separators=(",", ":")))

    def frame(self, event: dict) -> str:
        return json.dumps({"type": "publish", "event": event}, separators=(",", ":"))

    def next_of(self, kind: str, timeout: float = 10) -> dict:
        while True:
            text = self.ws.receive(timeout=timeout)
            if text is None:
                raise TimeoutError(f"no {kind} frame within {timeout} s")
            frame = json.loads(text)
            if frame["type"] == kind:
                return frame
            if frame["type"] == "error":
                raise RuntimeError(f"server error: {frame}")

    def receive_event(self, timeout: float = 10) -> str:
        while True:
            text = self.ws.receive(timeout=timeout)
            if text is None:
                raise TimeoutError(f"no event within {timeout} s")
            if text.startswith('{"type":"event"'):
                return text
            if '"type":"error"' in text:
                raise RuntimeError(f"server error: {text}")

    def drain_ack(self, timeout: float = 10) -> None:
        self.next_of("ack", timeout)

    def close(self) -> None:
        self.ws.close()


class RawClient:
    """The bare flask-sock relay: the event's JSON text, nothing around it."""

    def __init__(self, base: str):
        self.ws = Client.connect(base.replace("http", "ws") + "/ws")

    def frame(self, event: dict) -> str:
        return json.dumps(event, separators=(",", ":"))

    def receive_event(self, timeout: float = 10) -> str:
        text = self.ws.receive(timeout=timeout)
        if text is None:
            raise TimeoutError(f"no event within {timeout} s")
        return text

    def drain_ack(self, timeout: float = 10) -> None:
        pass

    def close(self) -> None:
        self.ws.close()


class SocketIOClient:
    """Socket.IO v5 over Engine.IO v4, WebSocket transport only: ``42["publish", event]``."""

    def __init__(self, base: str, attempts: int = 3):
        for attempt in range(attempts):  # Engine.IO's open packet sometimes never comes (threading mode, loaded box)
            self.ws = Client.connect(base.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
            opened = self.ws.receive(timeout=5)
            if opened and opened.startswith("0"):
                break
            self.ws.close()
        else:
            raise TimeoutError(f"no Engine.IO open packet from {base} in {attempts} attempts")
        self.ws.send("40")
        connected = self._next()
        assert connected.startswith("40"), connected

    def frame(self, event: dict) -> str:
        return "42" + json.dumps(["publish", event], separators=(",", ":"))

    def _next(self, timeout: float = 10) -> str:
        while True:
            text = self.ws.receive(timeout=timeout)
            if text is None:
                raise TimeoutError(f"no packet within {timeout} s")
            if text == "2":  # Engine.IO ping
                self.ws.send("3")
                continue
            return text

    def receive_event(self, timeout: float = 10) -> str:
        while True:
            text = self._next(timeout)
            if text.startswith("42"):
                return text

    def drain_ack(self, timeout: float = 10) -> None:
        pass

    def close(self) -> None:
        self.ws.close()


def _page_id() -> str:
    import uuid

    return uuid.uuid4().hex
