#!/usr/bin/env python3
"""Benchmark: a press of ✅ Ack under an alert -> the alert edited in Telegram, against its peers
in the same run.

The agent is the real one (netwatchd.app.Agent with every thread started: probe loop, engine
ticker, delivery worker, command bot), its store a real SQLite file, Telegram the Bot API stand-in
over real HTTP on 127.0.0.1. The network is the one seam replaced: a table says which of the
`--sites` sites answer (this measures the conversation, not ICMP; the lab e2e tests use real
ICMP). Each site is routed to a chat of its own (telegram.routes), so every edit has its own
delivery lane and Telegram's 1 message a second per chat never sits between two samples.

A round: every site is cut, its DOWN (a thread root with the buttons) arrives, and then each root
is pressed once, `--gap` apart; the sites are restored before the next round. For each press:

  press -> toast   the callback_query is put into the stand-in (t0) .. answerCallbackQuery received
  press -> edit    t0 .. the stand-in applies editMessageText to the alert ("acknowledged by ...")

Peers, the same press in the same run:
  woken      the bot wakes the chat's delivery lane as the press is stored (how netwatchd runs)
  poll only  nobody wakes it: the worker finds the edit on its next poll (0.25 s), as a design
             without the wake-up would
  /ack text  the same acknowledgement typed as `/ack <site>`: message in .. the alert edited

    python scripts/bench_incident.py [--sites 20] [--rounds 3] [--gap 0.1]

Prints a table and then one JSON object. Target: press -> edit p95 <= 300 ms (woken).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from netwatchd.app import Agent
from netwatchd.clock import Clock
from netwatchd.config.model import Config, HostSpec, Route, RouteMatch, TelegramSpec, WebSpec
from netwatchd.engine.incidents import parse_callback
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.models import ProbeResult

ADMIN = 4242
TYPISTS = tuple(range(5000, 5100))   # /ack from a different admin each: the bot's per-user rate limit never bites
MAIN_CHAT = 1000            # private chats (positive ids): no group's 20 a minute between rounds
PHASE = ["start"]


class Network:
    """Which sites answer right now."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.lock = threading.Lock()

    def probe(self, hosts: Sequence[HostSpec], *, clock: Clock) -> list[ProbeResult]:
        with self.lock:
            down = set(self.down)
        return [ProbeResult.from_rtts(host=h.name, address=h.address, probe="icmp", at=clock.now(), sent=1,
                                      rtts_ms=[] if h.name in down else [0.3]) for h in hosts]


def config(data_dir: Path, api_url: str, token: str, sites: int) -> Config:
    hosts = tuple(HostSpec(name=f"site{i:02d}", address=f"198.18.{i + 1}.2", group="kecamatan", interval=0.5,
                           timeout=0.2, retry_interval=0.2, count=1, down_after=2, up_after=2) for i in range(sites))
    routes = tuple(Route(match=(RouteMatch(host=h.name),), chat_ids=(MAIN_CHAT + 1 + i,)) for i, h in enumerate(hosts))
    telegram = TelegramSpec(token=token, chat_ids=(MAIN_CHAT,), admins=(ADMIN, *TYPISTS), api_url=api_url,
                            language="en", routes=routes)
    return Config(path=data_dir / "hosts.yaml", data_dir=data_dir, hosts=hosts, telegram=telegram,
                  web=WebSpec(enabled=False))


def wait(what: str, done: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = done()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_incident: no {what} within {timeout:g} s (peer {PHASE[0]})")
        time.sleep(0.01)


def roots(tg: TelegramStandIn, sites: int) -> list[dict[str, Any]]:
    """The newest alert with an Ack button in every site's chat (None where there is none yet)."""
    found = []
    for index in range(sites):
        messages = [m for m in tg.messages(MAIN_CHAT + 1 + index) if m.get("reply_markup")]
        found.append(messages[-1] if messages and any(
            parse_callback(b["callback_data"]) and parse_callback(b["callback_data"])[1] == "ack"
            for row in messages[-1]["reply_markup"]["inline_keyboard"] for b in row) else None)
    return found


def edited_at(tg: TelegramStandIn, chat: int, message_id: int) -> float | None:
    message = next(m for m in tg.messages(chat) if m["message_id"] == message_id)
    return message["edited_at"] if message["edits"] else None


def one_round(tg: TelegramStandIn, net: Network, sites: int, gap: float, peer: str) -> dict[str, list[float]]:
    names = [f"site{i:02d}" for i in range(sites)]
    with net.lock:
        net.down = set(names)
    alerts = wait("DOWN roots", lambda: all(roots(tg, sites)) and roots(tg, sites), 30)
    time.sleep(1.2)                      # each chat's 1 message a second passes, as an admin reads it
    toasts: list[float] = []
    edits: list[float] = []
    pending: list[tuple[float, int, int]] = []
    for index, alert in enumerate(alerts):
        data = next(b["callback_data"] for row in alert["reply_markup"]["inline_keyboard"] for b in row
                    if parse_callback(b["callback_data"])[1] == "ack")
        answers = len(tg.callback_answers())
        t0 = time.time()
        if peer == "/ack text":
            typist = TYPISTS[index % len(TYPISTS)]
            tg.inject_message(typist, typist, f"/ack {names[index]}")
        else:
            tg.inject_callback(alert["chat_id"], ADMIN, data, alert["message_id"], username="budi")
            answered = tg.wait_for_answers(answers + 1, 5)
            if len(answered) > answers:
                toasts.append((answered[-1]["at"] - t0) * 1000)
        pending.append((t0, alert["chat_id"], alert["message_id"]))
        time.sleep(gap)
    for t0, chat, message_id in pending:
        at = wait("edit", lambda c=chat, m=message_id: edited_at(tg, c, m), 10)
        edits.append((at - t0) * 1000)
    with net.lock:
        net.down = set()
    wait("UPs", lambda: all(any(m["text"].startswith("🟢") for m in tg.messages(MAIN_CHAT + 1 + i))
                            for i in range(sites)) and True, 30)
    time.sleep(1.2)
    return {"toast": toasts, "edit": edits}


def summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ordered = sorted(samples)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {"n": len(ordered), "p50": round(pct(0.5), 1), "p95": round(pct(0.95), 1), "max": round(ordered[-1], 1),
            "mean": round(statistics.fmean(ordered), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=20, help="sites, each with a chat of its own (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per peer (default 3)")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between two presses (default 0.1)")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-incident-") as tmp, TelegramStandIn() as tg:
        net = Network()
        agent = Agent(config(Path(tmp), tg.api_url, tg.token, options.sites), probe_fn=net.probe)
        agent.start()
        try:
            wait("all sites UP", lambda: all(s.state.value == "up" for n, s in agent.known.items()
                                             if n.startswith("site")) and len(agent.known) > options.sites, 30)
            for peer in ("woken", "poll only", "/ack text"):
                PHASE[0] = peer
                if agent.bot is not None:
                    agent.bot.wake = None if peer == "poll only" else agent.worker.wake
                merged: dict[str, list[float]] = {"toast": [], "edit": []}
                for _ in range(options.rounds):
                    found = one_round(tg, net, options.sites, options.gap, peer)
                    for key, values in found.items():
                        merged[key] += values
                results[peer] = merged
        finally:
            agent.stop()
    rows = [(peer, "press -> toast", summary(found["toast"])) for peer, found in results.items() if found["toast"]]
    rows += [(peer, "press -> edited alert" if peer != "/ack text" else "message -> edited alert",
              summary(found["edit"])) for peer, found in results.items()]
    print(f"{'peer':<11} {'what':<26} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for peer, what, figures in rows:
        print(f"{peer:<11} {what:<26} {figures['n']:>4} {figures['p50']:>8} {figures['p95']:>8} {figures['max']:>8}")
    woken = summary(results["woken"]["edit"])
    verdict = "met" if woken and woken["p95"] <= 300 else "NOT met"
    print(f"target press -> edited alert p95 <= 300 ms (woken): {verdict}")
    print(json.dumps({"benchmark": "incident_press_to_edit", "sites": options.sites, "rounds": options.rounds,
                      "gap_s": options.gap, "python": sys.version.split()[0],
                      "results": [{"peer": p, "what": w, **f} for p, w, f in rows],
                      "target_p95_ms": 300, "target_met": verdict == "met"}))
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    raise SystemExit(main())
