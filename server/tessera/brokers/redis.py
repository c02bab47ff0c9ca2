"""The Redis broker: a Redis Stream is the log, shared by every process that names it.

Keys, under a prefix (``tessera:`` unless the URL says ``?prefix=NAME``):

``<prefix>stream``     the Stream. Entry id ``<seq>-0``, so the stream id *is* the seq;
                       fields ``epoch`` and ``envelope`` (JSON, see ``encode_envelope``).
                       Trimmed with ``MAXLEN ~`` (never below ``MIN_KEPT`` entries, so a
                       process that falls behind a burst still finds what it has not read);
                       ``since`` serves only the last ``history`` seqs, as the memory broker.
``<prefix>seq``        the counter that gives the next seq (INCR).
``<prefix>epoch``      names the stream. Created, with a fresh stream and counter, when it is
                       missing: the first time, or after Redis lost its data. It never changes
                       otherwise, so history survives restarts of Tessera.
``<prefix>key:<key>``  the idempotency window: the seq stored for an envelope's ``key``
                       (``SET ... EX``, ``DEDUP_SECONDS``).

Publishing is one Lua script (epoch, duplicate check, INCR, XADD, SET EX): atomic across
every process. Each broker has one bounded redis-py connection pool (``POOL_SIZE``).
Listeners are called only by this process's reader thread, which follows the stream with a
blocking ``XREAD`` from the last id it delivered: every stored envelope, once, in order,
wherever it was published. ``close`` wakes it through ``<prefix>wake:<id>``, a key that lives
for the moment it takes. While Redis is unreachable, ``publish`` raises BrokerError,
``health`` is not ok, ``since`` returns None (the gap cannot be filled), ``position`` returns
the last seq this process saw, and the reader retries with backoff; it resumes after its
last id, or from the start of the new stream when the epoch changed.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import uuid
from dataclasses import fields
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..events import Event
from .base import BrokerError, Envelope, Listener, Listeners, Published

log = logging.getLogger("tessera.brokers.redis")

DEFAULT_PREFIX = "tessera:"
DEDUP_SECONDS = 3600  # how long an idempotency key is remembered
MIN_KEPT = 1000  # entries the stream keeps at least, whatever ``history`` is
BLOCK_MS = 1000  # longest XREAD wait; after each idle wait the reader checks the epoch
READ_COUNT = 500  # entries per XREAD
BACKOFF = (0.1, 2.0)  # the reader's first and longest wait between reconnection attempts
SOCKET_TIMEOUT = 5.0  # also the longest wait for a free pooled connection
POOL_SIZE = 50  # connections per process at most (the reader holds one): a burst of publishers queues
CONNECT_TIMEOUT = 2.0

# Both scripts start a new epoch (and a new, empty stream and counter) when the epoch is missing.
_NEW_EPOCH = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('SET', KEYS[1], epoch)
end
"""
# KEYS: epoch, seq, stream. ARGV: a candidate epoch. Returns {epoch, position}.
EPOCH_SCRIPT = _NEW_EPOCH + "return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0')}"
# KEYS: epoch, seq, stream, idempotency key. ARGV: candidate epoch, envelope JSON, MAXLEN,
# window in seconds. Returns {epoch, seq, duplicate (0 or 1)}.
PUBLISH_SCRIPT = _NEW_EPOCH + """
local stored = redis.call('GET', KEYS[4])
if stored then return {epoch, tonumber(stored), 1} end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'epoch', epoch, 'envelope', ARGV[2])
redis.call('SET', KEYS[4], seq, 'EX', ARGV[4])
return {epoch, seq, 0}
"""
_SET_BY_BROKER = frozenset({"seq", "epoch"})


# -- envelopes in stream entries --------------------------------------------------------------
def encode_envelope(envelope: Envelope) -> str:
    """The JSON an entry holds: every Event field (CloudEvents attributes, extensions, ``user``)
    except ``seq`` and ``epoch``, which the entry's id and ``epoch`` field give; and the routing.
    Binary ``data`` is kept as ``data_base64``, as in the CloudEvents JSON format."""
    event = {f.name: getattr(envelope.event, f.name) for f in fields(Event) if f.name not in _SET_BY_BROKER}
    if isinstance(event.get("data"), (bytes, bytearray)):
        event["data_base64"] = base64.b64encode(event.pop("data")).decode("ascii")
    return json.dumps({"event": event, "scope": envelope.scope, "origin": envelope.origin, "key": envelope.key},
                      separators=(",", ":"))


def decode_envelope(text: str, seq: int, epoch: str) -> Envelope:
    """The stored envelope an entry holds; attributes this version's Event lacks are left out."""
    body = json.loads(text)
    event = body["event"]
    if "data_base64" in event:
        event["data"] = base64.b64decode(event.pop("data_base64"))
    known = {f.name for f in fields(Event)} - _SET_BY_BROKER
    stored = Event(**{name: value for name, value in event.items() if name in known}, seq=seq, epoch=epoch)
    return Envelope(stored, scope=body["scope"], origin=body["origin"], key=body["key"])


def entry_seq(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


# -- URLs -------------------------------------------------------------------------------------
def redacted(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _split_url(url: str) -> tuple[str, str | None]:
    """redis-py's URL (without ``prefix``), and the ``prefix`` query parameter if given."""
    parts = urlsplit(url)
    if parts.path not in ("", "/") and not parts.path.lstrip("/").isdigit():
        raise BrokerError(f"TESSERA_BROKER {redacted(url)!r}: the path must be a database number: "
                          "redis://HOST:PORT/DB")
    query = parse_qs(parts.query, keep_blank_values=True)
    prefix = query.pop("prefix", [None])[-1]
    return parts._replace(query=urlencode(query, doseq=True)).geturl(), prefix


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# -- the broker ------------------------------------------------------------------------------
class RedisBroker:
    """A broker on ``redis://HOST:PORT/DB``: history in Redis, fan-out by one reader thread.

    Every RedisBroker on the same Redis database and prefix shares one stream, so instances
    behave as one. Raises BrokerError when Redis cannot be reached.
    """

    def __init__(self, url: str, *, history: int = 10_000, prefix: str | None = None,
                 dedup_seconds: int = DEDUP_SECONDS):
        self.url = redacted(url)
        client_url, url_prefix = _split_url(url)
        self.prefix = prefix if prefix is not None else (url_prefix if url_prefix is not None else DEFAULT_PREFIX)
        self.history = max(history, 0)
        self.dedup_seconds = dedup_seconds
        self._keys = [self.prefix + name for name in ("epoch", "seq", "stream")]
        self._stream = self._keys[2]
        self._wake_key = f"{self.prefix}wake:{uuid.uuid4().hex}"
        self._listeners = Listeners()
        self._lock = threading.Lock()  # guards (epoch, position) as one pair
        self._closing = threading.Event()
        self._reader_error: str | None = None  # why the reader is not following the stream
        try:  # one bounded pool per broker (``?max_connections=N`` in the URL changes the bound);
            # one retry, at once, covers a pooled connection that Redis closed
            self._pool = redis.BlockingConnectionPool.from_url(
                client_url, decode_responses=True, max_connections=POOL_SIZE, timeout=SOCKET_TIMEOUT,
                socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT, retry=Retry(NoBackoff(), 1))
        except ValueError as error:
            raise BrokerError(f"TESSERA_BROKER {self.url!r}: {_one_line(error)}") from None
        self._redis = redis.Redis(connection_pool=self._pool)
        self._publish_script = self._redis.register_script(PUBLISH_SCRIPT)
        self._epoch_script = self._redis.register_script(EPOCH_SCRIPT)
        try:
            self._epoch, self._position = self._read_epoch()
        except RedisError as error:
            self._pool.disconnect()
            raise BrokerError(f"TESSERA_BROKER {self.url!r}: cannot reach Redis ({_one_line(error)}); "
                              "start Redis or correct the URL") from None
        except TypeError as error:  # redis-py passes unknown ?name=value options on to its connections
            raise BrokerError(f"TESSERA_BROKER {self.url!r}: an option of the URL is not a Redis "
                              f"connection option ({_one_line(error)})") from None
        self._reader = threading.Thread(target=self._read_loop, args=(self._epoch, self._position),
                                        name="tessera-redis-reader", daemon=True)
        self._reader.start()

    @property
    def epoch(self) -> str:
        """The epoch of the stream, as this process last saw it."""
        return self._epoch

    # -- the Broker protocol ------------------------------------------------------------------
    def publish(self, envelope: Envelope) -> Published:
        keys = [*self._keys, f"{self.prefix}key:{envelope.key}"]
        args = [_new_epoch(), encode_envelope(envelope), max(self.history, MIN_KEPT), self.dedup_seconds]
        try:
            epoch, seq, duplicate = self._publish_script(keys=keys, args=args)
        except RedisError as error:
            raise BrokerError(f"Redis broker {self.url}: cannot store {envelope.event.type} event "
                              f"{envelope.event.id}: {_one_line(error)}") from None
        self._observe(epoch, seq)
        return Published(int(seq), duplicate=bool(duplicate))

    def listen(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def since(self, epoch: str, seq: int) -> list[Envelope] | None:
        if seq < 0:
            return None
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(self._keys[0]).get(self._keys[1])
                pipe.xrange(self._stream, min=f"{seq + 1}-0", max="+", count=max(self.history, 1))
                current, position, entries = pipe.execute()
        except RedisError as error:
            log.warning("Redis broker %s: cannot read history (%s)", self.url, _one_line(error))
            return None
        position = int(position or 0)
        if current is None:
            return None
        self._observe(current, position)
        if epoch != current or seq > position:
            return None
        if seq == position:
            return []
        if position - seq > self.history or not entries or entry_seq(entries[0][0]) != seq + 1:
            return None
        try:
            stored = [decode_envelope(f["envelope"], entry_seq(i), f["epoch"]) for i, f in entries
                      if f["epoch"] == epoch]
        except (KeyError, TypeError, ValueError) as error:
            log.error("Redis broker %s: unreadable history after seq %d (%s)", self.url, seq, _one_line(error))
            return None
        return stored if len(stored) == len(entries) else None

    def position(self) -> int:
        """The latest seq in Redis; while Redis is unreachable, the latest this process saw."""
        try:
            epoch, position = self._redis.mget(self._keys[:2])
        except RedisError:
            return self._position
        if epoch is not None:
            self._observe(epoch, int(position or 0))
        return self._position

    def health(self) -> dict:
        body: dict[str, Any] = {"ok": False, "url": self.url, "epoch": self._epoch, "seq": self._position,
                                "error": None}
        try:
            epoch, position = self._redis.mget(self._keys[:2])
        except RedisError as error:
            body["error"] = f"Redis broker {self.url} is unreachable: {_one_line(error)}"
            return body
        if epoch is not None:
            self._observe(epoch, int(position or 0))
            body |= {"epoch": self._epoch, "seq": self._position}
        if self._reader_error is not None:
            body["error"] = f"Redis broker {self.url}: the event reader is reconnecting ({self._reader_error})"
        elif not self._reader.is_alive():
            body["error"] = f"Redis broker {self.url}: the event reader has stopped"
        else:
            body["ok"] = True
        return body

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self._listeners.clear()
        try:  # wake the reader from its XREAD
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.xadd(self._wake_key, {"close": "1"}).expire(self._wake_key, 60).execute()
        except RedisError:
            pass  # Redis is down: the reader is waiting to retry, and the event wakes it
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=SOCKET_TIMEOUT * 2 + 1)
        try:
            self._redis.delete(self._wake_key)
        except RedisError:
            pass
        self._pool.disconnect()

    # -- internals ----------------------------------------------------------------------------
    def _read_epoch(self) -> tuple[str, int]:
        """The stream's epoch and position, starting a new stream when Redis has none."""
        epoch, position = self._epoch_script(keys=self._keys, args=[_new_epoch()])
        return epoch, int(position)

    def _observe(self, epoch: str, seq: int, *, current: bool = True) -> None:
        """Note a position read from Redis. Only a ``current`` epoch (read from the epoch key, not
        from an entry the reader may still be catching up on) replaces the one we know."""
        with self._lock:
            if epoch != self._epoch:
                if current:
                    self._epoch, self._position = epoch, seq
            elif seq > self._position:
                self._position = seq

    def _read_loop(self, epoch: str, last: int) -> None:
        """Follow the stream from ``last`` of ``epoch``: deliver each entry once, in order. On an
        error retry with backoff, from ``last``; when the epoch changed, from the new stream's start."""
        delay, check_epoch = BACKOFF[0], False
        while not self._closing.is_set():
            try:
                if check_epoch:
                    epoch, last = self._current_epoch(epoch, last)
                reply = self._redis.xread({self._stream: f"{last}-0", self._wake_key: "0-0"},
                                          count=READ_COUNT, block=BLOCK_MS)
                if self._reader_error is not None:
                    log.warning("Redis broker %s: reconnected; resuming after seq %d of epoch %s",
                                self.url, last, epoch)
                self._reader_error, delay = None, BACKOFF[0]
                entries = _entries(reply, self._stream)
                check_epoch = not entries  # an idle wait: was the stream replaced meanwhile?
                for entry_id, entry in entries:
                    if entry.get("epoch") != epoch:
                        check_epoch = True  # a new stream grew past our position
                        break
                    last = self._deliver(entry_id, entry, epoch, last)
            except Exception as error:  # RedisError: an outage; anything else: a bug. Never a silent end.
                if self._closing.is_set():
                    break
                if not isinstance(error, RedisError):
                    log.exception("Redis broker %s: the event reader failed; retrying", self.url)
                elif self._reader_error is None:
                    log.warning("Redis broker %s: lost its connection (%s); retrying, then resuming after seq %d",
                                self.url, _one_line(error), last)
                self._reader_error = _one_line(error)
                self._closing.wait(delay * random.uniform(0.8, 1.2))
                delay, check_epoch = min(delay * 2, BACKOFF[1]), True

    def _current_epoch(self, epoch: str, last: int) -> tuple[str, int]:
        """Where the reader goes on: still ``last`` of ``epoch``, or 0 of a new epoch when the stream was lost."""
        current, position = self._read_epoch()
        self._observe(current, position)
        if current == epoch:
            return epoch, last
        log.warning("Redis broker %s: the stream of epoch %s is lost; following epoch %s from its start",
                    self.url, epoch, current)
        return current, 0

    def _deliver(self, entry_id: str, entry: dict[str, str], epoch: str, last: int) -> int:
        seq = entry_seq(entry_id)
        if seq != last + 1:
            log.error("Redis broker %s: seqs %d to %d were trimmed before this process read them; "
                      "raise TESSERA_HISTORY", self.url, last + 1, seq - 1)
        try:
            envelope = decode_envelope(entry["envelope"], seq, epoch)
        except (KeyError, TypeError, ValueError) as error:
            log.error("Redis broker %s: skipping unreadable entry %s (%s)", self.url, entry_id, _one_line(error))
            return seq
        self._observe(epoch, seq, current=False)
        self._listeners.call(envelope)
        return seq


def _entries(reply: Any, stream: str) -> list[tuple[str, dict[str, str]]]:
    """The stream's entries in an XREAD reply (RESP2 list or RESP3 map)."""
    streams = reply.items() if isinstance(reply, dict) else (reply or [])
    for name, entries in streams:
        if name == stream:
            return [(entry_id, entry) for entry_id, entry in entries]
    return []


def _new_epoch() -> str:
    return uuid.uuid4().hex[:12]
