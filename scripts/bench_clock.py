#!/usr/bin/env python3
"""Benchmark alerts under wall-clock steps: a real `netwatchd run` whose wall clock libfaketime steps
back 1 h or forward 2 h while it runs (netwatchd.lab.clockstep), one TCP site on loopback, alerts
to the Telegram stand-in on loopback. The peer in the same run is the same agent with no step.

Each case: start the agent, step its clock (none / back 1 h / forward 2 h), then `--cycles` times
cut the site and restore it (a DOWN and an UP each), then once more during a Telegram outage with
a second step while the DOWN waits: the queued alert's delay is counted from the moment Telegram
answers again. Counted per case: alerts expected, delivered, lost (not delivered within 30 s),
delayed p50/p95/max (cut or restore -> message at the stand-in; Telegram back -> message for the
queued one), and the worst error of the "Outage: N s" figure against the outage as measured here.

Bound: down_after 2 at retry 200 ms after a probe every 1 s with a 200 ms timeout = 1.6 s.
Needs libfaketime (apt-get install faketime libfaketime). Prints a table and a JSON document.
Usage: python scripts/bench_clock.py [--cycles 4] [--json-only]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from netwatchd.lab.clockstep import StepRun, libfaketime

BOUND = 1.6
TIMEOUT = 30.0
CASES = [("no step (peer)", 0.0), ("back 1 h", -3600.0), ("forward 2 h", 7200.0)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _outage(text: str) -> int | None:
    found = re.search(r"Outage: (?:(\d+) min )?(\d+) s", text)
    return int(found.group(1) or 0) * 60 + int(found.group(2)) if found else None


def _await(run: StepRun, needle: str, after: int) -> tuple[str | None, float]:
    try:
        text, seen = run.wait_message(needle, timeout=TIMEOUT, after=after)
        return text, seen
    except AssertionError:
        return None, time.monotonic()


def run_case(name: str, step: float, cycles: int, workdir: Path) -> dict[str, Any]:
    delays: list[float] = []
    queued: list[float] = []
    expected = lost = 0
    outage_errors: list[float] = []
    with StepRun(workdir) as run:
        run.wait_log("office: unknown -> up")
        if step:
            run.step(step)
            run.wait_log("the system clock stepped")
        for _ in range(cycles):
            time.sleep(0.5)
            for needle, action in (("office DOWN", run.site.cut), ("office UP", run.site.restore)):
                before = len(run.texts())
                started = time.monotonic()
                action()
                expected += 1
                text, seen = _await(run, needle, before)
                if text is None:
                    lost += 1
                    continue
                delays.append(seen - started)
                if needle == "office DOWN":
                    down_started = started
                    time.sleep(2.0)
                else:
                    measured = _outage(text)
                    if measured is not None:
                        outage_errors.append(abs(measured - (started - down_started)))
        # a DOWN queued in a Telegram outage, the clock stepping again while it waits
        time.sleep(0.5)
        before = len(run.texts())
        run.telegram.set_outage(True)
        run.site.cut()
        expected += 1
        run.wait_log("not delivered (attempt 2)", timeout=TIMEOUT)
        if step:
            run.step(step)
            time.sleep(1.2)
        answered = time.monotonic()
        run.telegram.set_outage(False)
        text, seen = _await(run, "office DOWN", before)
        if text is None:
            lost += 1
        else:
            queued.append(seen - answered)
        run.site.restore()
    return {"case": name, "step_s": step, "alerts": expected, "delivered": expected - lost, "lost": lost,
            "delay_p50_s": round(percentile(delays, 50), 3), "delay_p95_s": round(percentile(delays, 95), 3),
            "delay_max_s": round(max(delays), 3) if delays else None,
            "beyond_bound_plus_1s": sum(d > BOUND + 1.0 for d in delays),
            "queued_after_telegram_back_s": round(queued[0], 3) if queued else None,
            "outage_figure_worst_error_s": round(max(outage_errors), 3) if outage_errors else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=4, help="outages per case (default 4)")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args(argv)
    if libfaketime() is None:
        print("bench_clock: needs libfaketime (apt-get install faketime libfaketime)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-clock-") as tmp:
        for index, (name, step) in enumerate(CASES):
            workdir = Path(tmp) / f"case{index}"
            workdir.mkdir()
            rows.append(run_case(name, step, args.cycles, workdir))
    report = {"benchmark": "clock steps under netwatchd run (libfaketime)", "bound_s": BOUND,
              "date": datetime.now(timezone.utc).date().isoformat(), "python": sys.version.split()[0],
              "cases": rows}
    if not args.json_only:
        head = ("case", "alerts", "lost", "p50 s", "p95 s", "max s", ">bound+1s", "queued s", "outage err s")
        print(" | ".join(head))
        print(" | ".join("---" for _ in head))
        for r in rows:
            print(" | ".join(str(v) for v in (r["case"], r["alerts"], r["lost"], r["delay_p50_s"], r["delay_p95_s"],
                                              r["delay_max_s"], r["beyond_bound_plus_1s"],
                                              r["queued_after_telegram_back_s"], r["outage_figure_worst_error_s"])))
        print()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
