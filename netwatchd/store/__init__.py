"""SQLite storage: one file in data_dir, WAL mode, schema versioned by PRAGMA user_version."""

from netwatchd.store.db import Database, transaction

__all__ = ["Database", "transaction"]
