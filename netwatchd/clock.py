"""Time as a dependency: production uses SystemClock, tests a FakeClock they advance by hand.

Two clocks: `monotonic()` for everything that waits or measures (it never jumps), `now()` (wall
time) only to show and to store. The wall clock can step at any moment — an NTP correction, an
admin's `date -s`, a server whose CMOS battery died coming back in 2000 until NTP answers — so:

* `Deadline`: a moment to act at, on the monotonic clock; its wall time is derived to show and
  store, and a stored wall time is turned back into one with `Deadline.restore` (clamped: a
  restart has no shared monotonic base with the process that wrote it).
* `StepWatch`: notices a wall-clock step (the wall clock moved against the monotonic one), so a
  holder of stored wall times can shift them by the step and keep every difference true.

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
    """A clock that only moves when told to; `sleep` advances it instantly.

    `advance(s)` moves both clocks (time passes); `step(s)` moves the wall clock alone, as an
    NTP step or `date -s` does (negative: back)."""

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

    def step(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)


STEP_TOLERANCE = 1.0
"""Seconds the wall clock may move against the monotonic clock before it counts as a step (the two
are read one after the other, and NTP's slewing moves both at the same rate)."""


def wall_offset(clock: Clock) -> float:
    """Wall time minus monotonic time, in seconds: constant while nobody steps the wall clock."""
    return clock.now().timestamp() - clock.monotonic()


class StepWatch:
    """Notices wall-clock steps: `check()` returns by how many seconds the wall clock jumped since
    the last check (negative: back), 0.0 when it did not jump by more than `tolerance`.

    Not thread-safe: one holder per watch (each holder of stored wall times keeps its own)."""

    def __init__(self, clock: Clock, tolerance: float = STEP_TOLERANCE) -> None:
        self._clock = clock
        self._tolerance = tolerance
        self._offset = wall_offset(clock)

    def check(self) -> float:
        offset = wall_offset(self._clock)
        step = offset - self._offset
        if abs(step) <= self._tolerance:
            return 0.0
        self._offset = offset
        return step


def wall_of(clock: Clock, mono: float) -> datetime:
    """The wall time (in today's frame of the wall clock) of monotonic moment `mono`."""
    return clock.now() + timedelta(seconds=mono - clock.monotonic())


@dataclass(frozen=True)
class Deadline:
    """A moment to act at, in monotonic seconds: a wall-clock step does not move it.

    `wall()` is its wall time for showing and storing. Build one with `after(clock, seconds)`, or
    from a stored wall time with `restore`."""

    at: float

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        return cls(clock.monotonic() + max(0.0, seconds))

    @classmethod
    def restore(cls, clock: Clock, until: datetime, *, longest: float) -> Deadline:
        """A deadline stored as wall time `until` by a process whose monotonic clock is gone: due in
        `until - now`, but never more than `longest` seconds (a time further ahead was written
        before the wall clock stepped back) and never in the past beyond now."""
        remaining = (until - clock.now()).total_seconds()
        return cls.after(clock, min(max(0.0, remaining), max(0.0, longest)))

    def remaining(self, clock: Clock) -> float:
        """Seconds left (0.0 once passed)."""
        return max(0.0, self.at - clock.monotonic())

    def passed(self, clock: Clock) -> bool:
        return clock.monotonic() >= self.at

    def wall(self, clock: Clock) -> datetime:
        """When it falls on the wall clock as it reads now (to show or store)."""
        return wall_of(clock, self.at)


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
