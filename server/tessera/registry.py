"""The set of fragments a page is composed of, loaded from one folder and checked together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
        """Every declared topic, once (load_registry guarantees the declarations agree)."""
        return {topic: p for f in self.fragments for topic, p in f.publishes.items()}

    def scopes(self) -> dict[str, str]:
        """Topic -> scope, for the browser runtime (which mirrors user and global topics)."""
        return {topic: p.scope for topic, p in self.publications.items()}


def load_registry(folder: Path | str) -> Registry:
    """Load every ``<folder>/*/fragment.toml``; raise ManifestError on the first problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ManifestError(folder, None, "is not a folder of fragments; pass --frontends DIR or create it")
    fragments: list[Fragment] = []
    seen: dict[str, Fragment] = {}
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if not (child / MANIFEST).exists():
            continue
        fragment = load_fragment(child)
        if fragment.name in seen:
            raise ManifestError(
                fragment.manifest_path, "name",
                f"{fragment.name!r} is already used by {seen[fragment.name].manifest_path}; names must be unique",
            )
        seen[fragment.name] = fragment
        fragments.append(fragment)
    _check_scopes_agree(fragments)
    return Registry(folder=folder, fragments=tuple(fragments))


def _check_scopes_agree(fragments: list[Fragment]) -> None:
    owners: dict[str, tuple[Fragment, Publication]] = {}
    for fragment in fragments:
        for topic, publication in fragment.publishes.items():
            if topic in owners and owners[topic][1].scope != publication.scope:
                other = owners[topic][0]
                raise ManifestError(
                    fragment.manifest_path, f"publishes.{topic}.scope",
                    f"is {publication.scope!r} but {other.manifest_path} declares {owners[topic][1].scope!r};"
                    " one topic has one scope",
                )
            owners.setdefault(topic, (fragment, publication))

