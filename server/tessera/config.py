"""``TESSERA_*`` settings: defaults, types, and how environment variables apply to them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Callable

PREFIX = "TESSERA_"


def _origins(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def _remotes(value: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
    return {name.strip(): url.strip() for name, url in pairs}


def _text(value: str) -> str | None:
    return value or None


# name -> (default, parser of the environment variable's text)
SETTINGS: dict[str, tuple[Any, Callable[[str], Any]]] = {
    "TESSERA_FRONTENDS": ("frontends", str),
    "TESSERA_SHELL": (None, _text),
    "TESSERA_BROKER": ("memory://", str),
    "TESSERA_ALLOWED_ORIGINS": ([], _origins),
    "TESSERA_PUBLISH_TOKEN": (None, _text),
    "TESSERA_MAX_EVENT_BYTES": (65536, int),
    "TESSERA_RATE": (100.0, float),
    "TESSERA_HISTORY": (10000, int),
    "TESSERA_FRAGMENT_TIMEOUT": (1.0, float),
    "TESSERA_SECRET_KEY": (None, _text),
    "TESSERA_REMOTES": ({}, _remotes),
}


class ConfigError(ValueError):
    """A setting whose value cannot be used."""


def resolve(config: Mapping[str, Any], environ: Mapping[str, str] | None = None,
            overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Each setting's value: environment variable, else override, else app config, else default."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values = {}
    for name, (default, parse) in SETTINGS.items():
        if name in environ:
            try:
                values[name] = parse(environ[name])
            except ValueError:
                raise ConfigError(f"environment variable {name}={environ[name]!r} is not valid") from None
        elif overrides.get(name) is not None:
            values[name] = overrides[name]
        else:
            values[name] = config.get(name, default)
    return values
