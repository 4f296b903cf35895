"""Telegram's send limits (pure; time is passed in). The retry schedule is netwatchd.clock.Backoff."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

CONSOLE = "console"   # the console destination has no limits

# Who asks for a slot. Alerts come first: a bot message (an admin's answer, a refusal) never takes
# a slot an alert is waiting for, and in a group it leaves ALERT_RESERVE of the 20 a minute to alerts.
ALERT = "alert"
BOT = "bot"
ALERT_RESERVE = 5           # of a group's messages per minute, kept for alerts
BOT_YIELD = 0.2             # how long a bot message waits before asking again while an alert waits


class RateLimiter:
    """Telegram's send limits, on monotonic seconds. Thread-safe.

    `reserve(chat, now)` returns 0.0 and books a slot, or the seconds to wait. One limiter is
    shared by the delivery worker (priority ALERT) and the command bot (priority BOT), so the bot's
    answers and refusals count against the same budget as the alerts and can never hold one back:
    while an alert for a chat waits for its slot, BOT reservations for that chat are refused, and
    in a group BOT reservations stop at `group_per_minute - alert_reserve` a minute."""

    def __init__(self, per_chat_interval: float = 1.0, group_per_minute: int = 20,
                 global_per_second: int = 30, alert_reserve: int = ALERT_RESERVE) -> None:
        self.per_chat_interval = per_chat_interval
        self.group_per_minute = group_per_minute
        self.global_per_second = global_per_second
        self._lock = threading.Lock()
        self._chat: dict[str, deque[float]] = {}
        self._global: deque[float] = deque()
        self._blocked_until: dict[str, float] = {}
        self.alert_reserve = max(0, min(alert_reserve, group_per_minute - 1))
        # chat -> monotonic time until which an alert is known to be waiting for a slot (it asks
        # again before then, renewing it; a lane that stops asking lets it lapse)
        self._alert_waiting: dict[str, float] = {}

    @staticmethod
    def is_group(chat_id: str) -> bool:
        return chat_id.startswith("-")

    def wait_for(self, chat_id: str, now: float, priority: str = ALERT) -> float:
        """Seconds until `chat_id` may send (0.0: now)."""
        with self._lock:
            return self._wait_locked(chat_id, now, priority)

    def alert_waiting(self, chat_id: str, now: float) -> bool:
        """Whether an alert for `chat_id` is waiting for a slot now."""
        with self._lock:
            return self._alert_waiting.get(chat_id, float("-inf")) > now

    def _wait_locked(self, chat_id: str, now: float, priority: str = ALERT, reserve: int | None = None) -> float:
        if chat_id == CONSOLE:
            return 0.0
        sent = self._chat.get(chat_id, deque())
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        while self._global and now - self._global[0] >= 1.0:
            self._global.popleft()
        waits = [self._blocked_until.get(chat_id, 0.0) - now]
        # Telegram allows a private chat short bursts over 1 a second (its FAQ), a group none over
        # 20 a minute: an admin's multi-part answer in private is not spread over seconds
        if sent and (priority == ALERT or self.is_group(chat_id)):
            waits.append(sent[-1] + self.per_chat_interval - now)
        if self.is_group(chat_id) and len(sent) >= self.group_per_minute:
            waits.append(sent[-self.group_per_minute] + 60.0 - now)
        if len(self._global) >= self.global_per_second:
            waits.append(self._global[-self.global_per_second] + 1.0 - now)
        if priority != ALERT:
            if self._alert_waiting.get(chat_id, float("-inf")) > now:
                waits.append(BOT_YIELD)
            kept = self.alert_reserve if reserve is None else max(0, min(reserve, self.group_per_minute - 1))
            bot_share = self.group_per_minute - kept
            if self.is_group(chat_id) and len(sent) >= bot_share:
                waits.append(sent[-bot_share] + 60.0 - now)
        return max(0.0, *waits)

    def reserve(self, chat_id: str, now: float, priority: str = ALERT, reserve: int | None = None) -> float:
        """Book a slot for one message to `chat_id` (0.0), or say how many seconds to wait. An ALERT
        that has to wait marks the chat so that BOT messages step aside until it has gone. A BOT
        request may name its own `reserve` (how many of a group's minute it leaves to alerts;
        default alert_reserve): the edits of alerts use it."""
        with self._lock:
            wait = self._wait_locked(chat_id, now, priority, reserve)
            if chat_id == CONSOLE:
                return wait
            if wait <= 0:
                self._chat.setdefault(chat_id, deque()).append(now)
                self._global.append(now)
                if priority == ALERT:
                    self._alert_waiting.pop(chat_id, None)
            elif priority == ALERT:
                # the lane asks again after min(wait, 5 s); a second more covers a busy scheduler
                self._alert_waiting[chat_id] = now + min(wait, 5.0) + 1.0
            return wait

    def busy(self, chat_id: str, now: float) -> bool:
        """Has a group used half its messages of the last minute (time to pack news together)?"""
        if not self.is_group(chat_id):
            return False
        with self._lock:
            sent = self._chat.get(chat_id, deque())
            return sum(1 for at in sent if now - at < 60.0) >= self.group_per_minute // 2

    def refund(self, chat_id: str, booked: float) -> None:
        """Give back the slot `reserve(chat_id, booked)` took: the request never reached Telegram
        (a network error, a proxy's 5xx), so it does not count against the chat's limits, and a
        long outage does not use up a group's 20 a minute for when Telegram is back."""
        with self._lock:
            sent = self._chat.get(chat_id)
            if sent is not None and booked in sent:
                sent.remove(booked)
            if booked in self._global:
                self._global.remove(booked)

    def block(self, chat_id: str, until: float) -> None:
        """Telegram said 429: nothing to this chat before `until`."""
        with self._lock:
            self._blocked_until[chat_id] = max(until, self._blocked_until.get(chat_id, 0.0))

    def seed(self, chat_id: str, sent_at: Sequence[float]) -> None:
        """Remember sends made before a restart (monotonic times, oldest first)."""
        with self._lock:
            self._chat[chat_id] = deque(sorted(sent_at))
