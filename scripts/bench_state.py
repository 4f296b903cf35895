#!/usr/bin/env python3
"""Benchmark the alert brain: probe results per second through AlertEngine.ingest on one core.

Network: 10,000 hosts in a three-level tree (1 core -> 99 aggregation routers -> 9,900 sites),
with realistic trouble replayed round after round: a few sites failing or slow at random, an
aggregation router down for a while (its 100 sites become unreachable and fold into its message,
then come back), and once the core itself (everything unreachable, then everything re-judged).

Compared in the same run, on the same results:
  * build      — only constructing the ProbeResult objects (the floor: the prober's own cost);
  * naive      — a straightforward engine: a frozen state per host rebuilt with dataclasses.replace
                 on every result, children found by scanning every host (no index);
  * engine     — netwatchd.engine.engine.AlertEngine.ingest (target: >= 100,000 results/s);
  * +snapshot  — ingest plus take_changed() (the HostState values the store writes per batch);
  * +sqlite    — ingest, take_changed and state_repo.save into a real SQLite file (WAL).

Usage: python scripts/bench_state.py [--rounds 30] [--batch 1000] [--repeat 3] [--json-only]
Prints a table, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatchd.config.model import Config, FlapPolicy, HostSpec
from netwatchd.engine.engine import FAILED, AlertEngine, classify
from netwatchd.models import ProbeResult, State

TARGET = 100_000.0
AGGS, SITES_PER_AGG = 99, 100


def build_config(data_dir: Path) -> Config:
    hosts = [HostSpec(name="core", address="198.18.0.1")]
    for a in range(AGGS):
        hosts.append(HostSpec(name=f"agg{a}", address=f"198.18.{a + 1}.1", parent="core"))
        for s in range(SITES_PER_AGG):
            hosts.append(HostSpec(name=f"site{a}-{s}", address=f"198.19.{a}.{s + 2}", parent=f"agg{a}"))
    return Config(path=data_dir / "hosts.yaml", data_dir=data_dir, hosts=tuple(hosts),
                  flapping=FlapPolicy(enabled=True))


def scenario(config: Config, rounds: int, seed: int = 7) -> list[list[tuple[str, str]]]:
    """Per round, (host, outcome) for every host: '+' ok, '-' no reply, '~' slow.

    Background noise: 1 % single lost probes and 1 % slow replies (debounced away). Real trouble:
    each round 0.3 % of the sites start an outage of 4-6 rounds (alerted DOWN, then UP); every
    8 rounds after the warm-up one aggregation router dies for 5 rounds (its 100 sites fold into
    its DOWN and UP); in the middle the core dies for 5 rounds (9,999 hosts unreachable, re-judged).
    """
    rng = random.Random(seed)
    names = [h.name for h in config.hosts]
    down: dict[str, set[int]] = {}
    for r in range(2, rounds):
        for name in rng.sample(names[1:], max(1, len(names) * 3 // 1000)):
            down.setdefault(name, set()).update(range(r, r + rng.randint(4, 6)))
        if r % 8 == 3:
            agg = f"agg{rng.randrange(AGGS)}"
            for name in [agg] + [f"site{agg[3:]}-{s}" for s in range(SITES_PER_AGG)]:
                down.setdefault(name, set()).update(range(r, r + 5))
    middle = set(range(rounds // 2, rounds // 2 + 5))
    plan = []
    for r in range(rounds):
        row = []
        for name in names:
            if r in middle or r in down.get(name, ()):
                row.append((name, "-"))
            else:
                roll = rng.random()
                row.append((name, "-" if roll < 0.01 else "~" if roll < 0.02 else "+"))
        plan.append(row)
    return plan


def make_results(plan: Sequence[Sequence[tuple[str, str]]], start: datetime) -> list[list[ProbeResult]]:
    rounds = []
    for r, row in enumerate(plan):
        at = start + timedelta(seconds=10 * (r + 1))
        out = []
        for name, code in row:
            if code == "-":
                out.append(ProbeResult(host=name, address="198.18.0.9", probe="icmp", at=at, alive=False,
                                       sent=3, received=0, error="timeout"))
            else:
                avg = 250.0 if code == "~" else 1.2
                out.append(ProbeResult(host=name, address="198.18.0.9", probe="icmp", at=at, alive=True,
                                       sent=3, received=3, rtt_min_ms=avg - 0.1, rtt_avg_ms=avg,
                                       rtt_max_ms=avg + 0.2, jitter_ms=0.1, stdev_ms=0.1))
        rounds.append(out)
    return rounds


# ----------------------------------------------------------------------------- the naive peer

@dataclass(frozen=True)
class NaiveState:
    state: State = State.UNKNOWN
    fails: int = 0
    oks: int = 0


class NaiveEngine:
    """What one writes first: immutable state per result, children found by a full scan."""

    def __init__(self, config: Config) -> None:
        self.hosts = {h.name: h for h in config.hosts}
        self.states = {h.name: NaiveState() for h in config.hosts}

    def _parent_down(self, name: str) -> bool:
        parent = self.hosts[name].parent
        while parent in self.hosts:
            if self.states[parent].state in (State.DOWN, State.UNREACHABLE):
                return True
            parent = self.hosts[parent].parent
        return False

    def ingest(self, results: Sequence[ProbeResult]) -> list[tuple[str, State]]:
        changes = []
        for r in results:
            spec = self.hosts[r.host]
            old = self.states[r.host]
            failed = classify(r, spec) == FAILED
            new = replace(old, fails=old.fails + 1 if failed else 0, oks=0 if failed else old.oks + 1)
            target = State.DOWN if new.fails >= spec.down_after else State.UP if new.oks >= spec.up_after else None
            held_by_parent = old.state == State.UNREACHABLE and self._parent_down(r.host)
            if target is not None and target != new.state and not held_by_parent:
                new = replace(new, state=target)
                changes.append((r.host, target))
                if target == State.DOWN:
                    for child in [h.name for h in self.hosts.values() if h.parent == r.host]:   # the scan
                        self.states[child] = replace(self.states[child], state=State.UNREACHABLE)
                        changes.append((child, State.UNREACHABLE))
            self.states[r.host] = new
        return changes


# ----------------------------------------------------------------------------- measuring

class ReplayClock:
    """A clock that shows the time of the round being replayed."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.at.timestamp()

    def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def batches(rounds: list[list[ProbeResult]], size: int) -> list[list[ProbeResult]]:
    return [row[i:i + size] for row in rounds for i in range(0, len(row), size)]


def best(repeat: int, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The fastest of `repeat` runs (a shared machine only ever makes a run slower)."""
    runs = [measure() for _ in range(repeat)]
    return min(runs, key=lambda row: row["seconds"])


def run(rounds_n: int, batch: int, repeat: int) -> dict[str, Any]:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})   # one core
    except (AttributeError, OSError):
        pass
    tmp = Path(tempfile.mkdtemp(prefix="bench-state-"))
    config = build_config(tmp)
    start = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)
    plan = scenario(config, rounds_n)
    total = sum(len(r) for r in plan)
    rows: dict[str, dict[str, Any]] = {}

    rows["build"] = best(repeat, lambda: {"seconds": timed(lambda: make_results(plan, start))})
    rounds = make_results(plan, start)
    chunks = batches(rounds, batch)

    def engine_run(persist: str) -> dict[str, Any]:
        clock = ReplayClock(start)
        engine = AlertEngine(config, clock)
        conn = None
        if persist == "sqlite":
            from netwatchd.store import state_repo
            from netwatchd.store.db import Database

            db_dir = Path(tempfile.mkdtemp(prefix="bench-state-db-"))
            conn = Database.in_dir(db_dir).open()
        counts = {"transitions": 0, "announced": 0, "folded": 0}
        def go() -> None:
            for chunk in chunks:
                clock.at = chunk[0].at                       # the round's time
                out = engine.ingest(chunk)
                counts["transitions"] += len(out)
                counts["announced"] += sum(1 for t in out if t.notify)
                counts["folded"] += sum(len(t.affected) for t in out if t.notify)
                if persist in ("snapshot", "sqlite"):
                    changed = engine.take_changed()
                    if conn is not None:
                        state_repo.save(conn, changed, out, ["console"], chunk[0].at)
        seconds = timed(go)
        if conn is not None:
            conn.close()
        return {"seconds": seconds, **counts}

    rows["engine"] = best(repeat, lambda: engine_run("none"))
    rows["+snapshot"] = best(repeat, lambda: engine_run("snapshot"))
    rows["+sqlite"] = best(repeat, lambda: engine_run("sqlite"))

    def naive_run() -> dict[str, Any]:
        naive = NaiveEngine(config)
        return {"seconds": timed(lambda: [naive.ingest(c) for c in chunks])}

    rows["naive"] = best(repeat, naive_run)
    for row in rows.values():
        row["results_per_s"] = round(total / row["seconds"]) if row["seconds"] else None
        row["seconds"] = round(row["seconds"], 4)
    eng = rows["engine"]["results_per_s"]
    for _name, row in rows.items():
        row["engine_vs_this"] = round(eng / row["results_per_s"], 2) if row["results_per_s"] else None
    return {"hosts": len(config.hosts), "tree": f"1 core -> {AGGS} aggregation -> {AGGS * SITES_PER_AGG} sites",
            "rounds": rounds_n, "results": total, "batch": batch, "repeat": repeat, "python": sys.version.split()[0],
            "target_results_per_s": TARGET, "meets_target": eng >= TARGET, "rows": rows}


def print_table(report: dict[str, Any]) -> None:
    print(f"bench_state: {report['results']:,} results = {report['rounds']} rounds x {report['hosts']:,} hosts "
          f"({report['tree']}), batches of {report['batch']}, Python {report['python']}, one core, "
          f"best of {report['repeat']}")
    print(f"{'variant':<11} {'seconds':>9} {'results/s':>12} {'engine/this':>12}  notes")
    notes = {"build": "constructing the ProbeResults only (floor)",
             "naive": "replace() per result, children by full scan",
             "engine": "AlertEngine.ingest (target >= 100,000/s)",
             "+snapshot": "ingest + take_changed() HostState values",
             "+sqlite": "ingest + take_changed + state_repo.save (WAL file)"}
    for name in ("build", "naive", "engine", "+snapshot", "+sqlite"):
        row = report["rows"][name]
        extra = ""
        if "transitions" in row:
            extra = f"; {row['transitions']} transitions, {row['announced']} announced, {row['folded']} folded"
        print(f"{name:<11} {row['seconds']:>9.3f} {row['results_per_s']:>12,} {row['engine_vs_this']:>12}  "
              f"{notes[name]}{extra}")
    verdict = "MEETS" if report["meets_target"] else "MISSES"
    print(f"engine {report['rows']['engine']['results_per_s']:,} results/s {verdict} the 100,000/s target")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="probe rounds of all 10,000 hosts (default 30)")
    parser.add_argument("--batch", type=int, default=1000, help="results per ingest() call (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant, the fastest counts (default 3)")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args(argv)
    if args.rounds < 2 or args.batch < 1 or args.repeat < 1:
        parser.error("--rounds must be >= 2, --batch and --repeat >= 1")
    report = run(args.rounds, args.batch, args.repeat)
    if not args.json_only:
        print_table(report)
    print(json.dumps(report, sort_keys=True))
    return 0 if report["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
