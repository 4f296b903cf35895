"""The agent process of a lab run and what it leaves behind: its log and its store. Shared by
`harness.LabRun` (namespaces) and `loopback.LoopbackRun` (loopback only), which start the process
their own way and set `agent`, `log_path` and `data_dir`.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from netwatchd.errors import LabError

Run = TypeVar("Run", bound="AgentProcess")
T = TypeVar("T")


class AgentProcess:
    """Signals, the log and the store (states, flapping sites, recorded DOWNs) of a `netwatchd run`
    process. A context manager: `open()` on entry (with `close()` when it fails), `close()` on exit;
    subclasses define both."""

    agent: subprocess.Popen[bytes] | None
    log_path: Path
    data_dir: Path

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: Run) -> Run:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def signal_agent(self, sig: int) -> None:
        if self.agent is None or self.agent.poll() is not None:
            raise LabError("the agent is not running")
        self.agent.send_signal(sig)

    def stop_agent(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> tuple[int | None, float]:
        """Send `sig` and wait; returns (exit code or None if still running, seconds taken)."""
        start = time.monotonic()
        self.signal_agent(sig)
        assert self.agent is not None
        try:
            code: int | None = self.agent.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - start

    def kill_agent(self) -> None:
        """kill -9 the agent (if running) and reap it."""
        if self.agent is not None and self.agent.poll() is None:
            self.agent.kill()
            self.agent.wait(5)

    def log_offset(self) -> int:
        """The log's size now: pass it as `after` to read only what comes next."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, after: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as handle:
            handle.seek(after)
            return handle.read().decode("utf-8", "replace")

    def wait_log(self, needle: str, *, timeout: float, after: int = 0) -> str:
        """Wait until the agent's log contains `needle`; raises LabError with the log tail if not."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text(after)
            if needle in text:
                return text
            if self.agent is not None and self.agent.poll() is not None:
                raise LabError(f"the agent exited ({self.agent.returncode}) before logging {needle!r}:\n"
                               + text[-2000:])
            if time.monotonic() >= deadline:
                raise LabError(f"the agent did not log {needle!r} within {timeout:g} s:\n" + text[-2000:])
            time.sleep(0.05)

    def read_store(self, read: Callable[[Any], T], empty: T) -> T:
        """`read(connection)` on the agent's store, read-only; `empty` before it exists, while it is
        being created or cannot be read."""
        from netwatchd.store.db import Database

        path = Database.in_dir(self.data_dir).path
        if not path.exists():
            return empty
        try:
            conn = Database(path).connect(readonly=True)
        except Exception:  # noqa: BLE001 - being created
            return empty
        try:
            return read(conn)
        except Exception:  # noqa: BLE001 - the table may not exist yet in a brand-new store
            return empty
        finally:
            conn.close()

    def states(self) -> dict[str, str]:
        """host -> state value, read from the agent's store (empty before it wrote anything or while
        it cannot be read)."""
        from netwatchd.store import state_repo

        def read(conn: Any) -> dict[str, str]:
            retired = state_repo.retired_hosts(conn)     # removed by a reload, kept for their grace period
            return {row.host: row.state for row in state_repo.stored_states(conn) if row.host not in retired}
        return self.read_store(read, {})

    def flapping(self) -> set[str]:
        """The sites the agent holds as flapping."""
        from netwatchd.store import state_repo

        return self.read_store(lambda conn: {name for name, state in state_repo.load_states(conn).items()
                                             if state.flapping}, set())

    def downs(self, host: str, *, path: bool = False) -> int:
        """DOWN decisions recorded for `host` in the agent's events (announced or not); with `path`,
        PATH ones too (its via router could reach it)."""
        from netwatchd.models import State
        from netwatchd.store import state_repo

        wanted = (State.DOWN, State.PATH) if path else (State.DOWN,)
        return self.read_store(lambda conn: sum(
            1 for t in state_repo.recent_events(conn, host, limit=100_000)
            if t.kind == "state" and t.to_state in wanted), 0)

    def last_outage(self) -> float | None:
        """time.time() of the newest DOWN or PATH decision the agent recorded (None: none yet)."""
        from netwatchd.models import State
        from netwatchd.store import state_repo

        def read(conn: Any) -> float | None:
            starts = [t.at.timestamp() for t in state_repo.recent_events(conn, None, limit=500)
                      if t.kind == "state" and t.to_state in (State.DOWN, State.PATH)]
            return max(starts, default=None)
        return self.read_store(read, None)

    def wait_for_first_outages(self, window: float, timeout: float = 90.0) -> float:
        """Sleep until no site is flapping and `window` seconds (flapping.early_window) have passed
        since the last outage began, so that the next cut of any site is a first outage, not a
        flapping one; returns the seconds slept."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            last = self.last_outage()
            if not self.flapping() and (last is None or time.time() - last >= window):
                break
            time.sleep(0.25)
        return time.monotonic() - start

    def wait_until_stable(self, sites: Sequence[str], timeout: float = 90.0) -> float:
        """Sleep until none of `sites` is held as flapping by the agent; returns the seconds slept."""
        start = time.monotonic()
        while time.monotonic() - start < timeout and self.flapping() & set(sites):
            time.sleep(0.5)
        return time.monotonic() - start

    def wait_states(self, want: Callable[[dict[str, str]], bool], timeout: float) -> dict[str, str]:
        """Poll the store until `want(states)`; raises LabError with the last states if it never holds."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            if want(states):
                return states
            if time.monotonic() >= deadline:
                raise LabError(f"states not reached within {timeout:g} s: {states}")
            time.sleep(0.05)
