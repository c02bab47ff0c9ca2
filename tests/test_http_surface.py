"""POST /_tessera/events, and what the socket endpoint refuses or drops."""

import http.client as http_client
import json
import socket
import urllib.request

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Request

from live import TOKEN, cloudevent, http


# -- HTTP publish -----------------------------------------------------------------------------

def test_http_publish_reaches_the_users_pages(server, connect):
    alice, bob = connect("alice"), connect("bob")
    for client in (alice, bob):
        client.join(["notify.>"])
    status, body = http(server, "/_tessera/events", cloudevent(id="h1", user="alice"),
                        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/cloudevents+json"})
    assert status == 202 and body["id"] == "h1" and body["seq"] > 0
    got = alice.events(1)[0]
    assert (got["id"], got["source"], got["data"]) == ("h1", "/billing", {"title": "Invoice"})
    http(server, "/_tessera/events", cloudevent(id="h1-sentinel"),
         {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/cloudevents+json"})
    assert bob.events_until("h1-sentinel") == []


def test_http_publish_as_curl_sends_it(server):
    status, _ = http(server, "/_tessera/events", cloudevent(id="h2"), {"Authorization": f"Bearer {TOKEN}",
                     "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 202


@pytest.mark.parametrize(("body", "headers", "status"), [
    (cloudevent(), {}, 401),
    (cloudevent(), {"Authorization": "Bearer wrong"}, 401),
    (cloudevent(specversion="0.3"), {"Authorization": f"Bearer {TOKEN}"}, 400),
    (b"{not json", {"Authorization": f"Bearer {TOKEN}"}, 400),
    (b"[" * 30000, {"Authorization": f"Bearer {TOKEN}"}, 400),
    (b"[1, 2]", {"Authorization": f"Bearer {TOKEN}"}, 400),
    (cloudevent(user=7), {"Authorization": f"Bearer {TOKEN}"}, 400),
    (cloudevent(type="tessera.resync"), {"Authorization": f"Bearer {TOKEN}"}, 400),
    (cloudevent(type="demo.ping", data={"n": "not a number"}), {"Authorization": f"Bearer {TOKEN}"}, 400),
    (cloudevent(data="x" * 70000), {"Authorization": f"Bearer {TOKEN}"}, 413),
    (cloudevent(type="demo.ping", data={"n": 1}), {"Authorization": f"Bearer {TOKEN}"}, 400),  # declared user
    (cloudevent(type="demo.local"), {"Authorization": f"Bearer {TOKEN}"}, 400),  # declared page
    (cloudevent(), {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/xml"}, 415),
])
def test_http_publish_rejections(server, body, headers, status):
    got, answer = http(server, "/_tessera/events", body, {"Content-Type": "application/json"} | headers)
    assert got == status
    assert isinstance(answer, dict) and answer["error"] and answer["reason"]


@pytest.mark.parametrize(("event", "code"), [
    (cloudevent(type="tessera.resync"), "forbidden"),
    (cloudevent(type="demo.local", user="alice"), "forbidden"),
    (cloudevent(type="demo.ping", data={"n": 1}), "invalid"),
    (cloudevent(type="demo.ping", data={"n": "one"}, user="alice"), "invalid"),
    (cloudevent(specversion="0.3"), "invalid"),
])
def test_http_publish_answers_admissions_code(server, event, code):
    status, answer = http(server, "/_tessera/events", event,
                          {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert (status, answer["error"]) == (400, code)


def post(server, event):
    return http(server, "/_tessera/events", event,
                {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/cloudevents+json"})


def test_a_user_scoped_topic_posted_to_a_user_reaches_only_that_user(server, connect):
    alice, bob = connect("alice"), connect("bob")
    for client in (alice, bob):
        client.join(["demo.>", "notify.>"])
    assert post(server, cloudevent(id="us-1", type="demo.ping", data={"n": 1}, user="alice"))[0] == 202
    assert post(server, cloudevent(id="us-sentinel"))[0] == 202
    assert [e["id"] for e in alice.events(2)] == ["us-1", "us-sentinel"]
    assert [e["id"] for e in bob.events(1)] == ["us-sentinel"]


def test_two_backends_may_use_the_same_id(server, connect):
    page = connect("alice")
    page.join(["notify.>"])
    billing = post(server, cloudevent(id="same-7", source="/billing"))
    shipping = post(server, cloudevent(id="same-7", source="/shipping"))
    assert (billing[0], shipping[0]) == (202, 202)
    assert (billing[1]["duplicate"], shipping[1]["duplicate"]) == (False, False)
    assert billing[1]["seq"] != shipping[1]["seq"]
    assert [(e["id"], e["source"]) for e in page.events(2)] == [("same-7", "/billing"), ("same-7", "/shipping")]


def test_one_backend_posting_the_same_source_and_id_twice_is_a_duplicate(server, connect):
    page = connect("alice")
    page.join(["notify.>"])
    first = post(server, cloudevent(id="retry-1", data={"title": "first"}))
    again = post(server, cloudevent(id="retry-1", data={"title": "retried"}))
    assert first[0] == again[0] == 202
    assert (again[1]["duplicate"], again[1]["seq"]) == (True, first[1]["seq"])
    post(server, cloudevent(id="retry-sentinel"))
    assert [(e["id"], e["data"]["title"]) for e in page.events(2)] == [("retry-1", "first"),
                                                                        ("retry-sentinel", "Invoice")]


def test_http_publish_is_404_without_a_token(tessera_server):
    assert http(tessera_server, "/_tessera/events", cloudevent(), {"Content-Type": "application/json"})[0] == 404


# -- origins and keepalive ----------------------------------------------------------------------

def upgrade_status(server, origin):
    connection = http_client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/_tessera/ws", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": origin})
    status = connection.getresponse().status
    connection.close()
    return status


def test_foreign_origin_is_refused_with_403(server):
    assert upgrade_status(server, "http://evil.example") == 403
    assert upgrade_status(server, f"http://127.0.0.1:{server.port + 1}") == 403


def test_page_origin_is_accepted(server):
    assert upgrade_status(server, server.url) == 101


def test_plain_get_of_the_socket_is_a_clear_400(server):
    status, text = http(server, "/_tessera/ws")
    assert status == 400 and "WebSocket" in text


def test_own_origin_is_accepted(server, connect):
    # simple-websocket's client sends "Host: 127.0.0.1" without the port; a browser's Origin matches its Host
    assert connect("alice", origin="http://127.0.0.1").hello()["user"] == "alice"


def test_allowed_origin_is_accepted(server, connect):
    assert connect("alice", origin="http://partner.example").hello()["user"] == "alice"


def test_anonymous_users_get_distinct_ids_and_a_cookie_keeps_one(server, connect):
    first, second = connect().hello()["user"], connect().hello()["user"]
    assert first != second and first.startswith("anon-")
    with urllib.request.urlopen(server.url + "/") as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
    assert connect(cookie=cookie).hello()["user"] == connect(cookie=cookie).hello()["user"]


def test_ping_is_answered(connect):
    client = connect("alice")
    client.join()
    client.send({"type": "ping"})
    assert client.expect("pong") == {"type": "pong"}


def test_server_survives_a_client_that_vanishes_mid_frame(server, connect):
    client = connect("alice")
    client.hello()
    client.ws.sock.shutdown(2)
    assert http(server, "/_tessera/health")[0] == 200
    assert connect("alice").hello()["user"] == "alice"


def test_a_page_that_stops_reading_is_disconnected_instead_of_growing_memory(server):
    raw = socket.create_connection(("127.0.0.1", server.port))
    ws = WSConnection(ConnectionType.CLIENT)
    raw.sendall(ws.send(Request(host="127.0.0.1", target="/_tessera/ws",
                                extra_headers=[(b"X-Test-User", b"sleepy")])))
    ws.receive_data(raw.recv(65536))
    assert any(isinstance(e, AcceptConnection) for e in ws.events())
    raw.sendall(ws.send(Message(data=json.dumps({"type": "hello", "page": "sleepy", "subscribe": [">"]}))))
    payload = {"blob": "x" * 60000}
    for n in range(300):  # 18 MB the page never reads
        status, _ = http(server, "/_tessera/events", cloudevent(id=f"slow-{n}", data=payload, user="sleepy"),
                         {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        assert status == 202
        if "is not reading" in server.output():
            break
    assert "page of sleepy is not reading its events; disconnecting it (4008)" in server.output()
    raw.settimeout(15)
    while data := raw.recv(1 << 20):  # what was sent before the eviction, then the close frame, then EOF
        ws.receive_data(data)
    raw.close()
    closes = [e for e in ws.events() if isinstance(e, CloseConnection)]
    assert [c.code for c in closes] == [4008]
