"""A JSON-lines log that rotates by size (data_dir/timing.jsonl), and reading across its files.

Files, numbered like logrotate's: NAME is being written, NAME.1 is the newest rotated file,
NAME.K the oldest kept. Before a line would take NAME past `max_bytes`, it rotates: every
NAME.n with n >= keep is deleted, each NAME.n becomes NAME.n+1 from the top down, NAME becomes
NAME.1, and the line starts a new NAME. Each step is one rename (atomic on POSIX), so a crash
in the middle of a rotation leaves every record in exactly one file: at worst a number is skipped
(NAME.3 but no NAME.2), which readers and the next rotation take as they find it. Disk use is
bounded by about (keep + 1) x max_bytes.

Writers: one lock per file and process (threads), and `flock` on NAME.lock for other processes
(two agents with --shard on one data_dir). Each line is one write() on an O_APPEND descriptor
opened for that line, so an outside logrotate (copytruncate or a move) stays safe too. A line a
crash left without its newline is ended before the next line is appended; readers skip any line
that is not a JSON object.

Readers (`read_records`, `last_record`) open every file under a shared lock first, then read, so a
rotation running meanwhile can neither hide a file nor show one twice.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from netwatchd.files import FILE_MODE, private_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: threads are still serialised
    fcntl = None  # type: ignore[assignment]

MIB = 1024 * 1024
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def rotated_name(path: Path, number: int) -> Path:
    """NAME.number next to NAME."""
    return path.with_name(f"{path.name}.{number}")


def _lock_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.lock")


def _rotated(path: Path) -> list[tuple[int, Path]]:
    """(number, file) of every NAME.n present, oldest (highest number) first."""
    pattern = re.compile(re.escape(path.name) + r"\.([1-9]\d{0,5})")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found = [(int(m.group(1)), path.parent / name) for name in names if (m := pattern.fullmatch(name))]
    return sorted(found, reverse=True)


def log_files(path: Path) -> list[Path]:
    """Every file of the log that exists, oldest first: NAME.K ... NAME.1, NAME."""
    path = Path(path)
    files = [file for _, file in _rotated(path)]
    return files + [path] if path.exists() else files


def _thread_lock(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


@contextmanager
def _file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """flock on NAME.lock; without it (no fcntl, a read-only data_dir for a reader) no lock."""
    if fcntl is None:
        yield
        return
    try:
        handle = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError:
        if not shared:
            raise
        yield                       # a reader without write access to data_dir reads unlocked
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)            # closing releases the lock


class RotatingJsonl:
    """Appends JSON lines to `path`, rotating by size. `max_bytes` None: never rotates."""

    def __init__(self, path: Path, *, max_bytes: int | None = 10 * MIB, keep: int = 10) -> None:
        self.path = Path(path)
        self.set_limits(max_bytes, keep)

    def set_limits(self, max_bytes: int | None, keep: int) -> None:
        """Change the limits (a config reload); they apply to the next line. Raises ValueError."""
        if keep < 1 or (max_bytes is not None and max_bytes < 1):
            raise ValueError("keep must be at least 1 and max_bytes positive")
        self.max_bytes, self.keep = max_bytes, keep

    def write(self, record: Any) -> None:
        """Append one record as one line, rotating first when it would not fit.
        Raises OSError when the file cannot be written (the caller decides how loud to be)."""
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with _thread_lock(self.path):
            private_dir(self.path.parent)
            with _file_lock(self.path):
                fd = self._open()
                try:
                    size = os.fstat(fd).st_size
                    if self.max_bytes is not None and size and size + len(line) > self.max_bytes:
                        os.close(fd)
                        fd = -1
                        self._rotate()
                        fd = self._open()
                        size = os.fstat(fd).st_size
                    if size and os.pread(fd, 1, size - 1) != b"\n":
                        line = b"\n" + line         # end the line a crash cut short
                    _write_all(fd, line)
                finally:
                    if fd >= 0:
                        os.close(fd)

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)   # audit data: 0600

    def _rotate(self) -> None:
        # highest number first: each rename's target has just moved away (or never existed)
        for number, file in _rotated(self.path):
            if number >= self.keep:
                _unlink(file)
            else:
                os.replace(file, rotated_name(self.path, number + 1))
        os.replace(self.path, rotated_name(self.path, 1))


def _unlink(file: Path) -> None:
    try:
        file.unlink()
    except FileNotFoundError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _open_all(path: Path) -> list[IO[bytes]]:
    """Every file of the log opened for reading, oldest first, in one consistent moment."""
    handles: list[IO[bytes]] = []
    with _thread_lock(path), _file_lock(path, shared=True):
        for file in log_files(path):
            try:
                handles.append(file.open("rb"))
            except OSError:
                continue
    return handles


def _records(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        try:
            record = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of the log, oldest file first and in file order; unreadable lines are skipped,
    a missing log is empty. Never raises for a file that vanished or cannot be read."""
    handles = _open_all(Path(path))
    try:
        for handle in handles:
            try:
                yield from _records(iter(handle))
            except OSError:
                continue
    finally:
        for handle in handles:
            handle.close()


def last_record(path: Path, tail: int = 8192) -> dict[str, Any] | None:
    """The newest record of the log (reading only the tail of the newest file that has one), or
    None. Never raises for a missing or unreadable file."""
    handles = _open_all(Path(path))
    try:
        for handle in reversed(handles):
            try:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - tail))
                chunk = handle.read()
            except OSError:
                continue
            lines = chunk.splitlines()
            if size > tail and lines:
                lines = lines[1:]                   # the first line of the tail may be cut
            found = list(_records(iter(lines)))
            if found:
                return found[-1]
        return None
    finally:
        for handle in handles:
            handle.close()
