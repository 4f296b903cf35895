"""timing.jsonl does not grow forever: it rotates by size into timing.jsonl.1 .. .N, stays whole under
concurrent writers and crashes (real files, real threads, a real killed process), and the report and
the bot's /status read across the rotated files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from netwatchd import jsonl
from netwatchd.jsonl import RotatingJsonl, last_record, log_files, read_records
from netwatchd.notify.timing import TimingLog

PAD = "x" * 60


def record(n: int, **extra: Any) -> dict[str, Any]:
    return {"n": n, "pad": PAD, **extra}


def numbers(path: Path) -> list[int]:
    """Record numbers of the whole log (timing.jsonl.N ... timing.jsonl)."""
    return [r["n"] for r in read_records(path)]


def in_file(file: Path) -> list[int]:
    """Record numbers of one file alone."""
    return [json.loads(line)["n"] for line in file.read_text("utf-8").splitlines()]


def test_rotates_by_size_keeps_n_files_and_reads_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "timing.jsonl"
    line = len(json.dumps(record(100)) + "\n")
    log = RotatingJsonl(path, max_bytes=10 * line, keep=3)
    for n in range(100, 200):
        log.write(record(n))
    assert [p.name for p in log_files(path)] == ["timing.jsonl.3", "timing.jsonl.2", "timing.jsonl.1",
                                                 "timing.jsonl"]
    assert all(p.stat().st_size <= 10 * line for p in log_files(path))
    assert numbers(path) == list(range(160, 200))          # the newest 4 files x 10 lines, oldest first
    assert last_record(path)["n"] == 199
    assert not (tmp_path / "timing.jsonl.4").exists()


def test_a_smaller_keep_deletes_the_extra_old_files_at_the_next_rotation(tmp_path: Path) -> None:
    path = tmp_path / "timing.jsonl"
    log = RotatingJsonl(path, max_bytes=400, keep=6)
    for n in range(60):
        log.write(record(n))
    assert len(log_files(path)) == 7
    log.set_limits(400, 2)
    for n in range(60, 64):
        log.write(record(n))
    assert [p.name for p in log_files(path)] == ["timing.jsonl.2", "timing.jsonl.1", "timing.jsonl"]
    assert numbers(path) == sorted(numbers(path)) and numbers(path)[-1] == 63


def test_a_line_longer_than_the_limit_gets_a_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "timing.jsonl"
    log = RotatingJsonl(path, max_bytes=200, keep=5)
    log.write(record(1))
    log.write(record(2, big="y" * 500))
    log.write(record(3))
    assert [in_file(p) for p in log_files(path)] == [[1], [2], [3]]


def test_concurrent_writers_in_one_process_lose_and_repeat_nothing(tmp_path: Path) -> None:
    """8 threads, two writer objects on the same file, rotating every ~20 lines: every record lands
    exactly once, every line is whole JSON, every file respects the limit."""
    path = tmp_path / "timing.jsonl"
    writers = [RotatingJsonl(path, max_bytes=2000, keep=1000), RotatingJsonl(path, max_bytes=2000, keep=1000)]
    per_thread = 300

    def work(t: int) -> None:
        for i in range(per_thread):
            writers[t % 2].write(record(t * per_thread + i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = numbers(path)
    assert sorted(found) == list(range(8 * per_thread))
    for t in range(8):                                   # each thread's records stay in its order
        mine = [n for n in found if n // per_thread == t]
        assert mine == sorted(mine)
    for file in log_files(path):
        lines = file.read_bytes().split(b"\n")
        assert lines[-1] == b"" and all(json.loads(x) for x in lines[:-1])
        assert file.stat().st_size <= 2000
    assert len(log_files(path)) > 50


@pytest.mark.parametrize("crash_at", range(4))
def test_a_crash_at_any_step_of_a_rotation_loses_nothing_and_the_next_one_recovers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int) -> None:
    """Kill the rotation after `crash_at` of its renames (the state a power cut leaves, since each
    rename is atomic), then start a new writer: no record lost or doubled, no file beyond keep."""
    path = tmp_path / "timing.jsonl"
    line = len(json.dumps(record(10)) + "\n")
    log = RotatingJsonl(path, max_bytes=3 * line, keep=4)
    for n in range(10, 22):                              # timing.jsonl.3 .2 .1 + a full timing.jsonl
        log.write(record(n))
    assert [in_file(p) for p in log_files(path)] == [[10, 11, 12], [13, 14, 15], [16, 17, 18], [19, 20, 21]]
    real_replace = os.replace
    renames = []

    def crashing_replace(src: Any, dst: Any) -> None:
        if len(renames) == crash_at:
            raise KeyboardInterrupt("power cut")
        renames.append((Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(jsonl.os, "replace", crashing_replace)
    with pytest.raises(KeyboardInterrupt):
        log.write(record(22))
    monkeypatch.setattr(jsonl.os, "replace", real_replace)
    assert len(renames) == crash_at
    assert numbers(path) == list(range(10, 22))           # everything still readable, once, in order
    fresh = RotatingJsonl(path, max_bytes=3 * line, keep=4)
    for n in range(22, 30):
        fresh.write(record(n))
    found = numbers(path)
    assert found == list(range(found[0], 30))             # in order, none doubled, only the oldest dropped
    assert max(int(p.suffix[1:]) for p in log_files(path) if p.suffix != ".jsonl") <= 4


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_next_one_starts_clean(tmp_path: Path) -> None:
    path = tmp_path / "timing.jsonl"
    RotatingJsonl(path).write(record(1))
    with path.open("ab") as handle:
        handle.write(b'{"n": 2, "pad": "xx')                # the process died mid-write
    RotatingJsonl(path).write(record(3))
    assert numbers(path) == [1, 3]
    assert path.read_bytes().count(b"\n") == 3


def test_a_writer_killed_again_and_again_leaves_a_readable_log(tmp_path: Path) -> None:
    """A real process appending and rotating as fast as it can, killed with SIGKILL at random moments
    and restarted: what is on disk is whole JSON lines, in order, without duplicates."""
    path = tmp_path / "timing.jsonl"
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from netwatchd.jsonl import RotatingJsonl, read_records
        path = Path({str(path)!r})
        start = max((r["n"] for r in read_records(path)), default=-1) + 1
        log = RotatingJsonl(path, max_bytes=1500, keep=10000)
        print("ready", flush=True)
        n = start
        while True:
            log.write({{"n": n, "pad": "{PAD}"}})
            n += 1
    """)
    for delay in (0.15, 0.05, 0.3, 0.1, 0.2):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    found = numbers(path)
    assert len(found) > 100 and found == list(range(len(found)))
    assert all(p.stat().st_size <= 1500 + 200 for p in log_files(path))


def test_the_timing_log_never_raises_for_an_unwritable_data_dir(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data_dir should be")
    TimingLog(blocker / "timing.jsonl", max_mb=1, keep=2).write(record(1))
    assert "cannot write" in caplog.text and "check data_dir is writable" in caplog.text


# ----------------------------------------------------------------------------- the readers

WIB = timezone(timedelta(hours=7))


def delivery(n: int, day: int, latency_ms: int) -> dict[str, Any]:
    at = datetime(2026, 11, day, 8, 0, n % 60, tzinfo=WIB).isoformat(timespec="milliseconds")
    return {"events": [{"host": "kec-a", "from": "up", "to": "down", "at": at}], "detected_at": at,
            "enqueued_at": at, "sent_at": at, "acked_at": at, "latency_ms": latency_ms, "attempts": 1,
            "chat_id": "-100", "message_id": n, "status": "sent", "pad": "z" * 200}


def test_the_report_reads_delivery_records_across_the_rotated_files(tmp_path: Path) -> None:
    from netwatchd import cli

    (tmp_path / "hosts.yaml").write_text("data_dir: ./data\ntimezone: Asia/Jakarta\nretention:\n"
                                         "  timing_max_mb: 0.01\n  timing_keep: 20\nhosts:\n"
                                         "  - {name: kec-a, address: 198.18.1.2}\n")
    log = TimingLog(tmp_path / "data" / "timing.jsonl", max_mb=0.01, keep=20)
    for n in range(120):                                # 100 on 1 November, 20 on the 3rd (outside)
        log.write(delivery(n, 1 if n < 100 else 3, latency_ms=100 + n))
    assert len(log_files(tmp_path / "data" / "timing.jsonl")) >= 5
    out = tmp_path / "r.json"
    assert cli.main(["report", "-c", str(tmp_path / "hosts.yaml"), "--since", "2026-11-01", "--until",
                     "2026-11-02", "--format", "json", "-o", str(out)]) == 0
    figures = json.loads(out.read_text())["delivery"]
    assert (figures["count"], figures["delivered"], figures["max_ms"]) == (100, 100, 199.0)


def test_status_finds_the_last_delivery_in_the_newest_rotated_file(tmp_path: Path) -> None:
    from netwatchd.bot.handlers import last_delivery
    from netwatchd.store import Database

    path = tmp_path / "timing.jsonl"
    log = RotatingJsonl(path, max_bytes=700, keep=3)
    for n in range(7):
        log.write(delivery(n, 1, latency_ms=400 + n))
    conn = Database.in_dir(tmp_path).open()
    at, latency = last_delivery(conn, tmp_path)
    assert latency == 406.0
    # right after a rotation timing.jsonl does not exist yet: the newest rotated file answers
    log._rotate()
    assert not path.exists() and last_delivery(conn, tmp_path)[1] == 406.0
    conn.close()


def test_retention_keys_are_validated_with_one_line_errors(tmp_path: Path) -> None:
    from netwatchd.config.loader import load
    from netwatchd.errors import ConfigError

    base = "data_dir: ./data\nhosts:\n  - {name: a, address: 198.18.1.2}\n"
    (tmp_path / "ok.yaml").write_text(base + "retention:\n  timing_max_mb: 2.5\n  timing_keep: 3\n")
    config = load(tmp_path / "ok.yaml", environ={})
    assert (config.retention.timing_max_mb, config.retention.timing_keep) == (2.5, 3)
    (tmp_path / "default.yaml").write_text(base)
    config = load(tmp_path / "default.yaml", environ={})
    assert (config.retention.timing_max_mb, config.retention.timing_keep) == (10.0, 10)
    (tmp_path / "bad.yaml").write_text(base + "retention:\n  timing_max_mb: 0\n  timing_keep: lots\n")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "bad.yaml", environ={})
    text = str(caught.value)
    assert "bad.yaml:5: retention.timing_max_mb: '0' is out of range (a number from 0.01 to 10240)" in text
    assert "bad.yaml:6: retention.timing_keep: 'lots' is not a whole number" in text
    assert "Traceback" not in text


def test_the_delivery_worker_rotates_its_timing_log_and_a_reload_changes_the_limits(tmp_path: Path) -> None:
    """Real deliveries over HTTP to the Bot API stand-in: every message has its record, across files."""
    import dataclasses

    from netwatchd.clock import FakeClock
    from netwatchd.config.model import RetentionSpec
    from netwatchd.lab.telegram_standin import TelegramStandIn
    from support.notify import GROUP, Rig, down, make_config

    clock = FakeClock()
    with TelegramStandIn() as tg:
        config = make_config(tmp_path, tg, chat_ids=[GROUP])
        config = dataclasses.replace(config, retention=RetentionSpec(timing_max_mb=0.002, timing_keep=50))
        rig = Rig(tmp_path, tg, clock, config=config)
        for n in range(12):
            rig.add(down(f"kec-{n:02d}", clock.now()))
            rig.run(rounds=2, seconds_between=2.0)
        path = tmp_path / "timing.jsonl"
        rotated = len(log_files(path))
        assert rotated >= 3
        rig.worker.replace_config(dataclasses.replace(config, retention=RetentionSpec(timing_max_mb=0.002,
                                                                                      timing_keep=1)))
        for n in range(12, 16):
            rig.add(down(f"kec-{n:02d}", clock.now()))
            rig.run(rounds=2, seconds_between=2.0)
        sent = len(tg.calls("sendMessage"))
    hosts = [r["events"][0]["host"] for r in read_records(path)]
    assert sent == 16 and len(log_files(path)) == 2                 # timing.jsonl.1 + timing.jsonl
    assert hosts == sorted(hosts) and hosts[-1] == "kec-15"
