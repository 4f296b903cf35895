"""`netwatchd import-netwatch (--router NAME [-c FILE] | --rsc FILE)`: Netwatch -> hosts.yaml entries.

Reads the entries over the API (read-only) or from a `/tool netwatch export` script (v6 or v7; `-`
reads stdin) and prints hosts.yaml `hosts:` items on stdout, with a `#` comment for anything not
carried over. A summary line goes to stderr so stdout can be redirected into a file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netwatchd.config.loader import load
from netwatchd.errors import UsageError
from netwatchd.router.client import RouterPool
from netwatchd.router.hosts_yaml import skip_reason
from netwatchd.router.hosts_yaml import to_hosts_yaml
from netwatchd.router.netwatch import NetwatchEntry, read_netwatch
from netwatchd.router.rsc import parse_rsc
from netwatchd.router.rsc import RscSyntaxError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("examples: netwatchd import-netwatch --router core -c hosts.yaml > imported.yaml; "
                     "ssh admin@ROUTER /tool netwatch export | netwatchd import-netwatch --rsc -")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--router", metavar="NAME", help="read /tool/netwatch from this configured router")
    source.add_argument("--rsc", metavar="FILE", help="read a '/tool netwatch export' script ('-' = stdin)")
    parser.add_argument("-c", "--config", default=None,
                        help="config file naming the router (with --router; default: ./hosts.yaml); "
                             "sites it already watches are not imported twice")


def read_rsc_file(path: str) -> list[NetwatchEntry]:
    """Raises UsageError naming the file (and the line) when it cannot be read or parsed."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            raw = Path(path).read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # exports from WinBox-era routers are often Windows-1252
                text = raw.decode("cp1252", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return parse_rsc(text)
    except RscSyntaxError as exc:
        raise UsageError(f"{path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    # reading a router needs its password; --rsc with -c only reads the sites: no secret at all
    config = (load(Path(args.config or "hosts.yaml"), secrets_may_be_unset=True,
                   secrets_needed=("routers[",) if args.router else ())
              if (args.config or args.router) else None)
    if config is None or args.rsc:
        entries = read_rsc_file(args.rsc)
        source = args.rsc
    else:
        pool = RouterPool(config.routers)
        try:
            client = pool.get(args.router)
            entries = read_netwatch(client)
            source = f"router {client.name}"
        finally:
            pool.close()
    text = to_hosts_yaml(entries, config.hosts if config else ())
    sys.stdout.write(text)
    skipped = sum(1 for entry in entries if skip_reason(entry))
    already = text.count("\n# ALREADY WATCHED")
    converted = len(entries) - skipped - already
    print(f"import-netwatch: {converted} of {len(entries)} entries from {source} converted"
          + (f", {skipped} not importable (see the # NOT IMPORTED lines)" if skipped else "")
          + (f", {already} already in {config.path if config else ''} (# ALREADY WATCHED)" if already else ""),
          file=sys.stderr)
    return 0
