"""Remote fragments (docs/remote-fragments.md): the fragment service, the manifest format, and a
host composing remote fragments in parallel, bounded, revalidated and streamed."""

import importlib.util
import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from flask import Flask

from tessera import Tessera
from tessera.fragment_service import create_app as fragment_app
from tessera.manifest import ManifestError, remote_fragment

from conftest import FIXTURES

REMOTE = FIXTURES / "remote"
_spec = importlib.util.spec_from_file_location("plain_fragment", REMOTE / "plain_fragment.py")
plain_fragment = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plain_fragment)
PlainFragment = plain_fragment.PlainFragment


@pytest.fixture
def plain():
    """plain(name, **knobs) -> a started PlainFragment (http.server in a thread), stopped after the test."""
    started = []

    def start(name, **knobs):
        fragment = PlainFragment(name, **knobs).start()
        started.append(fragment)
        return fragment

    yield start
    for fragment in started:
        fragment.stop()


@pytest.fixture
def host():
    """host(remotes, timeout=1.0, ttl=5.0, **config) -> a Flask test client of a Tessera host
    composing tests/fixtures/remote/host and ``remotes`` (name -> manifest URL)."""
    made = []

    def make(remotes, *, timeout=1.0, ttl=5.0, props=None):
        app = Flask(__name__)
        app.config.update(TESSERA_REMOTES=remotes, TESSERA_FRAGMENT_TIMEOUT=timeout, TESSERA_REMOTE_TTL=ttl)
        tessera = Tessera(frontends=REMOTE / "host")
        for name, value in (props or {}).items():
            tessera.props(name)(lambda value=value: value)
        tessera.init_app(app)
        made.append(tessera)
        return app.test_client()

    yield make
    for tessera in made:
        tessera.close()


def element(html, name):
    """The <tessera-fragment> of ``name`` (or the late fill template) as (attributes, inner HTML)."""
    found = re.search(rf'<template data-tessera-fill="{name}"([^>]*)>(.*?)</template><script', html, re.S) or \
        re.search(rf'<tessera-fragment name="{name}"([^>]*)>(.*?)</tessera-fragment>', html, re.S)
    assert found, html
    return dict(re.findall(r'([\w-]+)="([^"]*)"', found.group(1))), found.group(2)


def timed_page(client, path="/"):
    started = time.monotonic()
    response = client.get(path)
    html = response.get_data(as_text=True)
    return html, time.monotonic() - started, response


# -- the fragment service -------------------------------------------------------------------
@pytest.fixture(scope="module")
def service():
    return fragment_app(REMOTE / "reviews").test_client()


def test_manifest_names_everything_a_host_needs_with_schemas_inline_and_urls_relative(service):
    response = service.get("/manifest.json")
    manifest = response.get_json()
    digest = manifest["digest"]
    assert manifest == {
        "tessera": 1, "name": "reviews", "version": "1.0.0", "digest": digest, "slot": "aside",
        "entry": f"assets/{digest}/src/index.js", "styles": [f"assets/{digest}/src/reviews.css"],
        "fallback": '<p data-test="reviews-fallback">Reviews are resting</p>', "routes": None,
        "content": "content", "assets": f"assets/{digest}/",
        "publishes": {"review.posted": {"scope": "user", "schema": json.loads(
            (REMOTE / "reviews" / "review.schema.json").read_text())}},
        "subscribes": ["board.>"], "requests": [], "responds": [], "backend": [],
    }
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_manifest_is_revalidated_with_its_etag(service):
    etag = service.get("/manifest.json").headers["ETag"]
    again = service.get("/manifest.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert service.get("/manifest.json", headers={"If-None-Match": '"other"'}).status_code == 200


def test_content_is_rendered_from_the_user_path_and_props_the_host_sends_and_never_shared(service):
    response = service.post("/content", json={"user": "alice", "path": "/p", "props": {"greeting": "hi"}},
                            base_url="http://reviews.internal:9002")
    html = response.get_data(as_text=True)
    assert "Reviews v1.0.0 for alice on /p" in html and ">hi<" in html
    digest = service.get("/manifest.json").get_json()["digest"]
    assert f'src="http://reviews.internal:9002/assets/{digest}/src/star.svg"' in html
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Tessera-Fragment-Version"] == "1.0.0"
    assert response.headers["Tessera-Fragment-Digest"] == digest
    assert service.post("/content", data="not json", content_type="application/json").status_code == 400


def closed(response):
    """The response, read and closed (a file sent by send_file stays open otherwise)."""
    response.get_data()
    response.close()
    return response


def test_assets_are_served_by_the_allow_list_with_cors_and_nothing_else(service):
    digest = service.get("/manifest.json").get_json()["digest"]
    module = closed(service.get(f"/assets/{digest}/src/index.js", headers={"Origin": "http://shop.example"}))
    assert module.status_code == 200 and module.headers["Access-Control-Allow-Origin"] == "*"
    assert module.mimetype == "text/javascript" and "immutable" in module.headers["Cache-Control"]
    assert closed(service.get(f"/assets/{digest}/src/heard.js")).status_code == 200  # imported by the entry
    for private in ("fragment.toml", "review.schema.json", "src/reviews.html", "../host/board/fragment.toml"):
        assert service.get(f"/assets/{digest}/{private}").status_code == 404, private
    stale = closed(service.get("/assets/old/src/index.js"))
    assert stale.status_code == 200 and "no-cache" in stale.headers["Cache-Control"]


def test_assets_cors_can_be_limited_to_named_origins():
    client = fragment_app(REMOTE / "reviews", allowed_origins=["https://shop.example"]).test_client()
    digest = client.get("/manifest.json").get_json()["digest"]
    allowed = closed(client.get(f"/assets/{digest}/src/index.js", headers={"Origin": "https://shop.example"}))
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Origin" in allowed.headers["Vary"]
    other = closed(client.get(f"/assets/{digest}/src/index.js", headers={"Origin": "https://evil.example"}))
    assert "Access-Control-Allow-Origin" not in other.headers


def test_a_fragment_service_is_a_wsgi_app_gunicorn_can_load():
    code = ("from gunicorn.util import import_app; app = import_app("
            f"\"tessera.fragment_service:create_app({str(REMOTE / 'reviews')!r})\"); print(app.name)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "tessera.fragment.reviews", done.stderr


# -- the manifest format, read by the host ---------------------------------------------------
MANIFEST_URL = "http://fragments.example:9002/reviews/manifest.json"


def test_relative_urls_are_resolved_against_the_manifest_url(service):
    fragment = remote_fragment(MANIFEST_URL, service.get("/manifest.json").get_json(), name="reviews")
    assert fragment.entry.startswith("http://fragments.example:9002/reviews/assets/")
    assert fragment.content == "http://fragments.example:9002/reviews/content"
    assert fragment.asset_url(fragment.entry) == fragment.entry
    assert fragment.publishes["review.posted"].scope == "user"


@pytest.mark.parametrize("change, field", [
    ({"name": "ratings"}, "name"),
    ({"version": "one"}, "version"),
    ({"entry": "ftp://x/a.js"}, "entry"),
    ({"publishes": {"tessera.x": {"scope": "user"}}}, "publishes.tessera.x"),
    ({"publishes": {"a.b": {"scope": "everyone"}}}, "publishes.a.b.scope"),
    ({"publishes": {"a.b": {"scope": "user", "schema": {"type": "nope"}}}}, "publishes.a.b.schema"),
    ({"subscribes": ["a.>.b"]}, "subscribes.a.>.b"),
    ({"colour": "red"}, "colour"),
    ({"requests": ["a..b"]}, "requests.a..b"),
    ({"backend": ["not.subscribed"]}, "backend"),
])
def test_a_bad_remote_manifest_is_one_error_naming_the_url_and_field(service, change, field):
    raw = service.get("/manifest.json").get_json() | change
    with pytest.raises(ManifestError) as caught:
        remote_fragment(MANIFEST_URL, raw, name="reviews")
    assert caught.value.path == MANIFEST_URL and caught.value.field == field


# -- composition in the host -----------------------------------------------------------------
def test_a_plain_http_server_fragment_is_composed_its_events_declared_and_admitted(host, plain):
    schema = {"type": "object", "properties": {"stars": {"type": "integer"}}, "required": ["stars"]}
    remote = plain("ratings", publishes={"rating.given": {"scope": "global", "schema": schema}})
    client = host({"ratings": remote.manifest_url})
    html, _, response = timed_page(client)
    attrs, inner = element(html, "ratings")
    assert attrs["data-state"] == "loading" and "ratings 1.0.0 for anon-" in inner and "on /" in inner
    assert f"script-src 'self' 'nonce-" in response.headers["Content-Security-Policy"]
    assert remote.url in re.search(r"script-src [^;]*", response.headers["Content-Security-Policy"]).group(0)
    config = json.loads(re.search(r'id="tessera-config">(.*?)</script>', html).group(1))
    assert config["fragments"]["ratings"]["entry"] == f"{remote.url}/static/{remote.digest}/index.js"
    assert config["scopes"]["rating.given"] == "global"
    state = client.application.extensions["tessera"]
    assert state.bus.admission.scopes["rating.given"] == "global"
    assert "/fragments/ratings" in state.bus.admission.page_sources
    asyncapi = client.get("/_tessera/asyncapi.json").get_json()
    assert "rating-given" in asyncapi["channels"] and contains(asyncapi, schema)
    listed = {f["name"]: f for f in client.get("/_tessera/fragments").get_json()}
    assert listed["ratings"]["publishes"] == {"rating.given": "global"}
    assert listed["ratings"]["remote"] == remote.manifest_url and listed["board"]["remote"] is None


def test_props_the_host_provides_are_forwarded_and_reach_ctx(host, plain):
    remote = plain("ratings")
    client = host({"ratings": remote.manifest_url}, props={"ratings": {"greeting": "hello"}})
    attrs, _ = element(client.get("/").get_data(as_text=True), "ratings")
    assert json.loads(attrs["data-props"].replace("&#34;", '"')) == {"greeting": "hello"}


def test_five_fragments_of_100ms_cost_about_one_not_the_sum(host, plain):
    remotes = {f"r{i}": plain(f"r{i}", delay=0.1).manifest_url for i in range(5)}
    client = host(remotes, timeout=2.0)
    timed_page(client)  # warm up
    times = []
    for _ in range(3):
        html, took, _ = timed_page(client)
        assert html.count('data-state="loading" data-props') == 6  # board and the five, all arrived
        times.append(took)
    assert min(times) < 0.6 * (5 * 0.1), times  # the sequential sum would be 0.5 s at least


@pytest.mark.parametrize("knobs, reason", [({"delay": 5}, "timeout"), ({"status": 500}, "status")])
def test_a_hung_or_failing_fragment_costs_the_timeout_at_most_and_shows_its_fallback(host, plain, knobs, reason):
    remote = plain("ratings", **knobs)
    client = host({"ratings": remote.manifest_url}, timeout=0.3)
    html, took, _ = timed_page(client)
    attrs, inner = element(html, "ratings")
    assert attrs["data-state"] == "failed" and attrs["data-error"] == reason
    assert 'data-test="ratings-fallback"' in inner
    assert took < 0.3 + 1.0
    assert element(html, "board")[0]["data-state"] == "loading"  # the others are unaffected
    remote.delay, remote.status = 0, 200  # the fragment is back: the next page has it
    attrs, _ = element(client.get("/").get_data(as_text=True), "ratings")
    assert attrs["data-state"] == "loading"


def test_a_dead_fragment_shows_the_fallback_cached_with_its_manifest(host, plain):
    remote = plain("ratings")
    client = host({"ratings": remote.manifest_url}, timeout=0.5)
    remote.stop()
    attrs, inner = element(client.get("/").get_data(as_text=True), "ratings")
    assert attrs["data-error"] == "unreachable" and "ratings is away" in inner


def test_the_page_streams_the_shell_before_a_slow_fragment_arrives(host, plain):
    remote = plain("ratings", delay=0.4)
    client = host({"ratings": remote.manifest_url}, timeout=2.0)
    response = client.get("/", buffered=False)
    parts = iter(response.response)
    started = time.monotonic()
    first = text(next(parts))
    head_time = time.monotonic() - started
    assert '<tessera-fragment name="ratings" data-version="1.0.0" data-state="loading" data-pending=""' in first
    assert 'id="tessera-config"' in first and "</body>" not in first
    rest = "".join(text(part) for part in parts)
    total = time.monotonic() - started
    assert head_time < total / 2, (head_time, total)
    nonce = re.search(r'nonce="([^"]+)"', first).group(1)
    assert re.search(rf'<template data-tessera-fill="ratings"[^>]*>.*ratings 1.0.0 .*</template><script nonce="{nonce}">',
                     rest, re.S)
    assert rest.rstrip().endswith("</html>")
    response.close()


def test_a_new_version_is_revalidated_by_etag_and_picked_up_without_a_restart(host, plain):
    remote = plain("ratings")
    client = host({"ratings": remote.manifest_url}, ttl=0.1)
    old = element(client.get("/").get_data(as_text=True), "ratings")[0]
    time.sleep(0.15)
    client.get("/")
    wait_for(lambda: remote.not_modified >= 1)  # unchanged: revalidated, not refetched
    remote.version = "1.1.0"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        html = client.get("/").get_data(as_text=True)
        if element(html, "ratings")[0]["data-version"] == "1.1.0":
            break
        time.sleep(0.05)
    attrs, inner = element(html, "ratings")
    assert attrs["data-version"] == "1.1.0" and attrs["data-state"] == "loading" and "ratings 1.1.0" in inner
    assert old["data-version"] == "1.0.0"
    config = json.loads(re.search(r'id="tessera-config">(.*?)</script>', html).group(1))
    assert config["fragments"]["ratings"] == {"entry": f"{remote.url}/static/{remote.digest}/index.js",
                                              "version": "1.1.0"}


def test_a_new_version_from_a_server_without_etags_is_picked_up_too(host, plain):
    remote = plain("ratings")
    remote.etags = False
    client = host({"ratings": remote.manifest_url}, ttl=0.05)
    remote.version = "1.1.0"
    wait_for(lambda: element(client.get("/").get_data(as_text=True), "ratings")[0]["data-version"] == "1.1.0")


def test_content_of_another_version_than_the_manifest_is_never_mixed_in(host, plain):
    remote = plain("ratings")
    client = host({"ratings": remote.manifest_url}, ttl=60)
    remote.version = "2.0.0"  # deployed; the host's manifest is still 1.0.0 for a minute
    attrs, _ = element(client.get("/").get_data(as_text=True), "ratings")
    assert attrs["data-state"] == "failed" and attrs["data-error"] == "version"
    wait_for(lambda: element(client.get("/").get_data(as_text=True), "ratings")[0]["data-version"] == "2.0.0")


def test_a_new_version_that_breaks_the_contract_is_refused_and_the_old_declarations_stay(host, plain, caplog):
    remote = plain("ratings")
    client = host({"ratings": remote.manifest_url}, ttl=0.05)
    remote.version, remote.publishes = "1.1.0", {"board.note": {"scope": "user"}}  # the board says global
    for _ in range(20):
        client.get("/")
        time.sleep(0.05)
    assert any("ratings 1.1.0 is refused" in r.getMessage() for r in caplog.records)
    attrs, _ = element(client.get("/").get_data(as_text=True), "ratings")
    assert attrs["data-version"] == "1.0.0" and attrs["data-state"] == "failed"
    assert client.application.extensions["tessera"].bus.admission.scopes["board.note"] == "global"


def contains(document, value):
    """Whether ``value`` is ``document`` or nested anywhere in it."""
    if document == value:
        return True
    children = document.values() if isinstance(document, dict) else document if isinstance(document, list) else ()
    return any(contains(child, value) for child in children)


def text(part):
    return part.decode() if isinstance(part, bytes) else part


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# -- the command line ------------------------------------------------------------------------
def tessera(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "tessera", *args], capture_output=True, text=True, timeout=60,
                          env=os.environ | (env or {}))


def one_line_error(done):
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_run_refuses_a_malformed_remote_or_an_unreachable_manifest_in_one_line():
    line = one_line_error(tessera("run", "--frontends", str(REMOTE / "host"), "--remote", "reviews"))
    assert "--remote 'reviews'" in line and "NAME=MANIFEST_URL" in line
    url = "http://127.0.0.1:1/manifest.json"
    line = one_line_error(tessera("run", "--frontends", str(REMOTE / "host"), "--remote", f"reviews={url}"))
    assert url in line and "could not be fetched" in line


def test_check_and_asyncapi_catch_a_contract_broken_between_two_services(plain):
    remote = plain("ratings", publishes={"board.note": {"scope": "user"}})  # the board declares it global
    done = tessera("check", "--frontends", str(REMOTE / "host"), "--remote", f"ratings={remote.manifest_url}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert remote.manifest_url in done.stdout and "publishes.board.note.scope" in done.stdout
    line = one_line_error(tessera("asyncapi", "--frontends", str(REMOTE / "host"),
                                  env={"TESSERA_REMOTES": f"ratings={remote.manifest_url}"}))
    assert remote.manifest_url in line


def test_a_remote_subscription_served_by_a_backend_is_declared_so_in_its_manifest(plain):
    remote = plain("ratings", subscribes=["stock.changed"])
    done = tessera("check", "--frontends", str(REMOTE / "host"), "--remote", f"ratings={remote.manifest_url}")
    assert done.returncode == 1 and "subscribes.stock.changed" in done.stdout, done.stdout + done.stderr
    remote.backend = ["stock.changed"]
    done = tessera("check", "--frontends", str(REMOTE / "host"), "--remote", f"ratings={remote.manifest_url}")
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_and_asyncapi_include_remote_manifests(plain):
    remote = plain("ratings", publishes={"rating.given": {"scope": "global"}}, subscribes=["board.>"])
    done = tessera("check", "--frontends", str(REMOTE / "host"), "--remote", f"ratings={remote.manifest_url}")
    assert done.returncode == 0 and "2 fragments, no problems" in done.stdout, done.stdout + done.stderr
    done = tessera("asyncapi", "--frontends", str(REMOTE / "host"), "--remote", f"ratings={remote.manifest_url}")
    document = json.loads(done.stdout)
    assert "rating-given" in document["channels"] and "ratings.receive.board-note" in document["operations"]


def test_fragment_serve_serves_the_manifest(tmp_path):
    from tessera.testing.server import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tessera", "fragment", "serve", str(REMOTE / "reviews"),
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health"), timeout=20)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/manifest.json") as answer:
            assert json.load(answer)["name"] == "reviews"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_fragment_serve_refuses_a_folder_without_a_manifest(tmp_path):
    line = one_line_error(tessera("fragment", "serve", str(tmp_path), "--port", "0"))
    assert str(tmp_path / "fragment.toml") in line


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def test_on_tessera_run_gevent_five_slow_fragments_cost_about_one_and_the_first_byte_waits_for_none(plain):
    import http.client

    from tessera.testing.server import TesseraServer

    remotes = [plain(f"r{i}", delay=0.2) for i in range(5)]
    options = [o for r in remotes for o in ("--remote", f"{r.name}={r.manifest_url}")]
    with TesseraServer(REMOTE / "host", options=options, env={"TESSERA_FRAGMENT_TIMEOUT": "3"}) as server:
        results = []
        for _ in range(4):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            started = time.monotonic()
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read(1)
            first = time.monotonic() - started
            body = response.read().decode()
            results.append((first, time.monotonic() - started, body.count('data-state="loading" data-props')))
            connection.close()
    assert all(arrived == 6 for _, _, arrived in results), results
    first, total = min(r[0] for r in results[1:]), min(r[1] for r in results[1:])
    assert total < 0.6 * (5 * 0.2), results  # in parallel: about one fragment's 0.2 s, not the 1 s sum
    assert first < total / 2, results  # streamed: the shell does not wait for the fragments


def test_with_a_token_content_is_answered_only_to_hosts_bearing_it(plain):
    client = fragment_app(REMOTE / "reviews", token="s3cret").test_client()
    asked = {"user": "alice", "path": "/", "props": {}}
    assert client.post("/content", json=asked).status_code == 401
    assert client.post("/content", json=asked, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/content", json=asked, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/manifest.json").status_code == 200  # public


def test_a_host_sends_its_remote_token_to_content_urls(host, plain):
    from tessera.fragment_service import create_app

    service = create_app(REMOTE / "reviews", token="s3cret")
    server = _serve_wsgi(service)
    try:
        url = f"http://127.0.0.1:{server.server_port}/manifest.json"
        without = host({"reviews": url}, timeout=2)
        assert element(without.get("/").get_data(as_text=True), "reviews")[0]["data-error"] == "status"
        app = Flask(__name__)
        app.config.update(TESSERA_REMOTES={"reviews": url}, TESSERA_REMOTE_TOKEN="s3cret")
        tessera = Tessera(app, frontends=REMOTE / "host")
        try:
            attrs, inner = element(app.test_client().get("/").get_data(as_text=True), "reviews")
            assert attrs["data-state"] == "loading" and "Reviews v1.0.0" in inner
        finally:
            tessera.close()
    finally:
        server.shutdown()
        server.server_close()


def _serve_wsgi(app):
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    class Threaded(WSGIServer):
        def process_request(self, request, client_address):
            threading.Thread(target=super().process_request, args=(request, client_address), daemon=True).start()

    server = make_server("127.0.0.1", 0, app, server_class=Threaded, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_hung_fragment_under_load_does_not_starve_the_healthy_ones(plain):
    from concurrent.futures import ThreadPoolExecutor

    from tessera.testing.server import TesseraServer

    hung, healthy = plain("hung", delay=8), plain("healthy", delay=0.05)
    options = ["--remote", f"hung={hung.manifest_url}", "--remote", f"healthy={healthy.manifest_url}"]
    # a timeout far above the healthy fragment's 50 ms, so a busy machine cannot make it miss
    with TesseraServer(REMOTE / "host", options=options, env={"TESSERA_FRAGMENT_TIMEOUT": "3"}) as server:
        def page(_):
            with urllib.request.urlopen(server.url + "/", timeout=20) as answer:
                return answer.read().decode()

        with ThreadPoolExecutor(max_workers=100) as clients:
            pages = list(clients.map(page, range(100)))  # 100 pages at once: 100 fetches hang for the timeout
    states = [element(html, "healthy")[0].get("data-error", "loading") for html in pages]
    assert states == ["loading"] * 100, states
    assert all(element(html, "hung")[0]["data-error"] == "timeout" for html in pages)
