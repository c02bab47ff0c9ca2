"""The deployment recipe in the README: the same app under gunicorn's gevent worker."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from tessera.testing.client import SocketClient
from tessera.testing.server import free_port

from conftest import ROOT


@pytest.fixture
def gunicorn_gevent():
    port = free_port()
    env = {"TESSERA_PUBLISH_TOKEN": "t", "TESSERA_SECRET_KEY": "k", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}",
         "tessera.app:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_tessera/health", timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    output = process.communicate(timeout=10)[0].decode()
    assert "Traceback" not in output, output


def test_the_demo_serves_and_relays_under_gunicorn_with_gevent(gunicorn_gevent):
    with urllib.request.urlopen(gunicorn_gevent + "/") as response:
        assert 'tessera-fragment name="catalog"' in response.read().decode()
    client = SocketClient(gunicorn_gevent)
    client.join(["notify.>"])
    body = {"specversion": "1.0", "id": "g1", "type": "notify.new", "source": "/billing", "data": {"n": 1}}
    request = urllib.request.Request(gunicorn_gevent + "/_tessera/events", data=json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer t", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 202
    assert client.events(1)[0]["id"] == "g1"
    client.close()
