#!/usr/bin/env python3
"""Benchmark netwatchd's batched ICMP engine against fping and icmplib's async_multiping.

One-shot mode: N distinct loopback targets (127.x.y.z; Linux answers for all of 127/8), one echo
each. Every peer runs in its own subprocess, R times in rotating order; the tables show medians
(peak RSS: one more run of each under GNU time, so no peer inherits this process's as its peak).
For the Python peers two walls are given: `round` (the ping call itself, what the agent pays every
round) and `process` (interpreter start and imports included, ~0.1 s here that a daemon pays
once). fping's process wall is its round: it starts in about a millisecond.

Whole processes (cli-table, cli-json): `netwatchd probe --from-file FILE --count 1 --timeout 1s`
[--json] as an administrator runs it, beside `fping -c1 -i0 -q -f FILE`, each timed from fork to
exit; the targets each reported alive must be the same (fping's own lost replies are counted
apart). Run this with the interpreter of the venv netwatchd is installed in: it times that venv's
`netwatchd` console script and says whether the install is editable (its import finder costs
every start) or normal. Start-up: `netwatchd --help`, `check`,
`status` against a small config (target <= 120 ms each). The children run with bytecode caching on
(as an installed package), whatever PYTHONDONTWRITEBYTECODE says here.

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
    warm = icmp.IcmpRound([t.host for t in work], [t.address for t in work], [t[2:] for t in work],
                           raw=engine.mode == "raw", resolver=icmp.system_resolver, reserve=engine._reserve)
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

def netwatchd_command() -> list[str]:
    """The `netwatchd` an administrator runs: the console script beside this interpreter (the one
    pip installed), else `python -m netwatchd`."""
    script = Path(sys.executable).with_name("netwatchd")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "netwatchd"]


def cli_env() -> dict[str, str]:
    """The children's environment: as the caller's, but with bytecode caching on (an installed
    package has its .pyc files; PYTHONDONTWRITEBYTECODE would make every run compile ~30 modules)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _command(name: str, targets_file: Path, timeout: float) -> list[str]:
    if name == "fping":
        return ["fping", "-c1", "-i0", "-q", "-t", str(int(timeout * 1000)), "-f", str(targets_file)]
    if name in CLI_PEERS:
        return [*netwatchd_command(), "probe", "--from-file", str(targets_file), "--count", "1",
                "--timeout", f"{timeout:g}s", *(["--json"] if name == "cli-json" else [])]
    return [sys.executable, str(Path(__file__).resolve()), "--worker", name,
            "--targets-file", str(targets_file), "--timeout", str(timeout)]


CLI_PEERS = ("cli-table", "cli-json")


def alive_addresses(name: str, stdout: str, stderr: str) -> set[str]:
    """The targets a peer reported as answering (to check that netwatchd and fping agree)."""
    if name == "fping":   # -q: "127.1.0.1 : xmt/rcv/%loss = 1/1/0%, min/avg/max = ..." on stderr
        return {line.split()[0] for line in stderr.splitlines() if "xmt/rcv/%loss = 1/1/" in line}
    if name == "cli-json":
        return {r["address"] for r in json.loads(stdout) if r["alive"]}
    return {line.split()[0] for line in stdout.splitlines()[1:] if line.split()[2:3] == ["up"]}


def _same_priority(niceness: int) -> None:
    """This process and so every peer it starts runs at the same raised priority (root only): less
    noise from other jobs. Set here, not in a preexec_fn: without one, subprocess starts children
    with vfork, so a child's peak RSS (wait4) is its own, not this process's copied at fork."""
    if niceness:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)


def install_kind() -> str:
    """How netwatchd is installed beside this interpreter: 'editable' (pip install -e: an import
    finder runs at every start, ~10 ms) or 'normal' (pip install .)."""
    site_dirs = {Path(p) for p in sys.path if p.endswith("site-packages")}
    editable = any(any(d.glob("__editable__*netwatchd*.pth")) for d in site_dirs if d.is_dir())
    return "editable" if editable else "normal"


def _run_peer(name: str, targets_file: Path, timeout: float) -> dict[str, Any]:
    """Run one peer in its own process; wait4 gives that process's own CPU time and peak RSS."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(_command(name, targets_file, timeout), stdout=out, stderr=err, cwd=ROOT,
                                   env=cli_env())
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    record: dict[str, Any] = {"process_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}
    if name == "fping" or name in CLI_PEERS:  # the whole process is the round; exit 1: someone did not answer
        if process.returncode not in (0, 1):
            raise SystemExit(f"{name} failed ({process.returncode}): {stderr.strip()[-400:]}")
        found = alive_addresses(name, stdout, stderr)
        record.update(alive=len(found), alive_set=found, round_s=wall, round_cpu_s=record["cpu_s"],
                      output_bytes=len(stdout))
        return record
    if process.returncode != 0:
        raise SystemExit(f"{name} worker failed: {stderr.strip()[-400:]}")
    record.update(json.loads(stdout))
    return record


def peak_rss_mb(command: list[str]) -> float | None:
    """Peak RSS of one more run of `command`, started by GNU time (a small process): the wait4
    figure of a child of this benchmark would include this process's own ~50 MB, which a child
    keeps as its peak from before its exec. None without /usr/bin/time."""
    if not Path("/usr/bin/time").is_file():
        return None
    with tempfile.NamedTemporaryFile("r") as report:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *command], cwd=ROOT, env=cli_env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return round(int(report.read().split()[-1]) / 1024.0, 1)


def one_shot(hosts: int, runs: int, timeout: float, peers: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        targets_file = Path(tmp) / "targets.txt"
        targets_file.write_text("\n".join(loopback_targets(hosts)) + "\n")
        samples: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
        for peer in peers:
            if peer in CLI_PEERS:   # once untimed: writes the .pyc files an installed package has
                _run_peer(peer, targets_file, timeout)
        for run in range(runs):
            for offset in range(len(peers)):        # rotate the order: no peer always goes first
                peer = peers[(run + offset) % len(peers)]
                samples[peer].append(_run_peer(peer, targets_file, timeout))
        peaks = {peer: peak_rss_mb(_command(peer, targets_file, timeout)) for peer in peers}
    summary: dict[str, Any] = {}
    for peer, records in samples.items():
        row = summary[peer] = {
            "round_s": round(statistics.median(r["round_s"] for r in records), 4),
            "round_min_s": round(min(r["round_s"] for r in records), 4),
            "process_s": round(statistics.median(r["process_s"] for r in records), 4),
            "process_min_s": round(min(r["process_s"] for r in records), 4),
            "cpu_s": round(statistics.median(r["cpu_s"] for r in records), 4),
            "round_cpu_s": round(statistics.median(r["round_cpu_s"] for r in records), 4),
            "alive": min(r["alive"] for r in records),
            "runs": [round(r["round_s"], 4) for r in records],
            "peak_rss_mb": peaks[peer],
        }
        if "alive_set" in records[0] and "fping" in samples and peer != "fping":
            # identical results: every run reports alive exactly the targets fping saw answer (on
            # loopback all of them). fping -i0 itself now and then loses a reply on a busy machine
            # (its receive buffer overflows): the targets it saw answer in any run are the truth,
            # and its own misses are counted apart.
            fping_sets = [r["alive_set"] for r in samples["fping"]]
            answered = set().union(*fping_sets)
            row["same_targets_alive_as_fping"] = all(r["alive_set"] == answered for r in records)
            row["runs_differing_from_fping"] = sum(r["alive_set"] != answered for r in records)
        for key in ("warm_network_s", "warm_results_s"):
            if key in records[0]:
                row[key] = round(statistics.median(r[key] for r in records), 4)
    if "fping" in samples:
        fping_sets = [r["alive_set"] for r in samples["fping"]]
        summary["fping"]["replies_missed"] = sum(len(set().union(*fping_sets) - f) for f in fping_sets)
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


STARTUP_TARGET_S = 0.120


def startup(runs: int) -> dict[str, Any]:
    """Wall time of `netwatchd --help`, `check` and `status` (a cron job's view), median and best of
    `runs`, beside the bare interpreter. Against a config of 20 loopback hosts and a migrated store."""
    from netwatchd.store.db import Database

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "hosts.yaml"
        config.write_text("data_dir: ./data\nweb: false\nhosts:\n" + "".join(
            f"  - {{name: site-{i}, address: {a}}}\n" for i, a in enumerate(loopback_targets(20))), "utf-8")
        Database.in_dir(Path(tmp) / "data").open().close()
        cli = netwatchd_command()
        commands = {"python -c pass": [sys.executable, "-c", "pass"], "netwatchd --help": [*cli, "--help"],
                    "netwatchd check -c hosts.yaml": [*cli, "check", "-c", str(config)],
                    "netwatchd status -c hosts.yaml": [*cli, "status", "-c", str(config)]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for attempt in range(runs + 1):
            for name, command in commands.items():
                started = time.perf_counter()
                done = subprocess.run(command, cwd=tmp, env=cli_env(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
                wall = time.perf_counter() - started
                if done.returncode != 0:
                    raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
                if attempt:                      # the first round writes the .pyc files
                    times[name].append(wall)
    return {name: {"median_s": round(statistics.median(t), 4), "best_s": round(min(t), 4),
                   "meets_120ms": statistics.median(t) <= STARTUP_TARGET_S if name != "python -c pass" else None,
                   "runs": len(t)} for name, t in times.items()}


def print_startup(rows: dict[str, Any]) -> None:
    print(f"\nStart-up (whole process, median and best of {next(iter(rows.values()))['runs']} runs; "
          f"target <= {STARTUP_TARGET_S * 1000:.0f} ms)")
    print(f"{'command':<34}{'median ms':>11}{'best ms':>9}  target")
    for name, row in rows.items():
        verdict = "" if row["meets_120ms"] is None else ("met" if row["meets_120ms"] else "MISSED")
        print(f"{name:<34}{row['median_s'] * 1000:>11.1f}{row['best_s'] * 1000:>9.1f}  {verdict}")


def print_table(hosts: int, summary: dict[str, Any], sustained: dict[str, Any] | None) -> None:
    label = {"engine": "netwatchd IcmpEngine", "fping": "fping -c1 -i0", "multiping": "icmplib async_multiping",
             "cli-table": "netwatchd probe (table)", "cli-json": "netwatchd probe --json"}
    runs = len(next(iter(summary.values()))["runs"])
    print(f"\nOne echo to each of {hosts:,} loopback targets: median and best of {runs} runs, each peer in its "
          f"own process, netwatchd installed {install_kind()}")
    print("\nWhole process, from fork to exit (what an administrator waits for):")
    print(f"{'peer':<26}{'median s':>9}{'best s':>8}{'CPU s':>7}{'peak RSS MB':>13}{'alive':>7}"
          f"{'median/fping':>14}{'best/best':>11}")
    for peer, row in summary.items():
        best = row["process_min_s"]
        fping_best = summary.get("fping", {}).get("process_min_s")
        print(f"{label.get(peer, peer):<26}{row['process_s']:>9.3f}{best:>8.3f}{row['cpu_s']:>7.3f}"
              f"{row['peak_rss_mb'] or 0:>13.1f}{row['alive']:>7}{row.get('process_vs_fping', 0):>14.2f}"
              f"{(best / fping_best if fping_best else 0):>11.2f}")
    print("\nThe round alone, inside a started process (what the agent pays every round; fping's is its process):")
    print(f"{'peer':<26}{'median s':>9}{'best s':>8}{'CPU s':>7}{'median/fping':>14}{'CPU/fping':>11}")
    for peer, row in summary.items():
        if peer in CLI_PEERS:
            continue
        print(f"{label.get(peer, peer):<26}{row['round_s']:>9.3f}{row['round_min_s']:>8.3f}{row['round_cpu_s']:>7.3f}"
              f"{row.get('round_vs_fping', 0):>14.2f}{row.get('round_cpu_vs_fping', 0):>11.2f}")
    engine = summary.get("engine", {})
    if "warm_network_s" in engine:
        print(f"engine, second round in the same process: packets {engine['warm_network_s']:.3f}s + "
              f"building {hosts:,} ProbeResults {engine['warm_results_s']:.3f}s")
    for peer in CLI_PEERS:
        row = summary.get(peer)
        if row and "process_vs_fping" in row:
            verdict = "met" if row["process_vs_fping"] <= 1.5 else "MISSED"
            print(f"{label[peer]}: whole process {row['process_vs_fping']:.2f}x fping's wall time (median; "
                  f"target 1.5x {verdict}, goal 1.2x); same targets alive as fping in every run: "
                  f"{row.get('same_targets_alive_as_fping')}")
    if "replies_missed" in summary.get("fping", {}):
        print(f"fping itself lost {summary['fping']['replies_missed']} replies over its {runs} runs "
              "(-i0 overflows its receive buffer on a busy machine)")
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
    parser.add_argument("--peers", default="engine,fping,multiping,cli-table,cli-json",
                        help="engine and multiping: the round in-process; fping, cli-table, cli-json: whole "
                             "processes (`netwatchd probe --from-file F --count 1 --timeout 1s [--json]`)")
    parser.add_argument("--startup-runs", type=int, default=11, help="runs of --help/check/status; 0 skips")
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

    _same_priority(args.nice)
    peers = [p for p in args.peers.split(",") if p]
    if "fping" in peers and shutil.which("fping") is None:
        raise SystemExit("fping is not installed: apt-get install fping (or --peers engine,multiping)")
    summary = one_shot(args.hosts, args.runs, args.timeout, peers)
    sustained = None
    if args.sustained > 0:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "sustained",
                               "--sustained-hosts", str(args.sustained_hosts), "--interval", str(args.interval),
                               "--count", str(args.count), "--sustained", str(args.sustained)],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"sustained worker failed: {done.stderr.strip()[-600:]}")
        sustained = json.loads(done.stdout)
    starts = startup(args.startup_runs) if args.startup_runs > 0 else None
    print_table(args.hosts, summary, sustained)
    if starts:
        print_startup(starts)
    print(f"machine: {os.cpu_count()} CPUs, load average {[round(v, 2) for v in os.getloadavg()]} at the end; "
          f"command: python3 scripts/bench_probe.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    document = {"benchmark": "probe", "hosts": args.hosts, "timeout_s": args.timeout, "nice": args.nice,
                "netwatchd_install": install_kind(),
                "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                            "load_average": [round(v, 2) for v in os.getloadavg()]},
                "one_shot": summary, "sustained": sustained, "startup": starts}
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
