#!/usr/bin/env python3
"""The whole agent at scale: `netwatchd run` as a real process with 100, 1,000 and 10,000 hosts.

Each size gets its own data directory and a hosts.yaml of N distinct loopback targets (127.x.y.z,
Linux answers for all of 127/8) at interval 10 s, count 3, in groups of 100 behind a parent (so
the dependency code is exercised), Telegram pointed at the Bot API stand-in on loopback (the bot
long-polls it; the start-up line and any alert go through it), the status page on and
/api/status polled once a second, as a browser tab would. After a warm-up (start-up plus more than
one interval, so every host has been probed and the store has all its rows) the window is
measured from outside the process:

  CPU % of one core    utime+stime of the agent (all its threads) over the window / wall time
  RSS                  VmRSS from /proc, sampled every second (the window's last sample and max)
  DB growth per day    size of netwatchd.sqlite3 + -wal over the window, scaled to a day; the raw
                       rows of the last minutes are compacted into 5-minute blocks later, so a short
                       window shows the upper bound; the soak shows the steady rate
  lateness p99         netwatchd_probe_lateness_seconds (actual start of each host's probe minus the
                       moment it was due), the window's share of the histogram, interpolated; /metrics
                       is scraped at the window's start and end with Accept-Encoding: gzip, as
                       Prometheus scrapes
  max-instances        "maximum number of running instances reached" lines in the agent's log,
                       from start-up on (the probe tick must never overrun)
  /api/status          the poller's response times (p50 / p95)

Then memory per extra host ((RSS at the largest size - RSS at the smallest) / extra hosts) and,
with --soak SECONDS, a soak at the largest size: RSS every 10 s, the curve printed per minute and
the growth over the last two thirds of the soak (20 of 30 minutes). With --restart, the largest
size's agent is stopped and started again on the store it left (every site's state saved, the
history of its run): the same warm-up and window measured again - what an office sees after
every restart but the first.

Targets at 10,000 hosts: <= 10 % of one core, <= 80 MB RSS, RSS growth <= 2 MB over the last 20
minutes of a 30-minute soak, p99 lateness <= 100 ms, no max-instances warnings. The peer in the
same run is the same agent with 100 hosts (the fixed cost: interpreter, threads, page, store).

Needs root or CAP_NET_RAW (raw ICMP sockets) or a ping_group_range that includes this group.
Every packet goes to loopback.

    python3 scripts/bench_run.py                         # 100, 1,000, 10,000; 90 s windows
    python3 scripts/bench_run.py --soak 1800             # plus the 30-minute soak at 10,000
    python3 scripts/bench_run.py --soak 1800 --restart   # and a start on the store it left
    python3 scripts/bench_run.py --sizes 10000 --window 60 --soak 300   # development
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_probe import emit_json, loopback_targets  # noqa: E402  (scripts/ is on sys.path when run)

from netwatchd.lab.telegram_standin import DEFAULT_TOKEN, TelegramStandIn  # noqa: E402

TOKEN_ENV = "NETWATCHD_BENCH_TOKEN"
CHAT_ID = 424242
MAX_INSTANCES = "maximum number of running instances reached"
TARGETS = {"cpu_percent": 10.0, "rss_mb": 80.0, "soak_growth_mb": 2.0, "lateness_p99_ms": 100.0,
           "max_instances_warnings": 0}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def write_config(folder: Path, hosts: int, interval: float, web_port: int, api_url: str) -> Path:
    lines = [
        "# bench_run.py: every target is a loopback address",
        f"data_dir: {folder / 'data'}",
        "defaults:",
        f"  interval: {interval:g}s",
        "  timeout: 1s",
        "  count: 3",
        "telegram:",
        f"  token: ${{{TOKEN_ENV}}}",
        f"  chat_ids: [{CHAT_ID}]",
        f"  admins: [{CHAT_ID}]",
        f"  api_url: {api_url}",
        "  language: en",
        f"web: {{listen: 127.0.0.1:{web_port}}}",
        "hosts:",
    ]
    for i, address in enumerate(loopback_targets(hosts)):
        group = i // 100
        parent = "" if i % 100 == 0 else f", parent: h{group * 100:05d}"
        lines.append(f"  - {{name: h{i:05d}, address: {address}, group: g{group:03d}{parent}}}")
    path = folder / "hosts.yaml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- reading the process from outside ------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime, stime (fields 14, 15)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE / 1048576


def store_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("netwatchd.sqlite3*") if p.is_file())


def scrape(port: int, path: str) -> tuple[int, bytes]:
    """GET path with Accept-Encoding: gzip, as Prometheus scrapes (and a browser polls); the body
    comes back decompressed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
        reply = conn.getresponse()
        body = reply.read()
        if reply.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return reply.status, body
    finally:
        conn.close()


_BUCKET = re.compile(r'^netwatchd_probe_lateness_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$', re.M)


def lateness_buckets(port: int) -> dict[float, float]:
    """Cumulative counts of the lateness histogram, by upper bound (inf for +Inf)."""
    status, body = scrape(port, "/metrics")
    if status != 200:
        return {}
    return {float("inf") if le == "+Inf" else float(le): float(n) for le, n in _BUCKET.findall(body.decode())}


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> tuple[float | None, int]:
    """The q-quantile (seconds) of the observations between two scrapes, linear inside a bucket;
    inf when it falls in the +Inf bucket. Returns (quantile, observations)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None, 0
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return float("inf"), int(total)
            inside = cumulative - below
            share = (rank - below) / inside if inside else 1.0
            return lower + share * (bound - lower), int(total)
        lower, below = bound, cumulative
    return float("inf"), int(total)


class Poller(threading.Thread):
    """GET /api/status once a second (keep-alive, gzip accepted), like an open status page (the page
    itself polls every 2 s); records the times."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True, name="status-poller")
        self.port = port
        self.times_ms: list[float] = []
        self.errors = 0
        self.bytes = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                started = time.perf_counter()
                conn.request("GET", "/api/status", headers={"Accept-Encoding": "gzip"})   # as a browser
                reply = conn.getresponse()
                body = reply.read()
                if reply.status == 200:
                    self.times_ms.append((time.perf_counter() - started) * 1000)
                    self.bytes = len(body)
                else:
                    self.errors += 1
            except (OSError, http.client.HTTPException):
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            next_at += 1.0
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))
        if conn is not None:
            conn.close()

    def take(self) -> list[float]:
        taken, self.times_ms = self.times_ms, []
        return taken


class AgentRun:
    """One `netwatchd run` process with its config, data directory and log."""

    def __init__(self, hosts: int, interval: float, api_url: str, folder: Path) -> None:
        self.hosts = hosts
        self.folder = folder
        self.web_port = free_port()
        self.config = write_config(folder, hosts, interval, self.web_port, api_url)
        self.log_path = folder / "agent.log"
        self.data_dir = folder / "data"
        env = {**os.environ, TOKEN_ENV: DEFAULT_TOKEN, "PYTHONUNBUFFERED": "1"}
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "netwatchd", "run", "-c", str(self.config)],
                                     cwd=folder, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "wb"), env=env)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def wait_serving(self, timeout: float) -> float:
        """Seconds until the status page answers (the agent has started everything)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"netwatchd run exited {self.proc.returncode}:\n{self.log()[-2000:]}")
            try:
                if scrape(self.web_port, "/healthz")[0] in (200, 503):
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"netwatchd run did not serve within {timeout:.0f} s:\n{self.log()[-2000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def measure(run: AgentRun, seconds: float, poller: Poller, rss_every: float = 1.0,
            on_sample: Any = None) -> dict[str, Any]:
    """One measured window of a running agent."""
    pid = run.proc.pid
    buckets0 = lateness_buckets(run.web_port)
    store0, cpu0, wall0 = store_bytes(run.data_dir), cpu_seconds(pid), time.monotonic()
    poller.take()
    samples: list[tuple[float, float]] = []
    while True:
        now = time.monotonic()
        if now - wall0 >= seconds:
            break
        if run.proc.poll() is not None:
            raise SystemExit(f"netwatchd run died:\n{run.log()[-2000:]}")
        samples.append((now - wall0, rss_mb(pid)))
        if on_sample:
            on_sample(samples[-1])
        time.sleep(min(rss_every, max(0.0, seconds - (now - wall0))))
    cpu1, wall1, store1 = cpu_seconds(pid), time.monotonic(), store_bytes(run.data_dir)
    samples.append((wall1 - wall0, rss_mb(pid)))
    buckets1 = lateness_buckets(run.web_port)
    p99, observed = quantile(buckets0, buckets1, 0.99)
    p50, _ = quantile(buckets0, buckets1, 0.50)
    times = sorted(poller.take())
    window = wall1 - wall0
    return {
        "window_s": round(window, 1),
        "cpu_percent_of_one_core": round(100.0 * (cpu1 - cpu0) / window, 2),
        "rss_mb": round(samples[-1][1], 1),
        "rss_max_mb": round(max(s[1] for s in samples), 1),
        "rss_samples": [(round(t, 1), round(r, 2)) for t, r in samples],
        "store_mb": round(store1 / 1048576, 2),
        "store_growth_mb_per_day": round((store1 - store0) / window * 86400 / 1048576, 1),
        "lateness_p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "lateness_p99_ms": None if p99 is None else round(p99 * 1000, 1),
        "lateness_observations": observed,
        "status_p50_ms": round(statistics.median(times), 1) if times else None,
        "status_p95_ms": round(times[max(0, int(0.95 * len(times)) - 1)], 1) if times else None,
        "status_bytes": poller.bytes,
        "status_errors": poller.errors,
    }


def bench_size(hosts: int, args: argparse.Namespace, standin: TelegramStandIn, soak: float = 0.0,
               restart: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-run-{hosts}-") as tmp:
        run = AgentRun(hosts, args.interval, standin.api_url, Path(tmp))
        try:
            serving_s = run.wait_serving(120)
            poller = Poller(run.web_port)
            poller.start()
            time.sleep(max(0.0, args.warmup - (time.monotonic() - run.started)))
            row = measure(run, args.window, poller)
            row["hosts"] = hosts
            row["start_s"] = round(serving_s, 2)
            row["start_rss_mb"] = None
            if soak > 0:
                row["soak"] = run_soak(run, soak, poller)
            poller.stop_event.set()
            poller.join(5)
            text = run.log()
            row["max_instances_warnings"] = text.count(MAX_INSTANCES)
            row["log_warnings"] = sum(1 for line in text.splitlines() if " WARNING " in line or " ERROR " in line)
            row["log_tail"] = [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line][-5:]
            row["telegram_messages"] = len(standin.messages(CHAT_ID))
        finally:
            row_exit = run.stop()
        row["exit_code"] = row_exit
        if restart:
            row["restart"] = measure_restart(hosts, args, standin, Path(tmp))
        return row


def measure_restart(hosts: int, args: argparse.Namespace, standin: TelegramStandIn, folder: Path) -> dict[str, Any]:
    """The same warm-up and window for an agent started on the store the first one left."""
    print(f"  restart: {hosts:,} hosts on the store the first run left ...", file=sys.stderr, flush=True)
    run = AgentRun(hosts, args.interval, standin.api_url, folder)
    poller: Poller | None = None
    try:
        serving_s = run.wait_serving(120)      # SystemExit with the agent's log when it does not serve
        poller = Poller(run.web_port)
        poller.start()
        time.sleep(max(0.0, args.warmup - (time.monotonic() - run.started)))
        row = measure(run, args.window, poller)
        row.pop("rss_samples")
        row["start_s"] = round(serving_s, 2)
        row["max_instances_warnings"] = run.log().count(MAX_INSTANCES)
    finally:
        if poller is not None:
            poller.stop_event.set()
            poller.join(5)
        exit_code = run.stop()
    row["exit_code"] = exit_code
    return row


def run_soak(run: AgentRun, seconds: float, poller: Poller) -> dict[str, Any]:
    print(f"  soak: {seconds / 60:.0f} min at {run.hosts:,} hosts ...", file=sys.stderr, flush=True)
    last_print = [0.0]

    def progress(sample: tuple[float, float]) -> None:
        if sample[0] - last_print[0] >= 60:
            last_print[0] = sample[0]
            print(f"    {sample[0] / 60:5.1f} min  RSS {sample[1]:6.1f} MB", file=sys.stderr, flush=True)

    window = measure(run, seconds, poller, rss_every=10.0, on_sample=progress)
    samples = window.pop("rss_samples")
    tail_from = seconds / 3
    tail = [r for t, r in samples if t >= tail_from]
    per_minute = [(round(t / 60, 1), r) for t, r in samples if abs(t / 60 - round(t / 60)) < 10 / 120]
    window.update({
        "rss_curve": per_minute,
        "growth_last_two_thirds_mb": round(tail[-1] - tail[0], 2) if tail else None,
        "growth_last_two_thirds_max_minus_min_mb": round(max(tail) - min(tail), 2) if tail else None,
    })
    return window


def print_table(rows: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    print(f"\n`netwatchd run`, loopback hosts at {extra['interval_s']:g} s, count 3, Telegram -> stand-in, "
          f"/api/status polled 1/s; {extra['window_s']:g} s window after {extra['warmup_s']:g} s warm-up")
    header = (f"{'hosts':>7}{'CPU % core':>12}{'RSS MB':>9}{'max RSS':>9}{'DB MB/day':>11}{'late p50 ms':>13}"
              f"{'late p99 ms':>13}{'max-inst':>10}{'status p95 ms':>15}{'start s':>9}")
    print(header)
    for row in rows:
        print(f"{row['hosts']:>7,}{row['cpu_percent_of_one_core']:>12.2f}{row['rss_mb']:>9.1f}"
              f"{row['rss_max_mb']:>9.1f}{row['store_growth_mb_per_day']:>11.1f}"
              f"{_num(row['lateness_p50_ms']):>13}{_num(row['lateness_p99_ms']):>13}"
              f"{row['max_instances_warnings']:>10}{_num(row['status_p95_ms']):>15}{row['start_s']:>9.2f}")
    if "memory_per_extra_host_kb" in extra:
        print(f"memory per extra host: {extra['memory_per_extra_host_kb']:.2f} KB "
              f"({extra['memory_per_extra_host_from']})")
    largest = rows[-1]
    soak = largest.get("soak")
    if soak:
        print(f"\nSoak at {largest['hosts']:,} hosts, {soak['window_s'] / 60:.0f} min: CPU "
              f"{soak['cpu_percent_of_one_core']:.2f} % of one core, RSS {soak['rss_mb']:.1f} MB "
              f"(max {soak['rss_max_mb']:.1f}), growth over the last two thirds "
              f"{soak['growth_last_two_thirds_mb']:+.2f} MB "
              f"(max-min {soak['growth_last_two_thirds_max_minus_min_mb']:.2f}), "
              f"DB {soak['store_growth_mb_per_day']:.1f} MB/day, lateness p99 {_num(soak['lateness_p99_ms'])} ms")
        print("RSS curve (minute: MB): " + ", ".join(f"{t:g}: {r:.1f}" for t, r in soak["rss_curve"]))
    again = largest.get("restart")
    if again:
        print(f"\nRestart at {largest['hosts']:,} hosts on the store the first run left: CPU "
              f"{again['cpu_percent_of_one_core']:.2f} % of one core, RSS {again['rss_mb']:.1f} MB "
              f"(max {again['rss_max_mb']:.1f}), lateness p99 {_num(again['lateness_p99_ms'])} ms, "
              f"start {again['start_s']:.2f} s, max-instances {again['max_instances_warnings']}")
    checks = extra.get("targets_met")
    if checks:
        print("\ntargets at the largest size: "
              + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in checks.items()))
    print(f"machine: {os.cpu_count()} CPUs, load average {extra['load_average']} at the end")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return "inf" if value == float("inf") else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="host counts, comma-separated")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=25.0, help="seconds from start before measuring")
    parser.add_argument("--window", type=float, default=90.0, help="measured seconds per size")
    parser.add_argument("--soak", type=float, default=0.0,
                        help="seconds of soak at the largest size after its window (1800 for the target)")
    parser.add_argument("--restart", action="store_true",
                        help="then start the largest size's agent again on the store it left and measure it")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    rows: list[dict[str, Any]] = []
    with TelegramStandIn(DEFAULT_TOKEN) as standin:
        for hosts in sizes:
            print(f"{hosts:,} hosts ...", file=sys.stderr, flush=True)
            is_largest = hosts == sizes[-1]
            rows.append(bench_size(hosts, args, standin, soak=args.soak if is_largest else 0.0,
                                   restart=args.restart and is_largest))
    extra: dict[str, Any] = {"interval_s": args.interval, "window_s": args.window, "warmup_s": args.warmup,
                             "load_average": [round(v, 2) for v in os.getloadavg()]}
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        extra["memory_per_extra_host_kb"] = round((large["rss_mb"] - small["rss_mb"]) * 1024
                                                  / (large["hosts"] - small["hosts"]), 2)
        extra["memory_per_extra_host_from"] = f"RSS at {large['hosts']:,} minus RSS at {small['hosts']:,}"
    largest = rows[-1]
    if largest["hosts"] >= 10000:
        soak = largest.get("soak") or {}
        again = largest.get("restart") or {}
        extra["targets_met"] = {
            "cpu<=10%": largest["cpu_percent_of_one_core"] <= TARGETS["cpu_percent"],
            "rss<=80MB": max(largest["rss_max_mb"], soak.get("rss_max_mb", 0), again.get("rss_max_mb", 0))
            <= TARGETS["rss_mb"],
            "p99 lateness<=100ms": (largest["lateness_p99_ms"] or float("inf")) <= TARGETS["lateness_p99_ms"],
            "no max-instances": largest["max_instances_warnings"] == 0,
        }
        if soak and soak["window_s"] >= 1700:
            extra["targets_met"]["soak growth<=2MB"] = soak["growth_last_two_thirds_mb"] <= TARGETS["soak_growth_mb"]
    print_table(rows, extra)
    for row in rows:
        row.pop("rss_samples", None)
    document = {"benchmark": "run", "command": "python3 scripts/bench_run.py " + " ".join(argv or sys.argv[1:]),
                "targets": TARGETS, **extra, "rows": rows}
    emit_json(document, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
