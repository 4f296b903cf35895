"""The persistent outbox: alerts are rows in SQLite until Telegram has acknowledged them.

`enqueue()` adds rows inside the caller's transaction (state + event + outbox commit together).
`DeliveryWorker` (below) sends them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Sequence

from netwatchd.clock import iso_ms
from netwatchd.config import Config
from netwatchd.models import Transition

CONSOLE = "console"


def utc_ms(moment: datetime) -> str:
    """The one timestamp format stored in the outbox: UTC, milliseconds, '+00:00' (sorts as text)."""
    return iso_ms(moment.astimezone(timezone.utc))


def destinations_for(config: Config) -> list[str]:
    """Where alerts go: every telegram.chat_ids entry as a string, or ["console"] without a token
    (or without any chat id, so that no alert is ever silently dropped)."""
    if config.telegram.enabled and config.telegram.chat_ids:
        return [str(chat_id) for chat_id in config.telegram.chat_ids]
    return [CONSOLE]


def enqueue(conn: sqlite3.Connection, event_id: int | None, transition: Transition,
            destinations: Sequence[str], now: datetime) -> None:
    """Insert one pending row per destination; never commits (the caller's transaction does).

    A destination whose group was migrated to a supergroup goes to the new chat id.
    Raises sqlite3.Error if the store cannot be written (the caller's transaction rolls back).
    """
    migrated = dict(conn.execute("SELECT old_chat_id, new_chat_id FROM chat_migrations").fetchall())
    payload = json.dumps(transition.to_dict(), ensure_ascii=False, sort_keys=True)
    enqueued_at = utc_ms(now)
    detected_at = utc_ms(transition.at)
    seen: set[str] = set()
    for destination in destinations:
        chat_id = migrated.get(str(destination), str(destination))
        if chat_id in seen:
            continue
        seen.add(chat_id)
        conn.execute(
            "INSERT INTO outbox(event_id, chat_id, payload, status, enqueued_at, detected_at,"
            " next_attempt_at) VALUES (?, ?, ?, 'pending', ?, ?, ?)",
            (event_id, chat_id, payload, enqueued_at, detected_at, enqueued_at))
