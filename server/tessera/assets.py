"""What the browser may fetch: an allow-list per folder, computed once from what is declared.

A fragment's public files are its ``entry`` and the modules it imports, its ``styles`` and
what they reference, the files under its ``static`` folder, and the constant paths its
template passes to ``asset(path)``. The runtime's are its two entry modules, their imports
and ``theme.css``. A request is answered only when its path is one of these, spelt exactly;
the file sent is the one found when the list was made, on its real path (symlinks resolved),
and never a server module, a manifest, a declared schema, a dotfile, ``__pycache__`` or
anything outside the folder, whatever references it.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, TemplateNotFound, TemplateSyntaxError, meta, nodes

from .manifest import MANIFEST, digest

if TYPE_CHECKING:
    from .manifest import Fragment

PRIVATE_SUFFIXES = (".py", ".pyc", ".pyo", ".toml")
MODULES = (".js", ".mjs")
MEDIA_TYPES = {  # what nosniff needs, whatever the system's mimetypes table says
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".json": "application/json",
    ".map": "application/json", ".wasm": "application/wasm", ".svg": "image/svg+xml", ".png": "image/png",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
    ".avif": "image/avif", ".ico": "image/x-icon", ".woff": "font/woff", ".woff2": "font/woff2",
    ".ttf": "font/ttf", ".otf": "font/otf", ".txt": "text/plain", ".html": "text/html",
}
SHELL_ENTRIES = ("runtime/boot.js", "runtime/tessera.js")
SHELL_STYLES = ("theme.css",)

# import x from "./a.js" · import "./a.js" · export {x} from "./a.js" · import("./a.js")
# · new URL("./a.png", import.meta.url)
_JS_REFERENCE = re.compile(
    r"""\b(?:import|export)\s*(?:[\w$*{}\s,]*?\bfrom\s*)?(["'])(?P<static>[^"'\n]+)\1"""
    r"""|\bimport\s*\(\s*(["'`])(?P<dynamic>[^"'`\n]+)\3\s*[,)]"""
    r"""|\bnew\s+URL\s*\(\s*(["'`])(?P<url>[^"'`\n]+)\5\s*,\s*import\.meta\.url""")
# @import "a.css" · @import url(a.css) · url("a.woff2")
_CSS_REFERENCE = re.compile(r"""@import\s+(["'])(?P<imported>[^"'\n]+)\1|\burl\(\s*(["']?)(?P<url>[^"')\n]+)\3\s*\)""")


@dataclass(frozen=True)
class PublicFiles:
    """The files of one folder that may be served: URL path (relative, exact) -> real file."""

    folder: Path
    files: dict[str, Path]

    def get(self, path: str) -> Path | None:
        return self.files.get(path)

    def __contains__(self, path: object) -> bool:
        return path in self.files


def media_type(path: str) -> str:
    suffix = posixpath.splitext(path)[1].lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def public_files(folder: Path, *, entries: Iterable[str] = (), styles: Iterable[str] = (),
                 static: str | None = None, referenced: Iterable[str] = (),
                 private: Iterable[Path] = ()) -> PublicFiles:
    """The allow-list of ``folder``: ``entries`` and ``styles`` with what they reference, every
    file under ``static`` and the ``referenced`` paths; never a ``private`` file."""
    lister = _Lister(folder.resolve(), {p.resolve() for p in private})
    for path in [*entries, *styles, *referenced]:
        lister.add(path)
    if static is not None:
        lister.add_folder(static)
    return PublicFiles(lister.root, lister.files)


def fragment_files(fragment: Fragment, env: Environment | None = None) -> PublicFiles:
    """A fragment's allow-list (``env`` loads its template, to find its ``asset(path)`` calls)."""
    root = fragment.root
    private = [root / MANIFEST, *_schema_files(fragment)]
    if fragment.server:
        private.append(root / fragment.server)
    referenced = template_assets(env, fragment.template) if env is not None and fragment.template else []
    return public_files(root, entries=[fragment.entry], styles=fragment.styles,
                        static=fragment.static, referenced=referenced, private=private)


def template_assets(env: Environment, name: str) -> list[str]:
    """The constant paths given to ``asset(...)`` by template ``name`` and those it includes."""
    found: list[str] = []
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            tree = env.parse(env.loader.get_source(env, current)[0]) if env.loader else None
        except (TemplateNotFound, TemplateSyntaxError):  # rendering will say so, with the fragment's fallback
            continue
        if tree is None:
            continue
        for call in tree.find_all(nodes.Call):
            if (isinstance(call.node, nodes.Name) and call.node.name == "asset" and call.args
                    and isinstance(call.args[0], nodes.Const) and isinstance(call.args[0].value, str)):
                found.append(call.args[0].value)
        pending += [t for t in meta.find_referenced_templates(tree) if t is not None]
    return found


def url_path(path: str) -> str:
    """``path`` as the browser will ask for it (``./a/../b.css`` -> ``b.css``)."""
    return posixpath.normpath(path.lstrip("/")) if path else path


class _Lister:
    """Builds one folder's allow-list, following references from modules and style sheets."""

    def __init__(self, root: Path, private: set[Path]):
        self.root = root
        self.private = private
        self.files: dict[str, Path] = {}

    def add(self, path: str) -> None:
        pending = [url_path(path)]
        while pending:
            relative = pending.pop()
            if relative in self.files:
                continue
            real = self._real(relative, self.root)
            if real is None:
                continue
            self.files[relative] = real
            pending += self._references(relative, real)

    def add_folder(self, folder: str) -> None:
        base = url_path(folder)
        top = self._inside(self.root / base, self.root)
        if top is None or not top.is_dir():
            return
        for directory, subfolders, names in os.walk(top):  # symlinked folders are listed, not entered
            subfolders[:] = [d for d in subfolders if not _hidden(d)]
            for name in names:
                relative = posixpath.join(base, Path(directory, name).relative_to(top).as_posix())
                if (real := self._real(relative, top)) is not None:
                    self.files[relative] = real

    def _real(self, relative: str, boundary: Path) -> Path | None:
        """The real file behind ``relative``, if it may be served."""
        if relative in ("", ".") or relative.startswith("../") or relative == ".." or _private_name(relative):
            return None
        real = self._inside(self.root / relative, boundary)
        if real is None or not real.is_file() or real in self.private:
            return None
        if _private_name(real.relative_to(self.root).as_posix()):
            return None
        return real

    @staticmethod
    def _inside(path: Path, boundary: Path) -> Path | None:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return real if real.is_relative_to(boundary) else None

    def _references(self, relative: str, real: Path) -> list[str]:
        suffix = real.suffix.lower()
        if suffix not in MODULES and suffix != ".css":
            return []
        try:
            text = real.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return []
        if suffix == ".css":
            specifiers = [m["imported"] or m["url"] for m in _CSS_REFERENCE.finditer(text)]
            specifiers = [s.strip() for s in specifiers if not re.match(r"[a-z][a-z0-9+.-]*:|/|#", s.strip(), re.I)]
        else:
            specifiers = [m["static"] or m["dynamic"] or m["url"] for m in _JS_REFERENCE.finditer(text)]
            specifiers = [s for s in specifiers if s.startswith(("./", "../")) and "${" not in s]
        here = posixpath.dirname(relative)
        return [url_path(posixpath.join(here, re.split(r"[?#]", s, maxsplit=1)[0])) for s in specifiers]


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() == "__pycache__"


def _private_name(relative: str) -> bool:
    parts = relative.split("/")
    return any(_hidden(part) for part in parts) or relative.lower().endswith(PRIVATE_SUFFIXES)


def _schema_files(fragment: Fragment) -> list[Path]:
    """The JSON Schema files the manifest declares (contracts, not assets)."""
    try:
        raw = tomllib.loads(fragment.manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    publishes = raw.get("publishes")
    specs = publishes.values() if isinstance(publishes, dict) else []
    return [fragment.root / spec["schema"] for spec in specs
            if isinstance(spec, dict) and isinstance(spec.get("schema"), str)]


@cache
def shell_folder() -> Path:
    """The ``shell/`` folder (``tessera.shell`` in the wheel)."""
    return Path(str(files("tessera.shell")))


@cache
def shell_digest() -> str:
    return digest(shell_folder())


@cache
def shell_files() -> PublicFiles:
    """The runtime's public files: its entry modules, their imports and the theme."""
    return public_files(shell_folder(), entries=SHELL_ENTRIES, styles=SHELL_STYLES)


def runtime_url(path: str) -> str:
    return f"/_tessera/shell/{shell_digest()}/{path}"
