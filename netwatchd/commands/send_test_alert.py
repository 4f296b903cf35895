"""`netwatchd test-notify -c FILE`: send one test message to every configured chat and print
how long Telegram took to acknowledge each (or a one-line reason and fix per chat)."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from netwatchd.clock import SystemClock
from netwatchd.config.loader import load
from netwatchd.config.model import Config
from netwatchd.errors import DeliveryError, UsageError
from netwatchd.logs import add_secret
from netwatchd.notify.format import render_test, to_plain_text

if TYPE_CHECKING:
    from netwatchd.notify.telegram_api import TelegramAPI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="hosts.yaml", help="config file (default: ./hosts.yaml)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for Telegram per request (default 10)")


def explain(exc: DeliveryError) -> str:
    """A Telegram failure as one line an administrator can act on."""
    description = getattr(exc, "description", "") or str(exc)
    code = getattr(exc, "error_code", None)
    if exc.migrate_to_chat_id is not None:
        return (f"this group became supergroup {exc.migrate_to_chat_id}: put {exc.migrate_to_chat_id} "
                "in telegram.chat_ids")
    if code == 400 and "chat not found" in description:
        return "chat not found (check telegram.chat_ids; the bot must be a member of that chat)"
    if code == 403:
        return f"{description.removeprefix('Forbidden: ')} (add the bot to the chat again / unblock it)"
    if code in (401, 404):
        return "the bot token was rejected (check telegram.token with @BotFather)"
    if exc.retry_after is not None:
        return f"Telegram asks to wait {exc.retry_after:g} s (too many messages); try again later"
    return str(exc)


def send_tests(config: Config, api: TelegramAPI, text: str) -> list[tuple[int, float | None, str]]:
    """Send `text` to every chat; [(chat_id, latency_ms or None, result line)]."""
    results: list[tuple[int, float | None, str]] = []
    for chat_id in config.telegram.chat_ids:
        started = time.perf_counter()
        try:
            message_id = api.send_message(chat_id, text)
        except DeliveryError as exc:
            results.append((chat_id, None, explain(exc)))
            continue
        latency = (time.perf_counter() - started) * 1000
        results.append((chat_id, latency, f"delivered in {latency:.0f} ms (message {message_id})"))
    return results


def run(args: argparse.Namespace) -> int:
    # the bot token is the only secret a test message needs (no router password)
    config = load(Path(args.config), secrets_needed=("telegram.token",))
    for secret in config.secrets():
        add_secret(secret)
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be more than 0 seconds, not {args.timeout:g}")
    text = render_test(language=config.telegram.language, tz=config.tz, server=socket.gethostname(),
                       at=SystemClock().now(), templates=config.telegram.templates)
    if not config.telegram.enabled:
        print(to_plain_text(text))
        print("\nno telegram.token configured: alerts go to the console, as above "
              "(set telegram.token and telegram.chat_ids to use Telegram)")
        return 0
    if not config.telegram.chat_ids:
        raise UsageError("telegram.chat_ids is empty: add the admins' chat id(s) (see docs/telegram.md, set-up)")
    from netwatchd.notify.telegram_api import TelegramAPI, TelegramError  # requests: only to send

    api = TelegramAPI(config.telegram.api_url, config.telegram.token, timeout=args.timeout)
    try:
        bot = api.get_me()
    except TelegramError as exc:
        print(f"netwatchd: cannot use the bot: {explain(exc)}", file=sys.stderr)
        return 1
    print(f"bot @{bot.get('username', '?')} via {api.host}, {len(config.telegram.chat_ids)} chat(s):")
    results = send_tests(config, api, text)
    width = max(len(str(chat_id)) for chat_id, _, _ in results)
    for chat_id, _, line in results:
        print(f"  chat {str(chat_id):>{width}} : {line}")
    failed = sum(1 for _, latency, _ in results if latency is None)
    if failed:
        print(f"{failed} of {len(results)} chat(s) failed")
        return 1
    return 0
