"""Running one authorized, parsed command: gather its data (store, router, prober), render it.

This is the effectful middle of the bot: it reads netwatchd's own store, asks a router through
`RouterPool` (read-only menus only — there is no free-form RouterOS command and nothing here ever
changes router configuration), or probes through `probe_fn`. The texts come from `render.py`.

Raises CommandInputError (the admin's mistake) and RouterError (the router's); the poller turns
both into one line in the chat.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from netwatchd import __version__
from netwatchd.bot import render as render
from netwatchd.bot.i18n import say
from netwatchd.bot.parse import (
    PROBE_COMMANDS,
    ROUTER_COMMANDS,
    CommandInputError,
    ParsedCommand,
    parse_interface,
    parse_mute,
    parse_ping,
    parse_snooze,
    resolve_target,
)
from netwatchd.clock import Clock
from netwatchd.config.model import Config, HostSpec
from netwatchd.engine.engine import SELF_HOST, HostState, self_check_hosts
from netwatchd.engine.incidents import ACK, ACKED, ALREADY_ACKED, NO_INCIDENT, RESOLVED, SNOOZE, SNOOZED, Incident
from netwatchd.errors import ProbeError, ReportError, RouterError, StoreError
from netwatchd.jsonl import last_record
from netwatchd.models import ProbeResult
from netwatchd.probes import probe_hosts
from netwatchd.router import netwatch
from netwatchd.router.client import RouterClient, RouterPool
from netwatchd.router.values import ros_bool
from netwatchd.store import incident_repo, outbox_repo, state_repo
from netwatchd.store.db import Database

log = logging.getLogger(__name__)

MAX_TRAFFIC_INTERFACES = 16
HISTORY_LIMIT = 15
INCIDENT_LIMIT = 5


@dataclass(frozen=True)
class Reply:
    """One message to send back: HTML text and an optional reply_markup."""

    text: str
    reply_markup: dict[str, Any] | None = None
    document: tuple[str, bytes, str] | None = None     # (file name, bytes, MIME type): sent with sendDocument


@dataclass
class BotContext:
    """Everything a command may touch, handed in from one place (the poller)."""

    db: Database
    config: Config
    clock: Clock
    routers: RouterPool
    probe_fn: Callable[..., list[ProbeResult]] | None
    started_monotonic: float
    commands_answered: int = 0
    user_label: str = ""
    connection: Callable[[], sqlite3.Connection] | None = None   # per-thread store connection
    store_health: Any = None          # netwatchd.store.health.StoreHealth of the running agent
    user_id: int | None = None
    user_name: str = ""               # how the chat shows who acted ("@budi"), for "acknowledged by"
    role: str | None = None           # engine.incidents.ADMIN | VIEWER
    audit_id: int | None = None       # the command's audit row (names the incident it acted on)
    wake: Callable[[Sequence[str]], None] | None = None          # delivery lanes with new rows
    outcome: str | None = None        # set by a handler whose result is more than "ok" (the audit log)

    @property
    def language(self) -> str:
        return self.config.telegram.language

    @property
    def tz(self) -> tzinfo:
        return self.config.tz

    @property
    def tz_name(self) -> str:
        return {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}.get(self.config.timezone, "")


def needs_router(command: ParsedCommand) -> bool:
    """Whether the command may wait on a router or a probe (runs in the slow worker pool)."""
    return command.name in ROUTER_COMMANDS or command.name in PROBE_COMMANDS


def run_command(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    """Execute `command`; returns the replies. Raises CommandInputError or RouterError."""
    handler = _HANDLERS[command.name]
    return handler(command, ctx)


# --- local ------------------------------------------------------------------------------------

def _help(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    return [Reply(render.render_help(ctx.language))]


def _menu(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    keyboard, inline = render.menu_markups()
    return [Reply(say(ctx.language, "keyboard_ready"), keyboard), Reply(say(ctx.language, "menu_text"), inline)]


def _monitor(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    hosts: Sequence[HostSpec] = [h for h in ctx.config.hosts if not h.disabled]
    if command.args:
        hosts = [h for h in resolve_target(command.args[0], ctx.config, allow_group=True).hosts if not h.disabled]
    now = ctx.clock.now()
    with _connection(ctx) as conn:
        views = site_views(conn, now, hosts)
    return [Reply(render.render_monitor(hosts, views, now=now, tz=ctx.tz, language=ctx.language,
                                        tz_name=ctx.tz_name))]


def _status(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    """netwatchd's own health. When the store cannot be read, what it would have said is '?' and
    the store's problem is shown: /status must answer exactly then."""
    now = ctx.clock.now()
    by_state: dict[str, int] = {}
    muted: Any = "?"
    pending: Any = "?"
    dead: Any = "?"
    last_at, latency = None, None
    try:
        with _connection(ctx) as conn:
            by_state = state_counts(conn, ctx.config.hosts)
            muted = len(state_repo.active_mutes(conn, now))
            outbox = outbox_repo.outbox_status(conn)
            pending, dead = outbox.waiting, outbox.dead
            last_at, latency = last_delivery(conn, ctx.config.data_dir)
    except (sqlite3.Error, StoreError) as exc:
        if ctx.store_health is None:
            raise
        ctx.store_health.failed("the bot's /status", exc)
    status = render.AgentStatus(
        uptime_s=ctx.clock.monotonic() - ctx.started_monotonic, sites_by_state=by_state,
        outbox_pending=pending, outbox_dead=dead, last_delivery_at=last_at, last_latency_ms=latency,
        commands_answered=ctx.commands_answered, routers=tuple(r.name for r in ctx.config.routers),
        muted=muted, version=__version__,
        store=ctx.store_health.report() if ctx.store_health is not None else None)
    return [Reply(render.render_status(status, now=now, tz=ctx.tz, language=ctx.language))]


def _history(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    """The site's recent events and, under them, its recent outages with who acknowledged them."""
    if not command.args:
        raise CommandInputError("usage", usage="/history <site>")
    site = _site(command.args[0], ctx)
    with _connection(ctx) as conn:
        events = state_repo.recent_events(conn, host=site, limit=HISTORY_LIMIT)
        incidents = incident_repo.recent(conn, site, limit=INCIDENT_LIMIT)
    events = sorted(events, key=lambda e: e.at, reverse=True)
    now = ctx.clock.now()
    text = render.render_history(site, events, now=now, tz=ctx.tz, language=ctx.language)
    lines = render.render_incident_lines(incidents, now=now, tz=ctx.tz, language=ctx.language)
    return [Reply(text + ("\n" + lines if lines else ""))]


# --- incidents ------------------------------------------------------------------------------------

def _ack(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    """/ack: the open outages; /ack <site>: acknowledge its outage (as the ✅ button)."""
    if not command.args:
        with _connection(ctx) as conn:
            found = list(incident_repo.open_incidents(conn).values())
        return [Reply(render.render_open_incidents(found, now=ctx.clock.now(), tz=ctx.tz, language=ctx.language))]
    if len(command.args) > 1:
        raise CommandInputError("usage", usage="/ack <site>")
    return _act(ctx, _site(command.args[0], ctx), ACK, 0.0)


def _snooze(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    """/snooze <site> <duration>: no reminder and no escalation of its outage until then."""
    request = parse_snooze(command.args, ctx.config)
    return _act(ctx, request.site, SNOOZE, request.seconds)


def _act(ctx: BotContext, site: str, action: str, seconds: float) -> list[Reply]:
    now = ctx.clock.now()
    with _connection(ctx) as conn:
        acted = incident_repo.act(conn, site, action, ctx.role, who=ctx.user_name or ctx.user_label,
                                  user_id=ctx.user_id, config=ctx.config, now=now, snooze_s=seconds,
                                  audit_id=ctx.audit_id)
    if acted.chats and ctx.wake is not None:
        ctx.wake(list(acted.chats))
    ctx.outcome = acted.verdict.outcome
    return [Reply(incident_reply(acted.verdict.outcome, acted.incident, site, ctx))]


def incident_reply(outcome: str, incident: Incident | None, site: str, ctx: BotContext) -> str:
    """The chat's answer to /ack or /snooze (HTML)."""
    now = ctx.clock.now()
    shown = "server" if site == SELF_HOST else site
    if incident is None or outcome == NO_INCIDENT:
        return say(ctx.language, "no_incident", site=shown)
    if outcome == ACKED:
        return say(ctx.language, "ack_done", site=shown, who=incident.acked_by)
    if outcome == SNOOZED:
        return say(ctx.language, "snooze_done", site=shown, who=incident.snoozed_by,
                   until=render.local_time(incident.snoozed_until, ctx.tz, now))
    if outcome == ALREADY_ACKED:
        return say(ctx.language, "already_acked", site=shown, who=incident.acked_by,
                   time=render.local_time(incident.acked_at, ctx.tz, now))
    if outcome == RESOLVED:
        return say(ctx.language, "incident_over", site=shown, time=render.local_time(incident.resolved_at, ctx.tz, now))
    return say(ctx.language, "refused_viewer", command="/ack")


def _diagnose(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    """🔍 Diagnose / /diagnose <site>: its state and last evidence, its parent's state, a ping from
    the server now and, when a router is configured, one from its router."""
    if len(command.args) != 1:
        raise CommandInputError("usage", usage="/diagnose <site>")
    site = _site(command.args[0], ctx)
    now = ctx.clock.now()
    if site == SELF_HOST:
        targets = self_check_hosts(ctx.config)
        lines = [_agent_ping(spec.address, spec, ctx) for spec in targets] or [say(ctx.language, "nothing")]
        return [Reply("\n".join(lines))]
    spec = ctx.config.host(site)
    assert spec is not None
    with _connection(ctx) as conn:
        names = [spec.name] + ([spec.parent] if spec.parent else [])
        states = state_repo.load_states(conn, names)
    own = states.get(spec.name)
    view = view_of(own) if own is not None else render.SiteView()
    parent = None
    if spec.parent:
        upper = states.get(spec.parent)
        parent = (spec.parent, upper.state.value if upper is not None else "unknown")
    probe = HostSpec(name=spec.name, address=spec.address, probe="icmp", count=3, packet_interval=0.2,
                     timeout=1.0, group=spec.group, parent=spec.parent)
    agent_line = _agent_ping(spec.name, probe, ctx)
    router_line = None
    if ctx.config.routers:
        router = router_for_site(spec, ctx.config)
        try:
            rows = _client(ctx, router).query("/ping", address=spec.address, count=3)
            router_line = render.render_ping_router(spec.name, spec.address, router, rows, ctx.language)
        except RouterError as exc:
            router_line = render.render_router_failure(exc, str(exc), ctx.language)
    return [Reply(render.render_diagnose(spec, view, dict(own.evidence) if own is not None else {}, agent_line,
                                         router_line, parent, now=now, tz=ctx.tz, language=ctx.language))]


def _agent_ping(target: str, host: HostSpec, ctx: BotContext) -> str:
    probe_fn = ctx.probe_fn or probe_hosts
    try:
        results = probe_fn([host], clock=ctx.clock)
    except ProbeError as exc:
        return say(ctx.language, "ping_error", message=str(exc))
    return render.render_ping_result(target, results[0], ctx.language)


def _site(word: str, ctx: BotContext) -> str:
    """A configured site's name, or SELF_HOST for the server itself ("server", as the buttons of an
    uplink alert name it). Raises CommandInputError."""
    if word.lower() in ("server", SELF_HOST):
        return SELF_HOST
    return resolve_target(word, ctx.config, allow_group=False).name


def _mute(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    now = ctx.clock.now()
    if not command.args:
        with _connection(ctx) as conn:
            mutes = state_repo.active_mutes(conn, now)
        return [Reply(render.render_mutes(mutes, now=now, tz=ctx.tz, language=ctx.language))]
    request = parse_mute(command.args, ctx.config)
    until = now + timedelta(seconds=request.seconds)
    with _connection(ctx) as conn:
        state_repo.add_mute(conn, request.target, until, ctx.user_label, request.reason, now=now)
    return [Reply(render.render_muted(request.target, until, request.seconds, now=now, tz=ctx.tz,
                                      language=ctx.language))]


def _unmute(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    if not command.args:
        return _mute(ParsedCommand("mute"), ctx)
    target = resolve_target(command.args[0], ctx.config, allow_group=True).name
    with _connection(ctx) as conn:
        removed = state_repo.remove_mute(conn, target)
    return [Reply(say(ctx.language, "unmuted" if removed else "not_muted", target=target))]


REPORT_FORMATS = ("pdf", "html", "csv")


def _report(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    """Month-to-date availability, computed by the report maths (netwatchd.report) from the store:
    a table, or with `pdf` / `html` / `csv` the report file itself."""
    from netwatchd.report.make import MIME, all_sites, make_report  # loaded when first asked for
    from netwatchd.report.make import render as render_document

    fmt = command.args[0].lower().lstrip("/") if command.args else None
    if fmt is not None and (fmt not in REPORT_FORMATS or len(command.args) > 1):
        raise CommandInputError("usage", usage=say(ctx.language, "report_usage"))
    now = ctx.clock.now()
    local = now.astimezone(ctx.tz)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
    if start >= now:
        start = (local.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)).replace(
            day=1).astimezone(timezone.utc)
    report, inputs = make_report(ctx.config, start, now, all_sites(ctx.config), now=now,
                                 with_series=fmt in ("html", "pdf"))
    month = local.strftime("%m/%Y")
    if fmt is not None:
        prefix = "laporan-ketersediaan" if ctx.language == "id" else "availability-report"
        try:
            data = render_document(report, inputs, fmt, ctx.tz, ctx.language)
        except ReportError:
            return [Reply(say(ctx.language, "report_no_pdf"))]
        caption = say(ctx.language, "report_document", month=month, time=render.local_time(now, ctx.tz, now))
        return [Reply(caption, document=(f"{prefix}-{local:%Y-%m}.{fmt}", data, MIME[fmt]))]
    rows = [render.Availability(site=s.site.name, percent=s.availability_percent, outages=len(s.own_outages),
                                down_s=s.downtime_s, parent_s=s.parts.get("parent", 0.0),
                                maintenance_s=s.parts.get("maintenance", 0.0), blind_s=s.parts.get("blind", 0.0),
                                available_s=s.parts.get("up", 0.0) + s.parts.get("degraded", 0.0))
            for s in report.sites]
    return [Reply(render.render_report(rows, month=month, now=now, tz=ctx.tz, language=ctx.language))]


# --- probes and routers -----------------------------------------------------------------------

def _ping(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    request = parse_ping(command.args, ctx.config)
    target = request.site or request.host.address
    if request.from_router or command.router:
        router = command.router or router_for_site(request.host, ctx.config)
        rows = _client(ctx, router).query("/ping", address=request.host.address, count=request.count)
        return [Reply(render.render_ping_router(target, request.host.address, router, rows, ctx.language))]
    probe_fn = ctx.probe_fn or probe_hosts
    try:
        results = probe_fn([request.host], clock=ctx.clock)
    except ProbeError as exc:  # e.g. PermissionProblem: ICMP not allowed for this process
        return [Reply(say(ctx.language, "ping_error", message=str(exc)))]
    return [Reply(render.render_ping_result(target, results[0], ctx.language))]


def _router_read(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    """The one-menu commands: print a menu on the router, render its rows."""
    path, args, renderer = _ROUTER_READS[command.name]
    router = _router_name(command, ctx)
    rows = _client(ctx, router).query(path, **args)
    return [Reply(renderer(rows, router, ctx.language))]


_ROUTER_READS: dict[str, tuple[str, dict[str, Any], Callable[[list[dict[str, Any]], str, str], str]]] = {
    "dhcp": ("/ip/dhcp-server/lease/print", {}, render.render_dhcp),
    "address": ("/ip/address/print", {}, render.render_address),
    "interface": ("/interface/print", {"stats": True}, render.render_interface),
    "dns": ("/ip/dns/print", {}, lambda rows, router, lang: render.render_dns(rows[0] if rows else {}, router, lang)),
    "neighbor": ("/ip/neighbor/print", {}, render.render_neighbor),
    "resource": ("/system/resource/print", {},
                 lambda rows, router, lang: render.render_resource(rows[0] if rows else {}, router, lang)),
}


def _pool(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    router = _router_name(command, ctx)
    client = _client(ctx, router)
    pools = client.query("/ip/pool/print")
    used = client.query("/ip/pool/used/print")
    return [Reply(render.render_pool(pools, used, router, ctx.language))]


def _traffic(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    router = _router_name(command, ctx)
    client = _client(ctx, router)
    wanted = parse_interface(command.args)
    if wanted is None:
        interfaces = client.query("/interface/print")
        names = [str(r.get("name")) for r in interfaces
                 if ros_bool(r.get("running")) and not ros_bool(r.get("disabled"))][:MAX_TRAFFIC_INTERFACES]
    else:
        names = [wanted]
    samples: list[tuple[str, dict[str, Any]]] = []
    if names:
        rows = client.query("/interface/monitor-traffic", interface=",".join(names), once=True)
        samples = [(str(r.get("name") or names[min(i, len(names) - 1)]), r) for i, r in enumerate(rows)]
    return [Reply(render.render_traffic(samples, router, ctx.language))]


def _crosscheck(command: ParsedCommand, ctx: BotContext) -> list[Reply]:
    router = _router_name(command, ctx)
    entries = netwatch.read_netwatch(_client(ctx, router))
    with _connection(ctx) as conn:
        states = state_repo.load_states(conn)
    result = netwatch.crosscheck(entries, ctx.config, states, router=router)
    return [Reply(render.render_crosscheck(result, router, now=ctx.clock.now(), tz=ctx.tz,
                                           language=ctx.language))]


_HANDLERS: dict[str, Callable[[ParsedCommand, BotContext], list[Reply]]] = {
    "help": _help, "start": _menu, "menu": _menu, "monitor": _monitor, "status": _status,
    "history": _history, "mute": _mute, "unmute": _unmute, "report": _report, "ping": _ping,
    "pool": _pool, "traffic": _traffic, "crosscheck": _crosscheck, "ack": _ack, "snooze": _snooze,
    "diagnose": _diagnose,
    **dict.fromkeys(_ROUTER_READS, _router_read),
}


# --- data access --------------------------------------------------------------------------------

@contextmanager
def _connection(ctx: BotContext) -> Iterator[sqlite3.Connection]:
    """The calling thread's store connection (kept by the poller), or a short-lived one."""
    if ctx.connection is not None:
        yield ctx.connection()
        return
    conn = ctx.db.connect()
    try:
        yield conn
    finally:
        conn.close()


def _router_name(command: ParsedCommand, ctx: BotContext) -> str:
    if command.router:
        return command.router
    if not ctx.config.routers:
        raise CommandInputError("no_routers")
    return ctx.config.routers[0].name


def _client(ctx: BotContext, router: str) -> RouterClient:
    if not ctx.config.routers:
        raise CommandInputError("no_routers")
    return ctx.routers.get(router)


def router_for_site(host: HostSpec, config: Config) -> str:
    """The router that pings a site for the bot (/diagnose, /ping SITE router): the one that votes
    on its DOWN (`via`), else the first router up its parent chain, else the first router.
    Raises CommandInputError when no router is configured."""
    if not config.routers:
        raise CommandInputError("no_routers")
    routers = {r.name.lower(): r.name for r in config.routers}
    if host.via and host.via.lower() in routers:
        return routers[host.via.lower()]
    seen: set[str] = set()
    parent = host.parent
    while parent and parent.lower() not in seen:
        seen.add(parent.lower())
        if parent.lower() in routers:
            return routers[parent.lower()]
        upper = config.host(parent)
        parent = upper.parent if upper else None
    return config.routers[0].name


def site_views(conn: sqlite3.Connection, now: datetime, hosts: Sequence[HostSpec]) -> dict[str, render.SiteView]:
    """The state of each of `hosts` from netwatchd's own store, marked when it or its group is muted.

    Reads only the rows of `hosts` (with 10,000 sites, /monitor of one group must not parse all)."""
    states = state_repo.load_states(conn, [h.name for h in hosts])
    muted = {m.target.lower() for m in state_repo.active_mutes(conn, now)}
    views = {}
    for host in hosts:
        found = states.get(host.name)
        view = view_of(found) if found is not None else render.SiteView()
        if host.name.lower() in muted or (host.group and host.group.lower() in muted):
            view = replace(view, muted=True)
        views[host.name] = view
    return views


def state_counts(conn: sqlite3.Connection, hosts: Sequence[HostSpec]) -> dict[str, int]:
    """How many configured sites are in each state (sites without a stored state are 'unknown')."""
    names = {h.name for h in hosts}
    counts: dict[str, int] = {}
    for host, state, _ in state_repo.stored_states(conn):
        if host in names:
            counts[state] = counts.get(state, 0) + 1
    counts["unknown"] = counts.get("unknown", 0) + len(names) - sum(counts.values())
    return {state: n for state, n in counts.items() if n}


def view_of(host_state: HostState) -> render.SiteView:
    """Adapt a HostState to what /monitor shows."""
    evidence = host_state.evidence or {}
    return render.SiteView(state=host_state.state.value, since=host_state.since,
                           rtt_ms=_maybe_float(evidence.get("rtt_avg_ms")),
                           loss_percent=_maybe_float(evidence.get("loss_percent")),
                           muted=bool(host_state.muted), flapping=bool(host_state.flapping))


def _maybe_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def last_delivery(conn: sqlite3.Connection, data_dir: Path) -> tuple[datetime | None, float | None]:
    """(acked_at, latency_ms) of the newest delivered message: the timing log's last record (in
    timing.jsonl, or the newest rotated file just after a rotation) unless it is an edit, else the outbox."""
    path = Path(data_dir) / "timing.jsonl"
    record = last_record(path)
    if record is not None and record.get("kind") != "edit":      # an alert edited after a press is not one
        try:
            return datetime.fromisoformat(record["acked_at"]), float(record["latency_ms"])
        except (ValueError, KeyError, TypeError):
            log.warning("the last record of %s is not a timing record; using the outbox instead", path)
    found = outbox_repo.last_delivered(conn)
    if found is None:
        return None, None
    detected, acked = found
    return acked, (acked - detected) / timedelta(milliseconds=1)


