"""The agent when its store fails (step by step on a FakeClock, real SQLite, the real Bot API
stand-in over HTTP): alerts still reach Telegram, from memory; /healthz says why; the log says it
once a minute with a count; when the store recovers each alert is saved once and never sent twice.

The store is made to fail for real: another connection holds its write lock (every write of the
agent then fails at once with "database is locked"), or, as root, a tmpfs data_dir is filled to
the last byte (SQLITE_FULL). Before: the DOWN stayed unsent until the store recovered, /healthz
said "ok", and every probe round logged ERROR lines (about 8 a second on a full disk)."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatchd.app import Agent
from netwatchd.bot.handlers import BotContext, run_command
from netwatchd.bot.parse import ParsedCommand
from netwatchd.lab import smalldisk
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.store.health import read_health_files
from support.disk import tmpfs_or_skip
from test_app import CHAT, TOKEN, Network, make_config, outbox, settle


@pytest.fixture
def standin() -> Iterator[TelegramStandIn]:
    with TelegramStandIn(token=TOKEN) as server:
        yield server


class Lock:
    """Another process's write transaction on the store: the agent's writes fail at once."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        agent.store_health.patience_s = 0           # fail at once, not after SQLite's 10 s patience
        self.blocker = agent.db.connect()

    def __enter__(self) -> Lock:
        self.blocker.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.blocker.execute("ROLLBACK")


def rows(agent: Agent) -> list[dict]:
    """The alerts' outbox rows (not the edits of a root, in a chat's '#edit' lane)."""
    return [dict(r) for r in agent._conn().execute(
        "SELECT id, chat_id, status, message_id, attempts, payload FROM outbox WHERE chat_id NOT LIKE '%#edit'"
        " ORDER BY id")]


def events(agent: Agent, host: str) -> list[str]:
    return [r[0] for r in agent._conn().execute("SELECT to_state FROM events WHERE host=? AND to_state!='up'",
                                                (host,))]


def texts(standin) -> list[str]:
    return [m["text"].split("\n")[0] for m in standin.messages(CHAT)]


def test_a_down_decided_while_the_store_is_locked_reaches_telegram_and_is_saved_once(tmp_path, clock, standin):
    net = Network()
    agent = Agent(make_config(tmp_path, standin.api_url), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    with Lock(agent):
        net.down.add("Waru")
        settle(agent, clock, 12)
        assert agent.deliver_once() == 1                     # from memory: the store has nothing
        assert texts(standin) == ["🔴 <b>Waru DOWN</b>"]
        assert outbox(agent) == [] and events(agent, "Waru") == []
        ok, detail = agent.health()
        assert not ok and detail.startswith("store failing since ") and "database is locked" in detail
        assert "1 alert(s) held in memory" in detail
        metrics = agent.metrics.render()
        assert b"netwatchd_store_healthy 0.0" in metrics and b"netwatchd_alerts_in_memory 1.0" in metrics
        settle(agent, clock, 5)
        assert agent.deliver_once() == 0                     # not sent again while it waits
    settle(agent, clock, 1)                                  # the next round saves it
    [row] = rows(agent)
    assert row["status"] == "sent" and row["message_id"] == standin.messages(CHAT)[0]["message_id"]
    assert events(agent, "Waru") == ["down"]
    assert agent.health()[0], agent.health()
    settle(agent, clock, 10)
    assert b"netwatchd_store_healthy 1.0" in agent.metrics.render()
    assert standin.messages(CHAT)[0]["reply_markup"] is None     # memory knew no incident to put buttons on
    agent.deliver_once()                                         # the saved incident's buttons: an edit
    assert agent.deliver_once() == 0 and len(standin.messages(CHAT)) == 1   # never twice
    [down] = standin.messages(CHAT)
    assert "✅" in str(down["reply_markup"]) and down["text"].startswith("🔴 <b>Waru DOWN</b>")
    net.down.clear()
    settle(agent, clock, 12)
    agent.deliver_once()
    assert texts(standin) == ["🔴 <b>Waru DOWN</b>", "🟢 <b>Waru UP</b>"]


def test_the_store_recovering_while_the_memory_send_is_in_flight_sends_it_once(tmp_path, clock, standin):
    """The save that takes the held alert happens while Telegram is answering it: the row is
    written 'sending' (claimed by this worker) and finished as 'sent' after the answer."""
    net = Network()
    agent = Agent(make_config(tmp_path, standin.api_url), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    lock = Lock(agent)
    real_send = agent.worker.api.send_message
    seen_in_flight: list[list[dict]] = []

    def send_while_the_store_recovers(*args, **kwargs):
        lock.__exit__()
        settle(agent, clock, 1)                              # a round saves the held alert now
        seen_in_flight.append(rows(agent))
        return real_send(*args, **kwargs)

    with lock:
        net.down.add("Waru")
        settle(agent, clock, 12)
    lock.blocker.execute("BEGIN IMMEDIATE")
    agent.worker.api.send_message = send_while_the_store_recovers
    assert agent.deliver_once() == 1
    del agent.worker.api.send_message
    [[in_flight]] = seen_in_flight
    assert in_flight["status"] == "sending"
    assert [r["status"] for r in rows(agent)] == ["sent"]
    settle(agent, clock, 10)
    agent.deliver_once()
    assert len(standin.messages(CHAT)) == 1


def test_an_alert_already_in_the_store_is_sent_when_its_claim_cannot_be_written(tmp_path, clock, standin):
    """Saved a moment before the store locked up: claimed in memory, sent, and its 'sent' written
    once the store takes writes again (so it is not sent a second time)."""
    net = Network()
    agent = Agent(make_config(tmp_path, standin.api_url), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    net.down.add("Waru")
    settle(agent, clock, 12)
    assert [r["status"] for r in rows(agent)] == ["pending"]
    with Lock(agent):
        assert agent.deliver_once() == 1
        assert [r["status"] for r in rows(agent)] == ["pending"]     # what the store still says
        settle(agent, clock, 5)
        assert agent.deliver_once() == 0
    agent.deliver_once()
    assert [r["status"] for r in rows(agent)] == ["sent"]
    settle(agent, clock, 5)
    agent.deliver_once()
    assert len(standin.messages(CHAT)) == 1


def test_with_shards_a_stored_alert_waits_for_the_store_instead_of_being_claimed_in_memory(tmp_path, clock,
                                                                                           standin):
    """Agents sharing one store (--shard) could both claim the same row in memory: they don't."""
    net = Network()
    agent = Agent(make_config(tmp_path, standin.api_url), clock=clock, probe_fn=net.probe, shard=(1, 1))
    settle(agent, clock, 12)
    net.down.add("Waru")
    settle(agent, clock, 12)
    with Lock(agent):
        assert agent.deliver_once() == 0
    clock.advance(1)                                         # the chat's next slot (1 message/s)
    assert agent.deliver_once() == 1 and [r["status"] for r in rows(agent)] == ["sent"]


def test_a_failing_store_is_logged_once_a_minute_with_a_count_and_once_when_it_recovers(tmp_path, clock, standin,
                                                                                         caplog):
    net = Network()
    agent = Agent(make_config(tmp_path, standin.api_url), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    with caplog.at_level(logging.WARNING):
        with Lock(agent):
            net.down.add("Waru")
            for _ in range(10):                              # ten minutes of rounds every 0.5 s
                settle(agent, clock, 60)
                agent.deliver_once()
        settle(agent, clock, 1)
    store_lines = [r for r in caplog.records if r.name == "netwatchd.store"]
    assert 10 <= len(store_lines) <= 12, [r.getMessage()[:100] for r in store_lines]
    assert "cannot be written" in store_lines[0].getMessage()
    assert "[again" in store_lines[2].getMessage() and "times in the last 60 s" in store_lines[2].getMessage()
    assert "can be written again" in store_lines[-1].getMessage()
    assert re.search(r"after 1,[0-9]{3} failure\(s\) in (9|10) min", store_lines[-1].getMessage())
    others = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name != "netwatchd.store"]
    assert others == [], [r.getMessage()[:100] for r in others]
    assert len(standin.messages(CHAT)) == 1 and events(agent, "Waru") == ["down"]


def test_netwatchd_status_and_the_bots_status_say_the_store_fails_and_why(tmp_path, clock, standin):
    """`netwatchd status` (another process) reads the agent's health file; /status asks the agent."""
    from netwatchd.commands import status

    net = Network()
    config = make_config(tmp_path, standin.api_url)
    agent = Agent(config, clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    with Lock(agent):
        net.down.add("Waru")
        settle(agent, clock, 12)
        [record] = read_health_files(config.data_dir)
        assert record["ok"] is False and record["store"]["kind"] == "locked" and record["store"]["held"] == 1
        report = status.store_health(config, clock.now())
        lines = status.store_lines(report)
        assert report["ok"] is False and lines[0].startswith("store: store failing since "), lines
        context = BotContext(db=agent.db, config=config, clock=clock, routers=None, probe_fn=None,
                             started_monotonic=clock.monotonic(), store_health=agent.store_health)
        [reply] = run_command(ParsedCommand("status"), context)
        assert "FAILING" in reply.text and "netwatchd's store is failing</b> since" in reply.text
        assert "database is locked" in reply.text and "1 alert(s) not saved yet" in reply.text
    settle(agent, clock, 20)
    assert status.store_health(config, clock.now())["agents"][0]["state"] == "ok"
    assert "FAILING" not in run_command(ParsedCommand("status"), context)[0].text
    clock.advance(120)                     # an agent that stopped writing its file is called silent
    assert status.store_health(config, clock.now())["agents"][0]["state"] == "silent"
    agent.stop()
    assert status.store_health(config, clock.now())["agents"][0]["state"] == "stopped"


def test_the_command_bot_answers_status_while_it_cannot_store_its_offset(tmp_path, clock, standin):
    """The bot used to stay silent: the update's offset could not be stored, so the command waited."""
    net = Network()
    config = make_config(tmp_path, standin.api_url)
    config = dataclasses.replace(config, telegram=dataclasses.replace(config.telegram, poll_commands=True))
    agent = Agent(config, clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    with Lock(agent):
        standin.inject_message(42, 42, "/status")
        assert agent.bot.run_once() == 1
        [answer] = standin.messages(42)
        assert "netwatchd status" in answer["text"]
        assert agent.bot.run_once() == 0                     # the offset in memory: not answered twice
        standin.inject_message(42, 42, "/mute Waru 1h")      # a write: said plainly, not "internal error"
        assert agent.bot.run_once() == 1
        assert "store is failing (database is locked): this command cannot run now" in standin.messages(42)[-1]["text"]
    standin.inject_message(42, 42, "/status")
    assert agent.bot.run_once() == 1 and len(standin.messages(42)) == 3
    agent.bot.stop(timeout=1)


def test_a_quick_check_that_finds_damage_fails_health_until_a_restart(tmp_path, clock, standin, caplog):
    from netwatchd.lab.storefaults import damage, make_store

    make_store(tmp_path / "data")
    net = Network()
    agent = Agent(make_config(tmp_path, standin.api_url), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    assert agent.check_store_once() is None and agent.health()[0]
    agent._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damage(agent.db.path, "garbage-page:events")             # an old page no statement touches
    with caplog.at_level(logging.ERROR, logger="netwatchd.store"):
        problem = agent.check_store_once()
    assert problem and "table events" in problem
    settle(agent, clock, 5)                                  # writes succeed: damage stays
    ok, detail = agent.health()
    assert not ok and "the file is damaged" in detail and "--move-damaged-store" in detail
    [line] = [r.getMessage() for r in caplog.records]
    assert "is damaged" in line and "found by: the periodic store check" in line


# ---- a real full disk (root: tmpfs) ----------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs_or_skip(tmp_path / "disk", 3 * 1024 * 1024) as disk:
        yield disk


def test_a_full_disk_for_real_the_down_goes_out_and_is_saved_once_space_is_back(tmp_path, clock, standin,
                                                                                tiny_disk, caplog):
    net = Network()
    config = dataclasses.replace(make_config(tmp_path, standin.api_url), data_dir=tiny_disk / "data")
    agent = Agent(config, clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    filler = smalldisk.fill(tiny_disk)
    with caplog.at_level(logging.WARNING, logger="netwatchd.store"):
        net.down.add("Waru")
        settle(agent, clock, 12)
        assert agent.deliver_once() == 1
        ok, detail = agent.health()
        assert not ok and "the disk is full" in detail and "database or disk is full" in detail, detail
        assert f"free space on the disk holding {tiny_disk / 'data'}" in detail
        [record] = read_health_files(config.data_dir)            # rewritten in place on the full disk
        assert record["store"]["kind"] == "full"
        filler.unlink()
        settle(agent, clock, 2)
    assert agent.health()[0], agent.health()
    assert [r["status"] for r in rows(agent)] == ["sent"] and events(agent, "Waru") == ["down"]
    settle(agent, clock, 10)
    agent.deliver_once()
    assert texts(standin) == ["🔴 <b>Waru DOWN</b>"]
    lines = [r.getMessage() for r in caplog.records if r.name == "netwatchd.store"]
    assert len(lines) == 2 and "database or disk is full" in lines[0] and "(0 B free now)" in lines[0], lines
    assert "can be written again" in lines[1]
    timing = [r.getMessage() for r in caplog.records if r.name == "netwatchd.notify.timing"]
    # said once; the buttons' edit of the saved DOWN writes the timing log again (and says so)
    assert len(timing) <= 2 and not any("cannot write" in line for line in timing[1:]), timing
    agent.stop()
