"""Who is muted right now: maintenance windows from the config plus mutes set from the bot.

Targets name a host or a group (case-insensitive). A one-off window is `[start, end)`; a start or
end written without an offset is read as UTC (as the MaintenanceWindow docstring says). A weekly
window repeats on `days` (0=Mon..6=Sun, empty = every day) from `daily_start` to `daily_end`
("HH:MM", "24:00" = end of day) in the configured time zone; a window whose end is not after its
start runs past midnight into the next day (the day listed is the day it starts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone, tzinfo

from netwatchd.clock import Clock, Deadline
from netwatchd.config.model import MaintenanceWindow
from netwatchd.errors import ConfigError


@dataclass(frozen=True)
class Mute:
    """A mute set by an admin (bot `/mute`): `target` is a host or group name, silent until `until`.

    `until` is wall time, to show and to store; `ends`, when set, is the same moment on the
    monotonic clock and decides (a wall-clock step then neither ends a mute early nor stretches
    it). `length` is how long it was set for (seconds; 0 when unknown)."""

    target: str
    until: datetime
    by: str = ""
    reason: str = ""
    ends: float | None = None
    length: float = 0.0
    set_at: datetime | None = None

    def active(self, now: datetime, mono: float | None = None) -> bool:
        """Still running at wall time `now` / monotonic `mono` (`ends` decides when both are known)."""
        if self.ends is not None and mono is not None:
            return self.ends > mono
        return self.until > now


def _moment(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"maintenance.{what}: {text!r} is not an ISO 8601 time "
                          "(e.g. 2026-01-05T22:00:00+07:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _minutes(text: str, what: str) -> int:
    """Minutes after midnight of "HH:MM" ("24:00" = the end of the day)."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError:
        hours, minutes = -1, -1
    if not (0 <= hours <= 23 and 0 <= minutes <= 59) and (hours, minutes) != (24, 0):
        raise ConfigError(f"maintenance.{what}: {text!r} is not a time of day HH:MM (00:00..24:00)")
    return hours * 60 + minutes


@dataclass(frozen=True)
class CompiledWindow:
    """A MaintenanceWindow with its times parsed once."""

    targets: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    days: tuple[int, ...]
    daily_start: int | None          # minutes after local midnight
    daily_end: int | None
    tz: tzinfo

    @classmethod
    def build(cls, window: MaintenanceWindow, tz: tzinfo) -> CompiledWindow:
        """Raises ConfigError when a time cannot be read."""
        return cls(
            targets=tuple(t.lower() for t in window.targets),
            start=_moment(window.start, "start") if window.start else None,
            end=_moment(window.end, "end") if window.end else None,
            days=tuple(window.days),
            daily_start=_minutes(window.daily_start, "daily_start") if window.daily_start else None,
            daily_end=_minutes(window.daily_end, "daily_end") if window.daily_end else None,
            tz=tz)

    def active(self, now: datetime) -> bool:
        """True while `now` (aware) is inside this window."""
        if self.daily_start is not None and self.daily_end is not None:
            local = now.astimezone(self.tz)
            # The window that started today, or the one that started yesterday and runs past midnight.
            for back in (0, 1):
                day = (local - timedelta(days=back)).date()
                if self.days and day.weekday() not in self.days:
                    continue
                midnight = datetime.combine(day, time(0), self.tz)
                begin = midnight + timedelta(minutes=self.daily_start)
                finish = midnight + timedelta(minutes=self.daily_end)
                if finish <= begin:
                    finish += timedelta(days=1)
                if begin <= local < finish:
                    return True
            return False
        if self.start is None and self.end is None:
            return False
        after_start = self.start is None or now >= self.start
        before_end = self.end is None or now < self.end
        return after_start and before_end


def compile_windows(windows: Sequence[MaintenanceWindow], tz: tzinfo) -> tuple[CompiledWindow, ...]:
    """Parse every window once; daily times are in `tz` (Config.tz). Raises ConfigError for an unreadable time."""
    return tuple(CompiledWindow.build(w, tz) for w in windows)


def muted_targets(windows: Sequence[CompiledWindow], mutes: Sequence[Mute], now: datetime,
                  mono: float | None = None) -> set[str]:
    """Lower-cased host/group names muted at wall time `now` (maintenance windows are calendar
    times: the wall clock decides) and monotonic `mono` (a mute's `ends`, when it has one)."""
    found: set[str] = set()
    for window in windows:
        if window.active(now):
            found.update(window.targets)
    for mute in mutes:
        if mute.active(now, mono):
            found.add(mute.target.lower())
    return found


_MuteKey = tuple[str, datetime, "datetime | None"]


def _key(mute: Mute) -> _MuteKey:
    return (mute.target.lower(), mute.until, mute.set_at)


class MuteTimers:
    """Monotonic ends for the mutes kept in the store (as wall `until` plus `set_at`).

    A stored mute seen for the first time ends in `until - now`, never more than its length
    (`until - set_at`: a time further ahead was written before the clock stepped back) and never
    in the past; from then on its end is a monotonic deadline, whatever the wall clock does.
    `shift(delta)` follows the store when the stored times were moved by a step. Not thread-safe."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._ends: dict[_MuteKey, Deadline] = {}

    def apply(self, stored: Sequence[Mute]) -> tuple[list[Mute], list[Mute]]:
        """(running, ended): the stored mutes with `ends` set, split by whether they still run."""
        running: list[Mute] = []
        ended: list[Mute] = []
        seen: dict[_MuteKey, Deadline] = {}
        for mute in stored:
            key = _key(mute)
            deadline = self._ends.get(key)
            if deadline is None:
                longest = mute.length if mute.length > 0 else (mute.until - self._clock.now()).total_seconds()
                deadline = Deadline.restore(self._clock, mute.until, longest=longest)
            seen[key] = deadline
            timed = replace(mute, ends=deadline.at)
            (ended if deadline.passed(self._clock) else running).append(timed)
        self._ends = seen
        return running, ended

    def known(self) -> list[tuple[str, datetime, datetime | None]]:
        """(target, until, set_at) of the mutes seen in the last apply()."""
        return list(self._ends)

    def shift(self, delta: timedelta) -> None:
        """The stored `until`/`set_at` of every known mute were moved by `delta` (a wall-clock step)."""
        self._ends = {(target, until + delta, set_at + delta if set_at else None): deadline
                      for (target, until, set_at), deadline in self._ends.items()}
