"""Pure conversions of the values RouterOS prints: durations, ping times, flags, timestamps."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

_UNIT_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6,
                 "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|ns|w|d|h|m|s)")
_CLOCK = re.compile(r"^(?:(\d+)d)?(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}


def ros_duration_seconds(value: Any) -> float:
    """'1w2d3h4m5s', '1ms234us', '00:01:30', '1d02:00:00', '10' (seconds) -> seconds.

    Raises ValueError for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a RouterOS duration: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    if not text:
        raise ValueError("empty duration")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    clock = _CLOCK.match(text)
    if clock:
        days, hours, minutes, seconds = clock.groups()
        return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    total, position = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != position:
            raise ValueError(f"not a RouterOS duration: {value!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f"not a RouterOS duration: {value!r}")
    return total


def ros_time_ms(value: Any) -> float | None:
    """A ping/netwatch time ('1ms234us', '845us', '12ms', '0.5ms') in milliseconds; None if absent or unreadable."""
    if value in (None, ""):
        return None
    try:
        return round(ros_duration_seconds(value) * 1000, 3)
    except ValueError:
        return None


def ros_bool(value: Any) -> bool:
    """RouterOS flags arrive as True/False (librouteros) or 'true'/'yes'/'false'/'no'."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes")


def ros_percent(value: Any) -> float | None:
    """'85%', '85.0%', '85' -> 85.0; None when absent or unreadable."""
    if value in (None, ""):
        return None
    try:
        return float(str(value).strip().rstrip("%"))
    except ValueError:
        return None


def ros_timestamp(value: Any, tz: tzinfo) -> datetime | None:
    """A router timestamp in its local time: v7 '2026-11-27 10:00:03' or v6 'nov/27/2026 10:00:03'.

    Returns an aware datetime in `tz` (the router's time zone), None when absent or unreadable.
    """
    text = str(value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        match = re.fullmatch(r"([a-z]{3})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})", text.lower())
        if not match or match.group(1) not in _MONTHS:
            return None
        month, day, year, hour, minute, second = match.groups()
        moment = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))
    return moment.replace(tzinfo=tz)
