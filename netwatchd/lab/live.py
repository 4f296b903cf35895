"""A RouterOS stand-in that sees its lab namespace: real echoes, real links, real ARP.

The stand-in in the core namespace must answer `/ping` the way the core router would, so a
confirmation in the lab is a real second vantage point: `NamespaceView.ping` sends a real ICMP
echo (the project's IcmpEngine, raw socket) created inside that namespace, so it leaves through
the namespace's own links and routes. `/interface`, `/ip/address`, `/ip/arp` and `/ip/route` are
the namespace's own tables (`ip -j` inside it), written as RouterOS prints them (v7 fields);
`link-downs` is the kernel's carrier_down_count of each interface, and every carrier change seen
by `ip monitor link` becomes a `/log` line ("ether16 link down", "ether16 link up (...)"), stamped
when it happened.

Only lab addresses (198.18.0.0/15) are pinged: the stand-in asks only for those. Needs root (the
lab does). `start()` / `stop()` the link monitor; the stand-in's own `stop()` does not stop it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import subprocess
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from netwatchd.clock import SystemClock
from netwatchd.errors import LabError
from netwatchd.lab.nsenter import inside_namespace
from netwatchd.probes.icmp import IcmpEngine, IcmpTarget

log = logging.getLogger(__name__)

Row = dict[str, str]
LAB_NETWORK = ipaddress.ip_network("198.18.0.0/15")
LOG_LIMIT = 1000                      # RouterOS keeps 1000 lines in memory by default
_MONITOR_LINE = re.compile(r"^(?:Deleted\s+)?\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>")
_KIND = {"ether": "ether", "loopback": "loopback", "none": "ether"}


def _ip_json(netns: str, *args: str) -> list[dict[str, Any]]:
    """`ip -j -n NETNS ARGS` as JSON. Raises LabError."""
    done = subprocess.run(["ip", "-j", "-n", netns, *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise LabError(f"ip -n {netns} {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout or "[]")


class NamespaceView:
    """The stand-in's window on one lab namespace (netwatchd.lab.routeros_standin.LiveSource)."""

    def __init__(self, netns: str, *, date: Callable[[datetime], str] | None = None,
                 tz: Any = None) -> None:
        self.netns = netns
        self._date = date or (lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S"))
        self._tz = tz
        self._engine = IcmpEngine(privileged=True)
        self._clock = SystemClock()
        self._lock = threading.Lock()
        self._log: list[Row] = []
        self._running: dict[str, bool] = {}
        self._monitor: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> NamespaceView:
        """Watch the namespace's links for carrier changes (the /log lines). Raises LabError."""
        with self._lock:
            self._running = {row["ifname"]: self._is_running(row) for row in _ip_json(self.netns, "link", "show")}
        self._monitor = subprocess.Popen(["ip", "-n", self.netns, "-o", "monitor", "link"], stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._follow, args=(self._monitor,), daemon=True,
                                        name=f"lab-monitor-{self.netns}")
        self._thread.start()
        return self

    def stop(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None and monitor.poll() is None:
            monitor.terminate()
            try:
                monitor.wait(2)
            except subprocess.TimeoutExpired:
                monitor.kill()
                monitor.wait(2)

    def _follow(self, monitor: subprocess.Popen[str]) -> None:
        assert monitor.stdout is not None
        for line in monitor.stdout:
            match = _MONITOR_LINE.match(line.strip())
            if not match or line.startswith("Deleted"):
                continue
            name, flags = match.group(1), match.group(2).split(",")
            running = "UP" in flags and "LOWER_UP" in flags
            with self._lock:
                before = self._running.get(name)
                self._running[name] = running
            if before is None or before == running or name == "lo":
                continue
            self._add_log("interface,info", f"{name} link up (speed 10G, full duplex)" if running
                          else f"{name} link down")

    def _add_log(self, topics: str, message: str) -> None:
        now = datetime.now(self._tz)
        with self._lock:
            self._log.append({"time": self._date(now), "topics": topics, "message": message})
            del self._log[:-LOG_LIMIT]

    @staticmethod
    def _is_running(row: dict[str, Any]) -> bool:
        flags = row.get("flags") or []
        return "UP" in flags and "LOWER_UP" in flags

    # -- what the stand-in asks -----------------------------------------------------------------

    def ping(self, address: str, size: int, timeout: float) -> float | None:
        """One real echo from inside the namespace; RTT in ms, or None (lost or refused)."""
        try:
            if ipaddress.ip_address(address) not in LAB_NETWORK:
                return None
        except ValueError:
            return None
        with inside_namespace(self.netns):
            [result] = self._engine.ping([IcmpTarget(host=address, address=address, count=1,
                                                     timeout=max(0.01, timeout), payload_size=size)],
                                         clock=self._clock)
        return result.rtt_avg_ms if result.received else None

    def interfaces(self) -> list[Row]:
        downs = self._carrier_downs()
        rows = []
        for row in _ip_json(self.netns, "link", "show"):
            name = row["ifname"]
            if name == "lo":
                continue
            flags = row.get("flags") or []
            rows.append({"name": name, "default-name": name, "type": _KIND.get(row.get("link_type", ""), "ether"),
                         "mtu": str(row.get("mtu", 1500)), "actual-mtu": str(row.get("mtu", 1500)),
                         "mac-address": str(row.get("address", "")).upper(),
                         "running": "true" if self._is_running(row) else "false",
                         "disabled": "false" if "UP" in flags else "true",
                         "link-downs": str(downs.get(name, 0)), "comment": "", "dynamic": "false", "slave": "false"})
        return rows

    def _carrier_downs(self) -> dict[str, int]:
        """The kernel's carrier_down_count per interface (sysfs, read inside the namespace)."""
        done = subprocess.run(["ip", "netns", "exec", self.netns, "sh", "-c",
                               "grep -H . /sys/class/net/*/carrier_down_count"],
                              capture_output=True, text=True, timeout=10)
        found: dict[str, int] = {}
        for line in done.stdout.splitlines():
            match = re.match(r"/sys/class/net/([^/]+)/carrier_down_count:(\d+)", line)
            if match:
                found[match.group(1)] = int(match.group(2))
        return found

    def addresses(self) -> list[Row]:
        rows = []
        for link in _ip_json(self.netns, "-4", "addr", "show"):
            for info in link.get("addr_info", []):
                if info.get("family") != "inet" or link["ifname"] == "lo":
                    continue
                network = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}").network
                rows.append({"address": f"{info['local']}/{info['prefixlen']}", "network": str(network.network_address),
                             "interface": link["ifname"], "actual-interface": link["ifname"], "invalid": "false",
                             "dynamic": "false", "disabled": "false"})
        return rows

    def arp(self) -> list[Row]:
        rows = []
        for entry in _ip_json(self.netns, "-4", "neigh", "show"):
            states = [str(s).lower() for s in entry.get("state") or []]
            mac = str(entry.get("lladdr", "")).upper()
            rows.append({"address": entry["dst"], "mac-address": mac, "interface": entry.get("dev", ""),
                         "status": states[0] if states else "", "complete": "true" if mac else "false",
                         "published": "false", "invalid": "false", "DHCP": "false", "dynamic": "true",
                         "disabled": "false"})
        return rows

    def routes(self) -> list[Row]:
        rows = []
        for route in _ip_json(self.netns, "-4", "route", "show"):
            dst = route.get("dst", "")
            dst = "0.0.0.0/0" if dst == "default" else (dst if "/" in dst else f"{dst}/32")
            device = route.get("dev", "")
            gateway = route.get("gateway")
            active = "linkdown" not in (route.get("flags") or [])
            rows.append({"dst-address": dst, "gateway": gateway or device,
                         "immediate-gw": f"{gateway}%{device}" if gateway else device,
                         "distance": "1" if gateway else "0", "active": "true" if active else "false",
                         "connect": "false" if gateway else "true", "static": "true" if gateway else "false",
                         "dynamic": "false" if gateway else "true"})
        return rows

    def log(self) -> list[Row]:
        with self._lock:
            return [dict(row) for row in self._log]
