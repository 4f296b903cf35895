#!/usr/bin/env python3
"""Benchmark alerts while the alerts group is flooded with commands by members who are not admins.

A real `netwatchd run` (a child process) watches one TCP site on loopback ("office": a listener this
script closes and reopens) and sends its alerts to a group on the Telegram stand-in, which enforces
Telegram's limits (enforce_rate_limits: 1 message a second per chat, 20 a minute per group, 30 a
second overall, as 429 with retry_after). The agent's command bot polls the same stand-in. Meanwhile
`--members` distinct non-admin members of the group each send a command every `--every` seconds.
Each cycle cuts the site (a DOWN) and restores it (an UP); an alert's delay runs from the cut or
restore to the moment its message is at the stand-in.

Cases, in one run and on the same machine:
  * "after (this tree)": the tree this script belongs to, flooded;
  * "before (REF)": the same scenario on `git archive REF` (default main), flooded;
  * "no flood (peer)": this tree without the flood.
Counted per case: alerts expected, delivered, lost (not there within --timeout s), delayed beyond
the bound + 1 s, delay p50/p95/max, 429 answers to alert sends and to bot sends, bot messages that
reached the group. Bound: down_after 2 at retry 200 ms after a probe every 1 s with a 200 ms
timeout = 1.6 s (as scripts/bench_clock.py). No packet leaves 127.0.0.0/8.

Usage: python scripts/bench_flood.py [--members 40] [--every 2] [--cycles 3] [--before-ref main]
       [--skip-before] [--json-only]
Prints a table and then one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netwatchd.lab.clockstep import Site  # noqa: E402
from netwatchd.lab.telegram_standin import TelegramStandIn  # noqa: E402

TOKEN = "123456:BENCH-token-for-the-stand-in-00000000000"
CHAT = -1001234567890
ADMIN = 42
BOUND = 1.6
SETTLE = 8.0            # flood seconds before the first cut: the group's minute budget is in play
COMMANDS = ("/status", "/monitor", "/ping 127.0.0.1", "/help", "/dhcp")

_CHILD = """
import runpy, sys
sys.path.insert(0, sys.argv.pop(1))
sys.argv = ["netwatchd", *sys.argv[1:]]
runpy.run_module("netwatchd", run_name="__main__")
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def export_tree(ref: str, into: Path) -> Path:
    """The `netwatchd` package as it is at git `ref`, unpacked under `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "netwatchd"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


class Flood(threading.Thread):
    """`members` distinct non-admins, each sending a command to the group every `every` seconds."""

    def __init__(self, telegram: TelegramStandIn, members: int, every: float) -> None:
        super().__init__(name="flood", daemon=True)
        self.telegram, self.members, self.every = telegram, members, every
        self.stop_event = threading.Event()
        self.sent = 0

    def run(self) -> None:
        step = self.every / max(1, self.members)       # spread evenly: members/every commands a second
        index = 0
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            member = 100_000 + index % self.members
            self.telegram.inject_message(CHAT, member, COMMANDS[index % len(COMMANDS)], chat_type="supergroup",
                                         username=f"member{member}")
            self.sent += 1
            index += 1
            next_at += step
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))


def run_case(name: str, tree: Path, members: int, every: float, cycles: int, timeout: float,
             workdir: Path) -> dict[str, Any]:
    site = Site()
    telegram = TelegramStandIn(token=TOKEN, enforce_rate_limits=True).start()
    config = workdir / "hosts.yaml"
    config.write_text(
        "data_dir: ./data\n"
        "defaults: {interval: 1s, timeout: 200ms, retry_interval: 200ms, down_after: 2, up_after: 1, "
        "reminder_every: off}\n"
        "web: false\n"
        f"telegram: {{token: '{TOKEN}', chat_ids: [{CHAT}], admins: [{ADMIN}], "
        f"api_url: '{telegram.api_url}', language: en, poll_commands: true}}\n"
        f"hosts:\n  - {{name: office, address: 127.0.0.1, probe: tcp, port: {site.port}}}\n", "utf-8")
    log = workdir / "stderr.txt"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(tree), "run", "-c", str(config)], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    flood = Flood(telegram, members, every) if members else None
    delays: list[float] = []
    expected = lost = 0

    def alerts() -> list[str]:
        return [m["text"] for m in telegram.messages(CHAT) if "office" in m["text"]]

    def await_alert(needle: str, before: int, started: float) -> float | None:
        deadline = started + timeout
        while time.monotonic() < deadline:
            if any(needle in text for text in alerts()[before:]):
                return time.monotonic() - started
            time.sleep(0.02)
        return None

    try:
        time.sleep(3.0)     # the first probes find office up ("unknown -> up" is not announced)
        if proc.poll() is not None:
            raise RuntimeError(f"{name}: the agent did not start:\n{log.read_text('utf-8', 'replace')[-2000:]}")
        if flood is not None:
            flood.start()
        time.sleep(SETTLE)
        for _ in range(cycles):
            for needle, action in (("office DOWN", site.cut), ("office UP", site.restore)):
                before = len(alerts())
                started = time.monotonic()
                action()
                expected += 1
                delay = await_alert(needle, before, started)
                print(f"{name}: {needle} after {delay if delay is None else round(delay, 2)} s", file=sys.stderr)
                if delay is None:
                    lost += 1
                else:
                    delays.append(delay)
                time.sleep(1.0)
    finally:
        if flood is not None:
            flood.stop_event.set()
            flood.join(5)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        calls = telegram.calls("sendMessage")
        telegram.stop()
        site.cut()
    alert_calls = [c for c in calls if "office" in str(c["params"].get("text", ""))]
    bot_calls = [c for c in calls if "office" not in str(c["params"].get("text", ""))]
    return {
        "case": name, "members": members if flood else 0, "commands": flood.sent if flood else 0,
        "alerts_expected": expected, "delivered": len(delays), "lost": lost,
        "late": sum(1 for d in delays if d > BOUND + 1.0) + lost,
        "delay_p50_s": round(percentile(delays, 50), 2), "delay_p95_s": round(percentile(delays, 95), 2),
        "delay_max_s": round(max(delays), 2) if delays else None,
        "alert_429": sum(1 for c in alert_calls if c["status"] == 429),
        "bot_429": sum(1 for c in bot_calls if c["status"] == 429),
        "bot_messages": sum(1 for c in bot_calls if c["status"] == 200),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between one member's commands")
    parser.add_argument("--cycles", type=int, default=3, help="DOWN+UP pairs per case")
    parser.add_argument("--timeout", type=float, default=60.0, help="an alert not there by then is lost")
    parser.add_argument("--before-ref", default="main", help="git ref of the 'before' tree")
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        base = Path(tmp)
        cases: list[tuple[str, Path, int]] = [("after (this tree)", ROOT, args.members)]
        if not args.skip_before:
            cases.append((f"before ({args.before_ref})", export_tree(args.before_ref, base / "before"), args.members))
        cases.append(("no flood (peer)", ROOT, 0))
        for index, (name, tree, members) in enumerate(cases):
            workdir = base / f"case{index}"
            workdir.mkdir()
            results.append(run_case(name, tree, members, args.every, args.cycles, args.timeout, workdir))
    if not args.json_only:
        header = (f"{'case':<20} {'members':>7} {'cmds':>5} {'alerts':>6} {'lost':>4} {'late':>4} "
                  f"{'p50 s':>6} {'p95 s':>6} {'max s':>6} {'alert429':>8} {'bot429':>6} {'botmsgs':>7}")
        print(f"bound {BOUND} s (+1 s allowed); flood: {args.members} members, one command each "
              f"every {args.every:g} s")
        print(header)
        print("-" * len(header))
        for r in results:
            print(f"{r['case']:<20} {r['members']:>7} {r['commands']:>5} {r['alerts_expected']:>6} {r['lost']:>4} "
                  f"{r['late']:>4} {r['delay_p50_s']:>6} {r['delay_p95_s']:>6} {r['delay_max_s']!s:>6} "
                  f"{r['alert_429']:>8} {r['bot_429']:>6} {r['bot_messages']:>7}")
    print(json.dumps({"bound_s": BOUND, "members": args.members, "every_s": args.every, "cycles": args.cycles,
                      "cases": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
