"""The one description of hosts.yaml: every key, its kind and range, its default and what it means.

`netwatchd.config.loader` validates with these tables and `config_reference()` turns the very same
tables into docs/configuration.md (`python -m netwatchd.config.schema` writes it; tests/test_docs.py fails
when the committed file differs), so the two cannot drift apart. The value kinds
(`Duration`, `Integer`, `Address`, ...) live in netwatchd.config.kinds. Defaults are read from the
dataclasses in netwatchd.config, never repeated here.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

from netwatchd.config.kinds import (
    Address,
    Argv,
    Choice,
    Duration,
    Flag,
    Headers,
    Integer,
    Kind,
    Listen,
    ListOf,
    Name,
    Number,
    Percent,
    Selectors,
    Templates,
    Text,
    TimeOfDay,
    Timestamp,
    TimeZone,
    Url,
    Weekday,
    format_duration,
)
from netwatchd.config.model import (
    EARLY_WINDOW_INTERVALS,
    HOOK_EVENTS,
    Config,
    EscalationLevel,
    FlapPolicy,
    HealthSpec,
    HookSpec,
    HostSpec,
    MaintenanceWindow,
    RateLimitSpec,
    ReportSchedule,
    RetentionSpec,
    Route,
    RouterSpec,
    SelfCheck,
    TelegramSpec,
    Thresholds,
    WebSpec,
)
from netwatchd.models import LANGUAGES, PROBE_TYPES

# ---------------------------------------------------------------- the tables


@dataclass(frozen=True)
class Key:
    """One YAML key: its kind (a value kind, or a nested Section), its meaning; it fills the
    dataclass field of the same name."""

    name: str
    kind: Kind | Section
    help: str
    required: bool = False
    secret: bool = False
    doc_default: str | None = None      # override the Default column


@dataclass(frozen=True)
class Section:
    """A group of keys that fills one dataclass. shape: map, list (of maps) or map_or_bool."""

    name: str
    keys: tuple[Key, ...]
    target: type | None
    help: str
    shape: str = "map"
    extra_fields: tuple[str, ...] = ()  # dataclass fields filled by code, not by a key of their own
    index: dict[str, Key] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.index.update({key.name: key for key in self.keys})

    def key(self, name: str) -> Key | None:
        return self.index.get(name)

    def defaults_to_none(self, key: Key) -> bool:
        """Whether `key` fills a dataclass field whose default is None (so `null` may be written)."""
        if self.target is None:
            return False
        return any(f.name == key.name and f.default is None for f in dataclasses.fields(self.target))

    def default(self, key: Key) -> Any:
        if self.target is None:
            return None
        for item in dataclasses.fields(self.target):
            if item.name == key.name:
                if item.default is not dataclasses.MISSING:
                    return item.default
                if item.default_factory is not dataclasses.MISSING:
                    return item.default_factory()
        return None


RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")

THRESHOLDS = Section("thresholds", (
    Key("loss_percent", Percent(0, 100, lo_open=True, off_ok=True), "DEGRADED when packet loss is at or above this"),
    Key("rtt_avg_ms", Duration(0.0001, 60, off_ok=True, scale=0.001, unit_help="plain milliseconds"),
        "DEGRADED when the average round-trip time is above this (Netwatch thr-avg)"),
    Key("rtt_max_ms", Duration(0.0001, 60, off_ok=True, scale=0.001, unit_help="plain milliseconds"),
        "DEGRADED when the largest round-trip time is above this (thr-max)"),
    Key("jitter_ms", Duration(0.0001, 60, off_ok=True, scale=0.001, unit_help="plain milliseconds"),
        "DEGRADED when jitter (max - min rtt) is above this (thr-jitter)"),
    Key("stdev_ms", Duration(0.0001, 60, off_ok=True, scale=0.001, unit_help="plain milliseconds"),
        "DEGRADED when the rtt standard deviation is above this (thr-stdev)"),
), Thresholds, "When a host that answers counts as DEGRADED. Each may be `off`. Keys set on a host "
   "override only themselves; the rest come from `defaults.thresholds`.")

# Keys of a host that `defaults:` may set too (everything but name and address).
HOST_SETTINGS: tuple[Key, ...] = (
    Key("probe", Choice(*PROBE_TYPES, noun="probe type"), "how the host is probed"),
    Key("group", Text(64, empty_ok=True), "a group name (reports, maintenance windows, the bot's lists)"),
    Key("parent", Name(), "the host or router this host is reached through; while the parent is down "
        "the host is UNREACHABLE and its alert folds into the parent's"),
    Key("comment", Text(200, empty_ok=True), "free text shown with the host"),
    Key("interval", Duration(0.1, 86400), "time between probes while the host is settled"),
    Key("timeout", Duration(0.01, 300), "how long to wait for an answer; must be shorter than interval"),
    Key("count", Integer(1, 100), "ICMP echo requests per probe"),
    Key("packet_interval", Duration(0.001, 10), "spacing of the echo requests within one ICMP probe"),
    Key("packet_size", Integer(0, 65500), "ICMP payload bytes"),
    Key("down_after", Integer(1, 100), "consecutive failed probes before DOWN"),
    Key("up_after", Integer(1, 100), "consecutive good probes before UP"),
    Key("degraded_after", Integer(1, 100), "consecutive degraded probes before DEGRADED"),
    Key("retry_interval", Duration(0.1, 86400), "spacing of re-probes while a host is failing or settling"),
    Key("down_loss_percent", Percent(0, 100, lo_open=True),
        "an ICMP probe fails when its loss is at or above this (100% = only when nothing answers)"),
    Key("thresholds", THRESHOLDS, "DEGRADED thresholds, see below"),
    Key("port", Integer(1, 65535), "TCP port (required for tcp; overrides the port of http/https)"),
    Key("url", Url("http", "https"), "http/https: the URL to fetch (default http(s)://address[:port]/)"),
    Key("http_code_min", Integer(100, 599), "http/https: lowest status code that counts as up"),
    Key("http_code_max", Integer(100, 599), "http/https: highest status code that counts as up"),
    Key("verify_tls", Flag(), "https: check the server certificate"),
    Key("dns_name", Text(253), "dns: the name to resolve (required for dns; address is the DNS server)"),
    Key("record_type", Choice(*RECORD_TYPES, noun="record type"), "dns: the record type to ask for"),
    Key("reminder_every", Duration(60, 30 * 86400, off_ok=True), "repeat an unresolved DOWN alert this often"),
    Key("alert_on_down", Flag(), "false: a DOWN is recorded and shown but not announced (nor reminded); the UP "
        "that ends it is, so you hear when the device is back (devices often off on purpose; netwatch-notify's "
        "no-down-notification)"),
    Key("disabled", Flag(), "keep the host in the file but do not probe it"),
    Key("via", Name(), "the router (routers[].name) asked to ping the site before a DOWN is announced: it "
        "cannot reach it either -> DOWN \"confirmed by core: 0/3\"; it can -> PATH (the path between this "
        "server and that router is at fault, not the site)", doc_default="the parent, when it is a router"),
    Key("confirm", Flag(), "false: announce a DOWN without asking the via router (icmp probes only)",
        doc_default="true when a via router exists"),
    Key("fold_window", Duration(0, 60), "when this host is a parent and comes back UP, how long its UP message "
        "waits for its children's first answers so that it names every site back with it (0: send at once; "
        "a child still silent then gets its own UP when it answers)"),
)

# Keys of a host that `defaults:` may not set (they describe one site).
SITE_ONLY: tuple[Key, ...] = (
    Key("router", Name(), "the site is itself a RouterOS device listed under routers: (its name there): when "
        "it comes back, its uptime tells \"restarted (power cut?)\" from \"link restored\""),
)

HOST = Section("hosts", (
    Key("name", Name(), "the site's name, unique (case-insensitive); shown in alerts and bot commands",
        required=True),
    Key("address", Address(), "IPv4/IPv6 address or host name to probe (for http/https it may be left "
        "out when url is given)", required=True),
) + HOST_SETTINGS + SITE_ONLY, HostSpec, "One entry per watched site. Every key of `defaults:` may be set here "
    "too.", shape="list")

DEFAULTS = Section("defaults", HOST_SETTINGS, HostSpec,
                   "Settings for every host; each may be overridden on a host.",
                   extra_fields=tuple(key.name for key in SITE_ONLY))

HEALTH = Section("health", (
    Key("cpu_percent", Percent(0, 100, lo_open=True, off_ok=True), "DEGRADED when /system/resource cpu-load is "
        "at or above this"),
    Key("memory_free_percent", Percent(0, 100, lo_open=True, off_ok=True), "DEGRADED when free memory is below "
        "this share of the total"),
    Key("temperature_c", Number(-40, 150, off_ok=True), "DEGRADED when a /system/health temperature sensor reads "
        "above this many °C"),
    Key("min_voltage", Number(0, 100, lo_open=True, off_ok=True), "DEGRADED when /system/health voltage reads "
        "below this many volts (set it for the board's power supply, e.g. 11 for 12 V)"),
    Key("pool_used_percent", Percent(0, 100, lo_open=True, off_ok=True), "one alert per IP pool "
        "(/ip/pool/used) at or above this share used"),
    Key("every", Duration(1, 86400), "time between two looks at the router"),
), HealthSpec, "A router's own health, read-only (`read` policy): CPU, memory and uptime from "
   "/system/resource, temperature and voltage from /system/health where the board has sensors, IP pools. "
   "Each threshold may be `off`; `health: true` takes every default. An uptime that went backwards is "
   "announced as a restart.", shape="map_or_bool")

ROUTER = Section("routers", (
    Key("name", Name(), "the router's name (a host's parent may name it)", required=True),
    Key("address", Address(), "address of the RouterOS API", required=True),
    Key("port", Integer(1, 65535), "API port", doc_default="8728, or 8729 with tls"),
    Key("username", Text(64), "API user (give it a read-only group)"),
    Key("password", Text(256, empty_ok=True, secret=True), "API password; write ${ROUTER_PASSWORD} "
        "and keep the value in the environment", secret=True),
    Key("tls", Flag(), "use api-ssl (port 8729)"),
    Key("tls_verify", Flag(), "api-ssl: check the router's certificate against ca_file or the system CAs; "
        "false encrypts without checking (also allows RouterOS's certificate-less api-ssl)"),
    Key("ca_file", Text(4096), "api-ssl: PEM file of the CA or of the router's self-signed certificate "
        "(relative to this file's folder); must exist"),
    Key("timeout", Duration(0.1, 300), "connect and reply timeout"),
    Key("encoding", Text(32), "text encoding of names and comments in the router's replies; with utf-8 "
        "a word that is not valid UTF-8 (a comment WinBox wrote in cp1252) is read as cp1252. Set another "
        "code page (cp1251, cp1250, ...) only if the router's text is in it"),
    Key("health", HEALTH, "watch the router's own CPU, memory, temperature, voltage, uptime and IP pools"),
), RouterSpec, "RouterOS devices netwatchd talks to over the API (the bot's commands, crosscheck, confirming "
   "DOWNs of the sites behind them, the sites' own uptime, health).", shape="list")

RATE_LIMIT = Section("rate_limit", (
    Key("admin_burst", Integer(1, 1000), "commands an admin (or a viewer) may send at once before the bot "
        "queues them; also how many may wait in the queue"),
    Key("admin_per_second", Number(0, 100, lo_open=True), "how fast an admin's (or a viewer's) allowance comes "
        "back (commands per second); a queued command is answered \"busy — N commands queued, about N s\" at "
        "once and runs when its turn comes, with its sender's role"),
    Key("stranger_burst", Integer(1, 100), "messages from a non-admin in a private chat that are looked at "
        "(logged and refused) at once; more are dropped without a word"),
    Key("stranger_per_second", Number(0, 10, lo_open=True), "how fast a non-admin's allowance comes back. "
        "Whatever these two say, a non-admin is told \"not allowed\" at most once a minute in a private chat "
        "and at most once an hour in a group"),
), RateLimitSpec, "How many bot commands each user may send. Admins and viewers are never met with silence: "
   "beyond their allowance a command is queued and they are told so. Non-admins get a hard limit.")

ESCALATE = Section("escalate", (
    Key("after", Duration(1, 30 * 86400), "an incident still not acknowledged this long after it opened is "
        "sent to this level's chats, once", required=True),
    Key("chat_ids", ListOf(Integer(nonzero=True)), "the chats of this level (they get the outage so far, "
        "with the buttons)", required=True),
), EscalationLevel, "If an incident is not acknowledged in time. Levels are listed in the order they are "
   "sent, each `after` later than the one before; an Ack (or a recovery) stops the levels not yet sent, "
   "a snooze holds them until it ends.", shape="list")

ROUTE = Section("routes", (
    Key("match", Selectors(), "the sites of this route: `{group: kecamatan}`, `{host: Waru}`, or a list of "
        "either", required=True),
    Key("chat_ids", ListOf(Integer(nonzero=True)), "where their alerts go instead of telegram.chat_ids",
        required=True),
    Key("thread_id", Integer(1, None), "a forum topic (message_thread_id) in those chats (forum "
        "supergroups only: ids starting with -100)"),
), Route, "Where a site's alerts go; the first route that matches wins, a site no route matches "
   "goes to telegram.chat_ids. A parent's message that folds in its unreachable sites also goes to "
   "every chat that routes one of them.", shape="list")

TELEGRAM = Section("telegram", (
    Key("token", Text(200, empty_ok=True, secret=True, pattern=r"\d{3,}:[A-Za-z0-9_-]{20,}",
                      pattern_help="digits:letters as @BotFather gives it, like 123456789:AAE...",
                      pattern_what="does not look like a bot token"),
        "bot token; write ${TELEGRAM_BOT_TOKEN}. Empty or absent: alerts go to the console", secret=True),
    Key("chat_ids", ListOf(Integer(nonzero=True)), "chats that receive alerts (groups are negative)"),
    Key("admins", ListOf(Integer(1, None)), "Telegram user ids allowed to command the bot and act on "
        "alerts (ack, snooze, mute, diagnose)"),
    Key("viewers", ListOf(Integer(1, None)), "Telegram user ids that may read (/monitor, /status, /history, "
        "/report, the History button) but never act"),
    Key("buttons", Flag(), "put ✅ Ack · 🔕 1 h · 🔍 Diagnose · 📈 History under every problem alert"),
    Key("escalate", ESCALATE, "escalation levels, see below"),
    Key("routes", ROUTE, "per-site destinations and forum topics, see below"),
    Key("api_url", Url("http", "https"), "Bot API base URL (or a local Bot API server)"),
    Key("language", Choice(*LANGUAGES, noun="language"), "language of alerts and bot replies"),
    Key("templates", Templates(), "your own alert texts by kind (advanced; each is checked for known "
        "kinds, known {placeholders} and balanced HTML; see "
        "[telegram.md](telegram.md#your-own-wording-telegramtemplates))"),
    Key("poll_commands", Flag(), "answer the admins' bot commands (getUpdates)"),
    Key("rate_limit", RATE_LIMIT, "per-user command limits, see below"),
), TelegramSpec, "Where alerts go. Without a token they are printed on the console.")

WEB = Section("web", (
    Key("listen", Listen(), "where the status page, /api/status, /metrics and /healthz are served",
        doc_default="127.0.0.1:8080"),
    Key("enabled", Flag(), "`web: false` is the short way to turn the page off"),
    Key("username", Text(64), "basic-auth user (set both or neither)"),
    Key("password", Text(256, secret=True), "basic-auth password", secret=True),
), WebSpec, "The status page. `web: false` turns it off.", shape="map_or_bool", extra_fields=("host", "port"))

MAINTENANCE = Section("maintenance", (
    Key("targets", ListOf(Name()), "host or group names to mute", required=True),
    Key("start", Timestamp(), "one-off window: start (ISO 8601; without a zone it is in `timezone`)"),
    Key("end", Timestamp(), "one-off window: end (after start)"),
    Key("duration", Duration(60, 365 * 86400), "one-off window: length instead of end"),
    Key("days", ListOf(Weekday(), max_items=7), "weekly window: days (empty = every day)"),
    Key("daily_start", TimeOfDay(), "weekly window: start time, HH:MM in `timezone`"),
    Key("daily_end", TimeOfDay(), "weekly window: end time, after daily_start (24:00 = midnight; a window "
        "across midnight is two entries, …–24:00 and 00:00–…)"),
    Key("reason", Text(200, empty_ok=True), "shown in the bot and the status page"),
), MaintenanceWindow, "Planned work: nothing is sent for the targets inside the window; when it ends "
   "the current state is announced if it changed. Give start+end (or start+duration) or "
   "daily_start+daily_end. See [alerts.md](alerts.md#maintenance-and-mutes).", shape="list")

SELF_CHECK = Section("self_check", (
    Key("anchors", ListOf(Address(), max_items=5), "the server's own gateway and one or two anchors; "
        "when none answers the server itself is offline and site alerts are held"),
    Key("probe_interval", Duration(1, 3600), "how often the anchors are probed"),
), SelfCheck, "Detects the monitoring server losing its own uplink.")

FLAPPING = Section("flapping", (
    Key("window", Integer(5, 100), "results looked at (Nagios uses 21)"),
    Key("high_percent", Percent(0, 100, lo_open=True), "state changes in the window at or above this: flapping"),
    Key("low_percent", Percent(0, 100), "below this: stable again (must be below high_percent)"),
    Key("enabled", Flag(), "`flapping: false` turns flap damping off"),
    Key("early_outages", Integer(0, 100), "early rule: a site that goes DOWN this many times within "
        "early_window is FLAPPING at once (one message: how many outages in how long, and its state now); "
        "0 turns the early rule off"),
    Key("early_window", Duration(1, 7 * 86400), "early rule: the window the outages are counted in",
        doc_default=f"{EARLY_WINDOW_INTERVALS} × interval"),
    Key("stable_after", Duration(1, 7 * 86400), "a flapping site is stable again (one message with its state) "
        "once its state has held this long and its change percent is below low_percent",
        doc_default=f"{EARLY_WINDOW_INTERVALS} × interval"),
), FlapPolicy, "Flap damping. While a site is flapping its UP/DOWN/DEGRADED changes are recorded (reports count "
   "every outage) but not announced, except that a site flapping between UP and DEGRADED that goes DOWN is told "
   "so. `flapping: false` turns it off.", shape="map_or_bool")

_DAY = 86400.0
RETENTION = Section("retention", (
    Key("raw_days", Duration(3600, 3650 * _DAY, scale=_DAY, unit_help="plain days"),
        "keep every probe result this long"),
    Key("rollup_5m_days", Duration(3600, 3650 * _DAY, scale=_DAY, unit_help="plain days"),
        "keep 5-minute rollups this long (at least raw_days)"),
    Key("rollup_days", Duration(3600, 3650 * _DAY, scale=_DAY, unit_help="plain days"),
        "keep hourly rollups this long (at least rollup_5m_days)"),
    Key("timing_max_mb", Number(0.01, 10240), "rotate data_dir/timing.jsonl (the delivery log) before it "
        "grows past this many MiB: it becomes timing.jsonl.1, the older ones move up by one"),
    Key("timing_keep", Integer(1, 1000), "rotated delivery logs kept (timing.jsonl.1 newest .. .N oldest); "
        "the oldest beyond this is deleted. Reports read them all"),
    Key("removed_sites", Duration(0, 365 * _DAY), "a site a reload removes keeps its state this long, so putting "
        "it back (a truncated or mistaken hosts.yaml restored) restores its state too; 0 forgets at once"),
), RetentionSpec, "How long history is kept. The `*_days` numbers are days; durations like 2w also work.")

REPORTS = Section("reports", (
    Key("every", Choice("daily", "weekly", "monthly", noun="schedule"), "daily: yesterday, sent every day; "
        "weekly: last Monday-Sunday, sent on Monday; monthly: last calendar month, sent on the 1st", required=True),
    Key("at", TimeOfDay(), "when it is sent, HH:MM in `timezone` (a report due while netwatchd was not running "
        "is sent once when it starts)"),
    Key("chat_ids", ListOf(Integer(nonzero=True)), "chats that receive it as a document",
        doc_default="telegram.chat_ids"),
    Key("format", Choice("pdf", "html", "csv", noun="format"), "pdf (A4, needs WeasyPrint: "
        "pip install 'netwatchd[pdf]'), html (one self-contained page) or csv (one row per site)"),
    Key("language", Choice(*LANGUAGES, noun="language"), "id (Indonesian, decimal comma) or en",
        doc_default="telegram.language"),
), ReportSchedule, "Reports that reach the chats by themselves (sendDocument, through the outbox: kept in the "
   "store until Telegram has them, retried, sent once).", shape="list")

HOOKS = Section("hooks", (
    Key("on", ListOf(Choice(*HOOK_EVENTS, noun="event")), "events that run it: down, up, degraded, unreachable "
        "(a parent went down), flapping (started or ended), path (unreachable from here, reachable from its via "
        "router), acknowledged, uplink (the server's own uplink lost or back), router (a router's health figure "
        "past or back within its threshold, a router restart)", doc_default="[down, up]"),
    Key("command", Argv(), "a program and its arguments, run without a shell; the event as JSON on stdin and "
        "NETWATCHD_EVENT, NETWATCHD_HOST, NETWATCHD_ADDRESS, NETWATCHD_GROUP, NETWATCHD_STATE, "
        "NETWATCHD_PREVIOUS, NETWATCHD_KIND, NETWATCHD_AT, NETWATCHD_SINCE, NETWATCHD_EVENT_ID in its "
        "environment (nothing else of netwatchd's, so no secret); exit 0 = done"),
    Key("url", Url("http", "https"), "a webhook: the event JSON is POSTed here; any 2xx = done"),
    Key("headers", Headers(), "webhook headers; write secrets as ${VAR} (never logged)", secret=True),
    Key("timeout", Duration(0.1, 600), "a command still running (or a webhook not answering) after this counts "
        "as failed and is tried again"),
    Key("name", Name(), "the hook's name in logs and `netwatchd status`; keep it when you edit the list so "
        "waiting events stay with their hook", doc_default="hook1, hook2, ... by position"),
), HookSpec, "Commands and webhooks run on transitions (what Netwatch's up-script/down-script did). Each hook "
   "has its own queue in the store: events are kept until it succeeds, retried with backoff, in order, at "
   "least once; a failing hook is logged and shown by `netwatchd status` and never delays probing or Telegram.",
    shape="list")

TOP = Section("top level", (
    Key("data_dir", Text(4096), "SQLite store and timing.jsonl; relative paths are relative to this file's folder",
        doc_default="./netwatchd-data"),
    Key("timezone", TimeZone(), "what messages and reports show; storage is UTC"),
    Key("defaults", DEFAULTS, "settings for every host"),
    Key("hosts", HOST, "the watched sites"),
    Key("routers", ROUTER, "RouterOS devices"),
    Key("telegram", TELEGRAM, "alert delivery and the command bot"),
    Key("web", WEB, "status page"),
    Key("maintenance", MAINTENANCE, "maintenance windows"),
    Key("self_check", SELF_CHECK, "uplink self-check"),
    Key("flapping", FLAPPING, "flap damping"),
    Key("retention", RETENTION, "history retention"),
    Key("announce_startup", Flag(), "send one 'watching N sites, M down' message once the first states settle"),
    Key("crosscheck_every", Duration(30, 7 * 86400, off_ok=True), "compare the routers' own Netwatch table with "
        "netwatchd's states this often and alert on disagreement (needs routers:)"),
    Key("reports", REPORTS, "scheduled reports"),
    Key("hooks", HOOKS, "commands and webhooks on transitions"),
), Config, "", extra_fields=("path",))

SECTIONS = (TOP, DEFAULTS, HOST, THRESHOLDS, ROUTER, HEALTH, TELEGRAM, RATE_LIMIT, ESCALATE, ROUTE, WEB,
            MAINTENANCE, SELF_CHECK, FLAPPING, RETENTION, REPORTS, HOOKS)


# ---------------------------------------------------------------- docs/configuration.md

DOC_PATH = "docs/configuration.md"
_GENERATED = ("<!-- Generated from netwatchd/config/schema.py by `python -m netwatchd.config.schema`. Do not edit "
              "by hand: tests/test_docs.py fails when this file and the schema differ. -->")


def _span(seconds: float) -> str:
    """A duration bound as an administrator writes it: 7d, 5m, 100ms."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return format_duration(seconds)


def _type_text(kind: Kind) -> str:
    """The Type column: the kind's name and, for numbers and durations, the range the loader accepts."""
    text = kind.type_name
    if isinstance(kind, Duration):
        low = "above 0" if 0 < kind.lo < 0.001 else _span(kind.lo)  # bounds are seconds, whatever the unit
        text += f", {low} to {_span(kind.hi)}" + (", or `off`" if kind.off_ok else "")
    elif isinstance(kind, Percent):
        low = f"above {kind.lo:g}%" if kind.lo_open else f"{kind.lo:g}%"
        text += f", {low} to {kind.hi:g}%" + (", or `off`" if kind.off_ok else "")
    elif isinstance(kind, Number):
        low = f"above {kind.lo:g}" if kind.lo_open else f"{kind.lo:g}"
        text += f", {low} to {kind.hi:g}" + (", or `off`" if kind.off_ok else "")
    elif isinstance(kind, Integer) and kind.lo is not None:
        text += f", {kind.lo} to {kind.hi}" if kind.hi is not None else f", at least {kind.lo}"
    return text


def _table(section: Section, prefix: str) -> list[str]:
    rows = ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
    for key in section.keys:
        if isinstance(key.kind, Section):
            kind_text, default = ("list" if key.kind.shape == "list" else "mapping"), "see below"
        else:
            kind_text = _type_text(key.kind)
            default = key.doc_default or ("required" if key.required else key.kind.show(section.default(key)))
        meaning = key.help + (". **Secret**: never logged or shown." if key.secret else "")
        rows.append(f"| `{prefix}{key.name}` | {kind_text} | {default} | {meaning} |")
    return rows


def config_reference() -> str:
    """docs/configuration.md, generated from the tables above (Markdown, ends with a newline)."""
    out = [_GENERATED, "", "# Configuration reference", "",
           "netwatchd reads one YAML file: `hosts.yaml` in the current folder, or the file given with "
           "`-c FILE` (in production `/etc/netwatchd/hosts.yaml`). Every key below is checked when the "
           "file is loaded: an unknown key, a duplicate key, a wrong type or an out-of-range value is an "
           "error with its line number, and all errors are listed at once "
           "(`FILE:LINE: key.path: what is wrong (what is allowed)`). Check a file with "
           "[`netwatchd check`](commands.md#netwatchd-check) after every edit; "
           "`systemctl reload netwatchd` applies it to the running agent and keeps the old configuration "
           "when the new one has errors.", "",
           "The shipped [`hosts.yaml`](../hosts.yaml) holds the 18 kecamatan of Diskominfo Sidoarjo and "
           "the core router; the [README](../README.md#a-hostsyaml-on-one-screen) shows a shorter one.", "",
           "## Value formats", "",
           "- **duration**: RouterOS style `500ms`, `10s`, `1m`, `1h30m`, `1d`, `1w`, clock style `00:01:30`, "
           "or a plain number of seconds (of milliseconds for the `*_ms` thresholds, of days for "
           "`retention`). Where the Type column says so, `off` switches the setting off.",
           "- **percentage**: `50%` (a plain `50` means the same).",
           "- **address**: IPv4 (`172.16.200.117`), IPv6 (`fd00::1`) or an RFC 1123 host name.",
           "- **name** (of a host, router or group): 1 to 64 characters without `/`, `,` or control "
           "characters; names are compared without regard to case.",
           "- **date-time**: ISO 8601, `2026-12-01T22:00` (in `timezone`) or with an offset "
           "(`2026-12-01T15:00Z`, `2026-12-01T22:00+07:00`).",
           "- **weekday**: `mon` … `sun`, `senin` … `minggu`, or `0` (Monday) … `6` (Sunday).",
           "- `${NAME}` anywhere in a value is replaced by the environment variable NAME (`$${` writes a "
           "literal `${`). A variable that is not set is an error naming it — except that `netwatchd check` "
           "only *warns* about unset variables in secret keys (`telegram.token`, `routers[].password`, "
           "`web.password`), so the shipped file can be checked where the secrets are not present; "
           "`netwatchd run` refuses to start until they are set. `check --strict` treats them as errors too. "
           "The other commands ask only for the secrets they use: `status`, `report` and `probe -f` for none, "
           "`test-notify` for the bot token, `crosscheck` and `import-netwatch --router` for the router password.",
           "- YAML anchors and `<<: *anchor` merges work; the file must be UTF-8.",
           "- A value of `null` (or `~`) on a host undoes a default that is empty by default — e.g. "
           "`parent: null` for the core's own entry when `defaults:` says `parent: core`.", ""]
    for section in SECTIONS:
        if section is TOP:
            out += ["## Top-level keys", ""] + _table(section, "") + [""]
            continue
        if section is DEFAULTS:
            continue
        title = {"hosts": "## `hosts:` (list) and `defaults:`", "routers": "## `routers:` (list)",
                 "health": "## `routers[].health:`",
                 "maintenance": "## `maintenance:` (list)", "reports": "## `reports:` (list)",
                 "hooks": "## `hooks:` (list)", "rate_limit": "## `telegram.rate_limit:`"}.get(
                     section.name, f"## `{section.name}:`")
        prefix = "thresholds." if section is THRESHOLDS else ""
        out += [title, "", section.help, ""] + _table(section, prefix) + [""]
        if section is HOST:
            site_only = ", ".join(f"`{key.name}`" for key in SITE_ONLY)
            out += [f"Every key except `name`, `address` and {site_only} (they describe one site) may also be "
                    "written under `defaults:`; a host's own "
                    "value wins. Cross-checks (timeout shorter than interval, tcp needs port, dns needs "
                    "dns_name, http_code_min ≤ http_code_max) are made on the merged values and reported at "
                    "the line that set them. Names are unique without regard to case; `parent` names a host "
                    "or a router, and parent chains may not loop.", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m netwatchd.config.schema [--check] [-o FILE|-]`: write (or compare) docs/configuration.md."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m netwatchd.config.schema",
                                     description="write docs/configuration.md from the schema")
    parser.add_argument("-o", "--output", help=f"where to write (default: {DOC_PATH} of this source tree; - = stdout)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 when the file differs")
    args = parser.parse_args(argv)
    text = config_reference()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    target = Path(args.output) if args.output else Path(__file__).resolve().parents[2] / DOC_PATH
    if not args.output and not target.parent.is_dir():
        sys.stderr.write(f"no {target.parent} here (an installed package has no docs/): give -o FILE, or -o - "
                         "for stdout\n")
        return 2
    if args.check:
        same = target.is_file() and target.read_text("utf-8") == text
        if not same:
            sys.stderr.write(f"{target} differs from the schema: run python -m netwatchd.config.schema\n")
        return 0 if same else 1
    target.write_text(text, "utf-8")
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
