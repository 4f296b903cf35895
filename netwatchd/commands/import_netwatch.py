"""`netwatchd import-netwatch (--router NAME [-c FILE] | --rsc FILE [--routeros 6|7])`: Netwatch -> hosts.yaml.

Reads the entries over the API (read-only) or from a `/tool netwatch export` script — or the
Netwatch lines a guide or forum post shows (`-` reads stdin) — and prints hosts.yaml `hosts:`
items on stdout, with a `#` comment for anything not carried over. A summary line goes to stderr
so stdout can be redirected into a file.
"""

from __future__ import annotations

import argparse
import codecs
import sys
from pathlib import Path

from netwatchd.config.loader import load
from netwatchd.errors import UsageError
from netwatchd.router.hosts_yaml import convert, format_duration
from netwatchd.router.netwatch import NetwatchEntry, UnreadableEntry, read_netwatch
from netwatchd.router.rsc import Export, RscSyntaxError, read_export

MAX_SCRIPT_BYTES = 20 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("examples: netwatchd import-netwatch --router core -c hosts.yaml > imported.yaml; "
                     "ssh admin@ROUTER /tool netwatch export | netwatchd import-netwatch --rsc -")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--router", metavar="NAME", help="read /tool/netwatch from this configured router")
    source.add_argument("--rsc", metavar="FILE", help="read a '/tool netwatch export' script ('-' = stdin)")
    parser.add_argument("--routeros", type=int, choices=(6, 7), default=None,
                        help="with --rsc: fill values the script leaves out with this RouterOS version's "
                             "defaults (default: from the export header, else 7 if any entry has type=)")
    parser.add_argument("-c", "--config", default=None,
                        help="config file naming the router (with --router; default: ./hosts.yaml); "
                             "sites it already watches are not imported twice")


def decode_script(raw: bytes, name: str) -> str:
    """The text of a script file: UTF-8 (with or without BOM), UTF-16 with a BOM (PowerShell's `>`),
    else Windows-1252 (WinBox-era exports). Raises UsageError for a binary file."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise UsageError(f"{name}: not readable as UTF-16 text although it starts like it") from None
    if b"\x00" in raw:
        raise UsageError(f"{name} is a binary file, not a script (a RouterOS .backup?): on the router run "
                         "`/tool netwatch export file=netwatch` and use netwatch.rsc")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def read_rsc_file(path: str, version: int | None = None) -> Export:
    """Raises UsageError naming the file (and the line) when it cannot be read or parsed."""
    name = "stdin" if path == "-" else path
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_SCRIPT_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SCRIPT_BYTES:
        raise UsageError(f"{name} is larger than {MAX_SCRIPT_BYTES // (1024 * 1024)} MB: export only "
                         "/tool netwatch (`/tool netwatch export`)")
    try:
        return read_export(decode_script(raw, name), version)
    except RscSyntaxError as exc:
        raise UsageError(f"{name}: {exc}") from None


def _export_header(export: Export) -> list[str]:
    version = export.version
    lines = [f"RouterOS {version.major} defaults fill what the script leaves out (interval "
             f"{format_duration(version.interval)}, timeout {format_duration(version.timeout)}): {version.reason}"]
    if version.major >= 7 and any(isinstance(e, NetwatchEntry) and e.type == "icmp" for e in export.entries):
        lines.append("type icmp options a script leaves out (packet-count, thr-loss-percent, ...) take "
                     "netwatchd's defaults, not the router's")
    return lines + export.notes


def run(args: argparse.Namespace) -> int:
    if args.routeros and not args.rsc:
        raise UsageError("--routeros only applies to --rsc (a router's own entries carry every value)")
    # reading a router needs its password; --rsc with -c only reads the sites: no secret at all
    config = (load(Path(args.config or "hosts.yaml"), secrets_may_be_unset=True,
                   secrets_needed=("routers[",) if args.router else ())
              if (args.config or args.router) else None)
    if config is None or args.rsc:
        export = read_rsc_file(args.rsc, args.routeros)
        entries: list[NetwatchEntry | UnreadableEntry] = list(export.entries)
        header = _export_header(export)
        source = "stdin" if args.rsc == "-" else args.rsc
    else:
        from netwatchd.router.client import RouterPool  # librouteros: only when a router is read

        pool = RouterPool(config.routers)
        try:
            client = pool.get(args.router)
            entries = list(read_netwatch(client))
            source = f"router {client.name}"
            header = [f"read from {source} over the API"]
        finally:
            pool.close()
    result = convert(entries, config.hosts if config else (),
                     routers=[router.name for router in config.routers] if config else (), header=header)
    sys.stdout.write(result.text)
    print(f"import-netwatch: {result.converted} of {result.total} entries from {source} converted"
          + (f", {result.skipped} not importable (see the # NOT IMPORTED lines)" if result.skipped else "")
          + (f", {result.already} already in {config.path if config else ''} (# ALREADY WATCHED)"
             if result.already else ""),
          file=sys.stderr)
    if args.rsc and not entries:
        print(f"import-netwatch: {source} has no /tool netwatch add commands: is it an export "
              "(`/tool netwatch export`)?", file=sys.stderr)
    return 0
