"""The subscription index agrees with the one definition of matching (topics.matches)."""

import random

from tessera.subscriptions import Subscriptions
from tessera.topics import matches


def test_the_index_agrees_with_the_shared_table(topic_cases):
    for pattern, topic, expected in topic_cases["matches"]:
        index = Subscriptions()
        index.add("owner", pattern)
        assert (index.match(topic) == {"owner"}) is expected, (pattern, topic)


def test_the_index_agrees_with_matches_on_random_patterns_and_topics():
    rng = random.Random(7)
    words = ["a", "b", "c"]

    def pattern():
        segments = [rng.choice(words + ["*"]) for _ in range(rng.randint(1, 4))]
        return ".".join(segments + ([">"] if rng.random() < 0.3 else []))

    patterns = {pattern() for _ in range(300)}
    index = Subscriptions()
    for p in patterns:
        index.add(p, p)
    for _ in range(2000):
        topic = ".".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        assert index.match(topic) == {p for p in patterns if matches(p, topic)}, topic


def test_removing_patterns_forgets_them_and_prunes_the_trie():
    index = Subscriptions()
    for owner, p in [(1, "a.b"), (1, "a.>"), (2, "a.*"), (2, "a.b")]:
        index.add(owner, p)
    assert index.match("a.b") == {1, 2} and index.count(1) == 2
    index.remove(1, "a.b")
    index.remove(1, "a.>")
    index.remove(1, "never.added")
    assert index.match("a.b") == {2} and index.count(1) == 0
    index.remove(2, "a.*")
    index.remove(2, "a.b")
    assert index.match("a.b") == set() and not index._root.children
    for pattern in (">", "notify.>", "x.*.>"):
        index.add(3, pattern)
        index.remove(3, pattern)
        assert not index._root.children and not index._root.rest and index.count(3) == 0


def test_patterns_that_cannot_match_cost_nothing_per_event():
    """An attacker's thousands of patterns under other prefixes are never visited."""
    index = Subscriptions()
    for n in range(5000):
        index.add(("attacker", n), f"x{n}.*.>")
    index.add("shopper", "cart.item.added")
    visited = []
    original = dict.get

    class Counting(dict):
        def get(self, key, default=None):
            visited.append(key)
            return original(self, key, default)

    def instrument(node):
        node.children = Counting(node.children)
        for child in node.children.values():
            instrument(child)

    instrument(index._root)
    assert index.match("cart.item.added") == {"shopper"}
    assert len(visited) <= 2 * 3  # one exact and one "*" lookup per segment of the topic
