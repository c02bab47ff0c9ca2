"""Topic names and patterns: one definition, shared with ``shell/runtime/topics.js``.

A topic is dot-separated segments of ``[A-Za-z0-9_-]+``, at most 200 characters.
A pattern may also use ``*`` (exactly one segment) and ``>`` (last only: one or
more segments). Both languages are pinned by ``tests/topic_cases.json``.
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_TOPIC_LENGTH = 200
RESERVED_PREFIX = "tessera."

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


class TopicError(ValueError):
    """A topic or pattern that breaks the naming rules."""


def _problem(text: str, *, pattern: bool) -> str | None:
    kind = "pattern" if pattern else "topic"
    if not isinstance(text, str) or not text:
        return f"{kind} must be a non-empty string"
    if len(text) > MAX_TOPIC_LENGTH:
        return f"{kind} is longer than {MAX_TOPIC_LENGTH} characters"
    segments = text.split(".")
    for index, segment in enumerate(segments):
        if pattern and segment == "*":
            continue
        if pattern and segment == ">":
            if index != len(segments) - 1:
                return f"'>' may only be the last segment of a pattern: {text!r}"
            continue
        if not _SEGMENT.fullmatch(segment):
            return f"{kind} segment {segment!r} must match [A-Za-z0-9_-]+: {text!r}"
    return None


def topic_problem(text: str) -> str | None:
    """Why ``text`` is not a valid topic, or None when it is."""
    return _problem(text, pattern=False)


def pattern_problem(text: str) -> str | None:
    """Why ``text`` is not a valid pattern, or None when it is."""
    return _problem(text, pattern=True)


def validate_topic(text: str) -> str:
    if (problem := topic_problem(text)) is not None:
        raise TopicError(problem)
    return text


def validate_pattern(text: str) -> str:
    if (problem := pattern_problem(text)) is not None:
        raise TopicError(problem)
    return text


def is_reserved(topic: str) -> bool:
    return topic.startswith(RESERVED_PREFIX)


def matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` matches ``pattern`` (both assumed valid)."""
    exact, want, rest = _compiled(pattern)
    if exact:
        return topic == pattern
    have = topic.split(".")
    if len(have) < len(want) if rest else len(have) != len(want):
        return False
    return all(w == "*" or w == ">" or w == h for w, h in zip(want, have))


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> tuple[bool, tuple[str, ...], bool]:
    """(no wildcards, segments, ends with ">"): split once per pattern, not once per event."""
    want = tuple(pattern.split("."))
    return "*" not in want and ">" not in want, want, want[-1] == ">"
