"""The command bot's state (table `kv`, v1/30_bot.sql): the getUpdates offset.

Delivery semantics: for every update the poller writes, in ONE transaction, the new offset
(update_id + 1) and an audit row with outcome "received" (audit_repo) — before anything is run.
A restart therefore never re-runs a command (at-most-once): a command that was being answered
when the process died keeps the outcome "received" in the audit log and is not answered again.

The agent writes the same store many times a second, so `accept_update` waits for the write lock
with db.write_quickly (polling every millisecond) rather than SQLite's slow busy back-off; give
it a connection with busy_timeout 0 (`ThreadConnections(db, busy_timeout_ms=0)`).
"""

from __future__ import annotations

import sqlite3

from netwatchd.store.audit_repo import AuditEntry, open_entry
from netwatchd.store.db import LOCK_PATIENCE_S, write_quickly

OFFSET_KEY = "telegram.update_offset"


def load_offset(conn: sqlite3.Connection) -> int | None:
    """The next update_id to ask getUpdates for, or None before the first update. Raises sqlite3.Error."""
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (OFFSET_KEY,)).fetchone()
    return int(row[0]) if row else None


def accept_update(conn: sqlite3.Connection, update_id: int, audit: AuditEntry | None = None, *,
                  patience: float = LOCK_PATIENCE_S) -> int | None:
    """Advance the offset past `update_id` and, for a command, open its audit row with outcome
    "received" — atomically. Returns the audit row id (None without `audit`).

    The offset never moves backwards (an older update re-delivered after a restart is a no-op).
    Raises StoreError when the store stays locked, sqlite3.Error when it cannot be written.
    """
    def writes(conn: sqlite3.Connection) -> int | None:
        advance_offset(conn, update_id)
        return None if audit is None else open_entry(conn, audit)

    return write_quickly(conn, writes, patience=patience)


def advance_offset(conn: sqlite3.Connection, update_id: int) -> None:
    """Move the offset past `update_id` (never backwards), in the caller's transaction: a write that
    must commit with the update's own effects (a button press) uses this. Raises sqlite3.Error."""
    conn.execute("INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET "
                 "value = CASE WHEN CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER) "
                 "THEN excluded.value ELSE value END", (OFFSET_KEY, str(update_id + 1)))
