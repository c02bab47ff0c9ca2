"""The small mechanisms behind the limits: the send outbox and the rate limit."""

import threading
import time

from tessera.ratelimit import RateLimit
from tessera.outbox import Outbox


def test_outbox_is_fifo_and_bounded_in_characters():
    box = Outbox(limit=10)
    assert box.put("abcd") and box.put("efgh")
    assert not box.put("ijkl")  # 12 > 10: the page is not reading
    assert box.get() == "abcd"
    assert box.put("ijkl")
    assert [box.get(), box.get()] == ["efgh", "ijkl"]


def test_a_frame_larger_than_the_limit_fits_when_the_outbox_is_empty():
    box = Outbox(limit=3)
    assert box.put("a much longer frame")
    assert not box.put("x")


def test_put_with_timeout_waits_for_room():
    box = Outbox(limit=4)
    box.put("abcd")
    threading.Timer(0.05, box.get).start()
    assert box.put("efgh", timeout=5)


def test_put_with_timeout_gives_up():
    box = Outbox(limit=4)
    box.put("abcd")
    started = time.monotonic()
    assert not box.put("efgh", timeout=0.05)
    assert time.monotonic() - started >= 0.05


def test_close_wakes_the_reader_and_drops_what_is_queued():
    box = Outbox(limit=100)
    box.put("left behind")
    box.close()
    assert box.get() is None
    assert box.put("after close")  # accepted and dropped: nobody will send it


def test_rate_limit_allows_a_burst_of_twice_the_rate_then_refills():
    limit = RateLimit(rate=10)
    allowed = sum(limit.allow() for _ in range(50))
    assert allowed == 20
    limit.checked -= 0.5  # half a second later: 5 more tokens
    assert sum(limit.allow() for _ in range(50)) == 5
