"""tessera build: each fragment into dist/<name>/<version>/ with content-hashed files, its own
build command run and checked, and the build served (host and fragment service) as immutable."""

import json
import re
import shutil
import subprocess
import sys
import time

import pytest
from flask import Flask

from tessera import Tessera
from tessera.build import build_fragment
from tessera.fragment_service import create_app as fragment_app
from tessera.manifest import ManifestError, load_fragment, remote_fragment

from conftest import FIXTURES

BUILD = FIXTURES / "builds"
HASHED = r"[0-9a-f]{8}"
IMMUTABLE = {"public", "max-age=31536000", "immutable"}


def tessera(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tessera", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


@pytest.fixture
def frontends(tmp_path):
    """A copy of tests/fixtures/builds/frontends (builds write into their fragment's folder)."""
    copy = tmp_path / "frontends"
    shutil.copytree(BUILD / "frontends", copy)
    return copy


@pytest.fixture
def built(frontends, tmp_path):
    done = tessera("build", "widget", "--frontends", str(frontends), "--out", str(tmp_path / "dist"))
    assert done.returncode == 0, done.stderr
    return tmp_path / "dist" / "widget" / "1.2.0"


def files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_copies_exactly_the_allow_list_with_hashed_names(built):
    listed = files(built)
    public = [f for f in listed if f not in ("fragment.toml", "manifest.json", "src/widget.html")]
    assert len(public) == 6, listed
    for stem, suffix in [("src/index", "js"), ("src/lib/util", "js"), ("src/widget", "css"), ("src/base", "css"),
                         ("img/logo", "svg"), ("public/data", "json")]:
        assert any(re.fullmatch(rf"{stem}\.{HASHED}\.{suffix}", f) for f in public), (stem, listed)
    assert not any("unused" in f for f in listed)  # imported by nothing: not public, not built


def test_rewrites_imports_css_urls_and_template_assets_to_hashed_names(built):
    index = next(built.glob("src/index.*.js")).read_text()
    util = next(built.glob("src/lib/util.*.js")).name
    logo = next(built.glob("img/logo.*.svg")).name
    assert f'from "./lib/{util}"' in index
    assert f'new URL("../img/{logo}", import.meta.url)' in index
    css = next(built.glob("src/widget.*.css")).read_text()
    base = next(built.glob("src/base.*.css")).name
    assert f'@import "./{base}"' in css and f'url("../img/{logo}")' in css
    assert f'asset("img/{logo}")' in (built / "src/widget.html").read_text()


def test_the_built_manifest_points_at_the_hashed_files(built):
    fragment = load_fragment(built)
    assert re.fullmatch(rf"src/index\.{HASHED}\.js", fragment.entry)
    assert re.fullmatch(rf"src/widget\.{HASHED}\.css", fragment.styles[0])
    assert "[build]" not in (built / "fragment.toml").read_text()


def test_the_built_manifest_declares_what_the_source_declares(built):
    source, build = load_fragment(BUILD / "frontends/widget"), load_fragment(built)
    for field in ("name", "version", "slot", "fallback", "routes", "publishes", "subscribes", "requests", "responds",
                  "from_backend", "static", "template"):
        assert getattr(build, field) == getattr(source, field), field


def test_writes_a_remote_fragment_manifest_relative_to_itself(built):
    document = json.loads((built / "manifest.json").read_text())
    remote = remote_fragment("https://cdn.example/widget/1.2.0/manifest.json", document, name="widget")
    assert remote.asset_url(remote.entry) == f"https://cdn.example/widget/1.2.0/{load_fragment(built).entry}"
    assert (built / document["entry"]).is_file() and all((built / s).is_file() for s in document["styles"])
    assert document["version"] == "1.2.0" and document["content"] == "content"
    assert document["publishes"] == {"widget.clicked": {"scope": "page"}}


def test_a_name_changes_with_what_the_file_imports_and_only_then(frontends, tmp_path):
    first = build_fragment(frontends / "widget", tmp_path / "a").files
    again = build_fragment(frontends / "widget", tmp_path / "b").files
    assert first == again
    (frontends / "widget/src/lib/util.js").write_text("export const label = (v) => `w ${v}`;\n")
    changed = build_fragment(frontends / "widget", tmp_path / "c").files
    assert changed["src/lib/util.js"] != first["src/lib/util.js"]
    assert changed["src/index.js"] != first["src/index.js"]  # it imports util: its rewritten content changed
    assert changed["src/widget.css"] == first["src/widget.css"]


def test_a_host_composes_the_build_and_serves_hashed_files_as_immutable(built):
    app = Flask(__name__)
    extension = Tessera(app, frontends=built.parent.parent)  # dist/: each name's newest version
    try:
        client = app.test_client()
        page = client.get("/").get_data(as_text=True)
        fragment = load_fragment(built)
        entry = re.search(rf'/_tessera/fragments/widget/[0-9a-f]+/{re.escape(fragment.entry)}', page)
        assert entry, page
        assert re.search(rf'<img src="/_tessera/fragments/widget/[0-9a-f]+/img/logo\.{HASHED}\.svg"', page)
        response = client.get(entry.group(0))
        assert response.status_code == 200 and "import.meta.url" in response.get_data(as_text=True)
        assert IMMUTABLE <= {d.strip() for d in response.headers["Cache-Control"].split(",")}
        util = re.search(rf'"\./lib/(util\.{HASHED}\.js)"', response.get_data(as_text=True)).group(1)
        response.close()
        imported = client.get(entry.group(0).rsplit("/", 1)[0] + f"/lib/{util}")
        assert imported.status_code == 200
        imported.close()
        assert client.get(entry.group(0).replace(fragment.entry, "manifest.json")).status_code == 404
    finally:
        extension.close()


def test_fragment_serve_serves_the_build_as_immutable(built):
    client = fragment_app(built).test_client()
    manifest = client.get("/manifest.json").get_json()
    assert re.fullmatch(rf"assets/[0-9a-f]+/src/index\.{HASHED}\.js", manifest["entry"])
    response = client.get("/" + manifest["entry"])
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    assert IMMUTABLE <= {d.strip() for d in response.headers["Cache-Control"].split(",")}
    response.close()
    html = client.post("/content", json={"user": "ada", "path": "/", "props": {}}).get_data(as_text=True)
    assert "Hello ada" in html and re.search(rf"/assets/[0-9a-f]+/img/logo\.{HASHED}\.svg", html)


def test_runs_the_declared_build_command_and_hashes_its_output(frontends, tmp_path):
    done = tessera("build", "bundled", "--frontends", str(frontends), "--out", str(tmp_path / "dist"))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "dist/bundled/0.3.0"
    assert re.fullmatch(rf"build/index\.{HASHED}\.js", load_fragment(out).entry)
    assert 'const greeting = "bundled"' in (out / load_fragment(out).entry).read_text()
    assert files(out) == sorted([load_fragment(out).entry, "fragment.toml", "manifest.json"])


def test_a_failing_build_command_shows_its_output_and_one_line_naming_fragment_and_command(frontends, tmp_path):
    toml = frontends / "bundled/fragment.toml"
    toml.write_text(toml.read_text().replace("python3 bundle.py", "echo esbuild says no; exit 3"))
    done = tessera("build", "--frontends", str(frontends), "--out", str(tmp_path / "dist"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    output, last = done.stderr.strip().splitlines()
    assert output == "esbuild says no"
    assert last.startswith("tessera: error: ") and "'bundled'" in last and "'echo esbuild says no; exit 3'" in last
    assert "exit status 3" in last
    assert not (tmp_path / "dist/bundled").exists()


def test_a_build_command_that_does_not_make_the_entry_is_a_manifest_error(frontends, tmp_path):
    toml = frontends / "bundled/fragment.toml"
    toml.write_text(toml.read_text().replace("python3 bundle.py", "mkdir -p build"))
    done = tessera("build", "bundled", "--frontends", str(frontends), "--out", str(tmp_path / "dist"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(toml) in done.stderr and 'field "entry"' in done.stderr and "'build/index.js'" in done.stderr
    assert "the build command 'mkdir -p build' did not make it" in done.stderr


def test_a_build_command_that_runs_too_long_is_stopped(frontends, tmp_path):
    toml = frontends / "bundled/fragment.toml"
    # a command that forks (as npm does): its children are stopped too, or their open output would hold the build
    toml.write_text(toml.read_text().replace("python3 bundle.py", "echo waiting; sleep 30; echo done")
                    .replace("timeout = 30", "timeout = 0.5"))
    started = time.monotonic()
    done = tessera("build", "bundled", "--frontends", str(frontends), "--out", str(tmp_path / "dist"))
    assert time.monotonic() - started < 20
    assert done.returncode == 2 and done.stderr.strip().splitlines()[0] == "waiting"
    assert "within 0.5 s" in done.stderr.strip().splitlines()[-1]


def test_an_unbuilt_fragment_says_to_build_it(frontends):
    with pytest.raises(ManifestError, match=r'field "entry" .*run `tessera build bundled`'):
        load_fragment(frontends / "bundled")


@pytest.mark.parametrize("table, field", [
    ('command = 3', "build.command"),
    ('command = "make"\noutput = "../elsewhere"', "build.output"),
    ('command = "make"\ntimeout = -1', "build.timeout"),
    ('command = "make"\nflags = "-j"', "build.flags"),
])
def test_a_bad_build_table_names_file_and_field(tmp_path, table, field):
    (tmp_path / "fragment.toml").write_text(
        f'name = "x"\nversion = "1.0.0"\nslot = "main"\nentry = "out/x.js"\n\n[build]\n{table}\n')
    with pytest.raises(ManifestError) as raised:
        load_fragment(tmp_path, before_build=True)
    assert raised.value.field == field and str(tmp_path / "fragment.toml") in str(raised.value)


def test_an_unknown_fragment_name_is_one_line(frontends, tmp_path):
    done = tessera("build", "nope", "--frontends", str(frontends), "--out", str(tmp_path / "dist"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "'nope'" in done.stderr
