#!/usr/bin/env python3
"""How long validating hosts.yaml takes, next to merely parsing it.

Builds configs of N hosts (a three-level tree under one router, the shape of a sharded
deployment), then in one run times netwatchd's validating loader (`netwatchd.config.loader.analyze`) and two
peers that only parse: PyYAML's `safe_load` (pure Python) and `yaml.load(..., CSafeLoader)` (libyaml).
Prints a table and JSON with best-of-R wall times and the ratios to the peers.

    python scripts/bench_config.py [--hosts 100 1000 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

from netwatchd.config.loader import analyze


def build_config(count: int) -> str:
    """A valid hosts.yaml with `count` hosts: 1 router, ~count/100 district hubs, sites below them."""
    lines = ["timezone: Asia/Jakarta", "defaults: {interval: 10s, timeout: 1s, count: 3, down_after: 3}",
             "routers: [{name: core, address: 198.19.255.254, password: lab-secret}]", "hosts:"]
    hubs = max(1, count // 100)
    for index in range(count):
        parent = "core" if index < hubs else f"hub{index % hubs}"
        name = f"hub{index}" if index < hubs else f"site{index}"
        address = f"198.{18 + index // 65536}.{(index // 256) % 256}.{index % 256}"  # lab range; only parsed
        lines.append(f"  - {{name: {name}, address: {address}, group: g{index % 7}, parent: {parent}}}")
    return "\n".join(lines) + "\n"


def best_of(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for count in args.hosts:
            path = Path(folder) / f"hosts-{count}.yaml"
            text = build_config(count)
            path.write_text(text)
            result = analyze(path, environ={})
            assert not result.problems and result.config is not None and len(result.config.hosts) == count
            netwatchd_s = best_of(args.repeat, partial(analyze, path, environ={}))
            pure_s = best_of(args.repeat, partial(yaml.safe_load, text))
            libyaml_s = best_of(args.repeat, partial(yaml.load, text, Loader=yaml.CSafeLoader))
            rows.append({"hosts": count, "bytes": len(text.encode()), "netwatchd_validate_s": round(netwatchd_s, 4),
                         "pyyaml_safe_load_s": round(pure_s, 4), "pyyaml_csafeloader_s": round(libyaml_s, 4),
                         "ratio_to_safe_load": round(netwatchd_s / pure_s, 2),
                         "ratio_to_csafeloader": round(netwatchd_s / libyaml_s, 2),
                         "hosts_per_s": round(count / netwatchd_s)})
    header = f"{'hosts':>7} {'KB':>7} {'netwatchd s':>12} {'safe_load s':>12} {'CSafe s':>9} {'x safe_load':>12} " \
             f"{'x CSafe':>8} {'hosts/s':>9}"
    print(header)
    for row in rows:
        print(f"{row['hosts']:>7} {row['bytes'] / 1024:>7.0f} {row['netwatchd_validate_s']:>12.4f} "
              f"{row['pyyaml_safe_load_s']:>12.4f} {row['pyyaml_csafeloader_s']:>9.4f} "
              f"{row['ratio_to_safe_load']:>12.2f} {row['ratio_to_csafeloader']:>8.2f} {row['hosts_per_s']:>9}")
    print(json.dumps({"benchmark": "config", "python": sys.version.split()[0], "repeat": args.repeat, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
