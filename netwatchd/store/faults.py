"""What went wrong with the store, in an administrator's words (error codes only, no SQL here).

`classify(exc)` sorts the exception of any store operation into one kind:

    full      SQLITE_FULL, ENOSPC: the disk holding data_dir is full
    damaged   SQLITE_CORRUPT, SQLITE_NOTADB: the file is damaged (it does not heal by itself)
    io        SQLITE_IOERR, EIO: the disk failed to read or write
    readonly  SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN, EROFS, EACCES: it cannot be written
    locked    SQLITE_BUSY, SQLITE_LOCKED, StoreError: another process held the write lock too long
    other     anything else

`damaged_message()` is the one line the agent prints when it refuses a damaged store; it names the
file, what is damaged, the exact commands that move it aside, and how to look at it first.
"""

from __future__ import annotations

import errno
import shlex
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from netwatchd.errors import StoreError

FULL, DAMAGED, IO, READONLY, LOCKED, OTHER = "full", "damaged", "io", "readonly", "locked", "other"
KINDS = (FULL, DAMAGED, IO, READONLY, LOCKED, OTHER)

# primary SQLite result codes (sqlite3.h); Python >= 3.11 exposes them as exc.sqlite_errorcode
_CODES = {13: FULL, 11: DAMAGED, 26: DAMAGED, 10: IO, 8: READONLY, 3: READONLY, 14: READONLY,
          5: LOCKED, 6: LOCKED}
# the same by SQLite's wording (Python 3.10 has no error codes on the exception)
_WORDS = (("disk is full", FULL), ("malformed", DAMAGED), ("not a database", DAMAGED), ("disk i/o error", IO),
          ("readonly database", READONLY), ("unable to open database", READONLY),
          ("database is locked", LOCKED), ("database table is locked", LOCKED), ("stayed locked", LOCKED))
_ERRNOS = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EIO: IO, errno.EROFS: READONLY,
           errno.EACCES: READONLY, errno.EPERM: READONLY}


@dataclass(frozen=True)
class StoreFault:
    """One failed store operation: its kind (see the module doc) and SQLite's or the OS's words."""

    kind: str
    detail: str


def classify(exc: BaseException) -> StoreFault:
    """The kind of a store failure (never raises)."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _CODES:
        return StoreFault(_CODES[code & 0xFF], detail)
    if isinstance(exc, OSError) and exc.errno in _ERRNOS:
        return StoreFault(_ERRNOS[exc.errno], detail)
    lowered = detail.lower()
    for words, kind in _WORDS:
        if words in lowered:
            return StoreFault(kind, detail)
    if isinstance(exc, StoreError):
        return StoreFault(LOCKED if "lock" in lowered else OTHER, detail)
    return StoreFault(OTHER, detail)


def is_damage(exc: BaseException) -> bool:
    """Whether `exc` says the store file is damaged."""
    return isinstance(exc, (sqlite3.Error, StoreError, OSError)) and classify(exc).kind == DAMAGED


def free_bytes(path: Path) -> int | None:
    """Bytes free for this user on the filesystem holding `path` (None when it cannot be read)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def human_bytes(count: int | None) -> str:
    """'0 B', '512 KiB', '3.2 GiB' ('?' for None)."""
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 10 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"   # pragma: no cover - the loop always returns


def advice(kind: str, store: Path) -> str:
    """What an administrator does about a failure of this kind, one clause."""
    folder = store.parent
    if kind == FULL:
        return f"free space on the disk holding {folder} ({human_bytes(free_bytes(folder))} free now)"
    if kind == DAMAGED:
        return ("restart netwatchd with --move-damaged-store to keep the damaged file aside and start "
                f"with an empty store (to look first: sqlite3 {shlex.quote(str(store))} 'PRAGMA integrity_check')")
    if kind == IO:
        return "check the disk (dmesg, smartctl): SQLite got an I/O error"
    if kind == READONLY:
        return (f"check that {folder} and the files in it are writable by the user netwatchd runs as and "
                "that the filesystem is not mounted read-only")
    if kind == LOCKED:
        return "another process held the store's write lock for over 10 s (an sqlite3 shell left open?)"
    return "see the error; the store is retried with every write"


LOW_SPACE = 256 * 1024     # below this, an open that fails is blamed on the full disk


def cannot_open(store: Path, exc: BaseException, doing: str = "open") -> str:
    """One line for a store that cannot be opened or checked: a full disk is named as such (SQLite
    must create the -wal and -shm files next to the store to open it)."""
    folder = store.parent
    free = free_bytes(folder)
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if free is not None and free < LOW_SPACE and classify(exc).kind in (FULL, IO, READONLY, OTHER):
        return (f"cannot {doing} the store {store}: {detail}: the disk holding {folder} is full "
                f"({human_bytes(free)} free; SQLite needs room for the store's -wal and -shm files): free space "
                "there, then start netwatchd again")
    return f"cannot {doing} the store {store}: {detail} (check data_dir exists and is writable by netwatchd)"


def aside_path(store: Path, when: datetime) -> Path:
    """Where a damaged store is moved: netwatchd.sqlite3.damaged-20261205-073652."""
    return store.with_name(f"{store.name}.damaged-{when:%Y%m%d-%H%M%S}")


def companions(store: Path) -> list[Path]:
    """The store and its -wal / -shm files that exist (a WAL must move with its database: left
    behind, SQLite would replay it into the fresh store)."""
    return [p for p in (store, Path(f"{store}-wal"), Path(f"{store}-shm")) if p.exists()]


def damaged_message(store: Path, detail: str, *, when: datetime, config_path: str | Path | None = None) -> str:
    """One line: the file, what is damaged, the commands that keep it aside, how to look first."""
    aside = aside_path(store, when)
    moves = [f"mv {shlex.quote(str(p))} {shlex.quote(str(aside) + str(p)[len(str(store)):])}"
             for p in companions(store) or [store]]
    again = "netwatchd run" + (f" -c {shlex.quote(str(config_path))}" if config_path else "") + " --move-damaged-store"
    return (f"the store {store} is damaged ({detail}). To keep it aside and start with an empty store (site "
            f"states, queued alerts and history start over; hosts.yaml is not touched): `{' && '.join(moves)}`, "
            f"then start netwatchd again (or start it once as `{again}`, which does the same). "
            f"To look at it first: `sqlite3 {shlex.quote(str(store))} 'PRAGMA integrity_check'`")
