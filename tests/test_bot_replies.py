"""A bot answer under Telegram's refusals (issue 18, item 5): a reply hit by 429 waits out
`retry_after` and is tried again, like an alert, until the answer's deadline; a long answer split
into parts arrives whole or its last delivered part says where it stopped and why; and while an
answer waits, alerts to the same chat still go first. Real HTTP to the Bot API stand-in (its fault
policy: 429 with retry_after, dropped connections, refusals from the n-th message on), a real
SQLite store, the real delivery worker sharing the chat's budget, the system clock."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from netwatchd.bot.poller import BotPoller
from netwatchd.clock import SystemClock
from netwatchd.config.model import Config, HostSpec
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.lab.telegram_standin import TelegramStandIn, utf16_len
from netwatchd.notify.outbox import DeliveryWorker, destinations_for, enqueue
from netwatchd.notify.pacing import RateLimiter
from netwatchd.notify.telegram_api import TelegramAPI
from netwatchd.router.client import RouterPool
from netwatchd.store import Database, transaction
from netwatchd.store.audit_repo import recent_audit
from support.notify import down
from test_bot_poller import ADMIN, GROUP, loopback_only_probe, make_config

MANY = tuple(HostSpec(f"kecamatan-site-{i:03d}", f"198.18.{i // 250}.{i % 250 + 1}", group=f"group-{i // 40}")
             for i in range(470))          # /monitor of these is six messages
CUT = re.compile(r"cut here: parts 4–6 of 6 could not be sent \(Telegram refused: Too Many Requests: retry after 1\)")


@dataclass
class Bot:
    tg: TelegramStandIn
    config: Config
    db: Database
    poller: BotPoller
    limiter: RateLimiter

    def outcomes(self) -> list[str]:
        conn = self.db.connect()
        try:
            return [str(row["outcome"]) for row in reversed(recent_audit(conn))]
        finally:
            conn.close()


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    with TelegramStandIn() as tg, RouterOSStandIn() as router:
        config = replace(make_config(tg, router, tmp_path), hosts=MANY)
        db = Database.in_dir(tmp_path)
        db.migrate()
        limiter = RateLimiter()
        pool = RouterPool(config.routers)
        poller = BotPoller(db, config, SystemClock(), api=TelegramAPI(tg.api_url, tg.token, timeout=5), routers=pool,
                           probe_fn=loopback_only_probe, command_timeout=20, limiter=limiter, reply_deadline=4.0)
        yield Bot(tg, config, db, poller, limiter)
        poller.stop()
        pool.close()


def sends(tg: TelegramStandIn, chat: int) -> list[dict[str, Any]]:
    return [c for c in tg.calls("sendMessage") if str(c["params"].get("chat_id")) == str(chat)]


def test_a_reply_hit_by_429_and_then_a_dropped_connection_arrives_after_retry_after(bot: Bot) -> None:
    bot.tg.fail_next(1, "429", method="sendMessage", retry_after=1)
    bot.tg.fail_next(1, "drop", method="sendMessage")
    bot.tg.inject_message(ADMIN, ADMIN, "/help")
    bot.poller.run_once(0)
    calls = sends(bot.tg, ADMIN)
    assert [c["status"] for c in calls] == [429, 0, 200]
    assert calls[1]["at"] - calls[0]["at"] >= 1.0            # Telegram's retry_after was honoured
    assert "/menu" in bot.tg.messages(ADMIN)[0]["text"]
    assert bot.outcomes() == ["ok"]


def test_a_reply_is_not_retried_past_its_deadline(bot: Bot) -> None:
    bot.tg.fail_next(1, "429", method="sendMessage", retry_after=30)
    bot.tg.inject_message(ADMIN, ADMIN, "/help")
    started = time.monotonic()
    bot.poller.run_once(0)
    assert time.monotonic() - started < 3.0                  # 30 s would pass the 4 s deadline: not waited
    assert bot.tg.messages(ADMIN) == []
    assert bot.outcomes()[0].startswith("ok; reply failed: Telegram sendMessage: 429")


def test_a_six_part_answer_arrives_whole_through_429s(bot: Bot) -> None:
    bot.tg.fail_next(2, "429", method="sendMessage", after=2, retry_after=1)
    bot.tg.inject_message(ADMIN, ADMIN, "/monitor")
    bot.poller.run_once(0)
    texts = [m["text"] for m in bot.tg.messages(ADMIN)]
    assert len(texts) == 6 and all(utf16_len(t) <= 4096 for t in texts)
    shown = "".join(texts)
    assert all(f"kecamatan-site-{i:03d}" in shown for i in range(len(MANY)))
    assert "cut here" not in shown and bot.outcomes() == ["ok"]


def test_a_six_part_answer_refused_from_part_4_says_where_it_stopped(bot: Bot) -> None:
    bot.tg.fail_next(1000, "429", method="sendMessage", after=3, retry_after=1)   # past the 4 s deadline
    bot.tg.inject_message(ADMIN, ADMIN, "/monitor")
    started = time.monotonic()
    bot.poller.run_once(0)
    assert time.monotonic() - started < 12.0
    messages = bot.tg.messages(ADMIN)
    assert len(messages) == 3
    assert [bool(CUT.search(m["text"])) for m in messages] == [False, False, True]     # the last one says it
    assert messages[2]["text"].rstrip().endswith("</i>") and utf16_len(messages[2]["text"]) <= 4096
    assert len([c for c in sends(bot.tg, ADMIN) if c["status"] == 429]) >= 2       # tried again, not once
    assert bot.outcomes()[0].startswith("ok; reply cut after part 3 of 6; the chat was told where")


def test_alerts_still_go_first_while_an_answer_waits_out_a_429(bot: Bot, tmp_path: Path) -> None:
    worker = DeliveryWorker(bot.db, bot.config, SystemClock(), api=TelegramAPI(bot.tg.api_url, bot.tg.token, timeout=5),
                            limiter=bot.limiter, random_draw=lambda: 0.0, poll_interval=0.05)
    worker.start()
    bot.poller.reply_deadline = 30.0            # six parts at a group's one a second, a 429 and an alert
    try:
        bot.tg.fail_next(1, "429", method="sendMessage", chat_id=GROUP, after=1, retry_after=2)
        bot.tg.inject_message(GROUP, ADMIN, "/monitor", chat_type="supergroup")
        bot.poller.start()
        deadline = time.monotonic() + 10
        while not [c for c in sends(bot.tg, GROUP) if c["status"] == 429] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [c["status"] for c in sends(bot.tg, GROUP)] == [200, 429]
        conn = bot.db.open()
        try:
            with transaction(conn):
                enqueue(conn, None, down("Waru", datetime.now(timezone.utc)), destinations_for(bot.config),
                        datetime.now(timezone.utc))
        finally:
            conn.close()
        worker.wake()
        while len(bot.tg.messages(GROUP)) < 7 and time.monotonic() < deadline + 20:
            time.sleep(0.05)
    finally:
        bot.poller.stop()
        worker.stop()
    texts = [m["text"] for m in bot.tg.messages(GROUP)]
    assert len(texts) == 7
    alert = next(i for i, t in enumerate(texts) if "Waru" in t and "kecamatan-site" not in t)
    assert alert == 1                          # right after the part sent before the 429, before parts 2-6
    assert "cut here" not in "".join(texts)
