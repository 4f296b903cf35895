"""The batched ICMP engine against real ICMP: loopback in-process, lab hosts in namespaces.

Namespace cases run the engine inside the lab's `mon` namespace through a small runner
(`python -c RUNNER` under `ip netns exec`), which starts one thread per engine so that several
engines can ping at the same moment.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from netwatchd.clock import FakeClock
from netwatchd.errors import PermissionProblem
from netwatchd.probes.icmp import IcmpEngine, IcmpTarget, error_reason

RUNNER = r"""
import json, socket, sys, threading
from netwatchd.clock import SystemClock
from netwatchd.errors import PermissionProblem
from netwatchd.probes.icmp import IcmpEngine, IcmpTarget

spec = json.load(sys.stdin)
names = spec.get("names", {})

def resolver(name):
    if name in names:
        return names[name]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

out = [None] * len(spec["engines"])
start = threading.Barrier(len(spec["engines"]))

def run(slot, engine_spec):
    engine = IcmpEngine(engine_spec.get("privileged"), resolver=resolver, ident=engine_spec.get("ident"))
    targets = [IcmpTarget(**t) for t in engine_spec["targets"]]
    start.wait()
    try:
        out[slot] = [r.to_dict() for r in engine.ping(targets, clock=SystemClock())]
    except PermissionProblem as exc:
        out[slot] = {"permission_problem": str(exc)}

threads = [threading.Thread(target=run, args=(i, e)) for i, e in enumerate(spec["engines"])]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
"""


def run_engines(lab, engines: list[dict], names: dict[str, str] | None = None, *,
                namespace: str = "mon", prefix: list[str] | None = None) -> list:
    """Run IcmpEngines inside a lab namespace at the same moment; one result list per engine."""
    command = lab.command(namespace, [*(prefix or []), sys.executable, "-c", RUNNER])
    done = subprocess.run(command, input=json.dumps({"engines": engines, "names": names or {}}),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def target(address: str, *, count: int = 3, interval: float = 0.02, timeout: float = 0.5,
           host: str | None = None) -> dict:
    return {"host": host or address, "address": address, "count": count, "interval": interval,
            "timeout": timeout, "payload_size": 56}


def by_host(results: list[dict]) -> dict[str, dict]:
    return {r["host"]: r for r in results}


# -- loopback, in-process ----------------------------------------------------------------------

@pytest.fixture
def engine() -> IcmpEngine:
    try:
        engine = IcmpEngine()
        engine.check()
    except PermissionProblem as exc:
        pytest.skip(f"ICMP not permitted here: {exc}")
    return engine


def test_loopback_v4_and_v6_answer_with_statistics(engine, clock: FakeClock):
    results = engine.ping([IcmpTarget("v4", "127.0.0.1", count=4, interval=0.01, timeout=1.0),
                           IcmpTarget("v6", "::1", count=2, interval=0.01, timeout=1.0)], clock=clock)
    assert [r.host for r in results] == ["v4", "v6"]
    for result, count in zip(results, (4, 2), strict=True):
        assert result.alive and result.error is None
        assert (result.sent, result.received, result.loss_percent) == (count, count, 0.0)
        assert 0 < result.rtt_min_ms <= result.rtt_avg_ms <= result.rtt_max_ms < 1000
        assert result.jitter_ms is not None and result.stdev_ms is not None
        assert result.at == clock.now()
        assert result.probe == "icmp"


def test_names_are_resolved_before_the_round_and_a_bad_one_fails_alone(clock: FakeClock):
    asked: list[str] = []

    def resolver(name: str) -> str:
        asked.append(name)
        if name == "site-a.lab":
            return "127.0.0.2"
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    engine = IcmpEngine(resolver=resolver)
    try:
        engine.check()
    except PermissionProblem as exc:
        pytest.skip(str(exc))
    good, bad, literal = engine.ping([IcmpTarget("a", "site-a.lab", count=1),
                                      IcmpTarget("b", "missing.lab", count=1),
                                      IcmpTarget("c", "127.0.0.3", count=1)], clock=clock)
    assert good.alive and good.detail["ip"] == "127.0.0.2" and good.address == "site-a.lab"
    assert not bad.alive and bad.sent == 0
    assert bad.error == "name does not resolve: missing.lab (Name or service not known)"
    assert literal.alive
    assert asked == ["site-a.lab", "missing.lab"]  # literals never go to the resolver


def test_two_engines_at_once_on_loopback_each_count_exactly_their_replies(clock: FakeClock):
    addresses = [f"127.0.{i}.{j}" for i in range(2) for j in range(1, 51)]
    engines = [IcmpEngine(), IcmpEngine()]
    try:
        engines[0].check()
    except PermissionProblem as exc:
        pytest.skip(str(exc))
    outcome: list[list] = [[], []]
    barrier = threading.Barrier(2)

    def run(slot: int) -> None:
        barrier.wait()
        outcome[slot] = engines[slot].ping([IcmpTarget(a, a, count=5, interval=0.005, timeout=1.0)
                                            for a in addresses], clock=clock)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for results in outcome:
        assert [r.address for r in results] == addresses
        assert all(r.alive and r.sent == 5 and r.received == 5 for r in results)


def test_rounds_of_one_engine_never_share_an_identifier():
    engine = IcmpEngine(ident=0xFFFE)
    first = engine._reserve(70_000)          # needs two identifiers: 0xFFFE and 0xFFFF
    second = engine._reserve(10)             # wraps to 0 rather than straddle the end
    third = engine._reserve(1)
    assert [first >> 16, second >> 16, third >> 16] == [0xFFFE, 0, 1]
    assert first & 0xFFFF == second & 0xFFFF == 0


def test_error_reasons_read_like_ping():
    assert error_reason(socket.AF_INET, 3, 1, "198.18.1.14") == "destination host unreachable from 198.18.1.14"
    assert error_reason(socket.AF_INET, 11, 0, "198.18.1.1") == "TTL exceeded in transit from 198.18.1.1"
    assert error_reason(socket.AF_INET6, 1, 0, "2001:2::1") == \
        "destination unreachable: no route to destination from 2001:2::1"
    assert error_reason(socket.AF_INET6, 3, 0, "2001:2::1") == "hop limit exceeded in transit from 2001:2::1"


# -- lab namespaces ----------------------------------------------------------------------------

def build_sites(lab) -> None:
    """mon with four neighbours: up (answers, also over IPv6), cut (its link is down), silent
    (drops every echo request), rtr (a router that knows 198.18.9.0/24 is unreachable)."""
    lab.add_namespace("mon")
    for index, name in enumerate(("up", "cut", "silent", "rtr")):
        lab.add_namespace(name)
        base = 4 * index
        lab.link("mon", f"to-{name}", f"198.18.1.{base + 1}/30", name, "eth0", f"198.18.1.{base + 2}/30")
    lab.exec("mon", ["ip", "-6", "addr", "add", "2001:2:0:1::1/64", "dev", "to-up", "nodad"])
    lab.exec("up", ["ip", "-6", "addr", "add", "2001:2:0:1::2/64", "dev", "eth0", "nodad"])
    lab.set_link("cut", "eth0", False)
    lab.set_loss("silent", 0, drop_all=True)
    lab.enable_forwarding("rtr")
    lab.exec("rtr", ["sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0"])
    lab.exec("rtr", ["ip", "route", "add", "unreachable", "198.18.9.0/24"])
    lab.add_route("mon", "198.18.9.0/24", "198.18.1.14")


def mixed_round() -> list[dict]:
    """One target of every kind build_sites offers, plus a name that resolves and one that does not."""
    return [target("198.18.1.2", host="up"), target("2001:2:0:1::2", host="up-v6"),
            target("198.18.1.6", host="cut"), target("198.18.1.10", host="silent"),
            target("198.18.9.1", host="behind-router"), target("2001:2:0:9::1", host="no-route-v6"),
            target("site.lab", host="by-name"), target("gone.lab", host="unresolvable")]


@pytest.mark.parametrize("privileged", [True, False], ids=["raw", "datagram"])
def test_one_round_judges_every_kind_of_host(lab, privileged):
    build_sites(lab)
    if not privileged:  # unprivileged ping sockets, allowed for root's group in this namespace only
        lab.exec("mon", ["sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 0"])
    names = {"site.lab": "198.18.1.2"}
    [results] = run_engines(lab, [{"privileged": privileged, "targets": mixed_round()}], names)
    got = by_host(results)
    mode = "raw" if privileged else "datagram"
    assert all(r["detail"]["mode"] == mode for r in results)
    for name in ("up", "up-v6", "by-name"):
        assert got[name]["alive"] and got[name]["received"] == 3 and got[name]["error"] is None, got[name]
    assert got["by-name"]["detail"]["ip"] == "198.18.1.2"
    for name in ("cut", "silent"):
        assert (got[name]["alive"], got[name]["sent"], got[name]["received"]) == (False, 3, 0)
        assert got[name]["error"] == "timeout"
    router = got["behind-router"]
    assert (router["alive"], router["received"]) == (False, 0)
    assert router["error"] == "destination host unreachable from 198.18.1.14"
    assert router["detail"]["icmp_errors"] == 3  # each echo failed at once, none waited out
    assert got["no-route-v6"]["error"] == "network unreachable (no route from this host)"
    assert got["unresolvable"]["error"].startswith("name does not resolve: gone.lab")
    assert got["unresolvable"]["sent"] == 0


def test_icmp_errors_fail_the_round_without_waiting_for_the_timeout(lab):
    build_sites(lab)
    started = time.monotonic()
    [results] = run_engines(lab, [{"targets": [target("198.18.9.1", count=2, interval=0.01, timeout=5.0)]}])
    elapsed = time.monotonic() - started
    assert results[0]["error"] == "destination host unreachable from 198.18.1.14"
    assert elapsed < 4.0  # the 5 s timeout was not waited out (interpreter start included)


def test_random_loss_is_measured_within_statistical_bounds(lab):
    lab.add_namespace("mon")
    lab.add_namespace("lossy")
    lab.link("mon", "eth0", "198.18.2.1/30", "lossy", "eth0", "198.18.2.2/30")
    lab.set_loss("lossy", 50)
    [results] = run_engines(lab, [{"targets": [target("198.18.2.2", count=200, interval=0.002)]}])
    result = results[0]
    assert result["sent"] == 200
    # Binomial(200, 0.5): mean 100, sd 7.1; 60..140 is more than 5 sd either side
    assert 60 <= result["received"] <= 140, result
    assert result["alive"] and 30 <= result["loss_percent"] <= 70


def test_two_engines_at_once_on_the_same_targets_are_both_right(lab):
    build_sites(lab)
    targets = [target("198.18.1.2", count=5, interval=0.01), target("198.18.1.10", count=5, interval=0.01),
               target("2001:2:0:1::2", count=5, interval=0.01)]
    first, second = run_engines(lab, [{"targets": targets}, {"targets": targets}])
    for results in (first, second):
        got = by_host(results)
        assert (got["198.18.1.2"]["received"], got["2001:2:0:1::2"]["received"]) == (5, 5)
        assert not got["198.18.1.10"]["alive"] and got["198.18.1.10"]["received"] == 0


def test_same_identifier_never_lends_a_reply_to_a_dead_host(lab):
    """Two raw engines forced onto the same identifier and sequences: the silent host's engine
    sees the live host's replies (same id, same seq) and must still call it dead - the source
    address is part of the match."""
    build_sites(lab)
    alive, dead = run_engines(lab, [
        {"ident": 4242, "targets": [target("198.18.1.2", count=5, interval=0.01)]},
        {"ident": 4242, "targets": [target("198.18.1.10", count=5, interval=0.01)]},
    ])
    assert alive[0]["received"] == 5
    assert (dead[0]["alive"], dead[0]["received"], dead[0]["error"]) == (False, 0, "timeout")


def test_neither_raw_nor_unprivileged_icmp_names_both_fixes(lab):
    lab.add_namespace("mon")
    lab.exec("mon", ["sysctl", "-q", "-w", "net.ipv4.ping_group_range=1 0"])
    no_raw = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw"]
    done = subprocess.run(lab.command("mon", [*no_raw, sys.executable, "-m", "netwatchd", "probe", "127.0.0.1"]),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "setcap cap_net_raw+ep" in lines[0] and "net.ipv4.ping_group_range=" in lines[0]
    [outcome] = run_engines(lab, [{"privileged": True, "targets": [target("127.0.0.1")]}], prefix=no_raw)
    assert "raw ICMP sockets need root or CAP_NET_RAW" in outcome["permission_problem"]


def test_a_routing_loop_reports_ttl_exceeded_from_the_router_that_gave_up(lab):
    """mon -> r1 <-> r2 with 198.18.8.0/24 routed back and forth: the echo's TTL runs out at r2."""
    for name in ("mon", "r1", "r2"):
        lab.add_namespace(name)
    lab.link("mon", "eth0", "198.18.3.1/30", "r1", "eth0", "198.18.3.2/30")
    lab.link("r1", "eth1", "198.18.3.5/30", "r2", "eth0", "198.18.3.6/30")
    for router in ("r1", "r2"):
        lab.enable_forwarding(router)
        lab.exec(router, ["sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0"])
    lab.add_route("mon", "198.18.8.0/24", "198.18.3.2")
    lab.add_route("r1", "198.18.8.0/24", "198.18.3.6")
    lab.add_route("r2", "198.18.8.0/24", "198.18.3.5")
    lab.add_route("r2", "198.18.3.0/30", "198.18.3.5")
    [results] = run_engines(lab, [{"targets": [target("198.18.8.1", count=2, timeout=1.0)]}])
    assert (results[0]["alive"], results[0]["sent"], results[0]["received"]) == (False, 2, 0)
    assert results[0]["error"] == "TTL exceeded in transit from 198.18.3.6"
