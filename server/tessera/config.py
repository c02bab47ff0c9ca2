"""``TESSERA_*`` settings: defaults, types, and which source wins.

A setting's value comes from, in order: the argument given to ``Tessera(...)``, the
``tessera run`` option (``command_line``), the environment variable, ``app.config``, the
default. An argument that overrides a different command-line or environment value is kept,
and the conflict is logged naming both.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable
from urllib.parse import urlsplit

from . import origins

log = logging.getLogger("tessera")

PREFIX = "TESSERA_"


def _origins(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def _remotes(value: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
    return {name.strip(): url.strip() for name, url in pairs}


def _text(value: str) -> str | None:
    return value or None


def _inspect(value: str) -> str:
    """TESSERA_INSPECT: ``off`` (also 0, false, no, empty), ``local``, or ``on`` (also 1, true, yes)."""
    word = value.strip().lower()
    if word in ("", "0", "false", "no", "off"):
        return "off"
    if word in ("1", "true", "yes", "on"):
        return "on"
    if word == "local":
        return word
    raise ValueError(value)


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
    "TESSERA_REMOTE_TTL": (5.0, float, "seconds a remote manifest is used before it is revalidated, e.g. 5"),
    "TESSERA_REMOTE_TOKEN": (None, _text, "the secret string remote fragment services expect (--token)"),
    "TESSERA_MAX_PAGES_PER_USER": (32, int, "a whole number of open pages, at least 1, e.g. 32"),
    "TESSERA_MAX_PAGES_PER_ADDRESS": (256, int, "a whole number of open pages, at least 1, e.g. 256"),
    "TESSERA_MAX_PATTERNS_PER_USER": (2048, int, "a whole number of subscriptions, at least 1, e.g. 2048"),
    "TESSERA_HELLO_TIMEOUT": (10.0, float, "seconds, above 0, e.g. 10"),
    "TESSERA_HUB_QUEUE": (100000, int, "a whole number of events, at least 1, e.g. 100000"),
    "TESSERA_TRUSTED_HOSTS": ([], _origins, "comma-separated host names, e.g. shop.example,localhost"),
    "TESSERA_INSPECT": ("off", _inspect, "off, local (served to loopback clients only) or on"),
}
CHECKS: dict[str, Callable[[Any], bool]] = {
    "TESSERA_MAX_EVENT_BYTES": lambda v: isinstance(v, int) and v >= 1024,
    "TESSERA_RATE": lambda v: isinstance(v, (int, float)) and v > 0,
    "TESSERA_HISTORY": lambda v: isinstance(v, int) and v >= 0,
    "TESSERA_FRAGMENT_TIMEOUT": lambda v: isinstance(v, (int, float)) and v > 0,
    "TESSERA_REMOTE_TTL": lambda v: isinstance(v, (int, float)) and v >= 0,
    "TESSERA_REMOTES": lambda v: isinstance(v, dict) and all(
        isinstance(n, str) and re.fullmatch(r"[a-z][a-z0-9-]*", n) and isinstance(u, str)
        and urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc for n, u in v.items()),
    "TESSERA_ALLOWED_ORIGINS": lambda v: all(_is_origin(o) for o in v),
    "TESSERA_MAX_PAGES_PER_USER": lambda v: isinstance(v, int) and v >= 1,
    "TESSERA_MAX_PAGES_PER_ADDRESS": lambda v: isinstance(v, int) and v >= 1,
    "TESSERA_MAX_PATTERNS_PER_USER": lambda v: isinstance(v, int) and v >= 1,
    "TESSERA_HELLO_TIMEOUT": lambda v: isinstance(v, (int, float)) and v > 0,
    "TESSERA_HUB_QUEUE": lambda v: isinstance(v, int) and v >= 1,
    "TESSERA_INSPECT": lambda v: v in ("off", "local", "on"),
}
# settings that are paths: relative ones are taken from the app's root_path
PATHS = ("TESSERA_FRONTENDS", "TESSERA_SHELL")
# the Tessera(...) argument and the `tessera run` option of a setting, to name them in messages
ARGUMENTS = {"TESSERA_FRONTENDS": "frontends", "TESSERA_SHELL": "shell", "TESSERA_BROKER": "broker"}
OPTIONS = {"TESSERA_FRONTENDS": "--frontends", "TESSERA_SHELL": "--shell", "TESSERA_BROKER": "--broker",
           "TESSERA_ALLOWED_ORIGINS": "--allowed-origin", "TESSERA_PUBLISH_TOKEN": "--publish-token",
           "TESSERA_REMOTES": "--remote"}

ARGUMENT, OPTION, ENVIRONMENT, CONFIG = "argument", "option", "environment", "config"  # sources, strongest first

_command_line: ContextVar[Mapping[str, Any]] = ContextVar("tessera_command_line", default=MappingProxyType({}))
_command_defaults: ContextVar[Mapping[str, Any]] = ContextVar("tessera_command_defaults", default=MappingProxyType({}))


class ConfigError(ValueError):
    """A setting whose value cannot be used."""


@contextmanager
def command_line(*, frontends: str | Path | None = None, shell: str | Path | None = None,
                 broker: str | None = None, allowed_origins: Sequence[str] = (),
                 publish_token: str | None = None, remotes: Sequence[str] = (),
                 trusted_hosts: Sequence[str] = (), secret_key: str | None = None) -> Iterator[None]:
    """``tessera run``'s options, applied to every Tessera set up inside the block.

    The CLI wraps the import of an ``--app`` module (and the built-in app's creation) in it,
    so options reach the user's ``Tessera(app)`` without writing ``os.environ``. Paths are
    relative to the current directory, like any command-line path. ``trusted_hosts`` and
    ``secret_key`` are not options but defaults the command chose (loopback names when it listens
    on loopback; one random key for all its workers): they rank below the environment and ``app.config``.
    """
    given = {
        "TESSERA_FRONTENDS": str(Path(frontends).resolve()) if frontends else None,
        "TESSERA_SHELL": str(Path(shell).resolve()) if shell else None,
        "TESSERA_BROKER": broker,
        "TESSERA_ALLOWED_ORIGINS": list(allowed_origins) or None,
        "TESSERA_PUBLISH_TOKEN": publish_token,
        "TESSERA_REMOTES": _remotes(",".join(remotes)) or None,
    }
    token = _command_line.set(MappingProxyType({k: v for k, v in given.items() if v is not None}))
    defaults = {"TESSERA_TRUSTED_HOSTS": list(trusted_hosts) or None, "TESSERA_SECRET_KEY": secret_key}
    chosen = _command_defaults.set(MappingProxyType({k: v for k, v in defaults.items() if v is not None}))
    try:
        yield
    finally:
        _command_line.reset(token)
        _command_defaults.reset(chosen)


def resolve(config: Mapping[str, Any], environ: Mapping[str, str] | None = None,
            arguments: Mapping[str, Any] | None = None, command_line: Mapping[str, Any] | None = None,
            root: str | Path = ".") -> dict[str, Any]:
    """Each setting's value: ``Tessera(...)`` argument, else command-line option, else
    environment variable, else app config, else default. Paths are made absolute from ``root``."""
    environ = os.environ if environ is None else environ
    command_line = _command_line.get() if command_line is None else command_line
    arguments = {name: value for name, value in (arguments or {}).items() if value is not None}
    values = {}
    for name, (default, parse, valid) in SETTINGS.items():
        sources: list[tuple[str, Any]] = []  # (ARGUMENT | OPTION | ENVIRONMENT | CONFIG, value), the winner first
        if name in arguments:
            sources.append((ARGUMENT, arguments[name]))
        if name in command_line:
            sources.append((OPTION, command_line[name]))
        if name in environ:
            try:
                parsed = parse(environ[name])
            except ValueError:
                raise ConfigError(f"{name}={environ[name]!r} is not valid: use {valid}") from None
            if parsed is not None:  # an empty text setting is as good as unset
                sources.append((ENVIRONMENT, parsed))
        sources.append((CONFIG, config.get(name, _command_defaults.get().get(name, default))))
        if name in PATHS:
            sources = [(source, _absolute(value, root)) for source, value in sources]
        (source, value), overridden = sources[0], sources[1:-1]
        for other, other_value in overridden if source == ARGUMENT else ():
            if other_value != value:
                log.warning("%s wins over %s: an argument given in code beats the command line and the "
                            "environment", _named(ARGUMENT, name, value), _named(other, name, other_value))
        if name in CHECKS and not CHECKS[name](value):
            raise ConfigError(f"{_named(source, name, value)} is not valid: use {valid}")
        values[name] = value
    values["TESSERA_ALLOWED_ORIGINS"] = [_normal(o) for o in values["TESSERA_ALLOWED_ORIGINS"]]
    return values


def _absolute(value: str | Path | None, root: str | Path) -> str | None:
    return None if value is None else str((Path(root) / value).resolve())


def _named(source: str, name: str, value: Any) -> str:
    """A setting's value and where it came from, as a user wrote it; a broker URL without its password."""
    if name == "TESSERA_BROKER" and isinstance(value, str) and urlsplit(value).password:
        parts = urlsplit(value)
        value = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
    if source == ARGUMENT:
        return f"Tessera({ARGUMENTS[name]}={value!r})"
    if source == OPTION:
        return f"{OPTIONS[name]} {value!r}"
    if source == ENVIRONMENT:
        return f"environment variable {name}={value!r}"
    return f"{name}={value!r}"


def _is_origin(origin: str) -> bool:
    return origins.parse(origin) is not None


def _normal(origin: str) -> str:
    """An origin as browsers send it: lower-case scheme and host, no default port, no trailing slash."""
    return origins.text(origins.parse(origin))
