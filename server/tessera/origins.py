"""Origins, compared as browsers mean them: scheme, host and port, with default ports filled in.

``https://shop.example`` and ``https://shop.example:443`` are one origin; ``http://shop.example``
is another. The WebSocket's ``Origin`` must be the page's own origin (the scheme and ``Host``
the request came with, which Flask's ``TRUSTED_HOSTS`` vouches for when set) or an allowed one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
Origin = tuple[str, str, int]


def parse(origin: str) -> Origin | None:
    """``(scheme, host, port)`` of an ``http(s)://host[:port]`` origin; None for anything else."""
    try:
        parts = urlsplit(origin.strip())
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:  # a port that is not a number
        return None
    if scheme not in ("http", "https") or not host or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return scheme, host, port if port is not None else DEFAULT_PORTS[scheme]


def text(origin: Origin) -> str:
    """The origin as browsers send it (no default port)."""
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" if DEFAULT_PORTS[scheme] == port else f"{scheme}://{host}:{port}"


def own(scheme: str, host_header: str) -> Origin | None:
    """The origin of a page served with this scheme and ``Host`` header."""
    return parse(f"{scheme}://{host_header}")


def allowed(origin: str, *, scheme: str, host: str, others: list[str]) -> bool:
    """Whether a WebSocket from a page of ``origin`` may open: its own origin, or one of ``others``."""
    given = parse(origin)
    if given is None:
        return False
    return given == own(scheme, host) or any(given == parse(other) for other in others)
