#!/usr/bin/env python3
"""Benchmark duplicate alerts under repeated `kill -9` of a real `netwatchd run` (at-least-once).

The agent watches TCP sites on 127.0.0.1 (listeners this script opens and closes) and sends to the
Telegram stand-in on loopback with a round trip of `--rtt-ms` (default 150 ms: half on the way to
"Telegram", half on the way back). Each cycle cuts two fresh sites and restores the two cut before
(4 alerts), then kills the agent with SIGKILL and starts it again:
  * aimed:  the kill falls at a uniformly random moment of a send in flight (the bench watches the
            store for a site alert's row in 'sending', committed just before the HTTP request, then
            waits 0..rtt);
  * random: the kill falls at a random moment 0..3 s after the cut, whatever the agent is doing.
At the end the last agent runs until its outbox is empty. Each site goes DOWN once and UP once, so
an alert is (site, DOWN|UP); the alerts are those the agents committed to the outbox (a site cut
and restored while no agent was running is never an alert), and the stand-in's messages are
counted per alert. Counted per case:
kills, alerts, lost (never received), duplicated (received more than once), the duplicate rate,
and how many of the duplicates carried the "sent again after a restart — may repeat" line (a
marked repeat tells the admins it may be one; an unmarked one looks like a second outage).

`--peer REF` runs the same cases against the code of git REF (extracted with `git archive`) in the
same run: the before/after comparison. The Bot API has no idempotency key, so the window cannot be
zero: a kill after Telegram accepted a request and before the commit that follows its answer
repeats that message (about half of each round trip).

Loopback only. Prints a table and a JSON document.
Usage: python scripts/bench_dupes.py [--kills 30] [--rtt-ms 150] [--peer main] [--json-only]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from netwatchd.lab.clockstep import Site
from netwatchd.lab.telegram_standin import TelegramStandIn

TOKEN = "123456:TEST-token-for-the-stand-in-0000000000"
CHAT = 42                    # a private chat: 1 message/s (a group's 20/min would only slow the bench)
MARKS = ("sent again after a restart", "dikirim ulang setelah restart")
_ALERT = re.compile(r"<b>(site\d+)(?:</b> \([^)]*\))? (DOWN|UP)\b")
REPO = Path(__file__).resolve().parent.parent


class Acceptor:
    """Accepts and closes the probes' connections to the open sites: a listener nobody accepts on
    fills its backlog after ~64 probes and then times out (a second, real, DOWN)."""

    def __init__(self, sites: list[Site]) -> None:
        self.sites = sites
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            socks = [s.sock for s in self.sites if s.sock is not None]
            try:
                ready = select.select(socks, [], [], 0.05)[0] if socks else []
            except (OSError, ValueError):       # a site closed meanwhile
                continue
            for sock in ready:
                try:
                    sock.setblocking(False)
                    sock.accept()[0].close()
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(2)


class Agent:
    """`netwatchd run` of the code at `source` (a directory holding the netwatchd package)."""

    def __init__(self, workdir: Path, source: Path, api_url: str, sites: list[Site]) -> None:
        self.workdir, self.source = workdir, source
        self.config = workdir / "hosts.yaml"
        hosts = "".join(f"  - {{name: site{i:02d}, address: 127.0.0.1, probe: tcp, port: {s.port}}}\n"
                        for i, s in enumerate(sites))
        self.config.write_text(
            "data_dir: ./data\n"
            "defaults: {interval: 1s, timeout: 200ms, retry_interval: 200ms, down_after: 2, up_after: 1,"
            " reminder_every: 'off'}\n"
            "web: false\n"
            f"telegram: {{token: '{TOKEN}', chat_ids: [{CHAT}], admins: [{CHAT}], api_url: '{api_url}',"
            " language: en, poll_commands: false}\n"
            f"hosts:\n{hosts}", "utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(self.source)}
        self.starts += 1
        with open(self.workdir / "stderr.txt", "ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "netwatchd", "run", "-c", str(self.config)],
                                         cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=err, env=env)

    def kill9(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def db(self) -> sqlite3.Connection | None:
        path = self.workdir / "data" / "netwatchd.sqlite3"
        if not path.exists():
            return None
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)

    def site_alert_in_flight(self) -> bool:
        """A site alert's row is 'sending' (its request is on its way or being answered)."""
        conn = self.db()
        if conn is None:
            return False
        try:
            rows = conn.execute("SELECT payload FROM outbox WHERE status='sending'").fetchall()
        except sqlite3.Error:
            return False
        finally:
            conn.close()
        return any(json.loads(p).get("kind", "state") == "state" for (p,) in rows)

    def decided(self) -> list[tuple[str, str]]:
        """(site, DOWN|UP) of every site alert the agent committed to its outbox (what it must deliver)."""
        conn = self.db()
        if conn is None:
            return []
        try:
            payloads = [json.loads(p) for (p,) in conn.execute("SELECT payload FROM outbox ORDER BY id")]
        finally:
            conn.close()
        return [(p["host"], str(p["to"]).upper()) for p in payloads
                if p.get("kind", "state") == "state" and str(p.get("host", "")).startswith("site")]

    def waiting(self) -> int:
        conn = self.db()
        if conn is None:
            return 1
        try:
            return int(conn.execute("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")
                       .fetchone()[0])
        except sqlite3.Error:
            return 1
        finally:
            conn.close()


def run_case(mode: str, kills: int, rtt: float, source: Path, workdir: Path, rng: random.Random) -> dict[str, Any]:
    sites = [Site() for _ in range(2 * kills + 2)]
    telegram = TelegramStandIn(token=TOKEN, latency=rtt).start()
    acceptor = Acceptor(sites)
    agent = Agent(workdir, source, telegram.api_url, sites)
    cut = 0
    missed_aims = 0
    try:
        agent.start()
        time.sleep(2.5)                              # first round: every site up
        for cycle in range(kills):
            for index in (2 * cycle, 2 * cycle + 1):
                sites[index].cut()
                cut += 1
                if cycle > 0:
                    sites[index - 2].restore()
            if mode == "aimed":
                deadline = time.monotonic() + 8.0
                while not agent.site_alert_in_flight() and time.monotonic() < deadline:
                    time.sleep(0.002)
                if time.monotonic() >= deadline:
                    missed_aims += 1
                time.sleep(rng.uniform(0.0, rtt))
            else:
                time.sleep(rng.uniform(0.0, 3.0))
            agent.kill9()
            agent.start()
            time.sleep(2.0)
        for index in (2 * kills - 2, 2 * kills - 1):
            sites[index].restore()
        deadline = time.monotonic() + 60
        time.sleep(3.0)
        while agent.waiting() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        agent.stop()
        telegram.stop()
        acceptor.stop()
        expected = agent.decided()
        for site in sites:
            site.cut()
    received: Counter[tuple[str, str]] = Counter()
    marked: Counter[tuple[str, str]] = Counter()
    messages = telegram.messages(CHAT)
    (workdir / "messages.json").write_text(json.dumps(messages, ensure_ascii=False, indent=1, default=str), "utf-8")
    for message in messages:
        text = message["text"]
        for site, state in _ALERT.findall(text):
            received[(site, state)] += 1
            if any(mark in text for mark in MARKS):
                marked[(site, state)] += 1
    lost = [a for a in expected if received[a] == 0]
    duplicated = [a for a in expected if received[a] > 1]
    unmarked = [a for a in duplicated if marked[a] < received[a] - 1]     # a repeat without the line
    return {"mode": mode, "kills": kills, "agent_starts": agent.starts, "aims_missed": missed_aims,
            "sites_cut": cut,
            "alerts": len(expected), "messages": len(messages), "lost": len(lost),
            "duplicated": len(duplicated), "duplicate_rate": round(len(duplicated) / max(1, len(expected)), 3),
            "duplicates_marked": len(duplicated) - len(unmarked), "duplicates_unmarked": len(unmarked),
            "resends_marked": sum(marked.values()),
            "lost_alerts": [f"{s} {d}" for s, d in lost]}


def _peer_source(ref: str, into: Path) -> Path:
    """The netwatchd package of git `ref` extracted into `into`. Raises CalledProcessError."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "netwatchd"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=25, help="kill -9 per case (default 25, about 4 alerts each)")
    parser.add_argument("--rtt-ms", type=float, default=150.0, help="round trip to the stand-in (default 150)")
    parser.add_argument("--modes", default="aimed,random", help="aimed,random (default both)")
    parser.add_argument("--peer", metavar="REF", help="also run the code of git REF (before the change)")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep each case's log and messages.json")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args(argv)
    if args.kills < 2:
        parser.error("--kills must be 2 or more")
    rtt = args.rtt_ms / 1000
    rows = []
    keep = contextlib.nullcontext(tempfile.mkdtemp(prefix="bench-dupes-", dir=args.keep)) if args.keep else None
    with keep or tempfile.TemporaryDirectory(prefix="bench-dupes-") as tmp:
        sources = [("this tree", REPO)]
        if args.peer:
            peer_dir = Path(tmp) / "peer"
            peer_dir.mkdir()
            sources.append((f"peer {args.peer}", _peer_source(args.peer, peer_dir)))
        for mode in args.modes.split(","):
            for label, source in sources:
                workdir = Path(tmp) / f"{label.replace(' ', '-')}-{mode}"
                workdir.mkdir()
                row = run_case(mode, args.kills, rtt, source, workdir, random.Random(args.seed))
                rows.append({"code": label, **row})
    report = {"benchmark": "duplicate alerts under kill -9 of netwatchd run", "rtt_ms": args.rtt_ms,
              "date": datetime.now(timezone.utc).date().isoformat(), "python": sys.version.split()[0],
              "cases": rows}
    if not args.json_only:
        head = ("code", "kills", "mode", "alerts", "lost", "duplicated", "dup rate", "marked", "unmarked")
        print(" | ".join(head))
        print(" | ".join("---" for _ in head))
        for r in rows:
            print(" | ".join(str(v) for v in (r["code"], r["kills"], r["mode"], r["alerts"], r["lost"],
                                              r["duplicated"], r["duplicate_rate"], r["duplicates_marked"],
                                              r["duplicates_unmarked"])))
        print()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
