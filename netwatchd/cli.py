"""The command line: `netwatchd SUBCOMMAND ...`.

Each subcommand lives in `netwatchd/commands/<name>.py` with `add_arguments(parser)` and
`run(args) -> int`. This module catches NetwatchError once, prints its one-line message(s) and
exits with its code (2 for user mistakes); nothing a user does produces a Python traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Collection, Sequence

from netwatchd import __version__
from netwatchd.errors import ConfigError, NetwatchError

TYPE_CHECKING = False     # typing (~2 ms) is not imported for `netwatchd --help`; mypy reads this as usual
if TYPE_CHECKING:
    from typing import Any

# name -> (module, one-line help). Order is the order `netwatchd --help` shows.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("netwatchd.commands.demo",
             "build a namespaced lab of the 18 kecamatan and show an outage end to end (root)"),
    "run": ("netwatchd.commands.run", "run the agent: probe, decide, notify, answer the bot, serve the status page"),
    "check": ("netwatchd.commands.check", "validate a config file and print a one-line summary"),
    "probe": ("netwatchd.commands.probe", "probe addresses once now and print the results (like /ping)"),
    "status": ("netwatchd.commands.status", "show every site's state from the store"),
    "report": ("netwatchd.commands.report", "availability and delivery-latency report"),
    "crosscheck": ("netwatchd.commands.crosscheck", "compare the router's own Netwatch table with netwatchd's view"),
    "import-netwatch": ("netwatchd.commands.import_netwatch", "turn RouterOS Netwatch entries into hosts.yaml entries"),
    "test-notify": ("netwatchd.commands.send_test_alert", "send a test notification and print the measured latency"),
}


def _terminal_columns() -> int:
    """What shutil.get_terminal_size().columns answers (COLUMNS, else the terminal of stdout, else
    80), without importing shutil (with bz2, lzma, fnmatch: ~4 ms of every start)."""
    import os

    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout; the width as argparse computes it (terminal columns - 2).
    argparse builds a formatter for every add_argument(), so this runs at every start."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _terminal_columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage mistakes as one line plus a hint, exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def chosen_subcommand(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (the first word that is not an option or an option's value),
    None when there is none. Only that subcommand's module is imported: `--help`, `check` and
    `status` must not pay for matplotlib, requests, icmplib... that other subcommands use."""
    words = iter(argv)
    for word in words:
        if word == "--":
            return next(words, None)
        if not word.startswith("-"):
            return word
        # --log-level / --log-format take a value (argparse also accepts an unambiguous prefix)
        if "=" not in word and len(word) > 3 and any(o.startswith(word) for o in _VALUE_OPTIONS):
            next(words, None)
    return None


_VALUE_OPTIONS = ("--log-level", "--log-format")


def build_parser(only: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line. `only`: import and describe just these subcommands (the others are
    listed by name and help text alone); None builds every one (docs, tests)."""
    parser = _Parser(prog="netwatchd", description="Watch intranet sites, alert on Telegram within seconds "
                     "of an outage, answer the admins' bot over the RouterOS API.")
    parser.add_argument("--version", action="version", version=f"netwatchd {__version__}")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"], help="default: info")
    parser.add_argument("--log-format", default="text", choices=["text", "json"],
                        help="text lines for people (default) or one JSON object per line")
    # The same two flags are accepted after the subcommand too (`netwatchd run --log-level debug`).
    common = _Parser(add_help=False)
    common.add_argument("--log-level", default=argparse.SUPPRESS,
                        choices=["debug", "info", "warning", "error"], help="default: info")
    common.add_argument("--log-format", default=argparse.SUPPRESS, choices=["text", "json"],
                        help="text lines (default) or one JSON object per line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        if only is None or name in only:
            module = importlib.import_module(module_name)
            module.add_arguments(sp)
            sp.set_defaults(_module=module)
    return parser


def entry() -> None:
    """The console script and `python -m netwatchd`: main(), then exit with its status.

    A command whose module sets EXIT_WITHOUT_TEARDOWN (probe) ends, once stdout and stderr are
    flushed and when no other thread runs, with os._exit: the interpreter's teardown frees every
    object one by one, ~5 ms of a `netwatchd probe` of 10,000 targets, for nothing. Raises
    SystemExit otherwise (as sys.exit)."""
    code = main()
    chosen = chosen_subcommand(sys.argv[1:])
    module = sys.modules.get(SUBCOMMANDS[chosen][0]) if chosen in SUBCOMMANDS else None
    threading = sys.modules.get("threading")
    if getattr(module, "EXIT_WITHOUT_TEARDOWN", False) and (threading is None or threading.active_count() == 1):
        import os

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):   # a closed pipe or stream: nothing more can reach it
                pass
        os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    chosen = chosen_subcommand(words)
    parser = build_parser(only=() if chosen is None else (chosen,))
    args = parser.parse_args(words)
    if not getattr(args, "_module", None):
        parser.print_help(sys.stderr)
        return 2
    wants_logging = getattr(args._module, "wants_logging", None)
    if wants_logging is None or wants_logging(args):
        from netwatchd.logs import setup_logging

        setup_logging(level=args.log_level, fmt=args.log_format)
    try:
        return int(args._module.run(args) or 0)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return exc.exit_code
    except NetwatchError as exc:
        from netwatchd.logs import redact

        print(f"netwatchd: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    finally:
        logging = sys.modules.get("logging")    # imported by the command if it logs (flush its handlers)
        if logging is not None:
            logging.shutdown()
