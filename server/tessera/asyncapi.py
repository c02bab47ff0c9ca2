"""An AsyncAPI 3.0 document of every event the fragments declare."""

from __future__ import annotations

from typing import Any

from .manifest import Fragment
from .topics import matches

FROM_SERVER = ("Subscribed to by fragments, published by the server: Python code or POST /_tessera/events "
               "(to every subscribed page, or to one user's pages).")
SCOPES = {
    "page": "Stays in the page that publishes it.",
    "user": "Reaches the server and the other pages of the same user.",
    "global": "Reaches the server and every page subscribed to it.",
}


def document(fragments: list[Fragment], *, title: str = "Tessera page", version: str = "1.0.0") -> dict[str, Any]:
    """Channels are topics; ``send`` operations are fragments publishing, ``receive`` subscribing."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    published = {topic for f in fragments for topic in f.publishes}
    heard = {p for f in fragments for p in f.subscribes if "*" not in p and ">" not in p}
    for topic in sorted(published | heard):
        key = _key(topic)
        producers = [f for f in fragments if topic in f.publishes]
        publication = producers[0].publishes[topic] if producers else None
        channels[key] = {
            "address": topic,
            "description": SCOPES[publication.scope] if publication else FROM_SERVER,
            "messages": {"event": {
                "name": topic,
                "contentType": "application/cloudevents+json",
                "payload": publication.schema if publication and publication.schema is not None else {},
                "x-tessera-scope": publication.scope if publication else "server",
            }},
        }
        for fragment in producers:
            operations[f"{fragment.name}.send.{key}"] = _operation("send", fragment, key)
        for fragment in fragments:
            if any(matches(pattern, topic) for pattern in fragment.subscribes):
                operations[f"{fragment.name}.receive.{key}"] = _operation("receive", fragment, key)
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": version,
                 "description": "Events declared by the fragments' fragment.toml files. Each message is a "
                                "CloudEvents 1.0 object whose data follows the payload schema."},
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
    }


def _operation(action: str, fragment: Fragment, key: str) -> dict[str, Any]:
    verb = "publishes" if action == "send" else "subscribes to"
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{key}"},
        "summary": f"{fragment.name} {fragment.version} {verb} it",
        "messages": [{"$ref": f"#/channels/{key}/messages/event"}],
    }


def _key(topic: str) -> str:
    """A channel key: AsyncAPI keys may not contain dots in every tool, so dots become dashes."""
    return topic.replace(".", "-")
