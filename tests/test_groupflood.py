"""Alerts before everything: the command bot's messages share the alerts' per-chat budget (notify.pacing)
and strangers in the alerts group cannot spend it. Pacing is pure (times passed in); the poller tests use
real HTTP to the Bot API stand-in with Telegram's limits enforced and a real SQLite store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatchd.bot import poller as poller_module
from netwatchd.bot.poller import BotPoller
from netwatchd.clock import FakeClock
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.notify.pacing import ALERT, BOT, RateLimiter
from netwatchd.notify.telegram_api import TelegramAPI
from netwatchd.router.client import RouterPool
from netwatchd.store.audit_repo import recent_audit
from netwatchd.store.db import Database
from test_bot_poller import ADMIN, GROUP, NOW, loopback_only_probe, make_config

G = str(GROUP)
GroupEnv = tuple[TelegramStandIn, BotPoller, FakeClock, Database]


# --- the shared pacer ---------------------------------------------------------------------------------

def test_a_bot_message_steps_aside_while_an_alert_waits_for_its_slot() -> None:
    limiter = RateLimiter()
    assert limiter.reserve(G, 100.0, BOT) == 0.0            # a bot answer takes the slot
    wait = limiter.reserve(G, 100.3, ALERT)                  # the alert waits at most the 1 s interval
    assert 0 < wait <= 0.7 + 1e-9
    assert limiter.alert_waiting(G, 100.3)
    assert limiter.reserve(G, 101.05, BOT) > 0               # the slot is free, but the alert is first
    assert limiter.reserve(G, 101.05, ALERT) == 0.0
    assert not limiter.alert_waiting(G, 101.05)
    assert limiter.reserve(G, 102.1, BOT) == 0.0             # then the bot again


def test_an_alert_that_stops_asking_does_not_hold_the_bot_forever() -> None:
    limiter = RateLimiter()
    limiter.reserve(G, 0.0, ALERT)
    assert limiter.reserve(G, 0.5, ALERT) > 0
    assert limiter.alert_waiting(G, 1.0)
    assert not limiter.alert_waiting(G, 10.0)                # the mark lapses
    assert limiter.reserve(G, 10.0, BOT) == 0.0


def test_in_a_group_the_bot_leaves_the_last_five_of_twenty_a_minute_to_alerts() -> None:
    limiter = RateLimiter()
    now = 0.0
    for _ in range(15):
        assert limiter.reserve(G, now, BOT) == 0.0
        now += 1.0
    assert limiter.reserve(G, now, BOT) > 40                  # the bot's share is spent for this minute
    for _ in range(5):                                        # alerts still have theirs, one a second
        assert limiter.reserve(G, now, ALERT) == 0.0
        now += 1.0
    assert limiter.reserve(G, now, ALERT) > 0                 # Telegram's 20 a minute holds for everyone


def test_a_private_chat_answer_may_burst_but_an_alert_keeps_the_interval() -> None:
    limiter = RateLimiter()
    assert [limiter.reserve("111", 5.0, BOT) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.reserve("111", 5.2, ALERT) == pytest.approx(0.8)


# --- the bot in the alerts group ---------------------------------------------------------------------

@pytest.fixture
def group_env(tmp_path: Path) -> Iterator[GroupEnv]:
    with TelegramStandIn(enforce_rate_limits=True) as tg, RouterOSStandIn() as router:
        config = make_config(tg, router, tmp_path)
        db = Database.in_dir(tmp_path)
        db.migrate()
        clock = FakeClock(NOW)
        api = TelegramAPI(tg.api_url, tg.token, timeout=5)
        pool = RouterPool(config.routers)
        bot = BotPoller(db, config, clock, api=api, routers=pool, probe_fn=loopback_only_probe, command_timeout=8,
                        limiter=RateLimiter())
        yield tg, bot, clock, db
        bot.stop()
        pool.close()


def _outcomes(db: Database) -> list[tuple[int | None, str]]:
    conn = db.connect()
    try:
        return [(row["user_id"], row["outcome"]) for row in reversed(recent_audit(conn, limit=500))]
    finally:
        conn.close()


def test_forty_strangers_in_the_group_hear_one_refusal_each_at_most_and_are_audited(group_env: GroupEnv) -> None:
    tg, bot, clock, db = group_env
    for _ in range(3):
        for member in range(40):
            tg.inject_message(GROUP, 5000 + member, "/status", chat_type="supergroup")
        bot.run_once(0)
        clock.advance(2)
    sent = tg.messages(GROUP)
    # one refusal per member per hour, and only while the bot's share of the minute lasts (15 of 20)
    assert 1 <= len(sent) <= 15
    assert all("telegram.admins" in m["text"] for m in sent)
    assert not [c for c in tg.calls("sendMessage") if c["status"] == 429]
    outcomes = _outcomes(db)
    assert len(outcomes) == 120 and all(o.startswith("refused: not an admin") for _, o in outcomes)
    assert sum(1 for _, o in outcomes if "not answered" in o) == 120 - len(sent)


def test_a_stranger_is_told_again_only_after_an_hour(group_env: GroupEnv) -> None:
    tg, bot, clock, db = group_env
    for _ in range(3):
        tg.inject_message(GROUP, 5000, "/status", chat_type="supergroup")
        bot.run_once(0)
        clock.advance(60)
    assert len(tg.messages(GROUP)) == 1
    clock.advance(poller_module.GROUP_REFUSAL_INTERVAL)
    time.sleep(1.0)          # the stand-in keeps Telegram's 1 s per chat on the real clock
    tg.inject_message(GROUP, 5000, "/status", chat_type="supergroup")
    bot.run_once(0)
    assert len(tg.messages(GROUP)) == 2


def test_a_stranger_in_private_is_still_answered(group_env: GroupEnv) -> None:
    tg, bot, clock, db = group_env
    tg.inject_message(5000, 5000, "/status")
    bot.run_once(0)
    assert "telegram.admins" in tg.messages(5000)[0]["text"]


def test_an_admin_answer_waits_for_a_waiting_alert(group_env: GroupEnv) -> None:
    tg, bot, clock, db = group_env
    limiter = bot.limiter
    assert limiter.reserve(G, clock.monotonic(), ALERT) == 0.0
    assert limiter.reserve(G, clock.monotonic(), ALERT) > 0          # a second alert waits: bot steps aside
    tg.inject_message(GROUP, ADMIN, "/help", chat_type="supergroup")

    def alert_goes() -> None:                                          # the alert's slot, one second later
        clock.advance(1.0)
        assert limiter.reserve(G, clock.monotonic(), ALERT) == 0.0
        clock.advance(1.0)
    timer = threading.Timer(0.5, alert_goes)
    timer.start()
    bot.run_once(0)
    timer.join()
    assert [m["text"].split("\n")[0] for m in tg.messages(GROUP)][:1] == ["/menu — show the button menu"]
    assert _outcomes(db)[-1] == (ADMIN, "ok")
