"""A small real filesystem for full-disk tests (no tests here): a tmpfs, or a skip without root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from netwatchd.lab import smalldisk


@contextmanager
def tmpfs_or_skip(folder: Path, size: int) -> Iterator[Path]:
    """A `size`-byte tmpfs on `folder`, unmounted afterwards. Skips without root (fails under CI,
    which runs as root: these tests must not silently vanish there)."""
    reason = smalldisk.unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"full-disk tests must run in CI: {reason}")
        pytest.skip(reason)
    with smalldisk.small_disk(folder, size) as mounted:
        yield mounted
