"""Only what a fragment declares is served: its entry and what it imports, its styles and what
they reference, its static folder and its template's asset() paths, spelt exactly."""

import http.client
import os
import re
from pathlib import Path

import pytest
from flask import Flask

from tessera import ManifestError, Tessera
from tessera.assets import shell_digest, shell_files

MANIFEST = '''name = "probe"
version = "1.0.0"
slot = "main"
entry = "src/index.js"
styles = ["src/probe.css"]
template = "src/probe.html"
server = "server.py"
static = "public"

[publishes."probe.said"]
scope = "user"
schema = "schemas/said.json"
'''

INDEX = '''// import "../server.py" in a comment names a private file: still not served
import { util } from "./lib/util.js";
import { mount as tessera } from "tessera";
export { shared } from "./shared.js";
import "./outside.js";
import "./sneaky.js";
const lazy = () => import("./lazy.js");
const data = new URL("./data.json", import.meta.url);
export function mount(el) { el.textContent = "probe"; }
'''

FILES = {
    "src/index.js": INDEX,
    "src/lib/util.js": 'import { shared } from "../shared.js";\nexport const util = 1;\n',
    "src/shared.js": "export const shared = 1;\n",
    "src/lazy.js": "export const lazy = 1;\n",
    "src/data.json": '{"ok": true}\n',
    "src/notes.txt": "not referenced by anything\n",
    "src/probe.css": '@import "./more.css";\n.p { background: url("../img/bg.png"); }\n'
                     '.q { background: url(data:image/png;base64,AAAA) }\n',
    "src/more.css": ".more {}\n",
    "src/probe.html": '<img src="{{ asset("img/logo.svg") }}" alt="">{% include "src/part.html" %}',
    "src/part.html": '<img src="{{ asset(\'./img/../img/part.svg\') }}" alt="">',
    "img/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
    "img/part.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
    "img/bg.png": "png",
    "img/unreferenced.png": "png",
    "public/fonts/a.woff2": "font",
    "public/robots.txt": "hi",
    "public/.env": "SECRET=1",
    "public/tool.py": "print('private')",
    "public/__pycache__/x.cpython-312.pyc": "bytecode",
    "public/.git/config": "[core]",
    "server.py": "def setup(fragment):\n    pass\n",
    "schemas/said.json": '{"type": "object"}',
    ".env": "SECRET=1",
    "secrets.json": '{"key": "s3cret"}',
    "__pycache__/server.cpython-312.pyc": "bytecode",
}

SERVED = ["src/index.js", "src/lib/util.js", "src/shared.js", "src/lazy.js", "src/data.json", "src/probe.css",
          "src/more.css", "img/bg.png", "img/logo.svg", "img/part.svg", "public/fonts/a.woff2", "public/robots.txt"]

NOT_SERVED = ["server.py", "fragment.toml", "schemas/said.json", ".env", "secrets.json", "src/notes.txt",
              "src/probe.html", "img/unreferenced.png", "src/outside.js", "src/sneaky.js", "public/.env",
              "public/tool.py", "public/__pycache__/x.cpython-312.pyc", "public/.git/config", "public/passwd",
              "public/server-link.js", "__pycache__/server.cpython-312.pyc"]


@pytest.fixture(scope="module")
def frontends(tmp_path_factory):
    root = tmp_path_factory.mktemp("frontends")
    folder = root / "probe"
    for path, text in {"fragment.toml": MANIFEST, **FILES}.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    outside = root / "outside.js"
    outside.write_text("export const secret = 'outside the fragment';\n")
    os.symlink(outside, folder / "src" / "outside.js")  # imported, but it lives outside the folder
    os.symlink(folder / "server.py", folder / "src" / "sneaky.js")  # imported, but it is the server module
    os.symlink("/etc/passwd", folder / "public" / "passwd")
    os.symlink(folder / "server.py", folder / "public" / "server-link.js")
    return root


@pytest.fixture(scope="module")
def app(frontends):
    app = Flask(__name__)
    tessera = Tessera(app, frontends=frontends)
    yield app
    tessera.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def base(app):
    return app.extensions["tessera"].registry.get("probe").asset_url("")


def spellings(path):
    """Ways to ask for ``path`` that must not get around the allow-list."""
    head, _, name = path.rpartition("/")
    prefix = head + "/" if head else ""
    return [path, path + "/", path + "%2f", path + "%2F", path + "/.", path.upper(), prefix + name.capitalize(),
            "./" + path, "src/../" + path, "src/..%2f" + path, "src%2f..%2f" + path, "%2e%2e/probe/" + path,
            "src/%2e%2e/" + path, "src\\..\\" + path, path + "%00", path + "%00.js", path + ".", path + "::$DATA",
            "/" + path, "//" + path]


def test_a_fragment_serves_its_entry_imports_styles_static_folder_and_template_assets(app):
    assert sorted(app.extensions["tessera"].composer.public["probe"].files) == sorted(SERVED)


@pytest.mark.parametrize("path", SERVED)
def test_each_public_file_is_served_with_its_media_type(client, base, path):
    response = client.get(base + path)
    assert response.status_code == 200, path
    assert response.get_data(as_text=True) == FILES[path]
    expected = {"js": "text/javascript", "css": "text/css", "json": "application/json", "svg": "image/svg+xml",
                "png": "image/png", "woff2": "font/woff2", "txt": "text/plain"}[path.rsplit(".", 1)[1]]
    assert response.mimetype == expected
    response.close()


@pytest.mark.parametrize("path", NOT_SERVED)
def test_private_unreferenced_and_outside_files_are_404_whatever_the_spelling(client, base, path):
    for spelling in spellings(path):
        with client.get(base + spelling) as response:
            assert response.status_code == 404, spelling


def test_public_files_are_served_only_under_their_exact_spelling(client, base):
    for spelling in spellings("src/index.js")[1:]:
        with client.get(base + spelling) as response:
            assert response.status_code == 404, spelling


def test_another_fragments_path_or_an_unknown_fragment_is_404(client, base):
    assert client.get("/_tessera/fragments/nobody/0/src/index.js").status_code == 404
    assert client.get(base + "../../../probe/0/server.py").status_code == 404


def test_the_template_gets_urls_of_its_asset_paths_and_they_are_served(client):
    html = client.get("/").get_data(as_text=True)
    urls = re.findall(r'<img src="([^"]+)"', html)
    assert [u.rsplit("/", 2)[-2:] for u in urls] == [["img", "logo.svg"], ["img", "part.svg"]]
    for url in urls:
        with client.get(url) as response:
            assert response.status_code == 200


def test_asset_of_a_file_the_fragment_does_not_serve_fails_its_render(tmp_path, caplog):
    folder = tmp_path / "leaky"
    (folder / "src").mkdir(parents=True)
    (folder / "fragment.toml").write_text('name = "leaky"\nversion = "1.0.0"\nslot = "main"\n'
                                          'entry = "src/i.js"\ntemplate = "src/t.html"\nserver = "server.py"\n')
    (folder / "src" / "i.js").write_text("export function mount() {}")
    (folder / "src" / "t.html").write_text('<a href="{{ asset(name) }}">source</a>')
    (folder / "server.py").write_text("def setup(fragment):\n"
                                      "    fragment.props(lambda: {})\n")
    app = Flask(__name__)
    tessera = Tessera(app, frontends=tmp_path)
    html = app.test_client().get("/").get_data(as_text=True)
    tessera.close()
    assert 'data-state="failed"' in html and "server.py" not in html
    assert "not a file it serves" in caplog.text


def test_the_runtime_serves_its_modules_and_theme_only(client):
    base = f"/_tessera/shell/{shell_digest()}/"
    assert sorted(shell_files().files) == ["runtime/boot.js", "runtime/bridge.js", "runtime/bus.js",
                                           "runtime/events.js", "runtime/fragments.js", "runtime/inspector.js",
                                           "runtime/tessera.js", "runtime/topics.js", "theme.css"]
    with client.get(base + "runtime/bus.js") as response:
        assert response.status_code == 200 and response.mimetype == "text/javascript"
    for private in ("shell.html", "__init__.py", "runtime/types.d.ts", "runtime/../__init__.py"):
        for spelling in spellings(private):
            with client.get(base + spelling) as response:
                assert response.status_code == 404, spelling


@pytest.mark.parametrize(("static", "message"), [
    ('"nowhere"', "folder 'nowhere' does not exist"),
    ('"../"', "points outside the fragment folder"),
    ('"."', "is the fragment folder itself"),
    ('["public"]', "must be a non-empty string"),
])
def test_the_static_field_names_an_existing_subfolder(tmp_path, static, message):
    from tessera.manifest import load_fragment

    (tmp_path / "public").mkdir()
    (tmp_path / "i.js").write_text("export function mount() {}")
    (tmp_path / "fragment.toml").write_text(f'name = "s"\nversion = "1.0.0"\nslot = "main"\nentry = "i.js"\n'
                                            f"static = {static}\n")
    with pytest.raises(ManifestError, match=re.escape(message)) as error:
        load_fragment(tmp_path)
    assert error.value.field == "static"


RAW_SPELLINGS = ["server.py", "server.py/", "server.py%2f", "server.py%2F", "fragment.toml/", "fragment.toml%2f",
                 "src/..%2fserver.py", "src/%2e%2e/server.py", "src/%2E%2E%2Fserver.py", "SERVER.PY", ".env",
                 ".env/", "secrets.json", "secrets.json/", "src/outside.js", "public/passwd", "public/.env%2f",
                 "src/index.js/", "src/index.js%2f"]


def test_a_live_server_refuses_raw_spellings_of_private_files(frontends, tessera_server_factory):
    """The same, through a real server and raw request lines (no client-side normalisation)."""
    server = tessera_server_factory(frontends)
    digest = re.search(r"/_tessera/fragments/probe/([0-9a-f]{12})/", _get(server.port, "/")[1]).group(1)
    base = f"/_tessera/fragments/probe/{digest}/"
    assert _get(server.port, base + "src/index.js")[0] == 200
    for spelling in RAW_SPELLINGS:
        assert _get(server.port, base + spelling)[0] == 404, spelling


def _get(port, raw_path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest("GET", raw_path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def test_the_manifest_lists_static_in_the_readme():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert re.search(r"^\| `static` \|", readme, re.M)
