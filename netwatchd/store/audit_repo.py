"""The command bot's audit log (table `audit_log`, v1/30_bot.sql): who asked what, where, and how
it ended. A row is opened with the outcome "received" before the command runs (see
bot_repo.accept_update) and finished with the real outcome. Every function raises sqlite3.Error
when the store cannot be read or written.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from netwatchd.clock import utc_ms

RECEIVED = "received"


@dataclass(frozen=True)
class AuditEntry:
    """Who asked what, where (the `audit_log` row opened when a command arrives)."""

    at: datetime
    user_id: int | None
    chat_id: int | None
    command: str


def open_entry(conn: sqlite3.Connection, entry: AuditEntry) -> int:
    """Insert `entry` with the outcome "received" (in the caller's transaction); returns its id."""
    cursor = conn.execute("INSERT INTO audit_log(at, user_id, chat_id, command, outcome) VALUES(?,?,?,?,?)",
                          (utc_ms(entry.at), entry.user_id, entry.chat_id,
                           entry.command[:500], RECEIVED))
    return int(cursor.lastrowid or 0)


def finish_audit(conn: sqlite3.Connection, audit_id: int, outcome: str) -> None:
    """Record how a command ended: ok | refused: ... | rate limited | invalid: ... | router error: ..."""
    conn.execute("UPDATE audit_log SET outcome = ? WHERE id = ?", (outcome[:300], audit_id))


def recent_audit(conn: sqlite3.Connection, limit: int = 50) -> list[dict[str, object]]:
    """The newest audit rows first, as plain dicts."""
    rows = conn.execute("SELECT id, at, user_id, chat_id, command, outcome FROM audit_log "
                        "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [dict(row) for row in rows]
