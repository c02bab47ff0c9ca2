"""The contract between fragments: rules that hold across manifests, wherever they came from.

Each rule looks at a list of already loaded ``Fragment``s (from a local folder today, from
remote services too later) and returns its problems as ManifestErrors, so that
``tessera check`` lists them all and ``tessera run`` and ``tessera asyncapi`` refuse with
the first one, word for word.
"""

from __future__ import annotations

import json
from typing import Sequence

from .manifest import Fragment, ManifestError, other_dialect, unresolved_ref
from .topics import matches

DEFAULT_SLOTS = ("header", "main", "aside", "footer")


def problems(fragments: Sequence[Fragment]) -> list[ManifestError]:
    """Every breach of the contract between ``fragments``, in the order they are listed."""
    return unique_names(fragments) + schemas_self_contained(fragments) + producers_agree(fragments) + \
        subscriptions_heard(fragments) + requests_answered(fragments) + server_code_publishes_allowed(fragments)


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


def schemas_self_contained(fragments: Sequence[Fragment]) -> list[ManifestError]:
    """Every schema is 2020-12 and its ``$ref``s resolve inside it, however the fragment was loaded
    (a local fragment.toml refuses such a schema as it loads; a remote manifest carries it inline)."""
    return [ManifestError(f.manifest_path, f"publishes.{topic}.schema",
                          f"is not a valid JSON Schema (2020-12): {problem}")
            for f in fragments for topic, p in f.publishes.items()
            if p.schema is not None and (problem := other_dialect(p.schema) or unresolved_ref(p.schema))]


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


RUNTIME_TOPICS = ("tessera.connection", "tessera.error", "tessera.resync")  # published in every page


def subscriptions_heard(fragments: Sequence[Fragment]) -> list[ManifestError]:
    """Every subscription matches a topic that something publishes: a fragment's [publishes], a
    literal ``bus.publish("...")`` in a fragment's server.py, Tessera itself (``tessera.*``), or
    code outside the fragments when the manifest says ``from = "backend"``."""
    published = {topic for f in fragments for topic in f.publishes} | set(RUNTIME_TOPICS) | \
                {topic for f in fragments if f.server_code for topic in f.server_code.publishes}
    found = []
    for fragment in fragments:
        for pattern in fragment.subscribes:
            if pattern in fragment.from_backend:
                continue
            if not any(matches(pattern, topic) for topic in published):
                found.append(ManifestError(
                    fragment.manifest_path, f"subscribes.{pattern}",
                    "is published by nothing: no fragment declares a matching [publishes] and no fragment's "
                    "server.py calls bus.publish with it; declare the publisher, fix the topic, or add "
                    'from = "backend" to it if a backend (POST /_tessera/events, your app\'s Python) publishes it'))
    return found


def requests_answered(fragments: Sequence[Fragment]) -> list[ManifestError]:
    """Every declared ``bus.request`` topic has a responder: a fragment's [responds], a literal
    ``bus.respond("...")`` in a fragment's server.py, or ``from = "backend"`` in the manifest."""
    answered = {topic for f in fragments for topic in f.responds} | \
               {topic for f in fragments if f.server_code for topic in f.server_code.responds}
    return [ManifestError(fragment.manifest_path, f"requests.{topic}",
                          "has no responder: no fragment declares [responds] for it and no fragment's server.py "
                          "calls bus.respond with it; add the responder, fix the topic, or add "
                          'from = "backend" to it if your app\'s own Python (@tessera.bus.respond) answers it')
            for fragment in fragments for topic in fragment.requests
            if topic not in fragment.from_backend and topic not in answered]


def server_code_publishes_allowed(fragments: Sequence[Fragment]) -> list[ManifestError]:
    """What a fragment's server.py publishes, admission would accept: not a topic declared ``page``
    (it never leaves a page), and a topic declared ``user`` only with ``user=`` (whose pages)."""
    declared = {topic: (f, p.scope) for f in reversed(fragments) for topic, p in f.publishes.items()}
    found = []
    for fragment in fragments:
        for use in (u for u in (fragment.server_code.uses if fragment.server_code else ()) if u.call == "publish"):
            owner, scope = declared.get(use.topic, (None, None))
            where = f"{fragment.server} line {use.line} publishes {use.topic!r}, which {owner and owner.manifest_path}"
            if scope == "page":
                found.append(ManifestError(fragment.manifest_path, "server",
                                           f"{where} declares with scope 'page' (it never leaves a page), so "
                                           "publishing it from Python is refused; publish another topic, or "
                                           "declare it user or global"))
            elif scope == "user" and use.user != "given":
                found.append(ManifestError(fragment.manifest_path, "server",
                                           f"{where} declares with scope 'user', so it needs user=: say whose "
                                           "pages get it (e.g. user=event.user), or declare it global"))
    return found


USED_BY = {"publish": "subscribes to", "respond": "requests"}


def notes(fragments: Sequence[Fragment]) -> list[str]:
    """Worth knowing, never a reason to refuse: topics nothing hears, server code check cannot read,
    slots the default shell lacks."""
    patterns = [p for f in fragments for p in f.subscribes] + \
               [p for f in fragments if f.server_code for p in f.server_code.subscribes]
    published = [(f.name, topic) for f in fragments for topic in f.publishes] + \
                [(f"{f.name}/{f.server}", topic) for f in fragments if f.server_code
                 for topic in f.server_code.publishes if topic not in f.publishes]
    unheard = [f"{name} publishes {topic!r}, which no fragment subscribes to "
               "(your app's Python or other backends may)"
               for name, topic in published if not any(matches(p, topic) for p in patterns)]
    unread = [f"{f.name}/{f.server} line {use.line}: bus.{use.call} of a topic computed at run time, which "
              f"check cannot see; where a fragment {USED_BY[use.call]} it, declare it there with from = \"backend\""
              for f in fragments if f.server_code for use in f.server_code.dynamic if use.call in USED_BY]
    slots = [f"{f.name} is in slot {f.slot!r}, which the default shell does not have "
             f"({', '.join(DEFAULT_SLOTS)}); it shows only with a --shell that places it"
             for f in fragments if f.slot not in DEFAULT_SLOTS]
    return unheard + unread + slots


def _canonical(schema: dict | None) -> str:
    return json.dumps(schema, sort_keys=True)
