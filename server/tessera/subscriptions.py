"""Who asked for a topic: patterns indexed by segment, so matching costs what matches.

A trie of pattern segments: exact segments are map lookups, ``*`` is one more branch, ``>``
ends a pattern at its node. Matching a topic visits only the nodes whose prefix matches it, each
at most once, so the cost of an event does not grow with patterns that cannot match it (the
hub's fan-out tests each event against the index, not against every pattern of every page).
Topic syntax is topics.py's; both pattern and topic are assumed valid.
"""

from __future__ import annotations

from typing import Generic, Hashable, TypeVar

Owner = TypeVar("Owner", bound=Hashable)


class _Node(Generic[Owner]):
    __slots__ = ("children", "here", "rest")

    def __init__(self) -> None:
        self.children: dict[str, _Node[Owner]] = {}  # a segment, or "*"
        self.here: set[Owner] = set()  # patterns that end here
        self.rest: set[Owner] = set()  # patterns that end here with ">"


class Subscriptions(Generic[Owner]):
    """Patterns and their owners; ``match(topic)`` is every owner with a pattern matching ``topic``."""

    def __init__(self) -> None:
        self._root: _Node[Owner] = _Node()
        self._count: dict[Owner, int] = {}

    def add(self, owner: Owner, pattern: str) -> None:
        node, last = self._root, pattern.split(".")
        for segment in last[:-1]:
            node = node.children.setdefault(segment, _Node())
        if last[-1] == ">":
            owners = node.rest
        else:
            owners = node.children.setdefault(last[-1], _Node()).here
        if owner not in owners:
            owners.add(owner)
            self._count[owner] = self._count.get(owner, 0) + 1

    def remove(self, owner: Owner, pattern: str) -> None:
        """Forget one pattern of ``owner`` (and the nodes nobody uses any more)."""
        segments = pattern.split(".")
        rest = segments[-1] == ">"
        if rest:
            segments.pop()
        path = [self._root]
        for segment in segments:
            child = path[-1].children.get(segment)
            if child is None:
                return
            path.append(child)
        owners = path[-1].rest if rest else path[-1].here
        if owner not in owners:
            return
        owners.discard(owner)
        self._count[owner] -= 1
        if not self._count[owner]:
            del self._count[owner]
        for parent, node, segment in zip(reversed(path[:-1]), reversed(path[1:]), reversed(segments)):
            if node.children or node.here or node.rest:
                break
            del parent.children[segment]

    def count(self, owner: Owner) -> int:
        """How many patterns ``owner`` holds."""
        return self._count.get(owner, 0)

    def match(self, topic: str) -> set[Owner]:
        found: set[Owner] = set()
        segments = topic.split(".")
        last = len(segments) - 1
        level = [self._root]
        for depth, segment in enumerate(segments):
            following = []
            for node in level:
                found |= node.rest  # ">" here: at least this segment remains
                for child in (node.children.get(segment), node.children.get("*")):
                    if child is None:
                        continue
                    if depth == last:
                        found |= child.here
                    else:
                        following.append(child)
            level = following
        return found
