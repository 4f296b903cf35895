"""The router health watcher's memory (table in migrations/0004_router_watch.sql).

`apply()` joins the caller's open transaction, so the agent writes these rows together with the
events and outbox rows of the alerts they produced (state_repo.save): a restart neither repeats a
"CPU high" nor forgets the "back to normal" it owes, and an uptime read before the restart still
tells a router restart that happened while netwatchd was stopped.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from netwatchd.store.db import joined_transaction


def load(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """router name -> its memory. Raises sqlite3.Error on a broken store."""
    return {row[0]: json.loads(row[1]) for row in conn.execute("SELECT router, data FROM router_watch")}


def apply(conn: sqlite3.Connection, writes: Mapping[str, dict[str, Any] | None]) -> None:
    """Store each router's memory (None deletes it). Joins the caller's open transaction, or runs in
    its own. Raises sqlite3.Error if the store cannot be written."""
    if not writes:
        return
    with joined_transaction(conn):
        conn.executemany("INSERT INTO router_watch(router, data) VALUES (?, ?) "
                         "ON CONFLICT(router) DO UPDATE SET data=excluded.data",
                         [(name, json.dumps(data, sort_keys=True)) for name, data in writes.items()
                          if data is not None])
        conn.executemany("DELETE FROM router_watch WHERE router = ?",
                         [(name,) for name, data in writes.items() if data is None])
