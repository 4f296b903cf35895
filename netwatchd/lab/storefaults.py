"""Damaged store files for fault tests and scripts/bench_faults.py: a real store written through
the store's own functions, then bytes of specific pages overwritten.

    path = make_store(data_dir)                  # ~170 pages: host_state, events, outbox, history
    damage(path, "zeroed-page:events")            # one leaf page of `events` zeroed

Kinds (DAMAGE_KINDS): truncated (cut to half), truncated-header (cut to 50 bytes), garbage-header
(the 100-byte header random), and per table `zeroed-page:T`, `garbage-page:T` (a leaf page
overwritten) and `cell-pointers:T` (the page's cell pointer array scrambled: the page still looks
like a b-tree page). Page numbers come from SQLite's dbstat (store.integrity.table_pages).
Deterministic for a given `seed`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from netwatchd.engine.engine import HostState
from netwatchd.models import ProbeResult, State, Transition
from netwatchd.store import history_repo, outbox_repo, state_repo
from netwatchd.store.db import Database, transaction
from netwatchd.store.integrity import page_size, table_pages

TABLES = ("events", "outbox", "host_state", "probe_results")
DAMAGE_KINDS = ("truncated", "truncated-header", "garbage-header") + tuple(
    f"{how}:{table}" for table in TABLES for how in ("zeroed-page", "garbage-page", "cell-pointers"))
T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def make_store(data_dir: Path, *, sites: int = 18, events: int = 400, chats: tuple[str, ...] = ("-1001", "5550001"),
               pending: int = 3) -> Path:
    """A store as an agent leaves it after a while: states, events with their outbox rows (all
    sent but those of the last `pending` events), probe history. Closed (WAL checkpointed into the file). Returns
    its path."""
    db = Database.in_dir(data_dir)
    conn = db.open()
    try:
        for i in range(events):
            at = T0 + timedelta(minutes=i)
            name = f"site-{i % sites:02d}"
            to = State.DOWN if (i // sites) % 2 == 0 else State.UP
            transition = Transition(host=name, address=f"198.18.{i % sites}.2", from_state=State.UP, to_state=to,
                                    at=at, evidence={"loss_percent": 100.0 if to == State.DOWN else 0.0,
                                                     "error": "timeout" if to == State.DOWN else None})
            with transaction(conn):
                [event_id] = state_repo.save(conn, {name: HostState(name, to, at)}, [transition], list(chats), at)
                if i < events - pending:          # delivered long ago, as most rows of a real store
                    ids = list(outbox_repo.rows_of_event(conn, event_id).values())
                    outbox_repo.claim(conn, "lab", ids)
                    outbox_repo.mark_sent(conn, "lab", ids, message_id=i + 1, sent_at=at, acked_at=at)
            history_repo.record_results(conn, [ProbeResult.from_rtts(
                host=name, address=transition.address, probe="icmp", at=at, sent=3,
                rtts_ms=[] if to == State.DOWN else [1.0, 1.1, 1.2])], {name: to.value})
    finally:
        conn.close()
    return db.path


def damage(path: Path, kind: str, *, seed: int = 1) -> str:
    """Damage the (closed) store at `path` the way `kind` says; returns what was done, one line.
    Raises ValueError for an unknown kind."""
    rng = random.Random(seed)
    data = bytearray(path.read_bytes())
    if kind == "truncated":
        path.write_bytes(data[:len(data) // 2])
        return f"cut from {len(data)} to {len(data) // 2} bytes"
    if kind == "truncated-header":
        path.write_bytes(data[:50])
        return "cut to 50 bytes (inside the header)"
    if kind == "garbage-header":
        data[0:100] = bytes(rng.getrandbits(8) for _ in range(100))
        path.write_bytes(data)
        return "100-byte header overwritten with random bytes"
    how, _, table = kind.partition(":")
    if how not in ("zeroed-page", "garbage-page", "cell-pointers") or table not in TABLES:
        raise ValueError(f"unknown damage kind {kind!r}; known: {', '.join(DAMAGE_KINDS)}")
    pages = table_pages(path, table)
    size = page_size(path)
    page = pages[min(1, len(pages) - 1)]              # a leaf inside the table when it has several
    start = (page - 1) * size
    if how == "zeroed-page":
        data[start:start + size] = bytes(size)
    elif how == "garbage-page":
        data[start:start + size] = bytes(rng.getrandbits(8) for _ in range(size))
    else:
        data[start + 8:start + 40] = bytes(rng.getrandbits(8) for _ in range(32))
    path.write_bytes(data)
    return f"{how} on page {page} (one of the {len(pages)} pages of table {table})"
