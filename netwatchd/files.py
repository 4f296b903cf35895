"""Private files: what netwatchd writes under data_dir is readable by the service account only.

The store and timing.jsonl hold the audit log (Telegram user ids, chat ids, commands) and outage history,
so they are created 0600 in a 0700 directory whatever the umask. An administrator who gives the service
group read access (data_dir 0750, files 0640) keeps it; world bits and group write are always removed.
A leaf module: imports only the standard library.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

DIR_MODE = 0o700
FILE_MODE = 0o600
_NEVER = stat.S_IRWXO | stat.S_IWGRP   # no access for others, no group write, ever


def _tighten(path: Path) -> None:
    """Remove world bits and group write from a path this process owns (others' files are left alone)."""
    try:
        info = path.stat()
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & _NEVER:
            path.chmod(stat.S_IMODE(info.st_mode) & ~_NEVER)
    except OSError:
        pass  # not ours or gone: the open that follows reports what matters


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) as 0700, or tighten an existing one. Raises OSError."""
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        path.chmod(DIR_MODE)  # mkdir's mode is masked by the umask
    _tighten(path)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty as 0600 if missing (in a private directory), or tighten it. Raises OSError.

    SQLite gives its -wal and -shm files the mode of the database file, so creating the database this
    way keeps all three private."""
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, FILE_MODE)
    os.close(fd)
    _tighten(path)
    return path


def open_private_append(path: Path) -> IO[str]:
    """Open `path` for appending text (utf-8), created 0600 if missing. Raises OSError."""
    private_file(path)
    return path.open("a", encoding="utf-8")
