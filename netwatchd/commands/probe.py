"""`netwatchd probe ADDR... | --from-file FILE`: probe now, print a table or JSON (the study's /ping).

Exit status as fping's: 0 when every target answered, 1 when at least one did not, 2 for a
usage mistake (one line on stderr) or when ICMP is not permitted (the line says how to fix it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from netwatchd.clock import SystemClock
from netwatchd.config.loader import parse_duration
from netwatchd.config.model import HostSpec
from netwatchd.errors import UsageError
from netwatchd.models import PROBE_TYPES, ProbeResult, ProbeType
from netwatchd.probes import probe_hosts

MAX_COUNT = 1000
MAX_SECONDS = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("addresses", nargs="*", metavar="ADDR",
                        help="IP addresses or host names to probe")
    parser.add_argument("-f", "--from-file", metavar="FILE",
                        help="read targets from FILE: one address per line (# comments allowed; '-' = stdin), "
                             "or a hosts.yaml (*.yaml/*.yml) whose enabled hosts are probed as configured")
    parser.add_argument("-c", "--count", type=str, default=None,
                        help="echo requests per target (icmp; default 3, or the config's)")
    parser.add_argument("-i", "--interval", default=None,
                        help="spacing of the echoes to one target, e.g. 50ms or 0.2 (default 50ms)")
    parser.add_argument("-t", "--timeout", default=None,
                        help="how long to wait for each reply / connection, e.g. 1s or 500ms (default 1s)")
    parser.add_argument("-s", "--size", default=None, help="ICMP payload bytes (default 56)")
    parser.add_argument("--probe", choices=PROBE_TYPES, default=None,
                        help="probe type for ADDR targets (default icmp)")
    parser.add_argument("-p", "--port", default=None, help="port for tcp (required), http(s) or dns")
    parser.add_argument("--dns-name", default=None, help="name to look up (dns probe; ADDR is the server)")
    parser.add_argument("--record-type", default="A", help="DNS record type (default A)")
    parser.add_argument("--insecure", action="store_true", help="https: do not check the certificate")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON list (address, alive, sent, received, loss_percent, rtt_*_ms, "
                             "jitter_ms, stdev_ms, error, ...) instead of a table")


def _integer(text: str | None, flag: str, low: int, high: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a whole number (allowed: {low}-{high})") from None
    if not low <= value <= high:
        raise UsageError(f"{flag} {value} is out of range (allowed: {low}-{high})")
    return value


def _seconds(text: str | None, flag: str, *, positive: bool) -> float | None:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a duration (e.g. 500ms, 1s, 0.2)") from None
    if positive and value <= 0 or value > MAX_SECONDS:
        low = "more than 0" if positive else "0"
        raise UsageError(f"{flag} {text!r} is out of range (allowed: {low} to {MAX_SECONDS:g}s)")
    return value


def read_address_file(stream: TextIO, name: str) -> list[str]:
    """Addresses from a text file: one per line; blank lines and '#' comments skipped.

    Raises UsageError for a line with more than one word.
    """
    addresses: list[str] = []
    for number, line in enumerate(stream, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if len(text.split()) != 1:
            raise UsageError(f"{name}:{number}: one address per line, got {text!r}")
        addresses.append(text)
    return addresses


def _hosts_from_file(path_text: str) -> list[HostSpec]:
    if path_text == "-":
        return [HostSpec(name=a, address=a) for a in read_address_file(sys.stdin, "<stdin>")]
    path = Path(path_text)
    if path.suffix.lower() in (".yaml", ".yml"):
        from netwatchd.config.loader import load

        # Probing needs no secret: an unset TELEGRAM_BOT_TOKEN must not stop an admin's probe.
        return [host for host in load(path, secrets_may_be_unset=True).hosts if not host.disabled]
    try:
        with path.open(encoding="utf-8") as stream:
            return [HostSpec(name=a, address=a) for a in read_address_file(stream, path_text)]
    except OSError as exc:
        raise UsageError(f"cannot read --from-file {path_text}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--from-file {path_text} is not a UTF-8 text file") from None


def build_hosts(args: argparse.Namespace) -> list[HostSpec]:
    """Targets with the command line's settings applied. Raises UsageError for bad flags."""
    count = _integer(args.count, "--count", 1, MAX_COUNT)
    interval = _seconds(args.interval, "--interval", positive=False)
    timeout = _seconds(args.timeout, "--timeout", positive=True)
    size = _integer(args.size, "--size", 0, 65000)
    port = _integer(args.port, "--port", 1, 65535)
    probe: ProbeType = args.probe or "icmp"     # argparse's choices are PROBE_TYPES
    if probe == "tcp" and port is None:
        raise UsageError("--probe tcp needs --port N (the TCP port to connect to)")
    if probe == "dns" and not args.dns_name:
        raise UsageError("--probe dns needs --dns-name NAME (ADDR is the DNS server to ask)")
    hosts = [HostSpec(name=a, address=a, probe=probe, port=port, dns_name=args.dns_name,
                      record_type=args.record_type.upper(), verify_tls=not args.insecure)
             for a in args.addresses]
    if args.from_file:
        from_file = _hosts_from_file(args.from_file)
        if args.probe or port is not None:  # explicit flags apply to plain address lists too
            from_file = [replace(h, probe=probe, port=port, dns_name=args.dns_name,
                                 record_type=args.record_type.upper(), verify_tls=not args.insecure)
                         if h.name == h.address else h for h in from_file]
        hosts.extend(from_file)
    if not hosts:
        raise UsageError("nothing to probe: give one or more ADDR, or --from-file FILE")
    return [replace(h, count=h.count if count is None else count,
                    packet_interval=h.packet_interval if interval is None else interval,
                    timeout=h.timeout if timeout is None else timeout,
                    packet_size=h.packet_size if size is None else size) for h in hosts]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_table(results: Sequence[ProbeResult]) -> str:
    """A fixed-width table, one row per result."""
    header = ("ADDRESS", "PROBE", "RESULT", "SENT", "RECV", "LOSS%", "MIN", "AVG", "MAX", "JITTER", "NOTE")
    rows = [header]
    for r in results:
        note = r.error or ""
        if not note and "http_status" in r.detail:
            note = f"HTTP {r.detail['http_status']}"
        elif not note and r.detail.get("dns_answers"):
            note = " ".join(str(a) for a in r.detail["dns_answers"])
        label = r.address if r.host == r.address else f"{r.host} ({r.address})"
        rows.append((label, r.probe, "up" if r.alive else "DOWN", str(r.sent), str(r.received),
                     f"{r.loss_percent:g}", _ms(r.rtt_min_ms), _ms(r.rtt_avg_ms), _ms(r.rtt_max_ms),
                     _ms(r.jitter_ms), note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 3 else cell.rjust(widths[i])
                       for i, cell in enumerate(row[:-1])) + ("  " + row[-1] if row[-1] else "")
             for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    hosts = build_hosts(args)
    results = probe_hosts(hosts, clock=SystemClock())
    if args.json:
        json.dump([r.to_dict() for r in results], sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(render_table(results))
    return 0 if all(r.alive for r in results) else 1
