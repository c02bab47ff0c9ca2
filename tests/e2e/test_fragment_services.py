"""`tessera run` starts the fragments of ./remotes (or --fragment-services DIR) as their own
`tessera fragment serve` processes: built when needed, composed as remotes, stopped with the host."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import FIXTURES
from tessera.testing.server import TesseraServer
from test_serving import until  # tests/test_serving.py

ROOT = FIXTURES.parent.parent
BUILD_TIMEOUT = 300  # npm ci on a cold cache downloads Preact and esbuild


def started_pid(output: str, name: str) -> int:
    found = re.search(rf"fragment service {name} \S+ started: \S+ \(pid (\d+)", output)
    assert found, output
    return int(found.group(1))


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ")[1].startswith("Z"):  # a zombie: exited, not yet reaped
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def states(page):
    return page.evaluate("Object.fromEntries([...document.querySelectorAll('tessera-fragment')]"
                         ".map(el => [el.getAttribute('name'), el.dataset.state]))")


@pytest.fixture
def demo(tmp_path):
    """The repository's demo layout, sources only: frontends/ and remotes/brew-timer (no node_modules, no build)."""
    shutil.copytree(ROOT / "frontends", tmp_path / "frontends")
    shutil.copytree(ROOT / "remotes" / "brew-timer", tmp_path / "remotes" / "brew-timer",
                    ignore=shutil.ignore_patterns("node_modules", "build"))
    return tmp_path


@pytest.mark.browser
def test_the_readme_run_command_starts_the_whole_demo_with_the_preact_brew_timer_as_its_own_process(
        demo, tessera_open):
    """`tessera run` from the demo's root: the brew timer (Preact and esbuild from npm, installed by its
    own [build] command) is built, served by its own `tessera fragment serve` and composed."""
    assert shutil.which("npm"), "the brew timer's build command needs Node.js and npm"
    with TesseraServer(cwd=demo, start_timeout=BUILD_TIMEOUT) as server:
        output = server.output()
        assert "fragment service brew-timer: building 1.0.0" in output
        service = started_pid(output, "brew-timer")
        with open(f"/proc/{service}/cmdline", "rb") as cmdline:
            assert b"\0fragment\0serve\0" in cmdline.read()
        page = tessera_open(server.url + "/")
        assert states(page)["brew-timer"] == "mounted", page.tessera_console
        timer = page.locator("tessera-fragment[name=brew-timer]")
        assert timer.locator("[data-test=brew-clock]").inner_text() == "3:30"  # rendered by Preact
        # another fragment's event reaches the Preact component through ctx.bus
        page.locator("tessera-fragment[name=catalog] [data-action=add][data-sku=col-huila]").click()
        page.wait_for_function("document.querySelector('[data-test=brew-coffee]').textContent.startsWith('Brew your ')")
        timer.get_by_role("button", name="espresso").click()
        assert timer.locator("[data-test=brew-clock]").inner_text() == "0:28"
        # and the component publishes on the page's bus, as the fragment
        started = page.evaluate("""new Promise((resolve) => {
            window.tessera.bus.subscribe('brew.started', (event) => resolve(event));
            document.querySelector('[data-test=brew-start]').click();
        })""")
        assert started["source"] == "/fragments/brew-timer"
        assert started["data"] == {"method": "espresso", "coffee": started["data"]["coffee"], "seconds": 28}
        src = page.evaluate("[...performance.getEntriesByType('resource')].map(e => e.name)"
                            ".find(n => n.includes('/build/index.'))")
        with urllib.request.urlopen(src, timeout=5) as response:  # served by the service, hashed, immutable
            assert "immutable" in response.headers["Cache-Control"]
    assert gone(service), "the fragment service outlived the host's SIGTERM"

    # built and unchanged: started again without a build; and it dies with a host that is killed
    server = TesseraServer(cwd=demo).start()
    try:
        assert "building" not in server.output()
        service = started_pid(server.output(), "brew-timer")
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        assert gone(service), "the fragment service outlived its host killed with SIGKILL"
    finally:
        server.stop()


@pytest.fixture
def board(tmp_path):
    """tests/fixtures/remote: the host's board in frontends/, the reviews fragment in remotes/."""
    shutil.copytree(FIXTURES / "remote" / "host", tmp_path / "frontends")
    shutil.copytree(FIXTURES / "remote" / "reviews", tmp_path / "remotes" / "reviews")
    return tmp_path


def page_html(server) -> str:
    with urllib.request.urlopen(server.url + "/", timeout=10) as response:
        return response.read().decode()


def test_a_fragment_service_that_cannot_be_built_is_left_out_with_a_warning_and_the_page_still_works(board):
    broken = board / "remotes" / "kiosk"
    shutil.copytree(board / "remotes" / "reviews", broken)
    manifest = (broken / "fragment.toml").read_text().replace('name = "reviews"', 'name = "kiosk"')
    manifest = manifest.replace('entry = "src/index.js"', 'entry = "out/index.js"')
    manifest = manifest.replace("[publishes", '[build]\ncommand = "exit 3"\noutput = "out"\n\n[publishes', 1)
    (broken / "fragment.toml").write_text(manifest)
    with TesseraServer(cwd=board) as server:
        output = server.output()
        assert re.search(r"WARNING tessera.services: fragment service kiosk: not started, the page is composed "
                         r"without it: .*build command 'exit 3' failed with exit status 3", output), output
        html = page_html(server)
        assert 'name="reviews"' in html and 'name="board"' in html  # served by its own process, composed
        assert 'name="kiosk"' not in html
    assert not (board / "dist" / "kiosk").exists()


def test_a_fragment_service_is_rebuilt_only_when_a_source_is_newer_than_its_build(board):
    with TesseraServer(cwd=board) as server:
        assert "fragment service reviews: building 1.0.0" in server.output()
    built = board / "dist" / "reviews" / "1.0.0" / "manifest.json"
    assert built.is_file()
    with TesseraServer(cwd=board) as server:
        assert "building" not in server.output()
    style = board / "remotes" / "reviews" / "src" / "reviews.css"
    style.write_text(style.read_text() + "\n.changed { color: red }\n")
    os.utime(style, (built.stat().st_mtime + 5,) * 2)
    with TesseraServer(cwd=board) as server:
        assert "fragment service reviews: building 1.0.0" in server.output()
        assert ".changed" in next((board / "dist" / "reviews" / "1.0.0" / "src").glob("reviews.*.css")).read_text()


def test_a_remote_option_naming_a_fragment_service_wins_over_starting_it(board):
    done = subprocess.run([sys.executable, "-m", "tessera", "run", "--port", "0",
                           "--remote", "reviews=http://127.0.0.1:9/manifest.json"],
                          cwd=board, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "fragment service reviews: not started, --remote names it" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("tessera: error: http://127.0.0.1:9/manifest.json")


def test_fragment_services_are_only_started_in_the_demo_layout_or_when_asked(board):
    for options, env in ((["--frontends", "frontends"], {}), ([], {"TESSERA_FRAGMENT_SERVICES": ""})):
        with TesseraServer(cwd=board, options=options, env=env) as server:
            assert "fragment service" not in server.output()
            assert 'name="reviews"' not in page_html(server)
    services = board / "remotes"
    services.rename(board / "teams")
    with TesseraServer(cwd=board, options=["--frontends", "frontends", "--fragment-services", "teams"]) as server:
        assert 'name="reviews"' in page_html(server)


def test_a_fragment_services_folder_that_is_not_a_folder_is_a_one_line_error(board):
    done = subprocess.run([sys.executable, "-m", "tessera", "run", "--port", "0", "--fragment-services", "nope"],
                          cwd=board, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "tessera: error: --fragment-services nope: is not a folder of fragments; pass a folder whose subfolders "
        "hold a fragment.toml (or an empty value for none)"]


def tessera(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tessera", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_check_and_asyncapi_include_the_fragment_services_contracts(board):
    done = tessera("check", cwd=board)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "2 fragments, no problems", done.stdout
    assert '"review.posted"' in tessera("asyncapi", cwd=board).stdout
    assert tessera("check", "--fragment-services", "", cwd=board).stdout.splitlines()[-1] == "1 fragment, no problems"
    manifest = board / "remotes" / "reviews" / "fragment.toml"
    manifest.write_text(manifest.read_text().replace('scope = "user"', 'scope = "team"'))
    done = tessera("check", cwd=board)
    assert done.returncode == 1
    assert done.stdout.startswith('remotes/reviews/fragment.toml: field "publishes.review.posted.scope" '), done.stdout
    assert tessera("asyncapi", cwd=board).returncode == 2


def test_a_service_is_composed_under_the_name_its_manifest_declares_not_its_folder_name(board):
    (board / "remotes" / "reviews").rename(board / "remotes" / "team-reviews")
    with TesseraServer(cwd=board) as server:
        assert 'name="reviews"' in page_html(server)
        assert "fragment service reviews 1.0.0 started" in server.output()


def test_a_failed_rebuild_serves_the_build_already_there_and_a_service_that_dies_is_reported(board):
    with TesseraServer(cwd=board) as server:
        assert "fragment service reviews: building" in server.output()
    manifest = board / "remotes" / "reviews" / "fragment.toml"
    failing = '[build]\ncommand = "exit 4"\noutput = "src"\n\n[publishes'
    manifest.write_text(manifest.read_text().replace("[publishes", failing, 1))
    with TesseraServer(cwd=board) as server:
        older = r"fragment service reviews: its build failed, so the older build in \S+ is served: .*exit status 4"
        assert re.search(older, server.output()), server.output()
        assert 'name="reviews"' in page_html(server)
        os.kill(started_pid(server.output(), "reviews"), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while "fragment service reviews exited with status -9" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)


def test_stopping_the_host_while_a_service_builds_stops_the_build(board):
    manifest = board / "remotes" / "reviews" / "fragment.toml"
    marker = f"tessera-test-build-{os.getpid()}"
    manifest.write_text(manifest.read_text().replace(
        "[publishes", f'[build]\ncommand = "sleep 60 # {marker}"\noutput = "src"\n\n[publishes', 1))
    host = subprocess.Popen([sys.executable, "-m", "tessera", "run", "--port", "0"], cwd=board,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert until(lambda: builds(marker)), "the build did not start"
        host.send_signal(signal.SIGTERM)
        output, _ = host.communicate(timeout=20)
    finally:
        host.kill()
    assert host.returncode == 130, output
    assert until(lambda: not builds(marker)), "the build outlived the host"
    assert "Traceback" not in output, output


def builds(marker):
    """Processes whose command line holds ``marker``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if marker.encode() in cmdline.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def test_check_follows_run_in_choosing_the_services_folder(board):
    assert tessera("check", cwd=board).stdout.splitlines()[-1] == "2 fragments, no problems"
    assert tessera("check", "--frontends", "frontends", cwd=board).stdout.splitlines()[-1] == "1 fragment, no problems"
    done = subprocess.run([sys.executable, "-m", "tessera", "check"], cwd=board, capture_output=True, text=True,
                          timeout=60, env=os.environ | {"TESSERA_FRONTENDS": "frontends"})
    assert done.stdout.splitlines()[-1] == "1 fragment, no problems"
