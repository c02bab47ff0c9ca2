"""The ``tessera`` command line."""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from click.core import ParameterSource
from flask import Flask

from . import asyncapi, contracts, scaffold
from .brokers import BrokerError
from .config import ConfigError, _remotes, command_line
from .fragment_services import FragmentServices, declared_fragments
from .manifest import ManifestError
from .registry import load_fragments, load_registry
from .serving import ServeError, check_address, serve, serve_workers

USER_ERRORS = (ManifestError, BrokerError, ConfigError)


class UserError(click.ClickException):
    """Bad input: one line on stderr, exit status 2, never a traceback."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"tessera: error: {self.format_message()}", err=True)


@click.group()
@click.version_option(package_name="tessera")
def main() -> None:
    """Tessera: compose micro-frontends into one page and mirror their bus to the server."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--frontends", "frontends", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of fragments [default: ./frontends].")
@click.option("--shell", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Jinja2 shell template to use instead of the default one.")
@click.option("--broker", help="memory:// (default) or redis://HOST:PORT/DB.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Worker processes.")
@click.option("--remote", "remotes", multiple=True, metavar="NAME=MANIFEST_URL", help="A remote fragment (repeatable).")
@click.option("--allowed-origin", "origins", multiple=True, metavar="ORIGIN",
              help="Another origin allowed to open the WebSocket (repeatable).")
@click.option("--publish-token", help="Bearer token that enables POST /_tessera/events.")
@click.option("--app", "app_path", metavar="MODULE:ATTR", help="Serve your own Flask app that uses Tessera.")
@click.option("--fragment-services", "services", metavar="DIR",
              help="Build and start each fragment in DIR as its own `tessera fragment serve` process and compose "
                   "it as a remote (also TESSERA_FRAGMENT_SERVICES; empty: none) "
                   "[default: ./remotes, unless --frontends, TESSERA_FRONTENDS or --app is given].")
def run(host, port, frontends, shell, broker, workers, remotes, origins, publish_token, app_path, services) -> None:
    """Serve the shell page composed of every fragment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    given = _check_remotes(remotes)
    try:
        check_address(host, port)
    except ServeError as error:
        raise UserError(str(error)) from None
    demo_layout = frontends is None and app_path is None and "TESSERA_FRONTENDS" not in os.environ
    folder = _services_folder(services, default=demo_layout)
    services = FragmentServices(folder, tag=str(port)) if folder is not None else None
    try:
        if services is not None:
            remotes = _with_services(given, services, host)
        _serve(host, port, workers, app_path, remotes, {
            "frontends": frontends, "shell": shell, "broker": broker, "allowed_origins": origins,
            "publish_token": publish_token, "trusted_hosts": _loopback_names(host)})
    finally:
        if services is not None:
            services.stop()


def _services_folder(folder: str | None, *, default: bool) -> Path | None:
    """The folder of fragment services: ``--fragment-services``, else TESSERA_FRAGMENT_SERVICES (empty:
    none), else ``./remotes`` when it exists and the demo's layout is served (``default``)."""
    if folder is None:
        folder = os.environ.get("TESSERA_FRAGMENT_SERVICES")
    if folder is None:
        folder = "remotes" if default and Path("remotes").is_dir() else ""
    if not folder:
        return None
    if not Path(folder).is_dir():
        raise UserError(f"--fragment-services {folder}: is not a folder of fragments; pass a folder whose "
                        "subfolders hold a fragment.toml (or an empty value for none)")
    return Path(folder)


def _with_services(given: dict[str, str], services: FragmentServices, host: str) -> tuple[str, ...]:
    """``--remote`` (else TESSERA_REMOTES) plus the fragment services started for the names they do not give."""
    remotes = given or _remotes(os.environ.get("TESSERA_REMOTES", ""))
    try:
        started = services.start(skip=set(remotes))
    except KeyboardInterrupt:  # SIGINT or SIGTERM while building: the build was stopped, nothing is served
        raise SystemExit(130) from None
    if started and host not in LOOPBACK:
        logging.getLogger("tessera.services").warning(
            "fragment services listen on 127.0.0.1: browsers on other machines cannot load %s; deploy them "
            "on their own and name them with --remote", ", ".join(started))
    for name, url in started.items():
        remotes.setdefault(name, url)
    return tuple(f"{name}={url}" for name, url in remotes.items())


def _serve(host: str, port: int, workers: int, app_path: str | None, remotes: tuple[str, ...], options: dict) -> None:
    # workers share one key unless one is set: a page's cookie signed by one worker is read by another
    options = {**options, "remotes": remotes, "secret_key": secrets.token_hex(32) if workers > 1 else None}
    with _start_up_logs():
        app = _load_app(app_path, options)
        if workers > 1:
            state = app.extensions["tessera"]
            state.close()  # built to check the input once; each worker builds its own
            if state.settings["TESSERA_BROKER"].startswith("memory:"):
                raise UserError(f"--workers {workers}: the workers share events only through a shared broker; "
                                "pass --broker redis://HOST:PORT/DB (or use --workers 1)")
            if state.settings["TESSERA_SECRET_KEY"] == options["secret_key"]:
                logging.getLogger("tessera").warning(
                    "TESSERA_SECRET_KEY is not set: the %d workers share a random key made at start, so anonymous "
                    "users' cookies do not survive a restart and other machines will not agree on users", workers)
    if workers == 1:
        serve(app, host=host, port=port)
        return
    serve_workers(lambda: _load_app(app_path, options, fresh=True), host=host, port=port, workers=workers)


def _loopback_names(host: str) -> tuple[str, ...]:
    """Serving on loopback, only loopback names are trusted in ``Host`` by default (so a DNS-rebinding
    page cannot reach the server under its own name); TESSERA_TRUSTED_HOSTS, in the environment or
    the app's config, says otherwise."""
    return ("localhost", "127.0.0.1", "::1") if host in LOOPBACK else ()


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@contextmanager
def _start_up_logs() -> Iterator[None]:
    """Hold Tessera's log records while the app is built: logged once it is, dropped if bad
    input stops start-up (then the error is the one line on stderr)."""
    logger, held = logging.getLogger("tessera"), _Held()
    logger.addHandler(held)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(held)
        logger.propagate = True
    for record in held.records:
        logging.getLogger(record.name).handle(record)


class _Held(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _load_app(app_path: str | None, options: dict, *, fresh: bool = False) -> Flask:
    """The built-in app made with ``options``, or the ``--app`` module imported with them in
    force (``command_line``: they reach its ``Tessera(app)`` without touching ``os.environ``)."""
    try:
        if app_path is None:
            from .app import create_app

            return create_app(**options)
        with command_line(**options):
            return _import_app(app_path, fresh=fresh)
    except USER_ERRORS as error:
        raise UserError(str(error)) from None


def _where(error: Exception) -> str:
    """``Type: message (file.py line N)`` from the innermost frame of the user's code."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "importlib" not in f.filename]
    where = f" ({Path(frames[-1].filename).name} line {frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def _import_app(app_path: str, *, fresh: bool = False) -> Flask:
    """The app of ``--app MODULE:ATTR``; ``fresh``: imported anew (a worker, not the process that checked it)."""
    module_name, _, attr = app_path.partition(":")
    if not module_name or not attr:
        raise UserError(f"--app {app_path!r}: expected MODULE:ATTR, e.g. --app shop:app")
    sys.path.insert(0, os.getcwd())
    if fresh:
        sys.modules.pop(module_name, None)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name in (module_name, module_name.split(".")[0]):
            raise UserError(f"--app {app_path!r}: no module {module_name!r} importable from {os.getcwd()}") from None
        raise UserError(f"--app {app_path!r}: importing {module_name} failed: {_where(error)}") from None
    except USER_ERRORS:
        raise
    except Exception as error:
        raise UserError(f"--app {app_path!r}: importing {module_name} failed: {_where(error)}") from None
    app = getattr(module, attr, None)
    if app is None:
        raise UserError(f"--app {app_path!r}: module {module_name!r} has no attribute {attr!r}")
    if callable(app) and not isinstance(app, Flask):
        app = app()
    if not isinstance(app, Flask) or "tessera" not in app.extensions:
        raise UserError(f"--app {app_path!r}: not a Flask app that uses Tessera (Tessera(app) was not called)")
    return app


REMOTE_OPTION = click.option("--remote", "remotes", multiple=True, metavar="NAME=MANIFEST_URL",
                             help="A remote fragment's manifest to include (repeatable; also TESSERA_REMOTES).")


def _check_remotes(remotes: tuple[str, ...]) -> dict[str, str]:
    """``--remote`` values as name -> URL; a malformed one is a usage error naming it."""
    from .config import ConfigError, _remotes, resolve

    for value in remotes:
        name, _, url = value.partition("=")
        try:
            resolve({}, environ={}, command_line={"TESSERA_REMOTES": _remotes(value)})
            if not name or not url or "," in value:
                raise ConfigError(value)
        except ConfigError:
            raise UserError(f"--remote {value!r}: expected NAME=MANIFEST_URL, e.g. "
                            "--remote reviews=http://127.0.0.1:9002/manifest.json") from None
    return _remotes(",".join(remotes))


def _remote_fragments(remotes: tuple[str, ...]) -> tuple[list, list[ManifestError]]:
    """The fragments of ``--remote`` (else TESSERA_REMOTES) manifests, fetched now, and their problems."""
    from .config import resolve
    from .remotes import Remotes

    given = _check_remotes(remotes) if remotes else None
    try:
        settings = resolve({}, command_line={"TESSERA_REMOTES": given} if given else {})
    except ConfigError as error:
        raise UserError(str(error)) from None
    fetcher = Remotes(settings["TESSERA_REMOTES"], timeout=max(settings["TESSERA_FRAGMENT_TIMEOUT"], 5.0))
    try:
        return fetcher.load_all()
    finally:
        fetcher.close()


FRONTENDS_OPTION = click.option("--frontends", "frontends", default="frontends", show_default=True,
                                envvar="TESSERA_FRONTENDS", type=click.Path(file_okay=False, path_type=Path),
                                help="Folder of fragments (also TESSERA_FRONTENDS).")
SERVICES_OPTION = click.option("--fragment-services", "services", metavar="DIR",
                               help="Include the fragments in DIR that `tessera run` starts as services (also "
                                    "TESSERA_FRAGMENT_SERVICES; empty: none) [default: ./remotes, unless "
                                    "--frontends or TESSERA_FRONTENDS is given].")


def _other_fragments(frontends: Path, remotes: tuple[str, ...], services: str | None) -> tuple[list, list]:
    """The fragments besides ``frontends``: ``--remote`` manifests, fetched now, and the fragment services'
    own manifests (as ``tessera run`` would start them, unless a remote has their name); and their problems."""
    remote, problems = _remote_fragments(remotes)
    given = click.get_current_context().get_parameter_source("frontends") is not ParameterSource.DEFAULT
    folder = _services_folder(services, default=not given)  # as `tessera run` decides it
    if folder is not None:
        served, unreadable = declared_fragments(folder, skip={fragment.name for fragment in remote})
        remote, problems = remote + served, problems + unreadable
    return remote, problems


@main.command()
@FRONTENDS_OPTION
@REMOTE_OPTION
@SERVICES_OPTION
def check(frontends: Path, remotes: tuple[str, ...], services: str | None) -> None:
    """Validate every manifest and the contracts between fragments (exit 1 listing each problem)."""
    remote, unreadable = _other_fragments(frontends, remotes, services)
    try:
        fragments, problems = load_fragments(frontends.resolve(), remote)
    except ManifestError as error:
        raise UserError(str(error)) from None
    problems = unreadable + problems
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise SystemExit(1)
    for note in contracts.notes(fragments):
        click.echo(f"note: {note}")
    click.echo(f"{len(fragments)} fragment{'' if len(fragments) == 1 else 's'}, no problems")


@main.command("asyncapi")
@FRONTENDS_OPTION
@REMOTE_OPTION
@SERVICES_OPTION
def asyncapi_command(frontends: Path, remotes: tuple[str, ...], services: str | None) -> None:
    """Print an AsyncAPI 3.0 document of every declared event (refused, like run, if check finds a problem)."""
    remote, unreadable = _other_fragments(frontends, remotes, services)
    if unreadable:
        raise UserError(str(unreadable[0]))
    try:
        registry = load_registry(frontends.resolve(), remote)
    except ManifestError as error:
        raise UserError(str(error)) from None
    click.echo(json.dumps(asyncapi.document(list(registry.fragments)), indent=2))


@main.command()
@click.argument("name")
@FRONTENDS_OPTION
def new(name: str, frontends: Path) -> None:
    """Scaffold a fragment NAME in the frontends folder."""
    try:
        written = scaffold.create(frontends, name)
    except scaffold.ScaffoldError as error:
        raise UserError(str(error)) from None
    for path in written:
        click.echo(f"created {path}")
    click.echo(f"restart `tessera run` to see {name} in the page")


@main.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@FRONTENDS_OPTION
@click.option("--out", default="dist", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder the builds are written to, as OUT/<name>/<version>/.")
def build(names: tuple[str, ...], frontends: Path, out: Path) -> None:
    """Build fragments NAME... (default: all) into OUT/<name>/<version>/ with content-hashed file names."""
    from .build import BuildError, build_all

    try:
        for built in build_all(frontends, names, out):
            click.echo(f"built {built.name} {built.version} -> {built.folder} ({len(built.files)} files)")
    except (BuildError, ManifestError) as error:
        raise UserError(str(error)) from None


@main.group()
def fragment() -> None:
    """Work with one fragment on its own."""


@fragment.command("serve")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=9000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--allowed-origin", "origins", multiple=True, metavar="ORIGIN",
              help="An origin whose pages may import the assets (repeatable) [default: any].")
@click.option("--token", envvar="TESSERA_FRAGMENT_TOKEN", metavar="TOKEN",
              help="Answer /content only to hosts bearing it (their TESSERA_REMOTE_TOKEN).")
def fragment_serve(folder: Path, host: str, port: int, origins: tuple[str, ...], token: str | None) -> None:
    """Serve the fragment in FOLDER as its own service: /manifest.json, /content, /assets/ (docs/remote-fragments.md).

    FOLDER may be a build (dist/NAME/VERSION, or dist/NAME for its newest version)."""
    from . import fragment_service
    from .build import newest_version
    from .manifest import MANIFEST
    from .config import _is_origin

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for origin in origins:
        if not _is_origin(origin):
            raise UserError(f"--allowed-origin {origin!r} is not an origin; use e.g. https://shop.example")
    if not folder.is_dir():
        raise UserError(f"{folder}: is not a fragment folder (one with a fragment.toml)")
    if not (folder / MANIFEST).is_file() and (newest := newest_version(folder)) is not None:
        folder = newest  # `tessera build` output: dist/NAME serves its newest dist/NAME/VERSION
    try:
        check_address(host, port)
        app = fragment_service.create_app(folder, allowed_origins=origins or ("*",), token=token)
    except (ServeError, ManifestError) as error:
        raise UserError(str(error)) from None
    fragment_service.serve(app, host=host, port=port)
