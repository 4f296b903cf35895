"""netwatchd.files: private directories and files whatever the umask; an admin's group read is kept."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatchd.files import open_private_append, private_dir, private_file
from netwatchd.store.db import Database


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_new_dirs_and_files_are_0700_and_0600_under_umask_0(tmp_path: Path, loose_umask: None) -> None:
    target = private_file(tmp_path / "a" / "b" / "x.log")
    assert _mode(tmp_path / "a" / "b") == 0o700 and _mode(target) == 0o600
    with open_private_append(tmp_path / "a" / "timing.jsonl") as handle:
        handle.write("{}\n")
    assert _mode(tmp_path / "a" / "timing.jsonl") == 0o600


def test_world_bits_and_group_write_are_removed_but_group_read_kept(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o777)
    existing = folder / "old.jsonl"
    existing.write_text("x")
    existing.chmod(0o666)
    private_dir(folder)
    private_file(existing)
    assert _mode(folder) == 0o750 and _mode(existing) == 0o640
    assert existing.read_text() == "x"                     # tightened, never truncated


def test_the_store_and_its_wal_and_shm_are_private(tmp_path: Path, loose_umask: None) -> None:
    db = Database.in_dir(tmp_path / "data")
    conn = db.open()
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    names = {p.name: _mode(p) for p in (tmp_path / "data").iterdir()}
    conn.close()
    assert _mode(tmp_path / "data") == 0o700
    assert names == {"netwatchd.sqlite3": 0o600, "netwatchd.sqlite3-wal": 0o600, "netwatchd.sqlite3-shm": 0o600}


def test_timing_log_and_its_rotated_files_are_private(tmp_path: Path, loose_umask: None) -> None:
    from netwatchd.jsonl import RotatingJsonl

    log = RotatingJsonl(tmp_path / "data" / "timing.jsonl", max_bytes=200, keep=3)
    for n in range(20):
        log.write({"n": n, "pad": "x" * 40})
    files = sorted((tmp_path / "data").iterdir())
    assert len(files) >= 3
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert _mode(tmp_path / "data") == 0o700
