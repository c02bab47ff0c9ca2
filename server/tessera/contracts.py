"""The contract between fragments: rules that hold across manifests, wherever they came from.

Each rule looks at a list of already loaded ``Fragment``s (from a local folder today, from
remote services too later) and returns its problems as ManifestErrors, so that
``tessera check`` lists them all and ``tessera run`` and ``tessera asyncapi`` refuse with
the first one, word for word.
"""

from __future__ import annotations

import json
from typing import Sequence

from .manifest import Fragment, ManifestError
from .topics import matches

DEFAULT_SLOTS = ("header", "main", "aside", "footer")


def problems(fragments: Sequence[Fragment]) -> list[ManifestError]:
    """Every breach of the contract between ``fragments``, in the order they are listed."""
    return unique_names(fragments) + producers_agree(fragments)


def unique_names(fragments: Sequence[Fragment]) -> list[ManifestError]:
    """A name is used by one fragment only: it is the fragment's address in URLs, sources and the page."""
    found, first = [], {}
    for fragment in fragments:
        other = first.setdefault(fragment.name, fragment)
        if other is not fragment:
            found.append(ManifestError(fragment.manifest_path, "name",
                                       f"{fragment.name!r} is already used by {other.manifest_path}; "
                                       "names must be unique"))
    return found


def producers_agree(fragments: Sequence[Fragment]) -> list[ManifestError]:
    """Every fragment publishing one topic declares the same scope and the same schema for it."""
    found, first = [], {}
    for fragment in fragments:
        for topic, publication in fragment.publishes.items():
            other = first.setdefault(topic, fragment)
            if other is fragment:
                continue
            declared = other.publishes[topic]
            if publication.scope != declared.scope:
                found.append(ManifestError(fragment.manifest_path, f"publishes.{topic}.scope",
                                           f"is {publication.scope!r} but {other.manifest_path} declares "
                                           f"{declared.scope!r}; one topic has one scope"))
            if _canonical(publication.schema) != _canonical(declared.schema):
                found.append(ManifestError(fragment.manifest_path, f"publishes.{topic}.schema",
                                           f"differs from the schema {other.manifest_path} declares; "
                                           "producers of one topic must agree on its data"))
    return found


def notes(fragments: Sequence[Fragment]) -> list[str]:
    """Worth knowing, never a reason to refuse: topics no fragment hears, slots the default shell lacks."""
    patterns = [p for f in fragments for p in f.subscribes]
    unheard = [f"{f.name} publishes {topic!r}, which no fragment subscribes to (Python or other backends may)"
               for f in fragments for topic in f.publishes if not any(matches(p, topic) for p in patterns)]
    slots = [f"{f.name} is in slot {f.slot!r}, which the default shell does not have "
             f"({', '.join(DEFAULT_SLOTS)}); it shows only with a --shell that places it"
             for f in fragments if f.slot not in DEFAULT_SLOTS]
    return unheard + slots


def _canonical(schema: dict | None) -> str:
    return json.dumps(schema, sort_keys=True)
