"""What one visitor may hold, over a real socket: pages per user, subscriptions per user, time to hello."""

import http.client
import socket
import struct
import time

import pytest

from tessera.testing.client import SocketClient
from tessera.testing.server import TesseraServer

from conftest import FIXTURES


@pytest.fixture(scope="module")
def small_server():
    env = {"TESSERA_MAX_PAGES_PER_USER": "2", "TESSERA_MAX_PATTERNS_PER_USER": "3", "TESSERA_HELLO_TIMEOUT": "0.5"}
    with TesseraServer(app="mirror_app:app", cwd=FIXTURES / "apps", env=env) as server:
        yield server


def upgrade_status(server, user):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/_tessera/ws", headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "X-Test-User": user})
    status = connection.getresponse().status
    connection.close()
    return status


def test_a_user_past_its_open_pages_is_refused_at_the_upgrade_and_others_are_not(small_server):
    pages = [SocketClient(small_server.url, headers={"X-Test-User": "mallory"}) for _ in range(2)]
    for page in pages:
        page.join([])
    assert upgrade_status(small_server, "mallory") == 429
    assert upgrade_status(small_server, "alice") == 101
    pages[0].close()
    deadline = time.monotonic() + 5
    while upgrade_status(small_server, "mallory") != 101:  # a closed page frees its place, once the server sees it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pages[1].close()


def test_subscriptions_are_bounded_per_user_over_all_their_pages(small_server):
    first = SocketClient(small_server.url, headers={"X-Test-User": "sub-user"})
    second = SocketClient(small_server.url, headers={"X-Test-User": "sub-user"})
    first.join(["a.b", "a.c"])
    second.join([])
    second.send({"type": "subscribe", "patterns": ["b.a", "b.b"]})
    error = second.expect("error")
    assert error["code"] == "bad_frame" and "TESSERA_MAX_PATTERNS_PER_USER" in error["message"]
    second.send({"type": "subscribe", "patterns": ["b.a"]})
    second.send({"type": "ping"})
    assert second.expect("pong", skip=()) == {"type": "pong"}  # the one that fits was taken, silently
    first.close()
    second.close()


def test_a_socket_that_never_says_hello_is_closed_with_1008(small_server):
    with socket.create_connection(("127.0.0.1", small_server.port), timeout=10) as raw:
        raw.sendall(b"GET /_tessera/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        data = b""
        while chunk := raw.recv(4096):  # until the server ends the connection
            data += chunk
    after = data.split(b"\r\n\r\n", 1)[1]
    assert after[:1] == b"\x88" and struct.unpack("!H", after[2:4])[0] == 1008  # one close frame: 1008
