"""Helpers for tests against a live server: HTTP calls, Python publishes, CloudEvents."""

import json
import urllib.error
import urllib.request

TOKEN = "s3cret"


def http(server, path, body=None, headers=None, method=None):
    """(status, decoded JSON or text) of one request to ``server``."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(server.url + path, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            text = error.read()
        return error.code, json.loads(text) if text.startswith(b"{") else text.decode()


def python_publish(server, type, data=None, user=None, batch=None):
    """Publish through mirror_app's /test/publish, which calls tessera.bus.publish (once per batch item)."""
    body = {"type": type, "data": data, "user": user} | ({"batch": batch} if batch is not None else {})
    return http(server, "/test/publish", body, {"Content-Type": "application/json"})[1]


def cloudevent(**extra):
    return {"specversion": "1.0", "id": extra.pop("id", "n1"), "type": "notify.new", "source": "/billing",
            "data": {"title": "Invoice"}, **extra}
