#!/usr/bin/env python3
"""Benchmark netwatchd's batched ICMP engine against fping and icmplib's async_multiping.

One-shot mode: N distinct loopback targets (127.x.y.z; Linux answers for all of 127/8), one echo
each. Every peer runs in its own subprocess (fair peak RSS), R times in rotating order; the table
shows medians. For the Python peers two walls are given: `round` (the ping call itself, what the
agent pays every round) and `process` (interpreter start and imports included, ~0.1 s here that a
daemon pays once). fping's process wall is its round: it starts in about a millisecond.

Sustained mode (--sustained SECONDS): N hosts at interval I with count C through the real
ProbeLoop + probe_hosts + IcmpEngine, reporting CPU % of one core and RSS over the window.

Packets go to loopback only. Needs root (or CAP_NET_RAW) for the raw-socket peers.

    sudo python3 scripts/bench_probe.py                      # 10,000 targets, 3 runs, 60 s sustained
    sudo python3 scripts/bench_probe.py --hosts 2000 --sustained 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def loopback_targets(count: int) -> list[str]:
    """`count` distinct addresses in 127.1.0.1 upwards (x.y.0 and x.y.255 skipped)."""
    out: list[str] = []
    second, third, fourth = 1, 0, 1
    while len(out) < count:
        out.append(f"127.{second}.{third}.{fourth}")
        fourth += 1
        if fourth == 255:
            fourth, third = 1, third + 1
            if third == 256:
                third, second = 0, second + 1
    return out


def _rss_now_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


# -- workers (run in their own subprocess) -------------------------------------------------------

def worker_engine(targets: list[str], timeout: float) -> dict[str, Any]:
    from netwatchd.clock import SystemClock
    from netwatchd.probes import icmp
    from netwatchd.probes.icmp import IcmpEngine, IcmpTarget

    engine = IcmpEngine()
    engine.check()
    work = [IcmpTarget(a, a, count=1, interval=0.0, timeout=timeout) for a in targets]
    started, cpu_started = time.perf_counter(), time.process_time()
    results = engine.ping(work, clock=SystemClock())
    round_s = time.perf_counter() - started
    round_cpu_s = time.process_time() - cpu_started
    # where a second (warm) round spends its time: packets vs building the ProbeResults
    begun = time.perf_counter()
    warm = icmp._Round(work, raw=engine.mode == "raw", resolver=icmp.system_resolver, reserve=engine._reserve)
    warm.run()
    network_s = time.perf_counter() - begun
    begun = time.perf_counter()
    warm.results(SystemClock().now())
    results_s = time.perf_counter() - begun
    return {"round_s": round_s, "round_cpu_s": round_cpu_s, "alive": sum(r.alive for r in results),
            "mode": engine.mode,
            "warm_network_s": network_s, "warm_results_s": results_s}


def worker_multiping(targets: list[str], timeout: float) -> dict[str, Any]:
    import asyncio

    from icmplib import async_multiping

    started, cpu_started = time.perf_counter(), time.process_time()
    hosts = asyncio.run(async_multiping(targets, count=1, interval=0, timeout=timeout, privileged=True))
    return {"round_s": time.perf_counter() - started, "round_cpu_s": time.process_time() - cpu_started,
            "alive": sum(h.is_alive for h in hosts)}


def worker_sustained(count_hosts: int, interval: float, count: int, seconds: float) -> dict[str, Any]:
    import threading

    from netwatchd.clock import SystemClock
    from netwatchd.config.model import HostSpec
    from netwatchd.probes import probe_hosts
    from netwatchd.probes.icmp import IcmpEngine
    from netwatchd.schedule import ProbeLoop

    engine = IcmpEngine()
    engine.check()
    hosts = [HostSpec(name=a, address=a, interval=interval, count=count) for a in loopback_targets(count_hosts)]
    lock = threading.Lock()
    tally = {"results": 0, "alive": 0, "echoes": 0, "replies": 0}

    def on_results(results: list[Any]) -> None:
        with lock:
            tally["results"] += len(results)
            tally["alive"] += sum(r.alive for r in results)
            tally["echoes"] += sum(r.sent for r in results)
            tally["replies"] += sum(r.received for r in results)

    def probe(batch: Any, *, clock: Any) -> Any:
        return probe_hosts(batch, clock=clock, icmp=engine)

    loop = ProbeLoop(hosts, probe_fn=probe, on_results=on_results, needs_retry=lambda name: False,
                     clock=SystemClock(), tick=0.1)
    loop.start()
    time.sleep(min(interval, seconds) / 4)  # let the pools and first rounds start
    with lock:
        before = dict(tally)
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    cpu1, wall1 = time.process_time(), time.monotonic()
    with lock:
        after = dict(tally)
    rss_mb = _rss_now_mb()
    loop.stop()
    window = wall1 - wall0
    results = after["results"] - before["results"]
    return {"window_s": round(window, 2), "cpu_s": round(cpu1 - cpu0, 3),
            "cpu_percent_of_one_core": round(100.0 * (cpu1 - cpu0) / window, 2),
            "rss_mb": round(rss_mb, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
            "results": results, "expected_results": round(count_hosts * window / interval),
            "alive": after["alive"] - before["alive"],
            "echoes_per_s": round((after["echoes"] - before["echoes"]) / window, 1),
            "replies": after["replies"] - before["replies"], "hosts": count_hosts,
            "interval_s": interval, "count": count}


# -- the parent: run every peer in a subprocess ---------------------------------------------------

def _command(name: str, targets_file: Path, timeout: float) -> list[str]:
    if name == "fping":
        return ["fping", "-c1", "-i0", "-q", "-t", str(int(timeout * 1000)), "-f", str(targets_file)]
    return [sys.executable, str(Path(__file__).resolve()), "--worker", name,
            "--targets-file", str(targets_file), "--timeout", str(timeout)]


NICENESS = 0


def _same_priority() -> None:
    """Every peer runs at the same raised priority (root only): less noise from other jobs."""
    if NICENESS:
        os.setpriority(os.PRIO_PROCESS, 0, NICENESS)


def _run_peer(name: str, targets_file: Path, timeout: float) -> dict[str, Any]:
    """Run one peer in its own process; wait4 gives that process's own CPU time and peak RSS."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(_command(name, targets_file, timeout), stdout=out, stderr=err, cwd=ROOT,
                                   preexec_fn=_same_priority)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    record: dict[str, Any] = {"process_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                              "peak_rss_mb": usage.ru_maxrss / 1024.0}
    if name == "fping":  # exit 1 just means some target did not answer
        record["alive"] = sum(1 for line in stderr.splitlines() if "xmt/rcv/%loss = 1/1/" in line)
        record["round_s"] = wall
        record["round_cpu_s"] = record["cpu_s"]
        return record
    if process.returncode != 0:
        raise SystemExit(f"{name} worker failed: {stderr.strip()[-400:]}")
    record.update(json.loads(stdout))
    return record


def one_shot(hosts: int, runs: int, timeout: float, peers: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        targets_file = Path(tmp) / "targets.txt"
        targets_file.write_text("\n".join(loopback_targets(hosts)) + "\n")
        samples: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
        for run in range(runs):
            for offset in range(len(peers)):        # rotate the order: no peer always goes first
                peer = peers[(run + offset) % len(peers)]
                samples[peer].append(_run_peer(peer, targets_file, timeout))
    summary: dict[str, Any] = {}
    for peer, records in samples.items():
        row = summary[peer] = {
            "round_s": round(statistics.median(r["round_s"] for r in records), 4),
            "round_min_s": round(min(r["round_s"] for r in records), 4),
            "process_s": round(statistics.median(r["process_s"] for r in records), 4),
            "cpu_s": round(statistics.median(r["cpu_s"] for r in records), 4),
            "round_cpu_s": round(statistics.median(r["round_cpu_s"] for r in records), 4),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in records), 1),
            "alive": min(r["alive"] for r in records),
            "runs": [round(r["round_s"], 4) for r in records],
        }
        for key in ("warm_network_s", "warm_results_s"):
            if key in records[0]:
                row[key] = round(statistics.median(r[key] for r in records), 4)
    fping = summary.get("fping")
    for row in summary.values():
        if fping:
            row["round_vs_fping"] = round(row["round_s"] / fping["round_s"], 2)
            row["round_min_vs_fping_min"] = round(row["round_min_s"] / fping["round_min_s"], 2)
            row["process_vs_fping"] = round(row["process_s"] / fping["process_s"], 2)
            row["round_cpu_vs_fping"] = round(row["round_cpu_s"] / fping["round_cpu_s"], 2)
    if "engine" in summary and "multiping" in summary:
        summary["engine"]["speedup_vs_multiping"] = round(
            summary["multiping"]["round_s"] / summary["engine"]["round_s"], 1)
    return summary


def print_table(hosts: int, summary: dict[str, Any], sustained: dict[str, Any] | None) -> None:
    label = {"engine": "netwatchd IcmpEngine", "fping": "fping -c1 -i0", "multiping": "icmplib async_multiping"}
    print(f"\nOne echo to each of {hosts:,} loopback targets (median and best of "
          f"{len(next(iter(summary.values()))['runs'])} runs, each peer in its own process)")
    print(f"{'peer':<26}{'round s':>9}{'best s':>8}{'round CPU s':>13}{'process s':>11}{'process CPU s':>15}"
          f"{'peak RSS MB':>13}{'alive':>7}{'round/fping':>13}{'best/best':>11}{'CPU/fping':>11}{'process/fping':>15}")
    for peer, row in summary.items():
        print(f"{label.get(peer, peer):<26}{row['round_s']:>9.3f}{row['round_min_s']:>8.3f}{row['round_cpu_s']:>13.3f}"
              f"{row['process_s']:>11.3f}{row['cpu_s']:>15.3f}{row['peak_rss_mb']:>13.1f}{row['alive']:>7}"
              f"{row.get('round_vs_fping', 0):>13.2f}{row.get('round_min_vs_fping_min', 0):>11.2f}"
              f"{row.get('round_cpu_vs_fping', 0):>11.2f}{row.get('process_vs_fping', 0):>15.2f}")
    engine = summary.get("engine", {})
    if "warm_network_s" in engine:
        print(f"engine, second round in the same process: packets {engine['warm_network_s']:.3f}s + "
              f"building {hosts:,} ProbeResults {engine['warm_results_s']:.3f}s")
    if "speedup_vs_multiping" in summary.get("engine", {}):
        print(f"engine is {summary['engine']['speedup_vs_multiping']}x faster than async_multiping (round)")
    if sustained:
        s = sustained
        print(f"\nSustained: {s['hosts']:,} hosts, interval {s['interval_s']:g}s, count {s['count']}, "
              f"{s['window_s']:g}s window")
        print(f"CPU {s['cpu_percent_of_one_core']:.2f}% of one core, RSS {s['rss_mb']:.1f} MB "
              f"(peak {s['peak_rss_mb']:.1f} MB), {s['results']:,} results of {s['expected_results']:,} expected, "
              f"{s['alive']:,} alive, {s['echoes_per_s']:,.0f} echoes/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--peers", default="engine,fping,multiping")
    parser.add_argument("--sustained", type=float, default=60.0, help="seconds; 0 skips the sustained run")
    parser.add_argument("--sustained-hosts", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--nice", type=int, default=-10 if os.geteuid() == 0 else 0,
                        help="niceness of every peer's process (default -10 as root, so other jobs on a "
                             "shared machine disturb the timing less; the same for all peers)")
    parser.add_argument("--worker", choices=["engine", "multiping", "sustained"], help=argparse.SUPPRESS)
    parser.add_argument("--targets-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "sustained":
        print(json.dumps(worker_sustained(args.sustained_hosts, args.interval, args.count, args.sustained)))
        return 0
    if args.worker:
        targets = args.targets_file.read_text().split()
        worker = worker_engine if args.worker == "engine" else worker_multiping
        print(json.dumps(worker(targets, args.timeout)))
        return 0

    global NICENESS
    NICENESS = args.nice
    peers = [p for p in args.peers.split(",") if p]
    if "fping" in peers and shutil.which("fping") is None:
        raise SystemExit("fping is not installed: apt-get install fping (or --peers engine,multiping)")
    summary = one_shot(args.hosts, args.runs, args.timeout, peers)
    sustained = None
    if args.sustained > 0:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "sustained",
                               "--sustained-hosts", str(args.sustained_hosts), "--interval", str(args.interval),
                               "--count", str(args.count), "--sustained", str(args.sustained)],
                              capture_output=True, text=True, cwd=ROOT, preexec_fn=_same_priority)
        if done.returncode != 0:
            raise SystemExit(f"sustained worker failed: {done.stderr.strip()[-600:]}")
        sustained = json.loads(done.stdout)
    print_table(args.hosts, summary, sustained)
    document = {"benchmark": "probe", "hosts": args.hosts, "timeout_s": args.timeout, "nice": args.nice,
                "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                "one_shot": summary, "sustained": sustained}
    emit_json(document, args.json_out)
    return 0


def emit_json(document: dict[str, Any], path: Path | None) -> None:
    """Print the machine-readable result after the table (and write it to `path` if given)."""
    print("\nJSON:")
    print(json.dumps(document, indent=1))
    if path:
        path.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
