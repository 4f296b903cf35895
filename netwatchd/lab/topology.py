"""The study's network as a lab: a monitor, a core router and N kecamatan routers in a star.

```
  [mon] eth0 198.18.0.1/30 ─── ether1 198.18.0.2/30 [core] ether(i+1) 198.18.i.1/30 ─── ether1 198.18.i.2/30 [site i]
```

* `mon` holds netwatchd and the Bot API / RouterOS stand-ins (on its own loopback). Its only
  route is 198.18.0.0/15 via the core: no default route, so nothing it sends can leave.
* `core` forwards between the monitor and every site (ip_forward=1).
* each site namespace answers pings on 198.18.i.2 and routes 198.18.0.0/15 back via the core.

Operations are the study's: `cut(site, "interface")` disables the core's port (link down at the
router), `cut(site, "cable")` pulls the cable (link down on the far side), `restore(site)`,
`set_loss(site, percent)` (nftables numgen random), `degrade(site)` (exactly every third echo
dropped: DEGRADED, deterministically), `cut_core()` / `restore_core()` (the monitor's link to
the core). The lab is always torn down: by the context manager, on SIGTERM /
SIGHUP (turned into SystemExit so `finally` blocks run), at interpreter exit, and namespaces left
behind by a crashed run (their creator's pid is in the name) are swept by the next build.
Raises LabError without root or iproute2.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from netwatchd.config.durations import format_duration
from netwatchd.errors import LabError
from netwatchd.lab.netns import NetnsLab, check_lab_address, require_lab_support
from netwatchd.schedule import PROBE_TICK_SECONDS

SIDOARJO_KECAMATAN: tuple[str, ...] = (
    "Sidoarjo", "Buduran", "Candi", "Porong", "Krembung", "Tulangan", "Tanggulangin", "Jabon",
    "Krian", "Balongbendo", "Wonoayu", "Tarik", "Prambon", "Taman", "Waru", "Gedangan", "Sedati",
    "Sukodono",
)

PREFIX_STEM = "nwsda"          # namespaces are "<stem><creator pid>x<n>-<short>"
_STALE = re.compile(rf"^{PREFIX_STEM}(\d+)x\d+-")
MON, CORE = "mon", "core"
MON_ADDRESS, CORE_UPLINK_ADDRESS = "198.18.0.1", "198.18.0.2"
MON_IF, CORE_UPLINK_IF, SITE_IF = "eth0", "ether1", "ether1"
LAB_ROUTE = "198.18.0.0/15"
MAX_SITES = 250
CUT_KINDS = ("interface", "cable")

_counter = 0
_counter_lock = threading.Lock()


def _next_prefix() -> str:
    global _counter
    with _counter_lock:
        _counter += 1
        return f"{PREFIX_STEM}{os.getpid()}x{_counter}"


@dataclass(frozen=True)
class LabSite:
    """One kecamatan router in the lab."""

    name: str
    index: int              # 1..N, also the third octet of its subnet
    short: str              # namespace short name ("s1")
    address: str            # what netwatchd probes: 198.18.i.2
    core_address: str       # the core's end of the link: 198.18.i.1
    core_if: str            # the core's port for this site: ether(i+1)


@dataclass(frozen=True)
class LabTiming:
    """Probe settings for a lab config, short so outages are seen in seconds."""

    interval: float = 2.0
    timeout: float = 0.5
    retry_interval: float = 0.5
    down_after: int = 2
    up_after: int = 2
    count: int = 3
    packet_interval: float = 0.05

    @property
    def bound(self) -> float:
        """The documented cut -> DOWN decision bound: interval + (down_after - 1) x retry_interval + timeout."""
        return self.interval + (self.down_after - 1) * self.retry_interval + self.timeout

    @property
    def probe_time(self) -> float:
        """How long a probe of a dead site lasts: until its last echo has timed out."""
        return (self.count - 1) * self.packet_interval + self.timeout

    @property
    def worst_case(self) -> float:
        """The true worst case of cut -> DOWN decision, which `bound` rounds down: the failing
        probe starts at most an interval after the cut, lasts probe_time, and a retry starts
        retry_interval after the previous probe started *or when it ended, if later*; each
        dispatch may wait one probe tick (netwatchd.schedule.PROBE_TICK_SECONDS)."""
        return (self.interval + (self.down_after - 1) * max(self.retry_interval, self.probe_time)
                + self.probe_time + self.down_after * PROBE_TICK_SECONDS)


def _ip(args: Sequence[str], *, batch: str | None = None, check: bool = True) -> str:
    """Run `ip ARGS` (with a `-batch -` script on stdin when given). Raises LabError."""
    cmd = ["ip", *args] + (["-batch", "-"] if batch is not None else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, input=batch)
    if check and proc.returncode != 0:
        raise LabError(f"'{' '.join(cmd)}' failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces() -> list[str]:
    """Names of every network namespace known to `ip netns`."""
    return [line.split()[0] for line in _ip(["netns", "list"], check=False).splitlines() if line.strip()]


def sweep_stale_labs(names: Iterable[str] | None = None) -> list[str]:
    """Delete lab namespaces whose creating process is gone (a crash, a kill -9). Never raises.

    Returns the names removed. Labs of live processes (another test run) are left alone.
    """
    removed = []
    for name in list(names) if names is not None else list_namespaces():
        match = _STALE.match(name)
        if not match or _pid_alive(int(match.group(1))):
            continue
        for pid in _ip(["netns", "pids", name], check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _ip(["netns", "del", name], check=False)
        removed.append(name)
    return removed


class _TeardownGuard:
    """Make SIGTERM/SIGHUP end the process through `finally` blocks, and tear down at exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self, teardown: Callable[[], None]) -> None:
        self._teardown = teardown
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        atexit.register(self._teardown)
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in self.SIGNALS:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                self._previous[sig] = signal.signal(sig, self._on_signal)

    @staticmethod
    def _on_signal(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    def remove(self) -> None:
        atexit.unregister(self._teardown)
        if threading.current_thread() is threading.main_thread():
            for sig, previous in self._previous.items():
                signal.signal(sig, previous)
        self._previous.clear()


class SidoarjoLab:
    """The monitor, the core and `sites` kecamatan namespaces. Use as a context manager.

    Raises LabError (one line) without root or iproute2, or when a site list is unusable.
    """

    def __init__(self, sites: Sequence[str] = SIDOARJO_KECAMATAN, prefix: str | None = None) -> None:
        names = list(sites)
        if not names or len(names) > MAX_SITES:
            raise LabError(f"a lab needs 1..{MAX_SITES} sites, got {len(names)}")
        if len({n.lower() for n in names}) != len(names):
            raise LabError("site names in a lab must be unique")
        self.netns = NetnsLab(prefix=prefix or _next_prefix())
        self.sites: dict[str, LabSite] = {}
        for index, name in enumerate(names, start=1):
            self.sites[name] = LabSite(name=name, index=index, short=f"s{index}",
                                       address=f"198.18.{index}.2", core_address=f"198.18.{index}.1",
                                       core_if=f"ether{index + 1}")
        self._guard = _TeardownGuard(self.teardown)
        self._built = False

    # ---- names -------------------------------------------------------------------------
    def ns(self, short: str) -> str:
        """The real namespace name for "mon", "core" or a site's short name."""
        return self.netns.ns(short)

    @property
    def mon(self) -> str:
        return self.ns(MON)

    @property
    def core_address(self) -> str:
        """The core as the monitor sees it (what netwatchd probes for the core)."""
        return CORE_UPLINK_ADDRESS

    def site(self, name: str) -> LabSite:
        """The site by name (case-insensitive). Raises LabError for an unknown name."""
        for site in self.sites.values():
            if site.name.lower() == name.lower():
                return site
        raise LabError(f"no site {name!r} in this lab (sites: {', '.join(self.sites)})")

    def command(self, cmd: Sequence[str], where: str = MON) -> list[str]:
        """argv that runs `cmd` inside a lab namespace (the monitor by default), for Popen."""
        return self.netns.command(where, cmd)

    # ---- life cycle --------------------------------------------------------------------
    def build(self) -> SidoarjoLab:
        """Create every namespace and link (about 20 `ip` calls for 18 sites). Raises LabError."""
        require_lab_support()
        sweep_stale_labs()
        self._guard.install()
        try:
            self._build()
        except BaseException:
            self.teardown()
            raise
        self._built = True
        return self

    def _build(self) -> None:
        shorts = [MON, CORE] + [s.short for s in self.sites.values()]
        root = [f"netns add {self.ns(short)}" for short in shorts]
        links = [(MON, MON_IF, f"{MON_ADDRESS}/30", CORE, CORE_UPLINK_IF, f"{CORE_UPLINK_ADDRESS}/30")]
        links += [(CORE, s.core_if, f"{s.core_address}/30", s.short, SITE_IF, f"{s.address}/30")
                  for s in self.sites.values()]
        per_ns: dict[str, list[str]] = {short: ["link set lo up"] for short in shorts}
        for a, a_if, a_addr, b, b_if, b_addr in links:
            check_lab_address(a_addr)
            check_lab_address(b_addr)
            root.append(f"link add name {a_if} netns {self.ns(a)} type veth peer name {b_if} netns {self.ns(b)}")
            for short, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
                per_ns[short] += [f"addr add {addr} dev {ifname}", f"link set {ifname} up"]
        # Record the namespaces before creating them so a failure half-way still tears them down.
        self.netns.namespaces.extend(self.ns(short) for short in shorts)
        # `link add NAME netns A ... peer name B netns B` creates both ends inside their
        # namespaces directly, so interface names never clash in the root namespace.
        _ip([], batch="\n".join(root) + "\n")
        per_ns[MON].append(f"route replace {LAB_ROUTE} via {CORE_UPLINK_ADDRESS}")
        for site in self.sites.values():
            per_ns[site.short].append(f"route replace {LAB_ROUTE} via {site.core_address}")
        for short, lines in per_ns.items():
            _ip(["-n", self.ns(short)], batch="\n".join(lines) + "\n")
        self.netns.enable_forwarding(CORE)

    def teardown(self) -> None:
        """Remove every namespace (and so every veth and nftables rule). Never raises; idempotent."""
        self.netns.teardown()
        self._built = False
        self._guard.remove()

    def __enter__(self) -> SidoarjoLab:
        return self.build()

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    # ---- the study's operations --------------------------------------------------------
    def cut(self, name: str, how: str = "cable") -> LabSite:
        """Take a site offline: "interface" disables the core's port, "cable" the site's own end."""
        site = self.site(name)
        if how == "interface":
            _ip(["-n", self.ns(CORE), "link", "set", site.core_if, "down"])
        elif how == "cable":
            _ip(["-n", self.ns(site.short), "link", "set", SITE_IF, "down"])
        else:
            raise LabError(f"unknown cut {how!r} (allowed: {', '.join(CUT_KINDS)})")
        return site

    def restore(self, name: str, *, wait: float = 2.0) -> LabSite:
        """Bring a site's link back up at both ends and re-install its return route.

        Waits up to `wait` s until the kernel reports both ends operational (carrier changes
        can be delayed by up to a second); raises LabError if they never come up.
        """
        site = self.site(name)
        _ip(["-n", self.ns(CORE), "link", "set", site.core_if, "up"])
        _ip(["-n", self.ns(site.short)], batch=(
            f"link set {SITE_IF} up\nroute replace {LAB_ROUTE} via {site.core_address}\n"))
        self._wait_operational([(CORE, site.core_if), (site.short, SITE_IF)], wait)
        return site

    def _wait_operational(self, ends: Sequence[tuple[str, str]], wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            down = [f"{short}:{ifname}" for short, ifname in ends
                    if "state UP" not in _ip(["-n", self.ns(short), "-o", "link", "show", ifname])]
            if not down:
                return
            if time.monotonic() >= deadline:
                raise LabError(f"lab links did not come up within {wait:g} s: {', '.join(down)}")
            time.sleep(0.01)

    def set_loss(self, name: str, percent: int) -> LabSite:
        """Drop `percent` % of the echo requests a site receives (0 removes the rule)."""
        if not 0 <= percent <= 100:
            raise LabError(f"loss must be 0..100 %, got {percent}")
        site = self.site(name)
        self.netns.set_loss(site.short, percent)
        return site

    def block_path(self, name: str) -> LabSite:
        """Drop what the monitor sends to a site, at the core (nftables on forwarded packets): the
        site and the core stay fine, only the path between this server and the site is broken.
        The core's own pings to the site still pass (they are not forwarded)."""
        site = self.site(name)
        rules = ("table inet nwpath {\n"
                 "  chain forward {\n"
                 "    type filter hook forward priority 0; policy accept;\n"
                 f"    ip saddr {MON_ADDRESS} ip daddr {site.address} drop\n"
                 "  }\n"
                 "}\n")
        self.netns.exec(CORE, ["nft", "delete", "table", "inet", "nwpath"], check=False)
        self.netns.exec(CORE, ["nft", "-f", "-"], input_text=rules)
        return site

    def unblock_path(self) -> None:
        """Remove block_path()'s rule (every site's)."""
        self.netns.exec(CORE, ["nft", "delete", "table", "inet", "nwpath"], check=False)

    def degrade(self, name: str, every: int = 3) -> LabSite:
        """Drop exactly every `every`-th echo request a site receives: a probe of 3 echoes always
        loses one (33 %): DEGRADED by the default 20 % loss threshold, never DOWN. set_loss(name, 0)
        ends it."""
        if every < 2:
            raise LabError(f"every must be 2 or more, got {every}")
        site = self.site(name)
        self.netns.set_loss(site.short, 0, every=every)
        return site

    def cut_core(self, how: str = "interface") -> None:
        """Cut the monitor off from the core: "interface" disables the core's uplink port,
        "cable" pulls the monitor's cable. Every site and the core stop answering."""
        if how == "interface":
            _ip(["-n", self.ns(CORE), "link", "set", CORE_UPLINK_IF, "down"])
        elif how == "cable":
            _ip(["-n", self.ns(MON), "link", "set", MON_IF, "down"])
        else:
            raise LabError(f"unknown cut {how!r} (allowed: {', '.join(CUT_KINDS)})")

    def restore_core(self, *, wait: float = 2.0) -> None:
        """Bring the monitor's link to the core back and re-install the monitor's lab route
        (waits like `restore`)."""
        _ip(["-n", self.ns(CORE), "link", "set", CORE_UPLINK_IF, "up"])
        _ip(["-n", self.ns(MON)], batch=(
            f"link set {MON_IF} up\nroute replace {LAB_ROUTE} via {CORE_UPLINK_ADDRESS}\n"))
        self._wait_operational([(CORE, CORE_UPLINK_IF), (MON, MON_IF)], wait)

    def mon_routes(self) -> str:
        return _ip(["-n", self.mon, "route", "show"])

    # ---- configuration -----------------------------------------------------------------
    def hosts_yaml(self, *, data_dir: str | Path, timing: LabTiming = LabTiming(),
                   api_url: str | None = None, token_env: str = "NETWATCHD_LAB_TOKEN",
                   chat_ids: Sequence[int] = (), admins: Sequence[int] = (), poll_commands: bool = True,
                   router_port: int | None = None, router_address: str = CORE_UPLINK_ADDRESS,
                   router_username: str = "netwatchd",
                   router_password_env: str = "NETWATCHD_LAB_ROUTER_PASSWORD",
                   web_port: int | None = None, language: str = "en",
                   site_overrides: dict[str, dict[str, Any]] | None = None,
                   only_sites: Sequence[str] | None = None, site_routers: Sequence[str] = (),
                   router_health: dict[str, Any] | None = None, confirm: bool = True,
                   telegram_extra: dict[str, Any] | None = None, flapping: dict[str, Any] | None = None) -> str:
        """A hosts.yaml for this lab: the core (a probed host, the sites' parent and, with
        `router_port`, the RouterOS API at the same address: the via router of every site) and
        every site at its lab address. `site_routers`: sites that are RouterOS devices themselves
        (their API at the site's address, `router: <site>-rb`); `router_health`: the core's
        `health:`; `confirm: false` turns the vote off for every site; `flapping`: the `flapping:`
        keys (default: none, the defaults).

        Secrets are referenced as ${ENV} variables, never written to the file. Telegram points
        at the stand-in's `api_url`. `only_sites` writes a subset (reload tests).
        """
        def flow(values: dict[str, Any]) -> str:
            return "{" + ", ".join(f"{k}: {flow(v) if isinstance(v, dict) else _yaml_scalar(v)}"
                                   for k, v in values.items()) + "}"

        lines = [
            "# netwatchd lab config, written by netwatchd.lab.topology: every address is a lab",
            "# namespace in 198.18.0.0/15 or the monitor namespace's own loopback.",
            f"data_dir: {_yaml_scalar(str(data_dir))}",
            "timezone: Asia/Jakarta",
            "defaults:",
            "  probe: icmp",
            f"  interval: {format_duration(timing.interval)}",
            f"  timeout: {format_duration(timing.timeout)}",
            f"  count: {timing.count}",
            f"  packet_interval: {format_duration(timing.packet_interval)}",
            f"  down_after: {timing.down_after}",
            f"  up_after: {timing.up_after}",
            f"  retry_interval: {format_duration(timing.retry_interval)}",
        ] + ([] if confirm else ["  confirm: false"])
        if flapping:
            lines.append(f"flapping: {_yaml_flow(flapping)}")
        if api_url:
            lines += [
                "telegram:",
                f"  token: ${{{token_env}}}",
                f"  chat_ids: [{', '.join(str(c) for c in chat_ids)}]",
                f"  admins: [{', '.join(str(a) for a in admins)}]",
                f"  api_url: {_yaml_scalar(api_url)}",
                f"  language: {language}",
                f"  poll_commands: {_yaml_scalar(poll_commands)}",
            ]
            lines += [f"  {key}: {_yaml_flow(value)}" for key, value in (telegram_extra or {}).items()]
        own_routers = {name.lower() for name in site_routers}
        if router_port:
            core: dict[str, Any] = {"name": CORE, "address": router_address, "port": router_port,
                                    "username": router_username, "password": f"${{{router_password_env}}}",
                                    "tls": False}
            if router_health:
                core["health"] = router_health
            lines += ["routers:", "  - " + flow(core)]
            lines += ["  - " + flow({"name": f"{site.name}-rb", "address": site.address, "port": router_port,
                                     "username": router_username, "password": f"${{{router_password_env}}}",
                                     "tls": False})
                      for site in self.sites.values() if site.name.lower() in own_routers]
        lines.append("web: " + ("false" if web_port is None else f"{{listen: 127.0.0.1:{web_port}}}"))
        overrides = {k.lower(): v for k, v in (site_overrides or {}).items()}
        wanted = None if only_sites is None else {n.lower() for n in only_sites}
        lines += ["hosts:", "  - " + flow({"name": CORE, "address": CORE_UPLINK_ADDRESS, "group": "core",
                                           "comment": "MikroTik core router"})]
        for site in self.sites.values():
            if wanted is not None and site.name.lower() not in wanted:
                continue
            entry: dict[str, Any] = {"name": site.name, "address": site.address, "group": "kecamatan",
                                     "parent": CORE}
            if router_port and site.name.lower() in own_routers:
                entry["router"] = f"{site.name}-rb"
            entry.update(overrides.get(site.name.lower(), {}))
            lines.append("  - " + flow(entry))
        return "\n".join(lines) + "\n"


def _yaml_flow(value: Any) -> str:
    """A value as flow YAML: lists [a, b], mappings {k: v}, scalars as _yaml_scalar."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_flow(v) for v in value) + "]"
    return _yaml_scalar(value)


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if re.fullmatch(r"[A-Za-z0-9_./:@-]+", text) and text[0] not in "-@":
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
