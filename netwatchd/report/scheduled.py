"""Scheduled reports (`reports:`): which periods are due (pure), and the worker that makes and
enqueues them.

A `daily` report covers yesterday (local 00:00-24:00) and is due today at `at`; `weekly` covers
the last Monday-Sunday and is due on Monday at `at`; `monthly` covers the last calendar month and
is due on the 1st at `at` (all in the configured time zone).

What is sent when (`periods_due`): every period whose due time has passed, is later than when the
agent first saw this schedule (`armed_at`: a new schedule does not send last year's reports) and
ends after the last period already enqueued (`last_until`). A report due while the agent was not
running is therefore sent when it starts — once: the schedule's progress is written in the same
transaction as the report's outbox rows, and the outbox sends each row once (retried until
Telegram has it, across restarts). After a long stop at most MAX_CATCH_UP periods per schedule are
caught up (the oldest ones are logged as skipped, with the command that makes them by hand).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo
from html import escape
from typing import TYPE_CHECKING

from netwatchd.clock import Clock
from netwatchd.config.model import Config, ReportSchedule
from netwatchd.errors import NetwatchError, ReportError
from netwatchd.logs import redact
from netwatchd.report import words
from netwatchd.store import Database, outbox_repo, report_repo, transaction

if TYPE_CHECKING:
    from netwatchd.report.stats import Report

log = logging.getLogger("netwatchd.reports")

MAX_CATCH_UP = 3
CHECK_EVERY_S = 30.0


@dataclass(frozen=True)
class Period:
    """One report's window [since, until) and when it is due."""

    since: datetime
    until: datetime
    due_at: datetime


def schedule_key(spec: ReportSchedule) -> str:
    """The identity under which a schedule's progress is stored: editing what it sends (or to whom)
    makes it a new schedule, armed anew."""
    chats = ",".join(str(c) for c in sorted(spec.chat_ids))
    return f"{spec.every}@{spec.at}:{spec.format}:{spec.language}:{chats}"


def _boundary(every: str, day: datetime) -> datetime:
    """The period boundary (local midnight) at or before local date `day`."""
    start = datetime.combine(day.date(), time(0))
    if every == "weekly":
        start -= timedelta(days=start.weekday())
    elif every == "monthly":
        start = start.replace(day=1)
    return start


def _previous(every: str, boundary: datetime) -> datetime:
    if every == "daily":
        return boundary - timedelta(days=1)
    if every == "weekly":
        return boundary - timedelta(days=7)
    return (boundary - timedelta(days=1)).replace(day=1)


def _local(naive: datetime, tz: tzinfo) -> datetime:
    return naive.replace(tzinfo=tz).astimezone(timezone.utc)


def periods_due(spec: ReportSchedule, tz: tzinfo, *, armed_at: datetime, last_until: datetime | None,
                now: datetime, max_catch_up: int = MAX_CATCH_UP) -> tuple[list[Period], list[Period]]:
    """(due, skipped): the periods to send now, oldest first, and older ones past the catch-up cap.
    Pure: every input is handed in."""
    hours, minutes = (int(part) for part in spec.at.split(":"))
    offset = timedelta(hours=hours, minutes=minutes)
    local_now = now.astimezone(tz).replace(tzinfo=None)
    until = _boundary(spec.every, local_now)
    if until + offset > local_now:
        until = _previous(spec.every, until)
    found: list[Period] = []
    while True:
        since = _previous(spec.every, until)
        period = Period(_local(since, tz), _local(until, tz), _local(until + offset, tz))
        if period.due_at <= armed_at or (last_until is not None and period.until <= last_until):
            break
        found.append(period)
        if len(found) > max_catch_up + 400:       # bounded even for a schedule armed long ago
            break
        until = since
    found.reverse()
    return found[-max_catch_up:] if max_catch_up else [], found[:-max_catch_up] if max_catch_up else found


def caption(report: Report, spec: ReportSchedule, tz: tzinfo) -> str:
    """The document's caption (Telegram HTML, well under 1024 characters): the headline and the split."""
    lang = spec.language
    start, end = report.since.astimezone(tz), (report.until - timedelta(seconds=1)).astimezone(tz)
    span = start.strftime("%Y-%m-%d") if start.date() == end.date() else \
        f"{start:%Y-%m-%d} \u2013 {end:%Y-%m-%d}"
    parts = report.parts
    split = ", ".join(f"{words.part_word(lang, p)} {words.duration(parts[p], lang)}"
                      for p in ("down", "parent", "maintenance", "blind") if parts.get(p, 0.0) > 0)
    worst = [s for s in report.sites if s.availability_percent is not None]
    worst.sort(key=lambda s: (s.availability_percent or 0.0, s.site.name))
    lines = [f"<b>{escape(words.word(lang, 'title'))}</b> {escape(span)}",
             f"{escape(words.word(lang, 'overall_availability'))}: "
             f"<b>{escape(words.percent(report.overall_availability_percent, lang))}</b> "
             f"({escape(words.word(lang, 'over_sites', n=len(report.sites)))})"]
    if split:
        lines.append(escape(split))
    if worst and (worst[0].availability_percent or 100.0) < 100.0:
        lines.append(escape(f"{worst[0].site.name}: {words.percent(worst[0].availability_percent, lang)}"))
    return "\n".join(lines)[:1000]


class ReportScheduler:
    """Makes the due reports and enqueues them as documents. `run_once()` does one pass (tests call
    it with a FakeClock); `start()` runs it every CHECK_EVERY_S seconds in a thread."""

    def __init__(self, db: Database, config: Config, clock: Clock, *,
                 on_enqueued: Callable[[Sequence[str]], None] | None = None) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.on_enqueued = on_enqueued        # told the chats that got a document (wakes the delivery)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: set[tuple[str, datetime]] = set()

    def replace_config(self, config: Config) -> None:
        self.config = config

    def run_once(self) -> int:
        """Enqueue every report due now; returns how many documents were enqueued. Never raises for
        a report that cannot be made (logged; tried again on the next pass)."""
        config = self.config
        if not config.reports:
            return 0
        from netwatchd.report.make import timezone_of  # the report makers load once reports are configured

        now = self.clock.now()
        tz = timezone_of(config.timezone)
        conn = self.db.connect()
        enqueued = 0
        try:
            for spec in config.reports:
                key = schedule_key(spec)
                armed_at, last_until = report_repo.arm_schedule(conn, key, now)
                due, skipped = periods_due(spec, tz, armed_at=armed_at, last_until=last_until, now=now)
                for period in skipped:
                    log.warning("the %s report for %s .. %s was not sent (netwatchd was stopped for longer than %d "
                                "periods); make it by hand: netwatchd report --since %s --until %s -o FILE",
                                spec.every, period.since.astimezone(tz).date(), period.until.astimezone(tz).date(),
                                MAX_CATCH_UP, period.since.astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
                                period.until.astimezone(tz).strftime("%Y-%m-%dT%H:%M"))
                for period in due:
                    done = self._send(conn, spec, key, period, last_until, tz, now)
                    if not done:
                        break                 # keep the order: the next pass tries this one again
                    enqueued += len(spec.chat_ids)
                    last_until = period.until
        finally:
            conn.close()
        return enqueued

    def _send(self, conn: sqlite3.Connection, spec: ReportSchedule, key: str, period: Period,
              last_until: datetime | None, tz: tzinfo, now: datetime) -> bool:
        """Make one period's report and enqueue it with the schedule's progress (one transaction)."""
        from netwatchd.report.make import MIME, all_sites, filename, make_report, render

        fmt = spec.format
        try:
            report, inputs = make_report(self.config, period.since, period.until, all_sites(self.config), now=now,
                                         with_series=fmt in ("html", "pdf"))
            try:
                body = render(report, inputs, fmt, tz, spec.language)
            except ReportError as exc:
                if fmt != "pdf":
                    raise
                log.error("the scheduled PDF report cannot be made (%s): sending it as HTML", exc)
                fmt = "html"
                body = render(report, inputs, fmt, tz, spec.language)
        except (NetwatchError, sqlite3.Error, OSError, ValueError) as exc:
            if (key, period.until) not in self._failed:
                log.error("the %s report for %s could not be made: %s (tried again in %.0f s)", spec.every,
                          period.since.astimezone(tz).date(), redact(str(exc)), CHECK_EVERY_S)
                self._failed.add((key, period.until))
            return False
        prefix = "laporan-ketersediaan" if spec.language == "id" else "availability-report"
        meta = {"filename": filename(period.since, period.until, fmt, tz, prefix), "mime": MIME[fmt],
                "caption": caption(report, spec, tz), "schedule": key,
                "since": period.since.isoformat(), "until": period.until.isoformat()}
        chats = [str(c) for c in spec.chat_ids]
        try:
            with transaction(conn):
                if not report_repo.schedule_done(conn, key, period.until, last_until):
                    raise _Moved()
                outbox_repo.enqueue_document(conn, chats, meta, body, now)
        except _Moved:
            log.info("the %s report for %s was already enqueued by another process", spec.every,
                     period.since.astimezone(tz).date())
            return False
        except sqlite3.Error as exc:
            log.error("the %s report could not be stored for delivery: %s (tried again in %.0f s)", spec.every,
                      exc, CHECK_EVERY_S)
            return False
        self._failed.discard((key, period.until))
        log.info("%s report %s (%d bytes) enqueued for %d chat(s)", spec.every, meta["filename"], len(body),
                 len(chats))
        if self.on_enqueued is not None:
            self.on_enqueued(chats)
        return True

    # -- background ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="reports", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:           # the schedule must survive; the log says what broke
                log.exception("scheduled reports failed")
            if self._stop.wait(CHECK_EVERY_S):
                return


class _Moved(Exception):
    """The schedule moved on in another process: roll this enqueue back."""
