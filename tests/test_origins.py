"""Origins: scheme, host and port compared as browsers mean them; Host checked against trusted names."""

import http.client

import pytest

from tessera import origins
from tessera.testing.server import TesseraServer

from conftest import FIXTURES


@pytest.mark.parametrize("origin, parsed", [
    ("https://Shop.Example", ("https", "shop.example", 443)),
    ("https://shop.example:443", ("https", "shop.example", 443)),
    ("http://shop.example:8080/", ("http", "shop.example", 8080)),
    ("http://[::1]:8000", ("http", "::1", 8000)),
    ("ftp://shop.example", None),
    ("https://shop.example/path", None),
    ("https://user@shop.example", None),
    ("https://shop.example:port", None),
    ("null", None),
])
def test_origins_are_parsed_with_default_ports(origin, parsed):
    assert origins.parse(origin) == parsed


def test_own_origin_needs_the_same_scheme_host_and_port():
    assert origins.allowed("http://127.0.0.1:8000", scheme="http", host="127.0.0.1:8000", others=[])
    assert not origins.allowed("https://127.0.0.1:8000", scheme="http", host="127.0.0.1:8000", others=[])
    assert not origins.allowed("http://127.0.0.1:8001", scheme="http", host="127.0.0.1:8000", others=[])
    assert origins.allowed("https://shop.example", scheme="https", host="shop.example:443", others=[])


def test_allowed_origins_match_with_or_without_their_default_port():
    others = ["https://partner.example:443", "http://other.example"]
    assert origins.allowed("https://partner.example", scheme="http", host="h", others=others)
    assert origins.allowed("http://other.example:80", scheme="http", host="h", others=others)
    assert not origins.allowed("http://partner.example", scheme="http", host="h", others=others)


def upgrade(server, host, origin):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/_tessera/ws", headers={
        "Host": host, "Origin": origin, "Connection": "Upgrade", "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.fixture(scope="module")
def loopback_server():
    with TesseraServer(frontends=FIXTURES / "shop", options=["--allowed-origin", "https://partner.example:443"]) as server:
        yield server


def test_a_dns_rebinding_page_cannot_open_a_socket_on_a_loopback_server(loopback_server):
    evil = f"evil.example:{loopback_server.port}"
    assert upgrade(loopback_server, evil, f"http://{evil}") == 400  # its Host is not a loopback name
    own = f"127.0.0.1:{loopback_server.port}"
    assert upgrade(loopback_server, own, f"http://{own}") == 101
    assert upgrade(loopback_server, f"localhost:{loopback_server.port}", f"http://localhost:{loopback_server.port}") == 101


def test_the_scheme_and_port_of_the_origin_count_and_allowed_ports_are_normalised(loopback_server):
    own = f"127.0.0.1:{loopback_server.port}"
    assert upgrade(loopback_server, own, f"https://{own}") == 403
    assert upgrade(loopback_server, own, "http://127.0.0.1:1") == 403
    assert upgrade(loopback_server, own, "https://partner.example") == 101


def test_an_apps_own_trusted_hosts_outrank_the_loopback_default():
    with TesseraServer(app="trusted_app:app", cwd=FIXTURES / "apps") as server:
        for host, status in (("shop.example", 200), (f"localhost:{server.port}", 400)):  # localhost: not its list
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request("GET", "/", headers={"Host": host})
            assert connection.getresponse().status == status, host
            connection.close()
