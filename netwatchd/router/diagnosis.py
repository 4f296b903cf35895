"""What a router's own tables say about a site that stopped answering (pure: rows in, facts out).

The via router's answer to a confirmation ping becomes a verdict (`ping_verdict`); its address and
route tables tell which of its interfaces leads to the site (`route_interface`); that interface's
`running` and `link-downs` (against the last look), the site in its ARP / IPv6 neighbor table and
the last /log lines naming the interface become "diagnosis" items: small JSON-ready dicts that
netwatchd.notify.format turns into one line each, in Indonesian or English.

Field names are RouterOS's, as librouteros casts them (flags True/False, counters int); v6 and v7
differ where noted (v7 `immediate-gw 198.18.5.2%ether6`, v6 `gateway-status 198.18.5.2 reachable
via ether6`; v7 ARP `status`, v6 only the `complete`/`invalid` flags).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from netwatchd.models import CONFIRMED, NO_ANSWER, REACHABLE
from netwatchd.router.values import ros_bool, ros_time_ms

Row = Mapping[str, Any]
LOG_LINES = 3


def ping_verdict(rows: Sequence[Row]) -> tuple[str, int, int, float | None]:
    """(result, sent, received, average rtt in ms) from a router's /ping rows (one per echo, each
    carrying the running `sent`/`received`). No row at all is NO_ANSWER."""
    if not rows:
        return NO_ANSWER, 0, 0, None
    last = rows[-1]
    times = [ms for ms in (ros_time_ms(row.get("time")) for row in rows) if ms is not None]
    try:
        sent = int(last.get("sent", len(rows)))
        received = int(last.get("received", len(times)))
    except (TypeError, ValueError):
        sent, received = len(rows), len(times)
    average = ros_time_ms(last.get("avg-rtt"))
    if average is None and times:
        average = round(sum(times) / len(times), 3)
    return (REACHABLE if received > 0 else CONFIRMED), sent, received, average


def _address(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(text).split("%", 1)[0].strip())
    except ValueError:
        return None


def _network(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    value = str(text or "").strip()
    if not value:
        return None
    try:
        return ipaddress.ip_interface(value).network if "/" in value else ipaddress.ip_network(value)
    except ValueError:
        return None


def _connected(target: Any, addresses: Sequence[Row]) -> tuple[int, str] | None:
    """(prefix length, interface) of the most specific enabled address whose network holds `target`."""
    best: tuple[int, str] | None = None
    for row in addresses:
        if ros_bool(row.get("disabled", False)) or ros_bool(row.get("invalid", False)):
            continue
        network = _network(row.get("address"))
        interface = str(row.get("actual-interface") or row.get("interface") or "")
        if network is None or not interface or target.version != network.version or target not in network:
            continue
        if best is None or network.prefixlen > best[0]:
            best = (network.prefixlen, interface)
    return best


def route_interface(address: str, addresses: Sequence[Row], routes: Sequence[Row]) -> tuple[str | None, str | None]:
    """(interface, gateway) the router uses towards `address`: a connected network first, else the
    most specific active route (lowest distance on a tie) and its gateway's interface. (None, None)
    when the router has no way there (or `address` is a name)."""
    target = _address(address)
    if target is None:
        return None, None
    connected = _connected(target, addresses)
    best: tuple[int, int, Row] | None = None
    for row in routes:
        if "active" in row and not ros_bool(row["active"]):
            continue
        network = _network(row.get("dst-address"))
        if network is None or network.version != target.version or target not in network:
            continue
        try:
            distance = int(row.get("distance", 1))
        except (TypeError, ValueError):
            distance = 1
        key = (network.prefixlen, -distance)
        if best is None or key > best[:2]:
            best = (network.prefixlen, -distance, row)
    if connected is not None and (best is None or connected[0] >= best[0]):
        return connected[1], None
    if best is None:
        return None, None
    row = best[2]
    immediate = str(row.get("immediate-gw") or "")
    gateway = str(row.get("gateway") or "").split(",")[0].strip()
    if "%" in immediate:                                       # v7: 198.18.5.2%ether6
        return immediate.split("%", 1)[1], immediate.split("%", 1)[0] or None
    status = re.search(r"\bvia\s+(\S+)", str(row.get("gateway-status") or ""))   # v6
    if status:
        return status.group(1), gateway or None
    gateway_address = _address(gateway)
    if gateway_address is None:
        return (gateway or None), None                         # the gateway is an interface (pppoe-out1)
    via = _connected(gateway_address, addresses)
    return (via[1] if via else None), gateway


def interface_item(router: str, name: str, interfaces: Sequence[Row],
                   before: tuple[int, str] | None) -> dict[str, Any]:
    """The interface towards the site: running or not, disabled, link-downs against the last look
    (`before`: the count then and when it was)."""
    row = next((r for r in interfaces if str(r.get("name")) == name), None)
    if row is None:
        return {"kind": "interface", "router": router, "name": name, "found": False}
    item: dict[str, Any] = {"kind": "interface", "router": router, "name": name, "found": True,
                            "running": ros_bool(row.get("running", False)),
                            "disabled": ros_bool(row.get("disabled", False))}
    downs = _count(row.get("link-downs"))
    if downs is not None:
        item["link_downs"] = downs
        if before is not None:
            item["link_downs_before"], item["last_look"] = before
    if row.get("last-link-down-time"):
        item["last_link_down"] = str(row["last-link-down-time"])
    if row.get("comment"):
        item["comment"] = str(row["comment"])
    return item


def _count(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def neighbor_item(router: str, address: str, arp: Sequence[Row]) -> dict[str, Any]:
    """Is `address` in the router's ARP (or IPv6 neighbor) table, with a MAC address, on which
    interface, in which state (v7 `status`; v6 `complete`/`invalid` flags)."""
    target = _address(address)
    item: dict[str, Any] = {"kind": "neighbor", "router": router, "address": address, "present": False}
    for row in arp:
        if target is None or _address(row.get("address")) != target:
            continue
        mac = str(row.get("mac-address") or "")
        status = str(row.get("status") or "")
        if not status:
            status = "invalid" if ros_bool(row.get("invalid", False)) else (
                "complete" if ros_bool(row.get("complete", bool(mac))) else "incomplete")
        item.update(present=True, mac=mac, interface=str(row.get("interface") or ""), status=status.lower())
        break
    return item


def log_item(router: str, interface: str, log: Sequence[Row], limit: int = LOG_LINES) -> dict[str, Any] | None:
    """The last `limit` /log lines naming `interface` (oldest first), None when there are none."""
    word = re.compile(rf"(?<![\w.-]){re.escape(interface)}(?![\w.-])")
    lines = [(str(row.get("time") or ""), " ".join(str(row.get("message") or "").split()))
             for row in log if word.search(str(row.get("message") or ""))]
    if not lines:
        return None
    return {"kind": "log", "router": router, "interface": interface, "lines": [list(line) for line in lines[-limit:]]}
