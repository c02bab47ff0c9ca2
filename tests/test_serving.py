"""tessera run serves on gevent: one process holding many pages, or N workers on one port."""

import json
import os
import signal
import time
import urllib.request
import uuid

import pytest

from tessera.testing.client import SocketClient
from tessera.testing.server import TesseraServer

from conftest import FIXTURES
from live import TOKEN, cloudevent


def connections_by_process(pids, port):
    """How many established TCP connections to ``port`` each of ``pids`` holds."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # 01: ESTABLISHED
                    inodes.add(fields[9])
    counts = {}
    for pid in pids:
        links = (os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
        counts[pid] = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
    return counts


def until(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def children(pid):
    """Process ids whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_one_process_raises_its_open_file_limit_and_says_how_many_pages_it_holds():
    with TesseraServer(frontends=FIXTURES / "shop") as server:
        with open(f"/proc/{server.process.pid}/limits") as limits:
            soft, hard = limits.read().split("Max open files")[1].split()[:2]
        assert soft == hard
        assert "gevent, 1 process" in server.output() and "open pages" in server.output()


@pytest.fixture
def redis_prefix():
    import redis

    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_workers_share_one_port_and_one_event_stream(redis_prefix):
    """Pages connected to different workers all get an event posted to any of them."""
    broker = f"redis://127.0.0.1:6379/0?prefix={redis_prefix}"
    options = ["--workers", "2", "--broker", broker, "--publish-token", TOKEN]
    with TesseraServer(frontends=FIXTURES / "shop", options=options, env={"TESSERA_SECRET_KEY": "k"}) as server:
        workers = until(lambda: len(found := children(server.process.pid)) == 2 and found)
        assert workers, server.output()
        pages = []
        while not all(until(lambda: connections_by_process(workers, server.port).values(), 1)) or len(pages) < 4:
            assert len(pages) < 40, connections_by_process(workers, server.port)  # the kernel spreads accepts
            pages.append(SocketClient(server.url))
            pages[-1].join(["notify.>"])
        for n in range(4):
            body = json.dumps(cloudevent(id=f"w{n}")).encode()
            request = urllib.request.Request(server.url + "/_tessera/events", data=body, headers={
                "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 202
        for page in pages:
            assert [e["id"] for e in page.events(4)] == ["w0", "w1", "w2", "w3"]
            page.close()


def test_requests_longer_than_the_read_buffer_are_read_whole():
    """gevent's server reads each connection through a 1 KiB buffer (serving.READ_BUFFER): a 16 KiB
    header and a 60 KB event body still arrive whole."""
    with TesseraServer(frontends=FIXTURES / "shop", options=["--publish-token", TOKEN]) as server:
        page = SocketClient(server.url)
        page.join(["notify.>"])
        request = urllib.request.Request(server.url + "/", headers={"X-Long": "v" * 16384})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        event = cloudevent(id="long", data={"title": "t" * 60_000})
        request = urllib.request.Request(server.url + "/_tessera/events", data=json.dumps(event).encode(),
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Content-Type": "application/json", "X-Long": "v" * 16384})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
        assert page.events(1)[0]["data"] == {"title": "t" * 60_000}
        page.close()


def test_ctrl_c_stops_the_server_quietly():
    """SIGINT (Ctrl-C) stops the server as SIGTERM does: exit 0, no traceback of a KeyboardInterrupt."""
    with TesseraServer(frontends=FIXTURES / "shop") as server:  # stopped, whatever happens
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=10) == 0
    assert "KeyboardInterrupt" not in server.output() and "Traceback" not in server.output(), server.output()
