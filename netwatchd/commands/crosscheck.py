"""`netwatchd crosscheck -c FILE [--router NAME] [--json]`: the router's Netwatch vs netwatchd's view.

Reads /tool/netwatch over the API (read-only), netwatchd's own states from the store in data_dir
(a missing store means netwatchd has not run yet: its side is unknown everywhere), and prints
disagreements, sites only netwatchd watches and entries only the router watches.
Exit 0 when nothing disagrees, 3 when some site disagrees, 2 for a usage/config mistake, 1 when
the router cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from typing import Any

from netwatchd.config.loader import load
from netwatchd.config.model import Config
from netwatchd.router.crosscheck_text import render_crosscheck
from netwatchd.router.netwatch import crosscheck, read_netwatch
from netwatchd.store.db import Database

EXIT_DISAGREE = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("exit status: 0 nothing disagrees, 3 some site disagrees, 1 the router cannot be read, "
                     "2 a usage or config mistake")
    parser.add_argument("-c", "--config", default="hosts.yaml", help="config file (default: ./hosts.yaml)")
    parser.add_argument("--router", metavar="NAME", help="which configured router (default: the first)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def load_netwatchd_states(config: Config) -> tuple[dict[str, Any], bool]:
    """(states by site name, whether netwatchd has run): read-only; a missing store is not an error."""
    database = Database.in_dir(config.data_dir)
    if not database.path.exists():
        return {}, False
    try:
        from netwatchd.store import state_repo
    except ImportError:
        return {}, False
    conn = database.connect(readonly=True)
    try:
        return state_repo.load_states(conn), True
    except sqlite3.Error:  # a store from before the state tables existed
        return {}, False
    finally:
        conn.close()


def run(args: argparse.Namespace) -> int:
    # the routers' passwords are the only secrets a cross-check needs (no bot token)
    from netwatchd.router.client import RouterPool  # librouteros: only when a router is read

    config = load(Path(args.config), secrets_needed=("routers[",))
    pool = RouterPool(config.routers)
    try:
        client = pool.get(args.router)
        entries = read_netwatch(client)
    finally:
        pool.close()
    states, has_run = load_netwatchd_states(config)
    check = crosscheck(entries, config, states, router=client.name)
    if args.json:
        print(json.dumps({**check.to_dict(), "netwatchd_has_run": has_run}, ensure_ascii=False, indent=2))
    else:
        print(render_crosscheck(check, config.tz, netwatchd_has_run=has_run))
    return EXIT_DISAGREE if check.disagreements else 0
