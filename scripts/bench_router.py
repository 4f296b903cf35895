#!/usr/bin/env python3
"""Benchmark: RouterOS API command latency against the loopback stand-in.

Compares, in the same run and against the same stand-in:
  netwatchd   RouterClient (librouteros underneath, one reused connection, allowlist, error mapping)
  routeros_api  the independent routeros_api package, one reused connection (the peer)
  reconnect   librouteros with a new connection + login per command (what a PHP-style bot does)
Rounds are interleaved (each round calls every client once) so machine load hits them alike.
routeros_api writes every word with its own send(): with Nagle and delayed ACKs that costs ~40 ms a
command on Linux; that is the peer's real behaviour, not a stand-in artefact (our client sends a
sentence in one write, and the stand-in answers a reply in one write with TCP_NODELAY).
for the menus the bot serves. Prints a table and then one JSON object; ratios are netwatchd / peer.

Then the figures of a router-side ping that must not block the router (issue #17), each against
the one-session, per-read-timeout behaviour netwatchd had before, in the same run:
  dead-host ping   /ping of a host that never answers, count 5 and 20: seconds until the reply,
                   against the bound count × 0.2 s + timeout (the stand-in paces echoes like RouterOS)
  dhcp during ping /ip/dhcp-server/lease/print sent while a 10-echo ping runs: netwatchd (a second
                   API session) vs one shared session behind a lock (the peer waits for the ping)
  busy answer      a second /ping while one runs: seconds until "busy, try again in N s"
  trickle          a reply (RouterOS) or answer (Telegram) that arrives one byte per 100 ms, timeout
                   0.5 s: seconds until the request fails, vs the same library with only its per-read
                   timeout (capped at 5 s: it would read for as long as the bytes keep coming)

    python scripts/bench_router.py [--rounds 200] [--ping-rounds 3] [--skip-latency]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import librouteros
import requests
import routeros_api

from netwatchd.config.model import RouterSpec
from netwatchd.errors import RouterBusyError
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.lab.trickle import trickling_server
from netwatchd.notify.telegram_api import TelegramAPI
from netwatchd.router.client import RouterClient

PASSWORD = "bench-secret-0"
COMMANDS: list[tuple[str, dict[str, object]]] = [
    ("/system/identity/print", {}),
    ("/system/resource/print", {}),
    ("/interface/print", {"stats": True}),
    ("/interface/monitor-traffic", {"interface": "ether1", "once": True}),
    ("/ip/dhcp-server/lease/print", {}),
    ("/tool/netwatch/print", {}),
    ("/ping", {"address": "198.18.1.2", "count": 1, "interval": "200ms"}),
]
DEAD = "198.18.4.2"           # the stand-in's Porong: never answers
TIMEOUT = 2.0                 # routers[].timeout for the ping figures
CAP = 5.0                     # how long a peer that would never finish is given


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed_round_robin(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Each round calls every client once, in turn, so machine load hits them alike."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up (and the first login)
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def rapi_words(args: dict[str, object]) -> dict[str, str]:
    return {k: ("" if v is True else str(v)) for k, v in args.items()}


# ----------------------------------------------------------------------------- ping and deadlines

def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - a figure, not a crash
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def wait_for_ping(standin: RouterOSStandIn, seen: int) -> None:
    deadline = time.monotonic() + 5
    while sum(1 for words in list(standin.commands) if words[0] == "/ping") <= seen:
        if time.monotonic() > deadline:
            raise SystemExit("the stand-in never received the ping")
        time.sleep(0.002)


def pings_sent(standin: RouterOSStandIn) -> int:
    return sum(1 for words in list(standin.commands) if words[0] == "/ping")


def timed(call: Callable[[], object]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


class OneSession:
    """The peer: one librouteros session behind a lock, per-read timeout only (netwatchd before #17)."""

    def __init__(self, port: int) -> None:
        self.api = librouteros.connect("127.0.0.1", "netwatchd", PASSWORD, port=port, timeout=TIMEOUT,
                                       encoding="utf-8")
        self.lock = threading.Lock()

    def query(self, command: str, **args: Any) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.api(command, **args))


def until_failure(call: Callable[[], object]) -> float | None:
    """Seconds until `call` fails; None when it is still going after CAP."""
    started = time.monotonic()
    thread, _ = in_thread(call)
    thread.join(CAP)
    return None if thread.is_alive() else round(time.monotonic() - started, 3)


def ping_figures(rounds: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with RouterOSStandIn("netwatchd", PASSWORD) as standin:
        spec = RouterSpec(name="core", address="127.0.0.1", port=standin.port, username="netwatchd",
                          password=PASSWORD, timeout=TIMEOUT)
        ours = RouterClient(spec)
        ours.query("/system/identity/print")
        for count in (5, 20):
            samples = [timed(partial(ours.query, "/ping", address=DEAD, count=count)) for _ in range(rounds)]
            figures[f"dead_ping_{count}_s"] = round(max(samples), 3)
            figures[f"dead_ping_{count}_bound_s"] = round(count * 0.2 + TIMEOUT, 3)
        peer = OneSession(standin.port)
        ours_dhcp: list[float] = []
        peer_dhcp: list[float] = []
        busy: list[float] = []
        for _ in range(rounds):
            seen = pings_sent(standin)
            ping, _ = in_thread(lambda: ours.query("/ping", address=DEAD, count=10))
            wait_for_ping(standin, seen)
            for _ in range(5):
                ours_dhcp.append(timed(lambda: ours.query("/ip/dhcp-server/lease/print")))
                time.sleep(0.05)
            started = time.monotonic()
            try:
                ours.query("/ping", address="198.18.1.2", count=3)
            except RouterBusyError:
                busy.append(time.monotonic() - started)
            ping.join(10)
            seen = pings_sent(standin)
            ping, _ = in_thread(lambda: peer.query("/ping", address=DEAD, count=10, interval="200ms"))
            wait_for_ping(standin, seen)
            peer_dhcp.append(timed(lambda: peer.query("/ip/dhcp-server/lease/print")))
            ping.join(10)
        figures["dhcp_during_ping_max_s"] = round(max(ours_dhcp), 4)
        figures["dhcp_during_ping_p50_s"] = round(statistics.median(ours_dhcp), 4)
        figures["peer_dhcp_during_ping_max_s"] = round(max(peer_dhcp), 3)
        figures["busy_answer_max_s"] = round(max(busy), 3) if len(busy) == rounds else None
        peer.api.close()
        # a reply that trickles: RouterClient's deadline vs librouteros' per-read timeout
        trickling = RouterClient(RouterSpec(name="core", address="127.0.0.1", port=standin.port,
                                            username="netwatchd", password=PASSWORD, timeout=0.5))
        trickling.query("/system/identity/print")
        standin.set_fault("trickle", every=0.1, times=1)
        figures["router_trickle_fail_s"] = until_failure(lambda: trickling.query("/ip/address/print"))
        lib = librouteros.connect("127.0.0.1", "netwatchd", PASSWORD, port=standin.port, timeout=0.5)
        standin.set_fault("trickle", every=0.1, times=1)
        figures["peer_router_trickle_fail_s"] = until_failure(lambda: list(lib("/ip/address/print")))
        ours.close()
        trickling.close()
        standin.drop_connections()
    with trickling_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n") as port:
        telegram = TelegramAPI(f"http://127.0.0.1:{port}", "1:bench-token", timeout=0.5)
        figures["telegram_trickle_fail_s"] = until_failure(lambda: telegram.send_message(1, "x"))
        figures["telegram_longpoll_trickle_fail_s"] = until_failure(lambda: telegram.get_updates(None, 1))
        figures["peer_telegram_trickle_fail_s"] = until_failure(
            lambda: requests.post(f"http://127.0.0.1:{port}/bot1:bench-token/sendMessage", json={},
                                  timeout=0.5).content)
    return figures


def print_ping_figures(figures: dict[str, Any]) -> None:
    def seconds(value: Any) -> str:
        return f">{CAP:g} (still reading)" if value is None else f"{value:.3f}"

    rows = [
        ("dead-host ping, count 5", seconds(figures["dead_ping_5_s"]), f"bound {figures['dead_ping_5_bound_s']:g}"),
        ("dead-host ping, count 20", seconds(figures["dead_ping_20_s"]), f"bound {figures['dead_ping_20_bound_s']:g}"),
        ("/dhcp during a ping (max)", seconds(figures["dhcp_during_ping_max_s"]),
         f"one session: {seconds(figures['peer_dhcp_during_ping_max_s'])}"),
        ("second ping: busy answer (max)", seconds(figures["busy_answer_max_s"]), "target < 1"),
        ("RouterOS reply trickling, timeout 0.5", seconds(figures["router_trickle_fail_s"]),
         f"per-read: {seconds(figures['peer_router_trickle_fail_s'])}"),
        ("Telegram answer trickling, timeout 0.5", seconds(figures["telegram_trickle_fail_s"]),
         f"per-read: {seconds(figures['peer_telegram_trickle_fail_s'])}"),
        ("getUpdates 1 s long poll trickling", seconds(figures["telegram_longpoll_trickle_fail_s"]), "bound 1.5"),
    ]
    print(f"\n{'router-side ping and deadlines':<40} {'netwatchd s':>12}  peer / target")
    print("-" * 80)
    for name, ours, other in rows:
        print(f"{name:<40} {ours:>12}  {other}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--ping-rounds", type=int, default=3)
    parser.add_argument("--skip-latency", action="store_true", help="only the ping and deadline figures")
    options = parser.parse_args()
    logging.getLogger("netwatchd").setLevel(logging.ERROR)   # the trickle's expected warnings
    figures = ping_figures(max(1, options.ping_rounds))
    print_ping_figures(figures)
    if options.skip_latency:
        print(json.dumps({"benchmark": "router_ping_and_deadlines", "ping_rounds": options.ping_rounds,
                          "ping": figures, "python": sys.version.split()[0]}))
        return 0
    results = []
    with RouterOSStandIn("netwatchd", PASSWORD) as standin:
        spec = RouterSpec(name="core", address="127.0.0.1", port=standin.port, username="netwatchd",
                          password=PASSWORD)
        ours = RouterClient(spec)
        pool = routeros_api.RouterOsApiPool("127.0.0.1", username="netwatchd", password=PASSWORD,
                                            port=standin.port, plaintext_login=True)
        peer = pool.get_api()

        def reconnecting(command: str, args: dict[str, object]) -> object:
            api = librouteros.connect("127.0.0.1", "netwatchd", PASSWORD, port=standin.port, encoding="utf-8")
            try:
                return list(api(command, **{k: ("" if v is True else v) for k, v in args.items()}))
            finally:
                api.close()

        for command, args in COMMANDS:
            menu, _, verb = command.rpartition("/")
            clients: dict[str, Callable[[], object]] = {
                "netwatchd": lambda c=command, a=args: ours.query(c, **a),
                "routeros_api": lambda m=menu or "/", v=verb, a=args: peer.get_resource(m).call(v, rapi_words(a)),
                "reconnect": lambda c=command, a=args: reconnecting(c, a),
            }
            row: dict[str, object] = {"command": command}
            for name, samples in timed_round_robin(clients, options.rounds).items():
                row[f"{name}_p50_ms"] = round(statistics.median(samples), 3)
                row[f"{name}_p95_ms"] = round(percentile(samples, 0.95), 3)
            row["p95_ratio_vs_routeros_api"] = round(row["netwatchd_p95_ms"] / row["routeros_api_p95_ms"], 2)  # type: ignore[operator]
            row["p95_ratio_vs_reconnect"] = round(row["netwatchd_p95_ms"] / row["reconnect_p95_ms"], 2)  # type: ignore[operator]
            results.append(row)
        logins = standin.logins
        ours.close()
        pool.disconnect()
    header = f"{'command':<32} {'netwatchd p50/p95':>18} {'routeros_api p50/p95':>21} {'reconnect p50/p95':>18} " \
             f"{'ratio/peer':>10} {'ratio/reconn':>12}"
    print(header)
    print("-" * len(header))
    for row in results:
        print(f"{row['command']:<32} {row['netwatchd_p50_ms']:>8.2f}/{row['netwatchd_p95_ms']:<9.2f} "
              f"{row['routeros_api_p50_ms']:>10.2f}/{row['routeros_api_p95_ms']:<10.2f} "
              f"{row['reconnect_p50_ms']:>8.2f}/{row['reconnect_p95_ms']:<9.2f} "
              f"{row['p95_ratio_vs_routeros_api']:>10} {row['p95_ratio_vs_reconnect']:>12}")
    worst = max(float(r["netwatchd_p95_ms"]) for r in results)  # type: ignore[arg-type]
    print(f"\nworst netwatchd p95: {worst:.2f} ms (target for a bot command: 300 ms); stand-in logins: {logins}")
    print(json.dumps({"benchmark": "router_query_latency", "rounds": options.rounds, "results": results,
                      "worst_netwatchd_p95_ms": worst, "ping": figures, "python": sys.version.split()[0]},
                     indent=None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
