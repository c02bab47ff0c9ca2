"""Fragment manifests: ``frontends/<name>/fragment.toml``, loaded with tomllib and validated.

Every problem is a ManifestError naming the file and the field, so that ``tessera run``
can print one line and stop before serving anything.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .topics import is_reserved, pattern_problem, topic_problem

MANIFEST = "fragment.toml"
SCOPES = ("page", "user", "global")
NAME = re.compile(r"[a-z][a-z0-9-]*")
SLOT = re.compile(r"[a-z][a-z0-9-]*")
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
KNOWN_KEYS = {
    "name", "version", "slot", "entry", "styles", "template", "fallback", "routes",
    "publishes", "subscribes", "server", "static",
}
DEFAULT_FALLBACK = "<p>This part of the page is unavailable.</p>"


class ManifestError(ValueError):
    """A manifest problem, worded as ``<file>: field "<field>" <what is wrong and the fix>``."""

    def __init__(self, path: Path | str, field_name: str | None, message: str):
        self.path = str(path)
        self.field = field_name
        self.message = message
        where = f'field "{field_name}" ' if field_name else ""
        super().__init__(f"{self.path}: {where}{message}")


@dataclass(frozen=True)
class Publication:
    """A topic a fragment declares it publishes."""

    topic: str
    scope: str
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Fragment:
    """A validated fragment manifest and where its files are."""

    name: str
    version: str
    slot: str
    root: Path
    entry: str
    styles: tuple[str, ...] = ()
    template: str | None = None
    fallback: str = DEFAULT_FALLBACK
    routes: tuple[str, ...] | None = None
    publishes: dict[str, Publication] = field(default_factory=dict)
    subscribes: tuple[str, ...] = ()
    server: str | None = None
    static: str | None = None  # a folder whose files are served as they are (images, fonts...)
    digest: str = ""

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def asset_url(self, path: str) -> str:
        """URL of one of this fragment's files; the content digest busts caches."""
        return f"/_tessera/fragments/{self.name}/{self.digest}/{path}"


def load_fragment(root: Path) -> Fragment:
    """Load and validate ``root/fragment.toml``."""
    path = root / MANIFEST
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(path, None, "does not exist; every fragment folder needs one") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ManifestError(path, None, f"is not valid TOML: {error}") from None
    return _Reader(path, raw).fragment()


class _Reader:
    """Reads one parsed manifest, field by field, raising ManifestError on the first problem."""

    def __init__(self, path: Path, raw: dict[str, Any]):
        self.path = path
        self.root = path.parent
        self.raw = raw

    def fail(self, field_name: str, message: str) -> ManifestError:
        return ManifestError(self.path, field_name, message)

    def fragment(self) -> Fragment:
        unknown = sorted(set(self.raw) - KNOWN_KEYS)
        if unknown:
            raise self.fail(unknown[0], f"is not a known field (known: {', '.join(sorted(KNOWN_KEYS))})")
        name = self.string("name", required=True)
        if not NAME.fullmatch(name):
            raise self.fail("name", f"must match [a-z][a-z0-9-]*, got {name!r}")
        version = self.string("version", required=True)
        if not SEMVER.fullmatch(version):
            raise self.fail("version", f"must be a semantic version like 1.4.0, got {version!r}")
        slot = self.string("slot", required=True)
        if not SLOT.fullmatch(slot):
            raise self.fail("slot", f"must match [a-z][a-z0-9-]* (e.g. header, main, aside, footer), got {slot!r}")
        template = self.file("template") if "template" in self.raw else None
        server = self.file("server") if "server" in self.raw else None
        if server is not None and not server.endswith(".py"):
            raise self.fail("server", f"must be a Python file (.py), got {server!r}")
        return Fragment(
            name=name,
            version=version,
            slot=slot,
            root=self.root,
            entry=self.file("entry", required=True),
            styles=tuple(self.files("styles")),
            template=template,
            fallback=self.string("fallback") or DEFAULT_FALLBACK,
            routes=self.routes(),
            publishes=self.publishes(),
            subscribes=self.subscribes(),
            server=server,
            static=self.folder("static") if "static" in self.raw else None,
            digest=digest(self.root),
        )

    def string(self, key: str, *, required: bool = False) -> str:
        if key not in self.raw:
            if required:
                raise self.fail(key, "is missing")
            return ""
        value = self.raw[key]
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def file(self, key: str, *, required: bool = False, value: Any = None) -> str:
        relative = self.string(key, required=required) if value is None else value
        if not isinstance(relative, str) or not relative:
            raise self.fail(key, f"must list non-empty file paths, got {relative!r}")
        target = (self.root / relative).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise self.fail(key, f"{relative!r} points outside the fragment folder")
        if not target.is_file():
            raise self.fail(key, f"file {relative!r} does not exist in {self.root}")
        return target.relative_to(self.root.resolve()).as_posix()

    def folder(self, key: str) -> str:
        relative = self.string(key)
        target = (self.root / relative).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise self.fail(key, f"{relative!r} points outside the fragment folder")
        if target == self.root.resolve():
            raise self.fail(key, f"{relative!r} is the fragment folder itself; name a subfolder, e.g. \"public\"")
        if not target.is_dir():
            raise self.fail(key, f"folder {relative!r} does not exist in {self.root}")
        return target.relative_to(self.root.resolve()).as_posix()

    def files(self, key: str) -> list[str]:
        values = self.raw.get(key, [])
        if not isinstance(values, list):
            raise self.fail(key, f"must be a list of file paths, got {values!r}")
        return [self.file(key, value=value) for value in values]

    def routes(self) -> tuple[str, ...] | None:
        if "routes" not in self.raw:
            return None
        routes = self.raw["routes"]
        if not isinstance(routes, list) or not all(isinstance(r, str) and r.startswith("/") for r in routes):
            raise self.fail("routes", f'must be a list of paths starting with "/", got {routes!r}')
        return tuple(routes)

    def publishes(self) -> dict[str, Publication]:
        table = self.table("publishes")
        declared = {}
        for topic, spec in table.items():
            key = f"publishes.{topic}"
            if (problem := topic_problem(topic)) is not None:
                raise self.fail(key, problem)
            if is_reserved(topic):
                raise self.fail(key, 'uses the reserved prefix "tessera."; pick another topic')
            if not isinstance(spec, dict):
                raise self.fail(key, "must be a table with a scope")
            unknown = sorted(set(spec) - {"scope", "schema"})
            if unknown:
                raise self.fail(f"{key}.{unknown[0]}", "is not a known field (known: scope, schema)")
            scope = spec.get("scope", "page")
            if scope not in SCOPES:
                raise self.fail(f"{key}.scope", f"must be one of page, user, global, got {scope!r}")
            schema = self.schema(f"{key}.schema", spec["schema"]) if "schema" in spec else None
            declared[topic] = Publication(topic, scope, schema)
        return declared

    def subscribes(self) -> tuple[str, ...]:
        table = self.table("subscribes")
        for pattern in table:
            if (problem := pattern_problem(pattern)) is not None:
                raise self.fail(f"subscribes.{pattern}", problem)
        return tuple(table)

    def table(self, key: str) -> dict[str, Any]:
        value = self.raw.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, like [{key}.\"cart.item.added\"]")
        return value

    def schema(self, key: str, relative: Any) -> dict[str, Any]:
        path = self.root / self.file(key, value=relative)
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(schema)
        except (ValueError, SchemaError) as error:
            message = getattr(error, "message", str(error))
            raise self.fail(key, f"{relative!r} is not a valid JSON Schema (2020-12): {message}") from None
        return schema


def digest(root: Path) -> str:
    """A short content hash of every file in a fragment folder, for cache-busting URLs."""
    hasher = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not _ignored(p, root)):
        hasher.update(path.relative_to(root).as_posix().encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()[:12]


def _ignored(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return any(part.startswith(".") or part == "__pycache__" for part in parts)
