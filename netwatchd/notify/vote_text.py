"""What the routers said, as alert text (pure, not escaped; Indonesian or English).

- `vote_line`: the via router's vote on a DOWN ("Confirmed by core: 0/3", "Unconfirmed (core did not
  answer)") or, for a PATH, the whole finding ("netwatchd cannot reach Waru, but core can (3/3,
  2 ms): the path between this server and core is at fault");
- `diagnosis_lines`: one line per evidence item the via router's tables gave (the interface towards
  the site, its ARP / neighbor entry, the last log lines about that interface);
- `cause_line`: why a site with `router:` came back ("Waru restarted (power cut?)", "link restored");
- `health_note` / `restart_note`: a router's own figure against its threshold, a router restart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

Duration = Callable[[float, str], str]

_TEXT: dict[str, dict[str, str]] = {
    "id": {
        "confirmed": "Dikonfirmasi oleh {via}: {received}/{sent}",
        "unconfirmed": "Belum terkonfirmasi ({via} tidak menjawab)",
        "path": "netwatchd tidak dapat menjangkau {host}, tetapi {via} dapat ({received}/{sent}{rtt}): jalur antara "
                "server ini dan {via} yang bermasalah",
        "still_path": "{via} masih menjangkau {host} ({received}/{sent}{rtt})",
        "short_confirmed": "dikonfirmasi {via} {received}/{sent}",
        "short_unconfirmed": "belum terkonfirmasi ({via} tidak menjawab)",
        "short_reachable": "{via} menjangkaunya {received}/{sent}",
        "running": "running", "not_running": "tidak running (link putus)", "disabled": "dinonaktifkan",
        "missing_if": "{router}: interface {name} tidak ditemukan",
        "downs_more": "link-down {before} → {now} sejak pemeriksaan {at}",
        "downs_same": "link-down tetap {now} sejak pemeriksaan {at}",
        "downs_total": "link-down {now}",
        "arp_present": "ARP di {router}: {address} → {mac} di {interface} ({status})",
        "arp_no_mac": "ARP di {router}: {address} di {interface} tanpa alamat MAC ({status})",
        "arp_absent": "ARP di {router}: {address} tidak ada",
        "log": "Log {router}: {lines}",
        "no_route": "{router} tidak punya rute ke {address}",
        "restarted": "Penyebab: {host} restart (listrik padam?), {router} baru menyala {uptime}",
        "link": "Penyebab: link pulih ({router} sudah menyala {uptime})",
        "cause_unknown": "Penyebab tidak diketahui ({router} tidak menjawab)",
        "cpu": "Beban CPU {value}% (batas {threshold}%)",
        "memory": "Memori bebas {value}% (batas bawah {threshold}%)",
        "temperature": "Suhu {value} °C ({sensor}, batas {threshold} °C)",
        "voltage": "Tegangan {value} V ({sensor}, batas bawah {threshold} V)",
        "pool": "IP pool {pool} terpakai {value}% ({used} dari {size} alamat, batas {threshold}%)",
        "restart": "uptime {uptime}; pada pemeriksaan terakhir ({at}) sudah menyala {before}",
    },
    "en": {
        "confirmed": "Confirmed by {via}: {received}/{sent}",
        "unconfirmed": "Unconfirmed ({via} did not answer)",
        "path": "netwatchd cannot reach {host}, but {via} can ({received}/{sent}{rtt}): the path between this "
                "server and {via} is at fault",
        "still_path": "{via} still reaches {host} ({received}/{sent}{rtt})",
        "short_confirmed": "confirmed by {via}: {received}/{sent}",
        "short_unconfirmed": "unconfirmed ({via} did not answer)",
        "short_reachable": "{via} reaches it: {received}/{sent}",
        "running": "running", "not_running": "not running (link down)", "disabled": "disabled",
        "missing_if": "{router}: no interface {name}",
        "downs_more": "link-downs {before} → {now} since the look at {at}",
        "downs_same": "link-downs still {now} since the look at {at}",
        "downs_total": "link-downs {now}",
        "arp_present": "ARP on {router}: {address} → {mac} on {interface} ({status})",
        "arp_no_mac": "ARP on {router}: {address} on {interface} without a MAC address ({status})",
        "arp_absent": "ARP on {router}: {address} not present",
        "log": "{router} log: {lines}",
        "no_route": "{router} has no route to {address}",
        "restarted": "Cause: {host} restarted (power cut?), {router} up for only {uptime}",
        "link": "Cause: link restored ({router} up for {uptime})",
        "cause_unknown": "Cause unknown ({router} did not answer)",
        "cpu": "CPU load {value}% (threshold {threshold}%)",
        "memory": "Free memory {value}% (below {threshold}%)",
        "temperature": "Temperature {value} °C ({sensor}, above {threshold} °C)",
        "voltage": "Voltage {value} V ({sensor}, below {threshold} V)",
        "pool": "IP pool {pool} {value}% used ({used} of {size} addresses, threshold {threshold}%)",
        "restart": "uptime {uptime}; at the last look ({at}) it had been up {before}",
    },
}


def _t(language: str, key: str, **values: Any) -> str:
    return _TEXT["en" if language == "en" else "id"][key].format(**values)


def _n(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number == int(number) else f"{number:.1f}"


def _rtt(vote: Mapping[str, Any]) -> str:
    rtt = vote.get("rtt_ms")
    if rtt is None:
        return ""
    return f", {_n(rtt) if float(rtt) >= 10 else f'{float(rtt):.2g}'} ms"


def vote_line(vote: Mapping[str, Any] | None, host: str, language: str, *, to_path: bool = True) -> str:
    """The via router's vote as one line ("" without one)."""
    if not vote:
        return ""
    values = {"via": vote.get("via", "?"), "sent": vote.get("sent", 0), "received": vote.get("received", 0),
              "host": host, "rtt": _rtt(vote)}
    result = vote.get("result")
    if result == "reachable":
        return _t(language, "path" if to_path else "still_path", **values)
    if result == "down":
        return _t(language, "confirmed", **values)
    return _t(language, "unconfirmed", **values)


def vote_short(vote: Mapping[str, Any] | None, language: str) -> str:
    """The vote for a line of a grouped message ("confirmed by core: 0/3")."""
    if not vote:
        return ""
    values = {"via": vote.get("via", "?"), "sent": vote.get("sent", 0), "received": vote.get("received", 0)}
    key = {"down": "short_confirmed", "reachable": "short_reachable"}.get(str(vote.get("result")), "short_unconfirmed")
    return _t(language, key, **values)


def _clock(text: Any, zone: Any) -> str:
    try:
        return datetime.fromisoformat(str(text)).astimezone(zone).strftime("%H:%M")
    except (TypeError, ValueError):
        return str(text)


def diagnosis_lines(items: Any, language: str, zone: Any) -> list[str]:
    """One line per evidence item (unknown kinds are skipped)."""
    lines: list[str] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        kind, router = item.get("kind"), item.get("router", "?")
        if kind == "interface":
            name = item.get("name", "?")
            if not item.get("found", True):
                lines.append(_t(language, "missing_if", router=router, name=name))
                continue
            label = f"{router} {name}" + (f" ({item['comment']})" if item.get("comment") else "")
            status = _t(language, "disabled" if item.get("disabled") else
                        "running" if item.get("running") else "not_running")
            parts = [status]
            if item.get("link_downs") is not None:
                now = item["link_downs"]
                before = item.get("link_downs_before")
                if before is None:
                    parts.append(_t(language, "downs_total", now=now))
                else:
                    key = "downs_more" if now != before else "downs_same"
                    parts.append(_t(language, key, before=before, now=now, at=_clock(item.get("last_look"), zone)))
            lines.append(f"{label}: " + ", ".join(parts))
        elif kind == "neighbor":
            if item.get("present"):
                lines.append(_t(language, "arp_present" if item.get("mac") else "arp_no_mac", router=router,
                                address=item.get("address", "?"), mac=item.get("mac"),
                                interface=item.get("interface") or "?", status=item.get("status") or "?"))
            else:
                lines.append(_t(language, "arp_absent", router=router, address=item.get("address", "?")))
        elif kind == "log":
            shown = "; ".join(f"{time} {message}".strip() for time, message in item.get("lines", []))
            if shown:
                lines.append(_t(language, "log", router=router, lines=shown))
        elif kind == "route" and item.get("found") is False:
            lines.append(_t(language, "no_route", router=router, address=item.get("address", "?")))
    return lines


def cause_line(cause: Mapping[str, Any] | None, host: str, language: str, duration: Duration) -> str:
    """Why a site with `router:` came back ("" without a cause)."""
    if not cause:
        return ""
    router = cause.get("router") or "?"
    uptime = duration(float(cause["uptime_s"]), language) if cause.get("uptime_s") is not None else "?"
    key = {"restarted": "restarted", "link": "link"}.get(str(cause.get("result")), "cause_unknown")
    return _t(language, key, host=host, router=router, uptime=uptime)


def health_note(evidence: Mapping[str, Any], language: str) -> str:
    """A router's figure against its threshold, one line ("" when it is not a health figure)."""
    item = str(evidence.get("item", ""))
    key = "pool" if item.startswith("pool:") else item
    if key not in ("cpu", "memory", "temperature", "voltage", "pool"):
        return ""
    return _t(language, key, value=_n(evidence.get("value")), threshold=_n(evidence.get("threshold")),
              sensor=evidence.get("sensor", ""), pool=evidence.get("pool", item[5:]),
              used=evidence.get("used", "?"), size=evidence.get("size", "?"))


def restart_note(evidence: Mapping[str, Any], language: str, duration: Duration, zone: Any) -> str:
    """"uptime 4 min; at the last look (10:02) it had been up 12 d"."""
    if evidence.get("uptime_s") is None:
        return ""
    before = evidence.get("previous_uptime_s")
    return _t(language, "restart", uptime=duration(float(evidence["uptime_s"]), language),
              at=_clock(evidence.get("last_look"), zone),
              before=duration(float(before), language) if before is not None else "?")
