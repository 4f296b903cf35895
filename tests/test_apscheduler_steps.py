"""APScheduler 3 on wall-clock steps (issue 18, item 2: it stays for calendar jobs, its behaviour on
steps tested). A real BackgroundScheduler in a child process whose wall clock libfaketime steps
while it runs (netwatchd.lab.clockstep's control file; monotonic time untouched).

What these tests pin down, and why the probe tick no longer runs on APScheduler:
* an `interval` job stops after a step back: its next run is the previous run's wall time plus
  the interval, now an hour ahead;
* a `date`/`cron` job due later does not run when a step forward carries the clock past its time:
  the scheduler sleeps the wait it computed before the step, then finds the job late by the step
  and skips it (misfire_grace_time) — a calendar job needs its own check of "is it due" by the
  wall clock on a short monotonic period (as the report schedule does), or `misfire_grace_time=None`
  and `coalesce=True` and a wake-up after a step.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netwatchd.lab.clockstep import libfaketime

CHILD = r"""
import sys, time, select
from datetime import datetime, timedelta, timezone
from apscheduler.schedulers.background import BackgroundScheduler
def sleep(s):
    select.select([], [], [], s)
sched = BackgroundScheduler(timezone=timezone.utc)
def tick(): print("interval", round(time.monotonic(), 2), flush=True)
def due(): print("date", round(time.monotonic(), 2), flush=True)
sched.add_job(tick, "interval", seconds=float(sys.argv[3]))
sched.add_job(due, "date", run_date=datetime.now(timezone.utc) + timedelta(seconds=float(sys.argv[1])))
sched.start()
print("started", round(time.monotonic(), 2), flush=True)
sleep(float(sys.argv[2]))
sched.shutdown(wait=False)
"""


def _run(tmp_path: Path, step: float, date_in: float, length: float,
         every: float = 0.2) -> tuple[list[tuple[str, float]], str]:
    """(event, monotonic seconds after the step) the child printed, and its stderr (APScheduler's log).
    `every`: the interval job's period (after a step forward the scheduler walks every run time the
    step skipped, 36,000 at 0.2 s for 2 h: slow on a loaded machine)."""
    library = libfaketime()
    if library is None:
        if os.environ.get("CI"):
            pytest.fail("libfaketime must be installed in CI (scripts/run-tests.sh installs faketime)")
        pytest.skip("needs libfaketime (apt-get install faketime libfaketime)")
    control = tmp_path / "offset"
    control.write_text("+0\n")
    env = {**os.environ, "LD_PRELOAD": library, "FAKETIME_TIMESTAMP_FILE": str(control), "FAKETIME_NO_CACHE": "1",
           "DONT_FAKE_MONOTONIC": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(date_in), str(length), str(every)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    time.sleep(1.0)
    tmp = tmp_path / "offset.tmp"
    tmp.write_text(f"{step:+.0f}\n")
    tmp.replace(control)
    stepped = time.monotonic()
    out, err = proc.communicate(timeout=length + 20)
    events = [(line.split()[0], float(line.split()[1])) for line in out.splitlines() if line.strip()]
    assert events and events[0][0] == "started", (out, err)
    # CLOCK_MONOTONIC is the machine's: the child's times compare with ours
    return [(kind, t - stepped) for kind, t in events[1:]], err


def test_an_interval_job_stops_after_the_wall_clock_steps_back(tmp_path):
    events, _ = _run(tmp_path, step=-3600, date_in=600, length=3.0)
    before = [t for kind, t in events if kind == "interval" and t < 0]
    after = [t for kind, t in events if kind == "interval" and t > 0.3]
    assert len(before) >= 3          # it ran every 0.2 s until the step
    assert after == []               # then nothing: its next run is an hour ahead on the wall clock


def test_a_date_job_passed_by_a_step_forward_is_not_run_when_its_time_passes(tmp_path):
    events, log = _run(tmp_path, step=7200, date_in=4.0, length=6.0, every=1.0)
    assert [t for kind, t in events if kind == "interval" and t > 0.5]      # the interval job goes on
    assert [kind for kind, _ in events if kind == "date"] == []            # due at +4 s, never run
    assert "was missed by 1:59:" in log                                     # skipped: 2 h less its wait late
