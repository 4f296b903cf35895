"""Who may command the bot, and how often.

Authorization: the user must be in `telegram.admins` (every command) or `telegram.viewers` (the
commands that only read: VIEWER_COMMANDS) AND write either in a private chat with the bot or in
a chat netwatchd posts to (telegram.chat_ids, the routes' and the escalation levels' chats).
Everything else is refused before any router is asked.
Rate limits (`telegram.rate_limit`): a token bucket per user, on an injected monotonic clock so
tests never sleep. An admin is never met with silence: beyond the allowance a command is queued
and the admin told "busy"; a stranger's messages beyond theirs are dropped, and a stranger hears
"not allowed" at most once a minute. A viewer is limited as an admin is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from netwatchd.config.model import RateLimitSpec, TelegramSpec
from netwatchd.engine.incidents import VIEWER, role_of

NOT_ADMIN = "not_admin"
CHAT_NOT_ALLOWED = "chat_not_allowed"
VIEWER_ONLY = "viewer_only"

VIEWER_COMMANDS = frozenset({"help", "start", "menu", "monitor", "status", "history", "report"})
"""What a viewer may run: the commands that only read netwatchd's own state (no router is asked,
no probe is sent, nothing is changed)."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""            # "" | NOT_ADMIN | CHAT_NOT_ALLOWED | VIEWER_ONLY
    role: str | None = None     # ADMIN | VIEWER | None


def authorize(telegram: TelegramSpec, *, user_id: int | None, chat_id: int, chat_type: str,
              command: str | None = None) -> Decision:
    """Decide whether `user_id` may run `command` (None: any) in chat `chat_id` of type `chat_type`."""
    role = role_of(user_id, telegram.admins, telegram.viewers)
    if role is None:
        return Decision(False, NOT_ADMIN)
    if role == VIEWER and (command is None or command not in VIEWER_COMMANDS):
        return Decision(False, VIEWER_ONLY, role)
    if chat_type == "private" or chat_id in telegram.known_chats:
        return Decision(True, role=role)
    return Decision(False, CHAT_NOT_ALLOWED, role)


class TokenBucket:
    """`capacity` commands at once, then one every 1/`per_second` seconds.

    `reserve()` may overdraw it: the balance goes below zero and the caller waits until the
    token it took has come back (the admins' queue)."""

    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.tokens = capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.per_second)
        self.updated = max(self.updated, now)

    def take(self, now: float) -> bool:
        """Consume one token if available; returns whether it was."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until one more token would be there (0.0: now)."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.per_second)

    def reserve(self, now: float) -> float:
        """Take one token, now or on credit; returns the seconds until it is really there."""
        wait = self.wait(now)
        self.tokens -= 1.0
        return wait

    def full(self, now: float) -> bool:
        return self.tokens + max(0.0, now - self.updated) * self.per_second >= self.capacity


RUN, QUEUE, FULL = "run", "queue", "full"
TELL, QUIET, DROP = "tell", "quiet", "drop"
REFUSAL_EVERY = 60.0
"""A stranger is told "not allowed" at most once in this many seconds."""


@dataclass(frozen=True)
class Admission:
    """What to do with an admin's command: RUN it now, QUEUE it (it runs in `wait` seconds;
    `queued` of the admin's commands wait then, this one included), or not run it at all (FULL:
    `queued` wait already and the queue is free again in about `wait` seconds)."""

    verdict: str
    wait: float = 0.0
    queued: int = 0


class RateLimiter:
    """Per-user allowances, on an injected monotonic clock (tests never sleep). Thread-safe.

    Admins (`admit_admin`): a bucket of `admin_burst` refilled at `admin_per_second`; beyond it a
    command is queued on credit (at most `admin_burst` waiting), never refused in silence.
    Strangers (`admit_stranger`): a bucket of `stranger_burst` at `stranger_per_second`; beyond it
    their messages are dropped, within it refused, and told so at most once per REFUSAL_EVERY.
    """

    MAX_TRACKED = 10_000

    def __init__(self, monotonic: Callable[[], float], limits: RateLimitSpec | None = None) -> None:
        self._monotonic = monotonic
        self.limits = limits or RateLimitSpec()
        self._admins: dict[int, TokenBucket] = {}
        self._strangers: dict[int, TokenBucket] = {}
        self._queued: dict[int, int] = {}
        self._told: dict[int, float] = {}
        self._lock = threading.Lock()

    def configure(self, limits: RateLimitSpec) -> None:
        """New limits (a reload): every user starts again with a full allowance."""
        with self._lock:
            if limits != self.limits:
                self.limits = limits
                self._admins.clear()
                self._strangers.clear()

    def admit_admin(self, user_id: int) -> Admission:
        now = self._monotonic()
        with self._lock:
            bucket = self._bucket(self._admins, user_id, self.limits.admin_burst, self.limits.admin_per_second, now)
            if bucket.take(now):
                return Admission(RUN)
            waiting = self._queued.get(user_id, 0)
            if waiting >= self.limits.admin_burst:
                return Admission(FULL, bucket.wait(now), waiting)
            self._queued[user_id] = waiting + 1
            return Admission(QUEUE, bucket.reserve(now), waiting + 1)

    def started(self, user_id: int) -> None:
        """A queued command of `user_id` has left the queue."""
        with self._lock:
            left = self._queued.get(user_id, 0) - 1
            if left > 0:
                self._queued[user_id] = left
            else:
                self._queued.pop(user_id, None)

    def admit_stranger(self, user_id: int) -> str:
        """TELL (refuse and say so), QUIET (refuse without a word) or DROP (beyond the allowance)."""
        now = self._monotonic()
        with self._lock:
            bucket = self._bucket(self._strangers, user_id, self.limits.stranger_burst,
                                  self.limits.stranger_per_second, now)
            if not bucket.take(now):
                return DROP
            told = self._told.get(user_id)
            if told is not None and now - told < REFUSAL_EVERY:
                return QUIET
            self._told[user_id] = now
            return TELL

    def _bucket(self, buckets: dict[int, TokenBucket], user_id: int, capacity: float, per_second: float,
                now: float) -> TokenBucket:
        bucket = buckets.get(user_id)
        if bucket is None:
            if len(buckets) >= self.MAX_TRACKED:
                self._forget_idle(buckets, now)
            bucket = buckets[user_id] = TokenBucket(capacity, per_second, now)
        return bucket

    def _forget_idle(self, buckets: dict[int, TokenBucket], now: float) -> None:
        """Drop buckets that have refilled completely and queue nothing (their users are not limited)."""
        idle = [user for user, bucket in buckets.items() if bucket.full(now) and user not in self._queued]
        for user in idle:
            del buckets[user]
        for user in [u for u, at in self._told.items() if now - at >= REFUSAL_EVERY]:
            del self._told[user]
