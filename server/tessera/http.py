"""Tessera's HTTP surface: the shell page, assets, and the ``/_tessera`` JSON endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Flask, abort, jsonify, send_from_directory

from . import asyncapi
from .assets import shell_digest, shell_folder

if TYPE_CHECKING:
    from .extension import Tessera

IMMUTABLE = 365 * 24 * 3600
PRIVATE_FILES = (".py", ".toml", ".pyc")


def register_routes(app: Flask, tessera: "Tessera") -> None:
    blueprint = Blueprint("tessera", __name__)

    @blueprint.get("/", defaults={"path": ""})
    @blueprint.get("/<path:path>")
    def shell_page(path: str):
        url_path = "/" + path
        if path.startswith("_tessera/") or not tessera.composer.shows_path(url_path):
            abort(404)
        broker = tessera.bus.broker
        position = {"epoch": broker.epoch, "seq": broker.position()}
        html = tessera.composer.render(url_path, tessera.current_user(), position)
        return html, 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"}

    @blueprint.get("/_tessera/shell/<digest>/<path:file>")
    def shell_asset(digest: str, file: str):
        return _asset(shell_folder(), file, fresh=digest == shell_digest())

    @blueprint.get("/_tessera/fragments/<name>/<digest>/<path:file>")
    def fragment_asset(name: str, digest: str, file: str):
        fragment = tessera.registry.get(name)
        if fragment is None:
            abort(404)
        return _asset(fragment.root, file, fresh=digest == fragment.digest)

    @blueprint.get("/_tessera/fragments")
    def fragments():
        return jsonify([
            {"name": f.name, "version": f.version, "slot": f.slot,
             "state": "failed" if f.name in tessera.composer.failing else "loaded",
             "routes": list(f.routes) if f.routes is not None else None,
             "publishes": {t: p.scope for t, p in f.publishes.items()}, "subscribes": list(f.subscribes)}
            for f in tessera.registry.fragments
        ])

    @blueprint.get("/_tessera/asyncapi.json")
    def asyncapi_document():
        return jsonify(asyncapi.document(list(tessera.registry.fragments)))

    @blueprint.get("/_tessera/health")
    def health():
        broker = tessera.bus.broker.health()
        status = "ok" if broker.get("ok") else "degraded"
        body = {"status": status, "broker": broker, "connections": len(tessera.hub)}
        return jsonify(body), 200 if status == "ok" else 503

    app.register_blueprint(blueprint)


def _asset(folder, file: str, *, fresh: bool):
    if file.endswith(PRIVATE_FILES) or "__pycache__" in file:
        abort(404)
    response = send_from_directory(folder, file, max_age=IMMUTABLE if fresh else 0)
    if fresh:
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True
    return response
