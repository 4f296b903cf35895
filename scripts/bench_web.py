#!/usr/bin/env python3
"""Benchmark: /api/status (the page's data) with 10,000 hosts, target <= 50 ms p95.

Servers in one run, all on loopback, one keep-alive client, same JSON size. While they are measured
a "prober" thread replaces the results of 1,000 hosts a second (10,000 hosts at 10 s), as the agent would:
  cold, build_snapshot     cache_seconds=0: every request builds the dict and json-encodes it (worst case)
  cold, SnapshotEncoder    cache_seconds=0: every request encodes incrementally (changed sites only)
  shipped                  StatusServer defaults (background rebuild each 1 s while watched) + SnapshotEncoder
  peer static file         http.server serving a pre-rendered JSON file of the same bytes (the floor)
Also times build_snapshot and json encoding alone, and GET / (the page itself).

Usage: python scripts/bench_web.py [--hosts 10000] [--requests 200]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatchd.config.model import Config, HostSpec, WebSpec
from netwatchd.engine.engine import HostState
from netwatchd.models import ProbeResult, State
from netwatchd.web.metrics import Metrics
from netwatchd.web.server import StatusServer
from netwatchd.web.snapshot import SnapshotEncoder, build_snapshot

TARGET_P95_MS = 50.0


def fleet(n: int, seed: int = 3):
    rng = random.Random(seed)
    now = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
    hosts = tuple(HostSpec(name=f"site-{i:05d}", address=f"198.18.{i // 250}.{i % 250 + 2}", group=f"g{i % 40}",
                           parent=None if i % 50 == 0 else f"site-{i // 50 * 50:05d}") for i in range(n))
    config = Config(path=Path("hosts.yaml"), data_dir=Path("."), hosts=hosts)
    pick = [State.UP] * 90 + [State.DEGRADED] * 4 + [State.DOWN] * 3 + [State.UNREACHABLE] * 3
    states = {h.name: HostState(h.name, rng.choice(pick), since=now - timedelta(seconds=rng.randint(1, 10 ** 6)),
                                muted=rng.random() < 0.01) for h in hosts}
    latest, history = {}, {}
    for h in hosts:
        down = states[h.name].state in (State.DOWN, State.UNREACHABLE)
        series = [None if down and k > 25 else round(rng.uniform(1, 40), 3) for k in range(30)]
        history[h.name] = deque(series, maxlen=30)
        latest[h.name] = ProbeResult.from_rtts(host=h.name, address=h.address, probe="icmp", at=now, sent=3,
                                               rtts_ms=[] if down else [v for v in series[-3:] if v is not None])
    return config, states, latest, history, now


class Prober(threading.Thread):
    """Replaces `per_second` hosts' latest results (new objects) and extends their histories."""

    def __init__(self, config, latest, history, now, per_second: int) -> None:
        super().__init__(daemon=True)
        self.names = [h.name for h in config.hosts]
        self.latest, self.history, self.now, self.per_second = latest, history, now, per_second
        self.stop_event = threading.Event()

    def run(self) -> None:
        rng, index = random.Random(9), 0
        while not self.stop_event.wait(0.1):
            for _ in range(self.per_second // 10):
                name = self.names[index % len(self.names)]
                index += 1
                rtt = round(rng.uniform(1, 40), 3)
                self.latest[name] = ProbeResult.from_rtts(host=name, address="198.18.0.2", probe="icmp",
                                                          at=self.now, sent=3, rtts_ms=[rtt, rtt, rtt])
                self.history[name].append(rtt)


def measure(url: str, count: int) -> dict:
    session = requests.Session()
    for _ in range(5):
        session.get(url, timeout=30).raise_for_status()
    times, size = [], 0
    for _ in range(count):
        start = time.perf_counter()
        reply = session.get(url, timeout=30)
        body = reply.content
        times.append((time.perf_counter() - start) * 1000)
        size = len(body)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * len(times)) - 1], 2),
            "max_ms": round(times[-1], 2), "bytes": size, "requests": count}


class _QuietHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like StatusServer

    def log_message(self, *args) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    config, states, latest, history, now = fleet(args.hosts)

    def snapshot() -> dict:
        return build_snapshot(config, states, latest, history, 3, now=now)

    t0 = time.perf_counter()
    for _ in range(10):
        snap = snapshot()
    build_ms = (time.perf_counter() - t0) * 100
    t0 = time.perf_counter()
    for _ in range(10):
        body = json.dumps(snap, separators=(",", ":")).encode()
    encode_ms = (time.perf_counter() - t0) * 100

    encoder = SnapshotEncoder()

    def encoded() -> bytes:
        return encoder.encode(config, states, latest, history, 3, now=now)

    prober = Prober(config, latest, history, now, per_second=args.hosts // 10)
    prober.start()
    results: dict[str, dict] = {}
    for label, source, cache in (("cold, build_snapshot (no cache)", snapshot, 0.0),
                                 ("cold, SnapshotEncoder (no cache)", encoded, 0.0),
                                 ("shipped: background 1 s + encoder", encoded, 1.0)):
        with StatusServer(WebSpec(host="127.0.0.1", port=0), snapshot=source, metrics=Metrics(),
                          cache_seconds=cache) as server:
            results[label] = measure(f"http://127.0.0.1:{server.port}/api/status", args.requests)
            if cache:
                results["page GET /"] = measure(f"http://127.0.0.1:{server.port}/", args.requests)
    prober.stop_event.set()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "status.json").write_bytes(body)
        peer = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=tmp))
        thread = threading.Thread(target=peer.serve_forever, daemon=True)
        thread.start()
        try:
            results["peer: static file, same bytes"] = measure(
                f"http://127.0.0.1:{peer.server_address[1]}/status.json", args.requests)
        finally:
            peer.shutdown()
            peer.server_close()
    floor = results["peer: static file, same bytes"]["p95_ms"]
    print(f"/api/status with {args.hosts} hosts, {args.requests} sequential keep-alive requests each "
          f"(build_snapshot {build_ms:.1f} ms, json encode {encode_ms:.1f} ms, body {len(body):,} bytes)")
    print(f"  {'server':<36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'bytes':>10} {'p95/peer':>9}")
    for label, r in results.items():
        r["ratio_p95_vs_peer"] = round(r["p95_ms"] / floor, 2) if floor else None
        print(f"  {label:<36} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['max_ms']:>8.2f} {r['bytes']:>10,} "
              f"{r['ratio_p95_vs_peer']:>8}x")
    worst = results["cold, SnapshotEncoder (no cache)"]["p95_ms"]
    shipped = results["shipped: background 1 s + encoder"]["p95_ms"]
    print(f"  target p95 <= {TARGET_P95_MS} ms: as shipped {shipped} ms "
          f"{'met' if shipped <= TARGET_P95_MS else 'MISSED'}; incremental without cache {worst} ms "
          f"{'met' if worst <= TARGET_P95_MS else 'MISSED'}")
    print(f"  machine: load average {[round(v, 2) for v in os.getloadavg()]} at the end")
    print(json.dumps({"hosts": args.hosts, "load_average": [round(v, 2) for v in os.getloadavg()],
                      "build_snapshot_ms": round(build_ms, 2),
                      "json_encode_ms": round(encode_ms, 2), "body_bytes": len(body), "results": results,
                      "target_p95_ms": TARGET_P95_MS, "meets_target_shipped": shipped <= TARGET_P95_MS,
                      "meets_target_uncached": worst <= TARGET_P95_MS}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
