#!/usr/bin/env python3
"""What the routers' vote costs: a confirmed DOWN against an unconfirmed one, in the namespace lab.

Two lab runs of the same Sidoarjo lab (the core and 18 kecamatan, `netwatchd run` in the monitor
namespace, the core's RouterOS stand-in answering /ping with real ICMP from the core namespace):
one with the default configuration (every site confirmed by the core before its DOWN goes out),
the peer with `confirm: false` for every site. In each run:

  single   K times: wait a random part of the interval, pull one site's cable, time the cut ->
           DOWN decision (the events table) and cut -> Telegram acknowledgement (timing.jsonl);
           restore it;
  burst    M times: pull all 18 cables at once (the core stays up, so 18 sites confirm together)
           and time every site's cut -> DOWN decision.

The extra latency of the vote is the difference of the two runs' figures (p50 / p95), measured two
ways: end to end (cut -> decision, where the random phase of the cut in the probe schedule adds
up to an interval of noise; both runs use the same phases) and the vote's own wait (the engine's
question -> the router's answer, recorded with the DOWN as evidence.confirm.waited_s; 0 without a
vote). Then, with
the agent stopped and all 18 cables pulled, the core is asked the 18 confirmation pings directly
from the monitor namespace: all at once on one tagged session (what netwatchd does), against one
after another on one untagged session (librouteros' one-command-at-a-time, RouterClient) - the
reason the vote uses tags.

Usage (root):  python3 scripts/bench_confirm.py [--single K] [--burst M] [--sites N] [--json-only]
Prints a table and a JSON object. Target (issue 14): the confirmed DOWN's p95 within bound + 1 s.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatchd.errors import NetwatchError
from netwatchd.lab.harness import LAB_ROUTER_PASSWORD, ROUTER_PORT, LabRun
from netwatchd.lab.topology import CORE_UPLINK_ADDRESS, SIDOARJO_KECAMATAN, LabTiming

TIMING = LabTiming(interval=2.0, timeout=0.5, retry_interval=0.5, down_after=2, up_after=2, count=3)


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "min": None, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]      # nearest rank
    return {"n": len(values), "min": round(ordered[0], 3), "p50": round(statistics.median(ordered), 3),
            "p95": round(p95, 3), "max": round(ordered[-1], 3)}


def down_decisions(run: LabRun, since: datetime) -> dict[str, tuple[float, float]]:
    """site -> (time.time() of its first DOWN decision after `since`, the seconds the vote added:
    from the engine's question to the router's answer, 0 without a vote), from the events table."""
    from netwatchd.store import state_repo
    from netwatchd.store.db import Database

    conn = Database.in_dir(run.data_dir).connect(readonly=True)
    try:
        events = state_repo.recent_events(conn, limit=500)
    finally:
        conn.close()
    found: dict[str, tuple[float, float]] = {}
    for event in reversed(events):                      # oldest first
        if event.kind == "state" and event.to_state.value == "down" and event.at > since \
                and event.host not in found:
            vote = event.evidence.get("confirm") or {}
            found[event.host] = (event.at.timestamp(), float(vote.get("waited_s", 0.0)))
    return found


def wait_down(run: LabRun, sites: list[str], since: datetime, timeout: float) -> dict[str, tuple[float, float]]:
    deadline = time.monotonic() + timeout
    while True:
        found = down_decisions(run, since)
        if all(site in found for site in sites) or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def wait_ack(run: LabRun, site: str, after_index: int, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in run.timing_records()[after_index:]:
            if any(e["host"] == site and e["to"] == "down" for e in record["events"]):
                return datetime.fromisoformat(record["acked_at"]).timestamp()
        time.sleep(0.05)
    return None


def lab_run(names: list[str], confirm: bool, single: int, burst: int, rng: random.Random,
            peers: bool) -> dict[str, Any]:
    label = "confirmed" if confirm else "unconfirmed"
    samples: dict[str, list[float]] = {"single_cut_to_decision": [], "single_cut_to_ack": [],
                                       "single_vote_wait": [], "burst_cut_to_decision": [], "burst_vote_wait": []}
    misses = 0
    vote: dict[str, Any] = {}
    with LabRun(names, timing=TIMING, bot=False, confirm=confirm) as run:
        run.start_agent()
        run.wait_all_up(40)
        time.sleep(TIMING.interval)
        for i in range(single):
            site = names[(3 * i) % len(names)]
            time.sleep(rng.uniform(0, TIMING.interval))
            index, since = len(run.timing_records()), datetime.now(timezone.utc)
            cut_at = run.cut(site, "cable")
            found = wait_down(run, [site], since, TIMING.bound + 8).get(site)
            acked = wait_ack(run, site, index, 20)
            decided = found[0] if found else None
            if found is None:
                misses += 1
            else:
                samples["single_cut_to_decision"].append(found[0] - cut_at)
                samples["single_vote_wait"].append(found[1])
            if acked is not None:
                samples["single_cut_to_ack"].append(acked - cut_at)
            run.restore(site)
            run.wait_states(lambda s, site=site: s.get(site) == "up", 15)
            print(f"  {label} single {i + 1:>2}/{single} {site:<13} cut->DOWN "
                  f"{decided - cut_at if decided else float('nan'):.3f} s", file=sys.stderr)
        for j in range(burst):
            time.sleep(rng.uniform(0, TIMING.interval))
            since = datetime.now(timezone.utc)
            cuts = {site: run.cut(site, "cable") for site in names}
            decided = wait_down(run, names, since, TIMING.bound + 15)
            misses += sum(1 for site in names if site not in decided)
            delays = [decided[site][0] - cuts[site] for site in names if site in decided]
            samples["burst_cut_to_decision"] += delays
            samples["burst_vote_wait"] += [decided[site][1] for site in names if site in decided]
            print(f"  {label} burst {j + 1}/{burst}: {len(delays)}/{len(names)} DOWN, slowest "
                  f"{max(delays) if delays else float('nan'):.3f} s", file=sys.stderr)
            if peers and j == burst - 1:
                run.stop_agent()
                vote = vote_peers(run, names)
            for site in names:
                run.restore(site)
            if run.agent is not None and run.agent.poll() is None:
                run.wait_all_up(30)
        if run.agent is not None and run.agent.poll() is None:
            run.stop_agent()
    return {"results": {k: summary(v) for k, v in samples.items()}, "misses": misses, "vote_peers": vote}


def vote_peers(run: LabRun, names: list[str]) -> dict[str, Any]:
    """The 18 confirmation pings put to the core from the monitor namespace: tagged at once
    (WatchSession, as netwatchd asks) against one after another (RouterClient)."""
    from netwatchd.clock import SystemClock
    from netwatchd.config.model import RouterSpec
    from netwatchd.lab.nsenter import inside_namespace
    from netwatchd.models import RouterAsk
    from netwatchd.router.client import RouterClient
    from netwatchd.router.confirm import PING_COUNT, PING_INTERVAL, Confirmer, ask_routers
    from netwatchd.router.watch_session import WatchSessions

    spec = RouterSpec(name="core", address=CORE_UPLINK_ADDRESS, port=ROUTER_PORT, username="netwatchd",
                      password=LAB_ROUTER_PASSWORD, timeout=5.0)
    addresses = [run.lab.site(name).address for name in names]
    now = datetime.now(timezone.utc)
    asks = [RouterAsk(i, "confirm", name, address, "core", now) for i, (name, address) in
            enumerate(zip(names, addresses, strict=True))]
    with inside_namespace(run.lab.mon):                 # every socket below lives in the monitor namespace
        sessions = WatchSessions([spec])
        confirmer = Confirmer(SystemClock(), budget=15.0)
        confirmer.look(sessions.get("core"), 5.0)
        started = time.monotonic()
        answers = ask_routers(asks, sessions.get, confirmer, SystemClock())
        tagged = time.monotonic() - started
        sessions.close()
        client = RouterClient(spec)
        client.query("/system/identity/print")
        started = time.monotonic()
        results = [client.query("/ping", address=address, count=PING_COUNT, interval=PING_INTERVAL)
                   for address in addresses]
        sequential = time.monotonic() - started
        client.close()
    return {"sites": len(names), "tagged_at_once_s": round(tagged, 3), "one_after_another_s": round(sequential, 3),
            "tagged_results": sorted({a.result for a in answers}),
            "sequential_lost_all": sum(1 for rows in results if rows and rows[-1].get("received") == 0)}


def bench(single: int, burst: int, sites: int, seed: int) -> dict[str, Any]:
    names = list(SIDOARJO_KECAMATAN[:sites])
    # the same random phases for both runs: the cut falls at the same point of the probe schedule
    confirmed = lab_run(names, True, single, burst, random.Random(seed), peers=True)
    unconfirmed = lab_run(names, False, single, burst, random.Random(seed), peers=False)
    extra: dict[str, Any] = {}
    for key in ("single_vote_wait", "single_cut_to_decision", "single_cut_to_ack", "burst_vote_wait",
                "burst_cut_to_decision"):
        a, b = confirmed["results"][key], unconfirmed["results"][key]
        extra[key] = {stat: (round(a[stat] - b[stat], 3) if a[stat] is not None and b[stat] is not None else None)
                      for stat in ("p50", "p95")}
    return {"single": single, "burst": burst, "sites": sites, "seed": seed, "bound_s": TIMING.bound,
            "timing": {"interval_s": TIMING.interval, "timeout_s": TIMING.timeout,
                       "retry_interval_s": TIMING.retry_interval, "down_after": TIMING.down_after},
            "confirmed": confirmed, "unconfirmed": unconfirmed, "extra_latency_s": extra}


def table(report: dict[str, Any]) -> str:
    lines = [f"{'DOWN latency (seconds)':<44}{'n':>4}{'min':>8}{'p50':>8}{'p95':>8}{'max':>8}"]
    for run in ("confirmed", "unconfirmed"):
        for key, label in (("single_vote_wait", "one site: the vote's wait"),
                           ("single_cut_to_decision", "one site: cut -> decision"),
                           ("single_cut_to_ack", "one site: cut -> Telegram ack"),
                           ("burst_vote_wait", f"{report['sites']} at once: the vote's wait"),
                           ("burst_cut_to_decision", f"{report['sites']} at once: cut -> decision")):
            s = report[run]["results"][key]
            cells = "".join(f"{s[c]:>8.3f}" if s[c] is not None else f"{'-':>8}" for c in ("min", "p50", "p95", "max"))
            lines.append(f"{run + ', ' + label:<44}{s['n']:>4}{cells}")
        lines.append("")
    lines.append("")
    lines.append(f"{'extra latency of the vote (confirmed - unconfirmed)':<52}{'p50':>8}{'p95':>8}")
    for key, label in (("single_vote_wait", "one site: the vote's own wait"),
                       ("single_cut_to_decision", "one site: cut -> decision"),
                       ("single_cut_to_ack", "one site: cut -> ack"),
                       ("burst_vote_wait", f"{report['sites']} at once: the vote's own wait"),
                       ("burst_cut_to_decision", f"{report['sites']} at once: cut -> decision")):
        e = report["extra_latency_s"][key]
        cells = "".join(f"{e[c]:>8.3f}" if e[c] is not None else f"{'-':>8}" for c in ("p50", "p95"))
        lines.append(f"{label:<52}{cells}")
    bound = report["bound_s"]
    for key, label in (("single_cut_to_decision", "one site"), ("burst_cut_to_decision", "18 at once")):
        p95 = report["confirmed"]["results"][key]["p95"]
        lines.append(f"target ({label}): confirmed DOWN p95 <= bound + 1 s = {bound + 1:.2f} s: "
                     f"{'MET' if p95 is not None and p95 <= bound + 1 else 'NOT MET'} (p95 {p95} s)")
    vote = report["confirmed"].get("vote_peers") or {}
    if vote:
        lines.append(f"the {vote['sites']} confirmation pings put to the core: all at once on one tagged session "
                     f"{vote['tagged_at_once_s']:.3f} s, one after another on one session "
                     f"{vote['one_after_another_s']:.3f} s")
    lines.append(f"misses: confirmed {report['confirmed']['misses']}, unconfirmed {report['unconfirmed']['misses']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=8, help="one-site cuts per run (default 8)")
    parser.add_argument("--burst", type=int, default=2, help="all-sites cuts per run (default 2)")
    parser.add_argument("--sites", type=int, default=18, help="kecamatan in the lab (default 18)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    try:
        report = bench(args.single, max(1, args.burst), max(1, min(args.sites, len(SIDOARJO_KECAMATAN))), args.seed)
    except NetwatchError as exc:
        print(f"bench_confirm: {exc}", file=sys.stderr)
        return 2
    if not args.json_only:
        print(table(report))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
