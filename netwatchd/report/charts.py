"""The report's charts, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

Each function takes plain figures and returns PNG bytes (or None when there is nothing to draw).
Charts are sized for the text width of an A4 page (about 180 mm).
"""

from __future__ import annotations

import io
from datetime import datetime, timezone, tzinfo
from statistics import median
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from netwatchd.report.stats import Report, SiteReport  # noqa: E402

STATE_COLOURS = {"up": "#2e7d32", "degraded": "#f9a825", "down": "#c62828", "unreachable": "#757575",
                 "unknown": "#e0e0e0"}
WIDTH_IN = 7.1
MAX_TIMELINE_SITES = 40
MAX_LINES = 8


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _date_axis(ax, tz: tzinfo) -> None:
    locator = mdates.AutoDateLocator(tz=tz, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))


def availability_timeline(report: Report, tz: tzinfo, limit: int = MAX_TIMELINE_SITES) -> bytes | None:
    """One bar per site coloured by state over the window (lowest availability at the top)."""
    sites = [s for s in report.sites if s.segments]
    if not sites:
        return None
    sites.sort(key=lambda s: (s.availability_percent is None, s.availability_percent or 0.0, s.site.name))
    sites = sites[:limit]
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.9 + 0.28 * len(sites)))
    start_num = mdates.date2num(report.since)
    for row, site in enumerate(reversed(sites)):
        by_state: dict[str, list[tuple[float, float]]] = {}
        for seg in site.segments:
            left = mdates.date2num(seg.start)
            by_state.setdefault(seg.state, []).append((left, mdates.date2num(seg.end) - left))
        for state, spans in by_state.items():
            ax.broken_barh(spans, (row - 0.4, 0.8), facecolors=STATE_COLOURS.get(state, "#e0e0e0"))
    ax.set_yticks(range(len(sites)))
    ax.set_yticklabels([s.site.name for s in reversed(sites)], fontsize=7)
    ax.set_xlim(start_num, mdates.date2num(report.until))
    ax.set_ylim(-0.6, len(sites) - 0.4)
    _date_axis(ax, tz)
    handles = [plt.Rectangle((0, 0), 1, 1, color=STATE_COLOURS[s]) for s in STATE_COLOURS]
    ax.legend(handles, list(STATE_COLOURS), ncol=5, fontsize=7, loc="upper center",
              bbox_to_anchor=(0.5, -0.12 if len(sites) > 6 else -0.3), frameon=False)
    title = "State over time"
    if len(report.sites) > len(sites):
        title += f" ({len(sites)} sites with the lowest availability of {len(report.sites)})"
    ax.set_title(title, fontsize=9)
    return _png(fig)


def daily_uptime(report: Report) -> bytes | None:
    """Availability per day across the sites in the report (time-weighted)."""
    days = sorted({d for s in report.sites for d in s.daily_availability})
    values: list[float | None] = []
    for day in days:
        figures = [s.daily_availability.get(day) for s in report.sites]
        known = [v for v in figures if v is not None]
        values.append(sum(known) / len(known) if known else None)
    if not any(v is not None for v in values):
        return None
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.4))
    shown = [v if v is not None else 0.0 for v in values]
    colours = ["#c62828" if (v is not None and v < 99.0) else "#2e7d32" for v in values]
    ax.bar(range(len(days)), shown, color=colours)
    ax.set_xticks(range(len(days)), [d.strftime("%d %b") for d in days])
    low = min(v for v in values if v is not None)
    ax.set_ylim(max(0.0, min(low - 1.0, 99.0)), 100.05)
    ax.set_ylabel("available %", fontsize=8)
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("Daily availability (red: below 99 %)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def latency_over_time(series: Mapping[str, Sequence[tuple[int, float]]], tz: tzinfo,
                      sites: Sequence[SiteReport]) -> bytes | None:
    """Average rtt per rollup bucket: one line per site for a few sites, else median and worst."""
    wanted = [s.site.name for s in sites if series.get(s.site.name)]
    if not wanted:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.6))

    def times(points: Sequence[tuple[int, float]]) -> list[datetime]:
        return [datetime.fromtimestamp(ms / 1000, tz=timezone.utc) for ms, _ in points]

    if len(wanted) <= MAX_LINES:
        for name in wanted:
            points = series[name]
            ax.plot(times(points), [v for _, v in points], linewidth=0.9, label=name)
        ax.legend(fontsize=6, ncol=4, frameon=False)
    else:
        by_bucket: dict[int, list[float]] = {}
        for name in wanted:
            for ms, value in series[name]:
                by_bucket.setdefault(ms, []).append(value)
        buckets = sorted(by_bucket)
        stamps = times([(b, 0.0) for b in buckets])
        ax.plot(stamps, [median(by_bucket[b]) for b in buckets], linewidth=1.0, label="median of sites")
        ax.plot(stamps, [max(by_bucket[b]) for b in buckets], linewidth=0.7, color="#c62828",
                label="worst site")
        ax.legend(fontsize=7, frameon=False)
    ax.set_ylabel("rtt ms", fontsize=8)
    ax.tick_params(labelsize=7)
    _date_axis(ax, tz)
    ax.set_title("Latency over time (average rtt per rollup bucket)", fontsize=9)
    ax.grid(alpha=0.3)
    return _png(fig)


def delivery_histogram(latencies_ms: Sequence[float]) -> bytes | None:
    """How long alerts took from detection to Telegram's acknowledgement; the 1 s line marked."""
    if not latencies_ms:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.4))
    top = max(max(latencies_ms), 1200.0)
    ax.hist(latencies_ms, bins=min(40, max(5, len(latencies_ms) // 2)), range=(0, top), color="#1565c0")
    ax.axvline(1000.0, color="#c62828", linestyle="--", linewidth=1)
    ax.annotate("1 s", xy=(1000.0, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                textcoords="offset points", color="#c62828", fontsize=8)
    ax.set_xlabel("detection to delivered, ms", fontsize=8)
    ax.set_ylabel("messages", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title("Notification delivery latency", fontsize=9)
    return _png(fig)
