"""`netwatchd demo`: build the 18-kecamatan lab and show an outage end to end (needs root)."""

from __future__ import annotations

import argparse
import os

from netwatchd.errors import LabError
from netwatchd.lab.netns import require_lab_support


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--language", choices=["en", "id"], default="en",
                        help="language of the Telegram messages (default: en; the service defaults to id)")
    parser.add_argument("--no-color", action="store_true", help="plain text, no ANSI colours")


def check_can_run() -> None:
    """Raise LabError with one line saying why and how, unless we are root with iproute2."""
    if os.geteuid() != 0:
        raise LabError("the demo builds a private network-namespace lab (198.18.0.0/15, nothing leaves "
                       "this machine) and that needs root: run `sudo netwatchd demo`")
    require_lab_support()   # iproute2


def run(args: argparse.Namespace) -> int:
    check_can_run()
    from netwatchd.lab.demo import Demo

    demo = Demo(language=args.language, ansi=False if args.no_color else None)
    try:
        return demo.main()
    except KeyboardInterrupt:
        print("\ninterrupted: the lab was removed (namespaces, links, stand-ins, agent)", flush=True)
        return 130
