"""One report from the store, in any format: what `netwatchd report`, the bot's /report and the
scheduled reports share.

`make_report` reads the store (read-only) and the timing log and computes the figures;
`render` turns them into text, CSV, JSON, HTML or an A4 PDF in English or Indonesian.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from netwatchd.config.model import Config
from netwatchd.errors import StoreError, UsageError
from netwatchd.report.data import ReportInputs, load_inputs, read_timing_log
from netwatchd.report.progress import ProgressBar
from netwatchd.report.stats import Report, SiteInfo, build_report, day_bounds, site_report
from netwatchd.store import Database
from netwatchd.store.history_repo import rollup_table

FORMATS = ("text", "csv", "json", "html", "pdf")
MIME = {"text": "text/plain", "csv": "text/csv", "json": "application/json", "html": "text/html",
        "pdf": "application/pdf"}
EXTENSION = {"text": "txt", "csv": "csv", "json": "json", "html": "html", "pdf": "pdf"}


def timezone_of(name: str) -> tzinfo:
    """The config's zone. Raises UsageError for a name that is not an IANA zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"timezone {name!r} in the config is not a known IANA zone "
                         "(e.g. Asia/Jakarta)") from None


def all_sites(config: Config) -> list[SiteInfo]:
    """Every enabled host of the config, in its order."""
    return [SiteInfo(h.name, h.group, h.parent, h.address) for h in config.hosts if not h.disabled]


def make_report(config: Config, since: datetime, until: datetime, sites: Sequence[SiteInfo], *,
                now: datetime, with_series: bool = False, filtered: bool = False,
                progress: ProgressBar | None = None) -> tuple[Report, ReportInputs]:
    """Read the store and the timing log, compute the figures. Raises StoreError."""
    tz = timezone_of(config.timezone)
    db = Database.in_dir(config.data_dir)
    notes: list[str] = []
    table = rollup_table(since, until, now, config.retention)
    if db.path.exists():
        inputs = _read_store(db, sites, since, until, rollup_table=table, with_series=with_series, now=now)
    else:
        inputs = ReportInputs(rollup_table=table)
        notes.append(f"no store at {db.path} yet: start 'netwatchd run' with this config to collect data")
    if progress:
        progress.update(1, len(sites) + 2, "events and rollups")

    def on_site(done: int, total: int) -> None:
        if progress:
            progress.update(done + 1, total + 2, "sites")

    report = build_report(sites, inputs.initial_states, inputs.changes, inputs.rtt,
                          read_timing_log(config.data_dir), since=since, until=until, tz=tz,
                          tz_name=config.timezone, generated_at=now,
                          delivery_hosts={s.name for s in sites} if filtered else None, progress=on_site,
                          seen=inputs.seen, maintenance=inputs.maintenance, notes=inputs.notes)
    if notes:
        report = dataclasses.replace(report, notes=tuple(notes))
    return report, inputs


def _read_store(db: Database, sites: Sequence[SiteInfo], since: datetime, until: datetime, *,
                now: datetime, **options: Any) -> ReportInputs:
    """load_inputs(..., **options) through a read-only connection to the existing store `db`.
    Raises StoreError when it cannot be read."""
    try:
        conn = db.connect(readonly=True)
        try:
            return load_inputs(conn, sites, since, until, now=now, **options)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the store {db.path}: {exc} (is it a netwatchd store? "
                         "run 'netwatchd run' once to create it)") from None


Availability = tuple[float | None, dict[str, float]]
"""A site's availability percent (None: nothing observable) and its seconds per part."""


def availability_figures(config: Config, since: datetime, until: datetime, sites: Sequence[SiteInfo], *,
                         now: datetime) -> dict[str, Availability]:
    """Each site's availability and parts over [since, until), exactly as make_report's sites have
    them, without the rest of the report (see iter_availability_figures). Raises StoreError."""
    return dict(iter_availability_figures(config, since, until, sites, now=now))


def iter_availability_figures(config: Config, since: datetime, until: datetime, sites: Sequence[SiteInfo], *,
                              now: datetime) -> Iterator[tuple[str, Availability]]:
    """(site name, its figures) one site at a time: no rtt rollups read, no delivery log, and
    nothing of a site kept once the caller has taken it (the agent's /metrics asks for the month to
    date of every site every 5 minutes: the whole report of 10,000 sites held ~20 MB at once, and
    even a dict of every site's figures, built among each site's passing objects, left ~8 MB of
    memory pools the process kept). A store not created yet gives no figures. Raises StoreError."""
    db = Database.in_dir(config.data_dir)
    if not db.path.exists():
        return
    tz = timezone_of(config.timezone)
    inputs = _read_store(db, sites, since, until, with_rtt=False, now=now)
    bounds = day_bounds(since, until, tz)
    for site in sites:
        one = site_report(site, inputs.initial_states.get(site.name, "unknown"), inputs.changes.get(site.name, ()),
                          since, until, tz, None, bounds, seen=inputs.seen,
                          maintenance=inputs.maintenance.get(site.name, ()), notes=inputs.notes.get(site.name, ()))
        yield site.name, (one.availability_percent, one.parts)


def render(report: Report, inputs: ReportInputs, fmt: str, tz: tzinfo, language: str = "en",
           progress: ProgressBar | None = None) -> bytes:
    """The report as a file's bytes (UTF-8 text, or a PDF). Raises ReportError for a PDF without
    WeasyPrint."""
    if fmt in ("html", "pdf"):
        from netwatchd.report.html import render_html

        html = render_html(report, inputs, tz, progress=progress, language=language)
        if fmt == "html":
            return html.encode("utf-8")
        from netwatchd.report.pdf import render_pdf

        return render_pdf(html)
    from netwatchd.report import render as text_render

    if fmt == "csv":
        return text_render.render_csv(report).encode("utf-8")
    if fmt == "json":
        return text_render.render_json(report).encode("utf-8")
    return text_render.render_text(report, tz, language).encode("utf-8")


def filename(since: datetime, until: datetime, fmt: str, tz: tzinfo, prefix: str = "netwatchd-report") -> str:
    """'netwatchd-report-2026-11.pdf' for a calendar month, else '...-2026-11-01_2026-11-08.pdf'."""
    start, end = since.astimezone(tz), until.astimezone(tz)
    if (start.day == 1 and start.hour == start.minute == 0 and end.day == 1 and end.hour == end.minute == 0
            and (end.year * 12 + end.month) - (start.year * 12 + start.month) == 1):
        span = start.strftime("%Y-%m")
    elif (end - start).total_seconds() == 86400 and start.hour == start.minute == 0:
        span = start.strftime("%Y-%m-%d")
    else:
        span = f"{start:%Y-%m-%d}_{end:%Y-%m-%d}"
    return f"{prefix}-{span}.{EXTENSION[fmt]}"
