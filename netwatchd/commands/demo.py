"""`netwatchd demo`: build the 18-kecamatan lab and show an outage end to end (needs root)."""

from __future__ import annotations

import argparse
import os
import shutil

from netwatchd.errors import LabError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--language", choices=["en", "id"], default="en",
                        help="language of the Telegram messages (default: en; the service defaults to id)")
    parser.add_argument("--no-color", action="store_true", help="plain text, no ANSI colours")


def check_can_run() -> None:
    """Raise LabError with one line saying why and how, unless we are root with iproute2."""
    if os.geteuid() != 0:
        raise LabError("the demo builds a private network-namespace lab (198.18.0.0/15, nothing leaves "
                       "this machine) and that needs root: run `sudo netwatchd demo`")
    if shutil.which("ip") is None:
        raise LabError("the demo needs iproute2's `ip` command: sudo apt-get install iproute2")


def run(args: argparse.Namespace) -> int:
    check_can_run()
    from netwatchd.lab.demo import Demo

    demo = Demo(language=args.language, ansi=False if args.no_color else None)
    try:
        return demo.main()
    except KeyboardInterrupt:
        print("\ninterrupted: the lab was removed (namespaces, links, stand-ins, agent)", flush=True)
        return 130
