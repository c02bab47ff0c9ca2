"""The small mechanisms behind the limits: the send outbox and the rate limit."""

import threading
import time

from tessera.ratelimit import RateLimit
from tessera.outbox import Outbox, Put


def owned(limit):
    """An outbox whose first frame the caller is writing (it owns the socket)."""
    box = Outbox(limit=limit)
    assert box.put("first", 5) is Put.WRITE
    return box


def test_the_first_frame_is_written_by_whoever_queues_it_and_the_rest_wait_their_turn():
    box = Outbox(limit=10)
    assert box.put("abcd", 4) is Put.WRITE  # nobody writes and nothing waits: the caller writes it
    assert box.put("efgh", 4) is Put.QUEUED and box.put("ijkl", 4) is Put.QUEUED
    assert box.next() == "efgh" and box.next() == "ijkl"
    assert box.next() is None  # nothing left: the owner gives the socket up
    assert box.put("mnop", 4) is Put.WRITE


def test_outbox_is_fifo_and_bounded_in_characters():
    box = owned(limit=10)
    assert box.put("abcd", 4) is Put.QUEUED and box.put("efgh", 4) is Put.QUEUED
    assert box.put("ijkl", 4) is Put.FULL  # 12 > 10: the page is not reading
    assert box.put("pong", 0) is Put.QUEUED  # control items are never refused
    assert box.next() == "abcd"
    assert box.put("ijkl", 4) is Put.QUEUED
    assert [box.next(), box.next(), box.next(), box.next()] == ["efgh", "pong", "ijkl", None]


def test_a_frame_larger_than_the_limit_fits_when_nothing_waits():
    box = owned(limit=3)
    assert box.put("a much longer frame", 19) is Put.QUEUED
    assert box.put("x", 1) is Put.FULL


def test_a_long_stream_through_one_owner_keeps_its_order():
    box = owned(limit=1_000_000)
    taken = []
    for n in range(1000):
        box.put(str(n), len(str(n)))
        if n % 3 == 0:
            taken.append(box.next())
    while (item := box.next()) is not None:
        taken.append(item)
    assert taken == [str(n) for n in range(1000)]


def test_put_with_timeout_waits_for_room():
    box = owned(limit=4)
    box.put("abcd", 4)
    threading.Timer(0.05, box.next).start()
    assert box.put("efgh", 4, timeout=5) is Put.QUEUED


def test_put_with_timeout_gives_up():
    box = owned(limit=4)
    box.put("abcd", 4)
    started = time.monotonic()
    assert box.put("efgh", 4, timeout=0.05) is Put.FULL
    assert time.monotonic() - started >= 0.05


def test_close_drops_what_is_queued_and_its_item_is_the_last_taken():
    box = owned(limit=100)
    box.put("left behind", 11)
    assert box.close("close") == (True, False)  # the owner writes it, after what it is writing
    assert box.close("another close") == (False, False)  # the first close wins
    assert box.put("after close", 11) is Put.QUEUED  # accepted and dropped: nobody will send it
    assert [box.next(), box.next()] == ["close", None]
    assert box.put("later", 5) is Put.QUEUED and box.next() is None  # nobody writes again


def test_close_while_nobody_writes_makes_the_closer_write_it():
    box = Outbox(limit=100)
    assert box.close("close") == (True, True)
    assert box.put("after close", 11) is Put.QUEUED and box.next() is None


def test_rate_limit_allows_a_burst_of_twice_the_rate_then_refills():
    limit = RateLimit(rate=10)
    allowed = sum(limit.allow() for _ in range(50))
    assert allowed == 20
    limit.checked -= 0.5  # half a second later: 5 more tokens
    assert sum(limit.allow() for _ in range(50)) == 5
