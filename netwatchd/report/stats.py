"""Report arithmetic (pure): state changes + rollup summaries + delivery records -> figures.

Availability of a site over a window = time up or degraded / time with a known state
(up, degraded, down, unreachable). Time before the first known state ("unknown", agent not yet
watching) counts for nothing, so a site with no data at all has availability None ("no data"),
never 100 %. An outage is a run of down and/or unreachable time; its cause is "down", or
"unreachable (parent X down)" when the whole run was the parent's fault. Outages are clipped to
the window; `ongoing` marks one still open at the window's end.
MTTR = mean duration of the outages that ended inside the window; MTBF = available time /
number of outages that began inside the window (None when there were none).
Delivery figures come from the timing log records (netwatchd.notify: one JSON line per message).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

KNOWN_STATES = ("up", "degraded", "down", "unreachable")
AVAILABLE_STATES = ("up", "degraded")
OUTAGE_STATES = ("down", "unreachable")
# events whose to_state is not the site's new state: a Netwatch cross-check records what the ROUTER
# said (or that both agree again), never a change of netwatchd's own state
NOT_STATE_CHANGES = frozenset({"startup", "uplink_lost", "uplink_back", "crosscheck", "crosscheck_agree"})
DELIVERED = frozenset({"sent", "delivered", "ok"})


@dataclass(frozen=True)
class SiteInfo:
    name: str
    group: str = ""
    parent: str | None = None
    address: str = ""


@dataclass(frozen=True)
class StateChange:
    """One recorded transition (events table): from `at` on, the host is `to_state`."""

    host: str
    at: datetime
    to_state: str
    from_state: str = "unknown"
    kind: str = "state"


@dataclass(frozen=True)
class Segment:
    state: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Outage:
    start: datetime
    end: datetime
    cause: str
    ongoing: bool = False
    began_before_window: bool = False

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class RttSummary:
    """From rollups: probe counts and rtt/loss over the window."""

    probes: int = 0
    failures: int = 0
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    loss_percent: float | None = None


@dataclass(frozen=True)
class SiteReport:
    site: SiteInfo
    seconds: dict[str, float]              # per state incl. "unknown"
    availability_percent: float | None     # None = no data
    outages: tuple[Outage, ...]
    downtime_s: float
    longest_outage_s: float
    mttr_s: float | None
    mtbf_s: float | None
    degraded_s: float
    daily_availability: dict[date, float | None]
    rtt: RttSummary
    segments: tuple[Segment, ...]

    @property
    def has_data(self) -> bool:
        return self.availability_percent is not None


@dataclass(frozen=True)
class DeliveryStats:
    count: int = 0
    delivered: int = 0
    failures: int = 0
    mean_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None
    within_1s_percent: float | None = None
    latencies_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    timezone: str
    sites: tuple[SiteReport, ...]
    delivery: DeliveryStats
    generated_at: datetime
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def overall_availability_percent(self) -> float | None:
        available = sum(s.seconds[st] for s in self.sites for st in AVAILABLE_STATES)
        known = sum(s.seconds[st] for s in self.sites for st in KNOWN_STATES)
        return 100.0 * available / known if known else None


def timeline(initial_state: str, changes: Sequence[StateChange], since: datetime,
             until: datetime) -> list[Segment]:
    """State segments covering [since, until): `initial_state` at `since`, then each change.

    `changes` must be sorted by time; changes outside the window only move the state.
    """
    segments: list[Segment] = []
    state, start = initial_state, since
    for change in changes:
        if change.kind in NOT_STATE_CHANGES:
            continue
        if change.at <= since:
            state = change.to_state
            continue
        if change.at >= until:
            break
        if change.to_state != state:
            if change.at > start:
                segments.append(Segment(state, start, change.at))
            state, start = change.to_state, change.at
    if until > start:
        segments.append(Segment(state, start, until))
    return _merge(segments)


def _merge(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for seg in segments:
        if merged and merged[-1].state == seg.state and merged[-1].end == seg.start:
            merged[-1] = Segment(seg.state, merged[-1].start, seg.end)
        else:
            merged.append(seg)
    return merged


def outages(segments: Sequence[Segment], since: datetime, until: datetime, parent: str | None) -> list[Outage]:
    """Runs of down/unreachable segments as outages, with their cause."""
    found: list[Outage] = []
    run: list[Segment] = []

    def close() -> None:
        if not run:
            return
        only_unreachable = all(s.state == "unreachable" for s in run)
        cause = (f"unreachable (parent {parent} down)" if parent else "unreachable") if only_unreachable else "down"
        found.append(Outage(run[0].start, run[-1].end, cause, ongoing=run[-1].end >= until,
                            began_before_window=run[0].start <= since))
        run.clear()

    for seg in segments:
        if seg.state in OUTAGE_STATES and (not run or run[-1].end == seg.start):
            run.append(seg)
        elif seg.state in OUTAGE_STATES:
            close()
            run.append(seg)
        else:
            close()
    close()
    return found


def day_bounds(since: datetime, until: datetime, tz: tzinfo) -> list[tuple[date, datetime, datetime]]:
    """(local day, start, end) for every local calendar day touched by [since, until), clipped."""
    bounds = []
    day = since.astimezone(tz).date()
    last = (until - timedelta(microseconds=1)).astimezone(tz).date()
    while day <= last:
        nxt = day + timedelta(days=1)
        bounds.append((day, max(since, datetime(day.year, day.month, day.day, tzinfo=tz)).astimezone(timezone.utc),
                       min(until, datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)).astimezone(timezone.utc)))
        day = nxt
    return bounds


def daily_availability(segments: Sequence[Segment], since: datetime, until: datetime, tz: tzinfo,
                       bounds: Sequence[tuple[date, datetime, datetime]] | None = None) -> dict[date, float | None]:
    """Availability % per local calendar day touched by [since, until) (`bounds` from day_bounds
    may be passed in to share the work between sites)."""
    result: dict[date, float | None] = {}
    index = 0
    for day, lo, hi in bounds if bounds is not None else day_bounds(since, until, tz):
        available = known = 0.0
        while index < len(segments) and segments[index].end <= lo:
            index += 1
        j = index
        while j < len(segments) and segments[j].start < hi:
            seg = segments[j]
            if seg.state in KNOWN_STATES:
                overlap = (min(seg.end, hi) - max(seg.start, lo)).total_seconds()
                known += overlap
                if seg.state in AVAILABLE_STATES:
                    available += overlap
            j += 1
        result[day] = 100.0 * available / known if known > 0 else None
    return result


def site_report(site: SiteInfo, initial_state: str, changes: Sequence[StateChange], since: datetime,
                until: datetime, tz: tzinfo, rtt: RttSummary | None = None,
                bounds: Sequence[tuple[date, datetime, datetime]] | None = None) -> SiteReport:
    """Every figure for one site over [since, until)."""
    # one time zone object everywhere: aware datetimes with the same tzinfo compare 7x faster
    since, until = since.astimezone(timezone.utc), until.astimezone(timezone.utc)
    segments = timeline(initial_state, changes, since, until)
    seconds = dict.fromkeys((*KNOWN_STATES, "unknown"), 0.0)
    for seg in segments:
        seconds[seg.state if seg.state in seconds else "unknown"] += seg.seconds
    known = sum(seconds[s] for s in KNOWN_STATES)
    available = sum(seconds[s] for s in AVAILABLE_STATES)
    found = outages(segments, since, until, site.parent)
    ended = [o for o in found if not o.ongoing]
    began = [o for o in found if not o.began_before_window]
    return SiteReport(
        site=site, seconds=seconds,
        availability_percent=100.0 * available / known if known > 0 else None,
        outages=tuple(found),
        downtime_s=seconds["down"] + seconds["unreachable"],
        longest_outage_s=max((o.seconds for o in found), default=0.0),
        mttr_s=sum(o.seconds for o in ended) / len(ended) if ended else None,
        mtbf_s=available / len(began) if began else None,
        degraded_s=seconds["degraded"],
        daily_availability=daily_availability(segments, since, until, tz, bounds),
        rtt=rtt or RttSummary(),
        segments=tuple(segments),
    )


def percentile(sorted_values: Sequence[float], percent: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percent / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def parse_time(text: Any) -> datetime | None:
    """An ISO 8601 timestamp from a log record, or None when missing/unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def delivery_stats(records: Iterable[Mapping[str, Any]], since: datetime, until: datetime,
                   hosts: set[str] | None = None) -> DeliveryStats:
    """Latency figures of the messages whose event was detected in [since, until).

    `hosts` keeps only messages about those hosts. Records that cannot be read are skipped.
    """
    latencies: list[float] = []
    count = failures = 0
    for record in records:
        detected = parse_time(record.get("detected_at"))
        if detected is None or detected.tzinfo is None or not since <= detected < until:
            continue
        if hosts is not None:
            about = {str(e.get("host")) for e in record.get("events") or [] if isinstance(e, Mapping)}
            if not about & hosts:
                continue
        count += 1
        latency = record.get("latency_ms")
        if str(record.get("status", "")).lower() in DELIVERED and isinstance(latency, (int, float)):
            latencies.append(float(latency))
        else:
            failures += 1
    latencies.sort()
    if not latencies:
        return DeliveryStats(count=count, failures=failures)
    return DeliveryStats(
        count=count, delivered=len(latencies), failures=failures,
        mean_ms=sum(latencies) / len(latencies), p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95), max_ms=latencies[-1],
        within_1s_percent=100.0 * sum(1 for v in latencies if v <= 1000.0) / len(latencies),
        latencies_ms=tuple(latencies))


def build_report(sites: Sequence[SiteInfo], initial_states: Mapping[str, str],
                 changes: Mapping[str, Sequence[StateChange]], rtt: Mapping[str, RttSummary],
                 deliveries: Iterable[Mapping[str, Any]], *, since: datetime, until: datetime,
                 tz: tzinfo, tz_name: str, generated_at: datetime, delivery_hosts: set[str] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Report:
    """The whole report. Deliveries are limited to messages about `delivery_hosts` when given;
    `progress(done, total)` is called after each site when given."""
    reports = []
    bounds = day_bounds(since, until, tz)
    for number, site in enumerate(sites, 1):
        reports.append(site_report(site, initial_states.get(site.name, "unknown"), changes.get(site.name, ()),
                                   since, until, tz, rtt.get(site.name), bounds))
        if progress:
            progress(number, len(sites))
    return Report(since=since, until=until, timezone=tz_name, sites=tuple(reports),
                  delivery=delivery_stats(deliveries, since, until, delivery_hosts), generated_at=generated_at)


def format_duration(seconds: float | None) -> str:
    """'1d 2h 3m', '4m 05s', '12s'; '-' for None."""
    if seconds is None:
        return "-"
    total = int(round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
