"""``tessera check``: every manifest and the contracts between fragments, all problems at once."""

from __future__ import annotations

import json
from pathlib import Path

from .manifest import MANIFEST, Fragment, ManifestError, load_fragment
from .topics import matches


def check_folder(folder: Path) -> tuple[list[Fragment], list[str]]:
    """The fragments that load, and one line per problem found anywhere in ``folder``."""
    if not folder.is_dir():
        return [], [f"{folder}: is not a folder of fragments; pass --frontends DIR or create it"]
    fragments, problems = [], []
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if not (child / MANIFEST).exists():
            continue
        try:
            fragments.append(load_fragment(child))
        except ManifestError as error:
            problems.append(str(error))
    return fragments, problems + contract_problems(fragments)


def contract_problems(fragments: list[Fragment]) -> list[str]:
    """Names used twice, and topics whose producers disagree on scope or schema."""
    problems = []
    by_name: dict[str, Fragment] = {}
    producers: dict[str, Fragment] = {}
    for fragment in fragments:
        if fragment.name in by_name:
            problems.append(f'{fragment.manifest_path}: field "name" {fragment.name!r} is already used by '
                            f"{by_name[fragment.name].manifest_path}; names must be unique")
        by_name.setdefault(fragment.name, fragment)
        for topic, publication in fragment.publishes.items():
            first = producers.setdefault(topic, fragment)
            if first is fragment:
                continue
            other = first.publishes[topic]
            where = f'{fragment.manifest_path}: field "publishes.{topic}'
            if publication.scope != other.scope:
                problems.append(f'{where}.scope" is {publication.scope!r} but {first.manifest_path} declares '
                                f"{other.scope!r}; one topic has one scope")
            if _canonical(publication.schema) != _canonical(other.schema):
                problems.append(f'{where}.schema" differs from the schema {first.manifest_path} declares; '
                                "producers of one topic must agree on its data")
    return problems


DEFAULT_SLOTS = ("header", "main", "aside", "footer")


def notes(fragments: list[Fragment]) -> list[str]:
    """Notes, not problems: topics no fragment subscribes to, slots the default shell lacks."""
    patterns = [p for f in fragments for p in f.subscribes]
    unheard = [f"{f.name} publishes {topic!r}, which no fragment subscribes to (Python or other backends may)"
               for f in fragments for topic in f.publishes if not any(matches(p, topic) for p in patterns)]
    slots = [f"{f.name} is in slot {f.slot!r}, which the default shell does not have "
             f"({', '.join(DEFAULT_SLOTS)}); it shows only with a --shell that places it"
             for f in fragments if f.slot not in DEFAULT_SLOTS]
    return unheard + slots


def _canonical(schema: dict | None) -> str:
    return json.dumps(schema, sort_keys=True)
