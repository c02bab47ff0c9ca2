"""A Redis outage, seen from pages: the page keeps working, the server says degraded, an event
published meanwhile is held and delivered once Redis is back, and delivery resumes by itself."""

import json
import time
import urllib.error
import urllib.request

import pytest

from conftest import FIXTURES
from live import TOKEN, cloudevent
from redis_support import RedisServer

pytestmark = pytest.mark.browser


def health(server):
    try:
        with urllib.request.urlopen(server.url + "/_tessera/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def post(server, event):
    request = urllib.request.Request(server.url + "/_tessera/events", data=json.dumps(event).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def until(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return result


RECORD = """() => { window.seen = []; window.tessera.bus.subscribe("demo.>", (e) => window.seen.push(e.data));
                    window.errors = []; window.tessera.bus.subscribe("tessera.error", (e) => window.errors.push(e.data)); }"""


@pytest.fixture
def redis_server():
    with RedisServer() as server:
        yield server


def test_pages_ride_out_a_redis_outage_and_get_what_was_held(tessera_server_factory, tessera_open,
                                                              tessera_browser, redis_server):
    server = tessera_server_factory(FIXTURES / "shop", options=["--broker", redis_server.url,
                                                                 "--publish-token", TOKEN])
    user = tessera_browser.new_context()
    sender, receiver = tessera_open(server.url + "/", context=user), tessera_open(server.url + "/", context=user)
    for page in (sender, receiver):
        page.wait_for_function("() => window.tessera.connection.state === 'open'")
        page.evaluate(RECORD)

    redis_server.stop(save=True)
    status, body = until(lambda: (answer := health(server))[0] == 503 and answer)
    assert body["status"] == "degraded" and redis_server.url in body["broker"]["url"]

    assert post(server, cloudevent(id="during", type="demo.shout"))[0] == 503  # said, not lost: send it again

    sender.evaluate("() => window.tessera.bus.publish('demo.local', {n: 'in the page'})")
    sender.evaluate("() => window.tessera.bus.publish('demo.shout', {n: 'held'})")
    sender.wait_for_function("() => window.errors.some((e) => e.code === 'unavailable')")
    assert {"n": "in the page"} in sender.evaluate("() => window.seen")  # the in-page bus works throughout

    redis_server.start()
    assert until(lambda: health(server)[0] == 200)
    receiver.wait_for_function("() => window.seen.some((d) => d.n === 'held')", timeout=20000)
    assert post(server, cloudevent(id="after", type="demo.shout", data={"n": "after"}))[0] == 202
    receiver.wait_for_function("() => window.seen.some((d) => d.n === 'after')", timeout=20000)
    assert [d["n"] for d in receiver.evaluate("() => window.seen")].count("held") == 1
