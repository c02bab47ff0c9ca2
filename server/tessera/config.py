"""``TESSERA_*`` settings: defaults, types, and how environment variables apply to them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Callable
from urllib.parse import urlsplit

PREFIX = "TESSERA_"


def _origins(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def _remotes(value: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
    return {name.strip(): url.strip() for name, url in pairs}


def _text(value: str) -> str | None:
    return value or None


# name -> (default, parser of the environment variable's text, what a valid value is)
SETTINGS: dict[str, tuple[Any, Callable[[str], Any], str]] = {
    "TESSERA_FRONTENDS": ("frontends", str, "a folder"),
    "TESSERA_SHELL": (None, _text, "a Jinja2 template file"),
    "TESSERA_BROKER": ("memory://", str, "memory:// or redis://HOST:PORT/DB"),
    "TESSERA_ALLOWED_ORIGINS": ([], _origins, "comma-separated origins like https://shop.example"),
    "TESSERA_PUBLISH_TOKEN": (None, _text, "a secret string"),
    "TESSERA_MAX_EVENT_BYTES": (65536, int, "a whole number of bytes, at least 1024, e.g. 65536"),
    "TESSERA_RATE": (100.0, float, "events per second, above 0, e.g. 100"),
    "TESSERA_HISTORY": (10000, int, "a whole number of events, 0 or more, e.g. 10000"),
    "TESSERA_FRAGMENT_TIMEOUT": (1.0, float, "seconds, above 0, e.g. 1.0"),
    "TESSERA_SECRET_KEY": (None, _text, "a secret string"),
    "TESSERA_REMOTES": ({}, _remotes, "NAME=MANIFEST_URL pairs, comma-separated"),
}
CHECKS: dict[str, Callable[[Any], bool]] = {
    "TESSERA_MAX_EVENT_BYTES": lambda v: isinstance(v, int) and v >= 1024,
    "TESSERA_RATE": lambda v: isinstance(v, (int, float)) and v > 0,
    "TESSERA_HISTORY": lambda v: isinstance(v, int) and v >= 0,
    "TESSERA_FRAGMENT_TIMEOUT": lambda v: isinstance(v, (int, float)) and v > 0,
    "TESSERA_ALLOWED_ORIGINS": lambda v: all(_is_origin(o) for o in v),
}


class ConfigError(ValueError):
    """A setting whose value cannot be used."""


def resolve(config: Mapping[str, Any], environ: Mapping[str, str] | None = None,
            overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Each setting's value: environment variable, else override, else app config, else default."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values = {}
    for name, (default, parse, valid) in SETTINGS.items():
        if name in environ:
            try:
                values[name] = parse(environ[name])
            except ValueError:
                raise ConfigError(f"{name}={environ[name]!r} is not valid: use {valid}") from None
        elif overrides.get(name) is not None:
            values[name] = overrides[name]
        else:
            values[name] = config.get(name, default)
        if name in CHECKS and not CHECKS[name](values[name]):
            raise ConfigError(f"{name}={values[name]!r} is not valid: use {valid}")
    values["TESSERA_ALLOWED_ORIGINS"] = [_normal(o) for o in values["TESSERA_ALLOWED_ORIGINS"]]
    return values


def _is_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and parts.path in ("", "/") \
        and not parts.query and not parts.fragment


def _normal(origin: str) -> str:
    """An origin as browsers send it: lower-case scheme and host, no trailing slash."""
    parts = urlsplit(origin)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
