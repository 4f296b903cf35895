"""A small real filesystem that can be filled: a tmpfs mounted on a folder (root only), for
full-disk tests and scripts/bench_faults.py.

    with small_disk(folder, 4 * 1024 * 1024) as disk:   # 4 MiB tmpfs on `folder`
        filler = fill(disk)                              # write until ENOSPC
        ...                                              # the disk is full now
        filler.unlink()                                  # space is back

The mount is always removed on exit (lazily if something still has a file open there).
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from netwatchd.errors import LabError

CHUNK = 64 * 1024


def unavailable() -> str | None:
    """Why a tmpfs cannot be mounted here (None: it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if not Path("/proc/filesystems").exists() or "tmpfs" not in Path("/proc/filesystems").read_text():
        return "no tmpfs in this kernel"
    return None


@contextmanager
def small_disk(folder: Path, size: int) -> Iterator[Path]:
    """Mount a `size`-byte tmpfs on `folder` (created), mode 0700; unmount on exit. Raises LabError."""
    reason = unavailable()
    if reason:
        raise LabError(reason)
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"mount -t tmpfs on {folder} failed: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, name: str = "filler") -> Path:
    """Write a file in `folder` until the filesystem is full (ENOSPC); returns its path."""
    path = folder / name
    block = b"\0" * CHUNK
    with open(path, "ab", buffering=0) as handle:
        size = CHUNK
        while size >= 512:
            try:
                handle.write(block[:size])
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                size //= 2            # the last blocks: smaller writes until nothing fits
    return path


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize
