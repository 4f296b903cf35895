"""A full disk for real, under a real `netwatchd run` (root: its data_dir is a small tmpfs filled to
the last byte while it runs). Telegram is the stand-in on loopback; the site is a TCP listener on
loopback that is closed to make it go DOWN.

Before: the DOWN was never sent, /healthz said "ok", the bot was silent and about 8 ERROR lines a
second filled the log. Now: the DOWN reaches Telegram from memory, /healthz fails with the reason,
the bot's /status says it, the log has one line about it (and then one a minute), and when space
is freed the agent recovers and records the event once, sent once."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatchd.errors import LabError
from netwatchd.lab import smalldisk
from netwatchd.lab.loopback import LoopbackRun
from netwatchd.store import state_repo
from netwatchd.store.db import Database
from support.disk import tmpfs_or_skip


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs_or_skip(tmp_path / "disk", 16 * 1024 * 1024) as mounted:
        yield mounted


def stored(data_dir: Path) -> tuple[list[str], list[tuple[str, int | None]]]:
    """(office's events, (status, message_id) of its outbox rows), read as `sqlite3` would."""
    conn = Database.in_dir(data_dir).connect(readonly=True)
    try:
        events = [t.to_state.value for t in reversed(state_repo.recent_events(conn, "office"))]
        rows = [(row["status"], row["message_id"]) for row in conn.execute(  # noqa: SQL - a test reading
            "SELECT status, message_id FROM outbox WHERE payload LIKE '%office%' ORDER BY id")]
    finally:
        conn.close()
    return events, rows


def test_a_full_disk_the_down_still_arrives_healthz_says_why_and_recovery_records_it_once(tmp_path, disk):
    with LoopbackRun(["office"], data_dir=disk / "data", workdir=tmp_path / "run") as run:
        run.start_agent()
        run.wait_states(lambda s: s.get("office") == "up", 15)
        assert run.healthz()[0] == 200
        offset = run.log_offset()
        filler = smalldisk.fill(disk)
        assert smalldisk.free_bytes(disk) < 64 * 1024
        time.sleep(2.0)                                  # rounds keep failing to write history meanwhile

        cut = run.cut("office")
        down = run.wait_alert("office DOWN", timeout=15)
        assert down is not None, run.log_text(offset)[-3000:]
        assert down["at"] - cut < 10                      # the site's interval + 2 retries + delivery

        status, body = run.healthz()
        assert status == 503 and body["status"] == "failing", body
        assert "the disk is full" in body["detail"] and "database or disk is full" in body["detail"], body
        assert f"free space on the disk holding {disk / 'data'}" in body["detail"]
        assert "alert(s) held in memory" in body["detail"]

        replies = run.ask_bot("/status")
        assert replies and "FAILING" in replies[0]["text"] and "the disk is full" in replies[0]["text"], replies

        time.sleep(3.0)
        during = run.log_text(offset)
        about_the_store = [line for line in during.splitlines()
                           if re.search(r"store|disk|No space|timing\.jsonl", line) and " ERROR " in line]
        assert 1 <= len(about_the_store) <= 2, about_the_store     # the store's line (+ the timing log's)
        assert "Traceback" not in during

        filler.unlink()
        deadline = time.monotonic() + 15
        while run.healthz()[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert run.healthz()[0] == 200, run.log_text(offset)[-3000:]
        assert "can be written again" in run.log_text(offset)
        time.sleep(1.5)
        events, rows = stored(run.data_dir)
        assert events[-1:] == ["down"] and events.count("down") == 1, events
        assert rows == [("sent", down["message_id"])], rows
        assert [m["text"].split("\n")[0] for m in run.alerts()].count("🔴 <b>office DOWN</b>") == 1

        run.restore("office")
        up = run.wait_alert("office UP", timeout=15)
        assert up is not None
        assert run.stop_agent()[0] == 0
    events, rows = stored(disk / "data")
    assert events[-2:] == ["down", "up"] and [status for status, _ in rows] == ["sent", "sent"]


def test_starting_on_a_full_disk_says_so_in_one_line(tmp_path, disk):
    """After a clean stop SQLite has removed the -wal and -shm files; to open the store it must
    create them again, which a full disk refuses. netwatchd cannot run then: it says why."""
    with LoopbackRun(["office"], data_dir=disk / "data", workdir=tmp_path / "run", bot=False) as run:
        run.start_agent()
        run.wait_states(lambda s: s.get("office") == "up", 15)
        assert run.stop_agent()[0] == 0
        smalldisk.fill(disk)
        offset = run.log_offset()
        with pytest.raises(LabError):
            run.start_agent(wait_ready=15)
        assert run.agent is not None and run.agent.wait(5) == 2
        [line] = run.log_text(offset).strip().splitlines()
        assert line.startswith(f"netwatchd: cannot check the store {disk / 'data' / 'netwatchd.sqlite3'}: ")
        assert f"the disk holding {disk / 'data'} is full" in line and "free space there" in line
