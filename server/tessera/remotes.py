"""Remote fragments: manifests fetched, cached and revalidated; content fetched in parallel, bounded.

``--remote reviews=http://127.0.0.1:9002/manifest.json`` names a fragment served on its own
(docs/remote-fragments.md). At start every manifest is fetched at once; one that cannot be
fetched or read stops start-up (the host cannot place, mount or admit what it does not know).
Then:

- Each manifest is revalidated in the background once it is older than ``ttl`` seconds
  (``If-None-Match`` with its ``ETag``; a 304 costs one round trip). A new manifest (a new
  version) is handed to ``adopt``, which checks it against the other fragments' contracts and
  swaps it in for the next pages; a manifest that breaks them is refused and logged, and the
  fragment shows its fallback until a good one is served.
- Each page fetches the content of its remote fragments in parallel (one task each, started
  together), each bounded by ``timeout`` from the moment the page asked: a hung, refused,
  crashed or non-200 fragment costs at most that and its slot shows the cached fallback.
  Nothing is remembered about a failure, so the first page after the fragment is back has it.
- Content whose ``Tessera-Fragment-Digest`` differs from the manifest's is not used (the page's
  script and style URLs come from the manifest: the browser would run a mix of two versions);
  the page shows the fallback and the manifest is revalidated at once.

Threads: a ``ThreadPoolExecutor``; under ``tessera run`` (gevent, patched) its threads are greenlets.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from . import origins
from .manifest import Fragment, ManifestError, remote_fragment

log = logging.getLogger("tessera.remotes")

MAX_MANIFEST_BYTES = 1 << 20
MAX_CONTENT_BYTES = 4 << 20
DIGEST_HEADER = "Tessera-Fragment-Digest"
WORKERS = 64  # fetches in flight per app on threads
GREENLETS = 2048  # under gevent they are greenlets: enough that pages queue behind a hung fragment only at ~2,000 fetches
USER_AGENT = "tessera-host"


class RemoteFailure(Exception):
    """A remote fragment's content could not be used for this page; ``reason`` says why in one word."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class _Remote:
    name: str
    url: str
    fragment: Fragment | None = None
    etag: str | None = None
    checked: float = 0.0  # monotonic time of the last revalidation (answered or not)
    refreshing: bool = False
    refused: str | None = None  # the ETag of a manifest adopt() refused, not to log it again


class Remotes:
    """The remote fragments of one app: their cached manifests and their content fetches."""

    def __init__(self, remotes: Mapping[str, str], *, timeout: float, ttl: float = 5.0, token: str | None = None):
        self.timeout = timeout
        self.ttl = ttl
        self._token = token  # sent to every content URL: the services know the request comes from a host
        self.adopt: Callable[[Fragment], bool] = lambda fragment: True
        self._remotes = {name: _Remote(name, url) for name, url in remotes.items()}
        self._lock = threading.Lock()
        self._adopting = threading.Lock()  # one adopt() at a time: each builds on the registry the last left
        self._pool = ThreadPoolExecutor(max_workers=GREENLETS if _patched() else WORKERS,
                                        thread_name_prefix="tessera-remote")

    def __bool__(self) -> bool:
        return bool(self._remotes)

    # -- manifests ----------------------------------------------------------------------------
    def load(self) -> list[Fragment]:
        """Fetch every manifest, in parallel; raise the first problem (a ManifestError naming the URL)."""
        fragments, problems = self.load_all()
        if problems:
            raise problems[0]
        return fragments

    def load_all(self) -> tuple[list[Fragment], list[ManifestError]]:
        """Fetch every manifest, in parallel: the fragments read, and the problems of the others."""
        futures = {name: self._pool.submit(self._fetch_manifest, remote, self.timeout)
                   for name, remote in self._remotes.items()}
        fragments, problems = [], []
        for name, future in futures.items():
            remote = self._remotes[name]
            try:
                fragment, etag = future.result()
            except ManifestError as error:
                problems.append(error)
                continue
            except Exception as error:
                problems.append(ManifestError(remote.url, None, f"could not be fetched for --remote {name}: "
                                              f"{_reason(error)}; start that fragment's service first "
                                              "(tessera fragment serve DIR --port P)"))
                continue
            remote.fragment, remote.etag, remote.checked = fragment, etag, time.monotonic()
            fragments.append(fragment)
        return fragments, problems

    def revalidate_due(self) -> None:
        """Revalidate, in the background, every manifest older than ``ttl``."""
        now = time.monotonic()
        for remote in self._remotes.values():
            if now - remote.checked >= self.ttl:
                self.revalidate(remote.name)

    def revalidate(self, name: str) -> Future | None:
        """Revalidate ``name``'s manifest in the background (unless that is already under way)."""
        remote = self._remotes.get(name)
        with self._lock:
            if remote is None or remote.refreshing:
                return None
            remote.refreshing = True
        try:
            return self._pool.submit(self._revalidate, remote)
        except RuntimeError:  # shut down
            remote.refreshing = False
            return None

    def _revalidate(self, remote: _Remote) -> None:
        try:
            fetched = self._fetch_manifest(remote, self.timeout)
            if fetched is None or (remote.refused is not None and fetched[1] == remote.refused):
                return
            fragment, etag = fetched
            with self._adopting:
                adopted = fragment == remote.fragment or self.adopt(fragment)
            if adopted:
                if fragment != remote.fragment:
                    log.info("remote fragment %s: version %s (digest %s) adopted from %s", remote.name,
                             fragment.version, fragment.digest, remote.url)
                remote.fragment, remote.etag, remote.refused = fragment, etag, None
            else:
                remote.refused = etag
        except Exception as error:
            log.warning("remote fragment %s: could not revalidate %s (%s); keeping version %s", remote.name,
                        remote.url, _reason(error), remote.fragment.version if remote.fragment else "none")
        finally:
            remote.checked = time.monotonic()
            remote.refreshing = False

    def _fetch_manifest(self, remote: _Remote, timeout: float) -> tuple[Fragment, str | None] | None:
        """The manifest and its ETag; None when it is unchanged (304)."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if remote.etag and remote.fragment is not None:
            headers["If-None-Match"] = remote.etag
        try:
            with urllib.request.urlopen(urllib.request.Request(remote.url, headers=headers), timeout=timeout) as answer:
                body = _read(answer, MAX_MANIFEST_BYTES)
                etag = answer.headers.get("ETag")
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 304:
                return None
            raise
        try:
            raw = json.loads(body)
        except ValueError as error:
            raise ManifestError(remote.url, None, f"is not JSON ({error}); see docs/remote-fragments.md") from None
        return remote_fragment(remote.url, raw, name=remote.name), etag

    # -- content ------------------------------------------------------------------------------
    def fetch(self, fragments: Iterable[Fragment], *, user: str | None, path: str,
              props: Mapping[str, dict[str, Any]]) -> dict[str, Future]:
        """Start fetching each fragment's content at once; each future gives its HTML or raises
        RemoteFailure. Every fetch ends within ``timeout`` of now (see ``deadline``)."""
        deadline = time.monotonic() + self.timeout
        futures = {}
        for fragment in fragments:
            if fragment.content is None:
                continue
            body = json.dumps({"user": user, "path": path, "props": props.get(fragment.name, {})}).encode()
            futures[fragment.name] = self._pool.submit(self._content, fragment, body, deadline)
        return futures

    def _content(self, fragment: Fragment, body: bytes, deadline: float) -> str:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RemoteFailure("timeout", f"no time left within {self.timeout} s")
        headers = {"Content-Type": "application/json", "Accept": "text/html", "User-Agent": USER_AGENT}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(fragment.content, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=left) as answer:
                html = _read(answer, MAX_CONTENT_BYTES, deadline).decode("utf-8", errors="replace")
                served = answer.headers.get(DIGEST_HEADER)
        except urllib.error.HTTPError as error:
            error.close()
            raise RemoteFailure("status", f"{fragment.content} answered {error.code}") from None
        except TimeoutError:
            raise RemoteFailure("timeout", f"{fragment.content} did not answer within {self.timeout} s") from None
        except (OSError, ValueError) as error:
            raise RemoteFailure("unreachable", f"{fragment.content}: {_reason(error)}") from None
        if served is not None and served != fragment.digest:
            self._remotes[fragment.name].checked = 0.0
            self.revalidate(fragment.name)
            raise RemoteFailure("version", f"{fragment.content} serves digest {served}, the manifest in use "
                                           f"says {fragment.digest}; revalidating the manifest")
        return html

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def wait_until(futures: Iterable[Future], deadline: float) -> None:
    """Wait for ``futures`` until ``deadline`` (monotonic) at most."""
    wait(list(futures), timeout=max(0.0, deadline - time.monotonic()))


def source_origins(fragments: Iterable[Fragment]) -> list[str]:
    """The origins the browser loads remote fragments' modules and styles from (for the CSP)."""
    found = []
    for fragment in fragments:
        if not fragment.url:
            continue
        for url in (fragment.entry, *fragment.styles):
            parsed = origins.parse(f"{urlsplit(url).scheme}://{urlsplit(url).netloc}")
            if parsed is not None and (text := origins.text(parsed)) not in found:
                found.append(text)
    return found


def _read(answer: Any, limit: int, deadline: float | None = None) -> bytes:
    """The body, at most ``limit`` bytes (larger is an error), read before ``deadline``."""
    chunks, size = [], 0
    while chunk := answer.read(65536):
        size += len(chunk)
        if size > limit:
            raise ValueError(f"answer larger than {limit} bytes")
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)


def _patched() -> bool:
    """Whether gevent patched threading (tessera run, gunicorn's gevent worker): threads are greenlets."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("threading")


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__
