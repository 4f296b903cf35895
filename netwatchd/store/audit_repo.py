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


def open_entry(conn: sqlite3.Connection, entry: AuditEntry, outcome: str = RECEIVED,
               incident_id: int | None = None) -> int:
    """Insert `entry` with `outcome` (default "received") and the incident it concerns, in the
    caller's transaction; returns its id."""
    cursor = conn.execute("INSERT INTO audit_log(at, user_id, chat_id, command, outcome, incident_id)"
                          " VALUES(?,?,?,?,?,?)",
                          (utc_ms(entry.at), entry.user_id, entry.chat_id,
                           entry.command[:500], outcome[:300], incident_id))
    return int(cursor.lastrowid or 0)


def set_incident(conn: sqlite3.Connection, audit_id: int, incident_id: int) -> None:
    """Name the incident a command acted on (/ack, /snooze)."""
    conn.execute("UPDATE audit_log SET incident_id = ? WHERE id = ?", (incident_id, audit_id))


def finish_audit(conn: sqlite3.Connection, audit_id: int, outcome: str) -> None:
    """Record how a command ended: ok | refused: ... | rate limited | invalid: ... | router error: ..."""
    conn.execute("UPDATE audit_log SET outcome = ? WHERE id = ?", (outcome[:300], audit_id))


def recent_audit(conn: sqlite3.Connection, limit: int = 50) -> list[dict[str, object]]:
    """The newest audit rows first, as plain dicts."""
    rows = conn.execute("SELECT id, at, user_id, chat_id, command, outcome, incident_id FROM audit_log "
                        "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [dict(row) for row in rows]
