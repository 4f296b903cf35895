import sqlite3

import pytest

from netwatchd.errors import StoreError
from netwatchd.store import Database, transaction
from netwatchd.store.db import latest_version
from support.state import CommitFailsOnce


def test_migrate_creates_schema_in_wal_mode(tmp_path):
    db = Database.in_dir(tmp_path)
    assert db.migrate() == latest_version()
    conn = db.connect()
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert {"host_state", "events", "outbox", "kv", "audit_log", "probe_results"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.migrate() == latest_version()  # idempotent


def test_writing_connections_keep_a_small_page_cache_readers_the_default(tmp_path):
    """The agent holds ~10 writing connections: each may cache WRITER_CACHE_KIB, not SQLite's 2 MB."""
    from netwatchd.store.db import WRITER_CACHE_KIB

    db = Database.in_dir(tmp_path)
    db.migrate()
    writer, reader = db.connect(), db.connect(readonly=True)
    assert writer.execute("PRAGMA cache_size").fetchone()[0] == -WRITER_CACHE_KIB
    default = sqlite3.connect(":memory:").execute("PRAGMA cache_size").fetchone()[0]
    assert reader.execute("PRAGMA cache_size").fetchone()[0] == default != -WRITER_CACHE_KIB


def test_transaction_rolls_back_on_error(tmp_path):
    conn = Database.in_dir(tmp_path).open()
    with pytest.raises(RuntimeError):
        with transaction(conn):
            conn.execute("insert into kv(key, value) values ('a', '1')")
            raise RuntimeError("boom")
    assert conn.execute("select count(*) from kv").fetchone()[0] == 0


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    db = Database.in_dir(tmp_path)
    db.migrate()
    raw = sqlite3.connect(db.path)
    raw.execute("PRAGMA user_version=999")
    raw.close()
    with pytest.raises(StoreError, match="newer than this netwatchd knows"):
        db.migrate()


def test_unwritable_location_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the store"):
        Database(blocker / "sub" / "db.sqlite3").connect()


def test_a_failed_commit_leaves_the_connection_usable(tmp_path):
    """When COMMIT fails (disk full, I/O error) SQLite may keep the transaction open: transaction()
    must roll it back, or every later transaction() on that connection fails for good."""
    conn = Database.in_dir(tmp_path).open()
    flaky = CommitFailsOnce(conn)
    try:
        with pytest.raises(sqlite3.OperationalError):
            with transaction(flaky):
                conn.execute("INSERT INTO kv(key, value) VALUES ('a', '1')")
        assert not conn.in_transaction
        with transaction(flaky):
            conn.execute("INSERT INTO kv(key, value) VALUES ('b', '2')")
        assert [r[0] for r in conn.execute("SELECT key FROM kv WHERE key IN ('a', 'b')")] == ["b"]
    finally:
        conn.close()


def test_migration_numbers_are_unique_and_without_gaps() -> None:
    """Two branches once both added a 0003: each number must name exactly one migration, in order."""
    from netwatchd.store.db import _later_migrations

    numbers = [number for number, _, _ in _later_migrations()]
    assert numbers == list(range(2, 2 + len(numbers))), numbers
