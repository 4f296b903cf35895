"""`netwatchd probe` on plain addresses renders straight from the engine's round (no ProbeResult per
target): its table and JSON must be, byte for byte, what render_table / render_json write for the
round's results(). Loopback only; names come from a resolver defined here (no DNS)."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from netwatchd.commands.probe import (
    PROBE_CHOICES,
    render_json,
    render_round_json,
    render_round_table,
    render_table,
    round_all_alive,
    round_outcomes,
)
from netwatchd.errors import PermissionProblem
from netwatchd.models import PROBE_TYPES
from netwatchd.probes.icmp import IcmpEngine, IcmpRound, IcmpTarget

AT = datetime(2026, 12, 5, 10, 30, 0, 123456, tzinfo=timezone.utc)
NAMES = {"office": "127.0.0.1", "office-v6": "::1"}


def resolver(name: str) -> str:
    if name in NAMES:
        return NAMES[name]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def same_as_results(round_: IcmpRound) -> None:
    results = round_.results(AT)
    assert render_round_table(round_) == render_table(results)
    assert render_round_json(round_, AT) == render_json(results)
    assert round_outcomes(round_) == [(r.alive, r.sent, r.received, r.rtt_min_ms, r.rtt_avg_ms, r.rtt_max_ms,
                                       r.jitter_ms, r.stdev_ms, r.error) for r in results]
    assert round_all_alive(round_) is all(r.alive for r in results)


def test_the_probe_types_offered_are_the_models():
    assert PROBE_CHOICES == PROBE_TYPES


@pytest.mark.parametrize("count", [1, 3])
def test_a_real_loopback_round_renders_as_its_results(count: int):
    engine = IcmpEngine(resolver=resolver)
    try:
        engine.check()
    except PermissionProblem as exc:
        pytest.skip(f"ICMP not permitted here: {exc}")
    addresses = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(300)] + ["office", "::1", "missing.lab",
                                                                           "office-v6"]
    round_ = engine.ping_addresses(addresses, IcmpTarget("", "", count, 0.002, 1.0))
    results = round_.results(AT)
    assert [r.alive for r in results] == [True] * 302 + [False, True]
    assert results[300].detail["ip"] == "127.0.0.1" and results[302].error.startswith("name does not resolve")
    same_as_results(round_)
    text = render_round_table(round_)
    assert text.splitlines()[1].split()[:6] == ["127.0.0.1", "icmp", "up", str(count), str(count), "0"]


def synthetic_round(raw: bool, *, hosts: list[str] | None = None) -> IcmpRound:
    """A round whose columns hold every kind of outcome (filled as run() leaves them; no packets)."""
    addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "office", "missing.lab", "127.0.0.6",
                 "127.0.0.7", "::1"]
    settings = [(1, 0.0, 1.0, 56), (3, 0.01, 1.0, 56), (3, 0.01, 1.0, 56), (1, 0.0, 1.0, 56), (1, 0.0, 1.0, 56),
                (2, 0.0, 1.0, 56), (2, 0.01, 1.0, 56), (1, 0.0, 1.0, 56), (1, 0.0, 1.0, 56)]
    round_ = IcmpRound(hosts or addresses, addresses, settings, raw=raw, resolver=resolver, reserve=lambda n: 0)
    round_.sent[:] = [1, 3, 3, 1, 1, 0, 2, 1, 1]
    round_.rtts[:] = [[0.1250004],                 # rounds to 0.125 first: shown 0.12, not 0.13
                      [12.5, None, 1234.5678],     # one lost, wide values
                      [None, None, None],          # every echo answered by an ICMP error
                      [None],                      # its reply came after the timeout
                      [0.0451],                    # a name
                      [None, None],                # did not resolve (never sent)
                      [0.5, 0.5],                  # two equal times
                      [None],                      # the send itself failed
                      [99999.9999]]                # a very slow one, rounding up to a wider text
    round_.errors[2] = "destination host unreachable from 198.18.1.14"
    round_.error_count[2] = 3
    round_.late[3] = 1
    round_.errors[7] = "network unreachable (no route from this host)"
    return round_


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "datagram"])
def test_every_kind_of_outcome_renders_as_its_results(raw: bool):
    round_ = synthetic_round(raw)
    same_as_results(round_)
    lines = render_round_table(round_).splitlines()
    assert lines[1].split()[6:10] == ["0.12", "0.12", "0.12", "0.00"]
    assert lines[3].endswith("  destination host unreachable from 198.18.1.14")
    assert lines[6].split()[:6] == ["missing.lab", "icmp", "DOWN", "0", "0", "100"]
    assert round_all_alive(round_) is False


def test_host_names_beside_addresses_render_as_their_results():
    round_ = synthetic_round(True, hosts=["kantor \"Waru\" \u00e9", *[f"site-{i}" for i in range(8)]])
    same_as_results(round_)
    assert render_round_table(round_).splitlines()[1].startswith('kantor "Waru" \u00e9 (127.0.0.2)  icmp')


def test_all_answered_is_exit_status_zero_and_an_empty_round_renders_empty():
    round_ = IcmpRound(["127.0.0.2"], ["127.0.0.2"], (1, 0.0, 1.0, 56), raw=True, resolver=resolver,
                       reserve=lambda n: 0)
    round_.sent[0], round_.rtts[0] = 1, [0.2]
    assert round_all_alive(round_) is True
    same_as_results(round_)
    empty = IcmpRound([], [], (1, 0.0, 1.0, 56), raw=True, resolver=resolver, reserve=lambda n: 0)
    assert (render_round_json(empty, AT), render_json([])) == ("[]", "[]")
    assert render_round_table(empty) == render_table([])


def test_a_times_three_decimals_are_what_repr_of_round_writes():
    import random

    edges = [0.0, 1e-9, 0.0004999, 0.0005, 0.0015, 0.0025, 0.1249996, 0.1250004, 1.0005, 2.675, 5.0,
             59999.9995, 99999.9999, 123456789.1234]
    for value in edges:     # the whole JSON line of a target answered in `value` ms
        round_ = IcmpRound(["127.0.0.2"], ["127.0.0.2"], (1, 0.0, 1.0, 56), raw=True, resolver=resolver,
                           reserve=lambda n: 0)
        round_.sent[0], round_.rtts[0] = 1, [value]
        assert render_round_json(round_, AT) == render_json(round_.results(AT)), value
    chance = random.Random(16)
    for value in edges + [chance.random() * chance.choice([0.001, 0.01, 1.0, 10.0, 100.0, 1000.0, 60000.0])
                          for _ in range(200_000)]:   # the shortcut render_round_json takes, alone
        text = f"{value:.3f}".rstrip("0")
        assert (text + "0" if text.endswith(".") else text) == repr(round(value, 3)), value


def test_the_whole_output_and_the_status_survive_the_exit_without_teardown(tmp_path):
    try:
        IcmpEngine().check()
    except PermissionProblem as exc:
        pytest.skip(f"ICMP not permitted here: {exc}")
    listing = tmp_path / "targets.txt"
    listing.write_text("".join(f"127.0.{i // 250}.{i % 250 + 1}\n" for i in range(3000)), "utf-8")
    for extra in ([], ["--json"]):
        done = subprocess.run([sys.executable, "-m", "netwatchd", "probe", "-c", "1", "-f", str(listing), *extra],
                              capture_output=True, text=True, timeout=60)   # stdout: a pipe, read to the end
        assert (done.returncode, done.stderr) == (0, "")
        lines = done.stdout.splitlines()
        assert len(lines) == (3002 if extra else 3001) and done.stdout.endswith("\n")
    cut_short = subprocess.run(f"{sys.executable} -m netwatchd probe -c 1 -f {listing} | head -1", shell=True,
                               capture_output=True, text=True, timeout=60)
    assert cut_short.stdout.split()[0] == "ADDRESS" and "Traceback" not in cut_short.stderr


ASYNC_STILL_WORKS = r"""
import os, sys, types
import netwatchd.probes.icmp
assert "asyncio" not in sys.modules, "importing the engine imported asyncio"
import asyncio, icmplib
assert type(asyncio) is types.ModuleType and asyncio.run is not None and sys.modules["asyncio"] is asyncio
for attempt in range(3):   # icmplib's raw socket sees every ICMP packet of the host: on a machine busy
    # with other pings (a benchmark of 10,000 loopback sites) one reply may be missed; a broken async API never answers
    host = asyncio.run(icmplib.async_ping("127.0.0.1", count=1, timeout=1, privileged=os.geteuid() == 0))
    hosts = icmplib.multiping(["127.0.0.2", "127.0.0.3"], count=1, timeout=1, privileged=os.geteuid() == 0)
    if host.is_alive and all(h.is_alive for h in hosts):
        break
print(host.is_alive, all(h.is_alive for h in hosts))
"""


def test_icmplib_without_asyncio_at_import_still_pings_with_its_async_api():
    try:
        IcmpEngine(privileged=True).check()
    except PermissionProblem:
        pytest.skip("icmplib's async ping here needs raw sockets (root or CAP_NET_RAW)")
    done = subprocess.run([sys.executable, "-c", ASYNC_STILL_WORKS], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
