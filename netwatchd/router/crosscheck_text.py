"""A CrossCheck as aligned plain-text tables (for the CLI; the bot may put it in <pre>)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from netwatchd.router.netwatch import Comparison, CrossCheck

SIMPLE_NOTE = ("  (a type=simple entry, as every RouterOS 6 entry is, flips on one lost or answered echo; netwatchd "
               "waits for down_after / up_after probes in a row: on a lossy link a short disagreement is expected)")


def _when(moment: datetime | None, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "-"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Left-aligned columns separated by two spaces; trailing spaces stripped."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return [(indent + "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))).rstrip()
            for line in [header, *rows]]


def _comparison_rows(items: Sequence[Comparison], tz: tzinfo) -> list[list[str]]:
    return [[c.site, c.address, _entry_cell(c), f"{c.ours_detail} since {_when(c.ours_since, tz)}",
             f"{c.router} since {_when(c.router_since, tz)}"] for c in items]


def _entry_cell(c: Comparison) -> str:
    """The router entry, when it is not obviously the site's: its label, and its host if matched by name."""
    label = "" if c.entry == c.site else c.entry
    if c.matched_by == "name":
        return f"{label or c.entry} ({c.entry_host}, matched by name)"
    return label


def render_crosscheck(check: CrossCheck, tz: tzinfo, *, netwatchd_has_run: bool = True) -> str:
    """Disagreements first, then what only one side watches, then what agrees."""
    lines = [f"Cross-check with router {check.router}: {len(check.both)} sites both watch, "
             f"{len(check.disagreements)} disagree"]
    if not netwatchd_has_run:
        lines.append("(netwatchd has not run yet: its side is unknown everywhere)")
    header = ["SITE", "ADDRESS", "ROUTER ENTRY", "NETWATCHD", "ROUTER"]
    if check.disagreements:
        lines += ["", f"Disagree ({len(check.disagreements)}):"]
        lines += table(header, _comparison_rows(check.disagreements, tz))
        if any(c.entry_type == "simple" for c in check.disagreements):
            lines.append(SIMPLE_NOTE)
    if check.only_netwatchd:
        lines += ["", f"Only netwatchd watches ({len(check.only_netwatchd)}):"]
        lines += table(["SITE", "ADDRESS"], [[h.name, h.address] for h in check.only_netwatchd])
    if check.only_router:
        lines += ["", f"Only the router watches ({len(check.only_router)}):"]
        lines += table(["ENTRY", "HOST", "TYPE", "STATUS"],
                       [[e.label, e.host, e.type, "disabled" if e.disabled else e.status] for e in check.only_router])
    agreeing = [c for c in check.both if c.agree is not False]
    if agreeing:
        lines += ["", f"Agree or not comparable yet ({len(agreeing)}):"]
        lines += table(header, _comparison_rows(agreeing, tz))
    return "\n".join(lines)
