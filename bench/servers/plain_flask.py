"""Plain Flask serving a fixed HTML page through ``render_template_string`` (the composition peer).

The HTML is Tessera's composed demo page, fetched once by the benchmark and written to a
file; it is wrapped in ``{% raw %}`` so Jinja parses and renders it without interpreting it.
``/`` compiles it on every request (``render_template_string``, as the brief asks); ``/cached``
renders a template compiled once, like ``render_template`` with Jinja's cache.
Run: ``python -m bench.servers.plain_flask PORT HTML_FILE``.
"""

import sys
from pathlib import Path

from flask import Flask, render_template_string
from werkzeug.serving import make_server

app = Flask(__name__)
TEMPLATE = "{% raw %}" + Path(sys.argv[2]).read_text(encoding="utf-8") + "{% endraw %}" if len(sys.argv) > 2 else ""


@app.get("/")
def page():
    return render_template_string(TEMPLATE), 200, {"Content-Type": "text/html; charset=utf-8"}


COMPILED = app.jinja_env.from_string(TEMPLATE)


@app.get("/cached")
def cached_page():
    """The same page from a template compiled once (what a real Flask app with files gets)."""
    return COMPILED.render(), 200, {"Content-Type": "text/html; charset=utf-8"}


@app.get("/bench/ok")
def ok():
    return "ok"


if __name__ == "__main__":
    make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
