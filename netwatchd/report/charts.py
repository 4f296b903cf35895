"""The report's charts, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

Each function takes plain figures and returns PNG bytes (or None when there is nothing to draw).
Charts are sized for the text width of an A4 page (about 180 mm).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from netwatchd.report import words
from netwatchd.report.data import ReportInputs
from netwatchd.report.stats import PARTS, Report

STATE_COLOURS = {"up": "#2e7d32", "degraded": "#f9a825", "down": "#c62828", "parent": "#8d6e63", "path": "#7e57c2",
                 "maintenance": "#1e88e5", "blind": "#424242", "unknown": "#e0e0e0"}
"""Colour of each part of a site's time (the timeline is drawn by part, not by raw state)."""
WIDTH_IN = 7.1
MAX_TIMELINE_SITES = 30   # keeps the chart on one A4 page


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _date_axis(ax, tz: tzinfo) -> None:
    locator = mdates.AutoDateLocator(tz=tz, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))


def availability_timeline(report: Report, tz: tzinfo, limit: int = MAX_TIMELINE_SITES,
                          language: str = "en") -> bytes | None:
    """One bar per site coloured by part of time over the window (lowest availability at the top)."""
    sites = [s for s in report.sites if s.classified]
    if not sites:
        return None
    sites.sort(key=lambda s: (s.availability_percent is None, s.availability_percent or 0.0, s.site.name))
    sites = sites[:limit]
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.2 + 0.24 * len(sites)), layout="constrained")
    start_num = mdates.date2num(report.since)
    epoch = mdates.date2num(datetime(1970, 1, 1, tzinfo=timezone.utc))   # matplotlib days at the Unix epoch
    boxes: dict[str, list[list[tuple[float, float]]]] = {}   # one collection per state: fast to draw
    for row, site in enumerate(reversed(sites)):
        for seg in site.classified:
            left = epoch + seg.start.timestamp() / 86400.0
            right = left + seg.seconds / 86400.0
            boxes.setdefault(seg.state, []).append(
                [(left, row - 0.4), (left, row + 0.4), (right, row + 0.4), (right, row - 0.4)])
    for state, polygons in boxes.items():
        ax.add_collection(PolyCollection(polygons, facecolors=STATE_COLOURS.get(state, "#e0e0e0"),
                                         edgecolors="none"))
    ax.set_yticks(range(len(sites)))
    ax.set_yticklabels([s.site.name for s in reversed(sites)], fontsize=7)
    ax.set_xlim(start_num, mdates.date2num(report.until))
    ax.set_ylim(-0.6, len(sites) - 0.4)
    _date_axis(ax, tz)
    shown = [p for p in PARTS if p in boxes]
    handles = [plt.Rectangle((0, 0), 1, 1, color=STATE_COLOURS[p]) for p in shown]
    ax.legend(handles, [words.part_word(language, p) for p in shown], ncol=4, fontsize=7, loc="upper center",
              bbox_to_anchor=(0.5, -0.12 if len(sites) > 6 else -0.3), frameon=False)
    title = words.word(language, "state_over_time")
    if len(report.sites) > len(sites):
        title += f" ({len(sites)} / {len(report.sites)})"
    ax.set_title(title, fontsize=9)
    return _png(fig)


def daily_uptime(report: Report, language: str = "en") -> bytes | None:
    """Own availability per day across the sites in the report (mean of the sites with data)."""
    days = sorted({d for s in report.sites for d in s.daily_availability})
    values: list[float | None] = []
    for day in days:
        figures = [s.daily_availability.get(day) for s in report.sites]
        known = [v for v in figures if v is not None]
        values.append(sum(known) / len(known) if known else None)
    if not any(v is not None for v in values):
        return None
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.4), layout="constrained")
    shown = [v if v is not None else 0.0 for v in values]
    colours = ["#c62828" if (v is not None and v < 99.0) else "#2e7d32" for v in values]
    ax.bar(range(len(days)), shown, color=colours)
    ax.set_xticks(range(len(days)), [d.strftime("%d %b") for d in days])
    low = min(v for v in values if v is not None)
    ax.set_ylim(max(0.0, min(low - 1.0, 99.0)), 100.05)
    ax.set_ylabel("%", fontsize=8)
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(words.word(language, "daily") + " (< 99 %: red)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def latency_over_time(inputs: ReportInputs, tz: tzinfo, language: str = "en") -> bytes | None:
    """Average rtt per rollup bucket: one line per site for a few sites, else mean and worst site."""
    if not inputs.latency_series and not inputs.latency_summary:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.6), layout="constrained")

    def stamp(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)

    if inputs.latency_series:
        for name in sorted(inputs.latency_series):
            points = inputs.latency_series[name]
            ax.plot([stamp(ms) for ms, _ in points], [v for _, v in points],  # type: ignore[arg-type]
                    linewidth=0.9, label=name)
        ax.legend(fontsize=6, ncol=4, frameon=False)
    else:
        stamps = [stamp(ms) for ms, _, _ in inputs.latency_summary]
        ax.plot(stamps, [mean for _, mean, _ in inputs.latency_summary],  # type: ignore[arg-type]
                linewidth=1.0, label="mean of sites")
        ax.plot(stamps, [worst for _, _, worst in inputs.latency_summary],  # type: ignore[arg-type]
                linewidth=0.7, color="#c62828", label="worst site")
        ax.legend(fontsize=7, frameon=False)
    ax.set_ylabel("rtt ms", fontsize=8)
    ax.tick_params(labelsize=7)
    _date_axis(ax, tz)
    ax.set_title(words.word(language, "latency") + " (rtt)", fontsize=9)
    ax.grid(alpha=0.3)
    return _png(fig)


def delivery_histogram(latencies_ms: Sequence[float], language: str = "en") -> bytes | None:
    """How long alerts took from detection to Telegram's acknowledgement; the 1 s line marked."""
    if not latencies_ms:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.4), layout="constrained")
    top = max(max(latencies_ms), 1200.0)
    ax.hist(latencies_ms, bins=min(40, max(5, len(latencies_ms) // 2)), range=(0, top), color="#1565c0")
    ax.axvline(1000.0, color="#c62828", linestyle="--", linewidth=1)
    ax.annotate("1 s", xy=(1000.0, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                textcoords="offset points", color="#c62828", fontsize=8)
    ax.set_xlabel("ms", fontsize=8)
    ax.set_ylabel(words.word(language, "messages"), fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(words.word(language, "delivery"), fontsize=9)
    return _png(fig)


def split_bars(report: Report, language: str = "en", limit: int = MAX_TIMELINE_SITES) -> bytes | None:
    """One horizontal bar per site: the share of each part of its time (lowest availability first)."""
    sites = [s for s in report.sites if sum(s.parts.values()) > 0]
    if not sites:
        return None
    sites.sort(key=lambda s: (s.availability_percent is None, s.availability_percent or 0.0, s.site.name))
    sites = list(reversed(sites[:limit]))
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.0 + 0.22 * len(sites)), layout="constrained")
    left = [0.0] * len(sites)
    for part in PARTS:
        shares = [100.0 * s.parts.get(part, 0.0) / sum(s.parts.values()) for s in sites]
        if not any(shares):
            continue
        ax.barh(range(len(sites)), shares, left=left, color=STATE_COLOURS[part],
                label=words.part_word(language, part), height=0.7)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.set_yticks(range(len(sites)), [s.site.name for s in sites], fontsize=7)
    ax.set_xlim(0, 100)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1 if len(sites) > 6 else -0.3),
              frameon=False)
    ax.set_title(words.word(language, "split") + " (%)", fontsize=9)
    return _png(fig)
