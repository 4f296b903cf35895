"""Wall-clock steps under a real `netwatchd run` (issue 18, item 2): libfaketime moves the agent's
wall clock back 1 h or forward 2 h while it runs (netwatchd.lab.clockstep); its monotonic clock
runs on, as with a real NTP step. One TCP site on loopback, alerts to the Telegram stand-in.

Shown: probing goes on and a site that goes down after the step is announced within the bound,
the outage is as long as it was, no false reminder, a mute lasts its length, and an alert queued
during a Telegram outage goes out as soon as Telegram answers (before: 3,610 s later)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from netwatchd.lab.clockstep import StepRun, libfaketime

BACK, FORWARD = -3600.0, 7200.0
BOUND = 2 * 0.2 + 1.0 + 0.2          # down_after 2 at retry 200 ms after a probe every 1 s, 200 ms timeout
SLACK = 1.5                          # delivery and a loaded machine


@pytest.fixture
def step_run(tmp_path: Path) -> Iterator[object]:
    if libfaketime() is None:
        if os.environ.get("CI"):
            pytest.fail("libfaketime must be installed in CI (scripts/run-tests.sh installs faketime)")
        pytest.skip("needs libfaketime (apt-get install faketime libfaketime)")
    runs: list[StepRun] = []

    def make(**kw: object) -> StepRun:
        run = StepRun(tmp_path, **kw).start()    # type: ignore[arg-type]
        runs.append(run)
        run.wait_log("office: unknown -> up")
        return run

    yield make
    for run in runs:
        code = run.stop()
        assert code == 0, run.log_text()[-3000:]
        assert "Traceback" not in run.log_text()


def _outage_seconds(text: str) -> int:
    found = re.search(r"Outage: (?:(\d+) min )?(\d+) s", text)
    assert found, text
    return int(found.group(1) or 0) * 60 + int(found.group(2))


@pytest.mark.parametrize("step", [BACK, FORWARD])
def test_probing_goes_on_after_a_step_and_the_outage_is_as_long_as_it_was(step_run, step):
    run = step_run()
    run.step(step)
    run.wait_log("the system clock stepped")
    time.sleep(0.5)
    cut = time.monotonic()
    run.site.cut()
    _, seen = run.wait_message("office DOWN", timeout=BOUND + SLACK + 5)
    assert seen - cut <= BOUND + SLACK, seen - cut
    time.sleep(3.0)
    restored = time.monotonic()
    run.site.restore()
    up, _ = run.wait_message("office UP", timeout=BOUND + SLACK + 5)
    # from the DOWN decision to the UP decision: the outage less detection, never 0 s or hours
    assert abs(_outage_seconds(up) - (restored - cut)) <= 2, up


def test_a_step_in_the_middle_of_an_outage_keeps_its_length(step_run):
    run = step_run()
    cut = time.monotonic()
    run.site.cut()
    run.wait_message("office DOWN", timeout=BOUND + SLACK + 5)
    time.sleep(1.0)
    run.step(BACK)
    time.sleep(3.0)
    restored = time.monotonic()
    run.site.restore()
    up, _ = run.wait_message("office UP", timeout=BOUND + SLACK + 5)
    assert abs(_outage_seconds(up) - (restored - cut)) <= 2, up      # before: "Outage: 0 s"


def test_a_step_forward_sends_no_false_reminder(step_run):
    run = step_run(reminder_every="1m")
    run.site.cut()
    run.wait_message("office DOWN", timeout=BOUND + SLACK + 5)
    run.step(FORWARD)
    run.wait_log("the system clock stepped forward")
    time.sleep(4.0)                                  # before: "still DOWN (2 h)" within a second
    assert [t for t in run.texts() if "still" in t] == [], run.texts()


def test_an_alert_queued_in_a_telegram_outage_goes_out_as_soon_as_telegram_answers_after_a_step_back(step_run):
    run = step_run()
    run.telegram.set_outage(True)
    run.site.cut()
    run.wait_log("office: up -> down")
    run.wait_log("not delivered (attempt 2)")
    run.step(BACK)
    run.wait_log("the system clock stepped back")
    answered = time.monotonic()
    run.telegram.set_outage(False)
    _, seen = run.wait_message("office DOWN", timeout=30)
    # the chat's next try, at most the backoff reached by then (1, 2, 4 s ...), not 3,600 s later
    assert seen - answered <= 4.0 + SLACK, seen - answered


@pytest.mark.parametrize("step", [BACK, FORWARD])
def test_a_mute_lasts_its_length_whatever_the_step(step_run, step):
    from netwatchd.store import state_repo

    run = step_run()
    length = 8.0
    with run.db() as conn:                           # as the bot's /mute does
        now = run.agent_now()
        state_repo.add_mute(conn, "office", now + timedelta(seconds=length), "admin", "works", now=now)
    muted_at = time.monotonic()
    time.sleep(1.5)                                  # the agent has seen it (it reads the store every second)
    run.step(step)
    run.wait_log("the system clock stepped")
    run.site.cut()
    run.wait_log("office: up -> down")
    assert run.texts() == []                         # muted: before, a step forward ended it at once
    text, seen = run.wait_message("office", timeout=length + 10)
    assert "DOWN" in text
    assert length - 0.5 <= seen - muted_at <= length + SLACK, seen - muted_at   # before: an hour more after BACK
    deadline = time.monotonic() + 3.0                # the agent's next tick takes the ended mute out of the store
    while True:
        with run.db() as conn:
            if state_repo.stored_mutes(conn) == []:
                break
        assert time.monotonic() < deadline, "the ended mute is still in the store"
        time.sleep(0.1)
