#!/usr/bin/env python3
"""Cut -> Telegram acknowledgement and restore -> acknowledgement, measured in the namespace lab.

Builds the Sidoarjo lab (the core and N kecamatan), runs `netwatchd run` in the monitor namespace
against the Bot API stand-in, and K times: waits a random part of the interval (so cuts fall at
every phase of the probe schedule), cuts a site (alternating "interface" and "cable"), waits for
the DOWN message's acknowledgement, restores it and waits for the UP's. Latencies are from the
`ip link set` command to Telegram's acknowledgement (data_dir/timing.jsonl `acked_at`). Then M
times it cuts the core (every site behind it goes dark) and counts the messages: one DOWN naming
all the sites is the goal, where a detector without dependencies sends one per site.

The peer, in the same lab and the same run: a naive detector as people write it with fping —
every `interval`, one `fping -c1 -t<timeout>` over all sites from the monitor namespace, a site
DOWN after `down_after` failed rounds, UP after `up_after` good ones (no fast re-probe while
failing). It sends no message, so its figure is detection only (it would still have to notify).

The lab's sites are confirmed by the core before a DOWN goes out (the default since issue 14: up
to 1 s more, see scripts/bench_confirm.py); --no-confirm measures without that vote.

Usage (root):  python3 scripts/bench_e2e.py [--repeats K] [--core-repeats M] [--sites N] [--no-confirm] [--json-only]
Prints a table and a JSON object; target: netwatchd's p95 within bound + 0.3 s (+ 1 s for the vote).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatchd.errors import NetwatchError
from netwatchd.lab.harness import LabRun
from netwatchd.lab.topology import SIDOARJO_KECAMATAN, LabTiming

TIMING = LabTiming(interval=2.0, timeout=0.5, retry_interval=0.5, down_after=2, up_after=2, count=3)


class FpingPeer:
    """The naive peer: a round of `fping -c1` over every site each interval, down after N rounds."""

    def __init__(self, run: LabRun, timing: LabTiming) -> None:
        self.run = run
        self.timing = timing
        self.addresses = {site.address: site.name for site in run.lab.sites.values()}
        self.fails = dict.fromkeys(self.addresses.values(), 0)
        self.oks = dict.fromkeys(self.addresses.values(), 0)
        self.state = dict.fromkeys(self.addresses.values(), "up")
        self.changes: list[tuple[str, str, float]] = []       # (site, new state, time.time())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fping-peer", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        next_round = time.monotonic()
        while not self._stop.is_set():
            self.round()
            next_round += self.timing.interval
            self._stop.wait(max(0.0, next_round - time.monotonic()))

    def round(self) -> None:
        cmd = self.run.lab.command(["fping", "-c1", f"-t{int(self.timing.timeout * 1000)}", "-q",
                                    *self.addresses])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        now = time.time()
        alive = set()
        for line in proc.stderr.splitlines():            # "198.18.1.2 : xmt/rcv/%loss = 1/1/0%, ..."
            address, _, rest = line.partition(" : ")
            if "xmt/rcv/%loss = 1/1/" in rest:
                alive.add(address.strip())
        with self._lock:
            for address, name in self.addresses.items():
                if address in alive:
                    self.oks[name] += 1
                    self.fails[name] = 0
                    if self.state[name] == "down" and self.oks[name] >= self.timing.up_after:
                        self.state[name] = "up"
                        self.changes.append((name, "up", now))
                else:
                    self.fails[name] += 1
                    self.oks[name] = 0
                    if self.state[name] == "up" and self.fails[name] >= self.timing.down_after:
                        self.state[name] = "down"
                        self.changes.append((name, "down", now))

    def detected(self, site: str, state: str, after: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for name, new, at in self.changes:
                    if name == site and new == state and at >= after:
                        return at
            time.sleep(0.02)
        return None


def wait_record(run: LabRun, site: str, to: str, after_index: int, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in run.timing_records()[after_index:]:
            if any(e["host"] == site and e["to"] == to for e in record["events"]):
                return record
        time.sleep(0.02)
    return None


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "min": None, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]      # nearest rank
    return {"n": len(values), "min": round(ordered[0], 3), "p50": round(statistics.median(ordered), 3),
            "p95": round(p95, 3), "max": round(ordered[-1], 3)}


def bench(repeats: int, sites: int, seed: int, core_repeats: int, confirm: bool = True) -> dict[str, Any]:
    rng = random.Random(seed)
    names = list(SIDOARJO_KECAMATAN[:sites])
    samples: dict[str, list[float]] = {k: [] for k in (
        "cut_to_ack", "cut_to_decision", "restore_to_ack", "restore_to_decision",
        "peer_cut_to_detection", "peer_restore_to_detection", "decision_to_ack", "core_cut_to_ack",
        "core_restore_to_ack", "core_messages_during_outage", "core_messages_per_cycle", "core_sites_folded",
        "peer_core_outage_downs")}
    misses = 0
    with LabRun(names, timing=TIMING, bot=False, confirm=confirm) as run:
        run.start_agent()
        run.wait_all_up(30)
        peer = FpingPeer(run, TIMING)
        peer.start()
        time.sleep(TIMING.interval * (TIMING.up_after + 1))
        for i in range(repeats):
            site = names[i % len(names)]
            how = "interface" if i % 2 == 0 else "cable"
            time.sleep(rng.uniform(0, TIMING.interval))
            index = len(run.timing_records())
            cut_at = run.cut(site, how)
            down = wait_record(run, site, "down", index, TIMING.bound + 10)
            peer_down = peer.detected(site, "down", cut_at, TIMING.interval * (TIMING.down_after + 2))
            time.sleep(rng.uniform(0, TIMING.interval))
            index = len(run.timing_records())
            restore_at = run.restore(site)
            up = wait_record(run, site, "up", index, TIMING.bound + 12)
            peer_up = peer.detected(site, "up", restore_at, TIMING.interval * (TIMING.up_after + 2))
            if down is None or up is None:
                misses += 1
            for record, start, key in ((down, cut_at, "cut"), (up, restore_at, "restore")):
                if record is not None:
                    samples[f"{key}_to_ack"].append(stamp(record["acked_at"]) - start)
                    samples[f"{key}_to_decision"].append(stamp(record["detected_at"]) - start)
                    samples["decision_to_ack"].append(record["latency_ms"] / 1000)
            if peer_down is not None:
                samples["peer_cut_to_detection"].append(peer_down - cut_at)
            if peer_up is not None:
                samples["peer_restore_to_detection"].append(peer_up - restore_at)
            run.wait_states(lambda s, site=site: s.get(site) == "up", 10)
            print(f"  {i + 1:>3}/{repeats} {site:<13} {how:<9} cut->ack "
                  f"{samples['cut_to_ack'][-1] if down else float('nan'):.2f} s  restore->ack "
                  f"{samples['restore_to_ack'][-1] if up else float('nan'):.2f} s", file=sys.stderr)
        for j in range(core_repeats):
            time.sleep(rng.uniform(0, TIMING.interval))
            index = len(run.timing_records())
            peer_changes = len(peer.changes)
            cut_at = run.cut_core("interface")
            down = wait_record(run, "core", "down", index, TIMING.bound + 10)
            time.sleep(2 * TIMING.interval)                    # the sites fail too, meanwhile
            during = run.timing_records()[index:]
            restore_at = run.restore_core()
            up = wait_record(run, "core", "up", index, TIMING.bound + 12)
            run.wait_all_up(15)
            time.sleep(1.5)                                    # the next message slot of the chat
            records = run.timing_records()[index:]
            if down is None or up is None:
                misses += 1
                continue
            text = next((m["text"] for m in run.alerts() if m["message_id"] == down["message_id"]), "")
            folded = re.search(r"(\d+) sites unreachable", text)
            samples["core_cut_to_ack"].append(stamp(down["acked_at"]) - cut_at)
            samples["core_restore_to_ack"].append(stamp(up["acked_at"]) - restore_at)
            samples["core_messages_during_outage"].append(float(len(during)))
            samples["core_messages_per_cycle"].append(float(len(records)))
            samples["core_sites_folded"].append(float(folded.group(1)) if folded else 0.0)
            with peer._lock:
                samples["peer_core_outage_downs"].append(float(sum(
                    1 for _, new, _ in peer.changes[peer_changes:] if new == "down")))
            print(f"  core {j + 1:>2}/{core_repeats} cut->ack {samples['core_cut_to_ack'][-1]:.2f} s, "
                  f"{len(during)} message(s) during the outage, {len(records)} for the cycle", file=sys.stderr)
        peer.stop()
        code, stop_seconds = run.stop_agent()
    return {
        "repeats": repeats, "core_repeats": core_repeats, "sites": sites, "seed": seed, "misses": misses,
        "confirm": confirm,
        "timing": {"interval_s": TIMING.interval, "timeout_s": TIMING.timeout,
                   "retry_interval_s": TIMING.retry_interval, "down_after": TIMING.down_after,
                   "up_after": TIMING.up_after, "count": TIMING.count},
        "bound_s": TIMING.bound,
        "peer_bound_s": TIMING.down_after * TIMING.interval + TIMING.timeout,
        "results": {k: summary(v) for k, v in samples.items()},
        "sigterm_exit": code, "sigterm_seconds": round(stop_seconds, 3),
    }


def table(report: dict[str, Any]) -> str:
    rows = [
        ("netwatchd: cut -> Telegram ack", "cut_to_ack"),
        ("netwatchd: cut -> DOWN decision", "cut_to_decision"),
        ("netwatchd: restore -> Telegram ack", "restore_to_ack"),
        ("netwatchd: restore -> UP decision", "restore_to_decision"),
        ("netwatchd: decision -> Telegram ack", "decision_to_ack"),
        ("peer fping loop: cut -> detection", "peer_cut_to_detection"),
        ("peer fping loop: restore -> detection", "peer_restore_to_detection"),
    ]
    res = report["results"]
    lines = [f"{'measurement (seconds)':<40}{'n':>4}{'min':>8}{'p50':>8}{'p95':>8}{'max':>8}"]
    for label, key in rows:
        s = res[key]
        cells = "".join(f"{s[c]:>8.3f}" if s[c] is not None else f"{'-':>8}" for c in ("min", "p50", "p95", "max"))
        lines.append(f"{label:<40}{s['n']:>4}{cells}")
    bound = report["bound_s"]
    p95 = res["cut_to_ack"]["p95"]
    peer = res["peer_cut_to_detection"]["p95"]
    allowance = 0.3 + (1.0 if report.get("confirm", True) else 0.0)
    lines.append(f"bound interval + (down_after-1) x retry_interval + timeout = {bound:.2f} s; "
                 f"target p95 <= {bound + allowance:.2f} s"
                 f"{' (the vote may add 1 s)' if report.get('confirm', True) else ''}: "
                 f"{'MET' if p95 is not None and p95 <= bound + allowance else 'NOT MET'} (p95 {p95} s)")
    if p95 and peer:
        lines.append(f"peer (naive fping loop, bound down_after x interval + timeout = {report['peer_bound_s']:.2f} s) "
                     f"p95 detection {peer:.3f} s = {peer / p95:.2f}x netwatchd's p95 cut -> acknowledged alert")
    if res["core_cut_to_ack"]["n"]:
        lines.append("")
        lines.append(f"{'core cut (all ' + str(report['sites']) + ' sites behind it)':<40}{'n':>4}{'min':>8}"
                     f"{'p50':>8}{'p95':>8}{'max':>8}")
        for label, key in (("netwatchd: cut -> Telegram ack (s)", "core_cut_to_ack"),
                           ("netwatchd: restore -> Telegram ack (s)", "core_restore_to_ack"),
                           ("netwatchd: messages during the outage", "core_messages_during_outage"),
                           ("netwatchd: sites named in the DOWN", "core_sites_folded"),
                           ("netwatchd: messages per cut+restore", "core_messages_per_cycle"),
                           ("peer fping loop: DOWNs per outage", "peer_core_outage_downs")):
            s = res[key]
            cells = "".join(f"{s[c]:>8.3f}" if s[c] is not None else f"{'-':>8}" for c in ("min", "p50", "p95", "max"))
            lines.append(f"{label:<40}{s['n']:>4}{cells}")
    lines.append(f"misses {report['misses']}; SIGTERM at the end: exit {report['sigterm_exit']} "
                 f"in {report['sigterm_seconds']} s")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="cut/restore cycles (default 20)")
    parser.add_argument("--sites", type=int, default=18, help="kecamatan in the lab (default 18)")
    parser.add_argument("--core-repeats", type=int, default=5, help="core cut/restore cycles (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-confirm", action="store_true", help="sites not confirmed by the core (confirm: false)")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    try:
        report = bench(args.repeats, max(1, min(args.sites, len(SIDOARJO_KECAMATAN))), args.seed,
                       args.core_repeats, confirm=not args.no_confirm)
    except NetwatchError as exc:
        print(f"bench_e2e: {exc}", file=sys.stderr)
        return 2
    if not args.json_only:
        print(table(report))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
