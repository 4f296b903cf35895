"""`netwatchd crosscheck` (not built yet)."""

from __future__ import annotations

import argparse

from netwatchd.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="hosts.yaml", help="config file (default: ./hosts.yaml)")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'crosscheck' is not built yet")
