#!/usr/bin/env python3
"""The fault suite of issue 18: each numbered case breaks something on purpose, repeatedly, under a
real `netwatchd run` (loopback only: TCP sites are listeners of this process, Telegram is the
stand-in on 127.0.0.1, the wall clock is stepped with libfaketime), and counts

    faults    faults injected              inputs    inputs tried (cuts, commands, files, signals)
    alerts    alerts that should arrive    lost      of those, not delivered (by the end of the case)
    dup       delivered more than once     p95 s     detection-to-Telegram delay (cut -> stand-in)
    late      delivered beyond bound + 1 s result    pass, or FAIL with every broken promise listed

Cases (the issue's numbers; `--cases` takes numbers or names):

  1  group-flood          40 non-admin members each send a command every 2 s in the alerts group, the
                          stand-in enforcing Telegram's limits, while a site goes down and up
  2  clock-step-back      the agent's wall clock stepped back 1 h (libfaketime), then outages, then a
     clock-step-forward   DOWN queued in a Telegram outage with a second step; forward 2 h the same
  3  broken-yaml          deep (1,000 levels), truncated, binary, alias-bomb ... hosts.yaml files to
                          `netwatchd check` (exit 2, a located line, no traceback) and by SIGHUP to a
                          running agent (it keeps its config and keeps alerting)
  4  damaged-store-start  every damage kind of lab.storefaults: `run` exits 2 with one line naming the
                          file, in under 15 s
     damaged-store-move   a damaged store + --move-damaged-store: starts, the next outage is announced
     outage-disk-ok       an outage on a healthy tmpfs data_dir (the row to compare with)        [root]
     outage-disk-full     the data_dir tmpfs filled, then an outage: DOWN delivered, /healthz fails
                          naming the disk, /status says so, <= 1 store line a minute; freed: once [root]
     outage-store-locked  another process holds the write lock during an outage
  5  bot-wedge            malformed updates, then a multi-part /monitor under a 429 and a 502 (whole),
                          then a group answer held by a 429 while a site goes down (the alert first)
  6  kill9-duplicates     kill -9 aimed at sends in flight and at random moments (150 ms round trip):
                          nothing lost, every repeat marked "sent again after a restart"
  7  file-modes           the agent started under umask 000 and 022: data_dir 0700, files 0600
  8  truncated-hosts      hosts.yaml cut at a line boundary and reloaded: the chat is told which sites
                          went, restoring the file restores their state; cut mid-line: rejected
 10  status-starvation    /api/status of 10,000 sites: 1,000 requests at 200 concurrent (ApacheBench),
                          quiet and with 1,500 idle connections; then a real agent's page under the same
                          load while a site goes down

(Item 9 of the issue is this suite.) A case is one function `def case_x(ctx) -> Result` decorated
with @case(number, "name", ...); it repeats ctx.repeat times and fills the counters.

`--peer DIR` runs the same cases against another checkout's netwatchd (e.g. the code before a change:
`git archive <commit> | tar -x -C DIR`), in the same run, as a second set of rows.

Usage: sudo python scripts/bench_faults.py [--repeat 1] [--cases 1,2,flood,...] [--peer DIR] [--json out.json]
Needs: root for the tmpfs cases (skipped otherwise), libfaketime for case 2, ApacheBench (`ab`) for 10.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netwatchd.errors import LabError  # noqa: E402
from netwatchd.lab import smalldisk  # noqa: E402
from netwatchd.lab.clockstep import Site, StepRun, libfaketime  # noqa: E402
from netwatchd.lab.crowd import Acceptor, Flood  # noqa: E402
from netwatchd.lab.loopback import LOOPBACK_ADMIN_ID, LOOPBACK_CHAT_ID, LoopbackRun  # noqa: E402
from netwatchd.lab.storefaults import DAMAGE_KINDS, damage, make_store  # noqa: E402
from netwatchd.lab.telegram_standin import TelegramStandIn, utf16_len  # noqa: E402

STORE_LINE = re.compile(r" (ERROR|WARNING|CRITICAL) .*(store|disk|No space|timing\.jsonl|history|database)", re.I)


@dataclass
class Result:
    """What one case counted over all its repetitions."""

    case: str
    number: int = 0
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
    seconds: float = 0.0

    def p95(self) -> float | None:
        if not self.delays:
            return None
        ordered = sorted(self.delays)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]

    def fail(self, what: str) -> None:
        self.checks_failed.append(what)

    def passed(self) -> bool:
        return not self.skipped and not self.checks_failed and not self.lost and not self.late

    def delivered(self, delay: float | None, copies: int, *, timed: bool = True) -> None:
        """One alert that should have arrived: its delay (None: never) and how many times it came.
        `timed` False: delivered or lost, but its delay is not a detection delay (not in p95)."""
        self.alerts += 1
        if delay is None or copies == 0:
            self.lost += 1
            return
        self.duplicated += max(0, copies - 1)
        if not timed:
            return
        self.delays.append(delay)
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
CASES: dict[str, tuple[int, Case, bool, str]] = {}


def case(number: int, name: str, *, needs_root: bool = False, about: str = "") -> Callable[[Case], Case]:
    """Register a fault case under the issue's `number` (run in the order registered)."""
    def register(fn: Case) -> Case:
        CASES[name] = (number, fn, needs_root, about)
        return fn
    return register


def _env(ctx: Context) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if ctx.python_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ctx.python_path, env.get("PYTHONPATH")) if p)
    return env


def _count(texts: list[str], needle: str) -> int:
    return sum(1 for text in texts if needle in text.split("\n")[0])


def _folder(ctx: Context, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=ctx.workdir))


def _all_up(run: LoopbackRun, timeout: float = 30.0) -> None:
    run.wait_states(lambda s: sum(1 for v in s.values() if v == "up") == len(run.sites), timeout)


@contextlib.contextmanager
def _agent(ctx: Context, result: Result, sites: Sequence[str], prefix: str, *, bot: bool = False,
           start: bool = True) -> Iterator[LoopbackRun]:
    """A LoopbackRun of `sites` counted as one run of `result`; started and every site up unless
    `start` is False. Raises LabError."""
    with LoopbackRun(sites, workdir=_folder(ctx, prefix), python_path=ctx.python_path, bot=bot) as run:
        result.bound_s = run.bound()
        result.runs += 1
        if start:
            run.start_agent(wait_ready=20)
            _all_up(run)
        yield run


def _outage_cycle(run: LoopbackRun, result: Result, site: str = "office", *, settle: float = 1.0,
                  timeout: float = 30.0) -> None:
    """Cut `site`, count its DOWN; restore it, count its UP (delay from the cut / restore)."""
    for needle, action in ((f"{site} DOWN", run.cut), (f"{site} UP", run.restore)):
        before = len(run.alerts())
        copies_before = _count([m["text"] for m in run.alerts()], needle)
        at = action(site)
        result.inputs += 1
        message = run.wait_alert(needle, timeout=timeout, after=before)
        time.sleep(settle)
        copies = _count([m["text"] for m in run.alerts()], needle) - copies_before
        result.delivered(message["at"] - at if message else None, copies)


# ---- 1: the alerts group flooded by members who are not admins -----------------------------------

@case(1, "group-flood", about="40 non-admins each send a command every 2 s in the alerts group; outages")
def case_group_flood(ctx: Context) -> Result:
    result = Result("group-flood")
    # a fresh site for each outage: the same site cut twice within 10 intervals is flapping (alerts.md)
    sites = ["office", *[f"annex{i}" for i in range(1, 3 * ctx.repeat)]]
    with _agent(ctx, result, sites, "flood-", bot=True) as run:
        run.telegram.enforce_rate_limits = True        # 1/s a chat, 20/min a group, 30/s: 429 beyond
        flood = Flood(run.telegram, LOOPBACK_CHAT_ID, members=40, every=2.0)
        flood.start()
        time.sleep(8.0)                                # the group's minute budget is in play
        for site in sites:
            _outage_cycle(run, result, site)
        sent = flood.stop()
        result.faults += sent
        result.inputs += sent
        calls = run.telegram.calls("sendMessage")
        run.stop_agent()
    alert_calls = [c for c in calls if re.search(r"<b>(office|annex\d+)", str(c["params"].get("text", "")))]
    bot_calls = [c for c in calls if c not in alert_calls
                 and str(c["params"].get("chat_id")) == str(LOOPBACK_CHAT_ID)]
    alert_429 = sum(1 for c in alert_calls if c["status"] == 429)
    result.notes.append(f"{sent} commands from 40 members; {alert_429} alert sends answered 429; "
                        f"{sum(1 for c in bot_calls if c['status'] == 200)} bot messages reached the group")
    return result


# ---- 2: the wall clock stepped under a running agent ----------------------------------------------

def _outage_seconds(text: str) -> int | None:
    found = re.search(r"Outage: (?:(\d+) min )?(\d+) s", text)
    return int(found.group(1) or 0) * 60 + int(found.group(2)) if found else None


FLAP_SPACING = 11.0     # seconds between outage starts of one site: beyond the early flapping window (10 intervals)


def _clock_case(ctx: Context, name: str, step: float) -> Result:
    result = Result(name)
    if libfaketime() is None:
        result.skipped = "libfaketime is not installed (apt-get install faketime libfaketime)"
        return result
    result.bound_s = 1.0 + 0.2 + 2 * (0.2 + 0.2)      # StepRun: interval 1 s, timeout and retry 200 ms, down_after 2
    errors: list[float] = []
    with StepRun(_folder(ctx, "clock-"), python_path=ctx.python_path) as run:
        result.runs += 1
        run.wait_log("office: unknown -> up")
        run.step(step)
        result.faults += 1
        run.wait_log("the system clock stepped")
        last_cut = time.monotonic()
        for _ in range(2 * ctx.repeat):
            time.sleep(max(0.5, last_cut + FLAP_SPACING - time.monotonic()))
            last_cut = time.monotonic()
            down_at = 0.0
            for needle, action in (("office DOWN", run.site.cut), ("office UP", run.site.restore)):
                before = len(run.texts())
                started = time.monotonic()
                action()
                result.inputs += 1
                try:
                    text, seen = run.wait_message(needle, timeout=30, after=before)
                except AssertionError:
                    result.delivered(None, 0)
                    continue
                time.sleep(0.3)
                result.delivered(seen - started, _count(run.texts()[before:], needle))
                if needle == "office DOWN":
                    down_at = started
                    time.sleep(2.0)
                elif (outage := _outage_seconds(text)) is not None:
                    errors.append(abs(outage - (started - down_at)))
        # a DOWN queued during a Telegram outage, the clock stepping again while it waits
        time.sleep(max(0.5, last_cut + FLAP_SPACING - time.monotonic()))
        before = len(run.texts())
        run.telegram.set_outage(True)
        result.faults += 1
        run.site.cut()
        result.inputs += 1
        run.wait_log("not delivered (attempt 2)", timeout=30)
        run.step(step)
        result.faults += 1
        time.sleep(1.2)
        answered = time.monotonic()
        run.telegram.set_outage(False)
        try:
            _, seen = run.wait_message("office DOWN", timeout=30, after=before)
            queued: float | None = seen - answered
        except AssertionError:
            queued = None
        result.delivered(queued, 1 if queued is not None else 0, timed=False)
        run.site.restore()
    if queued is not None:
        result.notes.append(f"the DOWN queued in a Telegram outage out {queued:.1f} s after Telegram answered")
        if queued > 10:
            result.fail(f"the queued DOWN went out {queued:.0f} s after Telegram answered again (> 10 s)")
    if errors:
        result.notes.append(f"'Outage: N s' off by {max(errors):.2f} s at most")
        if max(errors) > 2.0:
            result.fail(f"an 'Outage' figure off by {max(errors):.1f} s")
    return result


@case(2, "clock-step-back", about="the wall clock stepped back 1 h under `netwatchd run` (libfaketime)")
def case_clock_back(ctx: Context) -> Result:
    return _clock_case(ctx, "clock-step-back", -3600.0)


@case(2, "clock-step-forward", about="the wall clock stepped forward 2 h under `netwatchd run` (libfaketime)")
def case_clock_forward(ctx: Context) -> Result:
    return _clock_case(ctx, "clock-step-forward", 7200.0)


# ---- 3: deep and broken YAML to `check` and by SIGHUP ----------------------------------------------

def broken_files(good: str) -> dict[str, bytes]:
    """Bad hosts.yaml files, by name: what an editor, a script or an attacker could leave behind."""
    deep_block = "hosts:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 1000)) + "  " * 1000 + "x: 1\n"
    lines = good.splitlines(keepends=True)
    return {
        "deep-block-1000": deep_block.encode(),
        "deep-flow-list-1000": ("hosts: " + "[" * 1000 + "]" * 1000 + "\n").encode(),
        "deep-flow-map-1000": ("hosts: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n").encode(),
        "alias-bomb": ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
            f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
            + "hosts: *i\n").encode(),
        "cut-mid-string": (good[: good.index("name:") + 8]).encode(),
        "cut-mid-line": "".join(lines[:-1]).encode() + lines[-1][: len(lines[-1]) // 2].encode(),
        "tabs": good.replace("  - ", "\t- ").encode(),
        "binary": bytes(range(256)) * 8,
        "not-utf8": good.encode("utf-8").replace(b"office", b"\xff\xfeoffice"),
        "empty": b"",
        "hosts-not-a-list": b"hosts: 42\n",
        "duplicate-key": (good + "hosts: []\n").encode(),
        "typo-key": good.replace("hosts:", "hostz:").encode(),
    }


BROKEN_KINDS = list(broken_files("hosts:\n  - {name: office, address: 127.0.0.1}\n"))


@case(3, "broken-yaml", about="deep/broken hosts.yaml: `check` and SIGHUP give a located line, never a traceback")
def case_broken_yaml(ctx: Context) -> Result:
    result = Result("broken-yaml")
    for _ in range(ctx.repeat):
        with _agent(ctx, result, ["office"], "yaml-", start=False) as run:
            good = run.config_text()
            files = broken_files(good)
            for name, data in files.items():                        # `netwatchd check`
                path = run.workdir / f"{name}.yaml"
                path.write_bytes(data)
                result.inputs += 1
                result.faults += 1
                started = time.monotonic()
                try:
                    proc = subprocess.run([sys.executable, "-m", "netwatchd", "check", "-c", str(path)],
                                          capture_output=True, text=True, timeout=20, env=_env(ctx), cwd=run.workdir)
                except subprocess.TimeoutExpired:
                    result.fail(f"check {name}: no answer in 20 s")
                    continue
                out = proc.stdout + proc.stderr
                if "Traceback" in out:
                    result.fail(f"check {name}: traceback")
                elif proc.returncode != 2 or not re.search(re.escape(str(path)) + r"(:\d+)?: ", out):
                    result.fail(f"check {name}: exit {proc.returncode}, {out.strip().splitlines()[:1]}")
                if time.monotonic() - started > 10:
                    result.fail(f"check {name}: took {time.monotonic() - started:.0f} s")
            run.start_agent(wait_ready=20)
            _all_up(run)
            offset = run.log_offset()
            for name, data in files.items():                         # SIGHUP with each in place
                run.config_path.write_bytes(data)
                run.signal_agent(signal.SIGHUP)
                result.inputs += 1
                result.faults += 1
                time.sleep(0.6)
                if run.agent is None or run.agent.poll() is not None:
                    result.fail(f"SIGHUP with {name}: the agent exited")
                    break
            log = run.log_text(offset)
            if "Traceback" in log:
                result.fail("SIGHUP: a traceback in the log")
            if run.agent is not None and run.agent.poll() is None:
                _outage_cycle(run, result)                           # the old config still alerts
                run.stop_agent()
    result.notes.append(f"{len(BROKEN_KINDS)} kinds of file, each to `check` and by SIGHUP")
    return result


# ---- 4: a damaged store, a full disk, a locked store ---------------------------------------------

@case(4, "damaged-store-start", about="every damage kind x repeat: exit 2, one line naming the file, no traceback")
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


@case(4, "damaged-store-move", about="damaged store + --move-damaged-store: starts, the next outage is announced")
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


@case(4, "outage-disk-ok", needs_root=True, about="an outage on a healthy tmpfs data_dir (the peer row)")
def case_outage_disk_ok(ctx: Context) -> Result:
    result = Result("outage-disk-ok")
    for _ in range(ctx.repeat):
        _outage(ctx, result, full_disk=False, minutes_full=0)
    return result


@case(4, "outage-disk-full", needs_root=True, about="data_dir filled to the last byte, then an outage")
def case_outage_disk_full(ctx: Context) -> Result:
    result = Result("outage-disk-full")
    for _ in range(ctx.repeat):
        _outage(ctx, result, full_disk=True, minutes_full=ctx.minutes_full)
    return result


@case(4, "outage-store-locked", about="another process holds the store's write lock during an outage")
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


# ---- 5: a bot that cannot be wedged; long answers under 429 ----------------------------------------

MALFORMED = [
    {"message": {"message_id": 1, "chat": {"id": "abc", "type": "private"}, "from": {"id": LOOPBACK_ADMIN_ID},
                 "text": "/help"}},
    {"message": "str"},
    {"message": {"message_id": 1, "chat": [], "from": {"id": LOOPBACK_ADMIN_ID}, "text": "/help"}},
    {"message": {"message_id": 1, "chat": {"id": LOOPBACK_ADMIN_ID, "type": "private"}, "from": {"id": "x"},
                 "text": "/help"}},
    {"message": {"message_id": 1, "chat": {"id": LOOPBACK_ADMIN_ID, "type": "private"},
                 "from": {"id": LOOPBACK_ADMIN_ID}, "text": 42}},
    {"callback_query": "str"},
    {"callback_query": {"id": 5, "from": {"id": LOOPBACK_ADMIN_ID}, "data": ["x"], "message": "m"}},
    {"update_id_is_missing": True},
]
SITES_FOR_A_LONG_ANSWER = 120         # /monitor of these is 2-3 messages


def _settled(telegram: TelegramStandIn, chat: int, start: int, timeout: float) -> list[dict[str, Any]]:
    """The messages of `chat` from `start` once none has come for 6 s (or `timeout` passed)."""
    deadline = time.monotonic() + timeout
    count, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(telegram.messages(chat))
        if now != count:
            count, quiet_since = now, time.monotonic()
        elif now > start and time.monotonic() - quiet_since > 6.0:
            break
        time.sleep(0.1)
    return list(telegram.messages(chat))[start:]


def _whole(messages: list[dict[str, Any]], names: list[str]) -> str | None:
    """What is wrong with a multi-part /monitor answer (None: it arrived whole)."""
    texts = [m["text"] for m in messages]
    if not texts:
        return "no answer"
    if any(utf16_len(t) > 4096 for t in texts):
        return "a part over 4,096 UTF-16 units"
    shown = "".join(texts)
    missing = [n for n in names if n not in shown]
    if missing or "cut here" in shown:
        return f"{len(missing)} sites missing, {len(texts)} parts{' (cut)' if 'cut here' in shown else ''}"
    return None


@case(5, "bot-wedge", about="malformed updates; a multi-part /monitor under 429s; a group answer held by a 429")
def case_bot_wedge(ctx: Context) -> Result:
    result = Result("bot-wedge")
    names = ["office"] + [f"kecamatan-site-{i:03d}" for i in range(SITES_FOR_A_LONG_ANSWER - 1)]
    for _ in range(ctx.repeat):
        with _agent(ctx, result, names, "bot-", bot=True) as run:
            tg = run.telegram
            for body in MALFORMED:                                   # each followed by a command
                tg.inject_raw_update(body)
                result.faults += 1
                result.inputs += 2
                if not run.ask_bot("/help", timeout=10):
                    result.fail(f"not answered after the malformed update {json.dumps(body)[:80]}")
            # a long answer whose 2nd message draws a 429 (retry_after 2), then a 502: it must arrive whole
            tg.fail_next(1, "429", method="sendMessage", chat_id=LOOPBACK_ADMIN_ID, after=1, retry_after=2)
            tg.fail_next(1, "5xx", method="sendMessage", chat_id=LOOPBACK_ADMIN_ID)
            result.faults += 2
            result.inputs += 1
            start = len(tg.messages(LOOPBACK_ADMIN_ID))
            tg.inject_message(LOOPBACK_ADMIN_ID, LOOPBACK_ADMIN_ID, "/monitor")
            answer = _settled(tg, LOOPBACK_ADMIN_ID, start, 40)
            problem = _whole(answer, names)
            if problem:
                result.fail(f"/monitor under a 429 and a 502: {problem}")
            else:
                result.notes.append(f"/monitor of {len(names)} sites: {len(answer)} parts, "
                                    "whole through a 429 and a 502")
            # in the alerts group: the answer's 2nd message draws a 429 (3 s); a site goes down meanwhile
            tg.fail_next(1, "429", method="sendMessage", chat_id=LOOPBACK_CHAT_ID, after=1, retry_after=3)
            result.faults += 1
            result.inputs += 1
            start = len(tg.messages(LOOPBACK_CHAT_ID))
            tg.inject_message(LOOPBACK_CHAT_ID, LOOPBACK_ADMIN_ID, "/monitor", chat_type="supergroup")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(
                    c["status"] == 429 and str(c["params"].get("chat_id")) == str(LOOPBACK_CHAT_ID)
                    for c in tg.calls("sendMessage")):
                time.sleep(0.02)
            cut = run.cut("office")
            result.inputs += 1
            message = run.wait_alert("office DOWN", timeout=30, after=start)
            answer = _settled(tg, LOOPBACK_CHAT_ID, start, 40)
            result.delivered(message["at"] - cut if message else None,
                             _count([m["text"] for m in run.alerts()], "office DOWN"))
            problem = _whole([m for m in answer if "office DOWN" not in m["text"].split("\n")[0]], names)
            if problem:
                result.fail(f"/monitor in the group under a 429: {problem}")
            run.restore("office")
            if not run.ask_bot("/help", timeout=10):
                result.fail("not answered at the end")
            run.stop_agent()
    result.notes.append(f"{len(MALFORMED)} malformed update shapes")
    return result


# ---- 6: duplicates under kill -9 -----------------------------------------------------------------

DUPE_TOKEN = "123456:TEST-token-for-the-stand-in-0000000000"
DUPE_CHAT = 42                    # a private chat: 1 message/s (a group's 20/min would only slow the case)
RESEND_MARKS = ("sent again after a restart", "dikirim ulang setelah restart")
_SITE_ALERT = re.compile(r"<b>(site\d+)(?:</b> \([^)]*\))? (DOWN|UP)\b")


class KilledAgent:
    """`netwatchd run` of the code on `python_path` (None: this tree), killed with SIGKILL at will."""

    def __init__(self, workdir: Path, python_path: str | None, api_url: str, sites: list[Site]) -> None:
        self.workdir, self.python_path = workdir, python_path
        self.config = workdir / "hosts.yaml"
        hosts = "".join(f"  - {{name: site{i:02d}, address: 127.0.0.1, probe: tcp, port: {s.port}}}\n"
                        for i, s in enumerate(sites))
        self.config.write_text(
            "data_dir: ./data\n"
            "defaults: {interval: 1s, timeout: 200ms, retry_interval: 200ms, down_after: 2, up_after: 1,"
            " reminder_every: 'off'}\n"
            "web: false\n"
            f"telegram: {{token: '{DUPE_TOKEN}', chat_ids: [{DUPE_CHAT}], admins: [{DUPE_CHAT}], api_url: '{api_url}',"
            " language: en, poll_commands: false}\n"
            f"hosts:\n{hosts}", "utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.python_path:
            env["PYTHONPATH"] = self.python_path
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

    def _query(self, sql: str, empty: Any) -> Any:
        path = self.workdir / "data" / "netwatchd.sqlite3"
        if not path.exists():
            return empty
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return empty

    def site_alert_in_flight(self) -> bool:
        """A site alert's row is 'sending' (its request is on its way or being answered)."""
        rows = self._query("SELECT payload FROM outbox WHERE status='sending'", [])
        return any(json.loads(p).get("kind", "state") == "state" for (p,) in rows)

    def decided(self) -> list[tuple[str, str]]:
        """(site, DOWN|UP) of every site alert the agents committed to the outbox (what must arrive)."""
        payloads = [json.loads(p) for (p,) in self._query("SELECT payload FROM outbox ORDER BY id", [])]
        return [(p["host"], str(p["to"]).upper()) for p in payloads
                if p.get("kind", "state") == "state" and str(p.get("host", "")).startswith("site")]

    def waiting(self) -> int:
        rows = self._query("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')", [(1,)])
        return int(rows[0][0])


def _kill_run(ctx: Context, mode: str, kills: int, rtt: float, rng: random.Random) -> dict[str, Any]:
    """kill -9 `kills` times, each after 2 sites were cut and the 2 before restored (4 alerts)."""
    workdir = _folder(ctx, f"kill9-{mode}-")
    sites = [Site() for _ in range(2 * kills + 2)]
    telegram = TelegramStandIn(token=DUPE_TOKEN, latency=rtt).start()
    acceptor = Acceptor(lambda: [s.sock for s in sites if s.sock is not None])
    agent = KilledAgent(workdir, ctx.python_path, telegram.api_url, sites)
    missed = 0
    try:
        agent.start()
        time.sleep(2.5)                              # the first round: every site up
        for cycle in range(kills):
            for index in (2 * cycle, 2 * cycle + 1):
                sites[index].cut()
                if cycle > 0:
                    sites[index - 2].restore()
            if mode == "aimed":
                deadline = time.monotonic() + 8.0
                while not agent.site_alert_in_flight() and time.monotonic() < deadline:
                    time.sleep(0.002)
                missed += time.monotonic() >= deadline
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
    for message in telegram.messages(DUPE_CHAT):
        for site, state in _SITE_ALERT.findall(message["text"]):
            received[(site, state)] += 1
            marked[(site, state)] += any(mark in message["text"] for mark in RESEND_MARKS)
    duplicated = [a for a in expected if received[a] > 1]
    return {"alerts": expected, "received": received, "duplicated": duplicated, "missed_aims": missed,
            "unmarked": [a for a in duplicated if marked[a] < received[a] - 1]}


@case(6, "kill9-duplicates", about="kill -9 aimed at sends in flight and at random moments, 150 ms round trip")
def case_kill9(ctx: Context) -> Result:
    result = Result("kill9-duplicates")
    kills = 6 * ctx.repeat
    rng = random.Random(18)
    rates = []
    for mode in ("aimed", "random"):
        outcome = _kill_run(ctx, mode, kills, 0.150, rng)
        result.runs += 1
        result.faults += kills
        result.inputs += 4 * kills
        for alert in outcome["alerts"]:
            result.delivered(None if not outcome["received"][alert] else 0.0, outcome["received"][alert], timed=False)
        if outcome["unmarked"]:
            result.fail(f"{mode}: {len(outcome['unmarked'])} repeats without the 'sent again' line")
        rates.append(f"{mode} {len(outcome['duplicated'])} of {len(outcome['alerts'])} repeated "
                     f"({len(outcome['duplicated']) / max(1, len(outcome['alerts'])):.2f}), "
                     f"{len(outcome['duplicated']) - len(outcome['unmarked'])} marked")
    result.notes.append("; ".join(rates))
    return result


# ---- 7: private files whatever the umask ---------------------------------------------------------

@case(7, "file-modes", about="the agent started under umask 000 and 022: data_dir 0700, store/WAL/timing 0600")
def case_file_modes(ctx: Context) -> Result:
    result = Result("file-modes")
    for _ in range(ctx.repeat):
        for mask in (0o000, 0o022):
            with _agent(ctx, result, ["office"], "modes-", start=False) as run:
                result.faults += 1
                old = os.umask(mask)
                try:
                    run.start_agent(wait_ready=15)
                finally:
                    os.umask(old)
                _all_up(run)
                _outage_cycle(run, result)                 # a delivery writes timing.jsonl
                files = [run.data_dir, *sorted(p for p in run.data_dir.iterdir() if p.is_file())]
                for path in files:
                    mode = stat.S_IMODE(path.stat().st_mode)
                    result.inputs += 1
                    if mode & 0o007 or mode & 0o020:
                        result.fail(f"umask {mask:03o}: {path.name} is {mode:04o}")
                run.stop_agent()
    return result


# ---- 8: a truncated hosts.yaml reloaded -----------------------------------------------------------

@case(8, "truncated-hosts", about="hosts.yaml cut at a line boundary and reloaded; restored; cut mid-line")
def case_truncated_hosts(ctx: Context) -> Result:
    result = Result("truncated-hosts")
    names = ["office", *[f"annex{i}" for i in range(1, 8)]]
    for _ in range(ctx.repeat):
        with _agent(ctx, result, names, "truncated-") as run:
            good = run.config_path.read_text("utf-8")
            lines = good.splitlines(keepends=True)
            keep = len(lines) - 5                             # the last 5 sites' lines gone
            before = len(run.alerts())
            run.config_path.write_text("".join(lines[:keep]), "utf-8")
            run.signal_agent(signal.SIGHUP)
            result.faults += 1
            result.inputs += 1
            told = run.wait_alert("hosts.yaml reloaded", timeout=10, after=before)
            if told is None or "5 sites removed" not in told["text"]:
                result.fail(f"the chat was not told that 5 sites went: {told['text'][:120] if told else 'nothing'}")
            offset = run.log_offset()
            run.config_path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2], "utf-8")
            run.signal_agent(signal.SIGHUP)                   # cut mid-line: rejected, the 3 sites stay
            result.faults += 1
            result.inputs += 1
            time.sleep(1.0)
            if "Traceback" in run.log_text(offset) or run.agent is None or run.agent.poll() is not None:
                result.fail("a file cut mid-line: a traceback or the agent exited")
            restored_from = len(run.alerts())
            run.config_path.write_text(good, "utf-8")
            run.signal_agent(signal.SIGHUP)
            result.inputs += 1
            time.sleep(4.0)
            again = [m["text"].split("\n")[0] for m in run.alerts()[restored_from:]]
            if any("annex" in text for text in again):
                result.fail(f"restoring the file announced the sites again: {again[:2]}")
            _outage_cycle(run, result, "annex7")              # a restored site is watched again
            run.stop_agent()
    return result


# ---- 10: the status page cannot be starved ---------------------------------------------------------

_STATUS_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[2])
from bench_web import fleet
from netwatchd.config.model import WebSpec
from netwatchd.web.metrics import Metrics
from netwatchd.web.server import StatusServer
from netwatchd.web.snapshot import SnapshotEncoder
config, states, latest, history, now = fleet(int(sys.argv[1]))
encoder = SnapshotEncoder()
server = StatusServer(WebSpec(host="127.0.0.1", port=0), metrics=Metrics(), cache_seconds=1.0,
                      snapshot=lambda: encoder.encode(config, states, latest, history, 3, now=now))
server.start()
print(server.port, flush=True)
sys.stdin.read()
server.stop()
"""


def _ab(port: int, path: str, requests: int, concurrency: int) -> dict[str, Any]:
    """ApacheBench (keep-alive, gzip): p50/p99/max ms and failed requests."""
    proc = subprocess.run(["ab", "-q", "-k", "-r", "-n", str(requests), "-c", str(concurrency), "-s", "30",
                           "-H", "Accept-Encoding: gzip", f"http://127.0.0.1:{port}{path}"],
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout
    if "Failed requests" not in out:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "failed": requests}
    percent = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^\s+(\d+)%\s+(\d+)", out, re.M)}
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))          # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    return {"p50_ms": percent.get(50), "p99_ms": percent.get(99), "max_ms": percent.get(100),
            "failed": failed + (int(non2xx.group(1)) if non2xx else 0)}


def _slowloris(port: int, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
        except OSError:
            break
    return held


def _threads_rss(pid: int) -> tuple[int, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))               # type: ignore[union-attr]
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024              # type: ignore[union-attr]
    return threads, rss


@case(10, "status-starvation", about="/api/status of 10,000 sites under ab 1,000 x 200 and 1,500 idle connections;"
                                     " a real agent's page under the same load during an outage")
def case_status_starvation(ctx: Context) -> Result:
    result = Result("status-starvation")
    if shutil.which("ab") is None:
        result.skipped = "ApacheBench is not installed (apt-get install apache2-utils)"
        return result
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    for _ in range(ctx.repeat):
        child = subprocess.Popen([sys.executable, "-c", _STATUS_CHILD, "10000", str(ROOT / "scripts")],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(ctx))
        try:
            port = int((child.stdout.readline() if child.stdout else "0").strip() or 0)
            if not port:
                result.fail("the 10,000-site status server did not start")
                continue
            result.runs += 1
            _ab(port, "/api/status", 50, 10)                           # warm-up: the first snapshot
            quiet = _ab(port, "/api/status", 1000, 200)
            held = _slowloris(port, 1500)
            result.faults += len(held)
            time.sleep(0.5)
            threads, rss = _threads_rss(child.pid)
            loaded = _ab(port, "/api/status", 1000, 200)
            for sock in held:
                sock.close()
            result.inputs += 2000
            for label, got in (("quiet", quiet), ("with 1,500 idle", loaded)):
                if got["p99_ms"] is None or got["p99_ms"] > 1000 or got["failed"]:
                    result.fail(f"10,000 sites {label}: p99 {got['p99_ms']} ms, {got['failed']} failed")
            result.notes.append(f"10,000 sites: p99 {quiet['p99_ms']:.0f} ms quiet, {loaded['p99_ms']:.0f} ms with "
                                f"{len(held)} idle connections held ({threads} threads, {rss:.0f} MB RSS)"
                                if quiet["p99_ms"] is not None and loaded["p99_ms"] is not None else
                                f"10,000 sites: {quiet} / {loaded}")
        finally:
            if child.stdin:
                child.stdin.close()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        # a real agent: its own page starved on purpose while a site goes down
        with _agent(ctx, result, ["office"], "web-") as run:
            assert run.web_port is not None
            held = _slowloris(run.web_port, 1500)
            result.faults += len(held)
            load = subprocess.Popen(["ab", "-q", "-k", "-r", "-n", "3000", "-c", "200", "-s", "30",
                                     f"http://127.0.0.1:{run.web_port}/api/status"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            _outage_cycle(run, result)
            load.wait(120)
            result.inputs += 3000
            status, _ = run.healthz()
            if status != 200:
                result.fail(f"/healthz {status} after the load")
            for sock in held:
                sock.close()
            run.stop_agent()
    return result


# ---- running and printing --------------------------------------------------------------------------

def selected(spec: str) -> list[str]:
    """Case names from "1,2,flood,..." (numbers, names or parts of names). Raises ValueError."""
    names: list[str] = []
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        found = [n for n, (number, *_rest) in CASES.items() if token == str(number) or token in n]
        if not found:
            raise ValueError(f"unknown case {token!r} (numbers 1-8, 10, or one of {', '.join(CASES)})")
        names += [n for n in found if n not in names]
    return names


def run_cases(names: list[str], ctx: Context) -> list[Result]:
    results = []
    for name in names:
        number, fn, needs_root, _ = CASES[name]
        if needs_root and smalldisk.unavailable():
            results.append(Result(name, number=number, skipped=smalldisk.unavailable()))
            continue
        started = time.monotonic()
        try:
            result = fn(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken case must not hide the others' numbers
            result = Result(name)
            result.fail(f"the case crashed: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
        result.number = number
        result.seconds = round(time.monotonic() - started, 1)
        results.append(result)
        print(f"  {ctx.label}: {number} {name} {'pass' if result.passed() else 'FAIL'} "
              f"({result.seconds:.0f} s)", file=sys.stderr)
    return results


def table(rows: list[tuple[str, Result]]) -> str:
    head = ("code", "no.", "case", "runs", "faults", "inputs", "alerts", "lost", "dup", "late", "p95 s",
            "bound+1 s", "time s", "result")
    lines = [head]
    for label, r in rows:
        if r.skipped:
            lines.append((label, str(r.number), r.case, *("-",) * 10, f"skipped: {r.skipped}"))
            continue
        p95 = r.p95()
        lines.append((label, str(r.number), r.case, str(r.runs), str(r.faults), str(r.inputs), str(r.alerts),
                      str(r.lost), str(r.duplicated), str(r.late), "-" if p95 is None else f"{p95:.2f}",
                      "-" if r.bound_s is None else f"{r.bound_s + 1:.1f}", f"{r.seconds:.0f}",
                      "pass" if r.passed() else "FAIL"))
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
    parser.add_argument("--repeat", type=int, default=1,
                        help="repetitions of each case (default 1: about 5 min for all cases)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated numbers or names (default all)")
    parser.add_argument("--peer", default=None, help="another checkout's root, run as a second set of rows")
    parser.add_argument("--minutes-full", type=float, default=0.25,
                        help="how long the disk stays full per outage-disk-full run (default 0.25; 2 shows "
                             "the once-a-minute log lines)")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    args = parser.parse_args()
    try:
        names = selected(args.cases)
    except ValueError as exc:
        parser.error(str(exc))
    rows: list[tuple[str, Result]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        codes = [("this", None)] + ([("peer", str(Path(args.peer).resolve()))] if args.peer else [])
        for label, path in codes:
            ctx = Context(repeat=args.repeat, workdir=Path(tmp), python_path=path, label=label,
                          minutes_full=args.minutes_full)
            rows += [(label, r) for r in run_cases(names, ctx)]
    print(table(rows))
    print(f"  {time.monotonic() - started:.0f} s in all; load average {os.getloadavg()[0]:.2f}")
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "repeat": args.repeat,
              "peer": args.peer, "minutes_full": args.minutes_full, "python": sys.version.split()[0],
              "results": [{"code": label, **asdict(r), "p95_s": r.p95(), "passed": r.passed()} for label, r in rows]}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", "utf-8")
    return 0 if all(r.passed() or r.skipped for label, r in rows if label == "this") else 1


if __name__ == "__main__":
    sys.exit(main())
