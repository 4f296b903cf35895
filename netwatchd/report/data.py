"""Reading what a report needs from the store and the timing log (the report's only I/O).

Events (state transitions) give exact outage intervals; hourly or 5-minute rollups give the
rtt/loss summary and the latency chart; data_dir/timing.jsonl (and its rotated files
timing.jsonl.1 ...) gives delivery latency. The agent's recorded runs and uplink losses say when
the monitor was blind, the maintenance log when each site was muted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from netwatchd.jsonl import read_records
from netwatchd.report.stats import (
    NOT_STATE_CHANGES,
    Interval,
    Observation,
    OutageNoteIn,
    RttSummary,
    SiteInfo,
    StateChange,
    observation,
)
from netwatchd.store import history_repo, report_repo, state_repo

TIMING_LOG = "timing.jsonl"
SERIES_PER_SITE_MAX = 8   # more sites than this: the latency chart shows mean and worst site


@dataclass
class ReportInputs:
    initial_states: dict[str, str] = field(default_factory=dict)
    changes: dict[str, list[StateChange]] = field(default_factory=dict)
    rtt: dict[str, RttSummary] = field(default_factory=dict)
    latency_series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # host -> [(ms, rtt ms)]
    latency_summary: list[tuple[int, float, float]] = field(default_factory=list)     # [(ms, mean, worst)]
    rollup_table: str = "rollup_1h"
    seen: Observation = field(default_factory=Observation)
    maintenance: dict[str, list[Interval]] = field(default_factory=dict)
    notes: dict[str, list[OutageNoteIn]] = field(default_factory=dict)


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)


def load_inputs(conn: sqlite3.Connection, sites: Sequence[SiteInfo], since: datetime, until: datetime, *,
                rollup_table: str = "rollup_1h", with_series: bool = False, with_rtt: bool = True,
                now: datetime | None = None) -> ReportInputs:
    """Everything the report maths needs for `sites` over [since, until); `now` (default `until`)
    tells whether the agent's last run is the one running; `with_rtt` False leaves the rtt
    summaries (the rollups, not needed for availability) unread. Raises sqlite3.Error."""
    names = {s.name for s in sites}
    inputs = ReportInputs(rollup_table=rollup_table)
    _load_observation(conn, inputs, names, since, until, now or until)
    skip = tuple(NOT_STATE_CHANGES)
    # the state each site was in when the window opened: its last change before `since` ...
    for host, to_state in state_repo.states_before(conn, since, skip).items():
        if host in names:
            inputs.initial_states[host] = to_state
    # ... or, with no event before it, the current state if it began before the window
    for host, state, state_since in state_repo.stored_states(conn):
        if host in names and host not in inputs.initial_states and state_since:   # "" = never judged
            try:
                began = _parse(state_since)
            except ValueError:
                continue
            if began <= since:
                inputs.initial_states[host] = state
    causes = state_repo.recovery_causes(conn, since, until)
    for host, at, from_state, to_state, kind in state_repo.events_between(conn, since, until, skip):
        if host in names:
            inputs.changes.setdefault(host, []).append(StateChange(host, _parse(at), to_state, from_state, kind,
                                                                   causes.get((host, at), "")))
    if not with_rtt and not with_series:
        return inputs
    ids = history_repo.host_names(conn)
    lo, hi = history_repo.to_ms(since), history_repo.to_ms(until)
    for row in history_repo.rtt_totals(conn, rollup_table, lo, hi) if with_rtt else ():
        name = ids.get(row.host_id)
        if name in names:
            probes = row.probes
            inputs.rtt[name] = RttSummary(
                probes=probes, failures=row.failures,
                rtt_min_ms=None if row.rtt_min_us is None else row.rtt_min_us / 1000.0,
                rtt_avg_ms=None if row.rtt_avg_us is None else row.rtt_avg_us / 1000.0,
                rtt_max_ms=None if row.rtt_max_us is None else row.rtt_max_us / 1000.0,
                loss_percent=(row.loss_bp_sum / 100.0 / probes) if probes else None)
    if with_series:
        _load_series(conn, inputs, names, ids, lo, hi)
    return inputs


def _load_observation(conn: sqlite3.Connection, inputs: ReportInputs, names: set[str], since: datetime,
                      until: datetime, now: datetime) -> None:
    """When the monitor was blind, when each site was muted, why it went down, who acknowledged."""
    runs = report_repo.runs_between(conn, since, until)
    inputs.seen = observation(runs, report_repo.first_run_start(conn), report_repo.uplink_losses(conn, since, until),
                              since, until, now)
    for host, marks in report_repo.maintenance_between(conn, since, until).items():
        if host not in names:
            continue
        intervals = []
        for start, end in marks:
            if end is None:     # still open: muted until now, or until its run ended (blind after)
                end = until
            intervals.append((max(start, since), min(end, until)))
        inputs.maintenance[host] = intervals
    for note in report_repo.outage_notes(conn, since, until):
        if note.host in names:
            inputs.notes.setdefault(note.host, []).append(
                OutageNoteIn(at=note.at, kind=note.kind, to_state=note.to_state, error=note.error, by=note.by))


def _load_series(conn: sqlite3.Connection, inputs: ReportInputs, names: set[str], ids: dict[int, str],
                 lo: int, hi: int) -> None:
    """Latency chart data: one series per site for a few sites, else mean and worst site per bucket."""
    table = inputs.rollup_table
    wanted = [host_id for host_id, name in ids.items() if name in names]
    if not wanted:
        return
    if len(names) <= SERIES_PER_SITE_MAX:
        for host_id, bucket, rtt_us in history_repo.rtt_series(conn, table, lo, hi, wanted):
            inputs.latency_series.setdefault(ids[host_id], []).append((bucket, rtt_us / 1000.0))
        return
    inputs.latency_summary = [
        (bucket, mean / 1000.0, worst / 1000.0) for bucket, mean, worst in history_repo.rtt_spread(
            conn, table, lo, hi, wanted if len(wanted) < len(ids) else None)]


def read_timing_log(data_dir: Path) -> Iterator[dict[str, Any]]:
    """Records of data_dir/timing.jsonl and its rotated files (timing.jsonl.N ... .1, then
    timing.jsonl: oldest first); unreadable lines are skipped, a missing log is empty."""
    yield from read_records(Path(data_dir) / TIMING_LOG)
