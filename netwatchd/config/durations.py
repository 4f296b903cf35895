"""RouterOS durations, read and written: `parse_duration("1m30s") == 90.0`, `format_duration(0.5) == "500ms"`
(hosts.yaml, the bot, the router API, import-netwatch).

A module of its own (stdlib only) so that `netwatchd probe -t 500ms` does not import the YAML
reader with the config kinds; `netwatchd.config.kinds` re-exports both.
"""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decimal import Decimal

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|ns|s|m|h|d|w)")
_CLOCK_STYLE = re.compile(r"(\d+):([0-5]?\d):([0-5]?\d(?:\.\d+)?)")
_PLAIN_NUMBER = re.compile(r"\d+(\.\d+)?")


def parse_duration(value: object) -> float:
    """Seconds in a RouterOS duration, as hosts.yaml, the bot and the RouterOS API write them: `500ms`,
    `10s`, `1m`, `1h30m`, `1d`, `1w`, `1ms234us` (ping times), `00:01:30` or `1d02:00:00` (clock style,
    after optional units), or a plain number of seconds (int, float or numeric text).

    Raises ValueError for anything else, including negative, infinite and NaN values.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is not a duration")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration")
    from decimal import Decimal  # exact sums; loaded when a duration is first read (not with the agent)

    text = value.strip().lower()
    if _PLAIN_NUMBER.fullmatch(text):
        return float(Decimal(text))
    total, position = Decimal(0), 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += Decimal(match.group(1)) * _unit_seconds()[match.group(2)]
        position = match.end()
    clock = _CLOCK_STYLE.fullmatch(text, position)
    if clock:
        hours, minutes, seconds = clock.groups()
        total += Decimal(hours) * 3600 + Decimal(minutes) * 60 + Decimal(seconds)
        position = len(text)
    if not text or position != len(text):
        raise ValueError(f"{value!r} is not a duration")
    return float(total)


@functools.cache
def _unit_seconds() -> dict[str, Decimal]:
    from decimal import Decimal

    return {"w": Decimal(604800), "d": Decimal(86400), "h": Decimal(3600), "m": Decimal(60), "s": Decimal(1),
            "ms": Decimal("0.001"), "us": Decimal("0.000001"), "ns": Decimal("0.000000001")}


def format_duration(seconds: float) -> str:
    """The shortest RouterOS-style text for a whole number of milliseconds: 90 -> '1m30s',
    0.5 -> '500ms', 0 -> '0s'. parse_duration(format_duration(x)) == x for whole milliseconds."""
    from decimal import Decimal

    millis = int(Decimal(repr(float(seconds))).scaleb(3).to_integral_value())
    if millis == 0:
        return "0s"
    parts = []
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000),
                       ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
