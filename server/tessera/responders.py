"""Python responders answering pages' ``bus.request()``: fair, bounded, and run once per request.

- **Once.** A request is known by ``(user, page, rid)``. A page that resends it after a
  reconnect gets the answer of the first run (answers are kept ANSWER_TTL seconds), or, while
  it still runs, the answer when it comes, on the new connection.
- **Fair.** Workers take requests from the pages that have some, in turn, so a page that sends
  hundreds waits behind itself, not others.
- **Bounded.** A page holds at most MAX_PENDING requests queued or running; a closed page's
  queued requests are dropped. Every failure is answered (and logged): no responder, an
  exception, or an answer that is not JSON.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from .bus import Bus, NoResponder
from .events import Event

log = logging.getLogger("tessera.responders")

WORKERS = 8
MAX_PENDING = 16  # requests one page may have queued or running
ANSWER_TTL = 120.0  # seconds an answer is kept for a page that resends its request
MAX_ANSWERS = 10_000

Reply = Callable[[dict[str, Any]], None]


class TooManyRequests(RuntimeError):
    """The page already has MAX_PENDING requests queued or running."""


@dataclass(eq=False)
class _Job:
    key: Hashable
    event: Event
    reply: Reply
    owner: object  # the connection the answer goes to (a resend moves it)


@dataclass(eq=False)
class _Page:
    jobs: deque[_Job] = field(default_factory=deque)
    pending: int = 0


class Responders:
    """Runs ``bus.answer`` for pages on WORKERS threads."""

    def __init__(self, bus: Bus, *, workers: int = WORKERS, max_pending: int = MAX_PENDING,
                 spawn: Callable[..., threading.Thread] = threading.Thread):
        self.bus = bus
        self.max_pending = max_pending
        self._lock = threading.Condition()
        self._pages: dict[Hashable, _Page] = {}
        self._turns: deque[Hashable] = deque()  # pages with queued jobs, in turn order
        self._running: dict[Hashable, _Job] = {}
        self._answers: OrderedDict[Hashable, tuple[float, dict[str, Any]]] = OrderedDict()
        self._stopped = False
        self._threads = [spawn(target=self._work, name=f"tessera-responder-{n}", daemon=True)
                         for n in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, page: Hashable, rid: str, event: Event, reply: Reply, owner: object) -> None:
        """Answer ``event`` through ``reply``; TooManyRequests when ``page`` has too many pending."""
        key = (page, rid)
        with self._lock:
            answer = self._answer_for(key)
            if answer is None:
                job = self._running.get(key) or next((j for j in self._queued(page) if j.key == key), None)
                if job is not None:  # a resend of a request not answered yet: answer the new connection
                    job.reply, job.owner = reply, owner
                    return
                state = self._pages.setdefault(page, _Page())
                if state.pending >= self.max_pending:
                    raise TooManyRequests(f"a page may have at most {self.max_pending} requests waiting for answers")
                state.pending += 1
                state.jobs.append(_Job(key, event, reply, owner))
                if len(state.jobs) == 1:
                    self._turns.append(page)
                self._lock.notify()
                return
        reply(answer)

    def forget(self, page: Hashable, owner: object) -> None:
        """``owner`` closed: drop its queued requests (a running one still finishes and is kept)."""
        with self._lock:
            state = self._pages.get(page)
            if state is None:
                return
            kept = deque(j for j in state.jobs if j.owner is not owner)
            state.pending -= len(state.jobs) - len(kept)
            state.jobs = kept
            if not kept and page in self._turns:
                self._turns.remove(page)
            if state.pending == 0:
                del self._pages[page]

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()

    # -- the workers ------------------------------------------------------------------
    def _work(self) -> None:
        while (job := self._next()) is not None:
            answer = self._run(job.event)
            with self._lock:
                self._running.pop(job.key, None)
                self._remember(job.key, answer)
                page = job.key[0]
                state = self._pages.get(page)
                if state is not None:
                    state.pending -= 1
                    if state.pending == 0 and not state.jobs:
                        del self._pages[page]
                reply = job.reply
            reply(answer)

    def _next(self) -> _Job | None:
        with self._lock:
            while not self._turns and not self._stopped:
                self._lock.wait()
            if self._stopped:
                return None
            page = self._turns.popleft()
            state = self._pages[page]
            job = state.jobs.popleft()
            if state.jobs:
                self._turns.append(page)  # its next request waits for every other page's turn
            self._running[job.key] = job
            return job

    def _run(self, event: Event) -> dict[str, Any]:
        try:
            data = self.bus.answer(event)
        except NoResponder as error:
            return _error("no_responder", str(error))
        except Exception:
            log.exception("the responder of %r failed", event.type)
            return _error("responder_failed", f"the responder of {event.type!r} failed")
        try:
            json.dumps(data, allow_nan=False)
        except (TypeError, ValueError) as error:
            log.error("the responder of %r returned data that is not JSON: %s", event.type, error)
            return _error("responder_failed", f"the responder of {event.type!r} returned data that is not JSON")
        return {"data": data}

    # -- answers kept for resends ------------------------------------------------------
    def _answer_for(self, key: Hashable) -> dict[str, Any] | None:
        kept = self._answers.get(key)
        if kept is None or time.monotonic() - kept[0] > ANSWER_TTL:
            return None
        return kept[1]

    def _remember(self, key: Hashable, answer: dict[str, Any]) -> None:
        self._answers[key] = (time.monotonic(), answer)
        while len(self._answers) > MAX_ANSWERS or (
                self._answers and time.monotonic() - next(iter(self._answers.values()))[0] > ANSWER_TTL):
            self._answers.popitem(last=False)

    def _queued(self, page: Hashable) -> deque[_Job]:
        state = self._pages.get(page)
        return state.jobs if state is not None else deque()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
