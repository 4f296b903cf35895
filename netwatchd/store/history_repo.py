"""Bounded probe history: raw results, 5-minute and hourly rollups (schema in store/v1/40_history.sql).

Life of a result:
  record_results()      one compact row per result in `probe_results` (the last few minutes)
  prune_and_rollup()    (every minute or so) each complete 5-minute bucket -> one packed `probe_blocks` row per host
                        + one `rollup_5m` row; the hours it touches are re-aggregated into
                        `rollup_1h`; then everything past its retention is deleted:
                        raw (blocks) retention.raw_days, 5-minute rollups retention.rollup_5m_days,
                        hourly rollups retention.rollup_days. Events and deliveries are never pruned.

Why it stays small (1,000 hosts at 10 s, defaults; measured by scripts/bench_report.py):
a packed raw sample is ~5 bytes (log-scale rtt codes, byte planes, zlib), so a week of raw
(60.5 M samples) is ~0.37 GB; a rollup row is ~39 bytes on disk, so 400 days of hourly rollups
(9.6 M rows) is ~0.38 GB and 14 days of 5-minute rollups (4 M rows) ~0.15 GB: ~0.9 GB in all.

Seconds in each state inside a bucket: each sample's state is held until the next sample (at most
MAX_HOLD_MS); the gap before the first sample of a bucket counts for that first sample's state.
Whatever is not covered (agent stopped) is simply missing: it counts as "no data", not as up.
"""

from __future__ import annotations

import math
import sqlite3
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import groupby
from typing import Any, NamedTuple

from netwatchd.config.model import RetentionSpec
from netwatchd.models import ProbeResult, State
from netwatchd.store.db import transaction

BUCKET_MS = 5 * 60 * 1000
HOUR_MS = 60 * 60 * 1000
DAY_MS = 24 * HOUR_MS
GRACE_MS = 30 * 1000          # results of a round may arrive this late after their probe time
MAX_HOLD_MS = 120 * 1000      # a sample says nothing about the state longer than this after it

STATE_CODES: dict[str, int] = {"unknown": 0, "up": 1, "degraded": 2, "down": 3, "unreachable": 4, "path": 5}
CODE_STATES: dict[int, str] = {code: name for name, code in STATE_CODES.items()}
_NONE_U16 = 0xFFFF
_LOG_STEP = math.log(1.01)
_INV_LOG_STEP = 1.0 / _LOG_STEP
_BLOCK_VERSION = 2


class Sample(NamedTuple):
    """One stored probe result (compact form)."""

    at_ms: int
    state: int          # STATE_CODES
    alive: bool
    loss_bp: int        # loss percent x 100
    rtt_min_us: int | None
    rtt_avg_us: int | None
    rtt_max_us: int | None


@dataclass(frozen=True)
class Rollup:
    """Aggregate of one host over one bucket (5 minutes or 1 hour)."""

    host: str
    bucket_ms: int
    probes: int
    failures: int
    rtt_min_us: int | None
    rtt_avg_us: int | None
    rtt_max_us: int | None
    loss_bp_sum: int
    up_s: int
    degraded_s: int
    down_s: int
    unreachable_s: int


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000))


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def _us(ms: float | None) -> int | None:
    return None if ms is None else max(0, int(round(ms * 1000)))


def _state_code(value: object) -> int:
    text = value.value if isinstance(value, State) else str(value or "unknown")
    return STATE_CODES.get(text.lower(), 0)


def host_ids(conn: sqlite3.Connection, names: Iterable[str]) -> dict[str, int]:
    """Ids for host names, creating the missing ones (inside the caller's transaction if any)."""
    wanted = sorted(set(names))
    found = {row[1]: row[0] for row in conn.execute("SELECT id, name FROM history_hosts")}
    missing = [(name,) for name in wanted if name not in found]
    if missing:
        conn.executemany("INSERT OR IGNORE INTO history_hosts(name) VALUES (?)", missing)
        found = {row[1]: row[0] for row in conn.execute("SELECT id, name FROM history_hosts")}
    return {name: found[name] for name in wanted}


def host_names(conn: sqlite3.Connection) -> dict[int, str]:
    return {row[0]: row[1] for row in conn.execute("SELECT id, name FROM history_hosts")}


def record_results(conn: sqlite3.Connection, results: Sequence[ProbeResult],
                   states: Mapping[str, str]) -> None:
    """Store one round of results with each host's state after it (`states[host]`, e.g. "up").

    Joins the caller's open transaction, or runs in its own. Raises sqlite3.Error on a broken store.
    """
    if not results:
        return
    if conn.in_transaction:
        _record(conn, results, states)
    else:
        with transaction(conn):
            _record(conn, results, states)


def _record(conn: sqlite3.Connection, results: Sequence[ProbeResult], states: Mapping[str, str]) -> None:
    # Each row finds its host id through the UNIQUE index on the name: reading the whole
    # history_hosts table into a dict for every batch (20 batches a second at 10,000 hosts) was
    # the agent's largest single cost. A host is named in history_hosts once in its life, so the
    # rows go in first; only when some found no id (rowcount short: a new host) are the names
    # inserted and the rows written again (INSERT OR REPLACE: the ones already in are rewritten
    # as they are) - not an INSERT OR IGNORE of every name in every round.
    stamps: dict[datetime, int] = {}
    rows = []
    for result in results:
        at = stamps.get(result.at)
        if at is None:
            at = stamps[result.at] = to_ms(result.at)
        rows.append((at, _state_code(states.get(result.host, "unknown")),
                     1 if result.alive else 0, int(round(result.loss_percent * 100)),
                     _us(result.rtt_min_ms), _us(result.rtt_avg_ms), _us(result.rtt_max_ms), result.host))
    insert = ("INSERT OR REPLACE INTO probe_results SELECT id, ?, ?, ?, ?, ?, ?, ? FROM history_hosts "
              "WHERE name = ?")
    if conn.executemany(insert, rows).rowcount == len(rows):
        return
    conn.executemany("INSERT OR IGNORE INTO history_hosts(name) VALUES (?)", [(name,) for name in
                                                                             {r.host for r in results}])
    conn.executemany(insert, rows)


# --- packing raw samples ------------------------------------------------------------------------

def quantise_us(value: int | None) -> int:
    """Log-scale code of an rtt in microseconds: 1 % steps (<= 0.5 % error), 0xFFFF for None."""
    return _NONE_U16 if value is None else int(round(math.log1p(value) * _INV_LOG_STEP))


def dequantise_us(code: int) -> int | None:
    return None if code == _NONE_U16 else int(round(math.expm1(code * _LOG_STEP)))


def encode_block(bucket_ms: int, samples: Sequence[Sample]) -> bytes:
    """Pack the samples of one bucket column-wise, byte plane by byte plane, and zlib them: time
    deltas (ms), state|alive flags, loss, and the rtts on a log scale (avg code, then min and max
    as distances from it). A jittery sample takes about 5 bytes. Rtts come back within 0.5 %;
    everything else exactly."""
    offsets = array("I")
    previous = bucket_ms
    for sample in samples:
        offsets.append(sample.at_ms - previous)
        previous = sample.at_ms
    flags = array("B", (s.state | (0x80 if s.alive else 0) for s in samples))
    loss = array("H", (s.loss_bp for s in samples))
    avg, low, high = array("H"), array("H"), array("H")
    for s in samples:
        code = quantise_us(s.rtt_avg_us)
        avg.append(code)
        low.append(_NONE_U16 if code == _NONE_U16 or s.rtt_min_us is None
                   else min(_NONE_U16 - 1, max(0, code - quantise_us(s.rtt_min_us))))
        high.append(_NONE_U16 if code == _NONE_U16 or s.rtt_max_us is None
                    else min(_NONE_U16 - 1, max(0, quantise_us(s.rtt_max_us) - code)))
    payload = b"".join(_byte_planes(part) for part in (offsets, flags, loss, avg, low, high))
    return bytes([_BLOCK_VERSION]) + zlib.compress(payload, 6)


def _byte_planes(column: array[int]) -> bytes:
    """All low bytes, then all next bytes...: the near-constant high bytes then compress to nothing."""
    data, size = column.tobytes(), column.itemsize
    return b"".join(data[i::size] for i in range(size))


def decode_block(bucket_ms: int, count: int, data: bytes) -> list[Sample]:
    """Inverse of encode_block (rtts within 0.5 %). Raises ValueError for a block it cannot read."""
    if not data or data[0] != _BLOCK_VERSION:
        raise ValueError("unknown probe block format")
    raw = zlib.decompress(data[1:])
    pos = 0

    def take(code: str, size: int) -> array[int]:
        nonlocal pos
        interleaved = bytearray(size * count)
        for plane in range(size):
            interleaved[plane::size] = raw[pos + plane * count:pos + (plane + 1) * count]
        pos += size * count
        part = array(code)
        part.frombytes(bytes(interleaved))
        return part

    offsets, flags, loss = take("I", 4), take("B", 1), take("H", 2)
    avg, low, high = take("H", 2), take("H", 2), take("H", 2)
    samples, at = [], bucket_ms
    for i in range(count):
        at += offsets[i]
        code = avg[i]
        mean = dequantise_us(code)
        least = None if mean is None or low[i] == _NONE_U16 else dequantise_us(code - low[i])
        most = None if mean is None or high[i] == _NONE_U16 else dequantise_us(code + high[i])
        samples.append(Sample(at, flags[i] & 0x7F, bool(flags[i] & 0x80), loss[i], least, mean, most))
    return samples


# --- rollups ------------------------------------------------------------------------------------

RollupFigures = tuple[int, int, int | None, int | None, int | None, int, int, int, int, int]
"""probes, failures, rtt_min_us, rtt_avg_us, rtt_max_us, loss_bp_sum, up_s, degraded_s, down_s, unreachable_s"""


def rollup_samples(bucket_ms: int, size_ms: int, samples: Sequence[Sample]) -> RollupFigures:
    """(probes, failures, rtt_min, rtt_avg, rtt_max, loss_bp_sum, up_s, degraded_s, down_s,
    unreachable_s) for samples sorted by time inside [bucket_ms, bucket_ms + size_ms)."""
    end = bucket_ms + size_ms
    held = [0] * (max(STATE_CODES.values()) + 1)     # path (5) time has no rollup column: reports read events
    for i, sample in enumerate(samples):
        start = max(bucket_ms, sample.at_ms - MAX_HOLD_MS) if i == 0 else sample.at_ms
        stop = samples[i + 1].at_ms if i + 1 < len(samples) else end
        stop = min(stop, sample.at_ms + MAX_HOLD_MS, end)
        if stop > start:
            held[sample.state] += stop - start
    answered = [s for s in samples if s.alive and s.rtt_avg_us is not None]
    rtt_min = min((s.rtt_min_us for s in answered if s.rtt_min_us is not None), default=None)
    rtt_max = max((s.rtt_max_us for s in answered if s.rtt_max_us is not None), default=None)
    rtt_avg = (round(sum(s.rtt_avg_us or 0 for s in answered) / len(answered)) if answered else None)
    failures = sum(1 for s in samples if not s.alive)
    up_s, degraded_s, down_s, unreachable_s = (round(held[code] / 1000) for code in (1, 2, 3, 4))
    return (len(samples), failures, rtt_min, rtt_avg, rtt_max, sum(s.loss_bp for s in samples),
            up_s, degraded_s, down_s, unreachable_s)


def prune_and_rollup(conn: sqlite3.Connection, now: datetime, retention: RetentionSpec, *,
                     hosts_per_step: int = 200) -> None:
    """Compact complete 5-minute buckets, refresh hourly rollups, delete what is past retention.

    Outside a transaction the work is split into short transactions of `hosts_per_step` hosts, so
    the write lock is never held long enough to delay an alert being stored; inside the caller's
    transaction it all happens there. Raises sqlite3.Error on a broken store.
    """
    now_ms = to_ms(now)
    cutoff = (now_ms - GRACE_MS) // BUCKET_MS * BUCKET_MS
    if conn.in_transaction:
        _finish(conn, now_ms, retention, compact(conn, cutoff))
        return
    hosts = sorted(row[0] for row in conn.execute("SELECT DISTINCT host_id FROM probe_results WHERE at_ms < ?",
                                                  (cutoff,)))
    touched: set[int] = set()
    for start in range(0, len(hosts), max(1, hosts_per_step)):
        step = hosts[start:start + hosts_per_step]
        with transaction(conn):
            touched |= compact(conn, cutoff, (step[0], step[-1]))
    with transaction(conn):
        _finish(conn, now_ms, retention, touched)


def _finish(conn: sqlite3.Connection, now_ms: int, retention: RetentionSpec, touched: set[int]) -> None:
    if touched:
        refresh_hourly(conn, min(touched) // HOUR_MS * HOUR_MS, max(touched) // HOUR_MS * HOUR_MS + HOUR_MS)
    five_min_days = getattr(retention, "rollup_5m_days", 14.0)
    conn.execute("DELETE FROM probe_blocks WHERE bucket_ms < ?", (now_ms - int(retention.raw_days * DAY_MS),))
    conn.execute("DELETE FROM probe_results WHERE at_ms < ?", (now_ms - int(retention.raw_days * DAY_MS),))
    conn.execute("DELETE FROM rollup_5m WHERE bucket_ms < ?", (now_ms - int(five_min_days * DAY_MS),))
    conn.execute("DELETE FROM rollup_1h WHERE bucket_ms < ?", (now_ms - int(retention.rollup_days * DAY_MS),))


def compact(conn: sqlite3.Connection, cutoff_ms: int, host_ids: tuple[int, int] | None = None) -> set[int]:
    """Move raw rows older than cutoff_ms (of the host ids from host_ids[0] to host_ids[1], default
    all) into blocks + 5-minute rollups; returns the buckets touched.

    The range is two parameters of one statement: a step's ids written into the SQL (an IN list of
    200) made a new prepared statement per step, which the connection's statement cache kept:
    ~2 MB of SQLite's memory after the first compaction at 10,000 hosts. The rows are read in
    the table's own order (host, time) and packed one host's bucket at a time, written
    COMPACT_FLUSH buckets at a time: holding a whole step's samples (6,000 objects at 10 s) put a
    ~2 MB peak on the agent every 5 minutes and left ~1 MB of it in pools it never gave back."""
    only, bounds = ("", ()) if host_ids is None else (" AND host_id BETWEEN ? AND ?", host_ids)
    rows = conn.execute("SELECT host_id, at_ms, state, alive, loss_bp, rtt_min_us, rtt_avg_us, rtt_max_us "
                        f"FROM probe_results WHERE at_ms < ?{only} ORDER BY host_id, at_ms",
                        (cutoff_ms, *bounds))
    touched: set[int] = set()
    blocks: list[tuple[Any, ...]] = []
    rollups: list[tuple[Any, ...]] = []
    for (host_id, bucket), group in groupby(rows, key=_host_and_bucket):
        samples = [Sample(row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7]) for row in group]
        existing = conn.execute("SELECT samples, data FROM probe_blocks WHERE bucket_ms=? AND host_id=?",
                                (bucket, host_id)).fetchone()
        if existing:  # a late result for a bucket already compacted: merge
            merged = {s.at_ms: s for s in decode_block(bucket, existing[0], existing[1])}
            merged.update((s.at_ms, s) for s in samples)
            samples = sorted(merged.values())
        blocks.append((bucket, host_id, len(samples), encode_block(bucket, samples)))
        rollups.append((bucket, host_id, *rollup_samples(bucket, BUCKET_MS, samples)))
        touched.add(bucket)
        if len(blocks) >= COMPACT_FLUSH:
            _write_compacted(conn, blocks, rollups)
    if not touched:
        return touched
    _write_compacted(conn, blocks, rollups)
    conn.execute(f"DELETE FROM probe_results WHERE at_ms < ?{only}", (cutoff_ms, *bounds))
    return touched


COMPACT_FLUSH = 50


def _host_and_bucket(row: tuple[Any, ...]) -> tuple[int, int]:
    return row[0], row[1] // BUCKET_MS * BUCKET_MS


def _write_compacted(conn: sqlite3.Connection, blocks: list[tuple[Any, ...]],
                     rollups: list[tuple[Any, ...]]) -> None:
    """Write and clear the packed blocks and their rollups."""
    conn.executemany("INSERT OR REPLACE INTO probe_blocks VALUES (?,?,?,?)", blocks)
    conn.executemany("INSERT OR REPLACE INTO rollup_5m VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rollups)
    blocks.clear()
    rollups.clear()


def refresh_hourly(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> None:
    """Re-aggregate rollup_1h for the hours in [start_ms, end_ms) from rollup_5m."""
    conn.execute(
        "INSERT OR REPLACE INTO rollup_1h "
        "SELECT bucket_ms / ? * ?, host_id, sum(probes), sum(failures), min(rtt_min_us), "
        "  CAST(round(sum(rtt_avg_us * (probes - failures)) * 1.0 / "
        "    nullif(sum(CASE WHEN rtt_avg_us IS NOT NULL THEN probes - failures END), 0)) AS INTEGER), "
        "  max(rtt_max_us), sum(loss_bp_sum), sum(up_s), sum(degraded_s), sum(down_s), sum(unreachable_s) "
        "FROM rollup_5m WHERE bucket_ms >= ? AND bucket_ms < ? GROUP BY 1, 2",
        (HOUR_MS, HOUR_MS, start_ms, end_ms))


# --- reading ------------------------------------------------------------------------------------

def raw_samples(conn: sqlite3.Connection, host: str, since: datetime, until: datetime) -> list[Sample]:
    """Raw results of one host in [since, until), compacted or not, oldest first."""
    row = conn.execute("SELECT id FROM history_hosts WHERE name = ?", (host,)).fetchone()
    if row is None:
        return []
    host_id, lo, hi = row[0], to_ms(since), to_ms(until)
    found: dict[int, Sample] = {}
    for bucket, count, data in conn.execute(
            "SELECT bucket_ms, samples, data FROM probe_blocks WHERE host_id = ? AND bucket_ms >= ? "
            "AND bucket_ms < ?", (host_id, lo // BUCKET_MS * BUCKET_MS, hi)):
        found.update((s.at_ms, s) for s in decode_block(bucket, count, data) if lo <= s.at_ms < hi)
    for r in conn.execute("SELECT at_ms, state, alive, loss_bp, rtt_min_us, rtt_avg_us, rtt_max_us "
                          "FROM probe_results WHERE host_id = ? AND at_ms >= ? AND at_ms < ?",
                          (host_id, lo, hi)):
        found[r[0]] = Sample(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6])
    return [found[k] for k in sorted(found)]


class RttTotals(NamedTuple):
    """One host's rollup rows over a window, summed (rtt_avg_us weighted by answered probes)."""

    host_id: int
    probes: int
    failures: int
    rtt_min_us: float | None
    rtt_avg_us: float | None
    rtt_max_us: float | None
    loss_bp_sum: int


def _rollup(table: str) -> str:
    if table not in ("rollup_1h", "rollup_5m"):
        raise ValueError(f"unknown rollup table {table!r}")
    return table


def rtt_totals(conn: sqlite3.Connection, table: str, lo_ms: int, hi_ms: int) -> list[RttTotals]:
    """Per host id, the rows of rollup `table` with buckets in [lo_ms, hi_ms) summed. Raises
    ValueError for an unknown table, sqlite3.Error for a broken store."""
    return [RttTotals(row[0], int(row[1] or 0), int(row[2] or 0), row[3], row[4], row[5], int(row[6] or 0))
            for row in conn.execute(
                f"SELECT host_id, sum(probes), sum(failures), min(rtt_min_us), "
                f"  sum(rtt_avg_us * (probes - failures)) * 1.0 / "
                f"    nullif(sum(CASE WHEN rtt_avg_us IS NOT NULL THEN probes - failures END), 0), "
                f"  max(rtt_max_us), sum(loss_bp_sum) FROM {_rollup(table)} "
                f"WHERE bucket_ms >= ? AND bucket_ms < ? GROUP BY host_id", (lo_ms, hi_ms))]


def rtt_series(conn: sqlite3.Connection, table: str, lo_ms: int, hi_ms: int,
               host_ids: Sequence[int]) -> list[tuple[int, int, int]]:
    """(host_id, bucket_ms, rtt_avg_us) of `host_ids` in [lo_ms, hi_ms), by bucket; buckets without
    an rtt left out. Raises ValueError for an unknown table, sqlite3.Error for a broken store."""
    return [(row[0], row[1], row[2]) for row in conn.execute(
        f"SELECT host_id, bucket_ms, rtt_avg_us FROM {_rollup(table)} WHERE bucket_ms >= ? AND bucket_ms < ? "
        f"AND rtt_avg_us IS NOT NULL AND host_id IN ({','.join('?' * len(host_ids))}) "
        f"ORDER BY bucket_ms", (lo_ms, hi_ms, *host_ids))]


def rtt_spread(conn: sqlite3.Connection, table: str, lo_ms: int, hi_ms: int,
               host_ids: Sequence[int] | None = None) -> list[tuple[int, float, float]]:
    """(bucket_ms, mean rtt_avg_us, worst rtt_avg_us) over `host_ids` (default: all hosts) per
    bucket in [lo_ms, hi_ms). Raises ValueError for an unknown table, sqlite3.Error for a broken store."""
    only = "" if host_ids is None else f"AND host_id IN ({','.join(str(int(h)) for h in host_ids)})"
    return [(row[0], row[1], row[2]) for row in conn.execute(
        f"SELECT bucket_ms, avg(rtt_avg_us), max(rtt_avg_us) FROM {_rollup(table)} WHERE bucket_ms >= ? "
        f"AND bucket_ms < ? AND rtt_avg_us IS NOT NULL {only} GROUP BY bucket_ms ORDER BY bucket_ms",
        (lo_ms, hi_ms))]


def rollup_table(since: datetime, until: datetime, now: datetime, retention: RetentionSpec) -> str:
    """The finest rollup that covers [since, until) cheaply: 5-minute rows for windows up to two
    days still inside their retention, hourly rows otherwise."""
    five_min_days = getattr(retention, "rollup_5m_days", 14.0)
    short = (until - since).total_seconds() <= 2 * 86400
    kept = (now - since).total_seconds() <= five_min_days * 86400
    return "rollup_5m" if short and kept else "rollup_1h"


def iter_rollups(conn: sqlite3.Connection, since: datetime, until: datetime, *, table: str = "rollup_1h",
                 hosts: Sequence[str] | None = None) -> Iterator[Rollup]:
    """Rollup rows whose bucket starts in [since, until), by time then host."""
    _rollup(table)
    names = host_names(conn)
    wanted = None if hosts is None else set(hosts)
    for row in conn.execute(f"SELECT * FROM {table} WHERE bucket_ms >= ? AND bucket_ms < ? "
                            "ORDER BY bucket_ms, host_id", (to_ms(since), to_ms(until))):
        name = names.get(row[1])
        if name is None or (wanted is not None and name not in wanted):
            continue
        yield Rollup(name, row[0], *row[2:])
