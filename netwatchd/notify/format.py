"""Alert text: pure functions from Transitions to Telegram HTML (Indonesian by default, or English).

Every dynamic value (site name, address, error text, ...) is HTML-escaped before it is put into
a template; templates themselves are trusted HTML from the code or from `telegram.templates`.

Templates use `{placeholder}` ( `{{` and `}}` for literal braces). A template line whose
placeholders all render empty is left out (no "Evidence:" line without evidence).
Keys (TEMPLATE_KEYS): down, up, degraded, unreachable, unknown, path (a state change to that state),
path_end (PATH -> UP: the path is back), flapping, stable, reminder, maintenance_end, uplink_lost,
uplink_back, startup, crosscheck + crosscheck_agree (the router's Netwatch disagrees / agrees again),
router_health + router_ok (a router's own figure past / back within its threshold), router_restart,
escalation + escalated (an unacknowledged outage sent to an escalation level / the note in its
thread that it was),
group_header + group_line (several alerts merged into one message), test (test-notify).
Placeholders (PLACEHOLDERS): icon, host, address, group, state, from_state, at, time, since,
duration, evidence, affected, affected_count, affected_line, count, summary, server, note,
confirm (the via router's vote), diagnosis (its evidence, one line each), cause (why a site came back).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from netwatchd.config.model import DEFAULT_TIMEZONE, time_zone
from netwatchd.config.templates import FIELD as _FIELD
from netwatchd.config.templates import TEMPLATE_KEYS, check_templates
from netwatchd.models import LANGUAGES, State, Transition, TransitionKind, state_word
from netwatchd.notify.vote_text import (
    cause_line,
    diagnosis_lines,
    health_note,
    restart_note,
    vote_line,
    vote_short,
)
from netwatchd.textsplit import TELEGRAM_LIMIT, split_html, utf16_len

log = logging.getLogger(__name__)

MAX_MESSAGE = TELEGRAM_LIMIT

_KIND_LABELS = {
    "id": {"flapping": "FLAPPING", "stable": "STABIL", "reminder": "MASIH DOWN",
           "maintenance_end": "SELESAI PEMELIHARAAN", "uplink_lost": "UPLINK PUTUS",
           "uplink_back": "UPLINK PULIH", "startup": "MULAI", "reload": "KONFIGURASI DIMUAT ULANG",
           "crosscheck": "BEDA DENGAN NETWATCH",
           "crosscheck_agree": "SESUAI LAGI DENGAN NETWATCH", "router_health": "KESEHATAN ROUTER",
           "router_restart": "ROUTER RESTART", "escalation": "ESKALASI", "escalated": "DIESKALASI"},
    "en": {"flapping": "FLAPPING", "stable": "STABLE", "reminder": "STILL DOWN",
           "maintenance_end": "MAINTENANCE OVER", "uplink_lost": "UPLINK LOST",
           "uplink_back": "UPLINK BACK", "startup": "STARTED", "reload": "CONFIG RELOADED",
           "crosscheck": "NETWATCH DISAGREES",
           "crosscheck_agree": "NETWATCH AGREES AGAIN", "router_health": "ROUTER HEALTH",
           "router_restart": "ROUTER RESTARTED", "escalation": "ESCALATED",
           "escalated": "ESCALATED"},
}
_ICONS = {"down": "🔴", "up": "🟢", "degraded": "🟡", "unreachable": "⛔", "unknown": "⚪",
          "flapping": "🟠", "stable": "🔵", "reminder": "🔴", "maintenance_end": "🛠",
          "uplink_lost": "⚠️", "uplink_back": "✅", "startup": "ℹ️", "reload": "📝", "test": "✅", "crosscheck": "🔀",
          "crosscheck_agree": "🤝", "path": "🟣", "path_end": "🟢", "router_health": "🟡", "router_ok": "🟢",
          "router_restart": "🔄", "escalation": "⏫", "escalated": "⏫"}
_WORDS: dict[str, dict[str, Any]] = {
    "id": {"site": "situs", "sites": "situs", "unreachable_child": "situs tak terjangkau",
           "unreachable_children": "situs tak terjangkau", "changes_label": "perubahan",
           "back_child": "situs ikut pulih", "back_children": "situs ikut pulih",
           "in_row": "gagal berturut-turut", "max": "maks", "changes": "perubahan",
           "outage": "padam", "units": ("hari", "jam", "mnt", "dtk"), "no_reply": "tak ada jawaban dari",
           "server": "Server monitoring", "unreachable": "tak terjangkau", "now": "kini",
           "outages": "{count} kali padam dalam {duration} (sejak {since})",
           "changing": "Statusnya berganti-ganti sejak {at}"},
    "en": {"site": "site", "sites": "sites", "unreachable_child": "site unreachable",
           "unreachable_children": "sites unreachable", "changes_label": "changes",
           "back_child": "site back with it", "back_children": "sites back with it",
           "in_row": "failures in a row", "max": "max", "changes": "changes",
           "outage": "out for", "units": ("d", "h", "min", "s"), "no_reply": "no reply from",
           "server": "Monitoring server", "unreachable": "unreachable", "now": "now",
           "outages": "{count} outages in {duration} (since {since})",
           "changing": "Its state keeps changing since {at}"},
}

DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "id": {
        "down": "{icon} <b>{host} {state}</b>{affected_line}\nAlamat: {address}\nSejak: {at}\n"
                "Bukti: {evidence}\n{confirm}\n{diagnosis}",
        "up": "{icon} <b>{host} {state}</b>{affected_line}\nAlamat: {address}\nPulih: {at}\n"
              "Lama padam: {duration} (sejak {since})\n{cause}",
        "degraded": "{icon} <b>{host} {state}</b>\nAlamat: {address}\nSejak: {at}\nBukti: {evidence}",
        "unreachable": "{icon} <b>{host} {state}</b>\nAlamat: {address}\nSejak: {at}\nBukti: {evidence}",
        "unknown": "{icon} <b>{host} {state}</b>\nAlamat: {address}\nSejak: {at}",
        "flapping": "{icon} <b>{host} FLAPPING</b>, kini {state}{affected_line}\nAlamat: {address}\n"
                    "{summary}; peringatan untuknya ditahan sampai stabil lagi.\nBukti: {evidence}",
        "stable": "{icon} <b>{host} STABIL</b>, kini {state}\nAlamat: {address}\nPada: {at}",
        "reminder": "{icon} <b>{host} masih {state}</b>\nAlamat: {address}\nSejak: {since} "
                    "({duration})\nBukti: {evidence}",
        "maintenance_end": "{icon} <b>{host}</b>: pemeliharaan selesai, kini <b>{state}</b>\n"
                           "Alamat: {address}\nPada: {at}",
        "uplink_lost": "{icon} <b>Server monitoring kehilangan jaringan</b>\nSejak: {at}\n"
                       "Status situs tidak dapat dinilai sampai jaringan kembali.\nBukti: {evidence}",
        "uplink_back": "{icon} <b>Server monitoring terhubung kembali</b>\nPada: {at}\n"
                       "Terputus selama: {duration}\nPerubahan selama terputus: {summary}",
        "startup": "{icon} <b>netwatchd mulai memantau</b>: {summary}\nPada: {at}",
        "reload": "{icon} <b>hosts.yaml dimuat ulang</b>: {summary}\nPada: {at}",
        "crosscheck": "{icon} <b>{host} {state}</b>\nAlamat: {address}\nDiperiksa: {at}\nBukti: {evidence}\n"
                      "Catatan: {note}",
        "crosscheck_agree": "{icon} <b>{host} {state}</b>\nAlamat: {address}\nPada: {at}\n"
                            "Sempat berbeda: {duration} (sejak {since})\nBukti: {evidence}",
        "group_header": "{icon} <b>{summary}</b>",
        "group_line": "{icon} <b>{host}</b> ({address}) {state} {time}{evidence}",
        "test": "{icon} <b>Tes netwatchd</b>\nPesan uji dari {server} pada {at}.\n"
                "Jika pesan ini sampai, peringatan juga akan sampai ke chat ini.",
        "path": "{icon} <b>{host} {state}</b>\n{confirm}\nAlamat: {address}\nSejak: {at}\nBukti: {evidence}\n"
                "{diagnosis}",
        "path_end": "{icon} <b>{host} terjangkau lagi</b>: jalur dari server ini pulih\nAlamat: {address}\n"
                    "Pada: {at}\nGangguan jalur selama: {duration} (sejak {since})",
        "router_health": "{icon} <b>{host} {state}</b>: {note}\nAlamat: {address}\nPada: {at}",
        "router_ok": "{icon} <b>{host} normal kembali</b>: {note}\nAlamat: {address}\nPada: {at}",
        "router_restart": "{icon} <b>{host} restart</b>\nAlamat: {address}\nPada: {at}\n{note}",
        "escalation": "{icon} <b>{host} {state}</b> — belum ditangani setelah {duration}{affected_line}\n"
                      "Alamat: {address}\nSejak: {since}\nBukti: {evidence}\n{note}",
        "escalated": "{icon} <b>{host}</b> belum ditangani setelah {duration}: {note}",
    },
    "en": {
        "down": "{icon} <b>{host} {state}</b>{affected_line}\nAddress: {address}\nSince: {at}\n"
                "Evidence: {evidence}\n{confirm}\n{diagnosis}",
        "up": "{icon} <b>{host} {state}</b>{affected_line}\nAddress: {address}\nRecovered: {at}\n"
              "Outage: {duration} (since {since})\n{cause}",
        "degraded": "{icon} <b>{host} {state}</b>\nAddress: {address}\nSince: {at}\nEvidence: {evidence}",
        "unreachable": "{icon} <b>{host} {state}</b>\nAddress: {address}\nSince: {at}\nEvidence: {evidence}",
        "unknown": "{icon} <b>{host} {state}</b>\nAddress: {address}\nSince: {at}",
        "flapping": "{icon} <b>{host} FLAPPING</b>, now {state}{affected_line}\nAddress: {address}\n"
                    "{summary}; alerts for it are held until it is stable again.\nEvidence: {evidence}",
        "stable": "{icon} <b>{host} STABLE</b>, now {state}\nAddress: {address}\nAt: {at}",
        "reminder": "{icon} <b>{host} still {state}</b>\nAddress: {address}\nSince: {since} "
                    "({duration})\nEvidence: {evidence}",
        "maintenance_end": "{icon} <b>{host}</b>: maintenance over, now <b>{state}</b>\n"
                           "Address: {address}\nAt: {at}",
        "uplink_lost": "{icon} <b>The monitoring server lost its network</b>\nSince: {at}\n"
                       "Site states cannot be judged until it is back.\nEvidence: {evidence}",
        "uplink_back": "{icon} <b>The monitoring server is back online</b>\nAt: {at}\n"
                       "Offline for: {duration}\nChanges while offline: {summary}",
        "startup": "{icon} <b>netwatchd started watching</b>: {summary}\nAt: {at}",
        "reload": "{icon} <b>hosts.yaml reloaded</b>: {summary}\nAt: {at}",
        "crosscheck": "{icon} <b>{host} {state}</b>\nAddress: {address}\nChecked: {at}\nEvidence: {evidence}\n"
                      "Note: {note}",
        "crosscheck_agree": "{icon} <b>{host} {state}</b>\nAddress: {address}\nAt: {at}\n"
                            "Disagreed for: {duration} (since {since})\nEvidence: {evidence}",
        "group_header": "{icon} <b>{summary}</b>",
        "group_line": "{icon} <b>{host}</b> ({address}) {state} {time}{evidence}",
        "test": "{icon} <b>netwatchd test</b>\nTest message from {server} at {at}.\n"
                "If you can read this, alerts will reach this chat too.",
        "path": "{icon} <b>{host} {state}</b>\n{confirm}\nAddress: {address}\nSince: {at}\nEvidence: {evidence}\n"
                "{diagnosis}",
        "path_end": "{icon} <b>{host} reachable again</b>: the path from this server is back\nAddress: {address}\n"
                    "At: {at}\nPath problem for: {duration} (since {since})",
        "router_health": "{icon} <b>{host} {state}</b>: {note}\nAddress: {address}\nAt: {at}",
        "router_ok": "{icon} <b>{host} back to normal</b>: {note}\nAddress: {address}\nAt: {at}",
        "router_restart": "{icon} <b>{host} restarted</b>\nAddress: {address}\nAt: {at}\n{note}",
        "escalation": "{icon} <b>{host} {state}</b> — not acknowledged after {duration}{affected_line}\n"
                      "Address: {address}\nSince: {since}\nEvidence: {evidence}\n{note}",
        "escalated": "{icon} <b>{host}</b> not acknowledged after {duration}: {note}",
    },
}
assert all(tuple(texts) == TEMPLATE_KEYS for texts in DEFAULT_TEMPLATES.values()), "template keys out of step"
_warned_templates: set[tuple[str, str]] = set()
_TAG = re.compile(r"<[^>]*>")


# -- small pure helpers ---------------------------------------------------------------------------

def format_time(moment: datetime, tz: tzinfo | None) -> str:
    """27/11/2026 21:03:05 WIB: `moment` in `tz` (Config.tz; None: the default config's zone, WIB)."""
    local = moment.astimezone(tz if tz is not None else time_zone(DEFAULT_TIMEZONE))
    return f"{local:%d/%m/%Y %H:%M:%S} {local.tzname()}"


def format_duration(seconds: float, language: str) -> str:
    """The two largest units: "2 hari 3 jam", "5 mnt 3 dtk" / "1 h 5 min", "42 s"."""
    units = _WORDS[_lang(language)]["units"]
    remaining = max(0, int(round(seconds)))
    values = []
    for size, name in zip((86400, 3600, 60, 1), units, strict=True):
        amount, remaining = divmod(remaining, size)
        values.append((amount, name))
    shown = [f"{amount} {name}" for amount, name in values if amount]
    return " ".join(shown[:2]) if shown else f"0 {units[-1]}"


def _number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number == int(number):
        return str(int(number))
    return f"{number:.1f}" if abs(number) >= 10 else f"{number:.2f}".rstrip("0").rstrip(".")


def format_evidence(evidence: Mapping[str, Any], language: str, *, with_vote: bool = False) -> str:
    """"loss 100%, rtt 12.3 ms (max 40 ms), 3 failures in a row, error: timeout" (not escaped).
    with_vote: add the via router's vote and a router's health figure (a line of a grouped message)."""
    words = _WORDS[_lang(language)]
    parts: list[str] = []
    if with_vote and evidence.get("item"):
        note = health_note(evidence, _lang(language))
        if note:
            parts.append(note)
    if evidence.get("loss_percent") is not None:
        parts.append(f"loss {_number(evidence['loss_percent'])}%")
    if evidence.get("rtt_avg_ms") is not None:
        rtt = f"rtt {_number(evidence['rtt_avg_ms'])} ms"
        if evidence.get("rtt_max_ms") is not None:
            rtt += f" ({words['max']} {_number(evidence['rtt_max_ms'])} ms)"
        parts.append(rtt)
    if evidence.get("jitter_ms") is not None:
        parts.append(f"jitter {_number(evidence['jitter_ms'])} ms")
    if evidence.get("http_status") is not None:
        parts.append(f"HTTP {evidence['http_status']}")
    if evidence.get("failures_in_row"):
        parts.append(f"{evidence['failures_in_row']} {words['in_row']}")
    if evidence.get("error"):
        parts.append(f"error: {evidence['error']}")
    if evidence.get("flap_percent") is not None:
        parts.append(f"flapping {_number(evidence['flap_percent'])}%")
    if evidence.get("router_status"):       # a Netwatch cross-check: what each side says
        parts.append(f"Netwatch {evidence.get('router', '?')}: {evidence['router_status']}, "
                     f"netwatchd: {evidence.get('netwatchd_state', '?')}")
    anchors = evidence.get("anchors")
    if anchors:
        listed = ", ".join(map(str, anchors)) if isinstance(anchors, (list, tuple)) else str(anchors)
        parts.append(f"{words['no_reply']} {listed}")
    if with_vote and isinstance(evidence.get("confirm"), Mapping):
        parts.append(vote_short(evidence["confirm"], _lang(language)))
    return ", ".join(parts)


def to_plain_text(text: str) -> str:
    """Telegram HTML -> what a console shows (tags removed, entities decoded)."""
    return html.unescape(_TAG.sub("", text))


# -- templates -------------------------------------------------------------------------------

def _fill(template: str, values: Mapping[str, str]) -> str:
    """Substitute {name}; drop a line whose placeholders all rendered empty (a label with nothing
    after it, or a line that is only an optional placeholder such as {confirm})."""
    lines = []
    for line in template.split("\n"):
        names = [m.group(1) for m in _FIELD.finditer(line) if m.group(1) is not None]
        if names and all(not values.get(name, "") for name in names):
            continue
        lines.append(_FIELD.sub(lambda m: {"{{": "{", "}}": "}"}.get(m.group(0))
                                or values.get(m.group(1) or "", m.group(0)), line))
    return "\n".join(lines)


def _template(key: str, language: str, overrides: Mapping[str, str] | None) -> str:
    if overrides and key in overrides:
        custom = overrides[key]
        if not check_templates({key: custom}):
            return custom
        if (key, custom) not in _warned_templates:       # once per template, not per message
            _warned_templates.add((key, custom))
            log.warning("telegram.templates.%s is invalid: using the built-in text", key)
    return DEFAULT_TEMPLATES[_lang(language)][key]


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "id"


# -- rendering -------------------------------------------------------------------------------

def _template_key(t: Transition) -> str:
    if t.kind == "state":
        if t.from_state == State.PATH and t.to_state == State.UP:
            return "path_end"
        return t.to_state.value
    if t.kind == "router_health":
        return "router_health" if t.to_state != State.UP else "router_ok"
    return t.kind if t.kind in TEMPLATE_KEYS else t.to_state.value


def _label(t: Transition, language: str) -> str:
    lang = _lang(language)
    if t.kind == "state" or t.kind not in _KIND_LABELS[lang]:
        return state_word(lang, t.to_state)
    return _KIND_LABELS[lang][t.kind]


def _values(t: Transition, language: str, tz: tzinfo | None) -> dict[str, str]:
    lang = _lang(language)
    words = _WORDS[lang]
    esc = html.escape
    affected = ", ".join(t.affected)
    duration = format_duration((t.at - t.since).total_seconds(), lang) if t.since else ""
    summary = ""
    if t.kind == "startup":
        summary = _startup_summary(t, lang)
    elif t.kind == "reload":
        summary = _reload_summary(t, lang)
    elif t.kind == "uplink_back":
        summary = _changes_summary(t.evidence.get("changes"), lang)
    elif t.kind == "flapping":
        summary = _flapping_summary(t, lang, tz)
    key = _template_key(t)
    host = words["server"] if t.kind in _SERVER_KINDS or t.host == "__self__" else t.host
    # a cross-check is a disagreement (or its end), not an outage: its own label and icon, never "DOWN"
    state = _label(t, lang) if t.kind in _CROSSCHECK_KINDS else state_word(lang, t.to_state)
    return {
        "icon": _ICONS.get(key, "🔔"),
        "host": esc(host), "address": esc(t.address), "group": esc(t.group),
        "state": esc(state),
        "from_state": esc(state_word(lang, t.from_state)),
        "at": esc(format_time(t.at, tz)),
        "time": esc(format_time(t.at, tz).split(" ", 1)[1]),
        "since": esc(format_time(t.since, tz)) if t.since else "",
        "duration": esc(duration),
        "evidence": esc(format_evidence(t.evidence, lang)),
        "affected": esc(affected),
        "affected_count": str(len(t.affected)) if t.affected else "",
        "affected_line": (f" — {len(t.affected)} {words[_children_word(t)]}: {esc(affected)}"
                          if t.affected and t.kind not in _SERVER_KINDS else ""),
        "summary": esc(summary), "count": "1", "server": "",
        "note": esc(_note(t, lang, tz)),
        "confirm": esc(vote_line(t.evidence.get("confirm"), t.host, lang, to_path=t.to_state == State.PATH)),
        "diagnosis": "\n".join("• " + esc(line) for line in diagnosis_lines(t.evidence.get("diagnosis"), lang,
                                                                              _zone(tz))),
        "cause": esc(cause_line(t.evidence.get("cause"), t.host, lang, format_duration)),
    }


def _zone(tz: tzinfo | None) -> tzinfo:
    return tz if tz is not None else time_zone(DEFAULT_TIMEZONE)


def _note(t: Transition, language: str, tz: tzinfo | None) -> str:
    if t.kind == "crosscheck":
        return crosscheck_note(t.evidence, language)
    if t.kind == "router_health":
        return health_note(t.evidence, language)
    if t.kind == "router_restart":
        return restart_note(t.evidence, language, format_duration, _zone(tz))
    if t.kind in ("escalation", "escalated"):
        return escalation_note(t, language, tz)
    return ""


def escalation_note(t: Transition, language: str, tz: tzinfo | None) -> str:
    """Who was told and what this level is (not escaped): "level 1 of 2; told before: chat
    -100111 at 10:03:05 WIB; nobody acknowledged it", or for the note in the thread "escalated to
    chat -1002222 (level 1 of 2)"."""
    evidence = t.evidence
    level, levels = evidence.get("level"), evidence.get("levels")
    where = f"{level}/{levels}" if level and levels else str(level or "?")
    if t.kind == "escalated":
        chats = ", ".join(str(c) for c in evidence.get("escalated_to") or []) or "?"
        if language == "id":
            return f"dieskalasi ke chat {chats} (level {where})"
        return f"escalated to chat {chats} (level {where})"
    told = ", ".join(str(c) for c in evidence.get("told") or []) or "-"
    at = format_time(datetime.fromisoformat(evidence["told_at"]), tz) if evidence.get("told_at") else "?"
    if language == "id":
        return f"Eskalasi level {where}. Sudah diberitahukan: chat {told} pada {at}; belum ada yang menangani."
    return f"Escalation level {where}. Told before: chat {told} at {at}; nobody has acknowledged it."


_SERVER_KINDS: tuple[TransitionKind, ...] = ("uplink_lost", "uplink_back", "startup", "reload")
_CROSSCHECK_KINDS: tuple[TransitionKind, ...] = ("crosscheck", "crosscheck_agree", "router_restart")
_SIMPLE_NOTES = {
    "id": {"down": "entri router bertipe simple (semua entri RouterOS 6): Netwatch menyatakan situs DOWN setelah "
                   "satu ping hilang, netwatchd baru setelah {n} probe gagal berturut-turut (down_after). Di link "
                   "yang sering loss perbedaan ini wajar, bukan gangguan; di RouterOS 7 entri type=icmp dengan "
                   "thr-loss-percent menilai loss seperti netwatchd.",
           "up": "entri router bertipe simple (semua entri RouterOS 6): Netwatch menyatakan situs UP lagi setelah "
                 "satu ping terjawab, netwatchd baru setelah {n} probe baik berturut-turut (up_after)."},
    "en": {"down": "the router's entry is type simple (every RouterOS 6 entry is): Netwatch calls a site down "
                   "after one lost echo, netwatchd only after {n} failed probes in a row (down_after). On a lossy "
                   "link this is expected, not an outage; on RouterOS 7 an entry of type=icmp with "
                   "thr-loss-percent judges loss the way netwatchd does.",
           "up": "the router's entry is type simple (every RouterOS 6 entry is): Netwatch calls a site up again "
                 "after one answered echo, netwatchd only after {n} good probes in a row (up_after)."},
}


def crosscheck_note(evidence: Mapping[str, Any], language: str) -> str:
    """Why a `simple` Netwatch entry and netwatchd disagree, when that is the likely reason (not
    escaped): it flips on a single echo, netwatchd waits for down_after / up_after probes."""
    if str(evidence.get("router_type", "")).lower() != "simple":
        return ""
    router, ours = evidence.get("router_status"), evidence.get("netwatchd_state")
    if router == "down" and ours in ("up", "degraded"):
        direction, count = "down", evidence.get("down_after")
    elif router == "up" and ours == "down":
        direction, count = "up", evidence.get("up_after")
    else:
        return ""
    return _SIMPLE_NOTES[_lang(language)][direction].format(n=count if count is not None else "N")


def _children_word(t: Transition) -> str:
    """Children folded into a parent's UP came back with it; into anything else: unreachable."""
    prefix = "back_child" if t.to_state == State.UP else "unreachable_child"
    return prefix if len(t.affected) == 1 else ("back_children" if t.to_state == State.UP
                                                else "unreachable_children")


def _reload_summary(t: Transition, language: str) -> str:
    """"13 sites removed: A, B, … (their state is kept 1d: put them back to restore it); 1 added"."""
    shown = ", ".join(t.affected[:30]) + (f", … (+{len(t.affected) - 30})" if len(t.affected) > 30 else "")
    seconds = float(t.evidence.get("kept_seconds", 0))
    kept = format_duration(seconds, language) if seconds > 0 else ""
    added = int(t.evidence.get("added", 0))
    if language == "id":
        text = f"{len(t.affected)} situs dihapus: {shown}"
        text += f" (statusnya disimpan {kept}: kembalikan ke hosts.yaml untuk memulihkannya)" if kept else ""
        return text + (f"; {added} situs ditambahkan" if added else "")
    text = f"{len(t.affected)} site{'s' if len(t.affected) != 1 else ''} removed: {shown}"
    text += f" (their state is kept {kept}: put them back in hosts.yaml to restore it)" if kept else ""
    return text + (f"; {added} added" if added else "")


def _startup_summary(t: Transition, language: str) -> str:
    """"18 situs, 1 DOWN (Waru)" from evidence {watching, down, unreachable} and affected names."""
    evidence = t.evidence
    sites = evidence.get("watching", evidence.get("sites"))
    if sites is None:
        return ""
    down = evidence.get("down", len(t.affected))
    down_count = len(down) if isinstance(down, (list, tuple)) else int(down or 0)
    words = _WORDS[language]
    text = f"{sites} {words['sites']}, {down_count} DOWN"
    if evidence.get("unreachable"):
        text += f", {evidence['unreachable']} {words['unreachable']}"
    return text + (f" ({', '.join(t.affected)})" if t.affected else "")


def _flapping_summary(t: Transition, language: str, tz: tzinfo | None) -> str:
    """"2 outages in 6 s (since 21:03:05 WIB)" (the early rule) or "Its state keeps changing since
    ..." (the percent rule)."""
    words = _WORDS[language]
    outages, window = t.evidence.get("outages"), t.evidence.get("outages_window_s")
    if isinstance(outages, int) and isinstance(window, (int, float)) and t.since is not None:
        return str(words["outages"]).format(count=outages, duration=format_duration(window, language),
                                            since=format_time(t.since, tz).split(" ", 1)[1])
    return str(words["changing"]).format(at=format_time(t.at, tz))


def _changes_summary(changes: Any, language: str) -> str:
    """"Waru UP, Taman DOWN" from {site: state} (what changed while the server was offline)."""
    if not isinstance(changes, Mapping) or not changes:
        return ""
    return ", ".join(f"{name} {state_word(language, str(state))}" for name, state in changes.items())


def render_one(t: Transition, *, language: str = "id", tz: tzinfo | None = None,
               templates: Mapping[str, str] | None = None) -> str:
    """The full message for one transition (may exceed 4096; see render_alerts)."""
    return _fill(_template(_template_key(t), language, templates), _values(t, language, tz))


def _group_line(t: Transition, language: str, tz: tzinfo | None,
                templates: Mapping[str, str] | None) -> str:
    values = _values(t, language, tz)
    words = _WORDS[_lang(language)]
    values["state"] = html.escape(_label(t, language))
    detail = html.escape(format_evidence(t.evidence, language, with_vote=True))
    if t.kind == "state" and t.to_state == State.UP and values["cause"]:
        detail = ", ".join(x for x in (detail, values["cause"]) if x)
    if t.kind == "state" and t.to_state == State.UP and values["duration"]:
        detail = f"{words['outage']} {values['duration']}"
    if t.kind in ("flapping", "stable"):      # "2 outages in 6 s (since ...), now DOWN"
        now_state = f"{words['now']} {html.escape(state_word(_lang(language), t.to_state))}"
        detail = ", ".join(x for x in (values["summary"], now_state, detail) if x)
    if t.kind in _SERVER_KINDS:
        values["address"] = values["address"] or "netwatchd"
        if t.kind == "startup":
            detail = values["summary"]
        elif t.kind == "uplink_back":
            changes = f"{words['changes_label']}: {values['summary']}" if values["summary"] else ""
            detail = ", ".join(x for x in (values["duration"], changes) if x)
    if values["affected_line"]:
        detail = ", ".join(x for x in (detail, values["affected_line"].lstrip(" —")) if x)
    values["evidence"] = f" — {detail}" if detail else ""
    return _fill(_template("group_line", language, templates), values)


def _group_header(transitions: Sequence[Transition], language: str, tz: tzinfo | None,
                  templates: Mapping[str, str] | None) -> str:
    lang = _lang(language)
    words = _WORDS[lang]
    counts: dict[str, int] = {}
    first_key: dict[str, str] = {}
    for t in transitions:
        label = _label(t, lang)
        counts[label] = counts.get(label, 0) + 1
        first_key.setdefault(label, _template_key(t))
    server_labels = {_label(t, lang) for t in transitions if t.kind in _SERVER_KINDS}
    summary = ", ".join(label if label in server_labels else
                        f"{n} {words['site'] if n == 1 else words['sites']} {label}"
                        for label, n in counts.items())
    keys = set(first_key.values())
    icon = _ICONS.get(next(iter(keys)), "🔔") if len(keys) == 1 else "🔔"
    values = _values(transitions[0], lang, tz)
    values.update(icon=icon, summary=html.escape(summary), count=str(len(transitions)))
    return _fill(_template("group_header", lang, templates), values)


def render_message(transitions: Sequence[Transition], *, language: str = "id",
                   tz: tzinfo | None = None, templates: Mapping[str, str] | None = None) -> str:
    """One message for one or more transitions (one: its full template; several: a header
    "3 sites DOWN" and one line each, in order). Not split; raises ValueError when empty."""
    if not transitions:
        raise ValueError("no transitions to render")
    if len(transitions) == 1:
        return render_one(transitions[0], language=language, tz=tz, templates=templates)
    lines = [_group_header(transitions, language, tz, templates)]
    lines += [_group_line(t, language, tz, templates) for t in transitions]
    return "\n".join(lines)


def render_alerts(transitions: Sequence[Transition], *, language: str = "id",
                  tz: tzinfo | None = None, templates: Mapping[str, str] | None = None) -> list[str]:
    """render_message() split at 4096 characters on line boundaries."""
    return split_html(render_message(transitions, language=language, tz=tz, templates=templates))


RESEND_NOTES = {"en": "↻ sent again after a restart — may repeat",
                "id": "↻ dikirim ulang setelah restart — mungkin ganda"}


def resend_note(language: str) -> str:
    """The line under an alert that was in flight when netwatchd died and is sent again: Telegram
    may already have shown it (the Bot API has no idempotency key), so the chat is told."""
    return RESEND_NOTES[_lang(language)]


def plan_resend(transition: Transition, *, language: str = "id", tz: tzinfo | None = None,
                templates: Mapping[str, str] | None = None) -> list[str]:
    """The parts of one alert sent again after a restart, each ending with resend_note()."""
    note = resend_note(language)
    parts = plan_messages([transition], language=language, tz=tz, templates=templates,
                          limit=MAX_MESSAGE - utf16_len(note) - 1)[0][1]
    return [f"{part}\n{note}" for part in parts]


def plan_messages(transitions: Sequence[Transition], *, language: str = "id",
                  tz: tzinfo | None = None, templates: Mapping[str, str] | None = None,
                  limit: int = MAX_MESSAGE) -> list[tuple[int, list[str]]]:
    """Pack consecutive transitions into as few messages as fit in `limit` each.

    Returns [(how many transitions, [text parts])...] in order; a list has more than one part
    only when a single transition alone is longer than the limit. Raises ValueError when empty.
    """
    if not transitions:
        raise ValueError("no transitions to render")
    plan: list[tuple[int, list[str]]] = []
    lines = [_group_line(t, language, tz, templates) for t in transitions]   # rendered once
    start = 0
    while start < len(transitions):
        best_end, best_text = start + 1, render_message(transitions[start:start + 1], language=language,
                                                        tz=tz, templates=templates)
        low, high = start + 2, len(transitions)
        while low <= high:           # the longest run that still fits (length grows with the run)
            middle = (low + high) // 2
            text = "\n".join([_group_header(transitions[start:middle], language, tz, templates),
                              *lines[start:middle]])
            if utf16_len(text) <= limit:
                best_end, best_text, low = middle, text, middle + 1
            else:
                high = middle - 1
        plan.append((best_end - start, split_html(best_text, limit)))
        start = best_end
    return plan


def render_test(*, language: str = "id", tz: tzinfo | None = None, server: str,
                at: datetime, templates: Mapping[str, str] | None = None) -> str:
    """The test-notify message."""
    values = {"icon": _ICONS["test"], "server": html.escape(server), "at": html.escape(format_time(at, tz))}
    return _fill(_template("test", language, templates), values)
