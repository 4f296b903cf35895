"""Who is muted right now: maintenance windows from the config plus mutes set from the bot.

Targets name a host or a group (case-insensitive). A one-off window is `[start, end)`; a start or
end written without an offset is read as UTC (as the MaintenanceWindow docstring says). A weekly
window repeats on `days` (0=Mon..6=Sun, empty = every day) from `daily_start` to `daily_end`
("HH:MM", "24:00" = end of day) in the configured time zone; a window whose end is not after its
start runs past midnight into the next day (the day listed is the day it starts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo

from netwatchd.config.model import MaintenanceWindow
from netwatchd.errors import ConfigError


@dataclass(frozen=True)
class Mute:
    """A mute set by an admin (bot `/mute`): `target` is a host or group name, silent until `until`."""

    target: str
    until: datetime
    by: str = ""
    reason: str = ""


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


def muted_targets(windows: Sequence[CompiledWindow], mutes: Sequence[Mute], now: datetime) -> set[str]:
    """Lower-cased host/group names muted at `now`."""
    found: set[str] = set()
    for window in windows:
        if window.active(now):
            found.update(window.targets)
    for mute in mutes:
        if mute.until > now:
            found.add(mute.target.lower())
    return found
