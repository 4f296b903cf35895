"""The SQLite connection factory and forward-only migrations.

Schema version 1 is the union of `store/v1/*.sql` (one file per subsystem, each owned by that
subsystem). Every later change is a new file `store/migrations/NNNN_what.sql` (NNNN >= 0002),
applied in order inside one transaction each, and recorded in PRAGMA user_version.
Each thread uses its own connection (`ThreadConnections`, or `Database.connect()` for a
short-lived one); WAL lets the agent, the `status` command and the report read and write the
same file safely. `transaction()` writes, `read_transaction()` reads a consistent snapshot,
`write_quickly()` writes without SQLite's slow busy back-off (the bot).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from importlib import resources
from pathlib import Path
from typing import TypeVar

from netwatchd.errors import StoreError
from netwatchd.files import private_file
from netwatchd.store.faults import cannot_open

DB_FILENAME = "netwatchd.sqlite3"
LOCK_PATIENCE_S = 10.0
# Page cache of each writing connection, KiB (SQLite's default is 2,000). The agent keeps about
# ten connections open (one per thread that touches the store); at 10,000 sites each filled its
# cache over the first minutes: ~20 MB of RSS for pages the OS page cache holds anyway (WAL reads
# are a pread away). Read-only connections (reports, `netwatchd status`) keep the default.
WRITER_CACHE_KIB = 512
LOCK_POLL_S = 0.001
T = TypeVar("T")


def _schema_v1() -> str:
    folder = resources.files("netwatchd.store").joinpath("v1")
    parts = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return "\n".join(p.read_text("utf-8") for p in parts)


def _later_migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("netwatchd.store").joinpath("migrations")
    found = []
    if folder.is_dir():
        for item in folder.iterdir():
            match = re.fullmatch(r"(\d{4})_[\w-]+\.sql", item.name)
            if match:
                found.append((int(match.group(1)), item.name, item.read_text("utf-8")))
    return sorted(found)


def latest_version() -> int:
    later = _later_migrations()
    return later[-1][0] if later else 1


class Database:
    """Where the store lives. Raises StoreError when the file cannot be opened or migrated."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @classmethod
    def in_dir(cls, data_dir: Path | str) -> Database:
        return cls(Path(data_dir) / DB_FILENAME)

    def connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        """A new connection for the calling thread (autocommit; use `transaction()` to write)."""
        try:
            if readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10,
                                       isolation_level=None, check_same_thread=False)
            else:
                private_file(self.path)   # 0600 in a 0700 data_dir: it holds the audit log
                conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(cannot_open(self.path, exc)) from None
        conn.row_factory = sqlite3.Row
        return conn

    def migrate(self) -> int:
        """Bring the schema to the latest version; returns it. Raises StoreError."""
        conn = self.connect()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > latest_version():
                raise StoreError(f"the store {self.path} has schema version {version}, newer than "
                                 f"this netwatchd knows ({latest_version()}): upgrade netwatchd")
            steps: list[tuple[int, str]] = []
            if version < 1:
                steps.append((1, _schema_v1()))
            steps += [(n, sql) for n, _, sql in _later_migrations() if n > version]
            for number, sql in steps:
                try:
                    conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;")
                except sqlite3.Error as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise StoreError(f"migrating the store {self.path} to version {number} "
                                     f"failed: {exc}") from None
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()

    def open(self) -> sqlite3.Connection:
        """Migrate, then connect: what the agent and the CLI commands call."""
        self.migrate()
        return self.connect()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (which is re-raised)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # also when COMMIT itself failed (disk full, I/O error) and SQLite kept the transaction
        # open: left so, every later transaction() on this connection would fail
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def joined_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The caller's open transaction when there is one (its COMMIT decides), else a transaction()
    of its own: for repo writes that must land together with the alerts they belong to."""
    if conn.in_transaction:
        yield conn
        return
    with transaction(conn):
        yield conn


@contextmanager
def locked_transaction(conn: sqlite3.Connection, guard: AbstractContextManager[T]) -> Iterator[T]:
    """BEGIN IMMEDIATE, then enter `guard` (e.g. a lock of the caller's memory), run the body,
    COMMIT, and only then leave `guard`: what it protects cannot change between the body's writes
    and the commit, and nobody waits on `guard` while this waits for the store's write lock.
    ROLLBACK on any exception (re-raised; `guard` sees it)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        with guard as value:
            yield value
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN ... COMMIT around reads, so they all see one snapshot of the store (WAL keeps the
    agent writing meanwhile). Raises sqlite3.Error."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def write_quickly(conn: sqlite3.Connection, writes: Callable[[sqlite3.Connection], T], *,
                  patience: float = LOCK_PATIENCE_S, monotonic: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `writes(conn)` in one transaction, polling a busy write lock every millisecond.

    SQLite's own busy handler backs off 1, 2, 5, 10, 15, 20, 25 ... ms between tries (~80 ms of
    pure waiting when the agent holds the lock); this is meant for a connection with
    `busy_timeout=0` (`ThreadConnections(db, busy_timeout_ms=0)`), so the caller waits only as
    long as the other write lasts (with a busy timeout it still works, with the slower back-off).
    A transaction that met a busy lock was rolled back and is run again whole.
    Raises StoreError when the lock stays busy for `patience` s; other sqlite3.Errors as raised.
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


def set_busy_timeout(conn: sqlite3.Connection, seconds: float) -> None:
    """How long this connection's next writes wait for another writer's lock (0: fail at once).
    Raises sqlite3.Error."""
    conn.execute(f"PRAGMA busy_timeout={max(0, int(seconds * 1000))}")


class ThreadConnections:
    """One store connection per thread, opened on first use and kept (opening one costs six
    PRAGMAs). `close_current()` when a thread ends, `close_all()` at stop.

    `busy_timeout_ms` overrides the default 10 s busy timeout (0: fail at once, for
    `write_quickly`). `get()` raises StoreError when the store cannot be opened.
    """

    def __init__(self, db: Database, *, busy_timeout_ms: int | None = None) -> None:
        self.db = db
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.db.connect()
            if self._busy_timeout_ms is not None:
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            with self._lock:
                self._opened.append(conn)
        return conn

    def close_current(self) -> None:
        """Close the calling thread's connection (a thread that is about to end)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            self._opened = [c for c in self._opened if c is not conn]
        conn.close()

    def close_all(self) -> None:
        """Close every connection opened here (call once the threads using them have stopped)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()
