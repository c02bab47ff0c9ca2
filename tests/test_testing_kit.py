"""The testing kit users get with tessera[test]: the event recorder, pytest-playwright's own
fixtures on the system Chromium, and a quiet install-browser."""

import re
import subprocess
import sys
import types

import pytest

from conftest import ROOT
from tessera.testing import browser

# -- install-browser says what it did in a line; the installers' output only with -v or on failure --


def fake_installers(monkeypatch, returncodes):
    """apt-get and playwright replaced: each call prints lots and exits with the next return code."""
    calls = []

    def run(command, **kwargs):
        calls.append((command, kwargs))
        code = returncodes[len(calls) - 1]
        if kwargs.get("stdout") is None:  # verbose: streams through
            print(f"streamed output of {command[0]}")
        return types.SimpleNamespace(returncode=code, stdout=f"output of {' '.join(command)}\n" * 200)

    monkeypatch.setattr(browser.subprocess, "run", run)
    monkeypatch.setattr(browser.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(browser.os, "geteuid", lambda: 0)
    monkeypatch.delenv("TESSERA_CHROMIUM", raising=False)
    return calls


def test_install_browser_with_a_system_chromium_says_so_in_one_line():
    done = subprocess.run([sys.executable, "-m", "tessera.testing", "install-browser"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [f"tessera: using the system Chromium at {browser.find_chromium()}"]
    assert done.stderr == ""


def test_install_browser_keeps_apt_quiet_when_it_works(monkeypatch, capsys):
    calls = fake_installers(monkeypatch, [0, 0])
    found = iter([None, "/usr/bin/chromium", "/usr/bin/chromium"])
    monkeypatch.setattr(browser, "find_chromium", lambda: next(found))
    assert browser.install_browser() == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["tessera: no system Chromium; installing Debian's chromium package with apt-get",
                                "tessera: installed Debian's Chromium at /usr/bin/chromium"]
    assert err == "" and [c[0][0] for c in calls] == ["apt-get", "apt-get"]


def test_install_browser_prints_what_apt_said_when_it_fails(monkeypatch, capsys):
    fake_installers(monkeypatch, [0, 100, 0])
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    assert browser.install_browser() == 0
    out, err = capsys.readouterr()
    assert "output of apt-get install -y -q chromium" in err and "apt-get could not install chromium" in err
    assert out.splitlines()[-1] == "tessera: installed Playwright's Chromium"
    assert "output of" not in out and "playwright install chromium\n" not in err


def test_install_browser_fails_in_one_line_after_the_installers_output(monkeypatch, capsys):
    fake_installers(monkeypatch, [0, 100, 1])
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    assert browser.install_browser() == 1
    err = capsys.readouterr().err
    assert "output of" in err and err.splitlines()[-1].startswith("tessera: error: could not install a Chromium")


def test_install_browser_verbose_streams_the_installers(monkeypatch, capsys):
    fake_installers(monkeypatch, [0, 0])
    found = iter([None, "/usr/bin/chromium", "/usr/bin/chromium"])
    monkeypatch.setattr(browser, "find_chromium", lambda: next(found))
    assert browser.install_browser(verbose=True) == 0
    out = capsys.readouterr().out
    assert out.count("streamed output of apt-get") == 2


# -- pytest-playwright's own fixtures --------------------------------------------------------

def test_pytest_playwright_launches_the_chromium_tessera_finds(browser_type_launch_args):
    expected = browser.launch_options()
    assert browser_type_launch_args["executable_path"] == expected["executable_path"]
    assert set(expected["args"]) <= set(browser_type_launch_args["args"])


@pytest.mark.browser
def test_pytest_playwrights_page_opens_a_tessera_page(page, tessera_server):
    page.goto(tessera_server.url + "/")
    page.wait_for_function("() => window.tessera && window.tessera.ready")
    assert page.evaluate("window.tessera.ready.then(() => document.querySelector("
                         "'tessera-fragment[name=alpha]').dataset.state)") == "mounted"


# -- the event recorder ----------------------------------------------------------------------

@pytest.mark.browser
def test_events_are_waited_for_in_the_page_and_on_the_server(tessera_open, tessera_events):
    page = tessera_open("/")
    page.evaluate("window.alphaBus.publish('demo.ping', {n: 1})")   # user scope: the server gets it
    in_page = tessera_events.wait_for("demo.ping")
    on_server = tessera_events.wait_for("demo.*", where="server")
    assert in_page["id"] == on_server["id"] and on_server["data"] == {"n": 1} and on_server["seq"] >= 1
    assert in_page["source"] == "/fragments/alpha" and "seq" not in in_page


@pytest.mark.browser
def test_what_stays_in_the_page_is_absent_on_the_server_side(tessera_open, tessera_events):
    page = tessera_open("/")
    page.evaluate("window.alphaBus.publish('demo.local', {}); window.alphaBus.publish('demo.shout', {n: 2})")
    tessera_events.wait_for("demo.shout", where="server")              # the sentinel, published after
    assert [e["type"] for e in tessera_events.published("demo.>", where="server")] == ["demo.shout"]
    assert [e["type"] for e in tessera_events.published("demo.>")] == ["demo.local", "demo.shout"]


@pytest.mark.browser
def test_the_recorder_sees_events_from_another_tab_of_the_same_user(tessera_open, tessera_events):
    first = tessera_open("/")
    second = tessera_open("/", context=first.context)
    first.evaluate("window.alphaBus.publish('demo.ping', {n: 3})")
    event = tessera_events.wait_for("demo.ping", page=second)
    assert event["data"] == {"n": 3} and event["seq"] >= 1
    assert tessera_events.wait_for("demo.ping", page=second, check=lambda e: e["data"]["n"] == 3)


@pytest.mark.browser
def test_waiting_for_what_never_comes_fails_with_what_was_seen(tessera_open, tessera_events):
    page = tessera_open("/")
    page.evaluate("window.alphaBus.publish('demo.local', {})")
    with pytest.raises(AssertionError, match=r"no .demo.ping. event on the page side within 0.3 s; seen: .*local"):
        tessera_events.wait_for("demo.ping", timeout=0.3)
    with pytest.raises(AssertionError, match=r"no 2 'demo.local' events on the server side"):
        tessera_events.wait_for("demo.local", where="server", count=2, timeout=0.3)


@pytest.mark.browser
def test_the_recorder_listens_to_the_server_a_page_was_opened_on(tessera_server_factory, tessera_open,
                                                                tessera_events):
    server = tessera_server_factory(ROOT / "tests" / "fixtures" / "shop")
    page = tessera_open("/", base=server.url)
    page.evaluate("window.alphaBus.publish('demo.shout', {n: 6})")
    assert tessera_events.wait_for("demo.shout", where="server")["data"] == {"n": 6}


@pytest.mark.browser
def test_a_pytest_playwright_page_is_recorded_once_attached(page, tessera_server, tessera_events):
    tessera_events.attach(page, base=tessera_server.url)
    page.goto(tessera_server.url + "/")
    page.wait_for_function("() => window.alphaBus !== undefined")
    tessera_events.listen(page)
    page.evaluate("window.alphaBus.publish('demo.ping', {n: 5})")
    assert tessera_events.wait_for("demo.ping", where="server")["data"] == {"n": 5}
    assert tessera_events.wait_for("demo.ping")["source"] == "/fragments/alpha"


# -- docs/testing.md's complete example runs as written, as a user's own project -------------

def docs_example():
    text = (ROOT / "docs" / "testing.md").read_text()
    return dict(re.findall(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```", text, flags=re.S))


def test_the_testing_guide_example_is_a_whole_fragment_and_its_tests():
    assert sorted(docs_example()) == ["frontends/poll/fragment.toml", "frontends/poll/schemas/vote.json",
                                      "frontends/poll/server.py", "frontends/poll/src/index.js",
                                      "frontends/poll/src/poll.html", "test_poll.py"]


@pytest.mark.browser
def test_the_testing_guide_example_passes_in_a_project_of_its_own(tmp_path):
    for path, text in docs_example().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    check = subprocess.run([sys.executable, "-m", "tessera", "check"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
    assert check.stdout.strip() == "1 fragment, no problems", check.stdout + check.stderr
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout + done.stderr
