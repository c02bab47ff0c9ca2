"""tessera run --workers N: every worker knows a visitor, whichever worker served the page."""

import urllib.request

from tessera.testing.client import SocketClient
from tessera.testing.server import TesseraServer

from conftest import FIXTURES
from test_serving import children, connections_by_process, redis_prefix, until  # noqa: F401 (a fixture)


def test_workers_without_a_secret_key_share_one_so_every_worker_knows_a_visitor(redis_prefix):
    """A page's cookie is signed by the worker that served the page; its socket may reach another."""
    options = ["--workers", "2", "--broker", f"redis://127.0.0.1:6379/0?prefix={redis_prefix}"]
    with TesseraServer(frontends=FIXTURES / "shop", options=options, env={"TESSERA_SECRET_KEY": ""}) as server:
        workers = until(lambda: len(found := children(server.process.pid)) == 2 and found)
        assert workers, server.output()
        assert "the 2 workers share a random key made at start" in server.output()
        with urllib.request.urlopen(server.url + "/", timeout=5) as response:
            cookie = response.headers["Set-Cookie"].split(";")[0]
        pages, users = [], set()
        while not all(until(lambda: connections_by_process(workers, server.port).values(), 1)) or len(pages) < 4:
            assert len(pages) < 40, connections_by_process(workers, server.port)  # the kernel spreads accepts
            pages.append(SocketClient(server.url, cookie=cookie))
            users.add(pages[-1].hello()["user"])
        assert len(users) == 1 and users.pop().startswith("anon-")  # without one key: a new visitor per worker
        for page in pages:
            page.close()
