"""The project's tests use Tessera's own pytest plugin (tessera.testing), like any user."""

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def tessera_frontends() -> Path:
    return FIXTURES / "shop"


@pytest.fixture(scope="session")
def topic_cases() -> dict:
    text = (Path(__file__).parent / "topic_cases.json").read_text()
    cases = json.loads(text.replace("{LONG}", "a" * 200))
    return cases
