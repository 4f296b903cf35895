"""Telegram's send limits (pure; time is passed in). The retry schedule is netwatchd.clock.Backoff."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

CONSOLE = "console"   # the console destination has no limits


class RateLimiter:
    """Telegram's send limits, on monotonic seconds. Thread-safe.

    `reserve(chat, now)` returns 0.0 and books a slot, or the seconds to wait."""

    def __init__(self, per_chat_interval: float = 1.0, group_per_minute: int = 20,
                 global_per_second: int = 30) -> None:
        self.per_chat_interval = per_chat_interval
        self.group_per_minute = group_per_minute
        self.global_per_second = global_per_second
        self._lock = threading.Lock()
        self._chat: dict[str, deque[float]] = {}
        self._global: deque[float] = deque()
        self._blocked_until: dict[str, float] = {}

    @staticmethod
    def is_group(chat_id: str) -> bool:
        return chat_id.startswith("-")

    def wait_for(self, chat_id: str, now: float) -> float:
        """Seconds until `chat_id` may send (0.0: now)."""
        with self._lock:
            return self._wait_locked(chat_id, now)

    def _wait_locked(self, chat_id: str, now: float) -> float:
        if chat_id == CONSOLE:
            return 0.0
        sent = self._chat.get(chat_id, deque())
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        while self._global and now - self._global[0] >= 1.0:
            self._global.popleft()
        waits = [self._blocked_until.get(chat_id, 0.0) - now]
        if sent:
            waits.append(sent[-1] + self.per_chat_interval - now)
        if self.is_group(chat_id) and len(sent) >= self.group_per_minute:
            waits.append(sent[-self.group_per_minute] + 60.0 - now)
        if len(self._global) >= self.global_per_second:
            waits.append(self._global[-self.global_per_second] + 1.0 - now)
        return max(0.0, *waits)

    def reserve(self, chat_id: str, now: float) -> float:
        with self._lock:
            wait = self._wait_locked(chat_id, now)
            if wait <= 0 and chat_id != CONSOLE:
                self._chat.setdefault(chat_id, deque()).append(now)
                self._global.append(now)
            return wait

    def block(self, chat_id: str, until: float) -> None:
        """Telegram said 429: nothing to this chat before `until`."""
        with self._lock:
            self._blocked_until[chat_id] = max(until, self._blocked_until.get(chat_id, 0.0))

    def seed(self, chat_id: str, sent_at: Sequence[float]) -> None:
        """Remember sends made before a restart (monotonic times, oldest first)."""
        with self._lock:
            self._chat[chat_id] = deque(sorted(sent_at))
