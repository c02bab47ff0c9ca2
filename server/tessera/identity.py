"""Who is on the other end of a request: ``@tessera.identify``, else a signed anonymous cookie."""

from __future__ import annotations

import logging
import secrets
from typing import Callable

from flask import Response, g, request
from itsdangerous import BadData, URLSafeSerializer

log = logging.getLogger("tessera.identity")

COOKIE = "tessera_uid"
ANONYMOUS_PREFIX = "anon-"
Identify = Callable[[], "str | None"]


class Identity:
    """Resolves the current user once per request and keeps anonymous ids in a signed cookie."""

    def __init__(self, secret_key: str | None):
        if not secret_key:
            log.warning(
                "TESSERA_SECRET_KEY is not set: a random key signs anonymous-user cookies, so they "
                "do not survive a restart and instances sharing a broker will not agree on users"
            )
            secret_key = secrets.token_hex(32)
        self._signer = URLSafeSerializer(secret_key, salt="tessera-user")
        self.identify: Identify | None = None

    def current(self, *, mint: bool = True) -> str:
        """The current request's user id (set up on first use, cached on ``flask.g``).

        ``mint=False`` (the WebSocket): a visitor without a valid cookie gets an anonymous id
        for this request only; no cookie is set, since nothing may be written after the upgrade.
        """
        if "tessera_user" not in g:
            g.tessera_user = self._resolve(mint)
        return g.tessera_user

    def _resolve(self, mint: bool) -> str:
        if self.identify is not None:
            user = self.identify()
            if user is not None:
                return str(user)
        try:
            return self._signer.loads(request.cookies.get(COOKIE, ""))
        except BadData:
            user = ANONYMOUS_PREFIX + secrets.token_hex(5)
            if mint:
                g.tessera_new_cookie = user
            return user

    def save(self, response: Response) -> Response:
        """``after_request``: hand a new anonymous visitor their signed id."""
        user = g.pop("tessera_new_cookie", None)
        if user is not None:
            response.set_cookie(
                COOKIE, self._signer.dumps(user), max_age=365 * 24 * 3600,
                httponly=True, samesite="Lax", secure=request.is_secure,
            )
        return response
