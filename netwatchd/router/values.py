"""Pure conversions of the values RouterOS prints: ping times, flags, numbers, timestamps (router, bot).

Durations are read by netwatchd.config.kinds.parse_duration (one grammar for hosts.yaml and RouterOS).
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from netwatchd.config.durations import parse_duration

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}


def ros_time_ms(value: Any) -> float | None:
    """A ping/netwatch time ('1ms234us', '845us', '12ms', '0.5ms') in milliseconds; None if absent or unreadable."""
    if value in (None, ""):
        return None
    try:
        return round(parse_duration(value) * 1000, 3)
    except ValueError:
        return None


def ros_bool(value: Any) -> bool:
    """RouterOS flags arrive as True/False (librouteros) or 'true'/'yes'/'false'/'no'."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes")


def ros_number(value: Any) -> float | None:
    """A RouterOS number as the API gives it: 7, '12.5', '85%' -> float; None when absent, a flag or
    unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
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
