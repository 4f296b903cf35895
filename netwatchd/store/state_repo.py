"""Persistence of the alert brain: host states, the events log and mutes (tables in v1/10_state.sql).

`save` writes new states, one events row per transition and the outbox rows of the announced
ones in ONE transaction, so a crash can neither lose an alert nor send it twice.
All times are stored as ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from netwatchd.clock import utc_ms
from netwatchd.engine.engine import HostState, Mute
from netwatchd.models import Transition
from netwatchd.store.db import transaction
from netwatchd.store.outbox_repo import Delivery, enqueue


class StoredState(NamedTuple):
    """A host_state row without its JSON: host, state value, since ('' = never judged)."""

    host: str
    state: str
    since: str


def save(conn: sqlite3.Connection, states: dict[str, HostState], transitions: Sequence[Transition],
         destinations: Sequence[str], now: datetime,
         prior: Sequence[Mapping[str, Delivery] | None] | None = None,
         hook_lanes: Callable[[Transition], Sequence[str]] | None = None) -> list[int]:
    """Write `states`, an events row per transition and outbox rows for notify=True ones, plus
    one 'hook' row per lane `hook_lanes(transition)` names (announced or not: the hooks decide).

    `prior[i]` (by chat id), when given, is how far delivery of transitions[i] from memory got
    while the store could not be written: its rows are written in that state (a delivered alert
    as 'sent', never to be sent again). One transaction (joins the caller's if one is open).
    Returns the new event ids in the order of `transitions`. Raises sqlite3.Error if the store
    cannot be written (nothing is kept then).
    """
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        if states:
            conn.executemany(
                "INSERT INTO host_state(host, state, since, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(host) DO UPDATE SET state=excluded.state, since=excluded.since, "
                "data=excluded.data",
                [(name, s.state.value, utc_ms(s.since) if s.since else "",
                  json.dumps(s.to_dict(), ensure_ascii=False, sort_keys=True))
                 for name, s in states.items()])
        ids: list[int] = []
        for index, transition in enumerate(transitions):
            payload = json.dumps(transition.to_dict(), ensure_ascii=False, sort_keys=True)
            cursor = conn.execute(
                "INSERT INTO events(host, kind, from_state, to_state, at, payload) VALUES (?, ?, ?, ?, ?, ?)",
                (transition.host, transition.kind, transition.from_state.value,
                 transition.to_state.value, utc_ms(transition.at), payload))
            event_id = int(cursor.lastrowid or 0)
            ids.append(event_id)
            if transition.notify:
                enqueue(conn, event_id, transition, destinations, now, prior[index] if prior else None)
            lanes = hook_lanes(transition) if hook_lanes is not None else ()
            if lanes:
                enqueue(conn, event_id, transition, lanes, now, kind="hook")
        if own:
            conn.execute("COMMIT")
    except BaseException:
        # also when COMMIT itself failed (disk full, I/O error) and SQLite left the transaction
        # open: the next save would join it, return as if saved and never commit
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return ids


def load_states(conn: sqlite3.Connection, hosts: Sequence[str] | None = None) -> dict[str, HostState]:
    """Stored HostStates by host name (empty for a new store); only `hosts` when given."""
    if hosts is None:
        rows = conn.execute("SELECT host, data FROM host_state ORDER BY host").fetchall()
    else:
        rows = []
        names = list(dict.fromkeys(hosts))
        for start in range(0, len(names), 500):          # SQLite's bound-parameter limit
            chunk = names[start:start + 500]
            rows += conn.execute(f"SELECT host, data FROM host_state WHERE host IN ({','.join('?' * len(chunk))})"
                                 " ORDER BY host", chunk).fetchall()
    return {row["host"]: HostState.from_dict(json.loads(row["data"])) for row in rows}


class LazyStates(Mapping[str, HostState]):
    """Stored HostStates by host name, each decoded from its row's JSON when it is looked up.

    The agent's start-up (load_states_lazily): 10,000 decoded states at once (~15 MB of dicts,
    datetimes and HostStates) left the engine's tracks, built from them, spread over pools that
    CPython never returned - an agent started on its own store ran ~11 MB above one started empty.
    Decoded one at a time as each track is built, each state's garbage is gone before the next."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._texts = texts

    def __getitem__(self, host: str) -> HostState:
        return HostState.from_dict(json.loads(self._texts[host]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


def load_states_lazily(conn: sqlite3.Connection) -> LazyStates:
    """load_states() of every host, decoded on lookup (see LazyStates). Raises sqlite3.Error;
    a row's JSON that does not decode raises ValueError when that host is looked up."""
    return LazyStates({row[0]: row[1] for row in conn.execute("SELECT host, data FROM host_state")})


def stored_states(conn: sqlite3.Connection) -> list[StoredState]:
    """Every host_state row's host, state value and since, without decoding its JSON (cheap)."""
    return [StoredState(*tuple(row)) for row in conn.execute("SELECT host, state, since FROM host_state")]


RETIRED_KEY = "retired_hosts"   # kv: {host: ISO time it left the config}, for the grace period


def retire_hosts(conn: sqlite3.Connection, keep: Sequence[str], now: datetime, grace_seconds: float) -> list[str]:
    """Hosts not in `keep` (removed from the config) keep their stored state for `grace_seconds` from when they
    were first seen gone; a host back in `keep` is no longer retired. Deletes the states whose grace has passed
    and returns their names. Raises sqlite3.Error (nothing changed then)."""
    keep_set = set(keep)
    with transaction(conn):
        row = conn.execute("SELECT value FROM kv WHERE key = ?", (RETIRED_KEY,)).fetchone()
        retired: dict[str, str] = json.loads(row[0]) if row else {}
        stored = [r[0] for r in conn.execute("SELECT host FROM host_state")]
        for name in stored:
            if name not in keep_set:
                retired.setdefault(name, utc_ms(now))
        retired = {name: at for name, at in retired.items() if name not in keep_set and name in stored}
        expired = [name for name, at in retired.items()
                   if (now - datetime.fromisoformat(at)).total_seconds() >= grace_seconds]
        conn.executemany("DELETE FROM host_state WHERE host = ?", [(n,) for n in expired])
        for name in expired:
            retired.pop(name)
        conn.execute("INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     (RETIRED_KEY, json.dumps(retired, sort_keys=True)))
    return sorted(expired)


def retired_hosts(conn: sqlite3.Connection) -> dict[str, datetime]:
    """Hosts removed from the config whose state is still kept, with when they were removed."""
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (RETIRED_KEY,)).fetchone()
    return {name: datetime.fromisoformat(at) for name, at in (json.loads(row[0]) if row else {}).items()}


def recent_events(conn: sqlite3.Connection, host: str | None = None, limit: int = 50) -> list[Transition]:
    """The newest events first (optionally for one host, case-insensitive)."""
    if host is None:
        rows = conn.execute("SELECT payload FROM events ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = conn.execute("SELECT payload FROM events WHERE host = ? COLLATE NOCASE "
                            "ORDER BY id DESC LIMIT ?", (host, limit))
    return [Transition.from_dict(json.loads(row[0])) for row in rows]


def add_mute(conn: sqlite3.Connection, target: str, until: datetime, by: str, reason: str,
             now: datetime | None = None) -> Mute:
    """Mute a host or group until `until` (replaces an earlier mute of the same target)."""
    created = now or datetime.now(timezone.utc)
    with transaction(conn):
        conn.execute(
            "INSERT INTO mutes(target, until, muted_by, reason, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(target) DO UPDATE SET target=excluded.target, until=excluded.until, "
            "muted_by=excluded.muted_by, "
            "reason=excluded.reason, created_at=excluded.created_at",
            (target, utc_ms(until), by, reason, utc_ms(created)))
    return Mute(target=target, until=until.astimezone(timezone.utc), by=by, reason=reason)


def remove_mute(conn: sqlite3.Connection, target: str) -> bool:
    """Lift the mute of `target`; True if there was one."""
    with transaction(conn):
        cursor = conn.execute("DELETE FROM mutes WHERE target = ?", (target,))
    return cursor.rowcount > 0


def active_mutes(conn: sqlite3.Connection, now: datetime) -> list[Mute]:
    """Mutes still running at `now`, soonest end first."""
    rows = conn.execute("SELECT target, until, muted_by, reason FROM mutes WHERE until > ? "
                        "ORDER BY until, target", (utc_ms(now),))
    return [Mute(target=r["target"], until=datetime.fromisoformat(r["until"]), by=r["muted_by"],
                 reason=r["reason"]) for r in rows]


def stored_mutes(conn: sqlite3.Connection) -> list[Mute]:
    """Every stored mute, running or not by the wall clock (the agent decides with MuteTimers),
    with `set_at` and `length` (until - created_at); soonest end first."""
    found = []
    for r in conn.execute("SELECT target, until, muted_by, reason, created_at FROM mutes ORDER BY until, target"):
        until, set_at = datetime.fromisoformat(r["until"]), datetime.fromisoformat(r["created_at"])
        found.append(Mute(target=r["target"], until=until, by=r["muted_by"], reason=r["reason"], set_at=set_at,
                          length=max(0.0, (until - set_at).total_seconds())))
    return found


def _mute_match(target: str, until: datetime, set_at: datetime | None) -> tuple[str, str, str]:
    return target, utc_ms(until), utc_ms(set_at) if set_at is not None else ""


def shift_mutes(conn: sqlite3.Connection, mutes: Sequence[tuple[str, datetime, datetime | None]],
                delta: timedelta) -> None:
    """The wall clock stepped by `delta`: move `until` and `created_at` of these (target, until,
    set_at) mutes with it (their length is kept; a mute set again meanwhile is left alone)."""
    with transaction(conn):
        conn.executemany(
            "UPDATE mutes SET until = ?, created_at = ? WHERE target = ? AND until = ? AND created_at = ?",
            [(utc_ms(until + delta), utc_ms(set_at + delta), *_mute_match(target, until, set_at))
             for target, until, set_at in mutes if set_at is not None])


def end_mutes(conn: sqlite3.Connection, mutes: Sequence[Mute]) -> None:
    """Delete these mutes, whose time is up on the monotonic clock (a mute set again meanwhile stays)."""
    with transaction(conn):
        conn.executemany("DELETE FROM mutes WHERE target = ? AND until = ? AND created_at = ?",
                         [_mute_match(m.target, m.until, m.set_at) for m in mutes if m.set_at is not None])


def states_before(conn: sqlite3.Connection, at: datetime, skip_kinds: Sequence[str] = ()) -> dict[str, str]:
    """The to_state of each host's last event before `at` (events of `skip_kinds` not counted)."""
    marks = ",".join("?" * len(skip_kinds))
    rows = conn.execute(
        f"SELECT host, to_state FROM (SELECT host, to_state, max(at) FROM events "
        f"WHERE at < ? AND kind NOT IN ({marks}) GROUP BY host)", (utc_ms(at), *skip_kinds))
    return dict(rows)


class EventRow(NamedTuple):
    """An events row without its payload (at as stored: ISO 8601 UTC)."""

    host: str
    at: str
    from_state: str
    to_state: str
    kind: str


def recovery_causes(conn: sqlite3.Connection, since: datetime, until: datetime) -> dict[tuple[str, str], str]:
    """(host, at) -> the cause stored with each recovery in [since, until) whose site's router was
    asked ("restarted", "link", "unknown"). Raises sqlite3.Error."""
    rows = conn.execute(
        "SELECT host, at, json_extract(payload, '$.evidence.cause.result') FROM events "
        "WHERE at >= ? AND at < ? AND kind = 'state' AND to_state IN ('up', 'degraded') "
        "AND json_extract(payload, '$.evidence.cause.result') IS NOT NULL", (utc_ms(since), utc_ms(until)))
    return {(host, at): str(cause) for host, at, cause in rows}


def events_between(conn: sqlite3.Connection, since: datetime, until: datetime,
                   skip_kinds: Sequence[str] = ()) -> list[EventRow]:
    """Events in [since, until) by time (events of `skip_kinds` left out)."""
    marks = ",".join("?" * len(skip_kinds))
    return [EventRow(*tuple(row)) for row in conn.execute(
        f"SELECT host, at, from_state, to_state, kind FROM events WHERE at >= ? AND at < ? "
        f"AND kind NOT IN ({marks}) ORDER BY at, id", (utc_ms(since), utc_ms(until), *skip_kinds))]
