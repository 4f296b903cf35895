#!/usr/bin/env python3
"""Benchmark: the status page under load and under a slowloris, against a thread-per-connection peer.

Both servers run in their own child process on loopback with the same 10,000-site /api/status bytes:
  netwatchd      StatusServer as shipped (one event loop, 4 answer workers, backlog 512, gzip)
  peer           the standard library's ThreadingHTTPServer (what netwatchd used before), serving the same
                 gzip bytes as a static answer
Each gets, measured by ApacheBench (`ab`, Debian's apache2-utils: a C client, so the client is not the
bottleneck): 1,000 requests at 200 concurrent with keep-alive, first on a quiet server, then with 1,500 idle
connections held open (slowloris: a request head that never ends). Reported: p50/p99/max latency, failed
requests, and the server's threads and RSS with the idle connections held.

Usage: python scripts/bench_web_load.py [--hosts 10000] [--requests 1000] [--concurrency 200] [--idle 1500]
Needs: apt-get install apache2-utils
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_P99_MS = 1000.0


def _serve_netwatchd(hosts: int, conn) -> None:  # child process
    from bench_web import fleet  # the same fleet as scripts/bench_web.py

    from netwatchd.config.model import WebSpec
    from netwatchd.web.metrics import Metrics
    from netwatchd.web.server import StatusServer
    from netwatchd.web.snapshot import SnapshotEncoder

    config, states, latest, history, now = fleet(hosts)
    encoder = SnapshotEncoder()
    server = StatusServer(WebSpec(host="127.0.0.1", port=0), metrics=Metrics(), cache_seconds=1.0,
                          snapshot=lambda: encoder.encode(config, states, latest, history, 3, now=now))
    server.start()
    conn.send(server.port)
    conn.recv()
    server.stop()


def _serve_peer(hosts: int, conn) -> None:  # child process
    import gzip

    from bench_web import fleet

    from netwatchd.web.snapshot import SnapshotEncoder

    config, states, latest, history, now = fleet(hosts)
    body = gzip.compress(SnapshotEncoder().encode(config, states, latest, history, 3, now=now), 1, mtime=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    conn.recv()
    server.shutdown()


def _proc_stats(pid: int) -> tuple[int, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
    return threads, round(rss, 1)


def _ab(port: int, requests: int, concurrency: int) -> dict:
    proc = subprocess.run(["ab", "-q", "-k", "-r", "-n", str(requests), "-c", str(concurrency), "-s", "30",
                           "-H", "Accept-Encoding: gzip", f"http://127.0.0.1:{port}/api/status"],
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout
    if "Failed requests" not in out:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "failed": requests,
                "error": (proc.stderr or out).strip().splitlines()[-1:]}
    percent = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^\s+(\d+)%\s+(\d+)", out, re.M)}
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
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


def run(label: str, target, args) -> dict:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=target, args=(args.hosts, child), daemon=True)
    process.start()
    port = parent.recv()
    _ab(port, 50, 10)                                     # warm-up: first snapshot built and compressed
    result = {"quiet": _ab(port, args.requests, args.concurrency)}
    result["threads_quiet"], result["rss_mb_quiet"] = _proc_stats(process.pid)
    held = _slowloris(port, args.idle)
    time.sleep(0.5)
    result["idle_held"] = len(held)
    result["threads_with_idle"], result["rss_mb_with_idle"] = _proc_stats(process.pid)
    result["with_idle"] = _ab(port, args.requests, args.concurrency)
    for sock in held:
        sock.close()
    parent.send("stop")
    process.join(10)
    if process.is_alive():
        process.kill()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--idle", type=int, default=1500)
    args = parser.parse_args()
    if shutil.which("ab") is None:
        print("ab (ApacheBench) is not installed: apt-get install apache2-utils", file=sys.stderr)
        return 2
    results = {"netwatchd": run("netwatchd", _serve_netwatchd, args), "peer ThreadingHTTPServer": run(
        "peer", _serve_peer, args)}
    print(f"/api/status, {args.hosts} sites, {args.requests} requests at {args.concurrency} concurrent "
          f"(ab -k, gzip), then again with {args.idle} idle connections held")
    print(f"  {'server':<26} {'p50':>6} {'p99':>6} {'max':>6} {'fail':>5} | {'idle p99':>8} {'fail':>5} "
          f"{'threads':>8} {'RSS MB':>7}")
    for name, r in results.items():
        q, i = r["quiet"], r["with_idle"]
        print(f"  {name:<26} {q['p50_ms']!s:>6} {q['p99_ms']!s:>6} {q['max_ms']!s:>6} {q['failed']:>5} | "
              f"{i['p99_ms']!s:>8} {i['failed']:>5} {r['threads_with_idle']:>8} {r['rss_mb_with_idle']:>7}"
              + (f"  ({'; '.join(q.get('error', []) + i.get('error', []))})" if "error" in q or "error" in i else ""))
    ours, peer = results["netwatchd"], results["peer ThreadingHTTPServer"]
    ratio = (round(ours["with_idle"]["p99_ms"] / peer["with_idle"]["p99_ms"], 2)
             if peer["with_idle"]["p99_ms"] and ours["with_idle"]["p99_ms"] else None)
    met = (ours["quiet"]["p99_ms"] or 1e9) <= TARGET_P99_MS and (ours["with_idle"]["p99_ms"] or 1e9) <= TARGET_P99_MS
    print(f"  target p99 <= {TARGET_P99_MS:.0f} ms quiet and under the slowloris: {'met' if met else 'MISSED'}; "
          f"p99 with idle connections, netwatchd/peer = {ratio}x; load average {os.getloadavg()[0]:.2f}")
    print(json.dumps({"hosts": args.hosts, "requests": args.requests, "concurrency": args.concurrency,
                      "idle": args.idle, "results": results, "p99_ratio_with_idle": ratio,
                      "target_p99_ms": TARGET_P99_MS, "met": met}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
