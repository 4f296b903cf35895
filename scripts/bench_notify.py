#!/usr/bin/env python3
"""Benchmark Telegram delivery against the Bot API stand-in on loopback.

1. latency  — state change (enqueue in a real SQLite transaction) -> Telegram ack committed and
              logged, in real time with the real worker threads; compared with the peer, a bare
              `requests.Session().post` loop to the same stand-in (the cost of the HTTP round trip
              itself): our own overhead = ours - peer.
2. burst    — 18 sites down at once (one transaction), 2 admin chats + 1 group, real time, the
              stand-in enforcing Telegram's rate limits: time until every chat has all 18, messages.
              Also with the 18 spread over 300 ms (as probe results arrive in a round).
3. outage   — a 10-minute Telegram outage with 200 transitions, SIMULATED with an injected clock
              (FakeClock; the worker's pacing and backoff run on it, HTTP is real); then recovery:
              all delivered, in order, no duplicates, within the limits (checked on the clock's
              send times). Peer: a notifier that sends once without retry (Netwatch /tool fetch,
              Uptime Kuma) and a naive one that retries every alert on its own without pacing.

Prints a table and a JSON document. Usage: python scripts/bench_notify.py [--samples 200] [--json-only]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import requests

from netwatchd.clock import FakeClock, SystemClock
from netwatchd.config.model import Config, TelegramSpec
from netwatchd.lab.telegram_standin import DEFAULT_TOKEN, TelegramStandIn
from netwatchd.models import State, Transition
from netwatchd.notify.format import render_message
from netwatchd.notify.outbox import DeliveryWorker, enqueue
from netwatchd.notify.pacing import RateLimiter
from netwatchd.notify.telegram_api import TelegramAPI
from netwatchd.store import Database, transaction

SITES = ["Sidoarjo", "Buduran", "Candi", "Porong", "Krembung", "Tulangan", "Tanggulangin", "Jabon",
         "Krian", "Balongbendo", "Wonoayu", "Tarik", "Prambon", "Taman", "Waru", "Gedangan", "Sedati",
         "Sukodono"]
EVIDENCE = {"loss_percent": 100.0, "failures_in_row": 3, "error": "timeout"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def transition(host: str, at: datetime, to: State = State.DOWN) -> Transition:
    frm = State.UP if to == State.DOWN else State.DOWN
    return Transition(host=host, address="198.18.1.1", from_state=frm, to_state=to, at=at,
                      evidence=EVIDENCE if to == State.DOWN else {})


@dataclass
class RemoteStandIn:
    api_url: str
    token: str


@contextmanager
def standin_process() -> Iterator[RemoteStandIn]:
    """`python -m netwatchd.lab.telegram_standin --port 0` in a child process."""
    child = subprocess.Popen([sys.executable, "-m", "netwatchd.lab.telegram_standin", "--port", "0",
                              "--token", DEFAULT_TOKEN], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline() if child.stdout else ""
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if match is None:
            raise RuntimeError(f"the stand-in did not start: {line!r}")
        yield RemoteStandIn(match.group(1), DEFAULT_TOKEN)
    finally:
        child.terminate()
        child.wait(5)


def config_for(data_dir: Path, tg: TelegramStandIn | RemoteStandIn, chats: tuple[int, ...]) -> Config:
    return Config(path=data_dir / "hosts.yaml", data_dir=data_dir,
                  telegram=TelegramSpec(token=tg.token, chat_ids=chats, api_url=tg.api_url))


# -- 1. latency --------------------------------------------------------------------------------

def bench_latency(samples: int) -> dict[str, Any]:
    """Interleaved: one peer sample (bare POST), then one of ours (enqueue -> both chats acked),
    so both see the same machine load. 40 chat pairs (a group and a private chat) in turn, one
    state change per 100 ms: every chat gets one message per 4 s (groups stay under 20/min), the
    whole run 20/s (under 30/s), so pacing never waits: what is measured is our own work.
    The first round (one sample per pair) warms up connections and the chats' threads.
    The stand-in runs in its own process (as Telegram is another machine): in-process, its
    threads would compete for the interpreter lock with the code being measured."""
    with standin_process() as tg, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        chat_sets = [(-1000000000100 - k, 9000 + k) for k in range(40)]
        warm_up = len(chat_sets)
        config = config_for(data, tg, tuple(chat for pair in chat_sets for chat in pair))
        db = Database.in_dir(data)
        conn = db.open()
        clock = SystemClock()
        acked: dict[tuple[str, str], float] = {}
        done = threading.Condition()

        def on_delivered(record: dict[str, Any]) -> None:
            now = time.perf_counter()
            with done:
                for event in record["events"]:
                    acked[(event["host"], record["chat_id"])] = now
                done.notify_all()

        worker = DeliveryWorker(db, config, clock, api=TelegramAPI(tg.api_url, tg.token),
                                on_delivered=on_delivered)
        session = requests.Session()
        url = f"{tg.api_url}/bot{tg.token}/sendMessage"
        text = render_message([transition("site-0000", clock.now())])
        ours: list[float] = []
        bare: list[float] = []
        worker.start()
        try:
            for i in range(samples + warm_up):
                period_start = time.perf_counter()
                t0 = time.perf_counter()
                session.post(url, json={"chat_id": 424242 + i % 40, "text": text, "parse_mode": "HTML"},
                             timeout=10).json()
                peer_ms = (time.perf_counter() - t0) * 1000
                host = f"site-{i:04d}"
                chats = [str(c) for c in chat_sets[i % len(chat_sets)]]
                t0 = time.perf_counter()
                with transaction(conn):
                    enqueue(conn, None, transition(host, clock.now()), chats, clock.now())
                worker.wake(chats)        # in production every configured chat gets each alert
                deadline = time.monotonic() + 10
                with done:
                    while not all((host, c) in acked for c in chats) and time.monotonic() < deadline:
                        done.wait(0.5)
                if i >= warm_up:
                    bare.append(peer_ms)
                    ours += [(acked[(host, c)] - t0) * 1000 for c in chats if (host, c) in acked]
                time.sleep(max(0.0, 0.1 - (time.perf_counter() - period_start)))
        finally:
            worker.stop(5)
        return {
            "samples": len(ours), "expected": 2 * samples,
            "ours_p50_ms": round(percentile(ours, 50), 2), "ours_p99_ms": round(percentile(ours, 99), 2),
            "ours_max_ms": round(max(ours), 2) if ours else None,
            "bare_post_p50_ms": round(percentile(bare, 50), 2), "bare_post_p99_ms": round(percentile(bare, 99), 2),
            "overhead_p50_ms": round(percentile(ours, 50) - percentile(bare, 50), 2),
            "overhead_p99_ms": round(percentile(ours, 99) - percentile(bare, 99), 2),
            "ratio_p50": round(percentile(ours, 50) / percentile(bare, 50), 2),
            "note": "ours = enqueue transaction + wake + claim + render + HTTP + commit + timing log, "
                    "measured to the on_delivered callback; 2 chats per state change (2nd chat's lane runs "
                    "in parallel)",
        }


class _InstantAPI:
    """Stands in for TelegramAPI to time our own work around the HTTP call."""

    def __init__(self) -> None:
        self.called_at = 0.0

    def send_message(self, chat_id: int | str, text: str, *, parse_mode: str | None = "HTML") -> int:
        self.called_at = time.perf_counter()
        return 1


def bench_own_work(samples: int) -> dict[str, Any]:
    """Our code alone, one thread, no HTTP: enqueue transaction; step up to the send call
    (head/pacing checks, read + render + claim commit); after the answer (commit, timing log)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        config = Config(path=data / "hosts.yaml", data_dir=data,
                        telegram=TelegramSpec(token=DEFAULT_TOKEN, chat_ids=(5,), api_url="http://127.0.0.1:9"))
        db = Database.in_dir(data)
        conn = db.open()
        clock = SystemClock()
        api = _InstantAPI()
        worker = DeliveryWorker(db, config, clock, api=api,  # type: ignore[arg-type]
                                limiter=RateLimiter(per_chat_interval=0, global_per_second=10 ** 9))
        phases: dict[str, list[float]] = {"enqueue": [], "before_send": [], "after_ack": []}
        for i in range(samples):
            t0 = time.perf_counter()
            with transaction(conn):
                enqueue(conn, None, transition(f"site-{i:04d}", clock.now()), ["5"], clock.now())
            t1 = time.perf_counter()
            worker.step("5")
            t2 = time.perf_counter()
            phases["enqueue"].append((t1 - t0) * 1000)
            phases["before_send"].append((api.called_at - t1) * 1000)
            phases["after_ack"].append((t2 - api.called_at) * 1000)
        result: dict[str, Any] = {}
        for name, values in phases.items():
            result[f"{name}_p50_ms"] = round(percentile(values, 50), 3)
            result[f"{name}_p99_ms"] = round(percentile(values, 99), 3)
        totals = [a + b + c for a, b, c in zip(*phases.values(), strict=True)]
        result["total_p50_ms"] = round(percentile(totals, 50), 3)
        result["total_p99_ms"] = round(percentile(totals, 99), 3)
        return result


# -- 2. burst ----------------------------------------------------------------------------------

def bench_burst(spread_s: float) -> dict[str, Any]:
    chats = (-1001234567890, 5550001, 5550002)
    with TelegramStandIn(enforce_rate_limits=True) as tg, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        config = config_for(data, tg, chats)
        db = Database.in_dir(data)
        conn = db.open()
        clock = SystemClock()
        worker = DeliveryWorker(db, config, clock, api=TelegramAPI(tg.api_url, tg.token))
        worker.start()
        try:
            t0 = time.perf_counter()
            wall0 = time.time()
            if spread_s <= 0:
                with transaction(conn):
                    for site in SITES:
                        enqueue(conn, None, transition(site, clock.now()), [str(c) for c in chats], clock.now())
                worker.wake()
            else:
                for site in SITES:
                    with transaction(conn):
                        enqueue(conn, None, transition(site, clock.now()), [str(c) for c in chats], clock.now())
                    worker.wake()
                    time.sleep(spread_s / len(SITES))
            complete: dict[int, float] = {}
            deadline = time.monotonic() + 10
            while len(complete) < len(chats) and time.monotonic() < deadline:
                for chat in chats:
                    if chat not in complete:
                        text = "\n".join(m["text"] for m in tg.messages(chat))
                        if all(f"<b>{s}" in text for s in SITES):
                            complete[chat] = max(m["at"] for m in tg.messages(chat)) - wall0
                time.sleep(0.005)
            elapsed = time.perf_counter() - t0
        finally:
            worker.stop(5)
        per_chat = {str(chat): {"all_18_after_s": round(complete.get(chat, float("nan")), 3),
                                "messages": len(tg.messages(chat))} for chat in chats}
        return {"spread_s": spread_s, "chats": per_chat,
                "worst_s": round(max(v["all_18_after_s"] for v in per_chat.values()), 3),
                "max_messages": max(v["messages"] for v in per_chat.values()),
                "rejected_429": sum(1 for c in tg.calls("sendMessage") if c["status"] == 429),
                "bench_wall_s": round(elapsed, 3)}


# -- 3. outage ---------------------------------------------------------------------------------

def bench_outage(transitions_count: int = 200, outage_s: float = 600.0) -> dict[str, Any]:
    chats = (-1001234567890, 5550001)
    with TelegramStandIn() as tg, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        config = config_for(data, tg, chats)
        db = Database.in_dir(data)
        conn = db.open()
        clock = FakeClock(datetime(2026, 11, 27, 14, 0, tzinfo=timezone.utc))
        records: list[dict[str, Any]] = []
        worker = DeliveryWorker(db, config, clock, api=TelegramAPI(tg.api_url, tg.token, timeout=2),
                                on_delivered=records.append)
        names = [f"site-{i:03d}" for i in range(transitions_count)]
        order: list[str] = []
        tg.set_outage(True, mode="502")
        step = outage_s / transitions_count
        ticks_per_transition = max(1, round(step / 0.5))
        real0 = time.perf_counter()
        calls_during_outage = 0
        for i, name in enumerate(names):
            if i == transitions_count // 2:
                tg.set_outage(True, mode="drop")      # second half: connections dropped, no answer
            to = State.DOWN if i % 3 else State.UP
            with transaction(conn):
                enqueue(conn, None, transition(name, clock.now(), to), [str(c) for c in chats], clock.now())
            order.append(name)
            for _ in range(ticks_per_transition):
                worker.run_once()
                clock.advance(step / ticks_per_transition)
        calls_during_outage = len(tg.calls("sendMessage"))
        depth_at_recovery = worker.depth()
        tg.set_outage(False)
        recovered_at = clock.now()
        while worker.depth() and (clock.now() - recovered_at).total_seconds() < 600:
            worker.run_once()
            clock.advance(0.05)
        drain_s = (clock.now() - recovered_at).total_seconds()
        real_s = time.perf_counter() - real0
        result: dict[str, Any] = {"transitions": transitions_count, "simulated_outage_s": outage_s,
                                  "clock": "injected FakeClock (real HTTP, real SQLite)",
                                  "queued_at_recovery": depth_at_recovery,
                                  "send_attempts_during_outage": calls_during_outage,
                                  "drained_after_recovery_s": round(drain_s, 2), "real_time_s": round(real_s, 2),
                                  "chats": {}}
        for chat in chats:
            mine = [r for r in records if r["chat_id"] == str(chat) and r["status"] == "sent"]
            hosts = [e["host"] for r in mine for e in r["events"]]
            sent_times = sorted(datetime.fromisoformat(r["sent_at"]).timestamp() for r in mine)
            gaps = [b - a for a, b in pairwise(sent_times)]
            per_minute = max((sum(1 for t in sent_times if s <= t < s + 60) for s in sent_times), default=0)
            texts = "\n".join(m["text"] for m in tg.messages(chat))
            result["chats"][str(chat)] = {
                "delivered": len(set(hosts)), "in_order": hosts == order,
                "duplicates": len(hosts) - len(set(hosts)) + sum(texts.count(f"<b>{n}</b>") - 1 for n in order
                                                                  if texts.count(f"<b>{n}</b>") > 1),
                "messages": len(mine), "min_gap_s": round(min(gaps), 3) if gaps else None,
                "max_per_minute": per_minute}
        all_sent = sorted(datetime.fromisoformat(r["sent_at"]).timestamp() for r in records if r["status"] == "sent")
        result["max_per_second_overall"] = max((sum(1 for t in all_sent if s <= t < s + 1) for s in all_sent),
                                               default=0)
        result["within_limits"] = (result["max_per_second_overall"] <= 30 and all(
            (c["min_gap_s"] is None or c["min_gap_s"] >= 1.0) and (int(k) > 0 or c["max_per_minute"] <= 20)
            for k, c in result["chats"].items()))
    result["peer"] = bench_outage_peers(transitions_count)
    return result


def bench_outage_peers(transitions_count: int) -> dict[str, Any]:
    """Peer 1 sends each alert once (no retry): during an outage nothing arrives.
    Peer 2 retries each alert on its own after recovery, without pacing or grouping, against a
    stand-in enforcing Telegram's limits."""
    with TelegramStandIn(enforce_rate_limits=True) as tg:
        url = f"{tg.api_url}/bot{tg.token}/sendMessage"
        session = requests.Session()
        tg.set_outage(True)
        once_delivered = 0
        for i in range(transitions_count):
            try:
                once_delivered += int(session.post(url, json={"chat_id": 5550001, "text": f"site-{i:03d}"},
                                                   timeout=2).ok)
            except requests.RequestException:
                pass
        tg.set_outage(False)
        accepted = rejected = 0
        for i in range(transitions_count):
            answer = session.post(url, json={"chat_id": -1001234567890, "text": f"site-{i:03d} DOWN"}, timeout=2)
            accepted += int(answer.ok)
            rejected += int(answer.status_code == 429)
        return {"send_once_delivered": once_delivered, "naive_retry_messages_tried": transitions_count,
                "naive_retry_accepted": accepted, "naive_retry_rejected_429": rejected}


# -- report ------------------------------------------------------------------------------------

def main() -> int:
    logging.basicConfig(level=logging.ERROR)    # retries during the simulated outage are expected
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200, help="latency samples (default 200)")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    results = {"own_work": bench_own_work(args.samples), "latency": bench_latency(args.samples),
               "burst": bench_burst(0.0),
               "burst_spread": bench_burst(0.3), "outage": bench_outage()}
    lat, burst, spread, outage = results["latency"], results["burst"], results["burst_spread"], results["outage"]
    own = results["own_work"]
    targets = {
        "overhead_p50_le_10ms": lat["overhead_p50_ms"] <= 10,
        "overhead_p99_le_50ms": lat["overhead_p99_ms"] <= 50,
        "burst_all_18_within_1_5s": burst["worst_s"] <= 1.5 and spread["worst_s"] <= 1.5,
        "burst_at_most_2_messages": burst["max_messages"] <= 2 and spread["max_messages"] <= 2,
        "outage_all_in_order_no_dup": all(c["delivered"] == outage["transitions"] and c["in_order"]
                                          and c["duplicates"] == 0 for c in outage["chats"].values()),
        "outage_within_rate_limits": outage["within_limits"],
    }
    results["targets_met"] = targets
    results["machine"] = {"cpus": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2)}
    if not args.json_only:
        rows = [
            ("state change -> ack, ours p50 / p99", f"{lat['ours_p50_ms']} / {lat['ours_p99_ms']} ms"),
            ("peer: bare requests.post p50 / p99", f"{lat['bare_post_p50_ms']} / {lat['bare_post_p99_ms']} ms"),
            ("our overhead p50 / p99 (target 10 / 50)", f"{lat['overhead_p50_ms']} / {lat['overhead_p99_ms']} ms"),
            ("ratio ours / peer (p50)", f"{lat['ratio_p50']}x"),
            ("  of which our code's own work p50 / p99",
             f"{own['total_p50_ms']} / {own['total_p99_ms']} ms (enqueue {own['enqueue_p50_ms']}, before send "
             f"{own['before_send_p50_ms']}, after ack {own['after_ack_p50_ms']})"),
            ("  the rest", "thread wake-up + interpreter lock + OS scheduling on this loaded machine"),
            ("18 down at once: all 18 in every chat", f"{burst['worst_s']} s, <= {burst['max_messages']} msg/chat, "
                                                      f"{burst['rejected_429']} x 429"),
            ("18 down over 300 ms: all 18 in every chat",
             f"{spread['worst_s']} s, <= {spread['max_messages']} msg/chat, {spread['rejected_429']} x 429"),
            ("10-min outage, 200 transitions (FakeClock)", f"queued {outage['queued_at_recovery']}, drained "
                                                           f"{outage['drained_after_recovery_s']} s after recovery"),
        ]
        for chat, c in outage["chats"].items():
            rows.append((f"  chat {chat}", f"{c['delivered']}/200 delivered, in order={c['in_order']}, "
                                          f"dup={c['duplicates']}, {c['messages']} msgs, min gap {c['min_gap_s']} s, "
                                          f"max {c['max_per_minute']}/min"))
        peer = outage["peer"]
        rows.append(("  peer: send once, no retry", f"{peer['send_once_delivered']}/200 delivered"))
        rows.append(("  peer: naive retry after recovery", f"{peer['naive_retry_accepted']} accepted, "
                                                           f"{peer['naive_retry_rejected_429']} rejected (429)"))
        width = max(len(r[0]) for r in rows)
        print(f"{'measure':<{width}}  result")
        print("-" * (width + 50))
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
        print(f"machine: {results['machine']['cpus']} CPUs, load average {results['machine']['loadavg_1m_at_end']}")
        print("targets:", ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in targets.items()))
        print()
    print(json.dumps(results, indent=2))
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
