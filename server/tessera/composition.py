"""The shell page: fragments rendered on the server into the shell template's slots."""

from __future__ import annotations

import json
import re
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from jinja2 import Environment, FileSystemLoader, TemplateSyntaxError, select_autoescape
from markupsafe import Markup

from .assets import PublicFiles, fragment_files, runtime_url, shell_folder, url_path
from .manifest import Fragment, ManifestError
from .registry import Registry

if TYPE_CHECKING:
    from .remotes import Remotes

log = logging.getLogger("tessera.composition")

DEFAULT_SHELL = "shell.html"
# Moves a late fragment's <template data-tessera-fill> (just before it) into its placeholder.
FILL_SCRIPT = ('(function(s){var t=s.previousElementSibling,n=t.getAttribute("data-tessera-fill"),'
               'e=document.querySelector(\'tessera-fragment[data-pending][name="\'+n+\'"]\');'
               'if(e){for(var a of Array.from(t.attributes))if(a.name!=="data-tessera-fill")e.setAttribute(a.name,a.value);'
               'e.removeAttribute("data-pending");e.replaceChildren(t.content)}t.remove();s.remove()})(document.currentScript)')
PropsProvider = Callable[[], dict[str, Any]]


def route_matches(routes: tuple[str, ...] | None, path: str) -> bool:
    """Whether a fragment with these ``routes`` appears on ``path`` (None: every page).

    In a route, ``*`` matches within one path segment and ``**`` across segments.
    """
    if routes is None:
        return True
    return any(_route_pattern(route).matches(path) for route in routes)


@lru_cache(maxsize=1024)
def _route_pattern(route: str) -> RoutePattern:
    return RoutePattern(route)


class RoutePattern:
    """A route compiled to a small automaton whose live states are the bits of one int.

    Position ``i`` is the route's ``i``-th token: a literal character, ``*`` (characters
    other than "/") or ``**`` (any characters; a run of two stars or more is one ``**``).
    Matching reads each character of the path once and moves every live state at the same
    time with a few integer operations: no backtracking, so the cost is linear in the path
    (times the route's length / 64) whatever the route and the path.
    """

    def __init__(self, route: str):
        tokens = re.findall(r"\*\*+|\*|[^*]", route)
        self.literal: dict[str, int] = {}  # character -> positions expecting it
        self.segment = 0  # positions of `*`
        self.anything = 0  # positions of `**`
        for position, token in enumerate(tokens):
            bit = 1 << position
            if token == "*":
                self.segment |= bit
            elif token.startswith("**"):
                self.anything |= bit
            else:
                self.literal[token] = self.literal.get(token, 0) | bit
        self.accept = 1 << len(tokens)
        self.start = self._past_stars(1)

    def _past_stars(self, states: int) -> int:
        """``states`` plus, for each star among them, the position after it (the star matching
        nothing). One step is enough: tokens never hold two stars in a row."""
        return states | ((states & (self.segment | self.anything)) << 1)

    def states(self, path: str) -> Iterator[int]:
        """The live states after each character of ``path``; stops early when none is left."""
        states = self.start
        for char in path:
            stay = self.anything if char == "/" else self.anything | self.segment
            states = self._past_stars(((states & self.literal.get(char, 0)) << 1) | (states & stay))
            yield states
            if not states:
                return

    def matches(self, path: str) -> bool:
        states = self.start
        for states in self.states(path):
            pass
        return bool(states & self.accept)


@dataclass
class Composer:
    """Renders the shell page for one request path."""

    registry: Registry
    shell_file: Path | None
    props: dict[str, PropsProvider]
    client_config: dict[str, Any]
    remotes: Remotes | None = None

    def __post_init__(self) -> None:
        folder, name = (self.shell_file.parent, self.shell_file.name) if self.shell_file else (shell_folder(), DEFAULT_SHELL)
        self.shell_env = Environment(loader=FileSystemLoader(str(folder)), autoescape=select_autoescape(default=True))
        self.shell_name = name
        self.warned_slots: set[str] = set()
        self.failing: set[str] = set()  # fragments whose last server render failed
        local = [f for f in self.registry.fragments if not f.url]  # remote ones are served by their service
        self.fragment_envs = {
            f.name: Environment(loader=FileSystemLoader(str(f.root)), autoescape=select_autoescape(default=True))
            for f in local
        }
        self._compile_templates()
        # What each fragment may serve (http.fragment_asset answers only these).
        self.public: dict[str, PublicFiles] = {f.name: fragment_files(f, self.fragment_envs[f.name]) for f in local}
        self._warn_unplaced(self._probe_slots())

    def _probe_slots(self) -> set[str]:
        """Slots of fragments that the shell template does not place (found by rendering it once)."""
        used: set[str] = set()

        def slot(name: str) -> str:
            used.add(name)
            return ""

        try:
            self.shell_env.get_template(self.shell_name).render(
                slot=slot, fragments=[], user=None, csp_nonce="", tessera_head="", tessera_scripts="")
        except Exception:  # a shell that needs more than Tessera gives it: the first page will tell
            return set()
        return {f.slot for f in self.registry.fragments} - used

    def _compile_templates(self) -> None:
        """Template syntax errors stop start-up (naming file and line) instead of failing each page."""
        try:
            self.shell_env.get_template(self.shell_name)
        except TemplateSyntaxError as error:
            raise ManifestError(self.shell_file or self.shell_name, None,
                                f"is not a valid Jinja2 shell template: line {error.lineno}: {error.message}") from None
        for fragment in self.registry.fragments:
            if fragment.template is None or fragment.url:
                continue
            try:
                self.fragment_envs[fragment.name].get_template(fragment.template)
            except TemplateSyntaxError as error:
                raise ManifestError(fragment.manifest_path, "template",
                                    f"{fragment.template} line {error.lineno}: {error.message}") from None

    def shows_path(self, path: str) -> bool:
        """Whether ``path`` is a page: "/" or a path some fragment's ``routes`` name."""
        return path == "/" or any(f.routes is not None and route_matches(f.routes, path)
                                  for f in self.registry.fragments)

    def adopt(self, registry: Registry) -> None:
        """Compose the next pages from ``registry`` (a remote fragment's new manifest swapped in)."""
        self.client_config = self.client_config | {"scopes": registry.scopes()}
        self.registry = registry

    def render(self, path: str, user: str | None, position: dict[str, Any] | None = None,
               nonce: str = "") -> str:
        """The page at ``path``; ``nonce`` (the Content-Security-Policy's) goes on the page's
        inline scripts, and to the shell template as ``csp_nonce`` for its own."""
        first, rest = self.stream(path, user, position, nonce)
        return first + "".join(rest or ())

    def stream(self, path: str, user: str | None, position: dict[str, Any] | None = None,
               nonce: str = "") -> tuple[str, Iterator[str] | None]:
        """The page at ``path``: its first part, and the parts still to come (None when none is).

        Remote fragments' content is fetched in parallel while the local ones render; those not
        arrived by then are placeholders in the first part (the whole shell but its closing
        ``</body>``), then each fills its slot as it arrives (a ``<template>`` and a nonce'd
        script moving it), or shows its fallback at the timeout."""
        fragments = [f for f in self.registry.fragments if route_matches(f.routes, path)]
        remote = [f for f in fragments if f.url]
        remote_props, pending, deadline = self._start_remotes(remote, user, path)
        rendered = {f.name: self._fragment(f, path, user) for f in fragments if not f.url}
        late = []
        for fragment in remote:
            future = pending.get(fragment.name)
            if future is not None and not future.done():
                late.append(fragment)
                rendered[fragment.name] = self._placeholder(fragment)
            else:
                rendered[fragment.name] = self._remote(fragment, remote_props.get(fragment.name, {}), future).markup()

        used: set[str] = set()

        def slot(name: str) -> Markup:
            used.add(name)
            return Markup("\n").join(rendered[f.name] for f in fragments if f.slot == name)

        template = self.shell_env.get_template(self.shell_name)
        html = template.render(
            slot=slot,
            fragments=fragments,
            user=user,
            csp_nonce=nonce,
            tessera_head=self._head(fragments, nonce),
            tessera_scripts=self._scripts(fragments, path, user, position, nonce),
        )
        self._warn_unplaced({f.slot for f in fragments} - used)
        if not late:
            return html, None
        end = html.rfind("</body>")
        end = len(html) if end < 0 else end
        return html[:end], self._fills(late, pending, remote_props, deadline, nonce, html[end:])

    def _start_remotes(self, remote: list[Fragment], user: str | None, path: str
                       ) -> tuple[dict[str, dict[str, Any] | Exception], dict[str, Future], float]:
        """Start fetching ``remote`` fragments' content: their props (or the error computing
        them), the fetches under way, and when the page stops waiting for them."""
        props: dict[str, dict[str, Any] | Exception] = {}
        if not remote or self.remotes is None:
            return props, {}, 0.0
        self.remotes.revalidate_due()
        for fragment in remote:
            try:
                props[fragment.name] = self._props(fragment)
            except Exception as error:
                props[fragment.name] = error
        deadline = time.monotonic() + self.remotes.timeout
        fetched = [f for f in remote if not isinstance(props[f.name], Exception)]
        return props, self.remotes.fetch(fetched, user=user, path=path, props=props), deadline

    def _fills(self, late: list[Fragment], pending: dict[str, Future], props: dict[str, Any], deadline: float,
               nonce: str, end: str) -> Iterator[str]:
        """Each late fragment's content as it arrives (its fallback at ``deadline``), then ``end``."""
        for fragment in self._arrivals(late, pending, deadline):
            element = self._remote(fragment, props[fragment.name], pending[fragment.name])
            yield Markup('<template data-tessera-fill="{}"{}>{}</template><script nonce="{}">{}</script>\n').format(
                fragment.name, element.attributes, element.inner, nonce, Markup(FILL_SCRIPT))
        yield end

    @staticmethod
    def _arrivals(late: list[Fragment], pending: dict[str, Future], deadline: float) -> Iterator[Fragment]:
        """``late`` fragments in the order their content arrives; the rest once ``deadline`` passes."""
        waiting = {pending[f.name]: f for f in late}
        while waiting:
            done, _ = wait(list(waiting), timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            if not done:
                break
            for future in done:
                yield waiting.pop(future)
        yield from waiting.values()

    def _warn_unplaced(self, slots: set[str]) -> None:
        """Log once per slot that has fragments but that the shell template never places."""
        for name in sorted(slots - self.warned_slots):
            self.warned_slots.add(name)
            names = ", ".join(f.name for f in self.registry.in_slot(name))
            log.warning("the shell template has no slot(%r): fragments %s are not on the page", name, names)

    def _fragment(self, fragment: Fragment, path: str, user: str | None) -> Markup:
        try:
            props = self._props(fragment)
            body = self._template(fragment, props, user)
        except Exception:
            self.failing.add(fragment.name)
            log.exception("fragment %r failed to render on the server; showing its fallback", fragment.name)
            return _Element(fragment, {}, failed="render").markup()
        return self._element(fragment, props, body).markup()

    def _element(self, fragment: Fragment, props: dict[str, Any], body: Markup) -> _Element:
        self.failing.discard(fragment.name)
        return _Element(fragment, {"data-state": "loading", "data-props": json.dumps(props, separators=(",", ":"))},
                        body)

    def _remote(self, fragment: Fragment, props: dict[str, Any] | Exception, future: Future | None) -> _Element:
        """A remote fragment's element: its fetched content, or its fallback if that failed."""
        try:
            if isinstance(props, Exception):
                raise props
            html = future.result(timeout=0) if future is not None else ""
        except Exception as error:
            self.failing.add(fragment.name)
            reason = getattr(error, "reason", "timeout" if future is not None and not future.done() else "render")
            log.warning("remote fragment %r: %s; showing its fallback", fragment.name,
                        str(error) or f"no answer within {self.remotes.timeout if self.remotes else '?'} s")
            return _Element(fragment, {}, failed=reason)
        return self._element(fragment, props, Markup(html))

    @staticmethod
    def _placeholder(fragment: Fragment) -> Markup:
        return _Element(fragment, {"data-state": "loading", "data-pending": ""}).markup()

    def _props(self, fragment: Fragment) -> dict[str, Any]:
        provider = self.props.get(fragment.name)
        props = provider() if provider else {}
        if not isinstance(props, dict):
            raise TypeError(f"props provider of fragment {fragment.name!r} returned {type(props).__name__}, not dict")
        return props

    def _template(self, fragment: Fragment, props: dict[str, Any], user: str | None) -> Markup:
        if fragment.template is None:
            return Markup("")
        template = self.fragment_envs[fragment.name].get_template(fragment.template)
        return Markup(template.render(fragment=fragment, props=props, user=user, asset=self._asset(fragment)))

    def _asset(self, fragment: Fragment) -> Callable[[str], str]:
        """The template's ``asset(path)``: the URL of one of the fragment's public files."""
        public = self.public[fragment.name]

        def asset(path: str) -> str:
            path = url_path(str(path))
            if path not in public:
                raise ValueError(f"asset({path!r}) in fragment {fragment.name!r}: not a file it serves; only its "
                                 "entry and imports, styles, files under `static` and constant asset() paths are")
            return fragment.asset_url(path)

        return asset

    def _head(self, fragments: list[Fragment], nonce: str) -> Markup:
        links = [runtime_url("theme.css")] + [f.asset_url(style) for f in fragments for style in f.styles]
        tags = [Markup('<link rel="stylesheet" href="{}">').format(href) for href in links]
        importmap = {"imports": {"tessera": runtime_url("runtime/tessera.js")}}
        tags.append(Markup('<script type="importmap" nonce="{}">{}</script>').format(
            nonce, Markup(_script_json(importmap))))
        tags += [Markup('<link rel="modulepreload" href="{}">').format(f.asset_url(f.entry)) for f in fragments]
        return Markup("\n").join(tags)

    def _scripts(self, fragments: list[Fragment], path: str, user: str | None,
                 position: dict[str, Any] | None, nonce: str) -> Markup:
        config = self.client_config | {
            "user": user,
            "path": path,
            "position": position,
            "fragments": {f.name: {"entry": f.asset_url(f.entry), "version": f.version} for f in fragments},
        }
        return Markup(
            '<script type="application/json" id="tessera-config">{}</script>\n'
            '<script type="module" src="{}" nonce="{}"></script>'
        ).format(Markup(_script_json(config)), runtime_url("runtime/boot.js"), nonce)


class _Element:
    """One ``<tessera-fragment>``: its attributes and its inner HTML (body, fallback template)."""

    def __init__(self, fragment: Fragment, attrs: dict[str, str], body: Markup = Markup(""), *,
                 failed: str | None = None):
        attrs = {"name": fragment.name, "data-version": fragment.version} | attrs
        if failed is not None:
            attrs |= {"data-state": "failed", "data-error": failed}
            body = Markup('<div class="tessera-fallback">') + Markup(fragment.fallback) + Markup("</div>")
        fallback = Markup("<template data-tessera-fallback>") + Markup(fragment.fallback) + Markup("</template>")
        self.name = fragment.name
        self.attrs = attrs
        self.inner = body + fallback

    @property
    def attributes(self) -> Markup:
        """`` k="v"`` for every attribute but the name (the fill template names its fragment)."""
        return Markup("").join(Markup(' {}="{}"').format(k, v) for k, v in self.attrs.items() if k != "name")

    def markup(self) -> Markup:
        return Markup('<tessera-fragment name="{}"{}>{}</tessera-fragment>').format(
            self.name, self.attributes, self.inner)


def _script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

