"""Tessera's HTTP surface: the shell page (``pages``), and under ``/_tessera`` the assets and
the JSON endpoints (on ``state.blueprint``). Views read their app's state with ``current()``.

Every response Tessera sends carries ``X-Content-Type-Options: nosniff`` and
``X-Frame-Options: SAMEORIGIN``; the shell page also carries a Content-Security-Policy whose
nonce (new for each page) is on the page's own inline scripts.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Sequence

from flask import Blueprint, Response, abort, jsonify, request, send_file

from . import asyncapi
from .assets import PublicFiles, media_type, shell_digest, shell_files
from .remotes import source_origins
from .state import blueprint, current

IMMUTABLE = 365 * 24 * 3600
TESSERA_BLUEPRINTS = {"tessera", "tessera_pages"}
HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")

# The shell page: "/" and every path some fragment's routes name.
pages = Blueprint("tessera_pages", __name__)


@pages.get("/", defaults={"path": ""})
@pages.get("/<path:path>")
def shell_page(path: str):
    state = current()
    url_path = "/" + path
    if path.startswith("_tessera/") or not state.composer.shows_path(url_path):
        abort(404)
    broker = state.bus.broker
    position = {"epoch": broker.epoch, "seq": broker.position()}
    nonce = secrets.token_urlsafe(18)
    sources = source_origins(state.composer.registry.fragments)
    # the shell and every fragment ready so far; late remote ones follow as they arrive
    first, rest = state.composer.stream(url_path, state.current_user(), position, nonce=nonce)
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
               "Content-Security-Policy": content_security_policy(nonce, request.host, sources)}
    if rest is None:
        return first, 200, headers
    headers["X-Accel-Buffering"] = "no"  # proxies such as nginx: pass each part on as it comes
    return Response(itertools.chain([first], rest), 200, headers)  # the parts need no request context


def content_security_policy(nonce: str, host: str, sources: Sequence[str] = ()) -> str:
    """The shell page's policy: scripts, styles and connections from its own origin (and the
    WebSocket to its own host) and from remote fragments' ``sources`` (their origins), inline
    code only with ``nonce``, no plugins, no framing by others."""
    sockets = f" ws://{host} wss://{host}" if HOST.fullmatch(host) else ""
    remote = "".join(f" {source}" for source in sources)
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'{remote}",
        f"style-src 'self' 'nonce-{nonce}'{remote}",
        f"img-src 'self' data:{remote}",
        f"font-src 'self'{remote}",
        f"connect-src 'self'{sockets}{remote}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ])


@pages.after_app_request
def protective_headers(response: Response) -> Response:
    """No MIME sniffing and no framing by other origins, on whatever Tessera answers (pages,
    assets, JSON, errors, unknown ``/_tessera`` paths); the app's own routes are left alone."""
    if request.blueprint in TESSERA_BLUEPRINTS or request.path.startswith("/_tessera/"):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response


@blueprint.get("/shell/<digest>/<path:file>")
def shell_asset(digest: str, file: str):
    return _asset(shell_files(), file, fresh=digest == shell_digest())


@blueprint.get("/fragments/<name>/<digest>/<path:file>")
def fragment_asset(name: str, digest: str, file: str):
    state = current()
    fragment, public = state.registry.get(name), state.composer.public.get(name)
    if fragment is None or public is None:
        abort(404)
    return _asset(public, file, fresh=digest == fragment.digest)


@blueprint.get("/fragments")
def fragments():
    state = current()
    return jsonify([
        {"name": f.name, "version": f.version, "slot": f.slot,
         "state": "failed" if f.name in state.composer.failing else "loaded",
         "routes": list(f.routes) if f.routes is not None else None,
         "publishes": {t: p.scope for t, p in f.publishes.items()}, "subscribes": list(f.subscribes),
         "remote": f.url}
        for f in state.registry.fragments
    ])


@blueprint.get("/asyncapi.json")
def asyncapi_document():
    return jsonify(asyncapi.document(list(current().registry.fragments)))


@blueprint.get("/health")
def health():
    state = current()
    broker = state.bus.broker.health()
    status = "ok" if broker.get("ok") else "degraded"
    body = {"status": status, "broker": broker, "connections": len(state.hub) if state.hub is not None else 0}
    return jsonify(body), 200 if status == "ok" else 503


def _asset(public: PublicFiles, file: str, *, fresh: bool):
    """One file of an allow-list, looked up by its exact path: anything else is 404."""
    real = public.get(file)
    if real is None:
        abort(404)
    response = send_file(real, mimetype=media_type(file), max_age=IMMUTABLE if fresh else 0)
    if fresh:
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True
    return response
