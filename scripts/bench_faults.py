#!/usr/bin/env python3
"""Fault suite: each case breaks something on purpose, repeatedly, under a real `netwatchd run`
(loopback only: TCP sites are listeners of this process, Telegram is the stand-in), and counts

    faults    faults injected              inputs    inputs tried (starts, outages, commands)
    alerts    alerts that should arrive    lost      of those, not delivered (by the end of the run)
    dup       delivered more than once     p95 s     detection-to-Telegram delay (cut -> stand-in)
    late      delivered beyond bound + 1 s checks    other promises broken (exit code, /healthz, log)

Cases (add one: a function `def case_x(ctx) -> Result` decorated with @case("x", ...); it gets
ctx.repeat, ctx.workdir, ctx.python_path and returns a Result):

    damaged-store-start   every damage kind of lab.storefaults x repeat: `run` must exit 2 with one
                          line naming the file (no traceback), in under 15 s
    damaged-store-move    a damaged store + --move-damaged-store: the agent starts and an outage
                          right after is announced
    outage-disk-ok        an outage on a healthy disk (the peer row for the next case)   [root]
    outage-disk-full      the data_dir tmpfs filled to the last byte, then an outage: the DOWN must
                          arrive, /healthz must fail naming the full disk, the bot must answer
                          /status, the log must say it at most once a minute; space freed: saved
                          once, never sent twice, the UP arrives                            [root]
    outage-store-locked   another process holds the store's write lock during an outage: the DOWN
                          must arrive within the bound, /healthz must fail once the lock has
                          lasted 10 s (shorter locks are another writer at work, not a failure)

`--peer DIR` runs the same cases against another checkout's netwatchd (e.g. the code before this
change: `git archive <commit> | tar -x -C DIR`), in the same run, as a second set of rows.

Usage: sudo python scripts/bench_faults.py [--repeat 3] [--cases a,b] [--peer DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatchd.errors import LabError
from netwatchd.lab import smalldisk
from netwatchd.lab.loopback import LoopbackRun
from netwatchd.lab.storefaults import DAMAGE_KINDS, damage, make_store

STORE_LINE = re.compile(r" (ERROR|WARNING|CRITICAL) .*(store|disk|No space|timing\.jsonl|history|database)", re.I)


@dataclass
class Result:
    """What one case counted over all its repetitions."""

    case: str
    runs: int = 0
    faults: int = 0
    inputs: int = 0
    alerts: int = 0
    lost: int = 0
    duplicated: int = 0
    late: int = 0
    delays: list[float] = field(default_factory=list)
    bound_s: float | None = None
    checks_failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def p95(self) -> float | None:
        if not self.delays:
            return None
        ordered = sorted(self.delays)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]

    def fail(self, what: str) -> None:
        self.checks_failed.append(what)

    def delivered(self, delay: float | None, copies: int) -> None:
        """One alert that should have arrived: its delay (None: never) and how many times it came."""
        self.alerts += 1
        if delay is None or copies == 0:
            self.lost += 1
            return
        self.delays.append(delay)
        self.duplicated += max(0, copies - 1)
        if self.bound_s is not None and delay > self.bound_s + 1.0:
            self.late += 1


@dataclass
class Context:
    repeat: int
    workdir: Path
    python_path: str | None = None
    label: str = "this"
    minutes_full: float = 0.25


Case = Callable[[Context], Result]
CASES: dict[str, tuple[Case, bool, str]] = {}


def case(name: str, *, needs_root: bool = False, about: str = "") -> Callable[[Case], Case]:
    """Register a fault case (run in the order registered)."""
    def register(fn: Case) -> Case:
        CASES[name] = (fn, needs_root, about)
        return fn
    return register


def _env(ctx: Context) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if ctx.python_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ctx.python_path, env.get("PYTHONPATH")) if p)
    return env


def _count(texts: list[str], needle: str) -> int:
    return sum(1 for text in texts if needle in text.split("\n")[0])


# ---- cases ---------------------------------------------------------------------------------------

@case("damaged-store-start", about="every damage kind x repeat: exit 2, one line naming the file, no traceback")
def case_damaged_store_start(ctx: Context) -> Result:
    result = Result("damaged-store-start")
    took = []
    for rep in range(ctx.repeat):
        for kind in DAMAGE_KINDS:
            folder = Path(tempfile.mkdtemp(prefix="damaged-", dir=ctx.workdir))
            store = make_store(folder / "data")
            damage(store, kind, seed=rep + 1)
            (folder / "hosts.yaml").write_text(
                "data_dir: ./data\nweb: false\nhosts:\n  - {name: office, address: 127.0.0.1, probe: tcp, port: 9}\n",
                "utf-8")
            result.runs += 1
            result.faults += 1
            result.inputs += 1
            started = time.monotonic()
            try:
                proc = subprocess.run([sys.executable, "-m", "netwatchd", "run", "-c", "hosts.yaml"], cwd=folder,
                                      capture_output=True, text=True, timeout=15, env=_env(ctx))
            except subprocess.TimeoutExpired:
                result.fail(f"{kind}: still running after 15 s (the damage was not noticed)")
                continue
            took.append(time.monotonic() - started)
            lines = proc.stderr.strip().splitlines()
            if proc.returncode != 2:
                result.fail(f"{kind}: exit {proc.returncode}")
            if "Traceback" in proc.stderr:
                result.fail(f"{kind}: traceback")
            elif len(lines) != 1 or str(store) not in proc.stderr:
                result.fail(f"{kind}: {len(lines)} line(s), file named: {str(store) in proc.stderr}")
    if took:
        result.notes.append(f"refused in {max(took):.1f} s at most")
    return result


@case("damaged-store-move", about="damaged store + --move-damaged-store: starts, the next outage is announced")
def case_damaged_store_move(ctx: Context) -> Result:
    result = Result("damaged-store-move")
    for rep in range(ctx.repeat):
        kind = ("garbage-page:outbox", "zeroed-page:events", "garbage-header")[rep % 3]
        with LoopbackRun(["office"], workdir=Path(tempfile.mkdtemp(prefix="move-", dir=ctx.workdir)),
                         python_path=ctx.python_path, bot=False) as run:
            result.bound_s = run.bound()
            damage(make_store(run.data_dir), kind, seed=rep + 1)
            result.runs += 1
            result.faults += 1
            result.inputs += 2
            try:
                run.start_agent(extra_args=["--move-damaged-store"], wait_ready=15)
                run.wait_states(lambda s: s.get("office") == "up", 15)
            except LabError as exc:
                result.fail(f"{kind}: did not start: {str(exc).splitlines()[0][:120]}")
                result.delivered(None, 0)
                continue
            cut = run.cut("office")
            message = run.wait_alert("office DOWN", timeout=run.bound() + 10)
            result.delivered(message["at"] - cut if message else None,
                             _count([m["text"] for m in run.alerts()], "office DOWN"))
            if not list(run.data_dir.glob("netwatchd.sqlite3.damaged-*")):
                result.fail(f"{kind}: the damaged file was not kept aside")
            run.stop_agent()
    return result


def _outage(ctx: Context, result: Result, *, full_disk: bool, minutes_full: float) -> None:
    """One repetition on a tmpfs data_dir: (fill it,) cut the site, check, (free it,) restore."""
    base = Path(tempfile.mkdtemp(prefix="outage-", dir=ctx.workdir))
    with smalldisk.small_disk(base / "disk", 16 * 1024 * 1024) as disk, \
            LoopbackRun(["office"], data_dir=disk / "data", workdir=base / "run", python_path=ctx.python_path) as run:
        result.bound_s = run.bound()
        result.runs += 1
        run.start_agent(wait_ready=15)
        run.wait_states(lambda s: s.get("office") == "up", 15)
        offset = run.log_offset()
        filler = None
        if full_disk:
            filler = smalldisk.fill(disk)
            result.faults += 1
            time.sleep(1.0)
        cut = run.cut("office")
        result.inputs += 1
        message = run.wait_alert("office DOWN", timeout=run.bound() + 10)
        if full_disk:
            status, body = run.healthz()
            if status != 503 or "disk is full" not in str(body.get("detail")):
                result.fail(f"/healthz during the full disk: {status} {str(body)[:100]}")
            result.inputs += 1
            replies = run.ask_bot("/status", timeout=10)
            if not replies or "FAILING" not in replies[0]["text"]:
                result.fail(f"/status during the full disk: {'no answer' if not replies else 'no store line'}")
            remaining = minutes_full * 60 - (time.time() - cut)
            if remaining > 0:
                time.sleep(remaining)
            during = run.log_text(offset)
            lines = [line for line in during.splitlines() if STORE_LINE.search(line)]
            span = max(time.time() - cut + 1.0, 1.0)
            per_minute = len(lines) / (span / 60)
            result.notes.append(f"store/disk log lines while full: {len(lines)} in {span:.0f} s")
            # the store's line once a minute, the timing log's once a minute, + the first of each
            if len(lines) > 2 * (span / 60) + 2:
                result.fail(f"log: {len(lines)} store/disk lines in {span:.0f} s ({per_minute:.0f}/min)")
            assert filler is not None
            filler.unlink()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and run.healthz()[0] != 200:
                time.sleep(0.2)
            if run.healthz()[0] != 200:
                result.fail("/healthz still failing 15 s after space was freed")
        time.sleep(2.0)
        message = message or run.wait_alert("office DOWN", timeout=5)    # late (after recovery) is not lost
        texts = [m["text"] for m in run.alerts()]
        result.delivered(message["at"] - cut if message else None, _count(texts, "office DOWN"))
        result.inputs += 1
        up_from = len(run.alerts())
        restored = run.restore("office")
        up = run.wait_alert("office UP", timeout=run.bound() + 10, after=up_from)
        time.sleep(1.0)
        result.delivered(up["at"] - restored if up else None, _count([m["text"] for m in run.alerts()], "office UP"))
        run.stop_agent()
        events = _stored_events(run.data_dir)
        if full_disk and events.count("down") != 1:
            result.fail(f"events of office after recovery: {events}")


def _stored_events(data_dir: Path) -> list[str]:
    from netwatchd.store import state_repo
    from netwatchd.store.db import Database

    try:
        conn = Database.in_dir(data_dir).connect(readonly=True)
        try:
            return [t.to_state.value for t in reversed(state_repo.recent_events(conn, "office"))]
        finally:
            conn.close()
    except (sqlite3.Error, Exception):  # noqa: BLE001 - a peer's store may differ; reported as no events
        return []


@case("outage-disk-ok", needs_root=True, about="an outage on a healthy tmpfs data_dir (the peer row)")
def case_outage_disk_ok(ctx: Context) -> Result:
    result = Result("outage-disk-ok")
    for _ in range(ctx.repeat):
        _outage(ctx, result, full_disk=False, minutes_full=0)
    return result


@case("outage-disk-full", needs_root=True, about="data_dir filled to the last byte, then an outage")
def case_outage_disk_full(ctx: Context) -> Result:
    result = Result("outage-disk-full")
    for _ in range(ctx.repeat):
        _outage(ctx, result, full_disk=True, minutes_full=ctx.minutes_full)
    return result


@case("outage-store-locked", about="another process holds the store's write lock during an outage")
def case_outage_store_locked(ctx: Context) -> Result:
    result = Result("outage-store-locked")
    for _ in range(ctx.repeat):
        with LoopbackRun(["office"], workdir=Path(tempfile.mkdtemp(prefix="locked-", dir=ctx.workdir)),
                         python_path=ctx.python_path, bot=False) as run:
            result.bound_s = run.bound()
            result.runs += 1
            run.start_agent(wait_ready=15)
            run.wait_states(lambda s: s.get("office") == "up", 15)
            blocker = sqlite3.connect(str(run.data_dir / "netwatchd.sqlite3"), isolation_level=None, timeout=30)
            blocker.execute("BEGIN IMMEDIATE")
            result.faults += 1
            cut = run.cut("office")
            result.inputs += 1
            locked_at = time.monotonic()
            message = run.wait_alert("office DOWN", timeout=run.bound() + 30)
            # a lock counts as a failure once it has lasted SQLite's usual patience (10 s)
            time.sleep(max(0.0, 12.0 - (time.monotonic() - locked_at)))
            status, body = run.healthz()
            if status != 503 or "locked" not in str(body.get("detail")):
                result.fail(f"/healthz after 12 s of lock: {status} {str(body)[:100]}")
            blocker.execute("ROLLBACK")
            blocker.close()
            time.sleep(3.0)
            message = message or run.wait_alert("office DOWN", timeout=5)    # late (after the lock) is not lost
            result.delivered(message["at"] - cut if message else None,
                             _count([m["text"] for m in run.alerts()], "office DOWN"))
            run.stop_agent()
    return result


# ---- running and printing --------------------------------------------------------------------------

def run_cases(names: list[str], ctx: Context) -> list[Result]:
    results = []
    for name in names:
        fn, needs_root, _ = CASES[name]
        if needs_root and smalldisk.unavailable():
            results.append(Result(name, skipped=smalldisk.unavailable()))
            continue
        started = time.monotonic()
        try:
            result = fn(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken case must not hide the others' numbers
            result = Result(name)
            result.fail(f"the case crashed: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
        result.notes.append(f"{time.monotonic() - started:.0f} s")
        results.append(result)
        print(f"  {ctx.label}: {name} done", file=sys.stderr)
    return results


def table(rows: list[tuple[str, Result]]) -> str:
    head = ("code", "case", "runs", "faults", "inputs", "alerts", "lost", "dup", "late", "p95 s", "bound s", "checks")
    lines = [head]
    for label, r in rows:
        if r.skipped:
            lines.append((label, r.case, "-", "-", "-", "-", "-", "-", "-", "-", "-", f"skipped: {r.skipped}"))
            continue
        p95 = r.p95()
        lines.append((label, r.case, str(r.runs), str(r.faults), str(r.inputs), str(r.alerts), str(r.lost),
                      str(r.duplicated), str(r.late), "-" if p95 is None else f"{p95:.2f}",
                      "-" if r.bound_s is None else f"{r.bound_s + 1:.1f}",
                      "ok" if not r.checks_failed else f"{len(r.checks_failed)} failed"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in lines]
    for label, r in rows:
        for problem in r.checks_failed[:6]:
            out.append(f"  {label} {r.case}: {problem}")
        if len(r.checks_failed) > 6:
            out.append(f"  {label} {r.case}: ... {len(r.checks_failed) - 6} more")
        if r.notes:
            out.append(f"  {label} {r.case}: " + "; ".join(r.notes))
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="repetitions of each case (default 2)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--peer", default=None, help="another checkout's root, run as a second set of rows")
    parser.add_argument("--minutes-full", type=float, default=0.25,
                        help="how long the disk stays full per outage-disk-full run (default 0.25; 2 shows "
                             "the once-a-minute log lines)")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    args = parser.parse_args()
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    rows: list[tuple[str, Result]] = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        codes = [("this", None)] + ([("peer", str(Path(args.peer).resolve()))] if args.peer else [])
        for label, path in codes:
            ctx = Context(repeat=args.repeat, workdir=Path(tmp), python_path=path, label=label,
                          minutes_full=args.minutes_full)
            rows += [(label, r) for r in run_cases(names, ctx)]
    print(table(rows))
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "repeat": args.repeat,
              "peer": args.peer, "minutes_full": args.minutes_full,
              "results": [{"code": label, **asdict(r), "p95_s": r.p95()} for label, r in rows]}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", "utf-8")
    return 0 if all(not r.checks_failed and not r.lost for label, r in rows if label == "this") else 1


if __name__ == "__main__":
    sys.exit(main())
