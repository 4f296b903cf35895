"""Time as a dependency: production uses SystemClock, tests a FakeClock they advance by hand.

Also the time helpers every layer shares: `iso_ms`/`utc_ms` (how a moment is written down) and
`Backoff` (how long to wait after the n-th failure; the outbox and the bot's poll use it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    """What the logic asks of time. `now()` is an aware UTC datetime."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to; `sleep` advances it instantly."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 1, 0, 0, tzinfo=timezone.utc)
        self._mono = 1000.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)


def iso_ms(moment: datetime) -> str:
    """ISO 8601 with milliseconds and offset, e.g. 2026-01-05T08:00:00.123+07:00."""
    return moment.isoformat(timespec="milliseconds")


def utc_ms(moment: datetime) -> str:
    """How every moment is stored and served: ISO 8601 in UTC with milliseconds,
    e.g. 2026-01-05T01:00:00.123+00:00 (same width for every moment, so text order is time order)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Backoff:
    """Retry delay after the n-th failed attempt: `base * 2**(n-1)` seconds, at most `cap`, times a
    jitter factor in [1 - jitter, 1] drawn by the caller (`draw` in [0, 1], injectable for tests).

    The exponent is bounded: after ~1,000 failures (a weekend with a rejected token, a day without
    Telegram) 2**n would overflow a float and the retrying loop would die.
    """

    base: float = 1.0
    cap: float = 15.0
    jitter: float = 0.5

    def delay(self, attempts: int, draw: float = 0.0) -> float:
        raw = min(self.cap, self.base * (2.0 ** min(max(0, attempts - 1), 60)))
        return raw * (1.0 - self.jitter * draw)
