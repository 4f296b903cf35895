"""hosts.yaml -> frozen dataclasses.

The dataclasses below are the contract every other module codes against; `Config.tz` is the
configured time zone as a ready tzinfo (nothing else looks a zone name up). `config.loader.load_config`
parses and validates; every mistake becomes a located `ConfigError` line
(`FILE:LINE: key.path: what is wrong (what is allowed)`).
Secrets (telegram.token, routers[].password) are kept out of repr().
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from netwatchd.errors import ConfigError
from netwatchd.models import Language, ProbeType

DEFAULT_TIMEZONE = "Asia/Jakarta"   # WIB


def time_zone(name: str) -> tzinfo:
    """The tzinfo of an IANA name ("Asia/Jakarta"). Raises ConfigError for an unknown name (the loader
    has already refused one with its line number; this guards a Config built in code)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"timezone: unknown time zone '{name}' (an IANA name like Asia/Jakarta or UTC)") from None


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a host that answers counts as DEGRADED (None = not checked). Netwatch v7 names in comments."""

    loss_percent: float | None = 20.0     # thr-loss-percent (degraded at or above)
    rtt_avg_ms: float | None = 100.0      # thr-avg
    rtt_max_ms: float | None = 1000.0     # thr-max
    jitter_ms: float | None = None        # thr-jitter
    stdev_ms: float | None = None         # thr-stdev


@dataclass(frozen=True, slots=True)
class HostSpec:
    """One watched site with every default already applied.

    Slotted: with its 31 fields (one more than CPython's shared-key instance dicts allow) every
    instance carried a 1.6 KB dict of its own, 16 MB of an agent watching 10,000 sites."""

    name: str
    address: str
    probe: ProbeType = "icmp"           # icmp | tcp | http | https | dns
    group: str = ""
    parent: str | None = None           # another host's or a router's name
    comment: str = ""
    interval: float = 10.0              # seconds
    timeout: float = 1.0
    count: int = 3                      # echo requests per ICMP probe
    packet_interval: float = 0.05       # spacing of those echoes
    packet_size: int = 56
    down_after: int = 3
    up_after: int = 2
    degraded_after: int = 3             # consecutive degraded probes before DEGRADED
    retry_interval: float = 1.0
    down_loss_percent: float = 100.0    # an ICMP probe fails when loss >= this (default: no reply at all)
    thresholds: Thresholds = field(default_factory=Thresholds)
    port: int | None = None             # tcp; http(s) override
    url: str | None = None              # http/https; default http(s)://address[:port]/
    http_code_min: int = 200
    http_code_max: int = 399
    verify_tls: bool = True
    dns_name: str | None = None         # dns: the name to resolve (address is the DNS server)
    record_type: str = "A"
    reminder_every: float | None = None  # seconds; None = no repeated DOWN reminders
    alert_on_down: bool = True          # False: a DOWN is recorded but not announced; the UP after it is
    disabled: bool = False
    via: str | None = None              # the router asked to confirm a DOWN (resolved: written, or the parent router)
    confirm: bool = True                # resolved by the loader: True only when `via` is set and probe is icmp
    router: str | None = None           # the site itself is this RouterOS device (routers[].name): cause on recovery
    fold_window: float = 1.0            # a parent back UP waits this long for its children's answers

    @property
    def confirms(self) -> bool:
        """Is a DOWN of this host first confirmed by its `via` router?"""
        return self.confirm and self.via is not None


def compacted(hosts: Sequence[HostSpec]) -> tuple[HostSpec, ...]:
    """The same specs as new objects made one after another, each distinct string one new object.

    A config's specs are built while the reader's tree of the whole file is alive, so each spec and
    its strings sit among that tree's garbage: at 10,000 sites the load peaked at ~36 MB of
    small objects and left CPython's 1 MB arenas holding them mostly empty but never free (48
    arenas for 15 MB of objects; the running agent's RSS kept ~15 MB of that). Made again once
    the tree is gone, the specs fill a few arenas densely and the old ones are released. Equal
    numbers are one object too: a config handed over pickled (config/apart.py) had a float object
    per field per site (pickle never shares floats: 60,000 of them, 1.7 MB with the ints)."""
    strings: dict[str, str] = {}
    numbers: dict[tuple[type, object], object] = {}
    out: list[HostSpec] = []
    for spec in hosts:
        values = []
        for name in _HOST_FIELD_NAMES:
            value = getattr(spec, name)
            kind = type(value)
            if kind is str:
                found = strings.get(value)
                if found is None:
                    found = strings[value] = (" " + value)[1:]     # a new object, not the reader's
                value = found
            elif kind is float or kind is int:     # keyed by its exact bits: 0.0 and -0.0 stay apart
                value = numbers.setdefault((kind, value.hex() if kind is float else value), value)
            values.append(value)
        out.append(HostSpec(*values))
    return tuple(out)


_HOST_FIELD_NAMES = tuple(f.name for f in fields(HostSpec))


@dataclass(frozen=True)
class HealthSpec:
    """What counts as a router in trouble (routers[].health). None = not checked."""

    cpu_percent: float | None = 90.0            # /system/resource cpu-load at or above
    memory_free_percent: float | None = 10.0    # free-memory / total-memory below
    temperature_c: float | None = 70.0          # /system/health temperature (any sensor) above
    min_voltage: float | None = None            # /system/health voltage below (depends on the power supply)
    pool_used_percent: float | None = 90.0      # an IP pool (/ip/pool + /ip/pool/used) at or above
    every: float = 60.0                         # seconds between two looks


@dataclass(frozen=True)
class RouterSpec:
    """A RouterOS device reached over its API (8728, or api-ssl 8729 with tls)."""

    name: str
    address: str
    port: int = 8728
    username: str = "admin"
    password: str = field(default="", repr=False)
    tls: bool = False
    timeout: float = 5.0
    encoding: str = "utf-8"
    tls_verify: bool = True             # api-ssl: check the router's certificate (ca_file or system CAs)
    ca_file: str | None = None          # api-ssl: PEM file of the CA (or the router's self-signed cert)
    health: HealthSpec | None = None    # poll the router's own health (None = not watched)


@dataclass(frozen=True)
class RateLimitSpec:
    """How many bot commands are taken at once, and how fast the allowance comes back, per user.

    Admins beyond their allowance are queued and told so ("busy"); strangers beyond theirs are
    dropped. A stranger is told "not allowed" at most once a minute whatever these say."""

    admin_burst: int = 20
    admin_per_second: float = 1.0
    stranger_burst: int = 3
    stranger_per_second: float = 0.05


@dataclass(frozen=True)
class EscalationLevel:
    """`telegram.escalate[]`: an incident nobody acknowledged `after` seconds after it opened is
    sent to `chat_ids` (once, with the outage so far)."""

    after: float
    chat_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class RouteMatch:
    """One selector of a route: a site by name or a group by name (exactly one is set)."""

    host: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Route:
    """`telegram.routes[]`: a site matching any of `match` has its alerts sent to `chat_ids`
    (in forum topic `thread_id` when set) instead of telegram.chat_ids. First match wins."""

    match: tuple[RouteMatch, ...]
    chat_ids: tuple[int, ...] = ()
    thread_id: int | None = None


@dataclass(frozen=True)
class TelegramSpec:
    token: str = field(default="", repr=False)
    chat_ids: tuple[int, ...] = ()
    admins: tuple[int, ...] = ()
    api_url: str = "https://api.telegram.org"
    language: Language = "id"           # id | en
    templates: dict[str, str] = field(default_factory=dict)
    poll_commands: bool = True
    rate_limit: RateLimitSpec = field(default_factory=RateLimitSpec)
    viewers: tuple[int, ...] = ()       # may read (/monitor, /status, /history, /report), never act
    buttons: bool = True                # Ack / 1 h / Diagnose / History under every problem alert
    escalate: tuple[EscalationLevel, ...] = ()
    routes: tuple[Route, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def known_chats(self) -> tuple[int, ...]:
        """Every chat netwatchd posts to (chat_ids, routes, escalation levels): where the bot
        takes commands and button presses besides private chats."""
        found = list(self.chat_ids)
        for route in self.routes:
            found += route.chat_ids
        for level in self.escalate:
            found += level.chat_ids
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class WebSpec:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MaintenanceWindow:
    """Mute `targets` (host or group names). Either a one-off [start, end) in UTC, or a weekly
    window: `days` (0=Mon..6=Sun, empty = every day) between `daily_start`..`daily_end` ("HH:MM",
    in the configured time zone)."""

    targets: tuple[str, ...]
    start: str | None = None            # ISO 8601
    end: str | None = None
    days: tuple[int, ...] = ()
    daily_start: str | None = None
    daily_end: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class SelfCheck:
    """Addresses that prove the monitoring server itself is online (its gateway, an anchor)."""

    anchors: tuple[str, ...] = ()
    probe_interval: float = 5.0


EARLY_WINDOW_INTERVALS = 10
"""Unset flapping.early_window / stable_after mean this many of the host's own intervals."""


@dataclass(frozen=True)
class FlapPolicy:
    """Two detectors: the early rule (the `early_outages`-th outage start within `early_window`)
    and the Nagios-style percent of result changes over the last `window` results."""

    window: int = 21
    high_percent: float = 50.0
    low_percent: float = 25.0
    enabled: bool = True
    early_outages: int = 2              # 0 = no early rule
    early_window: float | None = None   # seconds; None = EARLY_WINDOW_INTERVALS x the host's interval
    stable_after: float | None = None   # seconds; None = EARLY_WINDOW_INTERVALS x the host's interval

    def early_window_for(self, interval: float) -> float:
        """The early rule's window for a host probed every `interval` seconds."""
        return self.early_window if self.early_window is not None else EARLY_WINDOW_INTERVALS * interval

    def stable_after_for(self, interval: float) -> float:
        """How long a flapping host's state must hold before it is announced stable."""
        return self.stable_after if self.stable_after is not None else EARLY_WINDOW_INTERVALS * interval


@dataclass(frozen=True)
class RetentionSpec:
    raw_days: float = 7.0
    rollup_days: float = 400.0
    rollup_5m_days: float = 14.0        # 5-minute rollups (hourly ones are kept rollup_days)
    timing_max_mb: float = 10.0         # data_dir/timing.jsonl rotates before it grows past this (MiB)
    timing_keep: int = 10               # rotated timing logs kept: timing.jsonl.1 (newest) .. .N (oldest)
    removed_sites: float = 86400.0      # seconds a site removed by a reload keeps its stored state


@dataclass(frozen=True)
class ReportSchedule:
    """A report sent by itself: the last full day / week (Monday-Sunday) / calendar month, at `at`
    local time (on Monday for weekly, on the 1st for monthly), as a document to `chat_ids`."""

    every: str                          # daily | weekly | monthly
    at: str = "08:00"                   # HH:MM in the configured time zone
    chat_ids: tuple[int, ...] = ()      # empty: telegram.chat_ids (filled in by the loader)
    format: str = "pdf"                 # pdf | html | csv
    language: str = ""                  # id | en; "": telegram.language (filled in by the loader)


HOOK_EVENTS = ("down", "up", "degraded", "unreachable", "flapping", "path", "acknowledged", "uplink", "router")
"""What a hook may be run on (`hooks[].on`)."""


@dataclass(frozen=True)
class HookSpec:
    """A command (argv, no shell) or a webhook (JSON POST) run on the transitions named in `on`."""

    name: str = ""                      # the hook's lane and its name in logs and status ("hook1" ...)
    on: tuple[str, ...] = ("down", "up")
    command: tuple[str, ...] = ()
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0               # seconds

    @property
    def target(self) -> str:
        """What it runs, for logs: the program, or the webhook's host (never a header or a query)."""
        if self.command:
            return self.command[0]
        from urllib.parse import urlsplit

        parts = urlsplit(self.url or "")
        return f"{parts.scheme}://{parts.hostname or ''}{(':' + str(parts.port)) if parts.port else ''}{parts.path}"


@dataclass(frozen=True)
class Config:
    path: Path
    data_dir: Path
    timezone: str = DEFAULT_TIMEZONE    # the IANA name, as written in hosts.yaml
    hosts: tuple[HostSpec, ...] = ()
    routers: tuple[RouterSpec, ...] = ()
    telegram: TelegramSpec = field(default_factory=TelegramSpec)
    web: WebSpec = field(default_factory=WebSpec)
    maintenance: tuple[MaintenanceWindow, ...] = ()
    self_check: SelfCheck = field(default_factory=SelfCheck)
    flapping: FlapPolicy = field(default_factory=FlapPolicy)
    retention: RetentionSpec = field(default_factory=RetentionSpec)
    announce_startup: bool = False
    crosscheck_every: float | None = None  # seconds; compare the routers' Netwatch with our states (None = off)
    reports: tuple[ReportSchedule, ...] = ()
    hooks: tuple[HookSpec, ...] = ()
    # `timezone` ready to use: every time shown to a person (alerts, bot, reports, status) is in this zone.
    # Built from `timezone` with the Config (also by dataclasses.replace), so the two never disagree.
    tz: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tz", time_zone(self.timezone))

    def secrets(self) -> list[str]:
        """Every secret value in this config, for log redaction."""
        found = [self.telegram.token] + [r.password for r in self.routers]
        if self.web.password:
            found.append(self.web.password)
        return [s for s in found if s]

    def host(self, name: str) -> HostSpec | None:
        for host in self.hosts:
            if host.name.lower() == name.lower():
                return host
        return None

