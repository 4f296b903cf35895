"""Network-namespace primitives for the lab, the tests and the benchmarks.

Only loopback and lab addresses in 198.18.0.0/15 are ever configured here, and the namespace
that probes gets no default route, so no packet can leave the machine. Everything created is
recorded in a `NetnsLab` and removed by `teardown()`, which is safe to call twice and is run
by the context manager even on failure or Ctrl-C. Raises LabError without root or iproute2.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from netwatchd.errors import LabError

LAB_NETWORK = ipaddress.ip_network("198.18.0.0/15")


def require_lab_support() -> None:
    """Raise LabError with a one-line fix unless we are root with iproute2 available."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root to create network namespaces: run it with sudo "
                       "(or as root in a disposable VM/container)")
    if shutil.which("ip") is None:
        raise LabError("the lab needs iproute2's 'ip' command: apt-get install iproute2")


def _run(cmd: Sequence[str], *, check: bool = True, input_text: str | None = None) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, input=input_text)
    if check and proc.returncode != 0:
        raise LabError(f"'{' '.join(cmd)}' failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def check_lab_address(address: str) -> None:
    """Refuse any address outside 198.18.0.0/15 (raises LabError)."""
    net = ipaddress.ip_interface(address).network
    if not net.subnet_of(LAB_NETWORK):  # type: ignore[arg-type]
        raise LabError(f"{address} is outside the lab range {LAB_NETWORK}")


@dataclass
class NetnsLab:
    """A set of namespaces joined by veth pairs. Names get a short unique prefix."""

    prefix: str = field(default_factory=lambda: "nw" + uuid.uuid4().hex[:6])
    namespaces: list[str] = field(default_factory=list)

    def ns(self, short: str) -> str:
        """The real namespace name for a short name."""
        return f"{self.prefix}-{short}"

    def add_namespace(self, short: str) -> str:
        require_lab_support()
        name = self.ns(short)
        _run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        self.exec(short, ["ip", "link", "set", "lo", "up"])
        return name

    def exec(self, short: str, cmd: Sequence[str], *, check: bool = True,
             input_text: str | None = None) -> str:
        """Run a command inside a namespace; returns stdout. Raises LabError on failure."""
        return _run(["ip", "netns", "exec", self.ns(short), *cmd], check=check, input_text=input_text)

    def command(self, short: str, cmd: Sequence[str]) -> list[str]:
        """The argv that runs `cmd` inside the namespace (for subprocess.Popen)."""
        return ["ip", "netns", "exec", self.ns(short), *cmd]

    def link(self, a: str, a_if: str, a_addr: str, b: str, b_if: str, b_addr: str) -> None:
        """A veth pair a:a_if <-> b:b_if with addresses like '198.18.1.1/30', both up."""
        check_lab_address(a_addr)
        check_lab_address(b_addr)
        tmp_a, tmp_b = f"v{uuid.uuid4().hex[:8]}", f"v{uuid.uuid4().hex[:8]}"
        _run(["ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b])
        _run(["ip", "link", "set", tmp_a, "netns", self.ns(a)])
        _run(["ip", "link", "set", tmp_b, "netns", self.ns(b)])
        self.exec(a, ["ip", "link", "set", tmp_a, "name", a_if])
        self.exec(b, ["ip", "link", "set", tmp_b, "name", b_if])
        self.exec(a, ["ip", "addr", "add", a_addr, "dev", a_if])
        self.exec(b, ["ip", "addr", "add", b_addr, "dev", b_if])
        self.set_link(a, a_if, True)
        self.set_link(b, b_if, True)

    def set_link(self, short: str, ifname: str, up: bool) -> None:
        self.exec(short, ["ip", "link", "set", ifname, "up" if up else "down"])

    def add_route(self, short: str, destination: str, via: str) -> None:
        """A route to a lab prefix (never a default route)."""
        if destination in ("default", "0.0.0.0/0"):
            raise LabError("lab namespaces get no default route")
        check_lab_address(destination)
        self.exec(short, ["ip", "route", "add", destination, "via", via])

    def enable_forwarding(self, short: str) -> None:
        self.exec(short, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])

    def set_loss(self, short: str, percent: int, *, drop_all: bool = False, every: int = 0) -> None:
        """Drop `percent` % of incoming echo requests in a namespace (nftables numgen random).

        percent=0 removes the rule. drop_all drops every echo request silently (a blackhole).
        every=N drops exactly every Nth echo request instead (numgen inc): a probe of N echoes
        loses one, every time.
        """
        if shutil.which("nft") is None:
            raise LabError("loss emulation needs nftables: apt-get install nftables")
        self.exec(short, ["nft", "delete", "table", "inet", "nwlab"], check=False)
        if percent <= 0 and not drop_all and every <= 0:
            return
        if drop_all:
            cond = ""
        elif every > 0:
            cond = f"numgen inc mod {int(every)} == 0 "
        else:
            cond = f"numgen random mod 100 < {int(percent)} "
        rules = (
            "table inet nwlab {\n"
            "  chain input {\n"
            "    type filter hook input priority 0; policy accept;\n"
            f"    icmp type echo-request {cond}drop\n"
            "  }\n"
            "}\n"
        )
        self.exec(short, ["nft", "-f", "-"], input_text=rules)

    def teardown(self) -> None:
        """Delete every namespace created (their veths go with them). Never raises."""
        for name in reversed(self.namespaces):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.namespaces.clear()

    def __enter__(self) -> NetnsLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()
