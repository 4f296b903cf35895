"""What reports need beyond events and rollups (tables in migrations/0003_reports_hooks.sql):
when the agent ran (`agent_runs`), when each site was muted (`maintenance_log`), the monitor's own
uplink losses and outage details from `events`, and the memory of the scheduled reports
(`report_schedule`).

Writes that belong to a larger change (maintenance marks with the states that changed them, a
schedule's progress with its outbox rows) join the caller's transaction; the rest commit alone.
Every time is stored as ISO 8601 UTC with milliseconds. Every function raises sqlite3.Error when
the store cannot be read or written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from netwatchd.clock import iso_ms
from netwatchd.store.db import transaction

SELF_HOST = "__self__"


def _utc(moment: datetime) -> str:
    return iso_ms(moment.astimezone(timezone.utc))


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


# --- agent runs ---------------------------------------------------------------------------------

def start_run(conn: sqlite3.Connection, now: datetime) -> int:
    """Record that the agent starts watching now; returns the run's id."""
    with transaction(conn):
        cursor = conn.execute("INSERT INTO agent_runs(started_at, alive_at) VALUES (?, ?)", (_utc(now), _utc(now)))
    return int(cursor.lastrowid or 0)


def heartbeat(conn: sqlite3.Connection, run_id: int, now: datetime) -> None:
    """The agent is still watching at `now` (after a kill -9 the run ends at its last heartbeat)."""
    with transaction(conn):
        conn.execute("UPDATE agent_runs SET alive_at=? WHERE id=? AND stopped_at IS NULL", (_utc(now), run_id))


def stop_run(conn: sqlite3.Connection, run_id: int, now: datetime) -> None:
    """A clean stop at `now`; open maintenance marks end with the run."""
    with transaction(conn):
        conn.execute("UPDATE agent_runs SET alive_at=?, stopped_at=? WHERE id=?", (_utc(now), _utc(now), run_id))


def runs_between(conn: sqlite3.Connection, since: datetime, until: datetime
                 ) -> list[tuple[datetime, datetime, bool]]:
    """(start, end, stopped) of every run overlapping [since, until), oldest first: end is the clean
    stop, or the last heartbeat of a run that was killed or is still running (stopped False)."""
    rows = conn.execute("SELECT started_at, coalesce(stopped_at, alive_at), stopped_at IS NOT NULL FROM agent_runs"
                        " WHERE started_at < ? AND coalesce(stopped_at, alive_at) >= ? ORDER BY started_at",
                        (_utc(until), _utc(since))).fetchall()
    return [(_parse(start), _parse(end), bool(stopped)) for start, end, stopped in rows]


def first_run_start(conn: sqlite3.Connection) -> datetime | None:
    """When the first recorded run began (None: no run recorded, a store from before runs were kept)."""
    row = conn.execute("SELECT min(started_at) FROM agent_runs").fetchone()
    return _parse(row[0]) if row and row[0] else None


# --- maintenance ------------------------------------------------------------------------------

def record_maintenance(conn: sqlite3.Connection, changes: Sequence[tuple[str, bool, datetime]]) -> None:
    """(host, muted, at) changes in the caller's transaction: muted opens a mark, unmuted closes it."""
    for host, muted, at in changes:
        if muted:
            open_row = conn.execute("SELECT 1 FROM maintenance_log WHERE host=? AND ended_at IS NULL",
                                    (host,)).fetchone()
            if open_row is None:
                conn.execute("INSERT INTO maintenance_log(host, started_at) VALUES (?, ?)", (host, _utc(at)))
        else:
            conn.execute("UPDATE maintenance_log SET ended_at=? WHERE host=? AND ended_at IS NULL", (_utc(at), host))


def maintenance_between(conn: sqlite3.Connection, since: datetime, until: datetime
                        ) -> dict[str, list[tuple[datetime, datetime | None]]]:
    """host -> [(start, end or None while open)] of the marks overlapping [since, until)."""
    found: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for host, start, end in conn.execute(
            "SELECT host, started_at, ended_at FROM maintenance_log WHERE started_at < ?"
            " AND (ended_at IS NULL OR ended_at > ?) ORDER BY host, started_at", (_utc(until), _utc(since))):
        found.setdefault(host, []).append((_parse(start), _parse(end) if end else None))
    return found


# --- the monitor's uplink and outage details from the events -------------------------------------

def uplink_losses(conn: sqlite3.Connection, since: datetime, until: datetime
                  ) -> list[tuple[datetime, datetime | None]]:
    """[lost, back) of every uplink loss of the monitoring server overlapping [since, until)
    (back None: not back by `until` as far as the events say). The back moment is when the
    anchors answered again (uplink_back's lost_at + lost_for_s), not when its summary was sent."""
    rows = conn.execute(
        "SELECT kind, at, payload FROM events WHERE host=? AND kind IN ('uplink_lost', 'uplink_back')"
        " AND at < ? ORDER BY at, id", (SELF_HOST, _utc(until))).fetchall()
    losses: list[tuple[datetime, datetime | None]] = []
    lost: datetime | None = None
    for kind, at, payload in rows:
        if kind == "uplink_lost":
            if lost is None:
                lost = _parse(at)
            continue
        if lost is None:
            continue
        back = _parse(at)
        try:
            evidence = json.loads(payload).get("evidence") or {}
            if evidence.get("lost_for_s") is not None:
                back = min(back, lost + timedelta(seconds=float(evidence["lost_for_s"])))
        except (ValueError, TypeError, AttributeError):
            pass
        losses.append((lost, max(back, lost)))
        lost = None
    if lost is not None:
        losses.append((lost, None))
    return [(a, b) for a, b in losses if b is None or b > since]


@dataclass(frozen=True)
class OutageNote:
    """What the events say about a moment of a site's history: why it went down, who acknowledged."""

    host: str
    at: datetime
    kind: str            # state | acknowledged
    to_state: str
    error: str = ""
    by: str = ""


ACK_KINDS = ("acknowledged", "ack")


def outage_notes(conn: sqlite3.Connection, since: datetime, until: datetime) -> list[OutageNote]:
    """DOWN/UNREACHABLE changes (with the probe's error) and acknowledgements in [since, until), and
    those of the 31 days before (an outage that began earlier), by time."""
    marks = ",".join("?" * len(ACK_KINDS))
    rows = conn.execute(
        f"SELECT host, at, kind, to_state, payload FROM events WHERE at < ? AND at >= ?"
        f" AND ((kind='state' AND to_state IN ('down', 'unreachable')) OR kind IN ({marks}))"
        " ORDER BY at, id", (_utc(until), _utc(since - timedelta(days=31)), *ACK_KINDS)).fetchall()
    notes: list[OutageNote] = []
    for host, at, kind, to_state, payload in rows:
        try:
            data: dict[str, Any] = json.loads(payload)
        except ValueError:
            data = {}
        evidence = data.get("evidence") if isinstance(data.get("evidence"), dict) else {}
        assert isinstance(evidence, dict)
        by = str(evidence.get("by") or data.get("by") or "")
        notes.append(OutageNote(host=host, at=_parse(at), kind="acknowledged" if kind in ACK_KINDS else kind,
                                to_state=to_state, error=str(evidence.get("error") or ""), by=by))
    return notes


# --- scheduled reports --------------------------------------------------------------------------

def arm_schedule(conn: sqlite3.Connection, schedule: str, now: datetime) -> tuple[datetime, datetime | None]:
    """(armed_at, last_until) of a schedule; a schedule seen for the first time is armed now."""
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO report_schedule(schedule, armed_at) VALUES (?, ?)", (schedule, _utc(now)))
        row = conn.execute("SELECT armed_at, last_until FROM report_schedule WHERE schedule=?", (schedule,)).fetchone()
    return _parse(row[0]), (_parse(row[1]) if row[1] else None)


def schedule_done(conn: sqlite3.Connection, schedule: str, until: datetime, previous: datetime | None) -> bool:
    """In the caller's transaction: the period ending `until` is enqueued. False when another
    writer moved the schedule on since `previous` was read (then nothing is written: roll back)."""
    cursor = conn.execute(
        "UPDATE report_schedule SET last_until=? WHERE schedule=? AND last_until IS ?",
        (_utc(until), schedule, _utc(previous) if previous else None))
    return cursor.rowcount == 1
