"""`netwatchd report`: availability per site and notification latency over a window.

Month-to-date in the configured time zone unless --since/--until say otherwise. --until is
exclusive and never later than now; a date alone means 00:00 of that day.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path

from netwatchd.clock import Clock, SystemClock
from netwatchd.config import loader as config_loader
from netwatchd.config.kinds import did_you_mean
from netwatchd.config.model import Config
from netwatchd.errors import UsageError
from netwatchd.report.make import FORMATS, make_report, render, timezone_of
from netwatchd.report.progress import ProgressBar
from netwatchd.report.stats import SiteInfo

__all__ = ["FORMATS", "add_arguments", "make_report", "parse_when", "resolve_window", "run", "select_sites",
           "site_hint"]

_TIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
_BY_SUFFIX = {".html": "html", ".htm": "html", ".pdf": "pdf", ".csv": "csv", ".json": "json"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="hosts.yaml", help="config file (default: ./hosts.yaml)")
    parser.add_argument("--since", help="start, e.g. 2026-11-01 or 2026-11-01T08:00 in the configured "
                        "time zone (default: the 1st of this month, 00:00)")
    parser.add_argument("--until", help="end, exclusive, same forms (default: now)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--site", action="append", metavar="NAME", help="only this site (repeatable)")
    which.add_argument("--group", action="append", metavar="G", help="only sites in this group (repeatable)")
    parser.add_argument("--format", choices=FORMATS, help="text (default), csv, json, html or pdf (A4, needs "
                        "WeasyPrint); default from the -o suffix (.html .pdf .csv .json)")
    parser.add_argument("--language", choices=("en", "id"), default="en",
                        help="language of text, html and pdf: en (default) or id (Indonesian: decimal comma)")
    parser.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
def parse_when(text: str, tz: tzinfo, flag: str) -> datetime:
    """A local date or date-time -> aware datetime. Raises UsageError naming the accepted forms."""
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise UsageError(f"{flag} {text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM "
                     "(in the configured time zone), e.g. 2026-11-01 or 2026-11-01T08:00")


def resolve_window(since: str | None, until: str | None, tz: tzinfo, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) with the defaults applied; until is clipped to now. Raises UsageError."""
    local_now = now.astimezone(tz)
    start = (parse_when(since, tz, "--since") if since
             else local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    end = parse_when(until, tz, "--until") if until else local_now
    end = min(end, local_now)
    if start >= end:
        raise UsageError(f"--since ({start:%Y-%m-%d %H:%M}) must be before --until/now "
                         f"({end:%Y-%m-%d %H:%M}): pick an earlier --since")
    return start, end


def site_hint(name: str, sites: Sequence[str], shown: int = 12) -> str:
    """'did you mean ...? ' plus the configured sites, the first `shown` of them and how many more."""
    names = sorted(sites, key=str.lower)
    if not names:
        return "no sites are configured"
    close = did_you_mean(name, names)
    listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
    return (f"did you mean {close!r}? " if close else "") + f"sites: {listed}"


def select_sites(config: Config, names: Sequence[str] | None, groups: Sequence[str] | None) -> list[SiteInfo]:
    """The sites the report covers. Raises UsageError for a name or group that is not configured."""
    hosts = [h for h in config.hosts if not h.disabled]
    if names:
        known = {h.name.lower(): h for h in hosts}
        unknown = [n for n in names if n.lower() not in known]
        if unknown:
            raise UsageError(f"--site {unknown[0]!r} is not in {config.path}: "
                             + site_hint(unknown[0], [h.name for h in hosts]))
        hosts = [known[n.lower()] for n in dict.fromkeys(names)]
    elif groups:
        present = {h.group.lower() for h in hosts if h.group}
        unknown = [g for g in groups if g.lower() not in present]
        if unknown:
            raise UsageError(f"--group {unknown[0]!r} has no sites in {config.path}: groups are "
                             f"{', '.join(sorted(present)) or '(none configured)'}")
        wanted = {g.lower() for g in groups}
        hosts = [h for h in hosts if h.group.lower() in wanted]
    return [SiteInfo(h.name, h.group, h.parent, h.address) for h in hosts]


def run(args: argparse.Namespace, clock: Clock | None = None) -> int:
    # a report needs no secret: it runs where TELEGRAM_BOT_TOKEN / router passwords are not set
    config = config_loader.load(Path(args.config), secrets_may_be_unset=True)
    tz = timezone_of(config.timezone)
    now = (clock or SystemClock()).now()
    since, until = resolve_window(args.since, args.until, tz, now)
    sites = select_sites(config, args.site, args.group)
    fmt = args.format or _BY_SUFFIX.get(Path(args.output or "").suffix.lower(), "text")
    language = args.language
    if fmt == "pdf":
        from netwatchd.report.pdf import available, render_pdf

        if not available():
            render_pdf("")              # raises ReportError: one line naming what to install
        if not args.output and sys.stdout.isatty():
            raise UsageError("a PDF is not for the terminal: add -o report.pdf (or pipe it to a file)")
    progress = ProgressBar(sys.stderr)
    try:
        report, inputs = make_report(config, since, until, sites, now=now, with_series=fmt in ("html", "pdf"),
                                     filtered=bool(args.site or args.group), progress=progress)
        data = render(report, inputs, fmt, tz, language, progress=progress)
    finally:
        progress.close()
    if args.output:
        try:
            Path(args.output).write_bytes(data)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc} "
                             "(check the folder exists and is writable)") from None
    elif fmt == "pdf":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0
