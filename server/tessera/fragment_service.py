"""One fragment served as its own service, for remote composition (docs/remote-fragments.md).

``create_app(folder)`` is a WSGI app (``gunicorn "tessera.fragment_service:create_app('frontends/reviews')"``);
``tessera fragment serve DIR --port P`` serves it on gevent. It answers:

- ``GET /manifest.json``: what the host needs to compose the fragment (format 1), with an
  ``ETag`` so hosts revalidate with ``If-None-Match`` (304 when unchanged); public, ``*`` CORS.
- ``POST /content``: the server-rendered HTML for ``{"user", "path", "props"}`` the host
  sends. It carries a user's data: no CORS headers (browsers never call it, the host does),
  ``Cache-Control: no-store``; the fragment's version and digest in ``Tessera-Fragment-*``
  headers so a host notices a new deploy on the next page.
- ``GET /assets/<digest>/<path>``: the fragment's public files, by the host's allow-list
  (assets.py), with CORS for the allowed origins (``*`` by default: they are public), so a
  shell on another origin can import the entry module. The digest in the URL changes with
  every change of the folder: immutable when current, ``no-cache`` otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request, send_file
from jinja2 import Environment, FileSystemLoader, select_autoescape

from . import origins as origin_rules
from .assets import fragment_files, media_type, url_path
from .manifest import Fragment, load_fragment
from .serving import serve_on_gevent

log = logging.getLogger("tessera.fragment")

FORMAT = 1
MAX_CONTENT_REQUEST = 1 << 20  # bytes of {user, path, props} a host may send
IMMUTABLE = 365 * 24 * 3600
VERSION_HEADER = "Tessera-Fragment-Version"
DIGEST_HEADER = "Tessera-Fragment-Digest"


def manifest_document(fragment: Fragment) -> dict[str, Any]:
    """The manifest.json of ``fragment`` (URLs relative to the manifest's own URL)."""
    base = f"assets/{fragment.digest}/"
    publishes = {}
    for topic, publication in fragment.publishes.items():
        publishes[topic] = {"scope": publication.scope}
        if publication.schema is not None:
            publishes[topic]["schema"] = publication.schema
    return {
        "tessera": FORMAT,
        "name": fragment.name,
        "version": fragment.version,
        "digest": fragment.digest,
        "slot": fragment.slot,
        "entry": base + fragment.entry,
        "styles": [base + style for style in fragment.styles],
        "fallback": fragment.fallback,
        "routes": list(fragment.routes) if fragment.routes is not None else None,
        "content": "content" if fragment.template else None,
        "assets": base,
        "publishes": publishes,
        "subscribes": list(fragment.subscribes),
        "requests": list(fragment.requests),
        "responds": list(fragment.responds),
        "backend": sorted(fragment.from_backend),
    }


def create_app(folder: str | Path, *, allowed_origins: Sequence[str] = ("*",), token: str | None = None) -> Flask:
    """A WSGI app serving the fragment in ``folder``; ``allowed_origins`` may import its assets.

    ``token`` (else ``TESSERA_FRAGMENT_TOKEN``): /content answers only requests bearing it, as
    hosts with ``TESSERA_REMOTE_TOKEN`` send it, so nobody else can ask for a user's content.
    """
    token = (token if token is not None else os.environ.get("TESSERA_FRAGMENT_TOKEN")) or None
    fragment = load_fragment(Path(folder).resolve())
    if fragment.server:
        log.warning("%s: its server module %s is not run by a fragment service; Python that needs the "
                    "host's bus belongs in the host (or posts to POST /_tessera/events)",
                    fragment.name, fragment.server)
    env = Environment(loader=FileSystemLoader(str(fragment.root)), autoescape=select_autoescape(default=True))
    public = fragment_files(fragment, env)
    body = json.dumps(manifest_document(fragment), separators=(",", ":"), sort_keys=True)
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
    allowed = list(allowed_origins)

    app = Flask(f"tessera.fragment.{fragment.name}", root_path=str(fragment.root))
    app.config["TESSERA_FRAGMENT"] = fragment

    @app.get("/manifest.json")
    def manifest() -> Response:
        headers = {"ETag": etag, "Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*",
                   VERSION_HEADER: fragment.version, DIGEST_HEADER: fragment.digest}
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            return Response(status=304, headers=headers)
        return Response(body, mimetype="application/json", headers=headers)

    @app.post("/content")
    def content() -> Response:
        if fragment.template is None:
            abort(404)
        if token is not None and not hmac.compare_digest(request.headers.get("Authorization", "").encode(),
                                                         f"Bearer {token}".encode()):
            return jsonify({"error": "a host's bearer token is required (TESSERA_REMOTE_TOKEN)"}), 401
        if (request.content_length or 0) > MAX_CONTENT_REQUEST:
            abort(413)
        given = request.get_json(silent=True)
        if not isinstance(given, dict) or not isinstance(given.get("props", {}), dict):
            return jsonify({"error": 'expected a JSON object {"user", "path", "props"}'}), 400
        root = request.url_root

        def asset(path: str) -> str:
            path = url_path(str(path))
            if path not in public:
                raise ValueError(f"asset({path!r}) in fragment {fragment.name!r}: not a file it serves")
            return f"{root}assets/{fragment.digest}/{path}"

        html = env.get_template(fragment.template).render(
            fragment=fragment, props=given.get("props") or {}, user=given.get("user"), path=given.get("path"),
            asset=asset)
        return Response(html, mimetype="text/html", headers={
            "Cache-Control": "no-store", VERSION_HEADER: fragment.version, DIGEST_HEADER: fragment.digest})

    @app.get("/assets/<digest>/<path:file>")
    def assets(digest: str, file: str) -> Response:
        real = public.get(file)
        if real is None:
            abort(404)
        fresh = digest == fragment.digest
        response = send_file(real, mimetype=media_type(file), max_age=IMMUTABLE if fresh else 0)
        if fresh:
            response.cache_control.immutable = True
        else:
            response.cache_control.no_cache = True
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        if "*" in allowed:
            response.headers["Access-Control-Allow-Origin"] = "*"
        else:
            origin = request.headers.get("Origin", "")
            parsed = origin_rules.parse(origin)
            if parsed is not None and any(parsed == origin_rules.parse(o) for o in allowed):
                response.headers["Access-Control-Allow-Origin"] = origin
            response.vary.add("Origin")
        return response

    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok", "name": fragment.name, "version": fragment.version,
                        "digest": fragment.digest})

    @app.after_request
    def protective_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return app


def serve(app: Flask, *, host: str, port: int) -> None:
    """Serve a fragment service on gevent's WSGI server until SIGINT or SIGTERM."""
    fragment = app.config["TESSERA_FRAGMENT"]

    def started(bound: int) -> None:
        log.info("fragment %s %s served on http://%s:%d/ (manifest: http://%s:%d/manifest.json)", fragment.name,
                 fragment.version, host, bound, host, bound)

    serve_on_gevent(app, host=host, port=port, started=started)
