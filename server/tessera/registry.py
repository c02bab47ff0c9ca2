"""The set of fragments a page is composed of, loaded from one folder and checked together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import contracts
from .build import newest_version
from .manifest import MANIFEST, Fragment, ManifestError, Publication, load_fragment


@dataclass(frozen=True)
class Registry:
    """Every loaded fragment, in a stable order, and the topics they declare."""

    folder: Path
    fragments: tuple[Fragment, ...]

    def get(self, name: str) -> Fragment | None:
        return next((f for f in self.fragments if f.name == name), None)

    def in_slot(self, slot: str) -> list[Fragment]:
        return [f for f in self.fragments if f.slot == slot]

    @property
    def publications(self) -> dict[str, Publication]:
        """Every declared topic, once (load_registry refuses producers that disagree on scope or schema)."""
        return {topic: p for f in self.fragments for topic, p in f.publishes.items()}

    def scopes(self) -> dict[str, str]:
        """Topic -> scope, for the browser runtime (which mirrors user and global topics)."""
        return {topic: p.scope for topic, p in self.publications.items()}


def load_registry(folder: Path | str, remotes: Sequence[Fragment] = ()) -> Registry:
    """The fragments under ``folder`` and ``remotes``; raise the first problem ``tessera check`` would list."""
    fragments, problems = load_fragments(folder, remotes)
    if problems:
        raise problems[0]
    return Registry(folder=Path(folder), fragments=tuple(fragments))


def load_fragments(folder: Path | str, remotes: Sequence[Fragment] = ()) -> tuple[list[Fragment], list[ManifestError]]:
    """The fragments that load, and every problem: manifests that do not load, then contract breaches.

    The one loader behind ``tessera run``, ``check`` and ``asyncapi``. Fragments from other
    sources join the list before ``contracts.problems`` so the same rules hold across all of them.
    Raises ManifestError only when ``folder`` is not a folder at all. ``remotes`` (remote
    fragments, remotes.py) come after the folder's.
    """
    fragments, problems = read_folder(Path(folder))
    fragments += remotes
    return fragments, problems + contracts.problems(fragments)


def read_folder(folder: Path) -> tuple[list[Fragment], list[ManifestError]]:
    """Every ``<folder>/*/fragment.toml`` in name order (or, in a ``tessera build`` output, each name's
    newest ``<folder>/*/<version>/fragment.toml``): the fragments that load, the problems of those that do not."""
    if not folder.is_dir():
        raise ManifestError(folder, None, "is not a folder of fragments; pass --frontends DIR or create it")
    fragments, problems = [], []
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if not (child / MANIFEST).exists():
            child = newest_version(child)  # a `tessera build` output: <name>/<version>/fragment.toml
            if child is None:
                continue
        try:
            fragments.append(load_fragment(child))
        except ManifestError as error:
            problems.append(error)
    return fragments, problems
