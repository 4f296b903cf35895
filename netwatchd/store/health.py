"""The store's health as the running agent sees it, for /healthz, `netwatchd status`, the bot's
/status and the log.

Everything that writes the store (the agent's alert transaction and probe history, the delivery
worker, the bot) tells one `StoreHealth` about each failure (`failed`) and each committed write
(`succeeded`); `check_now()` runs PRAGMA quick_check (the agent calls it every CHECK_EVERY s).

* Damage (SQLITE_CORRUPT / NOTADB, or a failed quick_check) is sticky: a damaged file does not heal,
  so the store stays "failing" until netwatchd is restarted on a sound file.
* Any other failure (disk full, I/O error, read-only, locked) lasts until a write succeeds. A
  lock counts only once it has lasted `patience_s` (10 s, SQLite's usual patience): the alert
  path waits at most ALERT_PATIENCE for a lock (what it cannot write goes out from memory), so
  a few seconds of another writer's work cost no alert time and raise no alarm.
* The log says a problem at once, then at most once a minute with a count (logs.LogThrottle), and
  once more when it is over: a full disk used to write about 8 ERROR lines a second.

The agent also writes its verdict to a small file next to the store (`HEALTH_FILE`), so that
`netwatchd status` (another process) can say what the agent sees. The file is allocated once and
rewritten in place, so it can still be updated when the disk is full.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from netwatchd.clock import Clock
from netwatchd.errors import StoreError
from netwatchd.files import private_file
from netwatchd.logs import LogThrottle, redact
from netwatchd.store.db import LOCK_PATIENCE_S, Database, set_busy_timeout
from netwatchd.store.faults import DAMAGED, FULL, IO, LOCKED, READONLY, StoreFault, advice, classify, free_bytes
from netwatchd.store.integrity import find_damage

log = logging.getLogger("netwatchd.store")

# A damaged page is found within the hour even when no statement of the agent touches it (the
# statements read only the pages they need). The check reads the whole file: about 0.3 s per
# 240 MB with a warm cache, on its own connection, while the agent keeps writing.
CHECK_EVERY = 3600.0
LOG_EVERY = 60.0            # a lasting problem is logged again at most this often, with a count
HEALTH_FILE = "agent-health.json"
HEALTH_FILE_SIZE = 4096     # allocated once, rewritten in place (works on a full disk)
REPORT_EVERY = 15.0         # the agent refreshes its health file at least this often
ALERT_PATIENCE = 0.25       # the alert path's wait for another writer's lock (then: memory)
STALE_AFTER = 60.0          # `netwatchd status` calls a health file older than this stale

_WHAT = {FULL: "the disk is full", DAMAGED: "the file is damaged", IO: "disk I/O error",
         READONLY: "it cannot be written", LOCKED: "it stayed locked"}


@dataclass(frozen=True)
class HealthReport:
    """The store's health right now. `ok` False: `kind`, `detail`, `since`, `advice` say why."""

    ok: bool
    kind: str | None = None
    detail: str = ""
    since: datetime | None = None
    failures: int = 0              # failed store operations since the problem began
    held: int = 0                  # alerts in memory only (delivered or not), saved when it recovers
    free_bytes: int | None = None
    checked_at: datetime | None = None
    advice: str = ""
    folder: str = ""               # data_dir (where space must be freed)

    def line(self) -> str:
        """One line for /healthz and the log: 'store ok' or what is wrong and what to do."""
        if self.ok:
            held = f"; {self.held} alert(s) still to be saved" if self.held else ""
            return "store ok" + held
        since = f" since {self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else ""
        held = f"; {self.held} alert(s) held in memory (sent from there)" if self.held else ""
        return (f"store failing{since}: {_WHAT.get(self.kind or '', 'it failed')} ({self.detail}); "
                f"{self.failures:,} failed operation(s){held}; {self.advice}")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "kind": self.kind, "detail": self.detail,
                "since": self.since.isoformat(timespec="seconds") if self.since else None,
                "failures": self.failures, "held": self.held, "free_bytes": self.free_bytes,
                "checked_at": self.checked_at.isoformat(timespec="seconds") if self.checked_at else None,
                "advice": self.advice, "folder": self.folder, "line": self.line()}


class StoreHealth:
    """Failure tracking for one store (see the module doc). Thread-safe; never raises from
    `failed`, `succeeded` or `report`. `held` is set by the agent: how many alerts only memory has."""

    def __init__(self, db: Database, clock: Clock, *, log_every: float = LOG_EVERY,
                 logger: logging.Logger = log) -> None:
        self.db = db
        self.clock = clock
        self.held: Callable[[], int] = lambda: 0
        self.patience_s = LOCK_PATIENCE_S     # how long a write waits for another writer's lock
        self._throttle = LogThrottle(logger, every=log_every, monotonic=clock.monotonic)
        self._lock = threading.Lock()
        self._fault: StoreFault | None = None       # the current failure other than damage
        self._fault_since: datetime | None = None
        self._failures = 0
        self._open_keys: set[str] = set()
        self._damage: str | None = None
        self._damage_since: datetime | None = None
        self._damage_failures = 0
        self._checked_at: datetime | None = None
        self._locked_since: float | None = None     # monotonic: the first lock failure not yet counted

    # -- what the writers report ------------------------------------------------------------------

    def failed(self, what: str, exc: BaseException) -> StoreFault:
        """A store operation (`what`: 'alerts', 'probe history', 'delivery', ...) failed with `exc`."""
        fault = classify(exc)
        detail = redact(fault.detail)
        with self._lock:
            if fault.kind == LOCKED and self._fault is None:
                now = self.clock.monotonic()
                if self._locked_since is None:
                    self._locked_since = now
                if now - self._locked_since < self.patience_s:     # another writer at work: not yet
                    log.debug("the store is locked by another writer (%s); retried with the next write", what)
                    return fault
            if fault.kind == DAMAGED:
                self._damage_failures += 1
                first = self._damage is None
                if first:
                    self._damage, self._damage_since = detail, self.clock.now()
            else:
                if self._fault is None:
                    self._fault_since, self._failures = self.clock.now(), 0
                self._fault = StoreFault(fault.kind, detail)
                self._failures += 1
            self._open_keys.add(fault.kind)
        self._say(fault.kind, what, detail)
        return fault

    def succeeded(self) -> None:
        """A write committed: a failure other than damage is over."""
        if self._fault is None and self._locked_since is None:      # the common case, without the lock
            return
        with self._lock:
            self._locked_since = None
            if self._fault is None:
                return
            self._fault, self._fault_since, self._failures = None, None, 0
            keys = [k for k in self._open_keys if k != DAMAGED]
            self._open_keys -= set(keys)
        held = self.held()
        for key in keys:
            self._throttle.resolved(key, logging.WARNING, "the store %s can be written again%s", self.db.path,
                                    f"; {held} alert(s) held in memory are saved now" if held else "")

    def check_now(self) -> str | None:
        """PRAGMA quick_check on a connection of its own; returns what is damaged (None: sound).
        A failure to run it counts as a failed operation. Never raises."""
        try:
            conn = self.db.connect()
        except StoreError as exc:
            self.failed("the periodic store check", exc)
            return None
        try:
            problem = find_damage(conn)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is reported, not raised
            self.failed("the periodic store check", exc)
            return None
        finally:
            conn.close()
        with self._lock:
            self._checked_at = self.clock.now()
            if problem is not None:
                self._damage_failures += 1
                if self._damage is None:
                    self._damage, self._damage_since = problem, self._checked_at
                self._open_keys.add(DAMAGED)
        if problem is not None:
            self._say(DAMAGED, "the periodic store check", problem)
        return problem

    def _say(self, kind: str, what: str, detail: str) -> None:
        if kind == DAMAGED:
            self._throttle.log(kind, logging.ERROR, "the store %s is damaged (%s; found by: %s): alerts are "
                               "still sent, from memory where the store fails; %s", self.db.path, detail, what,
                               advice(kind, self.db.path))
        else:
            self._throttle.log(kind, logging.ERROR, "the store %s cannot be written (%s: %s): alerts are still "
                               "sent, from memory, and saved when it can be written again; %s", self.db.path,
                               what, detail, advice(kind, self.db.path))

    def ready(self, conn: sqlite3.Connection, *, alert: bool = False) -> sqlite3.Connection:
        """`conn`, with the patience its next write should have: SQLite's usual wait for another
        writer's lock (patience_s; ALERT_PATIENCE on the alert path, `alert`), or none while
        writes are failing (locked, disk full): every write would otherwise hold up the probe
        rounds and the alert lanes, and what cannot be written is kept in memory anyway. The
        first write that gets through ends the failure. Raises sqlite3.Error."""
        set_busy_timeout(conn, self.write_patience(alert=alert))
        return conn

    def write_patience(self, *, alert: bool = False) -> float:
        """Seconds a write should wait for another writer's lock now (see `ready`)."""
        if self._fault is not None:
            return 0.0
        return min(ALERT_PATIENCE, self.patience_s) if alert else self.patience_s

    # -- what the readers see ---------------------------------------------------------------------

    @property
    def failing(self) -> bool:
        return self._damage is not None or self._fault is not None

    def report(self) -> HealthReport:
        """The health right now (one statvfs when failing; no store access)."""
        with self._lock:
            damage, damage_since, damage_failures = self._damage, self._damage_since, self._damage_failures
            fault, since, failures = self._fault, self._fault_since, self._failures
            checked = self._checked_at
        try:
            held = self.held()
        except Exception:  # noqa: BLE001 - a report must never fail
            held = 0
        if damage is not None:
            return HealthReport(ok=False, kind=DAMAGED, detail=damage, since=damage_since,
                                failures=damage_failures + failures, held=held, checked_at=checked,
                                free_bytes=free_bytes(self.db.path.parent), advice=advice(DAMAGED, self.db.path),
                                folder=str(self.db.path.parent))
        if fault is not None:
            return HealthReport(ok=False, kind=fault.kind, detail=fault.detail, since=since, failures=failures,
                                held=held, checked_at=checked, free_bytes=free_bytes(self.db.path.parent),
                                advice=advice(fault.kind, self.db.path), folder=str(self.db.path.parent))
        return HealthReport(ok=True, held=held, checked_at=checked, folder=str(self.db.path.parent))


# -- the agent's health file (read by `netwatchd status`) -------------------------------------------

def health_file(data_dir: Path | str, shard: tuple[int, int] | None = None) -> Path:
    """data_dir/agent-health.json, or agent-health-2of3.json for shard 2 of 3."""
    name = HEALTH_FILE if shard is None else HEALTH_FILE.replace(".json", f"-{shard[0]}of{shard[1]}.json")
    return Path(data_dir) / name


def write_health_file(path: Path, record: dict[str, Any]) -> bool:
    """Rewrite `path` in place with `record` as JSON (padded to HEALTH_FILE_SIZE bytes; allocated
    on first use, so a later write needs no new disk block). Returns False when it could not be
    written (never raises)."""
    data = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
    if len(data) > HEALTH_FILE_SIZE - 1:
        record = {**record, "store": {**record.get("store", {}), "detail": "(too long)", "line": "(too long)"}}
        data = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")[:HEALTH_FILE_SIZE - 1]
    data = data.ljust(HEALTH_FILE_SIZE - 1) + b"\n"
    try:
        private_file(path)                       # 0600 in a private data_dir, like the store
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_size < HEALTH_FILE_SIZE and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(fd, 0, HEALTH_FILE_SIZE)
            except OSError:
                pass                     # a filesystem without fallocate: the pwrite allocates
        return os.pwrite(fd, data, 0) == len(data)
    except OSError:
        return False
    finally:
        os.close(fd)


def read_health_files(data_dir: Path | str) -> list[dict[str, Any]]:
    """Every agent's last health record in data_dir (one per shard), [] when there is none.
    Unreadable files are returned as {"file": name, "unreadable": reason}."""
    found = []
    for path in sorted(Path(data_dir).glob("agent-health*.json")):
        try:
            record = json.loads(path.read_bytes().decode("utf-8").strip() or "{}")
            if not isinstance(record, dict):
                raise ValueError("not an object")
            record["file"] = path.name
        except (OSError, ValueError) as exc:
            record = {"file": path.name, "unreadable": str(exc)}
        found.append(record)
    return found
