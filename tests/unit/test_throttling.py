"""The in-process limiter: hits on their way to Redis still count."""

import pytest

from core.throttling import RateLimiter


def test_hits_being_flushed_still_count():
    limiter = RateLimiter()
    # given: two of three hits taken, and a sync that has taken them but not heard back
    assert limiter.hit("message:u1", 3, 60) is None
    assert limiter.hit("message:u1", 3, 60) is None
    flush = limiter._take_pending()
    assert sum(hits for _name, _window, hits, _period in flush) == 2
    # when: two more hits arrive meanwhile
    third, fourth = limiter.hit("message:u1", 3, 60), limiter.hit("message:u1", 3, 60)
    # then: only one fits
    assert third is None
    assert fourth is not None


@pytest.mark.parametrize("reached_redis", [True, False])
def test_a_finished_flush_counts_its_hits_once(reached_redis):
    limiter = RateLimiter()
    limiter.hit("like:u1", 3, 60)
    limiter.hit("like:u1", 3, 60)
    flush = limiter._take_pending()
    if reached_redis:
        limiter._merge(flush, [2 for _ in flush])  # Redis's total: just these two
    else:
        limiter._failed(flush, RuntimeError("the connection went away"))
    assert limiter.hit("like:u1", 3, 60) is None
    assert limiter.hit("like:u1", 3, 60) is not None
