#!/usr/bin/env python3
"""A flapping link in the namespace lab: how many messages does its site get?

Issue 12's case: a kecamatan link that goes down and up every 1.5 s for 30 s (the core's port
to it disabled and enabled, `ip link set`). Before this change, at interval 1 s, that site got 7
messages (DOWN, UP, DOWN, UP, DOWN, UP, then FLAPPING after 14 s). The target: at most 4
(for example DOWN, UP, FLAPPING, settled UP), every outage still recorded for the report.

`--runs` lab runs per timing, each flapping `--sites` kecamatan at once (their starts 0.3 s
apart), at the issue's timings (interval 1 s, timeout 500 ms, retry 500 ms, down_after 2,
up_after 2) and at the demo's (interval 2 s, the rest the same). For each flapping site: the
alerts announced about it (timing.jsonl events; one message may carry news of several sites, so
alerts are counted, not messages), their kinds, the outages recorded (DOWN or PATH decisions in
the events table: under the core's vote a link back within a second is often decided PATH) and the
time from the last flap to its settled-state message.

The peer, in the same script: the same case with `flapping: {early_outages: 0}` (the early rule
off: the percent rule alone, as before this change), one run per timing.

Usage (root):  python3 scripts/bench_flap.py [--runs N] [--sites K] [--json-only]
Prints a table and a JSON object. Target: at most 4 alerts for every flapping site.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatchd.errors import NetwatchError
from netwatchd.lab.harness import LabRun
from netwatchd.lab.topology import SIDOARJO_KECAMATAN, LabTiming

TIMINGS = {
    "issue (interval 1 s)": LabTiming(interval=1.0, timeout=0.5, retry_interval=0.5, down_after=2, up_after=2),
    "demo (interval 2 s)": LabTiming(interval=2.0, timeout=0.5, retry_interval=0.5, down_after=2, up_after=2),
}
PERIOD, FLAP_FOR = 1.5, 30.0
FLAPPERS = ("Sidoarjo", "Candi", "Krian", "Taman", "Sedati", "Porong", "Tarik", "Waru")


def flap(run: LabRun, site: str, delay: float) -> None:
    """Down PERIOD, up PERIOD, ... for FLAP_FOR seconds, then up."""
    start = time.monotonic() + delay
    for k in range(int(FLAP_FOR / PERIOD)):
        time.sleep(max(0.0, start + PERIOD * k - time.monotonic()))
        if k % 2 == 0:
            run.cut(site, "interface")
        else:
            run.restore(site)
    run.restore(site)


def one_run(timing: LabTiming, sites: list[str], early_rule: bool) -> list[dict[str, Any]]:
    with LabRun(SIDOARJO_KECAMATAN, timing=timing, bot=False,
                flapping=None if early_rule else {"early_outages": 0}) as run:
        run.start_agent()
        run.wait_all_up(30)
        before = len(run.timing_records())
        threads = [threading.Thread(target=flap, args=(run, site, 0.3 * i), daemon=True)
                   for i, site in enumerate(sites)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(FLAP_FOR + 10)
        last_flap = time.time()
        # the percent rule alone may never have said FLAPPING (then no settled message comes)
        deadline = time.monotonic() + (120 if early_rule else 40)
        settled: dict[str, float] = {}
        while time.monotonic() < deadline and len(settled) < len(sites):
            for record in run.timing_records()[before:]:
                for event in record["events"]:
                    if event["host"] in sites and event.get("kind") == "stable" and event["host"] not in settled:
                        settled[event["host"]] = time.time() - last_flap
            time.sleep(0.2)
        time.sleep(2)                      # anything after the settled state would show now
        results = []
        for site in sites:
            events = [e for r in run.timing_records()[before:] for e in r["events"] if e["host"] == site]
            messages = sum(1 for r in run.timing_records()[before:] if any(e["host"] == site for e in r["events"]))
            results.append({"site": site, "alerts": len(events), "messages": messages,
                            "kinds": [f"{e.get('kind', 'state')}:{e['to']}" for e in events],
                            "outages_recorded": run.downs(site, path=True),
                            "settled_after_s": round(settled[site], 1) if site in settled else None})
        run.stop_agent()
    return results


def bench(runs: int, per_run: int) -> dict[str, Any]:
    report: dict[str, Any] = {"period_s": PERIOD, "flap_for_s": FLAP_FOR, "timings": {}}
    for label, timing in TIMINGS.items():
        entry: dict[str, Any] = {"interval_s": timing.interval, "netwatchd": [], "peer_early_rule_off": []}
        for n in range(runs):
            sites = [FLAPPERS[(n * per_run + i) % len(FLAPPERS)] for i in range(per_run)]
            entry["netwatchd"] += one_run(timing, sites, early_rule=True)
            print(f"  {label} run {n + 1}/{runs}: " + ", ".join(
                f"{r['site']} {r['alerts']}" for r in entry["netwatchd"][-per_run:]), file=sys.stderr)
        entry["peer_early_rule_off"] = one_run(timing, list(FLAPPERS[:per_run]), early_rule=False)
        print(f"  {label} peer: " + ", ".join(f"{r['site']} {r['alerts']}" for r in entry["peer_early_rule_off"]),
              file=sys.stderr)
        for key in ("netwatchd", "peer_early_rule_off"):
            results = entry[key]
            entry[f"{key}_max_alerts"] = max(r["alerts"] for r in results)
            entry[f"{key}_within_4"] = sum(1 for r in results if r["alerts"] <= 4)
        report["timings"][label] = entry
    return report


def table(report: dict[str, Any]) -> str:
    lines = [f"a link down and up every {report['period_s']:g} s for {report['flap_for_s']:g} s; alerts announced "
             "about that site (target: at most 4)", "",
             f"{'timing':<22}{'agent':<22}{'sites':>6}{'<= 4':>6}{'max':>5}  alerts per site (kinds of the first)"]
    for label, entry in report["timings"].items():
        for key, name in (("netwatchd", "netwatchd"), ("peer_early_rule_off", "early rule off (peer)")):
            results = entry[key]
            counts = " ".join(str(r["alerts"]) for r in results)
            lines.append(f"{label:<22}{name:<22}{len(results):>6}{entry[f'{key}_within_4']:>6}"
                         f"{entry[f'{key}_max_alerts']:>5}  {counts}  ({', '.join(results[0]['kinds'])})")
        settled = [r["settled_after_s"] for r in entry["netwatchd"] if r["settled_after_s"] is not None]
        recorded = [r["outages_recorded"] for r in entry["netwatchd"]]
        lines.append(f"{'':<22}settled message {min(settled, default=0):.0f}-{max(settled, default=0):.0f} s after "
                     f"the last flap; outages (DOWN or PATH) recorded per site {min(recorded)}-{max(recorded)}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="lab runs per timing (default 2)")
    parser.add_argument("--sites", type=int, default=5, help="sites flapping at once per run (default 5, at most 8)")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    try:
        report = bench(max(1, args.runs), max(1, min(args.sites, len(FLAPPERS))))
    except NetwatchError as exc:
        print(f"bench_flap: {exc}", file=sys.stderr)
        return 2
    if not args.json_only:
        print(table(report))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
