"""An AsyncAPI 3.0 document of every event the fragments declare, and where to send and receive them.

Channels are topics. Each channel's one message is the whole CloudEvent (``specversion``, ``id``,
``source``, ``type`` fixed to the topic, ``time``, the optional attributes, ``seq``/``epoch``),
whose ``data`` is the declared JSON Schema, kept under ``components/schemas`` with its ``$ref``s
rewritten to point there, so that the document resolves on its own. Servers: the WebSocket pages
use and the HTTP endpoint backends publish to with a bearer token.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import has_request_context, request

from .manifest import Fragment
from .topics import matches

FROM_SERVER = ("Subscribed to by fragments, published by the server: Python code or POST /_tessera/events "
               "(to every subscribed page, or to one user's pages).")
SCOPES = {
    "page": "Stays in the page that publishes it.",
    "user": "Reaches the server and the other pages of the same user.",
    "global": "Reaches the server and every page subscribed to it.",
}
DEFAULT_HOST = "127.0.0.1:8000"
STRING = {"type": "string", "minLength": 1, "maxLength": 256}
ATTRIBUTES = {
    "specversion": {"const": "1.0", "description": "CloudEvents version."},
    "id": STRING | {"description": "Unique per source."},
    "source": STRING | {"description": "/fragments/<name>, /shell, /server or /server/<name>, or a backend's."},
    "time": {"type": "string", "format": "date-time", "description": "RFC 3339."},
    "subject": STRING,
    "datacontenttype": {"type": "string"},
    "dataschema": {"type": "string", "format": "uri"},
    "data_base64": {"type": "string", "contentEncoding": "base64",
                    "description": "Binary data, instead of data (backends' binary-mode bodies)."},
    "user": STRING | {"description": "Addresses one user's pages (set by POST /_tessera/events), or the "
                                     "publishing page's user."},
    "seq": {"type": "integer", "minimum": 1, "description": "Position in the server's stream (server-added)."},
    "epoch": {"type": "string", "description": "Identifies the server's stream (server-added)."},
}


def document(fragments: list[Fragment], *, title: str = "Tessera page", version: str = "1.0.0",
             host: str | None = None) -> dict[str, Any]:
    """The document for ``fragments``; servers at ``host`` (default: the current request's host,
    outside a request 127.0.0.1:8000). ``send`` operations are fragments (or their server code)
    publishing, ``receive`` subscribing."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    published = {topic for f in fragments for topic in f.publishes}
    python = {topic: [f for f in fragments if f.server_code and topic in f.server_code.publishes]
              for f in fragments if f.server_code for topic in f.server_code.publishes}
    heard = {p for f in fragments for p in f.subscribes if "*" not in p and ">" not in p}
    for topic in sorted(published | set(python) | heard):
        key = _key(topic)
        producers = [f for f in fragments if topic in f.publishes]
        publication = producers[0].publishes[topic] if producers else None
        data = {"description": "Any JSON value (no schema declared)."}
        if publication and publication.schema is not None:
            schemas[f"{key}.data"] = bundled(publication.schema, f"#/components/schemas/{key}.data")
            data = {"$ref": f"#/components/schemas/{key}.data"}
        schemas[key] = cloudevent(topic, data)
        channels[key] = {
            "address": topic,
            "description": SCOPES[publication.scope] if publication else FROM_SERVER,
            "messages": {"event": {
                "name": topic,
                "title": topic,
                "contentType": "application/cloudevents+json",
                "payload": {"$ref": f"#/components/schemas/{key}"},
                "x-tessera-scope": publication.scope if publication else "server",
            }},
        }
        for fragment in producers:
            operations[f"{fragment.name}.send.{key}"] = _operation("send", fragment.name, fragment.version, key)
        for fragment in python.get(topic, []):
            operations[f"{fragment.name}.server.send.{key}"] = _operation(
                "send", f"{fragment.name}/{fragment.server}", fragment.version, key)
        for fragment in fragments:
            if any(matches(pattern, topic) for pattern in fragment.subscribes):
                operations[f"{fragment.name}.receive.{key}"] = _operation("receive", fragment.name,
                                                                          fragment.version, key)
    requests(fragments, channels, operations, schemas)
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": version,
                 "description": "Events declared by the fragments' fragment.toml files (and published by "
                                "their server.py). Each message is a CloudEvents 1.0 object whose data follows "
                                "the topic's JSON Schema (2020-12)."},
        "defaultContentType": "application/cloudevents+json",
        "servers": servers(host),
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "The token given with --publish-token (TESSERA_PUBLISH_TOKEN)."}}},
    }


def requests(fragments: list[Fragment], channels: dict[str, Any], operations: dict[str, Any],
             schemas: dict[str, Any]) -> None:
    """Request/reply topics: ``[requests]`` send and expect a reply, ``[responds]`` and ``bus.respond``
    in a fragment's server.py receive and reply. The request is a CloudEvent whose data is any JSON
    (requests declare no schema); the reply is the answer's data."""
    python = {f.name: f.server_code.responds for f in fragments if f.server_code}
    topics = {t for f in fragments for t in (*f.requests, *f.responds, *python.get(f.name, ()))}
    for topic in sorted(topics):
        key, reply = f"{_key(topic)}.request", f"{_key(topic)}.reply"
        schemas[key] = cloudevent(topic, {"description": "The question: any JSON value."})
        channels[key] = {
            "address": topic,
            "description": "Asked with bus.request() over the page's socket (a request frame); answered by a "
                           "responder in the page, else by a Python one.",
            "messages": {"request": {"name": topic, "title": f"{topic} request",
                                     "contentType": "application/cloudevents+json",
                                     "payload": {"$ref": f"#/components/schemas/{key}"}}},
        }
        channels[reply] = {
            "address": None,
            "description": "The answer to one request, sent back to the page that asked (a reply frame).",
            "messages": {"reply": {"name": f"{topic} reply", "contentType": "application/json",
                                   "payload": {"description": "The responder's answer: any JSON value."}}},
        }
        answer = {"channel": {"$ref": f"#/channels/{reply}"},
                  "messages": [{"$ref": f"#/channels/{reply}/messages/reply"}]}
        for fragment in fragments:
            who = [("request", "send", fragment.name)] if topic in fragment.requests else []
            who += [("respond", "receive", fragment.name)] if topic in fragment.responds else []
            who += [("server.respond", "receive", f"{fragment.name}/{fragment.server}")] \
                if topic in python.get(fragment.name, ()) else []
            for kind, action, name in who:
                operations[f"{fragment.name}.{kind}.{_key(topic)}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{key}"},
                    "summary": f"{name} {fragment.version} {'asks' if action == 'send' else 'answers'} it",
                    "messages": [{"$ref": f"#/channels/{key}/messages/request"}],
                    "reply": answer,
                }


def servers(host: str | None = None) -> dict[str, Any]:
    """The WebSocket of pages and the HTTP endpoint of backends, at ``host``."""
    secure = False
    if host is None and has_request_context():
        host, secure = request.host, request.scheme == "https"
    host = host or DEFAULT_HOST
    return {
        "websocket": {
            "host": host, "pathname": "/_tessera/ws", "protocol": "wss" if secure else "ws",
            "description": "The pages' connection (docs/protocol.md): events of user and global topics both "
                           "ways. Opened from the page's own origin or an allowed one (--allowed-origin); "
                           "the user is the app's or the signed anonymous cookie's.",
        },
        "http": {
            "host": host, "pathname": "/_tessera/events", "protocol": "https" if secure else "http",
            "description": "POST CloudEvents from any backend (structured, binary or batched mode); "
                           "enabled by --publish-token.",
            "security": [{"$ref": "#/components/securitySchemes/bearer"}],
        },
    }


def cloudevent(topic: str, data: dict[str, Any]) -> dict[str, Any]:
    """The schema of a whole CloudEvent of type ``topic`` with ``data``; extension attributes are allowed."""
    return {
        "type": "object",
        "description": f"A CloudEvents 1.0 event of type {topic}.",
        "required": ["specversion", "id", "source", "type"],
        "properties": {
            "specversion": ATTRIBUTES["specversion"],
            "id": ATTRIBUTES["id"],
            "source": ATTRIBUTES["source"],
            "type": {"const": topic},
            **{name: ATTRIBUTES[name] for name in ATTRIBUTES if name not in ("specversion", "id", "source")},
            "data": data,
        },
        "additionalProperties": {"description": "CloudEvents extension attributes (e.g. traceparent), "
                                                "carried unchanged."},
    }


def bundled(schema: Any, base: str) -> Any:
    """``schema`` to be placed at the JSON pointer ``base`` of another document: its own references
    (``#/...``, ``#anchor``, or its ``$id`` followed by either) rewritten to absolute pointers there,
    and its ``$id`` kept as ``x-schema-id`` (a resolver would otherwise take it as the base URI)."""
    if not isinstance(schema, dict):
        return {} if schema else {"not": {}}  # true, false: AsyncAPI wants objects
    own = schema.get("$id") if isinstance(schema.get("$id"), str) else None
    anchors = dict(_anchors(schema, ""))
    copied = copy.deepcopy(schema)
    if own is not None:
        copied["x-schema-id"] = copied.pop("$id")

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):  # in const values too: AsyncAPI tools follow those
                    node[key] = _pointer(value, own, anchors, base)
                else:
                    rewrite(value)
        elif isinstance(node, list):
            for item in node:
                rewrite(item)
        return node

    return rewrite(copied)


def _pointer(ref: str, own: str | None, anchors: dict[str, str], base: str) -> str:
    document, _, fragment = ref.partition("#")
    if document and document != own:
        return ref  # not this schema's (the checker accepts none of these)
    if fragment.startswith("/") or fragment == "":
        return base + fragment
    return base + anchors.get(fragment, "")


def _anchors(node: Any, path: str):
    """(anchor name, JSON pointer) of every ``$anchor`` in ``node``."""
    if isinstance(node, dict):
        if isinstance(node.get("$anchor"), str):
            yield node["$anchor"], path
        for key, value in node.items():
            if key not in ("const", "enum", "default", "examples"):
                yield from _anchors(value, f"{path}/{_escape(key)}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _anchors(item, f"{path}/{index}")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _operation(action: str, who: str, version: str, key: str) -> dict[str, Any]:
    verb = "publishes" if action == "send" else "subscribes to"
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{key}"},
        "summary": f"{who} {version} {verb} it",
        "messages": [{"$ref": f"#/channels/{key}/messages/event"}],
    }


def _key(topic: str) -> str:
    """A channel key: AsyncAPI keys may not contain dots in every tool, so dots become dashes."""
    return topic.replace(".", "-")
