#!/usr/bin/env python3
"""Benchmarks for reports and history (issue 7).

  report: a 30-day report over 1,000 hosts probed every 10 s (target <= 5 s), from a synthetic
          store (events: ~15 outages/degradations per host, hourly rollups, timing log); the peer
          is one plain SQL aggregate (window functions over events + rollup sums) computing only
          downtime and rtt per host in the same run.
  disk:   the default retention (a week of raw, 14 days of 5-minute and 400 days of hourly rollups) for
          1,000 hosts at 10 s, written with the store's own encoder, then the file is measured
          (target <= 1 GB); plus the real record_results/prune_and_rollup pipeline for one hour.

Prints a table and a JSON line. Usage:
  python scripts/bench_report.py [--hosts 1000] [--days 30] [--skip-disk] [--disk-only]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatchd.clock import utc_ms
from netwatchd.commands.report import make_report, select_sites
from netwatchd.config.model import Config, HostSpec, RetentionSpec
from netwatchd.models import ProbeResult, State, Transition
from netwatchd.report import render
from netwatchd.report.html import render_html
from netwatchd.store import Database, transaction
from netwatchd.store import history_repo as hr

TZ = ZoneInfo("Asia/Jakarta")
UNTIL = datetime(2026, 12, 1, tzinfo=TZ)
INTERVAL_S = 10


def synthetic_store(data_dir: Path, hosts: int, days: int, seed: int = 7) -> tuple[Config, int]:
    """Events, hourly rollups and a timing log for `hosts` over `days` before UNTIL."""
    rng = random.Random(seed)
    since = UNTIL - timedelta(days=days)
    specs = tuple(HostSpec(name=f"site-{i:04d}", address=f"198.18.{i // 250}.{i % 250 + 2}",
                           group=f"g{i % 10}", parent=None if i % 20 == 0 else f"site-{i // 20 * 20:04d}")
                  for i in range(hosts))
    config = Config(path=data_dir / "hosts.yaml", data_dir=data_dir, hosts=specs,
                    retention=RetentionSpec(raw_days=7, rollup_5m_days=14, rollup_days=400))
    conn = Database.in_dir(data_dir).open()
    events, timing = [], []
    for spec in specs:
        start = since - timedelta(days=1)
        events.append((spec.name, "state", "unknown", "up", start))
        t = since
        while True:
            t += timedelta(seconds=rng.expovariate(1 / (2 * 86400)))
            if t >= UNTIL:
                break
            roll = rng.random()
            bad = "degraded" if roll < 0.2 else ("unreachable" if roll < 0.3 and spec.parent else "down")
            length = timedelta(seconds=rng.uniform(60, 90 * 60))
            events.append((spec.name, "state", "up", bad, t))
            events.append((spec.name, "state", bad, "up", t + length))
            for moment, to in ((t, bad), (t + length, "up")):
                timing.append({"events": [{"host": spec.name, "from": "up", "to": to, "at": utc_ms(moment)}],
                               "detected_at": utc_ms(moment), "enqueued_at": utc_ms(moment),
                               "sent_at": utc_ms(moment), "acked_at": utc_ms(moment),
                               "latency_ms": round(rng.lognormvariate(5.8, 0.4), 1), "attempts": 1,
                               "chat_id": "-1001", "message_id": len(timing) + 1,
                               "status": "sent" if rng.random() > 0.002 else "dead"})
            t += length
    with transaction(conn):
        conn.executemany(
            "INSERT INTO events(host, kind, from_state, to_state, at, payload) VALUES (?,?,?,?,?,?)",
            ((h, k, f, to, utc_ms(at), json.dumps(Transition(host=h, address="", from_state=State(f),
                                                           to_state=State(to), at=at).to_dict()))
             for h, k, f, to, at in sorted(events, key=lambda e: e[4])))
        ids = hr.host_ids(conn, (s.name for s in specs))
        lo = hr.to_ms(since)
        hours = days * 24
        conn.executemany("INSERT INTO rollup_1h VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (
            (lo + h * hr.HOUR_MS, ids[s.name], 360, f, 900 + i % 400, 2000 + i % 3000, 9000 + i % 5000,
             f * 10000, 3600 - f * 10, 0, f * 10, 0)
            for h in range(hours) for i, s in enumerate(specs) for f in (0 if (h * 31 + i) % 50 else 12,)))
    conn.close()
    with open(data_dir / "timing.jsonl", "w") as handle:
        for record in timing:
            handle.write(json.dumps(record) + "\n")
    return config, len(events)


PEER_SQL = """
WITH ev AS (
  SELECT host, at, to_state, LEAD(at) OVER (PARTITION BY host ORDER BY at) AS next_at
  FROM events WHERE at >= ? AND at < ?
)
SELECT host,
       sum(CASE WHEN to_state IN ('down', 'unreachable')
                THEN (julianday(coalesce(next_at, ?)) - julianday(at)) * 86400 ELSE 0 END) AS downtime_s,
       sum(to_state = 'down') AS outages
FROM ev GROUP BY host
"""
PEER_RTT = ("SELECT host_id, sum(probes), sum(failures), min(rtt_min_us), avg(rtt_avg_us), max(rtt_max_us) "
            "FROM rollup_1h WHERE bucket_ms >= ? AND bucket_ms < ? GROUP BY host_id")


def peer_sql(db_path: Path, since: datetime, until: datetime) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    rows = conn.execute(PEER_SQL, (utc_ms(since), utc_ms(until), utc_ms(until))).fetchall()
    rows += conn.execute(PEER_RTT, (hr.to_ms(since), hr.to_ms(until))).fetchall()
    conn.close()
    return len(rows)


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def bench_report(hosts: int, days: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        t0 = time.perf_counter()
        config, n_events = synthetic_store(data_dir, hosts, days)
        build_s = time.perf_counter() - t0
        since = UNTIL - timedelta(days=days)
        sites = select_sites(config, None, None)
        now = UNTIL

        def figures():
            report, inputs = make_report(config, since, UNTIL, sites, now=now)
            return report, inputs

        compute_s, (report, _) = timed(figures)
        json_s, text = timed(lambda: render.render_json(make_report(config, since, UNTIL, sites, now=now)[0],
                                                        config.tz))
        html_s, html = timed(lambda: render_html(*make_report(config, since, UNTIL, sites, now=now,
                                                              with_series=True), TZ), repeat=1)
        peer_s, _ = timed(lambda: peer_sql(Database.in_dir(data_dir).path, since, UNTIL))
        # the whole command as an administrator runs it (process start, imports, config, output)
        import yaml
        (data_dir / "hosts.yaml").write_text(yaml.safe_dump({
            "data_dir": str(data_dir), "timezone": "Asia/Jakarta",
            "hosts": [{"name": h.name, "address": h.address, "group": h.group,
                       **({"parent": h.parent} if h.parent else {})} for h in config.hosts]}))
        cmd = [sys.executable, "-m", "netwatchd", "report", "-c", str(data_dir / "hosts.yaml"),
               "--since", since.strftime("%Y-%m-%d"), "--until", UNTIL.strftime("%Y-%m-%d"), "--format", "json",
               "-o", str(data_dir / "out.json")]
        import subprocess
        cli_s, done = timed(lambda: subprocess.run(cmd, capture_output=True, text=True), repeat=1)
        cli_ok = done.returncode == 0
        if not cli_ok:
            print(done.stderr, file=sys.stderr)
        outages = sum(len(s.outages) for s in report.sites)
        return {"hosts": hosts, "days": days, "events": n_events, "rollup_rows": hosts * days * 24,
                "deliveries": report.delivery.count, "outages": outages, "store_build_s": round(build_s, 2),
                "report_figures_s": round(compute_s, 3), "report_json_s": round(json_s, 3),
                "report_html_s": round(html_s, 3), "cli_json_s": round(cli_s, 3), "cli_ok": cli_ok,
                "html_bytes": len(html), "json_bytes": len(text),
                "peer_sql_s": round(peer_s, 3), "ratio_figures_vs_peer": round(compute_s / peer_s, 2),
                "target_s": 5.0, "meets_target": max(json_s, html_s, cli_s) <= 5.0}


def _pool_blocks(rng: random.Random, count: int, per_block: int) -> list[bytes]:
    """Distinct realistic blocks (10 s spacing with scheduler jitter, lognormal rtt, rare loss)."""
    pool = []
    for _ in range(count):
        base = rng.uniform(1.0, 40.0)
        samples, at = [], 0
        for _ in range(per_block):
            at += 10000 + rng.randint(-15, 15) if samples else rng.randint(0, 200)
            lost = rng.random() < 0.01
            rtts = sorted(base * rng.lognormvariate(0, 0.15) for _ in range(3))
            samples.append(hr.Sample(at, 1, not lost, 10000 if lost else 0,
                                     None if lost else int(rtts[0] * 1000),
                                     None if lost else int(sum(rtts) / 3 * 1000),
                                     None if lost else int(rtts[-1] * 1000)))
        pool.append(hr.encode_block(0, samples))
    return pool


def bench_disk(hosts: int) -> dict:
    rng = random.Random(11)
    per_block = hr.BUCKET_MS // 1000 // INTERVAL_S
    defaults = RetentionSpec()
    raw_days, five_days, hour_days = int(defaults.raw_days), int(defaults.rollup_5m_days), int(defaults.rollup_days)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.in_dir(tmp)
        conn = db.open()
        ids = list(hr.host_ids(conn, (f"site-{i:04d}" for i in range(hosts))).values())
        pool = _pool_blocks(rng, 4000, per_block)
        end = hr.to_ms(UNTIL) // hr.HOUR_MS * hr.HOUR_MS
        started = time.perf_counter()
        with transaction(conn):
            buckets = raw_days * 288
            conn.executemany("INSERT INTO probe_blocks VALUES (?,?,?,?)", (
                (end - (buckets - b) * hr.BUCKET_MS, host, per_block, pool[(b * 7919 + i * 104729) % len(pool)])
                for b in range(buckets) for i, host in enumerate(ids)))
        raw_bytes = conn.execute("SELECT sum(length(data)) FROM probe_blocks").fetchone()[0]

        def rollups(table: str, size_ms: int, count: int, probes: int) -> None:
            with transaction(conn):
                conn.executemany(f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (
                    (end - (count - b) * size_ms, host, probes, f, 900 + (b * 13 + i) % 4000,
                     2000 + (b * 7 + i * 3) % 30000, 9000 + (b * 17 + i) % 60000, f * 10000,
                     size_ms // 1000 - f * 10, 0, f * 10, 0)
                    for b in range(count) for i, host in enumerate(ids)
                    for f in (0 if (b * 31 + i) % 97 else 1,)))

        rollups("rollup_5m", hr.BUCKET_MS, five_days * 288, per_block)
        rollups("rollup_1h", hr.HOUR_MS, hour_days * 24, 3600 // INTERVAL_S)
        write_s = time.perf_counter() - started
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("probe_blocks", "rollup_5m", "rollup_1h")}
        pages = {row[0]: row[1] for row in conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name")} if _has_dbstat(conn) else {}
        conn.close()
        size = db.path.stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("*-wal"))
        samples = counts["probe_blocks"] * per_block
        pipeline = bench_pipeline(hosts)
    return {"hosts": hosts, "interval_s": INTERVAL_S, "raw_days": raw_days, "rollup_5m_days": five_days,
            "rollup_1h_days": hour_days, "raw_samples": samples, "rows": counts,
            "raw_packed_bytes_per_sample": round(raw_bytes / samples, 2),
            "table_bytes": pages, "file_bytes": size, "file_gb": round(size / 1e9, 3),
            "bytes_per_raw_sample_on_disk": round(pages.get("probe_blocks", 0) / samples, 2) if pages else None,
            "bytes_per_5m_row": round(pages.get("rollup_5m", 0) / counts["rollup_5m"], 1) if pages else None,
            "bytes_per_1h_row": round(pages.get("rollup_1h", 0) / counts["rollup_1h"], 1) if pages else None,
            "write_s": round(write_s, 1), "target_gb": 1.0, "meets_target": size <= 1e9, "pipeline": pipeline}


def _has_dbstat(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1 FROM dbstat LIMIT 1")
        return True
    except sqlite3.Error:
        return False


def bench_pipeline(hosts: int, minutes: int = 30) -> dict:
    """The agent's real write path: record_results per 10 s round, prune_and_rollup every minute."""
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        conn = Database.in_dir(tmp).open()
        names = [f"site-{i:04d}" for i in range(hosts)]
        states = dict.fromkeys(names, "up")
        start = UNTIL.astimezone(timezone.utc)
        record_times, prune_times = [], []
        for round_no in range(minutes * 6):
            at = start + timedelta(seconds=INTERVAL_S * round_no)
            results = [ProbeResult.from_rtts(host=n, address="198.18.0.2", probe="icmp", at=at, sent=3,
                                             rtts_ms=[rng.uniform(1, 9) for _ in range(3)]) for n in names]
            t0 = time.perf_counter()
            hr.record_results(conn, results, states)
            record_times.append(time.perf_counter() - t0)
            if round_no % 6 == 5:
                t0 = time.perf_counter()
                hr.prune_and_rollup(conn, at, RetentionSpec())
                prune_times.append(time.perf_counter() - t0)
        conn.close()
    return {"rounds": len(record_times), "record_round_p50_ms": round(statistics.median(record_times) * 1000, 1),
            "record_round_max_ms": round(max(record_times) * 1000, 1),
            "prune_and_rollup_p50_ms": round(statistics.median(prune_times) * 1000, 1),
            "prune_and_rollup_max_ms": round(max(prune_times) * 1000, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--skip-disk", action="store_true")
    parser.add_argument("--disk-only", action="store_true")
    args = parser.parse_args()
    out: dict = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version, "cpus": os.cpu_count(),
                 "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}
    print(f"machine: {os.cpu_count()} cpus, load average {out['load_average_at_start']} at start "
          "(other work on the machine slows every row, the peer included)")
    if not args.disk_only:
        r = out["report"] = bench_report(args.hosts, args.days)
        print(f"report: {r['hosts']} hosts x {r['days']} days ({r['events']} events, {r['rollup_rows']} hourly "
              f"rollups, {r['deliveries']} deliveries, {r['outages']} outages)")
        print(f"  {'what':<38} {'seconds':>8}")
        for label, key in (("figures (store read + maths)", "report_figures_s"),
                           ("figures + JSON", "report_json_s"), ("figures + HTML with 4 charts", "report_html_s"),
                           ("whole CLI run, --format json", "cli_json_s"),
                           ("peer: one plain SQL aggregate", "peer_sql_s")):
            print(f"  {label:<38} {r[key]:>8.3f}")
        print(f"  ratio figures / peer: {r['ratio_figures_vs_peer']}x; target <= {r['target_s']} s: "
              f"{'met' if r['meets_target'] else 'MISSED'}")
    if not args.skip_disk:
        d = out["disk"] = bench_disk(args.hosts)
        print(f"disk: {d['hosts']} hosts at {d['interval_s']} s: raw {d['raw_days']} d, 5-min rollups "
              f"{d['rollup_5m_days']} d, hourly rollups {d['rollup_1h_days']} d")
        print(f"  {'table':<14} {'rows':>12} {'bytes on disk':>15} {'bytes/row':>10}")
        for table, rows in d["rows"].items():
            size = d["table_bytes"].get(table)
            print(f"  {table:<14} {rows:>12,} {size or 0:>15,} {(size or 0) / rows:>10.1f}")
        print(f"  raw samples {d['raw_samples']:,}: {d['raw_packed_bytes_per_sample']} packed bytes each "
              f"({d['bytes_per_raw_sample_on_disk']} on disk)")
        print(f"  file {d['file_bytes']:,} bytes = {d['file_gb']} GB; target <= 1 GB: "
              f"{'met' if d['meets_target'] else 'MISSED'}")
        p = d["pipeline"]
        print(f"  agent write path ({args.hosts} hosts, {p['rounds']} rounds): record_results p50 "
              f"{p['record_round_p50_ms']} ms (max {p['record_round_max_ms']}), prune_and_rollup p50 "
              f"{p['prune_and_rollup_p50_ms']} ms (max {p['prune_and_rollup_max_ms']})")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
