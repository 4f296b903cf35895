"""Netwatch entries -> hosts.yaml `hosts:` items (text for stdout), saying what is not carried over.

Each entry becomes one block-style list item; a `#` comment above it names every setting netwatchd
cannot take over (scripts, src-address, time thresholds of tcp/http, ...). Entries that cannot
become a site (a type netwatchd has no probe for, a host that is a template placeholder or a script
expression, an entry the export could not define) become `# NOT IMPORTED (why)` lines, so nothing
silently disappears. Script text is shown shortened and redacted (Telegram tokens pasted into
down-scripts never reach the output).

Comments in netwatch-notify's form (`notify, name=..., parent=..., no-down-notification`) give the
site's name, its parent (only when that parent is imported too or already configured) and
`alert_on_down: false`.

Every value written is checked with the config schema's own kinds, and the rules that tie keys
together (timeout shorter than interval, an ICMP probe fitting in its interval, no parent loop) are
applied, so the output passes `netwatchd check` (tests/test_import_fixtures.py proves it on every
fixture, and a property test on generated exports).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from netwatchd.config.kinds import Invalid, check_address, format_duration, parse_duration
from netwatchd.config.model import HostSpec
from netwatchd.config.reader import Value
from netwatchd.config.schema import HOST, THRESHOLDS
from netwatchd.logs import redact
from netwatchd.router.netwatch import NetwatchEntry, UnreadableEntry
from netwatchd.router.netwatch_notify import NotifySettings, parse_notify
from netwatchd.router.values import ros_number

PROBE_FOR_TYPE = {"simple": "icmp", "icmp": "icmp", "tcp-conn": "tcp", "http-get": "http", "https-get": "https",
                  "dns": "dns"}
THRESHOLD_KEYS = {"thr-avg": "rtt_avg_ms", "thr-max": "rtt_max_ms", "thr-jitter": "jitter_ms", "thr-stdev": "stdev_ms"}
# values RouterOS 7 writes that are its defaults: not worth a note (help.mikrotik.com Netwatch)
V7_DEFAULTS = {"start-delay": "3s", "startup-delay": "5m", "src-address": "", "packet-size": "54",
               "thr-loss-count": "4294967295", "http-codes": "", "record-type": "A",
               "accept-icmp-time-exceeded": "no"}
HOOKS_HINT = ("netwatchd sends its own alerts; for anything else a script did, add a `hooks:` entry to hosts.yaml "
              "(a command or a webhook run on down/up: hooks: [{on: [down, up], command: [/path/to/script]}])")
SIMPLE_NOTE = ("entries of type simple (as every RouterOS 6 entry is): the router sends 1 echo per interval and "
               "flips on one failure; netwatchd sends `count` echoes and needs down_after failed probes in a row")
_SCRIPTS = ("up-script", "down-script")
_HANDLED = {"packet-count", "packet-interval", "packet-size", "thr-loss-percent", "port", "http-codes",
            "http-code-min", "http-code-max", "dns-server", "record-type", "test-script", *THRESHOLD_KEYS,
            *_SCRIPTS}
_ORDER = ("name", "address", "probe", "parent", "comment", "interval", "timeout", "count", "packet_interval",
          "packet_size", "down_loss_percent", "port", "http_code_min", "http_code_max", "dns_name", "record_type",
          "alert_on_down", "disabled")
_DURATIONS = {"interval", "timeout", "packet_interval"}
_CLAMPED = ("interval", "timeout", "count", "packet_interval")
# netwatchd's own defaults (HostSpec), for the timing rules when the item leaves a key out
_HOST_DEFAULTS = HostSpec(name="-", address="-")
_PLACEHOLDER_LABEL = r"(?:\d{1,3}|[xXyYzZ]{1,3}|[nN]|[*?#])"
_PLACEHOLDER_IPV4 = re.compile(rf"{_PLACEHOLDER_LABEL}(?:\.{_PLACEHOLDER_LABEL}){{3}}")
_PLACEHOLDER_WORDS = re.compile(r"(?i)(?:^|[-_.])(?:your|ip[-_]?addr(?:ess)?|host[-_]?name|ip[-_]?of|"
                                r"alamat|server[-_]?ip|gateway[-_]?ip|ip[-_]?(?:server|gateway|host|target))(?:$|[-_.])")
_DOCUMENTATION_NETS = {ipaddress.ip_network(n): rfc for n, rfc in (
    ("192.0.2.0/24", "RFC 5737"), ("198.51.100.0/24", "RFC 5737"), ("203.0.113.0/24", "RFC 5737"),
    ("2001:db8::/32", "RFC 3849"))}
_BREAKS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass
class Conversion:
    """The hosts.yaml text and what became of the entries."""

    text: str
    total: int
    converted: int
    skipped: int          # NOT IMPORTED
    already: int          # ALREADY WATCHED


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text


def _one_line(text: str, limit: int = 70) -> str:
    """`text` for a `#` comment line: redacted, one line, shortened."""
    flat = redact(text).replace("\r", "").replace("\n", "\\n")
    flat = _BREAKS.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100 else " ", flat)
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _clean_name(text: str) -> str:
    """`text` as a site name: no control characters, '/' or ',', single blanks, at most 60 characters."""
    name = re.sub(r"[\x00-\x1f\x7f-\x9f/\u2028\u2029]+", "-", text.replace(",", " "))
    name = re.sub(r"\s+", " ", name).strip(" -")
    return name[:60].rstrip(" -")


def _site_name(entry: NetwatchEntry, notify: NotifySettings | None, taken: set[str]) -> str:
    if notify is not None:
        base = _clean_name(notify.name or entry.name or notify.note or entry.host)
    else:
        base = _clean_name(entry.name or entry.comment or entry.host)
    base = base or _clean_name(entry.host) or "netwatch"
    name, number = base, 2
    while name.lower() in taken:
        name, number = f"{base}-{number}", number + 1
    taken.add(name.lower())
    return name


def _kind_problem(kind: Any, value: Any) -> str | None:
    """Why the config schema's kind would reject `value` ('what (allowed)'), or None."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and not value.is_integer():
        text = repr(value)
    else:
        text = str(int(value)) if isinstance(value, float) else str(value)
    try:
        kind.parse(Value("scalar", 0, text=text, typed=value))
    except Invalid as exc:
        return f"{exc.what}; {exc.allowed}"
    return None


# ----------------------------------------------------------------------------- the target


def _placeholder(host: str) -> str | None:
    """Why `host` looks like a template placeholder rather than a real target, or None."""
    if _PLACEHOLDER_IPV4.fullmatch(host) and not re.fullmatch(r"[\d.]+", host):
        return "an address with letters in it"
    if re.search(r"[<>{}]", host):
        return "a word in brackets"
    if ":" not in host and not re.search(r"[a-z]", host) and len(re.findall(r"[A-Z]", host)) >= 2:
        return "a word in capitals"
    if _PLACEHOLDER_WORDS.search(host):
        return "a word that stands for an address"
    return None


def _documentation(host: str) -> str | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.lower().rstrip(".")
        if re.fullmatch(r"(?:.+\.)?example\.(?:com|net|org)|.+\.(?:example|invalid)", name):
            return "a documentation name (RFC 2606)"
        return None
    for network, rfc in _DOCUMENTATION_NETS.items():
        if address.version == network.version and address in network:
            return f"a documentation address ({rfc})"
    return None


def check_host(host: str) -> tuple[str | None, str, list[str]]:
    """(why `host` cannot be probed or None, the address to probe, notes)."""
    host = host.strip()
    notes: list[str] = []
    if host.startswith("["):
        return (f"host={_one_line(host, 50)} is a script expression, not an address "
                "(only [ :resolve \"name\" ] is understood)"), host, notes
    if "$" in host:
        return f"host={_one_line(host, 50)} is a script variable, not an address", host, notes
    if "@" in host:
        host, _, vrf = host.partition("@")
        notes.append(f"@{_one_line(vrf, 30)} (a VRF on the router) not carried over: netwatchd probes "
                     "through its own routing table")
    if "%" in host:
        address, _, interface = host.partition("%")
        return (f"host={_one_line(host, 50)} is a link-local address on the router's interface "
                f"{_one_line(interface, 20)}: netwatchd cannot reach it from its own network"), host, notes
    placeholder = _placeholder(host)
    if placeholder:
        return (f"host={_one_line(host, 50)} looks like a template placeholder ({placeholder}), "
                "not a real address: put the site's address there"), host, notes
    try:
        check_address(host)
    except Invalid as exc:
        return f"host={_one_line(host, 50)} is neither an address nor a valid host name ({exc.what})", host, notes
    documentation = _documentation(host)
    if documentation:
        return f"host={host} is {documentation}, not a real host", host, notes
    if not re.fullmatch(r"[\d.]+|.*:.*", host):
        notes.append(f"address {host} is a name: netwatchd looks it up before every probe")
    return None, host, notes


def skip_reason(entry: NetwatchEntry | UnreadableEntry) -> str | None:
    """Why `entry` cannot become a hosts.yaml item, or None when it can."""
    return _target(entry)[0]


def _target(entry: NetwatchEntry | UnreadableEntry) -> tuple[str | None, str, list[str]]:
    """(why not importable or None, the address netwatchd probes, notes about it)."""
    if isinstance(entry, UnreadableEntry):
        return f"line {entry.line}: {entry.reason}", entry.host, []
    if entry.type not in PROBE_FOR_TYPE:
        return f"type {entry.type} has no netwatchd probe", entry.host, []
    if entry.type == "dns":
        server = entry.settings.get("dns-server", "")
        if not server:
            return "type dns without dns-server (netwatchd asks a given server)", entry.host, []
        if not entry.host.strip() or entry.host.strip().startswith(("[", "$")) or len(entry.host.strip()) > 253:
            return f"type dns asking for host={_one_line(entry.host, 50)}, not a name", entry.host, []
        why, address, notes = check_host(server)
        return (why.replace("host=", "dns-server=", 1) if why else None), address, notes
    port = entry.settings.get("port", "")
    if entry.type == "tcp-conn" and not (port.isdigit() and 1 <= int(port) <= 65535):
        return (f"type tcp-conn with port={_one_line(port, 10)} (netwatchd needs a port 1-65535)" if port else
                "type tcp-conn without port= (netwatchd needs the port; the router's default is not known)"), \
            entry.host, []
    notify = parse_notify(entry.comment)
    if notify is not None and notify.resolve:
        why, address, notes = check_host(notify.resolve)
        if why is None:
            return None, address, [f"address is resolve={address} (netwatch-notify moves host= to that name's "
                                   "address; netwatchd looks the name up before every probe)"]
    return check_host(entry.host)


# ----------------------------------------------------------------------------- one item


class _Item:
    """One hosts.yaml item being built: keys (durations in seconds), thresholds, notes for its comment."""

    def __init__(self, entry: NetwatchEntry, notify: NotifySettings | None) -> None:
        self.entry = entry
        self.notify = notify
        self.keys: dict[str, Any] = {}
        self.thresholds: dict[str, float] = {}
        self.notes: list[str] = []

    def duration(self, key: str, value: str, setting: str) -> None:
        try:
            self.keys[key] = parse_duration(value)
        except ValueError:
            self.notes.append(f"{setting}={_one_line(value, 30)} not understood")

    def shown(self, key: str) -> str:
        value = self.keys[key]
        return format_duration(value) if key in _DURATIONS else _scalar(value)


def _convert(entry: NetwatchEntry, address: str, notes: list[str], notify: NotifySettings | None) -> _Item:
    item, settings = _Item(entry, notify), entry.settings
    item.notes.extend(notes)
    probe = PROBE_FOR_TYPE[entry.type]
    item.keys["address"] = address
    item.keys["probe"] = probe
    if notify is not None:
        item.notes.append(f"netwatch-notify comment: {_one_line(entry.comment, 90)}")
        if notify.note:
            item.keys["comment"] = notify.note
    elif entry.comment:
        item.keys["comment"] = entry.comment
    item.keys["interval"] = entry.interval
    if entry.timeout is not None:
        item.keys["timeout"] = entry.timeout
    if probe == "icmp":
        _icmp(item, settings)
    if probe in ("tcp", "http", "https") and settings.get("port", "").isdigit():
        item.keys["port"] = int(settings["port"])
    if probe in ("http", "https"):
        _http_codes(item, settings)
    if probe == "dns":
        item.keys["dns_name"] = entry.host.strip()
        item.keys["record_type"] = settings.get("record-type") or "A"
    if notify is not None:
        _notify(item, notify)
    if entry.disabled:
        item.keys["disabled"] = True
    scripts = [key for key in _SCRIPTS if settings.get(key, "").strip()]
    if scripts:
        item.notes.append(f"{', '.join(scripts)} dropped: {HOOKS_HINT}")
        item.notes.extend(f"  {key}: {_one_line(settings[key])}" for key in scripts)
    if settings.get("test-script", "").strip():
        item.notes.append(f"test-script dropped (it ran after every probe; netwatchd has no such thing): "
                          f"{_one_line(settings['test-script'], 50)}")
    for key, value in settings.items():
        if key in _HANDLED or not value or V7_DEFAULTS.get(key) == value:
            continue
        item.notes.append(f"{key}={_one_line(value, 40)} not carried over")
    return item


def _icmp(item: _Item, settings: dict[str, str]) -> None:
    if settings.get("packet-count", "").isdigit():
        item.keys["count"] = int(settings["packet-count"])
    if settings.get("packet-interval"):
        item.duration("packet_interval", settings["packet-interval"], "packet-interval")
    size = settings.get("packet-size", "")
    if size.isdigit() and size != V7_DEFAULTS["packet-size"]:
        # RouterOS counts the whole IP packet; netwatchd's packet_size is the ICMP payload
        headers = 48 if ":" in str(item.keys["address"]) else 28
        item.keys["packet_size"] = max(0, int(size) - headers)
        item.notes.append(f"packet-size={size} is the whole IP packet: packet_size {item.keys['packet_size']} "
                          f"is its ICMP payload")
    loss = ros_number(settings.get("thr-loss-percent"))
    if loss is not None and 0 < loss <= 100:
        item.keys["down_loss_percent"] = loss
    elif settings.get("thr-loss-percent"):
        item.notes.append(f"thr-loss-percent={_one_line(settings['thr-loss-percent'], 20)} not carried over "
                          "(down_loss_percent is above 0% and at most 100%)")
    for setting, key in THRESHOLD_KEYS.items():
        if settings.get(setting):
            try:
                item.thresholds[key] = round(parse_duration(settings[setting]) * 1000, 3)
            except ValueError:
                item.notes.append(f"{setting}={_one_line(settings[setting], 30)} not understood")
    if item.thresholds:
        item.notes.append("past thr-avg/max/jitter/stdev the router says DOWN; netwatchd says DEGRADED")


def _http_codes(item: _Item, settings: dict[str, str]) -> None:
    codes = settings.get("http-codes", "")
    low, high = settings.get("http-code-min", ""), settings.get("http-code-max", "")
    match = re.fullmatch(r"\s*(\d{3})\s*(?:-\s*(\d{3}))?\s*", codes)
    if match:
        low, high = match.group(1), match.group(2) or match.group(1)
    elif codes:
        item.notes.append(f"http-codes={_one_line(codes, 40)} not carried over (netwatchd takes one range)")
    if low.isdigit():
        item.keys["http_code_min"] = int(low)
    if high.isdigit():
        item.keys["http_code_max"] = int(high)


def _notify(item: _Item, notify: NotifySettings) -> None:
    if notify.no_down_notification:
        item.keys["alert_on_down"] = False
        item.notes.append("no-down-notification: alert_on_down: false (a DOWN is not announced, the UP after it is)")
    if notify.count:
        item.notes.append(f"netwatch-notify count={_one_line(notify.count, 10)} (checks of its scheduler before "
                          "a DOWN notification) not carried over: netwatchd counts down_after failed probes")
    for key, command in notify.hooks.items():
        item.notes.append(f"netwatch-notify {key} dropped: {HOOKS_HINT}: {_one_line(command, 50)}")
    if notify.other:
        shown = ", ".join(f"{k}={_one_line(v, 30)}" for k, v in notify.other.items())
        item.notes.append(f"netwatch-notify {shown} not carried over")
    if notify.foreign:
        item.notes.append(f"comment items for other scripts ({_one_line(', '.join(notify.foreign), 60)}) "
                          "not carried over")


def _largest(key: str) -> float:
    """The largest value the config schema allows for host key `key` (inf when unbounded)."""
    schema_key = HOST.key(key)
    largest = getattr(schema_key.kind, "hi", None) if schema_key is not None else None
    return float(largest) if largest is not None else float("inf")


def _check_keys(item: _Item) -> None:
    """Lower values above netwatchd's range to its largest, and drop every other value the config
    schema would reject, saying so."""
    comment = item.keys.get("comment")
    if isinstance(comment, str) and not comment.strip():
        del item.keys["comment"]
    elif isinstance(comment, str) and len(comment.strip()) > 200:
        item.keys["comment"] = comment.strip()[:199] + "…"
        item.notes.append("comment shortened to 200 characters")
    for key in _CLAMPED:
        largest = _largest(key)
        if key in item.keys and item.keys[key] > largest:
            show = format_duration if key in _DURATIONS else (lambda number: f"{number:g}")
            item.notes.append(f"{key} {show(item.keys[key])} lowered to {show(largest)}, the largest netwatchd takes")
            item.keys[key] = largest if key in _DURATIONS else int(largest)
    for key in list(item.keys):
        schema_key = HOST.key(key)
        if schema_key is None or key in ("name", "address"):
            continue
        value = item.keys[key]
        problem = _kind_problem(schema_key.kind, format_duration(value) if key in _DURATIONS else value)
        if problem:
            del item.keys[key]
            shown = format_duration(value) if key in _DURATIONS else value
            item.notes.append(f"{key}: {_one_line(str(shown), 40)} not carried over ({problem})")
    for key in list(item.thresholds):
        threshold_key = THRESHOLDS.key(key)
        problem = _kind_problem(threshold_key.kind, item.thresholds[key]) if threshold_key else "unknown"
        if problem:
            item.notes.append(f"thresholds.{key}: {item.thresholds.pop(key):g} not carried over ({problem})")
    if item.keys.get("http_code_min", 0) > item.keys.get("http_code_max", 999):
        item.notes.append(f"http codes {item.keys.pop('http_code_min')}-{item.keys.pop('http_code_max')} "
                          "not carried over (lowest above highest)")


def _fit_timing(item: _Item) -> None:
    """Make timeout shorter than interval, and an ICMP probe's echoes plus timeout fit in it (as
    `netwatchd check` demands), changing the fewest keys and saying what changed."""
    keys = item.keys
    interval = keys.get("interval", _HOST_DEFAULTS.interval)
    timeout = keys.get("timeout", _HOST_DEFAULTS.timeout)
    if timeout >= interval:
        keys["timeout"] = round(interval / 2, 3)
        item.notes.append(f"timeout {format_duration(timeout)} lowered to {format_duration(keys['timeout'])} "
                          f"(netwatchd needs a timeout shorter than the interval, {format_duration(interval)})")
        timeout = keys["timeout"]
    if keys["probe"] != "icmp":
        return
    count = keys.get("count", _HOST_DEFAULTS.count)
    spacing = keys.get("packet_interval", _HOST_DEFAULTS.packet_interval)
    if (count - 1) * spacing + timeout < interval:
        return
    room = interval - (count - 1) * spacing
    if room >= 0.02:
        keys["timeout"] = round(room / 2, 3)
        item.notes.append(f"timeout {format_duration(timeout)} lowered to {format_duration(keys['timeout'])}: "
                          f"{count} echoes {format_duration(spacing)} apart plus the timeout must fit in the interval")
        return
    keys["count"], keys["timeout"] = 1, round(min(timeout, interval / 2), 3)
    keys.pop("packet_interval", None)
    item.notes.append(f"count {count} lowered to 1 (and timeout to {format_duration(keys['timeout'])}): "
                      f"{count} echoes {format_duration(spacing)} apart do not fit in the interval")


# ----------------------------------------------------------------------------- the whole text


def _resolve_parents(items: list[_Item], known: dict[str, str]) -> None:
    """Set `parent` from netwatch-notify's parent= when it names an imported or configured site;
    never make a loop."""
    for item in items:
        wanted = item.notify.parent if item.notify else ""
        if not wanted:
            continue
        target = known.get(wanted.lower())
        if target is None:
            item.notes.append(f"parent={_one_line(wanted, 40)} not carried over: no entry here and no host or "
                              "router in the config has that name")
        elif target.lower() == item.keys["name"].lower():
            item.notes.append(f"parent={_one_line(wanted, 40)} not carried over: it names the entry itself")
        else:
            item.keys["parent"] = target
    parent_of = {item.keys["name"].lower(): item for item in items}
    for item in items:
        seen, node = {item.keys["name"].lower()}, item
        while "parent" in node.keys and node.keys["parent"].lower() in parent_of:
            node = parent_of[node.keys["parent"].lower()]
            if node.keys["name"].lower() in seen:
                item.notes.append(f"parent={item.keys.pop('parent')} not carried over: it would close a parent loop")
                break
            seen.add(node.keys["name"].lower())


def _emit(item: _Item) -> list[str]:
    """The item's lines, indented as the shipped hosts.yaml indents its `hosts:` list."""
    lines = [""] + [f"  # {note}" for note in item.notes]
    first = True
    for key in _ORDER:
        if key in item.keys:
            lines.append(f"{'  - ' if first else '    '}{key}: {item.shown(key)}")
            first = False
    if item.thresholds:
        pairs = ", ".join(f"{key}: {_scalar(value)}" for key, value in item.thresholds.items())
        lines.append(f"    thresholds: {{{pairs}}}")
    return lines


def convert(entries: Sequence[NetwatchEntry | UnreadableEntry], existing: Sequence[HostSpec] = (), *,
            routers: Sequence[str] = (), header: Sequence[str] = ()) -> Conversion:
    """hosts.yaml items for `entries`, with what became of each.

    `existing` are the sites already configured (and `routers` the configured routers' names): an
    entry watching one of their addresses becomes a comment instead of a duplicate, new names never
    collide with theirs, and netwatch-notify parents may name them. `header` lines are added to the
    leading comment.
    """
    lines = [f"# {len(entries)} Netwatch entr{'y' if len(entries) == 1 else 'ies'} read by "
             "netwatchd import-netwatch: paste under hosts: and run netwatchd check"]
    lines.extend(f"# {_one_line(line, 200)}" for line in header)
    taken: set[str] = {host.name.lower() for host in existing}
    watched = {host.address.strip().lower(): host.name for host in existing}
    known: dict[str, str] = {name.lower(): name for name in [h.name for h in existing] + list(routers)}
    items: list[_Item] = []
    outcome: list[tuple[str, Any]] = []        # ("skip" | "already", text) or ("item", _Item)
    names_seen: dict[str, int] = {}
    for entry in entries:
        why, address, notes = _target(entry)
        if why is not None:
            outcome.append(("skip", f"  # NOT IMPORTED ({_one_line(why, 160)}): host={_one_line(entry.host, 60)} "
                                    f"name={_one_line(entry.label, 60)}"))
            continue
        assert isinstance(entry, NetwatchEntry)
        notify = parse_notify(entry.comment)
        alias = (notify.name if notify else "") or entry.name
        if address.lower() in watched and entry.type in ("simple", "icmp"):
            site = watched[address.lower()]
            if alias:
                known.setdefault(alias.lower(), site)
            outcome.append(("already", f"  # ALREADY WATCHED as {_one_line(site, 60)}: "
                                       f"host={_one_line(entry.host, 60)} name={_one_line(entry.label, 60)}"))
            continue
        item = _convert(entry, address, notes, notify)
        item.keys["name"] = _site_name(entry, notify, taken)
        twin = next((other for other in items if str(other.keys["address"]).lower() == address.lower()
                     and other.keys["probe"] == item.keys["probe"]), None)
        if twin is not None:
            item.notes.append(f"watches the same address as {twin.keys['name']} above")
        for key in {alias.lower(), item.keys["name"].lower()} - {""}:
            known.setdefault(key, item.keys["name"])
        if notify is not None and notify.name:
            names_seen[notify.name.lower()] = names_seen.get(notify.name.lower(), 0) + 1
            if names_seen[notify.name.lower()] > 1:
                item.notes.append(f"netwatch-notify name={_one_line(notify.name, 40)} is shared with an entry above "
                                  "(one of several hosts); netwatchd watches each on its own")
        _check_keys(item)
        _fit_timing(item)
        items.append(item)
        outcome.append(("item", item))
    _resolve_parents(items, known)
    if any(item.entry.type == "simple" for item in items):
        lines.append(f"# {SIMPLE_NOTE}")
    for kind, value in outcome:
        lines.extend(_emit(value) if kind == "item" else [value])
    # ${ starts an environment reference in hosts.yaml, even in a comment: $${ is a literal ${
    text = "\n".join(line.replace("${", "$${") for line in lines) + "\n"
    return Conversion(text=text, total=len(entries), converted=len(items),
                      skipped=sum(1 for kind, _ in outcome if kind == "skip"),
                      already=sum(1 for kind, _ in outcome if kind == "already"))


def to_hosts_yaml(entries: Sequence[NetwatchEntry | UnreadableEntry], existing: Sequence[HostSpec] = ()) -> str:
    """The text of hosts.yaml items for `entries` (see convert)."""
    return convert(entries, existing).text
