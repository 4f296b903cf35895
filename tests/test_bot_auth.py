"""Authorization matrix and the per-user token bucket (injected clock, no sleeping)."""

from __future__ import annotations

import pytest

from netwatchd.bot.auth import CHAT_NOT_ALLOWED, NOT_ADMIN, RateLimiter, TokenBucket, authorize
from netwatchd.clock import FakeClock
from netwatchd.config.model import TelegramSpec

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


def test_rate_limiter_warns_once_then_stays_silent_per_user() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock.monotonic, capacity=2, per_second=0.5)
    assert [limiter.check(1) for _ in range(5)] == ["ok", "ok", "limited", "silent", "silent"]
    assert limiter.check(2) == "ok"      # another admin is not affected
    clock.advance(2)
    assert limiter.check(1) == "ok"
    assert limiter.check(1) == "limited"  # a new episode is announced again


def test_rate_limiter_forgets_idle_users() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock.monotonic, capacity=1, per_second=1)
    limiter.MAX_TRACKED = 3
    for user in range(3):
        limiter.check(user)
    clock.advance(5)
    limiter.check(99)
    assert set(limiter._buckets) == {99}
