"""Who may command the bot, and how often.

Authorization: the user must be in `telegram.admins` (every command) or `telegram.viewers` (the
commands that only read: VIEWER_COMMANDS) AND write either in a private chat with the bot or in
a chat netwatchd posts to (telegram.chat_ids, the routes' and the escalation levels' chats).
Everything else is refused before any router is asked.
Rate limit: a token bucket per user (burst `capacity`, refilled at `per_second`), on an injected
monotonic clock so tests never sleep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from netwatchd.config.model import TelegramSpec
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
    """`capacity` commands at once, then one every 1/`per_second` seconds."""

    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.tokens = capacity
        self.updated = now

    def take(self, now: float) -> bool:
        """Consume one token if available; returns whether it was."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    """One TokenBucket per user. `check(user)` -> "ok" | "limited" (tell them once) | "silent".

    The first refusal in a row is "limited" so the user hears "slow down" once; further refusals
    until a command is allowed again are "silent" so a flood cannot make the bot flood back.
    """

    def __init__(self, monotonic: Callable[[], float], *, capacity: float = 5, per_second: float = 0.5) -> None:
        self._monotonic = monotonic
        self._capacity = capacity
        self._per_second = per_second
        self._buckets: dict[int, TokenBucket] = {}
        self._warned: set[int] = set()
        self._lock = threading.Lock()

    MAX_TRACKED = 10_000

    def check(self, user_id: int) -> str:
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(user_id)
            if bucket is None:
                if len(self._buckets) >= self.MAX_TRACKED:
                    self._forget_idle(now)
                bucket = self._buckets[user_id] = TokenBucket(self._capacity, self._per_second, now)
            if bucket.take(now):
                self._warned.discard(user_id)
                return "ok"
            if user_id in self._warned:
                return "silent"
            self._warned.add(user_id)
            return "limited"

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled completely (their users are not limited any more)."""
        idle = [user for user, bucket in self._buckets.items()
                if bucket.tokens + (now - bucket.updated) * bucket.per_second >= bucket.capacity]
        for user in idle:
            del self._buckets[user]
            self._warned.discard(user)
