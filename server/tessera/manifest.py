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
from urllib.parse import urljoin, urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry as SchemaRegistry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from .server_scan import ServerCode, scan
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
    "publishes", "subscribes", "requests", "responds", "server", "static", "build",
}
BUILD_KEYS = {"command", "output", "timeout"}
DEFAULT_BUILD_TIMEOUT = 600.0  # seconds a [build] command may take
BACKEND = "backend"  # `from = "backend"`: published (or answered) by code no manifest or server.py shows
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
class BuildStep:
    """A fragment's own build (``[build]`` in fragment.toml), run by ``tessera build`` in its folder."""

    command: str
    output: str  # the folder it writes, relative to the fragment's; entry and styles under it are its output
    timeout: float = DEFAULT_BUILD_TIMEOUT


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
    requests: tuple[str, ...] = ()  # topics its page code asks with bus.request()
    responds: tuple[str, ...] = ()  # topics its page code answers with bus.respond()
    from_backend: frozenset[str] = frozenset()  # subscriptions and requests declared `from = "backend"`
    server: str | None = None
    static: str | None = None  # a folder whose files are served as they are (images, fonts...)
    digest: str = ""
    server_code: ServerCode | None = None  # what server.py's source publishes, subscribes to, answers
    url: str | None = None  # a remote fragment: the URL of its manifest.json (docs/remote-fragments.md)
    content: str | None = None  # a remote fragment: the URL its server-rendered content is POSTed from
    build: BuildStep | None = None  # its own build command ([build]), run by ``tessera build``

    @property
    def manifest_path(self) -> Path | str:
        """Where the manifest is: the fragment.toml, or a remote fragment's manifest URL."""
        return self.url if self.url else self.root / MANIFEST

    def asset_url(self, path: str) -> str:
        """URL of one of this fragment's files; the content digest busts caches. A remote
        fragment's ``entry`` and ``styles`` are already absolute URLs (their own, versioned)."""
        if self.url:
            return urljoin(self.url, path)
        return f"/_tessera/fragments/{self.name}/{self.digest}/{path}"


def load_fragment(root: Path, *, before_build: bool = False) -> Fragment:
    """Load and validate ``root/fragment.toml``; ``before_build``: the files its ``[build]`` makes
    (entry and styles under its output folder) need not exist yet."""
    path = root / MANIFEST
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(path, None, "does not exist; every fragment folder needs one") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ManifestError(path, None, f"is not valid TOML: {error}") from None
    return _Reader(path, raw, before_build=before_build).fragment()


class _Reader:
    """Reads one parsed manifest, field by field, raising ManifestError on the first problem."""

    def __init__(self, path: Path, raw: dict[str, Any], *, before_build: bool = False):
        self.path = path
        self.root = path.parent
        self.raw = raw
        self.before_build = before_build
        self.build_step: BuildStep | None = None

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
        self.build_step = self.build() if "build" in self.raw else None
        template = self.file("template") if "template" in self.raw else None
        subscribes, requests = self.subscribes(), self.requests()
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
            subscribes=tuple(subscribes),
            requests=tuple(requests),
            responds=self.responds(),
            from_backend=frozenset(t for t, origin in (subscribes | requests).items() if origin == BACKEND),
            server=server,
            server_code=self.server_code(server) if server else None,
            static=self.folder("static") if "static" in self.raw else None,
            digest=digest(self.root),
            build=self.build_step,
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
            made = self.build_step is not None and target.is_relative_to((self.root / self.build_step.output).resolve())
            if made and self.before_build:
                return target.relative_to(self.root.resolve()).as_posix()
            if made:
                raise self.fail(key, f"file {relative!r} does not exist in {self.root}; its [build] command makes "
                                     f"it: run `tessera build {self.raw.get('name', '')}`")
            raise self.fail(key, f"file {relative!r} does not exist in {self.root}")
        return target.relative_to(self.root.resolve()).as_posix()

    def build(self) -> BuildStep:
        table = self.raw["build"]
        if not isinstance(table, dict):
            raise self.fail("build", 'must be a table, like [build] command = "npm ci && npm run build"')
        unknown = sorted(set(table) - BUILD_KEYS)
        if unknown:
            raise self.fail(f"build.{unknown[0]}", f"is not a known field (known: {', '.join(sorted(BUILD_KEYS))})")
        command = table.get("command")
        if not isinstance(command, str) or not command.strip():
            raise self.fail("build.command", f"must be a non-empty shell command, got {command!r}")
        output = table.get("output", ".")
        if not isinstance(output, str) or not output:
            raise self.fail("build.output", f"must be a folder path, got {output!r}")
        if not (self.root / output).resolve().is_relative_to(self.root.resolve()):
            raise self.fail("build.output", f"{output!r} points outside the fragment folder")
        timeout = table.get("timeout", DEFAULT_BUILD_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise self.fail("build.timeout", f"must be a positive number of seconds, got {timeout!r}")
        return BuildStep(command=command, output=output, timeout=float(timeout))

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

    def subscribes(self) -> dict[str, str | None]:
        """Pattern -> where its events come from (``"backend"``, or None: a fragment or server.py)."""
        table = self.table("subscribes")
        for pattern in table:
            if (problem := pattern_problem(pattern)) is not None:
                raise self.fail(f"subscribes.{pattern}", problem)
        return {pattern: self.origin(f"subscribes.{pattern}", spec) for pattern, spec in table.items()}

    def requests(self) -> dict[str, str | None]:
        """Topic -> who answers (``"backend"``, or None: a fragment's [responds] or server.py)."""
        table = self.table("requests")
        for topic in table:
            self.topic(f"requests.{topic}", topic)
        return {topic: self.origin(f"requests.{topic}", spec) for topic, spec in table.items()}

    def responds(self) -> tuple[str, ...]:
        table = self.table("responds")
        for topic, spec in table.items():
            self.topic(f"responds.{topic}", topic)
            if not isinstance(spec, dict) or spec:
                raise self.fail(f"responds.{topic}", "takes no fields: write an empty table")
        return tuple(table)

    def topic(self, key: str, topic: str) -> None:
        if (problem := topic_problem(topic)) is not None:
            raise self.fail(key, problem)
        if is_reserved(topic):
            raise self.fail(key, 'uses the reserved prefix "tessera."; pick another topic')

    def origin(self, key: str, spec: Any) -> str | None:
        if not isinstance(spec, dict):
            raise self.fail(key, 'must be a table (empty, or with from = "backend")')
        unknown = sorted(set(spec) - {"from"})
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", "is not a known field (known: from)")
        if "from" in spec and spec["from"] != BACKEND:
            raise self.fail(f"{key}.from", f'must be "backend" (code outside the fragments), got {spec["from"]!r}')
        return spec.get("from")

    def server_code(self, server: str) -> ServerCode:
        try:
            return scan(self.root / server)
        except SyntaxError as error:
            raise self.fail("server", f"{server} raised SyntaxError: {error.msg} (line {error.lineno})") from None
        except (OSError, UnicodeDecodeError) as error:
            raise self.fail("server", f"{server} cannot be read: {error}") from None

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
        if (problem := other_dialect(schema) or unresolved_ref(schema)) is not None:
            raise self.fail(key, f"{relative!r} is not a valid JSON Schema (2020-12): {problem}")
        return schema


SCHEMA_URI = "urn:tessera:schema"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def other_dialect(schema: Any) -> str | None:
    """Why ``schema`` declares a ``$schema`` other than 2020-12 (events are validated as 2020-12), or None."""
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    if declared is None or declared.rstrip("#") == DIALECT:
        return None
    return f"it declares $schema {declared!r}, but data is validated as 2020-12; use {DIALECT!r} or leave it out"


def unresolved_ref(schema: Any) -> str | None:
    """Why one ``$ref`` of ``schema`` does not resolve inside it, or None when every one does.

    Only references within the file are accepted (``#/$defs/item``, ``#anchor``, or the same with
    the schema's own ``$id`` before the ``#``): put shared parts under ``$defs``. Validation never
    fetches anything, and the AsyncAPI document can then carry the schema whole.
    """
    if not isinstance(schema, dict):
        return None
    own = schema.get("$id", SCHEMA_URI) if isinstance(schema.get("$id"), str) else SCHEMA_URI
    resolver = SchemaRegistry().with_resource(own, DRAFT202012.create_resource(schema)).resolver(own)
    for ref in refs(schema):
        base, _, _ = ref.partition("#")
        if base and base != own:
            return f"$ref {ref!r} points outside this file; put what it refers to under $defs and use '#/$defs/...'"
        try:
            resolver.lookup(ref)
        except Unresolvable:
            return f"$ref {ref!r} does not resolve inside this file"
    return None


def refs(schema: Any) -> list[str]:
    """Every ``$ref`` string anywhere in ``schema``, in ``const`` or ``examples`` values too (tools that
    read the AsyncAPI document, where the schema is copied, follow every ``$ref`` they find)."""
    found = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            else:
                found += refs(value)
    elif isinstance(schema, list):
        for item in schema:
            found += refs(item)
    return found


REMOTE_KEYS = {"tessera", "name", "version", "slot", "entry", "styles", "fallback", "routes", "content",
               "assets", "publishes", "subscribes", "requests", "responds", "backend", "digest"}


def remote_fragment(url: str, raw: Any, *, name: str) -> Fragment:
    """A Fragment from the manifest.json served at ``url`` for ``--remote name=url``.

    The format is docs/remote-fragments.md's: URLs may be relative to ``url`` and come out
    absolute; schemas are inline. Problems are ManifestErrors naming the URL and the field.
    """
    def fail(key: str | None, message: str) -> ManifestError:
        return ManifestError(url, key, message)

    if not isinstance(raw, dict):
        raise fail(None, "is not a JSON object; see docs/remote-fragments.md")
    unknown = sorted(set(raw) - REMOTE_KEYS)
    if unknown:
        raise fail(unknown[0], f"is not a known field (known: {', '.join(sorted(REMOTE_KEYS))})")
    if raw.get("tessera", 1) != 1:
        raise fail("tessera", f"is manifest format {raw.get('tessera')!r}; this host reads format 1")

    def text(key: str, *, required: bool = True) -> str | None:
        value = raw.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise fail(key, "is missing" if value is None else f"must be a non-empty string, got {value!r}")
        return value

    def link(key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise fail(key, f"must be a URL, got {value!r}")
        absolute = urljoin(url, value)
        if urlsplit(absolute).scheme not in ("http", "https"):
            raise fail(key, f"must be an http(s) URL (or relative to the manifest), got {value!r}")
        return absolute

    found = text("name")
    if found != name:
        raise fail("name", f"is {found!r} but the host composes it as {name!r}; use --remote {found}={url}")
    version = text("version")
    if not SEMVER.fullmatch(version):
        raise fail("version", f"must be a semantic version like 1.4.0, got {version!r}")
    slot = text("slot")
    if not SLOT.fullmatch(slot):
        raise fail("slot", f"must match [a-z][a-z0-9-]*, got {slot!r}")
    styles = raw.get("styles", [])
    if not isinstance(styles, list):
        raise fail("styles", f"must be a list of URLs, got {styles!r}")
    routes = raw.get("routes")
    if routes is not None and (not isinstance(routes, list)
                               or not all(isinstance(r, str) and r.startswith("/") for r in routes)):
        raise fail("routes", f'must be null or a list of paths starting with "/", got {routes!r}')
    content = raw.get("content")
    if raw.get("assets") is not None:
        link("assets", raw["assets"])
    publishes = raw.get("publishes", {})
    if not isinstance(publishes, dict):
        raise fail("publishes", 'must be an object, like {"cart.item.added": {"scope": "user"}}')
    declared = {}
    for topic, spec in publishes.items():
        key = f"publishes.{topic}"
        if (problem := topic_problem(topic)) is not None:
            raise fail(key, problem)
        if is_reserved(topic):
            raise fail(key, 'uses the reserved prefix "tessera."; pick another topic')
        if not isinstance(spec, dict) or set(spec) - {"scope", "schema"}:
            raise fail(key, f"must be an object with scope and an optional schema, got {spec!r}")
        scope = spec.get("scope", "page")
        if scope not in SCOPES:
            raise fail(f"{key}.scope", f"must be one of page, user, global, got {scope!r}")
        schema = spec.get("schema")
        if schema is not None:
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as error:
                raise fail(f"{key}.schema", f"is not a valid JSON Schema (2020-12): {error.message}") from None
        declared[topic] = Publication(topic, scope, schema)
    subscribes = raw.get("subscribes", [])
    if not isinstance(subscribes, list) or not all(isinstance(p, str) for p in subscribes):
        raise fail("subscribes", f"must be a list of topic patterns, got {subscribes!r}")
    for pattern in subscribes:
        if (problem := pattern_problem(pattern)) is not None:
            raise fail(f"subscribes.{pattern}", problem)
    topics = {}
    for key in ("requests", "responds"):
        topics[key] = raw.get(key, [])
        if not isinstance(topics[key], list) or not all(isinstance(t, str) for t in topics[key]):
            raise fail(key, f"must be a list of topics, got {topics[key]!r}")
        for topic in topics[key]:
            if (problem := topic_problem(topic)) is not None:
                raise fail(f"{key}.{topic}", problem)
    backend = raw.get("backend", [])
    if not isinstance(backend, list) or not all(t in subscribes or t in topics["requests"] for t in backend):
        raise fail("backend", f"must list some of its subscribes and requests, got {backend!r}")
    return Fragment(
        name=name, version=version, slot=slot, root=Path("."), entry=link("entry", raw.get("entry")),
        styles=tuple(link("styles", s) for s in styles), fallback=text("fallback", required=False) or DEFAULT_FALLBACK,
        routes=tuple(routes) if routes is not None else None, publishes=declared, subscribes=tuple(subscribes),
        requests=tuple(topics["requests"]), responds=tuple(topics["responds"]), from_backend=frozenset(backend),
        digest=str(raw.get("digest") or version), url=url,
        content=link("content", content) if content is not None else None,
    )


def digest(root: Path) -> str:
    """A short content hash of every file in a fragment folder, for cache-busting URLs."""
    hasher = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not _ignored(p, root)):
        hasher.update(path.relative_to(root).as_posix().encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()[:12]


def _ignored(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return any(part.startswith(".") or part in ("__pycache__", "node_modules") for part in parts)
