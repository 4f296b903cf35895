"""Formatting primitives for bot replies: HTML escaping, aligned tables, humanized numbers and
splitting a reply at Telegram's 4,096-character limit. Pure functions, no I/O."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from netwatchd.router.values import ros_number


def esc(value: Any) -> str:
    """HTML-escape any value for parse_mode=HTML (`<`, `>`, `&`); None becomes '-'."""
    return html.escape(plain(value), quote=False)


def plain(value: Any) -> str:
    """A value as a person reads it: never a Python repr (None -> '-', True -> 'yes')."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value) or "-"
    return str(value)


def table(headers: Sequence[str] | None, rows: Sequence[Sequence[Any]], *, right: Sequence[int] = ()) -> str:
    """A compact aligned table wrapped in <pre>, every cell escaped after alignment.

    `headers` None -> no header line (key/value blocks). `right` lists the column indexes to
    right-align (numbers). Trailing spaces are trimmed.
    """
    cells = ([[str(c) for c in headers]] if headers is not None else []) + [[plain(c) for c in row] for row in rows]
    if not cells:
        return "<pre></pre>"
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for row in cells:
        parts = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                 for i, cell in enumerate(row)]
        lines.append(" ".join(parts).rstrip())
    return "<pre>" + html.escape("\n".join(lines), quote=False) + "</pre>"


def bits_per_second(value: Any) -> str:
    """1234567 -> '1.2 Mbps' (SI, as RouterOS shows traffic)."""
    number = ros_number(value)
    if number is None:
        return "-"
    for unit, size in (("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3)):
        if number >= size:
            return f"{number / size:.1f} {unit}"
    return f"{number:.0f} bps"


def byte_size(value: Any) -> str:
    """1536 -> '1.5 KiB' (IEC, as RouterOS shows memory and counters)."""
    number = ros_number(value)
    if number is None:
        return "-"
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if number >= size:
            return f"{number / size:.1f} {unit}"
    return f"{number:.0f} B"


def duration(seconds: float) -> str:
    """A compact duration: 45s, 12m05s, 3h07m, 2d04h."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def local_time(moment: datetime | None, tz: tzinfo, now: datetime | None = None) -> str:
    """'14:03' when `moment` is on the same local day as `now`, else '27-11 14:03'; None -> '-'."""
    if moment is None:
        return "-"
    local = moment.astimezone(tz)
    if now is not None and now.astimezone(tz).date() == local.date():
        return local.strftime("%H:%M")
    return local.strftime("%d-%m %H:%M")


def ago(moment: datetime | None, now: datetime) -> str:
    """How long ago, compact ('3m05s'); '-' when unknown."""
    if moment is None:
        return "-"
    return duration((now - moment) / timedelta(seconds=1))


