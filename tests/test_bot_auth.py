"""Authorization matrix and the per-user token bucket (injected clock, no sleeping)."""

from __future__ import annotations

import pytest

from netwatchd.bot.auth import (
    CHAT_NOT_ALLOWED,
    DROP,
    FULL,
    NOT_ADMIN,
    QUEUE,
    QUIET,
    RUN,
    TELL,
    RateLimiter,
    TokenBucket,
    authorize,
)
from netwatchd.clock import FakeClock
from netwatchd.config.model import RateLimitSpec, TelegramSpec

TELEGRAM = TelegramSpec(token="x", admins=(111, 222), chat_ids=(-1001,))


@pytest.mark.parametrize("user, chat, chat_type, allowed, reason", [
    (111, 111, "private", True, ""),
    (222, 222, "private", True, ""),
    (111, -1001, "supergroup", True, ""),
    (111, -1002, "supergroup", False, CHAT_NOT_ALLOWED),     # admin, but in a chat nobody listed
    (111, -5, "group", False, CHAT_NOT_ALLOWED),
    (333, 333, "private", False, NOT_ADMIN),                 # a stranger in private
    (333, -1001, "supergroup", False, NOT_ADMIN),            # a stranger in the admins' group
    (None, -1001, "supergroup", False, NOT_ADMIN),           # anonymous group admin / channel post
])
def test_authorization_matrix(user: int | None, chat: int, chat_type: str, allowed: bool, reason: str) -> None:
    decision = authorize(TELEGRAM, user_id=user, chat_id=chat, chat_type=chat_type)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_no_admins_configured_means_nobody() -> None:
    assert not authorize(TelegramSpec(token="x"), user_id=111, chat_id=111, chat_type="private").allowed


def test_token_bucket_burst_then_refill() -> None:
    bucket = TokenBucket(capacity=3, per_second=0.5, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(1.0) is False     # half a token
    assert bucket.take(2.0) is True      # one token after 2 s
    assert bucket.take(100.0) and bucket.take(100.0) and bucket.take(100.0)
    assert bucket.take(100.0) is False   # never more than the capacity


def test_token_bucket_reservations_overdraw_it_and_say_when_each_token_is_there() -> None:
    bucket = TokenBucket(capacity=2, per_second=1.0, now=0.0)
    assert [bucket.reserve(0.0) for _ in range(5)] == [0.0, 0.0, 1.0, 2.0, 3.0]
    assert bucket.wait(0.0) == 4.0 and bucket.wait(3.5) == 0.5
    assert bucket.take(3.5) is False and bucket.take(4.0) is True


def test_an_admin_beyond_the_allowance_is_queued_and_never_refused_in_silence() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock.monotonic, RateLimitSpec(admin_burst=3, admin_per_second=1.0))
    got = [limiter.admit_admin(1) for _ in range(7)]
    assert [a.verdict for a in got] == [RUN, RUN, RUN, QUEUE, QUEUE, QUEUE, FULL]
    assert [(a.wait, a.queued) for a in got[3:6]] == [(1.0, 1), (2.0, 2), (3.0, 3)]
    assert (got[6].wait, got[6].queued) == (4.0, 3)            # the queue has room again in 4 s
    assert limiter.admit_admin(2).verdict == RUN                # another admin is not affected
    clock.advance(1.0)
    limiter.started(1)                                          # the first queued one runs
    nxt = limiter.admit_admin(1)
    assert (nxt.verdict, nxt.wait, nxt.queued) == (QUEUE, 3.0, 3)
    clock.advance(60)
    for _ in range(3):
        limiter.started(1)
    assert limiter.admit_admin(1).verdict == RUN                # refilled, nothing waiting


def test_a_stranger_is_told_at_most_once_a_minute_and_dropped_beyond_the_allowance() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock.monotonic, RateLimitSpec(stranger_burst=3, stranger_per_second=0.05))
    assert [limiter.admit_stranger(7) for _ in range(5)] == [TELL, QUIET, QUIET, DROP, DROP]
    clock.advance(20)                                           # one more message's worth
    assert [limiter.admit_stranger(7) for _ in range(2)] == [QUIET, DROP]
    clock.advance(40)                                           # a minute after the refusal
    assert limiter.admit_stranger(7) == TELL
    assert limiter.admit_stranger(8) == TELL                    # per stranger


def test_the_defaults_are_generous_for_admins_and_hard_for_strangers() -> None:
    limiter = RateLimiter(FakeClock().monotonic)
    assert [limiter.admit_admin(1).verdict for _ in range(21)] == [RUN] * 20 + [QUEUE]
    assert [limiter.admit_stranger(9) for _ in range(4)] == [TELL, QUIET, QUIET, DROP]


def test_rate_limiter_forgets_idle_users() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock.monotonic, RateLimitSpec(admin_burst=1, admin_per_second=1))
    limiter.MAX_TRACKED = 3
    for user in range(3):
        limiter.admit_admin(user)
    limiter.admit_admin(0)                 # queued: kept while it waits
    clock.advance(5)
    limiter.admit_admin(99)
    assert set(limiter._admins) == {0, 99}
