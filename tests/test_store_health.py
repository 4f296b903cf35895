"""The pieces of the store's health, alone: the log throttle, how a failure is classified, when the
store counts as failing (damage sticks, a lock only after SQLite's usual patience), the health file."""

from __future__ import annotations

import errno
import json
import logging
import sqlite3

import pytest

from netwatchd.clock import FakeClock
from netwatchd.errors import StoreError
from netwatchd.logs import LogThrottle
from netwatchd.store.db import Database
from netwatchd.store.faults import classify
from netwatchd.store.health import HEALTH_FILE_SIZE, StoreHealth, read_health_files, write_health_file


def test_the_throttle_says_a_problem_at_once_then_once_a_minute_with_a_count_then_when_it_ends(caplog):
    clock = FakeClock()
    throttle = LogThrottle(logging.getLogger("t"), every=60, monotonic=clock.monotonic)
    with caplog.at_level(logging.INFO, logger="t"):
        for _ in range(8 * 150):                 # 8 a second for 150 s, as a full disk did
            throttle.log("disk", logging.ERROR, "cannot write %s", "x")
            clock.advance(0.125)
        assert throttle.count("disk") == 1200
        throttle.resolved("disk", logging.WARNING, "written again")
        throttle.resolved("disk", logging.WARNING, "written again")        # not open any more: nothing
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["cannot write x",
                     "cannot write x [again 480 times in the last 60 s; for 60 s now]",
                     "cannot write x [again 480 times in the last 60 s; for 2 min now]",
                     "written again [after 1,200 failure(s) in 2 min]"]


def test_keys_are_throttled_separately_and_percent_signs_survive(caplog):
    clock = FakeClock()
    throttle = LogThrottle(logging.getLogger("t"), every=60, monotonic=clock.monotonic)
    with caplog.at_level(logging.INFO, logger="t"):
        assert throttle.log("a", logging.ERROR, "100% full")
        assert throttle.log("b", logging.ERROR, "other %s", "thing")
        assert not throttle.log("a", logging.ERROR, "100% full")
    assert [r.getMessage() for r in caplog.records] == ["100% full", "other thing"]


@pytest.mark.parametrize("exc, kind", [
    (sqlite3.OperationalError("database or disk is full"), "full"),
    (sqlite3.DatabaseError("database disk image is malformed"), "damaged"),
    (sqlite3.DatabaseError("file is not a database"), "damaged"),
    (sqlite3.OperationalError("disk I/O error"), "io"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "readonly"),
    (sqlite3.OperationalError("database is locked"), "locked"),
    (StoreError("the store stayed locked for 10 s; is another process holding a long write transaction?"), "locked"),
    (OSError(errno.ENOSPC, "No space left on device"), "full"),
    (OSError(errno.EROFS, "Read-only file system"), "readonly"),
    (sqlite3.OperationalError("no such table: outbox"), "other"),
])
def test_failures_are_classified_by_code_or_wording(exc, kind):
    assert classify(exc).kind == kind


def test_a_real_full_error_from_sqlite_is_classified_by_its_code(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.sqlite3", isolation_level=None)
    conn.execute("CREATE TABLE t(v)")
    conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(sqlite3.Error) as caught:
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 100)
    assert classify(caught.value).kind == "full"


@pytest.fixture
def health(tmp_path):
    db = Database.in_dir(tmp_path)
    db.migrate()
    return StoreHealth(db, FakeClock())


def test_a_full_disk_fails_until_a_write_succeeds(health, caplog):
    with caplog.at_level(logging.WARNING, logger="netwatchd.store"):
        health.failed("alerts", sqlite3.OperationalError("database or disk is full"))
        health.failed("probe history", sqlite3.OperationalError("database or disk is full"))
        report = health.report()
        assert not report.ok and report.kind == "full" and report.failures == 2
        assert report.line().startswith("store failing since ") and "the disk is full" in report.line()
        assert health.write_patience() == 0           # while failing, writes do not wait for locks
        health.succeeded()
    assert health.report().ok
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]


def test_a_lock_counts_only_after_sqlites_usual_patience(health):
    health.failed("alerts", sqlite3.OperationalError("database is locked"))
    assert health.report().ok                         # another writer at work
    health.clock.advance(5)
    health.failed("alerts", sqlite3.OperationalError("database is locked"))
    assert health.report().ok
    health.clock.advance(5)
    health.failed("alerts", sqlite3.OperationalError("database is locked"))
    assert not health.report().ok and health.report().kind == "locked"
    health.succeeded()
    health.clock.advance(60)
    health.failed("alerts", sqlite3.OperationalError("database is locked"))
    assert health.report().ok                         # a new lock starts its own patience


def test_damage_sticks_after_good_writes(health):
    health.failed("delivery", sqlite3.DatabaseError("database disk image is malformed"))
    health.succeeded()
    report = health.report()
    assert not report.ok and report.kind == "damaged" and "--move-damaged-store" in report.advice


def test_the_quick_check_of_a_sound_store_passes(health):
    assert health.check_now() is None and health.report().ok and health.report().checked_at is not None


def test_the_health_file_is_rewritten_in_place_at_one_fixed_size(tmp_path):
    path = tmp_path / "agent-health.json"
    assert write_health_file(path, {"ok": True, "store": {"line": "store ok"}})
    inode = path.stat().st_ino
    assert write_health_file(path, {"ok": False, "store": {"line": "x" * 10_000, "detail": "y"}})
    assert path.stat().st_size == HEALTH_FILE_SIZE and path.stat().st_ino == inode
    assert path.stat().st_mode & 0o777 == 0o600
    [record] = read_health_files(tmp_path)
    assert record["ok"] is False and record["store"]["line"] == "(too long)"
    path.write_text("{not json")
    assert read_health_files(tmp_path)[0]["unreadable"]
    json.dumps(read_health_files(tmp_path))
