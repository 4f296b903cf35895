"""Pure renderers of the bot's replies: data in, Telegram HTML text out.

Nothing here reads the store, asks a router or looks at the clock: `handlers.py` gathers the data
(router rows as `RouterClient.query` returns them, site views, events) and calls these. Every
table is aligned in <pre>, every dynamic value escaped, no Python repr ever reaches the chat.
Long replies are split by `netwatchd.textsplit.split_html` at the edge (the poller).
"""

from __future__ import annotations

import html
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from netwatchd.bot import i18n
from netwatchd.bot.i18n import headers, label, say
from netwatchd.bot.text import ago, bits_per_second, byte_size, duration, esc, local_time, plain, table
from netwatchd.config.model import HostSpec
from netwatchd.engine.incidents import Incident
from netwatchd.engine.mutes import Mute
from netwatchd.errors import RouterError, RouterPolicyError
from netwatchd.models import ProbeResult, Transition, state_word
from netwatchd.router.netwatch import CrossCheck
from netwatchd.router.values import ros_bool, ros_number

MENU_ROWS: tuple[tuple[str, ...], ...] = (
    ("monitor", "ping", "status"),
    ("interface", "traffic", "resource"),
    ("dhcp", "address", "pool"),
    ("dns", "neighbor", "history"),
    ("report", "crosscheck", "help"),
)
STATE_ORDER = ("up", "degraded", "path", "down", "unreachable", "unknown")


@dataclass(frozen=True)
class SiteView:
    """What /monitor shows of one site (read from netwatchd's own state in the store)."""

    state: str = "unknown"
    since: datetime | None = None
    rtt_ms: float | None = None
    loss_percent: float | None = None
    muted: bool = False
    flapping: bool = False


@dataclass(frozen=True)
class AgentStatus:
    """What /status shows about netwatchd itself."""

    uptime_s: float
    sites_by_state: dict[str, int]
    outbox_pending: int
    outbox_dead: int
    last_delivery_at: datetime | None
    last_latency_ms: float | None
    commands_answered: int
    routers: tuple[str, ...]
    muted: int = 0
    version: str = ""
    store: Any = None          # netwatchd.store.health.HealthReport of the running agent (None: unknown)


@dataclass(frozen=True)
class Availability:
    """One site's month-to-date availability (percent None: no data yet)."""

    site: str
    percent: float | None
    outages: int
    down_s: float                 # own downtime (the only part counted against the site)
    parent_s: float = 0.0         # unreachable because a parent was down
    maintenance_s: float = 0.0
    blind_s: float = 0.0          # netwatchd not running, or its own uplink lost
    available_s: float = 0.0      # up + degraded (for the time-weighted overall figure)


# --- local commands ---------------------------------------------------------------------------

def render_help(language: str) -> str:
    lines = [f"/{name} — {desc}" for name, desc in i18n.HELP[i18n.lang_of(language)]]
    return "\n".join(lines + ["", i18n.HELP_FOOTER[i18n.lang_of(language)]])


def menu_markups() -> tuple[dict[str, Any], dict[str, Any]]:
    """(reply keyboard, inline keyboard) for /menu. Buttons carry the command itself, so a tap
    is parsed exactly like a typed command."""
    keyboard = {"keyboard": [[{"text": f"/{name}"} for name in row] for row in MENU_ROWS],
                "resize_keyboard": True, "is_persistent": True}
    inline = {"inline_keyboard": [[{"text": name.capitalize(), "callback_data": f"/{name}"} for name in row]
                                  for row in MENU_ROWS]}
    return keyboard, inline


def render_monitor(hosts: Sequence[HostSpec], views: dict[str, SiteView], *, now: datetime, tz: tzinfo,
                   language: str, tz_name: str = "") -> str:
    """Every site, grouped as in the config: state, for how long, last rtt and loss."""
    if not hosts:
        return say(language, "no_sites")
    counts: dict[str, int] = {}
    for host in hosts:
        state = views.get(host.name, SiteView()).state
        counts[state] = counts.get(state, 0) + 1
    summary = ", ".join(f"{counts[s]} {state_word(language, s)}" for s in STATE_ORDER if counts.get(s))
    stamp = local_time(now, tz, now) + (f" {tz_name}" if tz_name else "")
    parts = [say(language, "title_monitor", time=stamp, total=len(hosts), summary=summary)]
    bad = [h.name for h in hosts if views.get(h.name, SiteView()).state in ("down", "unreachable", "degraded",
                                                                            "path")]
    if bad:
        parts.append(say(language, "problems", names=", ".join(bad)))
    groups: dict[str, list[HostSpec]] = {}
    for host in hosts:
        groups.setdefault(host.group, []).append(host)
    any_muted = False
    for group, members in groups.items():
        rows = []
        for host in members:
            view = views.get(host.name, SiteView())
            marks = ("🔕" if view.muted else "") + ("~" if view.flapping else "") or " "
            any_muted = any_muted or view.muted
            rows.append([host.name, state_word(language, view.state), ago(view.since, now),
                         _ms(view.rtt_ms), _percent(view.loss_percent), marks])
        title = group or say(language, "no_group")
        parts.append(f"<b>{esc(title)}</b>\n" + table(headers(language, "site", "state", "since", "rtt", "loss") + [""],
                                                      rows, right=(3, 4)))
    if any_muted:
        parts.append(say(language, "muted_mark"))
    return "\n".join(parts)


def render_ping_result(target: str, result: ProbeResult, language: str) -> str:
    """/ping from the agent: one line verdict with loss and rtt min/avg/max."""
    title = say(language, "title_ping_agent", target=_target_label(target, result.address))
    if result.received == 0 and result.sent == 0 and result.error:
        return title + "\n" + say(language, "ping_error", message=result.error)
    rtt = ""
    if result.rtt_avg_ms is not None:
        rtt = f", rtt {_ms(result.rtt_min_ms)}/{_ms(result.rtt_avg_ms)}/{_ms(result.rtt_max_ms)} ms"
    verdict = say(language, "ping_up" if result.received else "ping_down")
    line = say(language, "ping_summary", verdict=verdict, sent=result.sent, received=result.received,
               loss=_number(result.loss_percent), rtt=rtt)
    if not result.received and result.error:
        line += f" ({esc(result.error)})"
    return title + "\n" + line


def render_ping_router(target: str, address: str, router: str, rows: Sequence[dict[str, Any]],
                       language: str) -> str:
    """/ping ... router: one table row per echo as RouterOS streams them, then its summary."""
    title = say(language, "title_ping_router", target=_target_label(target, address), router=router)
    table_rows = []
    for row in rows:
        if "seq" not in row:
            continue
        table_rows.append([row.get("seq"), row.get("host") or address, row.get("ttl"),
                           row.get("status") or _router_time(row.get("time"))])
    sent = max((int(ros_number(r.get("sent")) or 0) for r in rows), default=0)
    received = max((int(ros_number(r.get("received")) or 0) for r in rows), default=0)
    last = rows[-1] if rows else {}
    loss = ros_number(last.get("packet-loss"))
    if loss is None:
        loss = 100.0 * (sent - received) / sent if sent else 100.0
    rtt = ""
    if received and last.get("avg-rtt") is not None:
        rtt = (f", rtt {_router_time(last.get('min-rtt'))}/{_router_time(last.get('avg-rtt'))}/"
               f"{_router_time(last.get('max-rtt'))}")
    verdict = say(language, "ping_up" if received else "ping_down")
    summary = say(language, "ping_summary", verdict=verdict, sent=sent, received=received,
                  loss=_number(loss), rtt=rtt)
    body = table(headers(language, "seq", "host", "ttl", "time"), table_rows, right=(0, 2)) if table_rows else ""
    return "\n".join(p for p in (title, body, summary) if p)


def render_status(status: AgentStatus, *, now: datetime, tz: tzinfo, language: str) -> str:
    """netwatchd's own health: uptime, sites by state, outbox depth, last delivery latency."""
    sites = ", ".join(f"{status.sites_by_state[s]} {state_word(language, s)}" for s in STATE_ORDER
                      if status.sites_by_state.get(s))
    latency = "-"
    if status.last_latency_ms is not None:
        latency = f"{status.last_latency_ms:.0f} ms ({local_time(status.last_delivery_at, tz, now)})"
    pairs = [
        (label(language, "uptime"), duration(status.uptime_s)),
        (label(language, "sites"), sites or "0"),
        (label(language, "muted"), status.muted),
        (label(language, "outbox"), status.outbox_pending),
        (label(language, "dead"), status.outbox_dead),
        (label(language, "last_delivery"), latency),
        (label(language, "commands"), status.commands_answered),
        (label(language, "routers"), ", ".join(status.routers) or "-"),
    ]
    if status.version:
        pairs.append((label(language, "version"), status.version))
    store = status.store
    if store is not None:
        pairs.append((label(language, "store"), say(language, "store_ok" if store.ok else "store_bad")))
    text = say(language, "title_status") + "\n" + _pairs(pairs)
    if store is not None and not store.ok:
        text += "\n\n" + render_store_problem(store, now=now, tz=tz, language=language)
    return text


def render_store_problem(store: Any, *, now: datetime, tz: Any, language: str) -> str:
    """The paragraph /status adds when the store fails: since when, what, alerts held, what to do."""
    folder = store.folder or "data_dir"
    kind = store.kind if store.kind in ("full", "damaged", "io", "readonly", "locked") else "other"
    # the pieces are plain text: unescaped here, escaped once by the outer say()
    what = html.unescape(say(language, f"store_{kind}", free=byte_size(store.free_bytes), folder=folder))
    held = html.unescape(say(language, "store_held", count=store.held)) if store.held else ""
    todo = html.unescape(say(language, {"full": "store_todo_full", "damaged": "store_todo_damaged"}.get(
        kind, "store_todo_other"), folder=folder))
    detail = store.detail if len(store.detail) <= 200 else store.detail[:199] + "…"
    return say(language, "store_failing", since=local_time(store.since, tz, now), what=what, detail=detail,
               held=held, todo=todo)


def render_history(site: str, events: Sequence[Transition], *, now: datetime, tz: tzinfo, language: str) -> str:
    """Recent events of one site, newest first."""
    if not events:
        return say(language, "history_empty", site=site)
    rows = []
    for event in events:
        change = (f"{state_word(language, event.from_state.value)}→{state_word(language, event.to_state.value)}"
                  if event.kind == "state" else f"{event.kind} {state_word(language, event.to_state.value)}")
        if event.kind == "reminder" and not event.notify:
            change += " 🔕"           # recorded, not sent: the outage was acknowledged or snoozed (or muted)
        rows.append([local_time(event.at, tz, now), change, _evidence(event.evidence)])
    return (say(language, "title_history", site=site, count=len(events)) + "\n"
            + table(headers(language, "at", "event", "detail"), rows))


def render_muted(target: str, until: datetime, seconds: float, *, now: datetime, tz: tzinfo, language: str) -> str:
    return say(language, "muted", target=target, until=local_time(until, tz, now), duration=duration(seconds))


def render_mutes(mutes: Sequence[Mute], *, now: datetime, tz: tzinfo, language: str) -> str:
    """Active mutes (objects with target, until, by, reason)."""
    if not mutes:
        return say(language, "no_mutes")
    rows = [[getattr(m, "target", "-"), local_time(getattr(m, "until", None), tz, now),
             getattr(m, "by", "") or "-", getattr(m, "reason", "") or "-"] for m in mutes]
    return (say(language, "title_mutes", count=len(rows)) + "\n"
            + table(headers(language, "site", "until", "by", "detail"), rows))


def render_report(rows: Sequence[Availability], *, month: str, now: datetime, tz: tzinfo, language: str) -> str:
    """Month-to-date availability (own downtime over observable time), worst sites first, with
    the parts that do not count shown beside it."""
    if not rows:
        return say(language, "no_sites")
    ordered = sorted(rows, key=lambda r: (r.percent if r.percent is not None else 101.0, r.site))
    observed = sum(r.available_s + r.down_s for r in rows)
    if observed > 0:
        overall = f"{100.0 * sum(r.available_s for r in rows) / observed:.2f}"
    else:
        known = [r.percent for r in rows if r.percent is not None]
        overall = f"{sum(known) / len(known):.2f}" if known else "-"

    def span(seconds: float) -> str:
        return duration(seconds) if seconds else "-"

    body = table(headers(language, "site", "availability", "down", "parent", "maintenance", "blind"),
                 [[r.site, f"{r.percent:.2f}%" if r.percent is not None else "-", span(r.down_s), span(r.parent_s),
                   span(r.maintenance_s), span(r.blind_s)] for r in ordered], right=(1, 2, 3, 4, 5))
    lines = [say(language, "title_report", month=month, time=local_time(now, tz, now)),
             say(language, "report_overall", percent=overall, outages=sum(r.outages for r in rows),
                 down=span(sum(r.down_s for r in rows)))]
    excused = [sum(getattr(r, f) for r in rows) for f in ("parent_s", "maintenance_s", "blind_s")]
    if any(excused):
        lines.append(say(language, "report_excused", parent=span(excused[0]), maintenance=span(excused[1]),
                         blind=span(excused[2])))
    return "\n".join([*lines, body])


# --- incidents: /ack, /snooze, /diagnose, /history --------------------------------------------

def incident_status(incident: Incident, *, now: datetime, tz: Any, language: str) -> str:
    """'✅ @budi 10:05' / '🔕 until 11:05' / 'not acknowledged ⏫ level 1' (plain text)."""
    if incident.acked_at is not None:
        text = i18n.say(language, "status_acked", who=incident.acked_by or "?",
                        time=local_time(incident.acked_at, tz, now))
    elif incident.snoozed(now):
        text = i18n.say(language, "status_snoozed", time=local_time(incident.snoozed_until, tz, now))
    else:
        text = i18n.say(language, "status_waiting")
    if incident.escalated:
        text += " " + i18n.say(language, "status_escalated", level=max(level for level, _ in incident.escalated) + 1)
    return html.unescape(text)


def render_open_incidents(incidents: Sequence[Incident], *, now: datetime, tz: Any, language: str) -> str:
    """/ack without a site: the open outages, the ones nobody acknowledged first, oldest first."""
    if not incidents:
        return say(language, "no_open")
    ordered = sorted(incidents, key=lambda i: (i.acked_at is not None, i.opened_at))
    rows = [[_incident_host(i.host, language), i.kind.upper(), local_time(i.opened_at, tz, now),
             duration((now - i.opened_at).total_seconds()), incident_status(i, now=now, tz=tz, language=language)]
            for i in ordered]
    return "\n".join([say(language, "title_open", count=len(rows)),
                      table(headers(language, "site", "state", "since", "down", "status"), rows),
                      say(language, "open_usage")])


def render_incident_lines(incidents: Sequence[Incident], *, now: datetime, tz: Any, language: str) -> str:
    """The recent outages of a site for /history: opened, who acknowledged or snoozed it and when,
    escalation levels sent, how it ended."""
    if not incidents:
        return ""
    rows = []
    for incident in incidents:
        end = (f"🟢 {local_time(incident.resolved_at, tz, now)} "
               f"({duration((incident.resolved_at - incident.opened_at).total_seconds())})"
               if incident.resolved_at is not None else "…")
        rows.append([local_time(incident.opened_at, tz, now), incident.kind.upper(),
                     incident_status(incident, now=now, tz=tz, language=language), end])
    return say(language, "title_incidents") + "\n" + table(headers(language, "at", "state", "status", "ended"), rows)


def render_diagnose(site: HostSpec, view: SiteView, evidence: dict[str, Any], ping: str, router_ping: str | None,
                    parent: tuple[str, str] | None, *, now: datetime, tz: Any, language: str) -> str:
    """🔍 Diagnose: the site's state, its last evidence, its parent's state, a ping from the server
    now and (with a router) one from the router."""
    lines = [say(language, "title_diagnose", site=site.name, address=site.address,
                 state=state_word(language, view.state), since=ago(view.since, now))]
    if evidence:
        lines.append(say(language, "diagnose_last", evidence=_evidence(evidence)))
    if parent is not None:
        lines.append(say(language, "diagnose_parent", parent=parent[0], state=state_word(language, parent[1])))
    lines.append(ping)
    if router_ping:
        lines.append(router_ping)
    return "\n".join(lines)


def _incident_host(host: str, language: str) -> str:
    return "server" if host == "__self__" else host


# --- router commands --------------------------------------------------------------------------

def render_dhcp(rows: Sequence[dict[str, Any]], router: str, language: str) -> str:
    body = table(headers(language, "address", "mac", "host", "status", "expires"),
                 [[r.get("address"), r.get("mac-address"), r.get("host-name"), r.get("status"),
                   r.get("expires-after")] for r in rows]) if rows else say(language, "nothing")
    return say(language, "title_dhcp", router=router, count=len(rows)) + "\n" + body


def render_address(rows: Sequence[dict[str, Any]], router: str, language: str) -> str:
    body = table(headers(language, "address", "interface", "network", "flags"),
                 [[r.get("address"), r.get("interface"), r.get("network"), _flags(r)] for r in rows]
                 ) if rows else say(language, "nothing")
    return say(language, "title_address", router=router) + "\n" + body


def render_pool(pools: Sequence[dict[str, Any]], used: Sequence[dict[str, Any]], router: str,
                language: str) -> str:
    """Pools with usage: addresses handed out (from /ip/pool/used) over the pool's size."""
    in_use: dict[str, int] = {}
    for row in used:
        name = str(row.get("pool", ""))
        in_use[name] = in_use.get(name, 0) + 1
    rows = []
    for pool in pools:
        name = str(pool.get("name", "-"))
        size = pool_size(str(pool.get("ranges", "")))
        count = in_use.get(name, 0)
        share = f"{100.0 * count / size:.0f}%" if size else "-"
        rows.append([name, pool.get("ranges"), f"{count}/{size or '?'}", share])
    body = table(headers(language, "name", "ranges", "used") + ["%"], rows, right=(2, 3)
                 ) if rows else say(language, "nothing")
    return say(language, "title_pool", router=router) + "\n" + body


def render_traffic(samples: Sequence[tuple[str, dict[str, Any]]], router: str, language: str) -> str:
    """One monitor-traffic sample per interface: rx/tx bit/s, humanized."""
    rows = [[name, bits_per_second(s.get("rx-bits-per-second")), bits_per_second(s.get("tx-bits-per-second"))]
            for name, s in samples]
    body = table(headers(language, "interface", "rx", "tx"), rows, right=(1, 2)) if rows else say(language, "nothing")
    return say(language, "title_traffic", router=router) + "\n" + body


def render_interface(rows: Sequence[dict[str, Any]], router: str, language: str) -> str:
    """Interfaces: R running / X disabled / - no link, link-downs, rx/tx byte counters."""
    table_rows = []
    for r in rows:
        flag = "X" if ros_bool(r.get("disabled")) else ("R" if ros_bool(r.get("running")) else "-")
        table_rows.append([flag, r.get("name"), r.get("link-downs", 0), byte_size(r.get("rx-byte")),
                           byte_size(r.get("tx-byte"))])
    body = table(["", *headers(language, "name", "downs", "rx", "tx")], table_rows, right=(2, 3, 4)
                 ) if rows else say(language, "nothing")
    return "\n".join([say(language, "title_interface", router=router), body, say(language, "interface_legend")])


def render_dns(row: dict[str, Any], router: str, language: str) -> str:
    size, used = _kib(row.get("cache-size")), _kib(row.get("cache-used"))
    cache = f"{_number(used) if used is not None else '-'} / {_number(size) if size is not None else '-'} KiB"
    if size and used is not None:
        cache += f" ({100.0 * used / size:.0f}%)"
    pairs = [(label(language, "servers"), row.get("servers")),
             (label(language, "dynamic_servers"), row.get("dynamic-servers")),
             (label(language, "remote"), ros_bool(row.get("allow-remote-requests"))),
             (label(language, "cache"), cache)]
    return say(language, "title_dns", router=router) + "\n" + _pairs(pairs)


def render_neighbor(rows: Sequence[dict[str, Any]], router: str, language: str) -> str:
    body = table(headers(language, "identity", "address", "interface", "platform", "version"),
                 [[r.get("identity"), r.get("address"), r.get("interface"), r.get("board") or r.get("platform"),
                   r.get("version")] for r in rows]) if rows else say(language, "nothing")
    return say(language, "title_neighbor", router=router) + "\n" + body


def render_resource(row: dict[str, Any], router: str, language: str) -> str:
    total, free = ros_number(row.get("total-memory")), ros_number(row.get("free-memory"))
    memory = "-"
    if total:
        memory = f"{byte_size(total - (free or 0))} / {byte_size(total)} ({100.0 * (total - (free or 0)) / total:.0f}%)"
    disk_total, disk_free = ros_number(row.get("total-hdd-space")), ros_number(row.get("free-hdd-space"))
    disk = f"{byte_size(disk_free)} free / {byte_size(disk_total)}" if disk_total else "-"
    cpu = row.get("cpu-load")
    pairs = [(label(language, "board"), row.get("board-name")),
             (label(language, "version"), row.get("version")),
             (label(language, "uptime"), row.get("uptime")),
             (label(language, "cpu"), f"{plain(cpu)}%" if cpu is not None else "-"),
             (label(language, "memory"), memory),
             (label(language, "disk"), disk),
             (label(language, "arch"), row.get("architecture-name"))]
    return say(language, "title_resource", router=router) + "\n" + _pairs(pairs)


def render_crosscheck(result: CrossCheck, router: str, *, now: datetime, tz: tzinfo, language: str) -> str:
    """A netwatchd.router.netwatch.CrossCheck: disagreements (each side's state and since), sites
    only netwatchd watches, entries only the router watches."""
    parts = [say(language, "title_crosscheck", router=router)]
    disagree = list(result.disagreements)
    if disagree:
        rows = [[c.site, state_word(language, c.ours_detail), local_time(c.ours_since, tz, now),
                 c.router.upper(), local_time(c.router_since, tz, now)] for c in disagree]
        parts.append(say(language, "cc_disagree", count=len(rows)) + "\n"
                     + table(headers(language, "site", "ours", "since", "theirs", "since"), rows))
    else:
        parts.append(say(language, "cc_all_agree", count=sum(1 for c in result.both if c.agree)))
    unknown = [c.site for c in result.both if c.agree is None]
    if unknown:
        parts.append(say(language, "cc_unknown", count=len(unknown), names=", ".join(unknown)))
    if result.only_netwatchd:
        parts.append(say(language, "cc_only_ours", count=len(result.only_netwatchd)) + "\n"
                     + table(headers(language, "site", "address"),
                             [[h.name, h.address] for h in result.only_netwatchd]))
    if result.only_router:
        parts.append(say(language, "cc_only_router", count=len(result.only_router)) + "\n"
                     + table(headers(language, "name", "address", "status"),
                             [[e.label, e.host, "disabled" if e.disabled else e.status] for e in result.only_router]))
    return "\n".join(parts)


def render_router_error(message: str, language: str) -> str:
    """A RouterError's message (it names the router: "router core (10.0.0.1:8728): ...") as one line."""
    line = " ".join(message.split()) or "-"
    return say(language, "router_error", message=line[0].upper() + line[1:])


def render_router_failure(error: RouterError, message: str, language: str) -> str:
    """One line for a router failure: a missing user-group policy in the admin's language, naming the
    policy; anything else as its (already redacted) `message`."""
    if isinstance(error, RouterPolicyError) and error.policy:
        return say(language, "router_policy", router=error.router, command=error.command, user=error.user,
                   policy=error.policy)
    return render_router_error(message, language)


# --- helpers ----------------------------------------------------------------------------------

def pool_size(ranges: str) -> int:
    """Addresses in a RouterOS pool's `ranges` ('10.0.0.10-10.0.0.99,10.0.1.0/24,10.0.2.5'); 0 if unparsable."""
    total = 0
    for part in filter(None, (p.strip() for p in ranges.split(","))):
        try:
            if "-" in part:
                first, last = (ipaddress.ip_address(x.strip()) for x in part.split("-", 1))
                total += int(last) - int(first) + 1
            elif "/" in part:
                total += ipaddress.ip_network(part, strict=False).num_addresses
            else:
                ipaddress.ip_address(part)
                total += 1
        except ValueError:
            return 0
    return max(total, 0)


def _pairs(pairs: Sequence[tuple[str, Any]]) -> str:
    return table(None, [[k, v] for k, v in pairs])


def _flags(row: dict[str, Any]) -> str:
    """X disabled, D dynamic; a blank (not '-') when neither."""
    return ("X" if ros_bool(row.get("disabled")) else "") + ("D" if ros_bool(row.get("dynamic")) else "") or " "


def _kib(value: Any) -> float | None:
    """RouterOS sizes: '2048KiB', '2MiB' or a bare number of KiB -> KiB."""
    text = plain(value).strip()
    for suffix, factor in (("KiB", 1.0), ("MiB", 1024.0), ("GiB", 1048576.0)):
        if text.endswith(suffix):
            number = ros_number(text[:-len(suffix)])
            return None if number is None else number * factor
    return ros_number(text)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value:.2f}"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{_number(value)}%"


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _router_time(value: Any) -> str:
    """RouterOS v7 '1ms234us' / v6 '12ms' / bare numbers -> shown as the router wrote it, in ms."""
    if value is None:
        return "-"
    text = str(value)
    return f"{text}ms" if text.replace(".", "", 1).isdigit() else text


def _target_label(target: str, address: str) -> str:
    return target if target == address else f"{target} ({address})"


def _evidence(evidence: dict[str, Any]) -> str:
    """The detail column of /history: the probe's figures, the via router's vote, the cause of a
    recovery, a router's health figure (short: it is one cell of a phone-width table)."""
    parts = []
    vote = evidence.get("confirm")
    if isinstance(vote, dict):
        via = vote.get("via", "?")
        if vote.get("result") == "down":
            parts.append(f"{via} {vote.get('received', 0)}/{vote.get('sent', 0)}")
        elif vote.get("result") == "reachable":
            parts.append(f"{via} ok {vote.get('received', 0)}/{vote.get('sent', 0)}")
        else:
            parts.append(f"{via} ?")
    cause = evidence.get("cause")
    if isinstance(cause, dict) and cause.get("result"):
        parts.append({"restarted": "restarted", "link": "link back"}.get(str(cause["result"]), "cause ?"))
    if evidence.get("item") and evidence.get("value") is not None:
        parts.append(f"{evidence['item']} {_number(float(evidence['value']))}")
    routers, parts = parts, []
    if evidence.get("loss_percent") is not None:
        parts.append(f"loss {_number(float(evidence['loss_percent']))}%")
    if evidence.get("rtt_avg_ms") is not None:
        parts.append(f"rtt {_ms(float(evidence['rtt_avg_ms']))}ms")
    if evidence.get("failures_in_row"):
        parts.append(f"{evidence['failures_in_row']}x")
    if evidence.get("error") and not parts and not routers:
        parts.append(str(evidence["error"])[:40])
    return " ".join(parts + routers) or "-"
