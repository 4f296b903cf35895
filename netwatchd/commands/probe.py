"""`netwatchd probe ADDR... | --from-file FILE`: probe now, print a table or JSON (the study's /ping).

Exit status as fping's: 0 when every target answered, 1 when at least one did not, 2 for a
usage mistake (one line on stderr) or when ICMP is not permitted (the line says how to fix it).

Pasting a 10,000-line inventory should cost about what fping costs, so the whole process is kept
lean: only what the targets need is imported (icmplib for icmp, the YAML loader for a hosts.yaml),
the settings of plain addresses are checked once (one HostSpec) and copied to every address, and
the output is built in one string and written with one write.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from netwatchd.errors import UsageError

if TYPE_CHECKING:
    from datetime import datetime

    from netwatchd.config.model import HostSpec
    from netwatchd.models import ProbeResult, ProbeType
    from netwatchd.probes.icmp import IcmpRound

MAX_COUNT = 1000
EXIT_WITHOUT_TEARDOWN = True
"""cli.entry() may end the process at once after `probe` (its output is written and flushed)."""
PROBE_CHOICES = ("icmp", "tcp", "http", "https", "dns")
"""netwatchd.models.PROBE_TYPES (a test holds them equal): models, with dataclasses, is not
imported for the plain ICMP case."""
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
    parser.add_argument("--probe", choices=PROBE_CHOICES, default=None,
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
    from netwatchd.config.durations import parse_duration

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
    return address_lines(stream.read(), name)


def address_lines(text: str, name: str) -> list[str]:
    """The addresses in the text of an address file (see read_address_file). Raises UsageError."""
    if text.isascii() and not any(c in text for c in "# \t\x0b\x0c\x1c\x1d\x1e\x1f"):
        return text.split()     # one word per line, nothing else: what the loop below would return
    addresses: list[str] = []
    append = addresses.append
    for number, line in enumerate(text.split("\n"), start=1):
        if "#" in line:
            line = line.split("#", 1)[0]
        word = line.strip()
        if not word:
            continue
        if len(word.split()) != 1:
            raise UsageError(f"{name}:{number}: one address per line, got {word!r}")
        append(word)
    return addresses


def _from_file(path_text: str) -> tuple[list[str], list[HostSpec]]:
    """(plain addresses of a text file or stdin, []) or ([], the enabled hosts of a hosts.yaml)."""
    if path_text == "-":
        return read_address_file(sys.stdin, "<stdin>"), []
    if path_text.lower().endswith((".yaml", ".yml")):
        from pathlib import Path

        from netwatchd.config.loader import load

        # Probing needs no secret: an unset TELEGRAM_BOT_TOKEN must not stop an admin's probe.
        return [], [host for host in load(Path(path_text), secrets_may_be_unset=True).hosts if not host.disabled]
    try:
        with open(path_text, encoding="utf-8") as stream:
            return read_address_file(stream, path_text), []
    except OSError as exc:
        raise UsageError(f"cannot read --from-file {path_text}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--from-file {path_text} is not a UTF-8 text file") from None


def _plain_hosts(addresses: Sequence[str], settings: dict[str, Any]) -> list[HostSpec]:
    """One HostSpec per address, all with `settings`: the settings are checked once by the real
    constructor, then its slots are copied to each address (the HostSpec constructor of a frozen
    dataclass with 31 fields costs ~5 us; 10,000 pasted addresses would pay it 10,000 times)."""
    from netwatchd.config.model import HostSpec

    template = HostSpec(name="-", address="-", **settings)
    setters = {name: getattr(HostSpec, name).__set__ for name in HostSpec.__slots__}
    copied = [(setter, getattr(template, name)) for name, setter in setters.items() if name not in ("name", "address")]
    set_name, set_address = setters["name"], setters["address"]
    new = object.__new__
    hosts: list[HostSpec] = []
    append = hosts.append
    for address in addresses:
        host = new(HostSpec)
        set_name(host, address)
        set_address(host, address)
        for setter, value in copied:
            setter(host, value)
        append(host)
    return hosts


class Plan(NamedTuple):
    """What the command line asks for, checked: plain addresses (ADDR, then a plain --from-file
    list) with `kind` + `echo` settings, and the enabled hosts of a --from-file hosts.yaml."""

    addresses: list[str]
    kind: dict[str, Any]        # probe, port, dns_name, record_type, verify_tls
    echo: dict[str, Any]        # count, packet_interval, timeout, packet_size: only those given
    configured: list[HostSpec]
    retyped: bool               # --probe/--port given: they apply to address-only yaml entries too


def plan(args: argparse.Namespace) -> Plan:
    """Check the flags and read --from-file. Raises UsageError for bad flags or files."""
    count = _integer(args.count, "--count", 1, MAX_COUNT)
    interval = _seconds(args.interval, "--interval", positive=False)
    timeout = _seconds(args.timeout, "--timeout", positive=True)
    size = _integer(args.size, "--size", 0, 65000)
    port = _integer(args.port, "--port", 1, 65535)
    probe: ProbeType = args.probe or "icmp"     # argparse's choices are PROBE_TYPES (PROBE_CHOICES)
    if probe == "tcp" and port is None:
        raise UsageError("--probe tcp needs --port N (the TCP port to connect to)")
    if probe == "dns" and not args.dns_name:
        raise UsageError("--probe dns needs --dns-name NAME (ADDR is the DNS server to ask)")
    echo = {key: value for key, value in (("count", count), ("packet_interval", interval), ("timeout", timeout),
                                          ("packet_size", size)) if value is not None}
    kind = {"probe": probe, "port": port, "dns_name": args.dns_name, "record_type": args.record_type.upper(),
            "verify_tls": not args.insecure}
    plain: list[str] = list(args.addresses)
    configured: list[HostSpec] = []
    if args.from_file:
        addresses, configured = _from_file(args.from_file)
        plain.extend(addresses)
    if not plain and not configured:
        raise UsageError("nothing to probe: give one or more ADDR, or --from-file FILE")
    return Plan(plain, kind, echo, configured, args.probe is not None or port is not None)


def build_hosts(args: argparse.Namespace) -> list[HostSpec]:
    """Targets with the command line's settings applied. Raises UsageError for bad flags."""
    return hosts_of(plan(args))


def hosts_of(wanted: Plan) -> list[HostSpec]:
    """The HostSpecs of a plan, in order: the plain addresses, then the hosts.yaml's hosts."""
    hosts = _plain_hosts(wanted.addresses, {**wanted.kind, **wanted.echo})
    if wanted.configured:
        from dataclasses import replace

        for host in wanted.configured:
            changes = {**wanted.kind, **wanted.echo} if wanted.retyped and host.name == host.address else wanted.echo
            hosts.append(replace(host, **changes) if changes else host)
    return hosts


def ping_round(wanted: Plan) -> tuple[IcmpRound, float]:
    """The plain-ICMP case (`netwatchd probe -f inventory.txt`): one engine round straight from
    the addresses (no HostSpec, no IcmpTarget, no ProbeResult per address), and when it began
    (time.time(); the table does not show it, so datetime is imported for --json only).
    Raises PermissionProblem."""
    import time

    from netwatchd.probes.icmp import IcmpEngine, IcmpTarget

    names = {"count": "count", "packet_interval": "interval", "timeout": "timeout", "packet_size": "payload_size"}
    settings = IcmpTarget("", "", **{names[key]: value for key, value in wanted.echo.items()})
    engine = IcmpEngine()
    engine.check()
    began = time.time()
    return engine.ping_addresses(wanted.addresses, settings), began


Outcome = tuple[bool, int, int, "float | None", "float | None", "float | None", "float | None", "float | None",
                "str | None"]
"""(alive, sent, received, rtt_min_ms, rtt_avg_ms, rtt_max_ms, jitter_ms, stdev_ms, error): a
ProbeResult's numbers, as IcmpRound.results() computes them."""


def round_outcomes(round_: IcmpRound) -> list[Outcome]:
    """Every target's Outcome, in order, without building its ProbeResult (a test holds each
    equal to the round's results())."""
    return [_outcome(round_, i) for i in range(len(round_.rtts))]


def _outcome(round_: IcmpRound, i: int) -> Outcome:
    unresolved = round_.failed_before_send[i]
    if unresolved:
        return (False, 0, 0, None, None, None, None, None, unresolved)
    echoes = round_.rtts[i]
    sent, error = round_.sent[i], round_.errors[i]
    got: list[float] = [e for e in echoes if e is not None]
    if not got:
        return (False, sent, 0, None, None, None, None, None, error or "timeout")
    if len(got) == 1:
        value = round(got[0], 3)
        return (True, sent, 1, value, value, value, 0.0, 0.0, error)
    from netwatchd.models import rtt_summary

    return (True, sent, len(got), *rtt_summary(got), error)


def _split(round_: IcmpRound) -> tuple[dict[int, Outcome], list[float]]:
    """(the Outcome of every target that is not 'one echo, answered', by index; the round-trip
    times (ms, unrounded) of those that are). The renderers handle the second kind inline:
    10,000 pasted addresses, one echo each, are all of that kind but the few that are down."""
    rtts = round_.rtts
    odd = {i: _outcome(round_, i) for i, echoes in enumerate(rtts) if len(echoes) != 1 or echoes[0] is None}
    single = [echoes[0] for echoes in rtts if len(echoes) == 1 and echoes[0] is not None]
    return odd, single


def round_all_alive(round_: IcmpRound) -> bool:
    """Whether every target of the round answered at least once (exit status 0)."""
    return all(echoes.count(None) < len(echoes) for echoes in round_.rtts) and \
        not any(round_.failed_before_send)


def _width(header: str, values: list[float]) -> int:
    """The width of a column of values shown as '%.2f' ('-' for None) under `header`: the widest
    text is that of the largest value (all are >= 0)."""
    return max(len(header), len(f"{max(values):.2f}") if values else 1)


def render_round_table(round_: IcmpRound) -> str:
    """render_table(round_.results(at)), built from the round's columns: the same text, byte for
    byte (a test holds it), each line one f-string of pieces padded once."""
    hosts, addresses, rtts, sents = round_.hosts, round_.addresses, round_.rtts, round_.sent
    names = addresses if hosts is addresses else [a if h == a else f"{h} ({a})" for h, a in
                                                   zip(hosts, addresses, strict=True)]
    odd, single = _split(round_)
    top = round(max(single), 3) if single else None     # rounding keeps the order: the widest shown value
    counts: dict[tuple[bool, int, int], tuple[str, str, str, str]] = {}
    keys = {(o[0], o[1], o[2]) for o in odd.values()}
    if len(odd) < len(rtts):    # the rows of one echo answered: (True, sent, 1) for some of these sent counts
        keys.update((True, sent, 1) for sent in set(sents))
    for alive, sent, received in keys:
        loss = 100.0 if sent <= 0 else round(100.0 * (sent - received) / sent, 2)
        counts[(alive, sent, received)] = ("up" if alive else "DOWN", str(sent), str(received), f"{loss:g}")
    tops: list[float] = [top] if top is not None else []

    def shown(column: int) -> list[float]:
        return [value for o in odd.values() if (value := o[column]) is not None] + tops  # type: ignore[return-value]

    w_address = max(len("ADDRESS"), max(map(len, names), default=0))
    w_sent = max([len("SENT"), *(len(c[1]) for c in counts.values())])
    w_received = max([len("RECV"), *(len(c[2]) for c in counts.values())])
    w_loss = max([len("LOSS%"), *(len(c[3]) for c in counts.values())])
    w_min, w_avg, w_max = _width("MIN", shown(3)), _width("AVG", shown(4)), _width("MAX", shown(5))
    w_jitter = _width("JITTER", [o[6] for o in odd.values() if o[6] is not None] + [0.0] * bool(tops))
    middles = {key: f"  {'icmp':<5}  {texts[0]:<6}  {texts[1]:>{w_sent}}  {texts[2]:>{w_received}}  "
                    f"{texts[3]:>{w_loss}}  " for key, texts in counts.items()}
    blank = f"{'-':>{w_min}}  {'-':>{w_avg}}  {'-':>{w_max}}  {'-':>{w_jitter}}"
    zero_jitter = "0.00".rjust(w_jitter)
    same_width = w_min == w_avg == w_max
    header = (f"{'ADDRESS':<{w_address}}  {'PROBE':<5}  {'RESULT':<6}  {'SENT':>{w_sent}}  "
              f"{'RECV':>{w_received}}  {'LOSS%':>{w_loss}}  {'MIN':>{w_min}}  {'AVG':>{w_avg}}  "
              f"{'MAX':>{w_max}}  {'JITTER':>{w_jitter}}  NOTE")
    # regular rows (one echo, answered, one reply's worth of sent, no error): one f-string each
    irregular = _irregular(round_, odd, round_.special())
    up = middles.get((True, 1, 1), "")
    if not same_width:
        irregular = set(range(len(rtts)))
    lines = [header, *[(f"{name.ljust(w_address)}{up}{(cell := f'{round(echoes[0], 3):.2f}'.rjust(w_min))}  "  # type: ignore[arg-type]
                        f"{cell}  {cell}  {zero_jitter}") if i not in irregular else ""
                       for i, (name, echoes) in enumerate(zip(names, rtts, strict=True))]]
    for i in irregular:
        outcome = odd.get(i) or _outcome(round_, i)
        alive, sent, received, low, avg, high, jitter, _, error = outcome
        head = names[i].ljust(w_address) + middles[(alive, sent, received)]
        if low is None:
            tail = blank
        else:
            tail = f"{low:{w_min}.2f}  {avg:{w_avg}.2f}  {high:{w_max}.2f}  {jitter:{w_jitter}.2f}"
        lines[i + 1] = f"{head}{tail}  {error}".rstrip() if error else head + tail
    return "\n".join(lines)


def _irregular(round_: IcmpRound, odd: dict[int, Outcome], special: set[int]) -> set[int]:
    """The targets whose line the renderers build piece by piece: not one echo answered (`odd`),
    an error noted, more detail than the socket mode, a host name beside its address, or a sent
    count other than 1."""
    found = set(odd) | special
    n = len(round_.rtts)
    if round_.errors.count(None) != n:
        found.update(i for i, error in enumerate(round_.errors) if error is not None)
    if round_.sent.count(1) != n:
        found.update(i for i, sent in enumerate(round_.sent) if sent != 1)
    if round_.hosts is not round_.addresses:
        found.update(i for i, (host, address) in enumerate(zip(round_.hosts, round_.addresses, strict=True))
                     if host != address)
    return found


def render_round_json(round_: IcmpRound, at: datetime) -> str:
    """render_json(round_.results(at)), built from the round's columns: the same text, byte for
    byte (a test holds it)."""
    try:    # json's own C function, without importing the json package (~1 ms) for it
        from _json import encode_basestring_ascii as quote
    except ImportError:  # an interpreter without _json
        from json.encoder import encode_basestring_ascii as quote

    hosts, addresses, rtts = round_.hosts, round_.addresses, round_.rtts
    if not rtts:
        return "[]"
    plain_detail = f'{{"mode": "{"raw" if round_.raw else "datagram"}"}}'     # json.dumps of the plain detail
    special = round_.special()
    odd, single = _split(round_)
    same = hosts is addresses
    stamp = quote(at.isoformat(timespec="milliseconds"))
    # what lies between the address and the times, by (alive, sent, received), and the loss
    middles: dict[tuple[bool, int, int], tuple[str, str]] = {}

    def middle(alive: bool, sent: int, received: int) -> tuple[str, str]:
        loss = 100.0 if sent <= 0 else round(100.0 * (sent - received) / sent, 2)
        found = middles[(alive, sent, received)] = (
            f', "probe": "icmp", "at": {stamp}, "alive": {"true" if alive else "false"}, "sent": {sent}, '
            f'"received": {received}, ', _number(loss))
        return found

    irregular = _irregular(round_, odd, special)
    if single and not 0.0 <= min(single) <= max(single) < 1e15:   # beyond what the shortcut below holds for
        irregular = set(range(len(rtts)))
    between = middles.get((True, 1, 1)) or middle(True, 1, 1)
    line_tail = f'"jitter_ms": 0.0, "stdev_ms": 0.0, "error": null, "detail": {plain_detail}, "loss_percent": ' \
                f'{between[1]}}}'
    # repr(round(t, 3)) of a round-trip time t (0 <= t < 1e15 ms) is f"{t:.3f}" without trailing
    # zeros but one: round() and the format take the same correctly rounded 3-decimal string, and no
    # shorter string names that float (a test compares both on 200,000 values); twice as fast.
    lines = [f'{{"host": {(address := quote(a))}, "address": {address}{between[0]}'
             f'"rtt_min_ms": {(text := t + "0" if (t := f"{echoes[0]:.3f}".rstrip("0"))[-1] == "." else t)}, '
             f'"rtt_avg_ms": {text}, "rtt_max_ms": {text}, {line_tail}' if i not in irregular else ""
             for i, (a, echoes) in enumerate(zip(addresses, rtts, strict=True))]
    for i in irregular:
        alive, sent, received, low, avg, high, jitter, stdev, error = odd.get(i) or _outcome(round_, i)
        address = quote(addresses[i])
        middle_text, loss_text = middles.get((alive, sent, received)) or middle(alive, sent, received)
        detail = _json_text(round_.detail(i)) if i in special else plain_detail
        lines[i] = _json_line(address if same else quote(hosts[i]), address, middle_text,
                              (low, avg, high, jitter, stdev), "null" if error is None else quote(error), detail,
                              loss_text)
    lines[0] = "[\n" + lines[0]
    lines[-1] += "\n]"
    return ",\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_table(results: Sequence[ProbeResult]) -> str:
    """A fixed-width table, one row per result."""
    rows = [("ADDRESS", "PROBE", "RESULT", "SENT", "RECV", "LOSS%", "MIN", "AVG", "MAX", "JITTER")]
    notes = ["NOTE"]
    append, add_note = rows.append, notes.append
    for r in results:
        note = r.error or ""
        detail = r.detail
        if not note and "http_status" in detail:
            note = f"HTTP {detail['http_status']}"
        elif not note and detail.get("dns_answers"):
            note = " ".join(str(a) for a in detail["dns_answers"])
        add_note(note)
        sent, received, low, jitter = r.sent, r.received, r.rtt_min_ms, r.jitter_ms
        loss = 100.0 if sent <= 0 else round(100.0 * (sent - received) / sent, 2)   # r.loss_percent
        append((r.address if r.host == r.address else f"{r.host} ({r.address})", r.probe,
                "up" if r.alive else "DOWN", str(sent), str(received), f"{loss:g}",
                "-" if low is None else f"{low:.2f}", _ms(r.rtt_avg_ms), _ms(r.rtt_max_ms),
                "-" if jitter is None else f"{jitter:.2f}"))
    form = "  ".join(f"{{:{'<' if i < 3 else '>'}{max(map(len, column))}}}"
                     for i, column in enumerate(zip(*rows, strict=True))).format
    return "\n".join([(form(*row) + "  " + note).rstrip() if note else form(*row).rstrip()
                      for row, note in zip(rows, notes, strict=True)])


def render_json(results: Sequence[ProbeResult]) -> str:
    """A JSON list of ProbeResult.to_dict(), one result per line (grep- and jq-friendly).

    Each line is written field by field (strings escaped by json's own C function, numbers as
    json.dumps writes them, a round's shared timestamp and detail encoded once): 3x faster than
    json.dumps of each to_dict(), which a test holds it equal to."""
    import json
    from json.encoder import encode_basestring_ascii as quote

    if not results:
        return "[]"
    encode = json.JSONEncoder(separators=(", ", ": ")).encode
    stamps: dict[Any, str] = {}
    last_detail: dict[str, Any] | None = None
    detail_text = ""
    lines: list[str] = []
    append = lines.append
    for r in results:
        at = stamps.get(r.at)
        if at is None:
            at = stamps[r.at] = quote(r.at.isoformat(timespec="milliseconds"))
        if r.detail != last_detail:
            last_detail, detail_text = r.detail, encode(r.detail)
        sent, received, error = r.sent, r.received, r.error
        loss = 100.0 if sent <= 0 else round(100.0 * (sent - received) / sent, 2)
        append(_json_line(quote(r.host), quote(r.address),
                          f', "probe": {quote(r.probe)}, "at": {at}, "alive": {"true" if r.alive else "false"}, '
                          f'"sent": {sent}, "received": {received}, ',
                          (r.rtt_min_ms, r.rtt_avg_ms, r.rtt_max_ms, r.jitter_ms, r.stdev_ms),
                          "null" if error is None else quote(error), detail_text, _number(loss)))
    lines[0] = "[\n" + lines[0]
    lines[-1] += "\n]"
    return ",\n".join(lines)


def _json_line(host: str, address: str, between: str, times: tuple[float | None, ...], error: str, detail: str,
               loss: str) -> str:
    """One result as render_json writes it; `host`, `address`, `error`, `detail` and `loss` already
    JSON text, `between` the probe, at, alive, sent and received members, `times` the five
    statistics (min, avg, max, jitter, stdev)."""
    low, avg, high, jitter, stdev = times
    return (f'{{"host": {host}, "address": {address}{between}'
            f'"rtt_min_ms": {_number(low)}, "rtt_avg_ms": {_number(avg)}, "rtt_max_ms": {_number(high)}, '
            f'"jitter_ms": {_number(jitter)}, "stdev_ms": {_number(stdev)}, "error": {error}, "detail": {detail}, '
            f'"loss_percent": {loss}}}')


def _json_text(value: object) -> str:
    import json

    return json.dumps(value, separators=(", ", ": "))


def _number(value: float | None) -> str:
    """A number as json.dumps writes it (None as null)."""
    if value is None:
        return "null"
    if type(value) is float and value - value == 0.0:   # finite: float repr, as json
        return repr(value)
    import json

    return json.dumps(value)


def write_out(text: str, stream: TextIO | None = None) -> None:
    """`text` and a newline in ONE write to the underlying file (even when stdout is unbuffered,
    python -u / PYTHONUNBUFFERED: print() of a 10,000-row table is then 20,000 small writes)."""
    stream = stream or sys.stdout
    binary = getattr(stream, "buffer", None)
    text += "\n"
    if binary is None:
        stream.write(text)
        stream.flush()
        return
    stream.flush()
    binary.write(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    binary.flush()


def _plain_icmp(wanted: Plan) -> bool:
    """Plain addresses pinged by one engine round, rendered from its columns."""
    return not wanted.configured and wanted.kind["probe"] == "icmp"


def wants_logging(args: argparse.Namespace) -> bool:
    """Whether cli.main sets up logging: not for plain addresses pinged at the default level,
    where nothing logs above debug (logging and its set-up are ~5 ms of the command); an error
    still ends as one line on stderr."""
    configured = bool(args.from_file) and args.from_file.lower().endswith((".yaml", ".yml"))
    return args.log_level == "debug" or configured or (args.probe or "icmp") != "icmp"


def run(args: argparse.Namespace) -> int:
    wanted = plan(args)
    if _plain_icmp(wanted):
        round_, began = ping_round(wanted)
        if args.json:
            from datetime import datetime, timezone

            write_out(render_round_json(round_, datetime.fromtimestamp(began, timezone.utc)))
        else:
            write_out(render_round_table(round_))
        return 0 if round_all_alive(round_) else 1
    else:
        from netwatchd.clock import SystemClock
        from netwatchd.probes import probe_hosts

        results = probe_hosts(hosts_of(wanted), clock=SystemClock())
    write_out(render_json(results) if args.json else render_table(results))
    return 0 if all(r.alive for r in results) else 1
