"""The bot's tables (store/v1/30_bot.sql): the getUpdates offset in `kv` and the `audit_log`.

Delivery semantics: for every update the poller writes, in ONE transaction, the new offset
(update_id + 1) and an audit row with outcome "received" — before anything is run. A restart
therefore never re-runs a command (at-most-once): a command that was being answered when the
process died keeps the outcome "received" in the audit log and is not answered again.

Waiting for the write lock. The agent writes the same store many times a second; SQLite's own
busy handler backs off 1, 2, 5, 10, 15, 20, 25 ... ms between tries, which adds up to ~80 ms of
pure waiting when the lock is busy. The bot instead tries every millisecond on a
connection with busy_timeout 0 (`write_quickly`), so a command waits only as long as the agent's
write lasts.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, TypeVar

from netwatchd.errors import StoreError
from netwatchd.store.db import transaction

OFFSET_KEY = "telegram.update_offset"
RECEIVED = "received"
LOCK_PATIENCE_S = 10.0
LOCK_POLL_S = 0.001
T = TypeVar("T")


def write_quickly(conn: sqlite3.Connection, writes: Callable[[sqlite3.Connection], T], *,
                  patience: float = LOCK_PATIENCE_S, monotonic: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `writes(conn)` in one transaction, polling a busy write lock every millisecond.

    Meant for a connection with `PRAGMA busy_timeout=0` (with a busy timeout it still works, just
    with SQLite's slower back-off). A transaction that met a busy lock was rolled back and is run
    again whole. Raises StoreError when the lock stays busy for `patience` s.
    """
    deadline = monotonic() + patience
    while True:
        try:
            with transaction(conn):
                return writes(conn)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if monotonic() >= deadline:
                raise StoreError(f"the store stayed locked for {patience:g} s; is another process "
                                 "holding a long write transaction?") from None
            sleep(LOCK_POLL_S)


def load_offset(conn: sqlite3.Connection) -> int | None:
    """The next update_id to ask getUpdates for, or None before the first update."""
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (OFFSET_KEY,)).fetchone()
    return int(row[0]) if row else None


@dataclass(frozen=True)
class AuditEntry:
    """Who asked what, where (the `audit_log` row opened when a command arrives)."""

    at: datetime
    user_id: int | None
    chat_id: int | None
    command: str


def accept_update(conn: sqlite3.Connection, update_id: int, audit: AuditEntry | None = None) -> int | None:
    """Advance the offset past `update_id` and, for a command, open its audit row with outcome
    "received" — atomically. Returns the audit row id (None without `audit`).

    The offset never moves backwards (an older update re-delivered after a restart is a no-op).
    """
    def writes(conn: sqlite3.Connection) -> int | None:
        conn.execute("INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET "
                     "value = CASE WHEN CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER) "
                     "THEN excluded.value ELSE value END", (OFFSET_KEY, str(update_id + 1)))
        if audit is None:
            return None
        cursor = conn.execute("INSERT INTO audit_log(at, user_id, chat_id, command, outcome) VALUES(?,?,?,?,?)",
                              (audit.at.isoformat(timespec="milliseconds"), audit.user_id, audit.chat_id,
                               audit.command[:500], RECEIVED))
        return int(cursor.lastrowid or 0)

    return write_quickly(conn, writes)


def finish_audit(conn: sqlite3.Connection, audit_id: int, outcome: str) -> None:
    """Record how a command ended: ok | refused: ... | rate limited | invalid: ... | router error: ..."""
    conn.execute("UPDATE audit_log SET outcome = ? WHERE id = ?", (outcome[:300], audit_id))


def recent_audit(conn: sqlite3.Connection, limit: int = 50) -> list[dict[str, object]]:
    """The newest audit rows first, as plain dicts."""
    rows = conn.execute("SELECT id, at, user_id, chat_id, command, outcome FROM audit_log "
                        "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [dict(row) for row in rows]
