"""``tessera build``: each fragment on its own into ``<out>/<name>/<version>/``, content-hashed.

A build is a fragment folder of its own, served like any other (``tessera fragment serve
dist/cart/1.4.0``, or ``tessera run --frontends dist``, which composes each name's newest
version). It holds:

- the fragment's public files, exactly its allow-list (assets.py), each renamed with a hash of
  its content and of everything it references (``src/index.js`` -> ``src/index.3f2a9c1b.js``),
  relative import specifiers and CSS ``url()``/``@import`` rewritten to the hashed names, so a
  hashed URL names one content forever and is served as immutable;
- its template (and the templates it includes) with constant ``asset("x")`` paths rewritten,
  its server module and its schemas, unchanged;
- a ``fragment.toml`` whose ``entry``, ``styles`` and ``template`` point at the above (no ``[build]``);
- a ``manifest.json`` in the remote-fragment format (docs/remote-fragments.md), its URLs relative
  to itself, for hosting the files anywhere (``content`` still needs ``fragment serve``).

A fragment may declare ``[build] command = "..." output = "build"``: the command runs first in
the fragment's folder (bounded by ``timeout``), and what it wrote is hashed like any other file.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, TemplateNotFound, TemplateSyntaxError, meta, select_autoescape

from . import assets
from .manifest import MANIFEST, SEMVER, Fragment, ManifestError, load_fragment

HASH_LENGTH = 8
TEXT_SUFFIXES = (*assets.MODULES, ".css")
_ASSET_CALL = re.compile(r"""\basset\(\s*(["'])(?P<path>[^"'\n]+)\1\s*\)""")


class BuildError(Exception):
    """A build that failed: one line naming the fragment and what failed."""


@dataclass(frozen=True)
class Built:
    name: str
    version: str
    folder: Path
    files: dict[str, str]  # source path -> hashed path


def build_all(frontends: Path, names: tuple[str, ...], out: Path) -> list[Built]:
    """Build the fragments ``names`` (all when empty) of ``frontends`` into ``out``."""
    if not frontends.is_dir():
        raise ManifestError(frontends, None, "is not a folder of fragments; pass --frontends DIR or create it")
    folders = {p.name: p for p in sorted(frontends.iterdir()) if (p / MANIFEST).is_file()}
    for name in names:
        if name not in folders:
            raise BuildError(f"{frontends / name}: no fragment {name!r} (a folder with a {MANIFEST}); "
                             f"fragments: {', '.join(folders) or 'none'}")
    return [build_fragment(folders[name], out) for name in (names or tuple(folders))]


def build_fragment(folder: Path, out: Path) -> Built:
    """Run ``folder``'s own build command if it declares one, then write its hashed build into ``out``."""
    folder = folder.resolve()
    declared = load_fragment(folder, before_build=True)
    if declared.build is not None:
        run_command(declared)
    try:
        fragment = load_fragment(folder)  # now its entry and styles must exist
    except ManifestError as error:
        if declared.build is None or error.field not in ("entry", "styles"):
            raise
        missing = error.message.split(";")[0]
        raise ManifestError(error.path, error.field, f"{missing}: the build command {declared.build.command!r} "
                                                     f"did not make it (it must write it under {declared.build.output!r})"
                            ) from None
    env = Environment(loader=FileSystemLoader(str(fragment.root)), autoescape=select_autoescape(default=True))
    public = assets.fragment_files(fragment, env)
    names = hashed_names(public)
    target = out.resolve() / fragment.name / fragment.version
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{fragment.version}-", dir=target.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the build is public files, readable as any folder
    try:
        for path, real in public.files.items():
            _write(staging / names[path], _rewritten(path, real, names))
        templates = _templates(env, fragment.template) if fragment.template else []
        for template in templates:
            text = (fragment.root / template).read_text(encoding="utf-8")
            _write(staging / template, _ASSET_CALL.sub(lambda m: _asset_call(m, names), text).encode())
        for private in _private_files(fragment):
            _write(staging / private, (fragment.root / private).read_bytes())
        (staging / MANIFEST).write_text(_toml(_built_manifest(fragment, names)), encoding="utf-8")
        built = load_fragment(staging)
        document = _manifest_document(built, names)
        (staging / "manifest.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return Built(fragment.name, fragment.version, target, dict(names))


def run_command(fragment: Fragment) -> None:
    """Run ``fragment``'s ``[build] command`` in its folder; on failure show its output and raise."""
    step = fragment.build
    assert step is not None
    where = f"{fragment.root / MANIFEST}: fragment {fragment.name!r}: build command {step.command!r}"
    # its own session: on timeout the whole process group goes (npm's children too), not only the shell
    process = subprocess.Popen(step.command, shell=True, cwd=fragment.root, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=step.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        _show(output)
        raise BuildError(f"{where} did not finish within {step.timeout:g} s ([build] timeout)") from None
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if process.returncode != 0:
        _show(output)
        raise BuildError(f"{where} failed with exit status {process.returncode} (its output is above)")
    output = (fragment.root / step.output).resolve()
    if not output.is_dir():
        _show(output)
        raise ManifestError(fragment.root / MANIFEST, "build.output",
                            f"folder {step.output!r} was not made by the build command {step.command!r}")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _show(output: bytes | str | None) -> None:
    if output:
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
        sys.stderr.write(text if text.endswith("\n") else text + "\n")


def hashed_names(public: assets.PublicFiles) -> dict[str, str]:
    """Source path -> hashed path, the hash covering the file and all it references (transitively),
    so a file's name changes whenever its rewritten content would."""
    contents = {path: real.read_bytes() for path, real in public.files.items()}
    edges = {path: [r for r in _references(path, contents[path]) if r in contents] for path in contents}
    names = {}
    for path in contents:
        seen, pending = {path}, [path]
        while pending:
            for reference in edges[pending.pop()]:
                if reference not in seen:
                    seen.add(reference)
                    pending.append(reference)
        hasher = hashlib.sha256()
        for each in sorted(seen):
            hasher.update(each.encode() + b"\0" + hashlib.sha256(contents[each]).digest())
        names[path] = _with_hash(path, hasher.hexdigest()[:HASH_LENGTH])
    return names


def _with_hash(path: str, digest: str) -> str:
    head, name = posixpath.split(path)
    stem, dot, suffix = name.rpartition(".")
    hashed = f"{stem}.{digest}.{suffix}" if dot and stem else f"{name}.{digest}"
    return posixpath.join(head, hashed)


def _specifiers(path: str, text: str) -> list[tuple[int, int, str]]:
    """(start, end, specifier) of each relative reference in a module or style sheet."""
    found = []
    if path.endswith(".css"):
        for match in assets._CSS_REFERENCE.finditer(text):
            group = "imported" if match["imported"] else "url"
            value = match[group].strip()
            if not re.match(r"[a-z][a-z0-9+.-]*:|/|#", value, re.I):
                found.append((match.start(group), match.start(group) + len(match[group]), match[group]))
    else:
        for match in assets._JS_REFERENCE.finditer(text):
            group = next(g for g in ("static", "dynamic", "url") if match[g])
            if match[group].startswith(("./", "../")) and "${" not in match[group]:
                found.append((match.start(group), match.end(group), match[group]))
    return found


def _target(path: str, specifier: str) -> tuple[str, str]:
    """The file ``specifier`` (in ``path``) points at, and its ``?query#fragment`` tail."""
    bare = re.split(r"[?#]", specifier.strip(), maxsplit=1)[0]
    tail = specifier.strip()[len(bare):]
    return assets.url_path(posixpath.join(posixpath.dirname(path), bare)), tail


def _references(path: str, content: bytes) -> list[str]:
    if not path.lower().endswith(TEXT_SUFFIXES):
        return []
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return []
    return [_target(path, specifier)[0] for _, _, specifier in _specifiers(path, text)]


def _rewritten(path: str, real: Path, names: dict[str, str]) -> bytes:
    content = real.read_bytes()
    if not path.lower().endswith(TEXT_SUFFIXES):
        return content
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return content
    pieces, last = [], 0
    for start, end, specifier in _specifiers(path, text):
        referenced, tail = _target(path, specifier)
        if referenced not in names:
            continue
        relative = posixpath.relpath(names[referenced], posixpath.dirname(names[path]) or ".")
        if (not path.endswith(".css") or specifier.strip().startswith("./")) and not relative.startswith("../"):
            relative = "./" + relative
        pieces += [text[last:start], relative + tail]
        last = end
    pieces.append(text[last:])
    return "".join(pieces).encode("utf-8")


def _asset_call(match: re.Match, names: dict[str, str]) -> str:
    path = assets.url_path(match["path"])
    return f'asset({json.dumps(names.get(path, match["path"]))})'


def _templates(env: Environment, name: str) -> list[str]:
    """``name`` and every template it includes, extends or imports (constant names)."""
    found, pending = [], [name]
    while pending:
        current = pending.pop()
        if current in found or env.loader is None:
            continue
        try:
            tree = env.parse(env.loader.get_source(env, current)[0])
        except TemplateNotFound:  # rendering will say so, with the fragment's fallback
            continue
        except TemplateSyntaxError as error:
            raise BuildError(f"{error.filename or current}: template syntax error line {error.lineno}: "
                             f"{error.message}") from None
        found.append(current)
        pending += [t for t in meta.find_referenced_templates(tree) if t is not None]
    return found


def _private_files(fragment: Fragment) -> list[str]:
    """Files a build keeps as they are: its server module and its schemas (never served)."""
    kept = [fragment.server] if fragment.server else []
    kept += [p.relative_to(fragment.root).as_posix() for p in assets._schema_files(fragment)]
    return kept


def _built_manifest(fragment: Fragment, names: dict[str, str]) -> dict[str, Any]:
    """The source fragment.toml with entry and styles pointing at the hashed files and no [build]."""
    import tomllib

    raw = tomllib.loads(fragment.manifest_path.read_text(encoding="utf-8"))
    raw.pop("build", None)
    raw["entry"] = names[fragment.entry]
    if fragment.styles:
        raw["styles"] = [names[s] for s in fragment.styles]
    if fragment.template:
        raw["template"] = fragment.template
    if fragment.static:
        raw["static"] = fragment.static
    return raw


def _manifest_document(fragment: Fragment, names: dict[str, str]) -> dict[str, Any]:
    """The remote-fragment manifest of a build, its URLs relative to the build folder."""
    from .fragment_service import manifest_document

    document = manifest_document(fragment)
    document.update(entry=fragment.entry, styles=list(fragment.styles), assets="./")
    return document


def _toml(raw: dict[str, Any]) -> str:
    """``raw`` (a fragment.toml's content: values, lists, tables of tables) written as TOML."""
    lines, tables = [], []
    for key, value in raw.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, table in tables:
        plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if plain or not table:
            lines += ["", f"[{_key(key)}]"] + [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
        for sub, value in table.items():
            if isinstance(value, dict):
                lines += ["", f"[{_key(key)}.{_key(sub)}]"] + [f"{_key(k)} = {_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def newest_version(folder: Path) -> Path | None:
    """Of ``folder``'s ``<version>/fragment.toml`` builds, the one with the highest version."""
    versions = [p for p in folder.iterdir() if p.is_dir() and SEMVER.fullmatch(p.name) and (p / MANIFEST).is_file()]
    return max(versions, key=lambda p: _order(p.name), default=None)


def _order(version: str) -> tuple:
    core, _, pre = version.split("+")[0].partition("-")
    return (*map(int, core.split(".")), pre == "", pre)
