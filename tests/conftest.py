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


@pytest.fixture(scope="module")
def server():
    """mirror_app (Python subscribers and responders) served by `tessera run --app`."""
    from live import TOKEN
    from tessera.testing.server import TesseraServer

    options = ["--publish-token", TOKEN, "--allowed-origin", "http://partner.example"]
    with TesseraServer(app="mirror_app:app", cwd=FIXTURES / "apps", options=options,
                       env={"TESSERA_RATE": "50"}) as running:
        yield running
        assert running.alive(), running.output()


@pytest.fixture
def connect(server):
    """connect(user=None, **kwargs) -> a SocketClient to ``server`` as that user (X-Test-User)."""
    from tessera.testing.client import SocketClient

    clients = []

    def open_client(user=None, **kwargs):
        headers = {"X-Test-User": user} if user else {}
        client = SocketClient(server.url, headers=headers, **kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
