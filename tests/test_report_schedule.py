"""Scheduled reports: which periods are due (pure), enqueued once and delivered once with the
real store, delivery worker and Bot API stand-in, and across kill -9 with `netwatchd run` as a
real process."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from netwatchd.clock import Backoff, FakeClock
from netwatchd.config.loader import load_config
from netwatchd.config.model import ReportSchedule
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.models import State, Transition
from netwatchd.notify.outbox import DeliveryWorker
from netwatchd.notify.telegram_api import TelegramAPI
from netwatchd.report.scheduled import ReportScheduler, periods_due, schedule_key
from netwatchd.store import Database, report_repo, state_repo

WIB = ZoneInfo("Asia/Jakarta")
CHAT = -1001111


def wib(month: int, day: int, h: int = 0, m: int = 0, s: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, h, m, s, tzinfo=WIB).astimezone(timezone.utc)


def spans(periods: list) -> list[tuple[str, str, str]]:
    return [(p.since.astimezone(WIB).strftime("%m-%d %H:%M"), p.until.astimezone(WIB).strftime("%m-%d %H:%M"),
             p.due_at.astimezone(WIB).strftime("%m-%d %H:%M")) for p in periods]


@pytest.mark.parametrize("every, armed, last, now, due, skipped", [
    # monthly at 08:00 on the 1st: not before, at the minute, once
    ("monthly", wib(11, 20), None, wib(12, 1, 7, 59), [], 0),
    ("monthly", wib(11, 20), None, wib(12, 1, 8), [("11-01 00:00", "12-01 00:00", "12-01 08:00")], 0),
    ("monthly", wib(11, 20), wib(12, 1), wib(12, 1, 8, 1), [], 0),
    # armed after November's report was due: nothing until January's
    ("monthly", wib(12, 1, 8, 30), None, wib(12, 20), [], 0),
    # the agent was stopped on the 1st before 08:00 and started on the 3rd: November is sent then
    ("monthly", wib(11, 20), wib(11, 1), wib(12, 3, 11), [("11-01 00:00", "12-01 00:00", "12-01 08:00")], 0),
    # weekly: Monday to Monday, due Monday 08:00; armed on a Friday, now the Wednesday after next
    ("weekly", wib(11, 20), None, wib(12, 2, 8), [("11-16 00:00", "11-23 00:00", "11-23 08:00"),
                                                  ("11-23 00:00", "11-30 00:00", "11-30 08:00")], 0),
    # daily: down for a week, at most 3 caught up, the 4 older ones skipped (logged)
    ("daily", wib(11, 1), wib(11, 24), wib(12, 1, 9), [("11-28 00:00", "11-29 00:00", "11-29 08:00"),
                                                        ("11-29 00:00", "11-30 00:00", "11-30 08:00"),
                                                        ("11-30 00:00", "12-01 00:00", "12-01 08:00")], 4),
    # year boundary
    ("monthly", wib(12, 5), None, wib(1, 1, 8, year=2027), [("12-01 00:00", "01-01 00:00", "01-01 08:00")], 0),
])
def test_periods_due(every, armed, last, now, due, skipped) -> None:
    spec = ReportSchedule(every=every, at="08:00", chat_ids=(CHAT,), language="id")
    found, old = periods_due(spec, WIB, armed_at=armed, last_until=last, now=now)
    assert spans(found) == due and len(old) == skipped


def test_schedule_identity_changes_with_what_it_sends() -> None:
    base = ReportSchedule(every="monthly", chat_ids=(1, 2), language="id")
    assert schedule_key(base) == schedule_key(ReportSchedule(every="monthly", chat_ids=(2, 1), language="id"))
    assert schedule_key(base) != schedule_key(ReportSchedule(every="monthly", chat_ids=(1,), language="id"))
    assert schedule_key(base) != schedule_key(ReportSchedule(every="monthly", chat_ids=(1, 2), format="csv",
                                                             language="id"))


CONFIG = """\
data_dir: ./data
timezone: Asia/Jakarta
web: false
defaults: {{interval: 1s, timeout: 300ms, retry_interval: 300ms, down_after: 2, up_after: 1}}
hosts:
  - {{name: kec-a, address: 127.0.0.1, probe: tcp, port: {port}}}
telegram:
  token: "{token}"
  api_url: {api_url}
  chat_ids: [{chat}]
  poll_commands: false
  language: id
reports:
  - every: {every}
    at: "{at}"
    format: {fmt}
    language: id
"""


def write_config(path: Path, tg: TelegramStandIn, *, every: str = "monthly", at: str = "08:00", fmt: str = "pdf",
                 port: int = 9) -> Path:
    path.write_text(CONFIG.format(port=port, token=tg.token, api_url=tg.api_url, chat=CHAT, every=every, at=at,
                                  fmt=fmt))
    return path


def test_a_monthly_pdf_is_enqueued_once_and_delivered_once(tmp_path: Path) -> None:
    pytest.importorskip("weasyprint")
    pypdf = pytest.importorskip("pypdf")
    with TelegramStandIn() as tg:
        config = load_config(write_config(tmp_path / "hosts.yaml", tg))
        db = Database.in_dir(config.data_dir)
        db.migrate()
        clock = FakeClock(wib(11, 20, 10))
        conn = db.connect()
        state_repo.save(conn, {}, [Transition("kec-a", "127.0.0.1", State.UNKNOWN, State.UP, wib(11, 20, 10)),
                                   Transition("kec-a", "127.0.0.1", State.UP, State.DOWN, wib(11, 25, 9)),
                                   Transition("kec-a", "127.0.0.1", State.DOWN, State.UP, wib(11, 25, 9, 30))],
                        ["console"], clock.now())
        run = report_repo.start_run(conn, wib(11, 20, 10))
        report_repo.heartbeat(conn, run, wib(12, 1, 7, 59, 45))      # the agent is running when it is due
        conn.close()
        scheduler = ReportScheduler(db, config, clock)
        assert scheduler.run_once() == 0                     # arms the schedule: nothing due yet
        clock.advance((wib(12, 1, 7, 59) - clock.now()).total_seconds())
        assert scheduler.run_once() == 0
        tg.fail_next(2, "5xx", method="sendDocument")        # Telegram fails twice: retried, not lost
        clock.advance(60)
        assert scheduler.run_once() == 1
        assert scheduler.run_once() == 0                     # the schedule moved on: never twice
        worker = DeliveryWorker(db, config, clock, api=TelegramAPI(tg.api_url, tg.token),
                                backoff=Backoff(0.01, 0.01), random_draw=lambda: 0.0)
        for _ in range(3):
            worker.run_once()
            clock.advance(1)
        # a restart: a new scheduler and worker on the same store send nothing more
        assert ReportScheduler(db, config, clock).run_once() == 0
        DeliveryWorker(db, config, clock, api=TelegramAPI(tg.api_url, tg.token)).run_once()
        documents = tg.documents(CHAT)
        assert len(documents) == 1 and len(tg.calls("sendDocument")) == 3
        doc = documents[0]
        assert doc["file_name"] == "laporan-ketersediaan-2026-11.pdf" and doc["mime_type"] == "application/pdf"
        assert "Laporan ketersediaan jaringan" in doc["caption"] and "2026-11-01 – 2026-11-30" in doc["caption"]
        pages = pypdf.PdfReader(io.BytesIO(doc["data"])).pages
        text = " ".join(" ".join(page.extract_text() for page in pages).split())
        assert "2026-11-01 00:00 – 2026-12-01 00:00" in text and "kec-a" in text
        assert "1 kec-a 99,803 % 30 mnt 00 dtk" in text     # its 30-minute outage, over the time it was watched
        # the timing log (alerts' delivery latency) is not polluted by the document
        assert not (config.data_dir / "timing.jsonl").exists() or "sendDocument" not in \
            (config.data_dir / "timing.jsonl").read_text()


# --------------------------------------------------------------------------- a real process


def _run(config: Path, cwd: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "netwatchd", "run", "-c", str(config)], cwd=cwd,
                            stdout=open(cwd / f"{name}.out", "wb"), stderr=open(cwd / f"{name}.err", "wb"),
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait(condition, timeout: float, proc: subprocess.Popen[bytes] | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"netwatchd exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _outbox(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT kind, status FROM outbox WHERE kind='document'").fetchall()
    finally:
        conn.close()


def test_a_report_due_while_stopped_arrives_once_across_kill_9(tmp_path: Path, listener: socket.socket) -> None:
    """The daily report is due at 00:00 today (the faked time: the schedule was armed yesterday by an
    earlier run). Telegram is down when the agent starts, so the report waits in the outbox; kill -9;
    Telegram back, start again: it arrives, once; kill -9 and start once more: still once."""
    with TelegramStandIn() as tg:
        config_path = write_config(tmp_path / "hosts.yaml", tg, every="daily", at="00:00", fmt="csv",
                                   port=listener.getsockname()[1])
        config = load_config(config_path)
        db = Database.in_dir(config.data_dir)
        db.migrate()
        conn = db.connect()
        yesterday = datetime.now(timezone.utc) - timedelta(days=1, hours=1)
        report_repo.arm_schedule(conn, schedule_key(config.reports[0]), yesterday)   # an earlier run saw it
        conn.close()
        tg.set_outage(True)
        first = _run(config_path, tmp_path, "first")
        try:
            _wait(lambda: len(tg.calls("sendDocument")) >= 1, 30, first, "the first sendDocument try")
            _wait(lambda: _outbox(db.path) and _outbox(db.path)[0][1] in ("pending", "sending"), 5, first,
                  "the report row")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert tg.documents() == [] and len(_outbox(db.path)) == 1
        tg.set_outage(False)
        second = _run(config_path, tmp_path, "second")
        try:
            _wait(lambda: len(tg.documents()) >= 1, 40, second, "the report to arrive")
            time.sleep(1.5)                                   # time to send a duplicate, if it would
        finally:
            second.send_signal(signal.SIGKILL)
            second.wait(10)
        third = _run(config_path, tmp_path, "third")
        try:
            _wait(lambda: "watching 1 hosts" in (tmp_path / "third.err").read_text("utf-8", "replace"), 20, third,
                  "the third start")
            time.sleep(3.0)                                   # one report pass and a few delivery steps
        finally:
            third.send_signal(signal.SIGTERM)
            third.wait(10)
        documents = tg.documents(CHAT)
        assert len(documents) == 1, [d["file_name"] for d in documents]
        assert _outbox(db.path) == [("document", "sent")]
        rows = list(csv.DictReader(io.StringIO(documents[0]["data"].decode())))
        assert [r["site"] for r in rows] == ["kec-a"]
        local_yesterday = (datetime.now(WIB) - timedelta(days=1)).strftime("%Y-%m-%d")
        assert documents[0]["file_name"] == f"laporan-ketersediaan-{local_yesterday}.csv"
        for name in ("first", "second", "third"):
            assert tg.token not in (tmp_path / f"{name}.err").read_text("utf-8", "replace")
