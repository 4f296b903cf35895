"""Report arithmetic (pure): state changes + rollup summaries + delivery records -> figures.

Honest availability. Each second of a site's window falls in exactly one part (first match wins):

  blind        the monitor could not see: the agent was not running (gaps between its recorded
               runs) or the server's own uplink was lost (and the "unreachable" that began during
               such a loss, until the site is judged again)
  maintenance  the site was muted (a maintenance window of the config, or an admin's /mute)
  unknown      not judged yet (before its first state: a site added later, a store from before runs
               were recorded)
  parent       unreachable because a parent (the core, a router) was down
  path         netwatchd could not reach it but its `via` router could (PATH): the path between the
               server and that router was at fault, not the site
  down         its own downtime
  degraded     answering, but over its loss/rtt thresholds
  up

Availability (the headline) = (up + degraded) / (up + degraded + down): only the site's own
downtime counts against it, over the time it was observable; the other parts are shown beside it.
A site with no observable time has availability None ("no data"), never 100 %.

PATH time is never the site's downtime and is left out of its availability, like parent-down time.

An outage is a run of down and/or unreachable time; its cause is "down", or "unreachable (parent
X down)" when the whole run was the parent's fault; `recovery` says why it ended when the site is
itself a RouterOS device whose uptime was read then ("restarted (power cut?)", "link restored").
Runs that were wholly blind or in maintenance are not listed (their time shows in those parts).
Outages are clipped to the window; `ongoing` marks one still open at the window's end. MTTR = mean
duration of the own outages that ended inside the window; MTBF = available time / own outages that
began inside the window.
Delivery figures come from the timing log records (netwatchd.notify: one JSON line per message).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

KNOWN_STATES = ("up", "degraded", "down", "unreachable")
AVAILABLE_STATES = ("up", "degraded")
OUTAGE_STATES = ("down", "unreachable")
PARTS = ("up", "degraded", "down", "parent", "path", "maintenance", "blind", "unknown")
"""The parts of a site's time, in the order reports show them (see the module docstring)."""
OBSERVED_PARTS = ("up", "degraded", "down")
# events whose to_state is not the site's new state: a Netwatch cross-check records what the ROUTER
# said (or that both agree again), never a change of netwatchd's own state; a router's own health
# and restarts are about the router, which may share its name with a watched host
NOT_STATE_CHANGES = frozenset({"startup", "uplink_lost", "uplink_back", "crosscheck", "crosscheck_agree",
                               "acknowledged", "ack", "router_health", "router_restart"})
RECOVERY_CAUSES = ("restarted", "link", "unknown")
"""An UP's evidence.cause.result (a site with `router:`); report.words says each in en/id."""
DELIVERED = frozenset({"sent", "delivered", "ok"})
RUNNING_GRACE_S = 120.0
"""A run whose last heartbeat is this recent (and that has no stop) is the agent running now."""

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
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
    cause: str = ""         # an UP of a site with `router:`: restarted | link | unknown


@dataclass(frozen=True)
class Segment:
    state: str          # a state (timeline) or a part (classified)
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
    own_s: float = 0.0            # seconds of it counted as the site's own downtime
    parent_s: float = 0.0         # ... as unreachable because of a parent
    detail: str = ""              # the probe's error when it went down ("timeout", ...)
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    recovery: str = ""            # why it ended (one of RECOVERY_CAUSES), when the site's own router said

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def own(self) -> bool:
        return self.own_s > 0


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
class Observation:
    """What the monitor could see over a window, shared by every site: `blind` (merged, sorted)
    = agent not running or uplink lost; `uplink` = the uplink losses alone."""

    blind: tuple[Interval, ...] = ()
    uplink: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class OutageNoteIn:
    """An event the outage list can use: a site going down (its probe's error) or an acknowledgement."""

    at: datetime
    kind: str            # state | acknowledged
    to_state: str = ""
    error: str = ""
    by: str = ""


@dataclass(frozen=True)
class SiteReport:
    site: SiteInfo
    seconds: dict[str, float]              # per state incl. "unknown" (the raw timeline)
    availability_percent: float | None     # own availability over observable time; None = no data
    outages: tuple[Outage, ...]
    downtime_s: float                      # own downtime (parts["down"])
    longest_outage_s: float
    mttr_s: float | None
    mtbf_s: float | None
    degraded_s: float
    daily_availability: dict[date, float | None]
    rtt: RttSummary
    segments: tuple[Segment, ...]          # the raw state timeline
    parts: dict[str, float] = field(default_factory=dict)   # seconds per PARTS entry
    classified: tuple[Segment, ...] = ()   # the timeline by part (for the charts)

    @property
    def has_data(self) -> bool:
        return self.availability_percent is not None

    @property
    def path_s(self) -> float:
        """PATH time: unreachable from the server, reachable from the site's via router."""
        return self.parts.get("path", 0.0)

    @property
    def observable_s(self) -> float:
        return sum(self.parts.get(p, 0.0) for p in OBSERVED_PARTS)

    @property
    def own_outages(self) -> tuple[Outage, ...]:
        return tuple(o for o in self.outages if o.own)


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
    def parts(self) -> dict[str, float]:
        """Seconds per part summed over the sites."""
        return {p: sum(s.parts.get(p, 0.0) for s in self.sites) for p in PARTS}

    @property
    def overall_availability_percent(self) -> float | None:
        parts = self.parts
        return availability(parts["up"] + parts["degraded"], parts["down"])


def availability(available_s: float, own_down_s: float) -> float | None:
    """100 x available / (available + own downtime); None when nothing was observable."""
    observable = available_s + own_down_s
    return 100.0 * available_s / observable if observable > 0 else None


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


def merge_intervals(intervals: Iterable[tuple[datetime, datetime]]) -> tuple[Interval, ...]:
    """Sorted, non-overlapping union of [start, end) intervals (empty ones dropped)."""
    merged: list[list[datetime]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((a, b) for a, b in merged)


def observation(runs: Sequence[tuple[datetime, datetime, bool]], runs_known_since: datetime | None,
                uplink_losses: Sequence[tuple[datetime, datetime | None]], since: datetime, until: datetime,
                now: datetime) -> Observation:
    """When the monitor was blind in [since, until).

    `runs`: (start, end, stopped) of the agent's recorded runs; a run not stopped whose end (last
    heartbeat) is within RUNNING_GRACE_S of `now` is still running. Gaps between runs after
    `runs_known_since` (the first recorded run) are blind; before it nothing is known of runs
    (a store from an older netwatchd) and the state timeline alone decides.
    `uplink_losses`: (lost, back or None while lost) of the server's own uplink.
    """
    since, until = since.astimezone(timezone.utc), until.astimezone(timezone.utc)
    blind: list[tuple[datetime, datetime]] = []
    if runs_known_since is not None and runs_known_since < until:
        watched = []
        for start, end, stopped in runs:
            if not stopped and (now - end).total_seconds() <= RUNNING_GRACE_S:
                end = max(end, until)
            watched.append((start.astimezone(timezone.utc), end.astimezone(timezone.utc)))
        cursor = max(since, runs_known_since.astimezone(timezone.utc))
        for start, end in merge_intervals(watched):
            if start > cursor:
                blind.append((cursor, min(start, until)))
            cursor = max(cursor, end)
        if cursor < until:
            blind.append((cursor, until))
    uplink = merge_intervals((max(lost, since), min(back or until, until)) for lost, back in uplink_losses)
    return Observation(blind=merge_intervals([*blind, *uplink]), uplink=uplink)


def _split(start: datetime, end: datetime, intervals: Sequence[Interval], ends: Sequence[datetime]
           ) -> list[tuple[datetime, datetime, bool]]:
    """[start, end) cut by sorted disjoint `intervals` (`ends` = their end times): (a, b, inside)."""
    pieces: list[tuple[datetime, datetime, bool]] = []
    index = bisect.bisect_right(ends, start)
    cursor = start
    while index < len(intervals) and intervals[index][0] < end:
        lo, hi = intervals[index]
        if lo > cursor:
            pieces.append((cursor, lo, False))
            cursor = lo
        top = min(hi, end)
        if top > cursor:
            pieces.append((cursor, top, True))
            cursor = top
        index += 1
    if cursor < end:
        pieces.append((cursor, end, False))
    return pieces


_PART_OF_STATE = {"up": "up", "degraded": "degraded", "down": "down", "unreachable": "parent", "path": "path"}


def classify(segments: Sequence[Segment], seen: Observation,
             maintenance: Sequence[Interval] = ()) -> list[Segment]:
    """The state timeline as parts (see the module docstring), merged."""
    blind, uplink = seen.blind, seen.uplink
    blind_ends = [b for _, b in blind]
    muted = merge_intervals(maintenance)
    muted_ends = [b for _, b in muted]
    out: list[Segment] = []
    for seg in segments:
        part = _PART_OF_STATE.get(seg.state, "unknown")
        if seg.state == "unreachable" and any(lo <= seg.start <= hi for lo, hi in uplink):
            part = "blind"      # cut off by the server's own uplink loss, until judged again
        for a, b, in_blind in _split(seg.start, seg.end, blind, blind_ends):
            if in_blind:
                out.append(Segment("blind", a, b))
                continue
            for c, d, in_maintenance in _split(a, b, muted, muted_ends):
                out.append(Segment("maintenance" if in_maintenance else part, c, d))
    return _merge(out)


def _overlap(classified: Sequence[Segment], ends: Sequence[datetime], start: datetime, end: datetime,
             part: str) -> float:
    total = 0.0
    index = bisect.bisect_right(ends, start)
    while index < len(classified) and classified[index].start < end:
        seg = classified[index]
        if seg.state == part:
            total += (min(seg.end, end) - max(seg.start, start)).total_seconds()
        index += 1
    return total


def outages(segments: Sequence[Segment], since: datetime, until: datetime, parent: str | None,
            classified: Sequence[Segment] | None = None,
            notes: Sequence[OutageNoteIn] = (), recoveries: Mapping[datetime, str] | None = None) -> list[Outage]:
    """Runs of down/unreachable segments as outages, with their cause, the seconds of each that
    count as own / parent downtime (all of them when `classified` is not given), the probe's error
    when the site went down and the acknowledgement, when `notes` has them, and why it ended
    (`recoveries`: the time an outage ended -> restarted | link | unknown)."""
    found: list[Outage] = []
    run: list[Segment] = []
    ends = [seg.end for seg in classified] if classified is not None else []
    downs = [n for n in notes if n.kind == "state" and n.to_state == "down"]
    acks = [n for n in notes if n.kind == "acknowledged"]

    def close() -> None:
        if not run:
            return
        start, end = run[0].start, run[-1].end
        only_unreachable = all(s.state == "unreachable" for s in run)
        cause = (f"unreachable (parent {parent} down)" if parent else "unreachable") if only_unreachable else "down"
        if classified is None:
            own = sum(s.seconds for s in run if s.state == "down")
            by_parent = sum(s.seconds for s in run if s.state == "unreachable")
        else:
            own = _overlap(classified, ends, start, end, "down")
            by_parent = _overlap(classified, ends, start, end, "parent")
        run.clear()
        if classified is not None and own <= 0 and by_parent <= 0:
            return          # wholly blind or in maintenance: not an outage of this site
        went_down = [n for n in downs if n.at <= start + timedelta(seconds=1)]
        detail = went_down[-1].error if went_down and cause == "down" else ""
        ack = next((n for n in acks if start - timedelta(seconds=1) <= n.at <= end), None)
        found.append(Outage(start, end, cause, ongoing=end >= until, began_before_window=start <= since,
                            own_s=own, parent_s=by_parent, detail=detail,
                            acknowledged_by=ack.by if ack else "", acknowledged_at=ack.at if ack else None,
                            recovery=_recovery((recoveries or {}).get(end, ""))))

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


def _recovery(cause: str) -> str:
    return cause if cause in RECOVERY_CAUSES else ""


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


def daily_availability(classified: Sequence[Segment], since: datetime, until: datetime, tz: tzinfo,
                       bounds: Sequence[tuple[date, datetime, datetime]] | None = None) -> dict[date, float | None]:
    """Own availability % per local calendar day touched by [since, until), from the classified
    timeline (`bounds` from day_bounds may be passed in to share the work between sites)."""
    result: dict[date, float | None] = {}
    index = 0
    for day, lo, hi in bounds if bounds is not None else day_bounds(since, until, tz):
        available = down = 0.0
        while index < len(classified) and classified[index].end <= lo:
            index += 1
        j = index
        while j < len(classified) and classified[j].start < hi:
            seg = classified[j]
            if seg.state in OBSERVED_PARTS:
                overlap = (min(seg.end, hi) - max(seg.start, lo)).total_seconds()
                if seg.state == "down":
                    down += overlap
                else:
                    available += overlap
            j += 1
        result[day] = availability(available, down)
    return result


def site_report(site: SiteInfo, initial_state: str, changes: Sequence[StateChange], since: datetime,
                until: datetime, tz: tzinfo, rtt: RttSummary | None = None,
                bounds: Sequence[tuple[date, datetime, datetime]] | None = None, *,
                seen: Observation | None = None, maintenance: Sequence[Interval] = (),
                notes: Sequence[OutageNoteIn] = ()) -> SiteReport:
    """Every figure for one site over [since, until). `seen`: when the monitor was blind;
    `maintenance`: when this site was muted; `notes`: its down events' errors and acknowledgements."""
    # one time zone object everywhere: aware datetimes with the same tzinfo compare 7x faster
    since, until = since.astimezone(timezone.utc), until.astimezone(timezone.utc)
    segments = timeline(initial_state, changes, since, until)
    seconds = dict.fromkeys((*KNOWN_STATES, "unknown"), 0.0)
    for seg in segments:
        seconds[seg.state if seg.state in seconds else "unknown"] += seg.seconds
    classified = classify(segments, seen or Observation(),
                          [(max(a, since), min(b, until)) for a, b in maintenance])
    parts = dict.fromkeys(PARTS, 0.0)
    for seg in classified:
        parts[seg.state] += seg.seconds
    available = parts["up"] + parts["degraded"]
    found = outages(segments, since, until, site.parent, classified, notes,
                    {c.at: c.cause for c in changes if c.cause})
    own = [o for o in found if o.own]
    ended = [o for o in own if not o.ongoing]
    began = [o for o in own if not o.began_before_window]
    return SiteReport(
        site=site, seconds=seconds,
        availability_percent=availability(available, parts["down"]),
        outages=tuple(found),
        downtime_s=parts["down"],
        longest_outage_s=max((o.seconds for o in found), default=0.0),
        mttr_s=sum(o.seconds for o in ended) / len(ended) if ended else None,
        mtbf_s=available / len(began) if began else None,
        degraded_s=parts["degraded"],
        daily_availability=daily_availability(classified, since, until, tz, bounds),
        rtt=rtt or RttSummary(),
        segments=tuple(segments),
        parts=parts,
        classified=tuple(classified),
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
        if record.get("kind") == "edit":      # an incident's root edited after a press: not an alert
            continue
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
                 progress: Callable[[int, int], None] | None = None, seen: Observation | None = None,
                 maintenance: Mapping[str, Sequence[Interval]] | None = None,
                 notes: Mapping[str, Sequence[OutageNoteIn]] | None = None) -> Report:
    """The whole report. Deliveries are limited to messages about `delivery_hosts` when given;
    `progress(done, total)` is called after each site when given."""
    reports = []
    bounds = day_bounds(since, until, tz)
    for number, site in enumerate(sites, 1):
        reports.append(site_report(site, initial_states.get(site.name, "unknown"), changes.get(site.name, ()),
                                   since, until, tz, rtt.get(site.name), bounds, seen=seen,
                                   maintenance=(maintenance or {}).get(site.name, ()),
                                   notes=(notes or {}).get(site.name, ())))
        if progress:
            progress(number, len(sites))
    return Report(since=since, until=until, timezone=tz_name, sites=tuple(reports),
                  delivery=delivery_stats(deliveries, since, until, delivery_hosts), generated_at=generated_at)


def format_duration(seconds: float | None) -> str:
    """'1d 2h 3m', '4m 05s', '12s'; '-' for None (words.duration in English)."""
    from netwatchd.report.words import duration

    return duration(seconds, "en")
