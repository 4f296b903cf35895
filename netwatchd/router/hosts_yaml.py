"""Netwatch entries -> hosts.yaml `hosts:` items (text for stdout), saying what is not carried over.

Each entry becomes one block-style list item; a `#` comment above it names every setting netwatchd
cannot take over (scripts, src-address, time thresholds of tcp/http, ...). Types netwatchd has no
probe for become commented-out lines so nothing silently disappears. Script text is shown shortened
and redacted (Telegram tokens pasted into down-scripts never reach the output).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import yaml

from netwatchd.config.model import HostSpec
from netwatchd.logs import redact
from netwatchd.router.netwatch import NetwatchEntry
from netwatchd.router.values import ros_duration_seconds, ros_percent

PROBE_FOR_TYPE = {"simple": "icmp", "icmp": "icmp", "tcp-conn": "tcp", "http-get": "http", "https-get": "https",
                  "dns": "dns"}
THRESHOLD_KEYS = {"thr-avg": "rtt_avg_ms", "thr-max": "rtt_max_ms", "thr-jitter": "jitter_ms", "thr-stdev": "stdev_ms"}
V7_DEFAULTS = {"start-delay": "3s", "startup-delay": "5m", "src-address": "", "packet-size": "54",
               "thr-loss-count": "4294967295", "http-codes": "", "record-type": "A"}
_SCRIPTS = ("up-script", "down-script", "test-script")
_HANDLED = {"packet-count", "packet-interval", "packet-size", "thr-loss-percent", "port", "http-codes",
            "http-code-min", "http-code-max", "dns-server", "record-type", *THRESHOLD_KEYS, *_SCRIPTS}


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text


def format_duration(seconds: float) -> str:
    """10 -> '10s', 90 -> '1m30s', 0.05 -> '50ms', 3600 -> '1h'."""
    if seconds < 1 or seconds != int(seconds):
        return f"{round(seconds * 1000, 3):g}ms"
    remaining, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def _one_line(text: str, limit: int = 70) -> str:
    flat = redact(text).replace("\r", "").replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _site_name(entry: NetwatchEntry, taken: set[str]) -> str:
    base = entry.name or entry.comment or entry.host
    base = re.sub(r"[\x00-\x1f\x7f/,]+", "-", base).strip(" -")[:60] or entry.host
    name, number = base, 2
    while name.lower() in taken:
        name, number = f"{base}-{number}", number + 1
    taken.add(name.lower())
    return name


class _Item:
    """One hosts.yaml item being built: ordered keys plus the notes for its comment."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.thresholds: dict[str, float] = {}
        self.notes: list[str] = []

    def duration(self, key: str, value: str, setting: str) -> None:
        try:
            self.keys[key] = format_duration(ros_duration_seconds(value))
        except ValueError:
            self.notes.append(f"{setting}={value} not understood")


def _convert(entry: NetwatchEntry, name: str) -> _Item:
    item, settings = _Item(), entry.settings
    probe = PROBE_FOR_TYPE[entry.type]
    item.keys["name"] = name
    item.keys["address"] = entry.host
    item.keys["probe"] = probe
    if entry.comment:
        item.keys["comment"] = entry.comment
    item.keys["interval"] = format_duration(entry.interval)
    if entry.timeout is not None and entry.timeout < entry.interval:
        item.keys["timeout"] = format_duration(entry.timeout)
    elif entry.timeout is not None:
        item.notes.append(f"timeout={format_duration(entry.timeout)} not carried over "
                          "(netwatchd needs a timeout shorter than the interval)")
    if entry.type == "simple":
        item.notes.append("type simple: the router sends 1 echo per interval and flips on one failure; "
                          "netwatchd sends `count` echoes and needs down_after failures")
    if probe == "icmp":
        if settings.get("packet-count", "").isdigit():
            item.keys["count"] = int(settings["packet-count"])
        if settings.get("packet-interval"):
            item.duration("packet_interval", settings["packet-interval"], "packet-interval")
        if settings.get("packet-size", "").isdigit() and settings["packet-size"] != V7_DEFAULTS["packet-size"]:
            item.keys["packet_size"] = int(settings["packet-size"])
        loss = ros_percent(settings.get("thr-loss-percent"))
        if loss is not None and 0 < loss <= 100:
            item.keys["down_loss_percent"] = loss
        for setting, key in THRESHOLD_KEYS.items():
            if settings.get(setting):
                try:
                    item.thresholds[key] = round(ros_duration_seconds(settings[setting]) * 1000, 3)
                except ValueError:
                    item.notes.append(f"{setting}={settings[setting]} not understood")
        if item.thresholds:
            item.notes.append("past thr-avg/max/jitter/stdev the router says DOWN; netwatchd says DEGRADED")
    if probe in ("tcp", "http", "https") and settings.get("port", "").isdigit():
        item.keys["port"] = int(settings["port"])
    if probe in ("http", "https"):
        _http_codes(item, settings)
    if probe == "dns":
        item.keys["address"] = settings["dns-server"]
        item.keys["dns_name"] = entry.host
        item.keys["record_type"] = settings.get("record-type") or "A"
    if entry.disabled:
        item.keys["disabled"] = True
    for script in _SCRIPTS:
        if settings.get(script, "").strip():
            item.notes.append(f"{script} not carried over (netwatchd alerts by itself): "
                              f"{_one_line(settings[script])}")
    for key, value in settings.items():
        if key in _HANDLED or not value or V7_DEFAULTS.get(key) == value:
            continue
        item.notes.append(f"{key}={_one_line(value, 40)} not carried over")
    return item


def _http_codes(item: _Item, settings: dict[str, str]) -> None:
    codes = settings.get("http-codes", "")
    low, high = settings.get("http-code-min", ""), settings.get("http-code-max", "")
    match = re.fullmatch(r"\s*(\d{3})\s*(?:-\s*(\d{3}))?\s*", codes)
    if match:
        low, high = match.group(1), match.group(2) or match.group(1)
    elif codes:
        item.notes.append(f"http-codes={codes} not carried over (netwatchd takes one range)")
    if low.isdigit():
        item.keys["http_code_min"] = int(low)
    if high.isdigit():
        item.keys["http_code_max"] = int(high)


def skip_reason(entry: NetwatchEntry) -> str | None:
    """Why `entry` cannot become a hosts.yaml item, or None when it can."""
    if entry.type not in PROBE_FOR_TYPE:
        return f"type {entry.type} has no netwatchd probe"
    if entry.type == "dns" and not entry.settings.get("dns-server"):
        return "type dns without dns-server (netwatchd asks a given server)"
    return None


def to_hosts_yaml(entries: Sequence[NetwatchEntry], existing: Sequence[HostSpec] = ()) -> str:
    """The text of hosts.yaml items for `entries` (empty entries -> a comment saying so).

    `existing` are the sites already configured: an entry watching one of their addresses becomes a
    comment instead of a duplicate, and new names never collide with theirs.
    """
    lines = [f"# {len(entries)} Netwatch entr{'y' if len(entries) == 1 else 'ies'} read by "
             "netwatchd import-netwatch: paste under hosts: and run netwatchd check"]
    taken: set[str] = {host.name.lower() for host in existing}
    watched = {host.address.strip().lower(): host.name for host in existing}
    for entry in entries:
        skip = skip_reason(entry)
        if skip:
            lines.append(f"# NOT IMPORTED ({skip}): host={_one_line(entry.host, 60)} "
                         f"name={_one_line(entry.label, 60)}")
            continue
        if entry.host.strip().lower() in watched and entry.type in ("simple", "icmp"):
            lines.append(f"# ALREADY WATCHED as {_one_line(watched[entry.host.strip().lower()], 60)}: "
                         f"host={_one_line(entry.host, 60)} name={_one_line(entry.label, 60)}")
            continue
        item = _convert(entry, _site_name(entry, taken))
        lines.append("")
        lines.extend(f"# {note}" for note in item.notes)
        first = True
        for key, value in item.keys.items():
            lines.append(f"{'- ' if first else '  '}{key}: {_scalar(value)}")
            first = False
        if item.thresholds:
            pairs = ", ".join(f"{key}: {_scalar(value)}" for key, value in item.thresholds.items())
            lines.append(f"  thresholds: {{{pairs}}}")
    return "\n".join(lines) + "\n"
