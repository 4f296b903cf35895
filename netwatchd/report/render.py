"""Report -> text (terminal), CSV (one row per site) and JSON (everything). Pure functions."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from netwatchd.report import words
from netwatchd.report.stats import PARTS, DeliveryStats, Outage, Report, SiteReport


def _local(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def availability_text(value: float | None) -> str:
    """'99.812 %' with three decimals (43 s a month moves the third); 'no data' for None."""
    return "no data" if value is None else f"{value:.3f} %"


def _iso(moment: datetime, tz: tzinfo | None) -> str:
    return (moment.astimezone(tz) if tz else moment).isoformat(timespec="milliseconds")


def site_to_dict(site: SiteReport, tz: tzinfo | None = None) -> dict[str, Any]:
    """Plain figures of one site; times in `tz` (with their offset) when given."""
    rtt = site.rtt
    return {
        "site": site.site.name, "group": site.site.group, "parent": site.site.parent,
        "availability_percent": site.availability_percent,
        "observable_s": round(site.observable_s, 3),
        "parts_s": {p: round(site.parts.get(p, 0.0), 3) for p in PARTS},
        "seconds": {k: round(v, 3) for k, v in site.seconds.items()},
        "downtime_s": round(site.downtime_s, 3), "outage_count": len(site.outages),
        "own_outage_count": len(site.own_outages),
        "longest_outage_s": round(site.longest_outage_s, 3),
        "mttr_s": site.mttr_s, "mtbf_s": site.mtbf_s, "degraded_s": round(site.degraded_s, 3),
        "path_s": round(site.path_s, 3),
        "outages": [{"start": _iso(o.start, tz), "end": _iso(o.end, tz),
                     "duration_s": round(o.seconds, 3), "cause": o.cause, "ongoing": o.ongoing,
                     "began_before_window": o.began_before_window, "own_s": round(o.own_s, 3),
                     "parent_s": round(o.parent_s, 3), "detail": o.detail,
                     "acknowledged_by": o.acknowledged_by or None,
                     "acknowledged_at": _iso(o.acknowledged_at, tz) if o.acknowledged_at else None,
                     "recovery": o.recovery or None}
                    for o in site.outages],
        "daily_availability_percent": {d.isoformat(): v for d, v in site.daily_availability.items()},
        "probes": rtt.probes, "failures": rtt.failures, "rtt_min_ms": rtt.rtt_min_ms,
        "rtt_avg_ms": rtt.rtt_avg_ms, "rtt_max_ms": rtt.rtt_max_ms, "loss_percent": rtt.loss_percent,
    }


def delivery_to_dict(stats: DeliveryStats) -> dict[str, Any]:
    return {"count": stats.count, "delivered": stats.delivered, "failures": stats.failures,
            "mean_ms": stats.mean_ms, "p50_ms": stats.p50_ms, "p95_ms": stats.p95_ms,
            "max_ms": stats.max_ms, "within_1s_percent": stats.within_1s_percent}


def to_dict(report: Report) -> dict[str, Any]:
    """Everything in the report; times in the report's zone with their UTC offset."""
    try:
        tz: tzinfo | None = ZoneInfo(report.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
    return {
        "since": _iso(report.since, tz), "until": _iso(report.until, tz), "timezone": report.timezone,
        "generated_at": _iso(report.generated_at, tz),
        "overall_availability_percent": report.overall_availability_percent,
        "parts_s": {p: round(v, 3) for p, v in report.parts.items()},
        "sites": [site_to_dict(s, tz) for s in report.sites],
        "delivery": delivery_to_dict(report.delivery),
        "notes": list(report.notes),
    }


def render_json(report: Report) -> str:
    """Indented for up to 100 sites; one compact line beyond (4x faster to write; use jq to read)."""
    indent = 2 if len(report.sites) <= 100 else None
    return json.dumps(to_dict(report), indent=indent, ensure_ascii=False) + "\n"


CSV_COLUMNS = ["site", "group", "availability_percent", "observable_s", "up_s", "degraded_s", "downtime_s",
               "parent_down_s", "maintenance_s", "blind_s", "unknown_s", "outage_count", "own_outage_count",
               "longest_outage_s", "mttr_s", "mtbf_s", "probes", "failures", "rtt_min_ms", "rtt_avg_ms",
               "rtt_max_ms", "loss_percent"]
_CSV_PARTS = {"up_s": "up", "parent_down_s": "parent", "maintenance_s": "maintenance", "blind_s": "blind",
              "unknown_s": "unknown"}


def render_csv(report: Report) -> str:
    """One row per site; empty cells mean no data. downtime_s is the site's own downtime; the
    *_s columns from observable_s to unknown_s split the whole window."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for site in report.sites:
        data = site_to_dict(site)
        data.update({column: data["parts_s"][part] for column, part in _CSV_PARTS.items()})
        writer.writerow(["" if data[c] is None else (round(data[c], 4) if isinstance(data[c], float) else data[c])
                         for c in CSV_COLUMNS])
    return out.getvalue()


def delivery_lines(stats: DeliveryStats, language: str = "en") -> list[str]:
    if stats.count == 0:
        return ["  " + words.word(language, "no_notifications")]
    n = lambda v: "-" if v is None else words.number(v, 0, language)  # noqa: E731
    lines = [f"  {words.word(language, 'messages').lower()} {stats.count}, "
             f"{words.word(language, 'delivered').lower()} {stats.delivered}, "
             f"{words.word(language, 'failed').lower()} {stats.failures}"]
    within = stats.within_1s_percent
    if stats.delivered:
        lines.append(f"  latency mean {n(stats.mean_ms)} ms, p50 {n(stats.p50_ms)} ms, "
                     f"p95 {n(stats.p95_ms)} ms, max {n(stats.max_ms)} ms; "
                     f"{words.word(language, 'within_1s')}: "
                     f"{'-' if within is None else words.percent(within, language, 1)}")
    return lines


def split_line(parts: dict[str, float], language: str = "en") -> str:
    """'up 95.100 %, degraded 0.500 %, own downtime ...' of the whole window (parts that are 0 left out)."""
    total = sum(parts.values())
    if total <= 0:
        return "-"
    return ", ".join(f"{words.part_word(language, p)} {words.percent(100.0 * parts[p] / total, language)}"
                     f" ({words.duration(parts[p], language)})" for p in PARTS if parts.get(p, 0.0) > 0)


_SHORT = {"en": ("SITE", "AVAILABILITY", "OWN DOWN", "PARENT", "MAINT", "BLIND", "OUTAGES", "LONGEST", "DEGRADED",
                 "PATH"),
          "id": ("SITUS", "KETERSEDIAAN", "PUTUS", "INDUK", "PEMEL", "BUTA", "GANGGUAN", "TERLAMA", "TERGANGGU",
                 "JALUR")}


def render_text(report: Report, tz: tzinfo, language: str = "en") -> str:
    """A table for a terminal or an e-mail."""
    w = lambda key, **kw: words.word(language, key, **kw)  # noqa: E731
    d = lambda seconds: words.duration(seconds, language)  # noqa: E731
    lines = [
        w("text_title"),
        f"{w('window'):<9} {_local(report.since, tz)} .. {_local(report.until, tz)} ({report.timezone})",
        f"{w('overall'):<9} {words.percent(report.overall_availability_percent, language)} "
        f"{w('over_sites', n=len(report.sites))} ({w('headline_note')})",
        f"{w('time'):<9} {split_line(report.parts, language)}",
        *(f"{w('note'):<9} {note}" for note in report.notes),
        "",
    ]
    short = _SHORT[words.lang(language)]
    header = (f"{short[0]:<20} {short[1]:>12} {short[2]:>10} {short[3]:>10} {short[4]:>10} {short[5]:>10} "
              f"{short[6]:>7} {short[7]:>10} {'MTTR':>10} {'MTBF':>11} {short[8]:>10} {short[9]:>10} {'RTT AVG':>8} "
              f"{'RTT MAX':>8} {'LOSS':>6}")
    lines += [header, "-" * len(header)]
    num = lambda v: "-" if v is None else words.number(v, 1, language)  # noqa: E731
    for site in report.sites:
        rtt = site.rtt
        lines.append(
            f"{site.site.name[:20]:<20} {words.percent(site.availability_percent, language):>12} "
            f"{d(site.downtime_s):>10} {d(site.parts.get('parent', 0.0)):>10} "
            f"{d(site.parts.get('maintenance', 0.0)):>10} {d(site.parts.get('blind', 0.0)):>10} "
            f"{len(site.outages):>7} {d(site.longest_outage_s):>10} {d(site.mttr_s):>10} "
            f"{d(site.mtbf_s):>11} {d(site.degraded_s):>10} {d(site.path_s):>10} "
            f"{num(rtt.rtt_avg_ms):>8} {num(rtt.rtt_max_ms):>8} {num(rtt.loss_percent):>6}")
    lines += ["", w("outages").lower()]
    rows = [(o, s) for s in report.sites for o in s.outages]
    if not rows:
        lines.append("  -")
    for outage, site in sorted(rows, key=lambda pair: pair[0].start):
        end = w("ongoing") if outage.ongoing else _local(outage.end, tz)
        lines.append(f"  {site.site.name[:20]:<20} {_local(outage.start, tz)} .. {end:<16} "
                     f"{d(outage.seconds):>10}  {cause_text(outage, site, language)}")
    lines += ["", w("delivery").lower() + " (timing log)", *delivery_lines(report.delivery, language)]
    return "\n".join(lines) + "\n"


def cause_text(outage: Outage, site: SiteReport, language: str = "en") -> str:
    """The outage's cause in `language`, with the probe's error and who acknowledged it when known."""
    if outage.cause == "down":
        text = words.word(language, "cause_down") + (f": {outage.detail}" if outage.detail else "")
    elif site.site.parent:
        text = words.word(language, "cause_parent", parent=site.site.parent)
    else:
        text = words.word(language, "cause_unreachable")
    if outage.recovery:
        text += ", " + words.word(language, f"recovery_{outage.recovery}")
    if outage.acknowledged_by:
        text += f"; {words.word(language, 'acknowledged').lower()}: {outage.acknowledged_by}"
    return text
