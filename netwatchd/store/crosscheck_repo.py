"""The Netwatch cross-check watcher's memory (table in migrations/0002_crosscheck.sql).

`apply()` joins the caller's open transaction, so the agent writes these rows together with the
events and outbox rows of the alerts they produced (state_repo.save): a crash leaves both or
neither. Times are stored as ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from netwatchd.clock import utc_ms
from netwatchd.router.crosscheck_watch import PendingWrites, SiteWatch
from netwatchd.store.db import joined_transaction

_COLUMNS = ("router, site, disagree_checks, agree_checks, announced, since, last_checked, router_status, "
            "netwatchd_state, entry")


def load(conn: sqlite3.Connection) -> list[SiteWatch]:
    """Every stored row, by router then site. Raises sqlite3.Error on a broken store."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM crosscheck_watch ORDER BY router, site").fetchall()
    return [SiteWatch(router=r[0], site=r[1], disagree_checks=int(r[2]), agree_checks=int(r[3]),
                      announced=bool(r[4]), since=datetime.fromisoformat(r[5]),
                      last_checked=datetime.fromisoformat(r[6]), router_status=r[7], netwatchd_state=r[8],
                      entry=r[9]) for r in rows]


def apply(conn: sqlite3.Connection, writes: PendingWrites) -> None:
    """Store the watcher's pending writes. Joins the caller's open transaction, or runs in its own.
    Raises sqlite3.Error if the store cannot be written."""
    if not writes:
        return
    with joined_transaction(conn):
        _apply(conn, writes)


def _apply(conn: sqlite3.Connection, writes: PendingWrites) -> None:
    conn.executemany(
        f"INSERT INTO crosscheck_watch({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(router, site) DO UPDATE SET disagree_checks=excluded.disagree_checks, "
        "agree_checks=excluded.agree_checks, announced=excluded.announced, since=excluded.since, "
        "last_checked=excluded.last_checked, router_status=excluded.router_status, "
        "netwatchd_state=excluded.netwatchd_state, entry=excluded.entry",
        [(w.router, w.site, w.disagree_checks, w.agree_checks, 1 if w.announced else 0, utc_ms(w.since),
          utc_ms(w.last_checked), w.router_status, w.netwatchd_state, w.entry) for w in writes.upserts])
    conn.executemany("DELETE FROM crosscheck_watch WHERE router = ? AND site = ?", list(writes.deletes))
