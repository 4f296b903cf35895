"""`netwatchd run [-c hosts.yaml] [--shard K/N]`: the agent, until SIGTERM/SIGINT; SIGHUP reloads."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="hosts.yaml", help="config file (default: ./hosts.yaml)")
    parser.add_argument("--shard", metavar="K/N", default=None,
                        help="watch only share K of N of the hosts (several agents on one hosts.yaml; "
                             "a site always stays with its top-most parent)")


def run(args: argparse.Namespace) -> int:
    from netwatchd.app import run_agent

    shard = None
    if args.shard:
        from netwatchd.engine.sharding import parse_shard

        shard = parse_shard(args.shard)
    return run_agent(args.config, shard=shard)
