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

    python scripts/bench_router.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Callable

import librouteros
import routeros_api

from netwatchd.config.model import RouterSpec
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.router.client import RouterClient

PASSWORD = "bench-secret-0"
COMMANDS: list[tuple[str, dict[str, object]]] = [
    ("/system/identity/print", {}),
    ("/system/resource/print", {}),
    ("/interface/print", {"stats": True}),
    ("/interface/monitor-traffic", {"interface": "ether1", "once": True}),
    ("/ip/dhcp-server/lease/print", {}),
    ("/tool/netwatch/print", {}),
    ("/ping", {"address": "198.18.1.2", "count": 1}),
]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    options = parser.parse_args()
    results = []
    with RouterOSStandIn("netwatchd", PASSWORD, ping_interval=0.0) as standin:
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
                      "worst_netwatchd_p95_ms": worst, "python": sys.version.split()[0]}, indent=None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
