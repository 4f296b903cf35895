"""The bot's tables in a real SQLite store: offset monotonic, audit rows, lock polling."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from netwatchd.clock import FakeClock
from netwatchd.errors import StoreError
from netwatchd.store.audit_repo import AuditEntry, finish_audit, recent_audit
from netwatchd.store.bot_repo import accept_update, load_offset
from netwatchd.store.db import Database, write_quickly

AT = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database.in_dir(tmp_path)
    database.migrate()
    return database


def test_offset_moves_forward_only_and_audit_rows_open_with_it(db: Database) -> None:
    conn = db.connect()
    assert load_offset(conn) is None
    first = accept_update(conn, 700, AuditEntry(AT, 1, 1, "/monitor"))
    assert load_offset(conn) == 701
    assert accept_update(conn, 650) is None        # an old update re-delivered: no going back
    assert load_offset(conn) == 701
    assert first is not None
    finish_audit(conn, first, "ok")
    assert [(r["command"], r["outcome"]) for r in recent_audit(conn)] == [("/monitor", "ok")]


def test_write_quickly_waits_for_another_writer(db: Database) -> None:
    mine, theirs = db.connect(), db.connect()
    mine.execute("PRAGMA busy_timeout=0")
    theirs.execute("BEGIN IMMEDIATE")
    theirs.execute("INSERT INTO kv(key, value) VALUES('x', '1')")
    clock = FakeClock()
    waits: list[float] = []

    def sleep(seconds: float) -> None:          # the other writer commits while we wait
        waits.append(seconds)
        clock.advance(seconds)
        if len(waits) == 3:
            theirs.execute("COMMIT")

    result = write_quickly(mine, lambda conn: conn.execute("INSERT INTO kv(key, value) VALUES('y', '2')").rowcount,
                           monotonic=clock.monotonic, sleep=sleep)
    assert result == 1 and waits == [0.001, 0.001, 0.001]
    assert dict(mine.execute("SELECT key, value FROM kv").fetchall()) == {"x": "1", "y": "2"}


def test_write_quickly_gives_up_with_a_clear_error(db: Database) -> None:
    mine, theirs = db.connect(), db.connect()
    mine.execute("PRAGMA busy_timeout=0")
    theirs.execute("BEGIN IMMEDIATE")
    clock = FakeClock()
    with pytest.raises(StoreError, match="stayed locked for 0.5 s"):
        write_quickly(mine, lambda conn: None, patience=0.5, monotonic=clock.monotonic, sleep=clock.advance)
    assert clock.monotonic() >= 1000.5
    theirs.execute("ROLLBACK")


def test_write_quickly_rolls_back_on_error(db: Database) -> None:
    conn = db.connect()

    def writes(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO kv(key, value) VALUES('z', '1')")
        conn.execute("INSERT INTO kv(key, value) VALUES('z', '2')")

    with pytest.raises(sqlite3.IntegrityError):
        write_quickly(conn, writes)
    assert conn.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
    assert not conn.in_transaction
