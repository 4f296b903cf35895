"""The SQLite connection factory and forward-only migrations.

Schema version 1 is the union of `store/v1/*.sql` (one file per subsystem, each owned by that
subsystem). Every later change is a new file `store/migrations/NNNN_what.sql` (NNNN >= 0002),
applied in order inside one transaction each, and recorded in PRAGMA user_version.
Each thread opens its own connection with `Database.connect()`; WAL lets the agent, the
`status` command and the report read and write the same file safely.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Iterator

from netwatchd.errors import StoreError

DB_FILENAME = "netwatchd.sqlite3"


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
    def in_dir(cls, data_dir: Path | str) -> "Database":
        return cls(Path(data_dir) / DB_FILENAME)

    def connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        """A new connection for the calling thread (autocommit; use `transaction()` to write)."""
        try:
            if readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10,
                                       isolation_level=None, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc} "
                             "(check data_dir exists and is writable by netwatchd)") from None
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
            return conn.execute("PRAGMA user_version").fetchone()[0]
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
