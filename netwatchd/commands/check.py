"""`netwatchd check -c FILE`: validate a config and say so in one line, or list every problem.

Exit 0 with a summary ("hosts.yaml: OK — 18 hosts, 1 router, telegram: 2 chats"), or exit 2 with
one `FILE:LINE: key.path: what is wrong (what is allowed)` line per problem on stderr.

Unset `${VAR}`s in secret keys (telegram.token, routers[].password, web.password) are warnings here,
so the shipped hosts.yaml checks clean where the secrets are not present (CI, an admin's laptop);
`netwatchd run` and `check --strict` treat them as errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from netwatchd.config.loader import LoadResult, Problem, analyze
from netwatchd.config.model import Config

log = logging.getLogger("netwatchd.check")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="hosts.yaml", help="config file (default: ./hosts.yaml)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    parser.add_argument("--strict", action="store_true",
                        help="check as `run` loads the file: unset secret variables are errors too")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary(config: Config, result: LoadResult) -> str:
    """The one-line description of a valid config, e.g. '18 hosts, 1 router, telegram: 2 chats'."""
    disabled = sum(1 for host in config.hosts if host.disabled)
    parts = [_plural(len(config.hosts), "host") + (f" ({disabled} disabled)" if disabled else "")]
    parts.append(_plural(len(config.routers), "router") if config.routers else "no routers")
    chats = _plural(len(config.telegram.chat_ids), "chat")
    unset_token = result.unset_secrets.get("telegram.token")
    if config.telegram.enabled:
        parts.append(f"telegram: {chats}")
    elif unset_token:
        parts.append(f"telegram: {chats} once {unset_token} is set")
    else:
        parts.append("telegram: off (alerts go to the console)")
    return ", ".join(parts)


def data_dir_warning(config: Config) -> str | None:
    """Why `run` could not use data_dir (it is a file, or cannot be created), or None."""
    data_dir = config.data_dir
    if data_dir.exists():
        if not data_dir.is_dir():
            return f"{data_dir} is a file (point data_dir at a folder)"
        if not os.access(data_dir, os.W_OK | os.X_OK):
            return f"{data_dir} is not writable by this user (chown it to the user netwatchd runs as)"
        return None
    existing = next((p for p in data_dir.parents if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        return (f"{data_dir} does not exist and {existing} is not writable by this user "
                "(create it for the user netwatchd runs as)")
    return None


def run(args: argparse.Namespace) -> int:
    path = Path(args.config)
    result = analyze(path, secrets_may_be_unset=not args.strict)
    ok = not result.problems and result.config is not None
    if ok and result.config is not None:
        data_dir_problem = data_dir_warning(result.config)
        if data_dir_problem:
            result.warnings.append(Problem(str(path), 0, "data_dir", data_dir_problem, warning=True))
    log.debug("%s: %d errors, %d warnings; config: %r", path, len(result.problems), len(result.warnings),
              result.config)
    if args.json:
        document = {
            "file": str(path), "ok": ok,
            "errors": [p.to_dict() for p in result.problems],
            "warnings": [p.to_dict() for p in result.warnings],
            "summary": summary(result.config, result) if ok and result.config else None,
            "unset_secret_variables": sorted(set(result.unset_secrets.values())),
        }
        if ok and result.config is not None:
            config = result.config
            document.update(hosts=len(config.hosts), routers=len(config.routers),
                            telegram_chats=len(config.telegram.chat_ids), telegram_enabled=config.telegram.enabled)
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0 if ok else 2
    for warning in result.warnings:
        print(warning, file=sys.stderr)
    if not ok or result.config is None:
        for problem in result.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {_plural(len(result.problems), 'error')}", file=sys.stderr)
        return 2
    print(f"{path}: OK — {summary(result.config, result)}")
    return 0
