"""`netwatchd run [-c hosts.yaml] [--shard K/N] [--move-damaged-store]`: the agent, until
SIGTERM/SIGINT; SIGHUP reloads."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="hosts.yaml", help="config file (default: ./hosts.yaml)")
    parser.add_argument("--shard", metavar="K/N", default=None,
                        help="watch only share K of N of the hosts (several agents on one hosts.yaml; "
                             "a site always stays with its top-most parent)")
    parser.add_argument("--move-damaged-store", action="store_true",
                        help="if the store file is damaged, rename it (and its -wal/-shm) to "
                             "NAME.damaged-TIME and start with an empty store; a sound store is used as always")


def run(args: argparse.Namespace) -> int:
    from netwatchd.app import run_agent

    shard = None
    if args.shard:
        from netwatchd.engine.sharding import parse_shard

        shard = parse_shard(args.shard)
    return run_agent(args.config, shard=shard, move_damaged_store=args.move_damaged_store)
