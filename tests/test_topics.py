"""Topic matching in Python, pinned by the table the browser runtime shares."""

import pytest

from tessera.topics import TopicError, is_reserved, matches, pattern_problem, topic_problem, validate_topic


def test_python_matcher_agrees_with_the_shared_table(topic_cases):
    wrong = [(p, t, want) for p, t, want in topic_cases["matches"] if matches(p, t) != want]
    assert wrong == []


def test_valid_and_invalid_topics_follow_the_shared_table(topic_cases):
    assert [t for t in topic_cases["valid_topics"] if topic_problem(t)] == []
    assert [t for t in topic_cases["invalid_topics"] if not topic_problem(t)] == []


def test_valid_and_invalid_patterns_follow_the_shared_table(topic_cases):
    assert [p for p in topic_cases["valid_patterns"] if pattern_problem(p)] == []
    assert [p for p in topic_cases["invalid_patterns"] if not pattern_problem(p)] == []


def test_topic_of_exactly_200_characters_is_valid():
    assert topic_problem("a" * 200) is None
    assert "longer than 200" in topic_problem("a" * 201)


def test_validate_topic_raises_with_the_reason():
    with pytest.raises(TopicError, match="must match"):
        validate_topic("cart item")


def test_reserved_prefix():
    assert is_reserved("tessera.resync")
    assert not is_reserved("tesserae.x")
