"""`netwatchd status -c FILE [--json]`: every site's state from the store, readable while the agent runs.

The store is opened read-only (SQLite WAL lets the agent keep writing). Shows each host's state,
since when (in the configured time zone), its last probe evidence, muted/flapping marks, the
self-check uplink, the outbox: how many alerts wait for delivery and which ones are dead (why),
and the store's health as the running agent last reported it (its health file next to the
store: disk full, damaged file, alerts held in memory) with the free space in data_dir.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, TextIO

from netwatchd.config.model import Config
from netwatchd.engine.engine import SELF_HOST, HostState, Mute
from netwatchd.engine.mutes import compile_windows
from netwatchd.errors import StoreDamaged
from netwatchd.logs import redact
from netwatchd.store import outbox_repo, state_repo
from netwatchd.store.db import Database, read_transaction
from netwatchd.store.faults import DAMAGED, classify, damaged_message, free_bytes, human_bytes
from netwatchd.store.health import STALE_AFTER, read_health_files
from netwatchd.store.outbox_repo import DeadRow, LaneStatus

HOOK_PREFIX = "hook:"       # notify.hooks.HOOK_PREFIX: the outbox lanes of the hooks

DEAD_SHOWN = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="hosts.yaml", help="config file (default: ./hosts.yaml)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _load_config(path: Path) -> Config:
    """The config as `check` reads it (secrets may be unset: status needs none). Raises ConfigError."""
    from netwatchd.config.loader import load

    return load(path, secrets_may_be_unset=True)


@dataclass
class Snapshot:
    """What the store says right now."""

    states: dict[str, HostState]
    mutes: list[Mute]
    depth: int
    dead: Sequence[DeadRow]
    hooks: Sequence[LaneStatus] = ()


def read_snapshot(db: Database, now: datetime) -> Snapshot:
    """Read states, mutes and the outbox in one read transaction. Raises sqlite3.Error."""
    conn = db.connect(readonly=True)
    try:
        with read_transaction(conn):
            states = state_repo.load_states(conn)
            mutes = state_repo.active_mutes(conn, now)
            outbox = outbox_repo.outbox_status(conn, dead_limit=DEAD_SHOWN)
            hooks = outbox_repo.lane_status(conn, HOOK_PREFIX)
    finally:
        conn.close()
    return Snapshot(states, mutes, outbox.waiting, outbox.dead_rows, hooks)


def _local(moment: datetime | None, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "-"


def describe_evidence(evidence: dict[str, Any]) -> str:
    """'0% loss, avg 1.2 ms, max 3.4 ms' or the error, '-' before the first probe."""
    if not evidence or "loss_percent" not in evidence:
        return "-"
    parts = [f"{evidence['loss_percent']:g}% loss"]
    if evidence.get("rtt_avg_ms") is not None:
        parts.append(f"avg {evidence['rtt_avg_ms']:g} ms")
    if evidence.get("rtt_max_ms") is not None:
        parts.append(f"max {evidence['rtt_max_ms']:g} ms")
    if evidence.get("error"):
        parts.append(str(evidence["error"]))
    return ", ".join(parts)


def build_report(config: Config, snap: Snapshot, now: datetime) -> dict[str, Any]:
    """The status as one JSON-ready dict (also what the table is printed from)."""
    tz = config.tz
    windows = compile_windows(config.maintenance, tz)
    in_window = {t for w in windows if w.active(now) for t in w.targets}
    mutes = {m.target.lower(): m for m in snap.mutes}
    hosts = []
    for spec in config.hosts:
        state = snap.states.get(spec.name)
        keys = (spec.name.lower(), spec.group.lower()) if spec.group else (spec.name.lower(),)
        mute = next((mutes[k] for k in keys if k in mutes), None)
        marks = []
        if spec.disabled:
            marks.append("disabled")
        if mute:
            marks.append(f"muted until {_local(mute.until, tz)}" + (f" by {mute.by}" if mute.by else "")
                         + (f" ({mute.reason})" if mute.reason else ""))
        elif any(k in in_window for k in keys):
            marks.append("maintenance window")
        if state and state.flapping:
            marks.append(f"flapping ({state.flap_percent:g}% changes)")
        if state and state.held:
            marks.append("waiting for parent")
        hosts.append({
            "name": spec.name, "address": spec.address, "group": spec.group, "parent": spec.parent,
            "state": state.state.value if state else "unknown",
            "since": state.since.isoformat(timespec="milliseconds") if state and state.since else None,
            "since_local": _local(state.since if state else None, tz),
            "evidence": dict(state.evidence) if state else {},
            "muted": bool(mute) or any(k in in_window for k in keys),
            "flapping": bool(state and state.flapping), "marks": marks,
        })
    report: dict[str, Any] = {
        "config": str(config.path), "store": str(Database.in_dir(config.data_dir).path),
        "now": now.isoformat(timespec="milliseconds"), "now_local": _local(now, tz), "hosts": hosts,
        "outbox": {"depth": snap.depth, "dead": [_dead_row(row) for row in snap.dead]},
    }
    lanes = {lane.lane[len(HOOK_PREFIX):]: lane for lane in snap.hooks}
    hooks = []
    for hook in config.hooks:
        hooks.append(_hook_row(hook.name, hook.target, lanes.pop(hook.name, None)))
    hooks += [_hook_row(name, "(no longer in the config)", lane) for name, lane in lanes.items()
              if lane.waiting or lane.dead]
    if hooks:
        report["hooks"] = hooks
    report["store_health"] = store_health(config, now)
    me = snap.states.get(SELF_HOST)
    if config.self_check.anchors:
        report["uplink"] = {"state": me.state.value if me else "unknown",
                            "since_local": _local(me.since if me else None, tz),
                            "anchors": list(config.self_check.anchors)}
    return report


def _hook_row(name: str, target: str, lane: LaneStatus | None) -> dict[str, Any]:
    """A hook's delivery: failing (its oldest event keeps failing), waiting, dead, last success."""
    waiting = lane.waiting if lane else 0
    error = redact(lane.last_error) if lane and lane.last_error else None
    failing = bool(lane and lane.waiting and lane.attempts > 0 and lane.last_error)
    return {"name": name, "target": target, "waiting": waiting, "dead": lane.dead if lane else 0,
            "failing": failing, "attempts": lane.attempts if lane else 0, "last_error": error,
            "last_success": lane.last_done_at if lane else None}


def store_health(config: Config, now: datetime) -> dict[str, Any]:
    """The store as each running agent last reported it (its health file), with the free space:
    {"ok", "free_bytes", "data_dir", "agents": [{"pid", "shard", "written_at", "age_s", "state",
    "line", ...}]}. An agent's state: ok | failing | stopped | silent (no report for STALE_AFTER s)."""
    agents = []
    for record in read_health_files(config.data_dir):
        if "unreadable" in record:
            agents.append({"file": record["file"], "state": "unreadable", "line": record["unreadable"]})
            continue
        try:
            written = datetime.fromisoformat(str(record.get("written_at")))
            age = (now - written).total_seconds()
        except (TypeError, ValueError):
            written, age = None, None
        found = record.get("store")
        store: dict[str, Any] = found if isinstance(found, dict) else {}
        if record.get("stopped"):
            state = "stopped"
        elif age is None or age > STALE_AFTER:
            state = "silent"
        else:
            state = "ok" if store.get("ok", True) else "failing"
        agents.append({"file": record.get("file"), "pid": record.get("pid"), "shard": record.get("shard"),
                       "written_at": record.get("written_at"), "written_local": _local(written, config.tz),
                       "age_s": None if age is None else round(age),
                       "state": state, "line": store.get("line", ""), "store": store})
    free = free_bytes(Path(config.data_dir))
    return {"ok": all(a["state"] in ("ok", "stopped") for a in agents), "data_dir": str(config.data_dir),
            "free_bytes": free, "agents": agents}


def store_lines(health: dict[str, Any]) -> list[str]:
    """The `store:` line(s) of the table."""
    free = f"{human_bytes(health['free_bytes'])} free in {health['data_dir']}"
    if not health["agents"]:
        return [f"store: no agent has reported yet ({free})"]
    lines = []
    for agent in health["agents"]:
        who = f"agent {agent.get('pid') or '?'}" + (f" (shard {agent['shard']})" if agent.get("shard") else "")
        when = agent.get("written_local") or "?"
        if agent["state"] == "ok":
            lines.append(f"store: ok ({who}, {free})" + (f"; {agent['line']}" if agent["line"] != "store ok" else ""))
        elif agent["state"] == "failing":
            lines.append(f"store: {agent['line']} ({who})")
        elif agent["state"] == "stopped":
            lines.append(f"store: {who} stopped at {when} ({free})")
        elif agent["state"] == "silent":
            lines.append(f"store: {who} has not reported since {when}: stopped without a word, or it cannot "
                         f"write to data_dir ({free})" + (f"; last said: {agent['line']}" if agent["line"] else ""))
        else:
            lines.append(f"store: {agent.get('file')}: unreadable ({agent['line']})")
    return lines


def _dead_row(row: DeadRow) -> dict[str, Any]:
    try:
        payload = json.loads(row.payload)
    except (TypeError, ValueError):
        payload = {}
    return {"id": row.id, "chat_id": row.chat_id, "reason": redact(row.last_error or "unknown"),
            "host": payload.get("host", ""), "kind": payload.get("kind", ""), "to": payload.get("to", ""),
            "enqueued_at": row.enqueued_at}


def print_table(report: dict[str, Any], out: TextIO) -> None:
    print(f"netwatchd status at {report['now_local']} (store {report['store']})", file=out)
    if "uplink" in report:
        up = report["uplink"]
        print(f"uplink: {up['state']} since {up['since_local']} (anchors {', '.join(up['anchors'])})", file=out)
    rows = [("HOST", "STATE", "SINCE", "LAST PROBE", "MARKS")]
    rows += [(h["name"], h["state"], h["since_local"], describe_evidence(h["evidence"]), "; ".join(h["marks"]))
             for h in report["hosts"]]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4], file=out)
    counts: dict[str, int] = {}
    for h in report["hosts"]:
        counts[h["state"]] = counts.get(h["state"], 0) + 1
    print("sites: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), file=out)
    box = report["outbox"]
    print(f"outbox: {box['depth']} alert(s) waiting for delivery, {len(box['dead'])} dead shown", file=out)
    if "store_health" in report:
        for line in store_lines(report["store_health"]):
            print(line, file=out)
    for dead in box["dead"]:
        print(f"  dead #{dead['id']} to {dead['chat_id']}: {dead['host']} {dead['kind']} {dead['to']}"
              f" — {dead['reason']}", file=out)
    for hook in report.get("hooks", ()):
        state = (f"FAILING (attempt {hook['attempts']}): {hook['last_error']}" if hook["failing"]
                 else "ok" if not hook["dead"] else f"{hook['dead']} event(s) given up: {hook['last_error']}")
        print(f"hook {hook['name']} ({hook['target']}): {state}; {hook['waiting']} waiting, "
              f"last success {hook['last_success'] or 'never'}", file=out)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    config = _load_config(Path(args.config))
    db = Database.in_dir(config.data_dir)
    if not db.path.exists():
        print(f"netwatchd: no store at {db.path} yet: the agent has not run with data_dir "
              f"{config.data_dir} (start it with `netwatchd run -c {args.config}`)", file=sys.stderr)
        return 1
    now = datetime.now(timezone.utc)
    try:
        snap = read_snapshot(db, now)
    except sqlite3.Error as exc:
        if classify(exc).kind == DAMAGED:
            damaged = StoreDamaged(damaged_message(db.path, str(exc), when=now, config_path=args.config),
                                   path=str(db.path), detail=str(exc))
            print(f"netwatchd: {damaged}", file=sys.stderr)
            return 1
        print(f"netwatchd: cannot read the store {db.path}: {exc} (is it a netwatchd store? "
              "the agent creates it on its first run)", file=sys.stderr)
        return 1
    report = build_report(config, snap, now)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2), file=out)
    else:
        print_table(report, out)
    return 0
