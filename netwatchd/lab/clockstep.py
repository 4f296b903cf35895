"""A real `netwatchd run` whose wall clock can be stepped while it runs (libfaketime), on loopback.

`StepRun` starts the agent under libfaketime with a control file (FAKETIME_TIMESTAMP_FILE,
FAKETIME_NO_CACHE=1) so `step(seconds)` moves its wall clock at once, as an NTP step or `date -s`
would; DONT_FAKE_MONOTONIC=1 leaves CLOCK_MONOTONIC alone, as a real step does (libfaketime fakes
it by default, and then Python's threading waits, which count on the kernel's monotonic clock,
never end). The sites are TCP listeners on 127.0.0.1 that `cut`/`restore` close and reopen on the
same port; alerts go to the Telegram stand-in on loopback. Used by tests/test_clock_steps_run.py
and scripts/bench_faults.py (case 2).

libfaketime 0.9.10 (Debian 12) with DONT_FAKE_MONOTONIC breaks clock_nanosleep(CLOCK_MONOTONIC,
TIMER_ABSTIME), which Python 3.11+'s time.sleep uses (EINVAL: libfaketime issue #426): the child
replaces time.sleep with a select() timeout (relative, on the kernel's monotonic clock, as
Python 3.10's own time.sleep) before running netwatchd. Nothing else in netwatchd is changed.
"""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from netwatchd.lab.telegram_standin import TelegramStandIn

TOKEN = "123456:TEST-token-for-the-stand-in-0000000000"
CHAT = -1001234567890
ADMIN = 42

_CHILD = """
import runpy, select, sys, time
def _sleep(seconds):
    if seconds > 0:
        select.select([], [], [], seconds)
time.sleep = _sleep
sys.argv = ["netwatchd", *sys.argv[1:]]
runpy.run_module("netwatchd", run_name="__main__")
"""


def libfaketime() -> str | None:
    """The path of libfaketime.so.1 (Debian package libfaketime), None when it is not installed."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1")
                   + glob.glob("/usr/local/lib/faketime/libfaketime.so.1"))
    return found[0] if found else None


class Site:
    """A TCP listener on 127.0.0.1 that can be closed (the site is down) and reopened on its port."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.port = 0
        self.restore()

    def cut(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def restore(self) -> None:
        if self.sock is not None:
            return
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.sock, self.port = sock, sock.getsockname()[1]


class StepRun:
    """One agent with one TCP site ("office"), its wall clock steppable; use as a context manager."""

    def __init__(self, workdir: Path, *, reminder_every: str = "off", interval: str = "1s",
                 retry_interval: str = "200ms", down_after: int = 2, python_path: str | None = None) -> None:
        library = libfaketime()
        if library is None:
            raise RuntimeError("libfaketime is not installed (apt-get install faketime libfaketime)")
        self.library = library
        self.workdir = workdir
        self.python_path = python_path     # another checkout's netwatchd (a benchmark's peer)
        self.site = Site()
        self.telegram = TelegramStandIn(token=TOKEN).start()
        self.control = workdir / "faketime.offset"
        self.offset = 0.0
        self._write_offset()
        self.config = workdir / "hosts.yaml"
        self.config.write_text(
            "data_dir: ./data\n"
            f"defaults: {{interval: {interval}, timeout: 200ms, retry_interval: {retry_interval}, "
            f"down_after: {down_after}, up_after: 1, reminder_every: {reminder_every}}}\n"
            "web: false\n"
            f"telegram: {{token: '{TOKEN}', chat_ids: [{CHAT}], admins: [{ADMIN}], "
            f"api_url: '{self.telegram.api_url}', language: en, poll_commands: false}}\n"
            f"hosts:\n  - {{name: office, address: 127.0.0.1, probe: tcp, port: {self.site.port}}}\n", "utf-8")
        self.log = workdir / "stderr.txt"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> StepRun:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LD_PRELOAD": self.library,
               "FAKETIME_TIMESTAMP_FILE": str(self.control), "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1"}
        env.pop("FAKETIME", None)
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (self.python_path, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, "run", "-c", str(self.config), "--log-level",
                                      "debug"], cwd=self.workdir, stdout=open(self.workdir / "stdout.txt", "wb"),
                                     stderr=open(self.log, "wb"), env=env)
        return self

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.telegram.stop()
        self.site.cut()
        return self.proc.returncode if self.proc is not None else None

    def __enter__(self) -> StepRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the clock ----------------------------------------------------------------------------
    def _write_offset(self) -> None:
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(f"{self.offset:+.0f}\n", "ascii")
        tmp.replace(self.control)        # atomic: the child never reads half a line

    def step(self, seconds: float) -> None:
        """Step the agent's wall clock by `seconds` (negative: back), at once."""
        self.offset += seconds
        self._write_offset()

    def agent_now(self) -> datetime:
        """The agent's wall time."""
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset)

    # -- reading what happened -------------------------------------------------------------------
    def log_text(self) -> str:
        return self.log.read_text("utf-8", "replace")

    def wait_log(self, needle: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not in the agent's log:\n{self.log_text()[-4000:]}")

    def texts(self) -> list[str]:
        return [m["text"] for m in self.telegram.messages(CHAT)]

    def wait_message(self, needle: str, timeout: float, after: int = 0) -> tuple[str, float]:
        """The first message (index >= after) containing `needle` and when (time.monotonic()) it was seen."""
        deadline = time.monotonic() + timeout
        while True:
            for text in self.texts()[after:]:
                if needle in text:
                    return text, time.monotonic()
            if time.monotonic() >= deadline:
                raise AssertionError(f"no message with {needle!r} within {timeout} s; messages: {self.texts()}\n"
                                     f"log:\n{self.log_text()[-3000:]}")
            time.sleep(0.02)

    def db(self) -> Any:
        import sqlite3

        conn = sqlite3.connect(self.workdir / "data" / "netwatchd.sqlite3", timeout=10)
        conn.row_factory = sqlite3.Row
        return conn
