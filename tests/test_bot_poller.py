"""The command bot end to end: real HTTP to the Bot API stand-in, real TCP to the RouterOS stand-in,
a real SQLite store. Every router or ping target is loopback or a lab address the stand-in answers
from its table; the only real ICMP goes to 127.0.0.1."""

from __future__ import annotations

import io
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from netwatchd.bot.poller import BotPoller
from netwatchd.clock import FakeClock
from netwatchd.config.model import Config, HostSpec, RateLimitSpec, RouterSpec, TelegramSpec
from netwatchd.engine.engine import HostState
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.models import State, Transition
from netwatchd.notify.telegram_api import TelegramAPI
from netwatchd.probes import probe_hosts
from netwatchd.router.client import RouterPool
from netwatchd.store import state_repo
from netwatchd.store.audit_repo import AuditEntry, recent_audit
from netwatchd.store.bot_repo import accept_update, load_offset
from netwatchd.store.db import Database

ADMIN, OTHER_ADMIN, STRANGER = 111, 222, 999
GROUP, FOREIGN_GROUP = -1001, -1002
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)
TAG = re.compile(r"<[^>]+>")


@dataclass
class Env:
    tg: TelegramStandIn
    router: RouterOSStandIn
    config: Config
    db: Database
    clock: FakeClock
    api: TelegramAPI
    pool: RouterPool
    poller: BotPoller

    def ask(self, text: str, user: int = ADMIN, chat: int | None = None,
            chat_type: str = "private") -> list[dict[str, Any]]:
        """Inject a message, run one poll (which waits for the answers), return the new replies."""
        chat = user if chat is None else chat
        before = len(self.tg.messages(chat))
        self.tg.inject_message(chat, user, text, chat_type=chat_type)
        self.clock.advance(3)  # one rate-limit token back per command
        self.poller.run_once(0)
        return self.tg.messages(chat)[before:]

    def text(self, command: str, **kwargs: Any) -> str:
        replies = self.ask(command, **kwargs)
        assert len(replies) == 1, replies
        return str(replies[0]["text"])


def loopback_only_probe(hosts: Sequence[HostSpec], *, clock: Any) -> list[Any]:
    """probe_hosts for tests: real ICMP, but refuses (fails the test) any target outside 127.0.0.0/8 —
    the configured sites have lab addresses that exist only inside namespaces."""
    for host in hosts:
        assert ipaddress.ip_address(host.address).is_loopback, f"test tried to ping {host.address}"
    return probe_hosts(hosts, clock=clock)


def make_config(tg: TelegramStandIn, router: RouterOSStandIn, data_dir: Path, **telegram: Any) -> Config:
    spec = TelegramSpec(token=tg.token, admins=(ADMIN, OTHER_ADMIN), chat_ids=(GROUP,), api_url=tg.api_url,
                        language="en")
    return Config(
        path=data_dir / "hosts.yaml", data_dir=data_dir,
        hosts=(HostSpec("Waru", "198.18.15.2", group="kecamatan", parent="core"),
               HostSpec("Porong", "198.18.4.2", group="kecamatan", parent="core"),
               HostSpec("Sidoarjo", "198.18.1.2", group="kecamatan", parent="core"),
               HostSpec("loopback", "127.0.0.1", group="servers")),
        routers=(RouterSpec("core", "127.0.0.1", port=router.port, username="netwatchd", password="lab-secret",
                            timeout=2.0),),
        telegram=replace(spec, **telegram))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with TelegramStandIn() as tg, RouterOSStandIn() as router:
        config = make_config(tg, router, tmp_path)
        db = Database.in_dir(tmp_path)
        db.migrate()
        clock = FakeClock(NOW)
        api = TelegramAPI(tg.api_url, tg.token, timeout=5)
        pool = RouterPool(config.routers)
        poller = BotPoller(db, config, clock, api=api, routers=pool, probe_fn=loopback_only_probe, command_timeout=8)
        yield Env(tg, router, config, db, clock, api, pool, poller)
        poller.stop()
        pool.close()


def save_states(env: Env) -> None:
    conn = env.db.connect()
    try:
        states = {
            "Waru": HostState("Waru", State.UP, NOW - timedelta(hours=5),
                              evidence={"rtt_avg_ms": 1.25, "loss_percent": 0.0}),
            "Porong": HostState("Porong", State.DOWN, NOW - timedelta(minutes=12),
                                evidence={"loss_percent": 100.0, "failures_in_row": 4}),
            "loopback": HostState("loopback", State.UP, NOW - timedelta(days=2), evidence={"rtt_avg_ms": 0.04,
                                                                                         "loss_percent": 0.0}),
        }
        transitions = [Transition("Porong", "198.18.4.2", State.UP, State.DOWN, NOW - timedelta(minutes=12),
                                  group="kecamatan", evidence={"loss_percent": 100.0, "failures_in_row": 4})]
        state_repo.save(conn, states, transitions, ["console"], NOW - timedelta(minutes=12))
    finally:
        conn.close()


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def audit(env: Env) -> list[dict[str, Any]]:
    conn = env.db.connect()
    try:
        return list(reversed(recent_audit(conn)))
    finally:
        conn.close()


# --- start-up ------------------------------------------------------------------------------------

def test_start_deletes_the_webhook_and_sets_the_command_menu(env: Env) -> None:
    assert env.poller.run_once(0) == 0
    assert len(env.tg.calls("deleteWebhook")) == 1
    names = [c["command"] for c in env.tg.commands()]
    assert names[:3] == ["menu", "monitor", "ping"] and "crosscheck" in names
    assert env.poller.bot_username == env.tg.bot_username
    env.poller.run_once(0)
    assert len(env.tg.calls("deleteWebhook")) == 1   # only once


# --- authorization, audit, rate limit ---------------------------------------------------------------

def test_a_stranger_gets_a_refusal_with_their_id_and_no_router_is_asked(env: Env) -> None:
    commands_before = len(env.router.commands)
    replies = env.ask("/interface", user=STRANGER)
    assert [r["text"] for r in replies] == [
        "Your Telegram user id is <code>999</code>; ask an admin to add it to telegram.admins."]
    assert len(env.router.commands) == commands_before
    assert audit(env)[-1] | {"id": 0, "at": ""} == {"id": 0, "at": "", "user_id": STRANGER, "chat_id": STRANGER,
                                                     "command": "/interface", "outcome": "refused: not an admin",
                                                     "incident_id": None}


@pytest.mark.parametrize("user, chat, chat_type, answered", [
    (ADMIN, ADMIN, "private", True),
    (OTHER_ADMIN, GROUP, "supergroup", True),
    (ADMIN, FOREIGN_GROUP, "supergroup", False),
    (STRANGER, GROUP, "supergroup", False),
    (STRANGER, STRANGER, "private", False),
])
def test_authorization_matrix_end_to_end(env: Env, user: int, chat: int, chat_type: str, answered: bool) -> None:
    text = env.text("/resource", user=user, chat=chat, chat_type=chat_type)
    assert text.startswith("<b>Resources</b> of core") is answered
    asked_router = any(words[0] == "/system/resource/print" for words in env.router.commands)
    assert asked_router is answered
    if chat == FOREIGN_GROUP:
        assert text == ("This chat (id <code>-1002</code>) is not in telegram.chat_ids; use a private chat "
                        "with the bot or ask an admin to add it.")


def test_refusal_in_indonesian(env: Env) -> None:
    env.poller.replace_config(replace(env.config, telegram=replace(env.config.telegram, language="id")))
    assert env.text("/monitor", user=STRANGER) == (
        "Maaf, perintah hanya untuk admin. ID pengguna Telegram Anda <code>999</code>; "
        "minta admin menambahkannya ke telegram.admins.")


def test_every_command_is_audited_with_its_outcome(env: Env) -> None:
    env.ask("/help")
    env.ask("/ping nowhere;reboot")
    env.ask("/reboot")
    env.ask("/monitor", user=STRANGER)
    rows = audit(env)
    assert [(r["user_id"], r["command"], r["outcome"]) for r in rows] == [
        (ADMIN, "/help", "ok"),
        (ADMIN, "/ping nowhere;reboot", "invalid: bad_target"),
        (ADMIN, "/reboot", "invalid: unknown_command"),
        (STRANGER, "/monitor", "refused: not an admin"),
    ]
    assert all(datetime.fromisoformat(r["at"]) >= NOW for r in rows)


def test_an_admin_sending_25_commands_at_once_gets_20_answers_then_5_busy_notes_then_their_answers(env: Env) -> None:
    """Issue 12: the seventh command got "Too many commands" and the eighth no answer at all."""
    for _ in range(25):
        env.tg.inject_message(ADMIN, ADMIN, "/help")
    env.tg.inject_message(OTHER_ADMIN, OTHER_ADMIN, "/help")
    env.poller.run_once(0)                     # no clock advance: one burst
    assert wait_until(lambda: len(env.tg.messages(ADMIN)) == 25)
    texts = [m["text"].split("\n")[0] for m in env.tg.messages(ADMIN)]
    assert texts.count("/menu — show the button menu") == 20
    busy = sorted(t for t in texts if t.startswith("⏳"))
    assert busy == sorted(["⏳ Busy — 1 command queued, about 1 s. /help runs then; no need to send it again."] +
                          [f"⏳ Busy — {n} commands queued, about {n} s. /help runs then; no need to send it again."
                           for n in range(2, 6)])
    assert len(env.tg.messages(OTHER_ADMIN)) == 1   # another admin is not limited
    env.clock.advance(2)
    assert env.poller.release_queued() == 2
    env.clock.advance(3)
    assert env.poller.release_queued() == 3
    assert wait_until(lambda: len(env.tg.messages(ADMIN)) == 30)
    texts = [m["text"].split("\n")[0] for m in env.tg.messages(ADMIN)]
    assert texts.count("/menu — show the button menu") == 25
    assert wait_until(lambda: [r["outcome"] for r in audit(env) if r["user_id"] == ADMIN] == ["ok"] * 25)


def test_answers_that_draw_telegrams_429_are_sent_when_it_allows(env: Env) -> None:
    """Telegram allows about one message a second per chat: a burst of answers draws 429s, which
    are waited out (retry_after) instead of ending in a silent 'reply failed'."""
    env.tg.enforce_rate_limits = True
    for _ in range(3):
        env.tg.inject_message(ADMIN, ADMIN, "/help")
    env.poller.run_once(0)

    def time_passes() -> bool:               # the chat's budget is blocked on the injected clock
        env.clock.advance(0.25)
        return len(env.tg.messages(ADMIN)) == 3
    assert wait_until(time_passes, timeout=10)
    assert [c["status"] for c in env.tg.calls("sendMessage")].count(429) >= 1     # the limit was hit
    assert wait_until(lambda: [r["outcome"] for r in audit(env)] == ["ok"] * 3)


def test_an_admins_queue_is_bounded_and_the_command_beyond_it_is_answered_not_dropped(env: Env) -> None:
    env.poller.replace_config(replace(env.config, telegram=replace(
        env.config.telegram, rate_limit=RateLimitSpec(admin_burst=2, admin_per_second=0.5))))
    for _ in range(5):
        env.tg.inject_message(ADMIN, ADMIN, "/status")
    env.poller.run_once(0)
    assert wait_until(lambda: len(env.tg.messages(ADMIN)) == 5)
    texts = [m["text"] for m in env.tg.messages(ADMIN)]
    assert "⏳ Busy — 2 commands queued, about 6 s. /status was not run; send it again after that." in texts
    assert [r["outcome"] for r in audit(env)].count("rate limited: queue full") == 1


def test_a_strangers_flood_gets_one_refusal_and_is_then_dropped(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="netwatchd.bot.poller"):
        for _ in range(8):
            env.tg.inject_message(STRANGER, STRANGER, "/interface")
        env.poller.run_once(0)
    assert wait_until(lambda: len([r for r in audit(env) if r["outcome"] != "received"]) == 8)
    assert [m["text"] for m in env.tg.messages(STRANGER)] == [
        "Your Telegram user id is <code>999</code>; ask an admin to add it to telegram.admins."]
    outcomes = [r["outcome"] for r in audit(env)]
    assert outcomes.count("refused: not an admin") == 3 and outcomes.count("rate limited: not an admin") == 5
    assert sum("refused /interface from user 999" in r.message for r in caplog.records) == 3   # no log flood
    assert env.router.commands == []
    env.clock.advance(61)
    assert len(env.ask("/interface", user=STRANGER)) == 1      # a minute later they are told again


# --- offset persistence ------------------------------------------------------------------------------

def test_offset_survives_a_restart_and_no_command_is_answered_twice(env: Env) -> None:
    env.tg.inject_message(ADMIN, ADMIN, "/help")
    second = env.tg.inject_message(ADMIN, ADMIN, "/status")
    assert env.poller.run_once(0) == 2
    assert len(env.tg.messages(ADMIN)) == 2
    conn = env.db.connect()
    assert load_offset(conn) == second + 1
    conn.close()
    env.poller.stop()
    restarted = BotPoller(env.db, env.config, env.clock, api=TelegramAPI(env.tg.api_url, env.tg.token),
                          routers=env.pool, probe_fn=loopback_only_probe)
    try:
        assert restarted.run_once(0) == 0
        assert len(env.tg.messages(ADMIN)) == 2
        assert env.tg.calls("getUpdates")[-1]["params"]["offset"] == second + 1
    finally:
        restarted.stop()


def test_a_command_accepted_before_a_crash_is_not_run_again(env: Env) -> None:
    """The offset is committed before the command runs: a process killed while answering leaves the
    audit row 'received' and the restarted bot does not answer it (at-most-once)."""
    update_id = env.tg.inject_message(ADMIN, ADMIN, "/mute Waru 1h")
    conn = env.db.connect()
    accept_update(conn, update_id, AuditEntry(NOW, ADMIN, ADMIN, "/mute Waru 1h"))  # ... then the crash
    conn.close()
    assert env.poller.run_once(0) == 0
    assert env.tg.messages(ADMIN) == []
    assert [r["outcome"] for r in audit(env)] == ["received"]


@pytest.mark.parametrize("body, counted", [
    ({"message": {"message_id": 1, "chat": {"id": "abc", "type": "private"}, "from": {"id": ADMIN},
                  "text": "/help"}}, 1),
    ({"message": "str"}, 1),
    ({"message": {"message_id": 1, "chat": [], "from": {"id": ADMIN}, "text": "/help"}}, 0),   # no chat: ignored
    ({"message": {"message_id": 1, "chat": {"id": ADMIN, "type": "private"}, "from": {"id": "x"},
                  "text": "/help"}}, 1),
    ({"message": {"message_id": 1, "chat": {"id": ADMIN, "type": "private"}, "from": {"id": ADMIN},
                  "text": 42}}, 0),                                                             # no text: ignored
    ({"callback_query": "str"}, 1),
])
def test_a_malformed_update_is_skipped_counted_and_cannot_wedge_the_bot(env: Env, body: dict[str, Any],
                                                                        counted: int) -> None:
    bad = env.tg.inject_raw_update(body)
    good = env.tg.inject_message(ADMIN, ADMIN, "/help")
    env.poller.run_once(0)
    env.poller.run_once(0)
    assert len(env.tg.messages(ADMIN)) == 1                          # the /help after it was answered
    assert env.poller.malformed_updates == counted
    conn = env.db.connect()
    try:
        assert load_offset(conn) == good + 1 > bad
    finally:
        conn.close()


def test_messages_for_other_bots_and_plain_text_are_skipped_without_audit(env: Env) -> None:
    env.tg.inject_message(GROUP, ADMIN, "/monitor@some_other_bot", chat_type="supergroup")
    env.tg.inject_message(GROUP, ADMIN, "good morning", chat_type="supergroup")
    assert env.poller.run_once(0) == 2
    assert env.tg.messages() == [] and audit(env) == []
    assert env.poller.run_once(0) == 0          # confirmed: not delivered again


# --- commands against the stand-ins -----------------------------------------------------------------

def test_monitor_shows_every_site_grouped_from_the_store(env: Env) -> None:
    save_states(env)
    assert env.text("/Monitor") == (
        "<b>Monitor</b> 14:00 WIB — 4 sites: 2 UP, 1 DOWN, 1 UNKNOWN\n"
        "Problems: Porong\n"
        "<b>kecamatan</b>\n"
        "<pre>site     state   since  rtt loss\n"
        "Waru     UP      5h00m  1.2   0%\n"
        "Porong   DOWN    12m03s   - 100%\n"
        "Sidoarjo UNKNOWN -        -    -</pre>\n"
        "<b>servers</b>\n"
        "<pre>site     state since  rtt loss\n"
        "loopback UP    2d00h 0.04   0%</pre>")
    assert env.text("/monitor servers").splitlines()[0] == "<b>Monitor</b> 14:00 WIB — 1 sites: 1 UP"


def test_ping_from_the_agent_to_loopback(env: Env) -> None:
    lines = env.text("/ping loopback 2").splitlines()
    assert lines[0] == "<b>Ping</b> loopback (127.0.0.1) from the netwatchd server"
    assert re.fullmatch(r"UP: sent 2, received 2, loss 0%, rtt [\d.]+/[\d.]+/[\d.]+ ms", lines[1]), lines


def test_ping_from_the_router_uses_routeros_ping_with_a_count(env: Env) -> None:
    text = env.text("/ping porong 3 router")
    assert text.splitlines()[0] == "<b>Ping</b> Porong (198.18.4.2) from router core"
    assert text.splitlines()[-1] == "DOWN (no reply): sent 3, received 0, loss 100%"
    ping = [w for w in env.router.commands if w[0] == "/ping"][-1]
    assert "=address=198.18.4.2" in ping and "=count=3" in ping and "=interval=200ms" in ping
    up = env.text("/ping@core waru 2")
    assert up.splitlines()[-1].startswith("UP: sent 2, received 2, loss 0%, rtt ")


def test_a_router_user_without_the_test_policy_gets_one_line_naming_it(env: Env) -> None:
    env.router.set_group("netwatchd", {"read", "api"})          # the router's admin left out `test`
    assert env.text("/ping porong 3 router") == (
        "⚠️ Router core refused /ping: the user group of <code>netwatchd</code> lacks the <b>test</b> policy "
        "(not enough permissions). On the router: <code>/user group set GROUP policy=read,test,api</code>")
    assert audit(env)[-1]["outcome"].startswith("router error: router core (127.0.0.1:")
    assert env.text("/dhcp").startswith("<b>DHCP leases</b> on core")   # reads still work


def test_during_a_router_ping_dhcp_is_answered_and_a_second_ping_told_when_to_retry(env: Env) -> None:
    """A 10-echo router-side ping of a dead site (~2 s on the router): a /dhcp sent meanwhile is
    answered within a second from the router's other session, and a second ping is not queued
    behind the first: it gets "busy, try again in N s" within a second."""
    env.tg.inject_message(ADMIN, ADMIN, "/ping porong 10 router")
    first_poll = threading.Thread(target=env.poller.run_once, args=(0,), daemon=True)
    first_poll.start()
    assert wait_until(lambda: any(w[0] == "/ping" for w in env.router.commands))
    asked = time.time()
    env.tg.inject_message(OTHER_ADMIN, OTHER_ADMIN, "/dhcp")
    env.tg.inject_message(GROUP, OTHER_ADMIN, "/ping waru router", chat_type="supergroup")
    env.clock.advance(3)
    env.poller.run_once(0)
    [dhcp] = env.tg.messages(OTHER_ADMIN)
    [busy] = env.tg.messages(GROUP)
    assert dhcp["text"].startswith("<b>DHCP leases</b> on core (3)") and dhcp["at"] - asked < 1.0
    assert re.fullmatch(r"⏳ Router core busy \(ping in progress\), try again in [123] s\.", busy["text"])
    assert busy["at"] - asked < 1.5
    first_poll.join(10)
    [ping] = env.tg.messages(ADMIN)
    assert ping["text"].splitlines()[-1] == "DOWN (no reply): sent 10, received 0, loss 100%"
    assert ping["at"] > dhcp["at"]
    outcomes = {r["command"]: r["outcome"] for r in audit(env)}
    assert outcomes["/dhcp"] == "ok" and outcomes["/ping porong 10 router"] == "ok"
    assert re.fullmatch(r"router busy: ping, retry in [123] s", outcomes["/ping waru router"])
    assert [w[0] for w in env.router.commands].count("/ping") == 1      # the busy one never reached it


def test_router_busy_in_indonesian(env: Env) -> None:
    from netwatchd.bot.i18n import say

    assert say("id", "router_busy_ping", router="core", seconds=3) == (
        "⏳ Router core sibuk (ping sedang berjalan); coba lagi dalam 3 detik.")
    assert say("en", "router_busy", router="core", seconds=2) == (
        "⏳ Router core busy (another command in progress), try again in 2 s.")


def test_router_menus_render_as_tables(env: Env) -> None:
    dhcp = env.text("/dhcp")
    assert dhcp.startswith("<b>DHCP leases</b> on core (3)\n<pre>address     mac               host")
    assert "198.18.0.20 00:0C:29:11:22:33 printer-lt2    waiting -" in dhcp
    assert env.text("/address") == (
        "<b>IP addresses</b> on core\n"
        "<pre>address         interface    network      f\n"
        "198.18.0.1/24   bridge-lan   198.18.0.0\n"
        "198.18.255.1/30 ether1       198.18.255.0\n"
        "198.19.0.1/16   sfp-sfpplus1 198.19.0.0</pre>")
    env.router.addresses[0]["dynamic"] = "true"
    assert "198.18.0.1/24   bridge-lan   198.18.0.0   D\n" in env.text("/address")
    assert env.text("/pool") == (
        "<b>IP pools</b> on core\n"
        "<pre>name      ranges                    used  %\n"
        "pool-lan  198.18.0.50-198.18.0.200 2/151 1%\n"
        "pool-tamu 198.18.2.10-198.18.2.60   0/51 0%</pre>")
    assert env.text("/dns") == (
        "<b>DNS</b> on core\n"
        "<pre>servers         198.18.0.53,198.18.0.54\n"
        "dynamic servers -\n"
        "allow remote    yes\n"
        "cache           412 / 2048 KiB (20%)</pre>")
    neighbor = env.text("/neighbor")
    assert neighbor.splitlines()[:3] == ["<b>Neighbors</b> of core",
                                         "<pre>identity     address     interface    board      version",
                                         "kec-waru     198.19.15.1 sfp-sfpplus1 RB4011iGS+ 7.14.3 (stable)"]
    resource = env.text("/resource")
    assert "board        CCR2004-1G-12S+2XS" in resource and "cpu          7%" in resource
    assert "memory       " in resource and "(23%)" in resource


def test_interface_and_traffic(env: Env) -> None:
    lines = env.text("/interface").splitlines()
    assert lines[0] == "<b>Interfaces</b> on core"
    flags = {line.split()[1]: (line.split()[0], line.split()[2]) for line in lines[2:-1]
             if line and not line.startswith("<pre>")}
    assert flags["ether1"] == ("R", "1") and flags["ether3"] == ("-", "7") and flags["ether4"] == ("X", "0")
    assert lines[-1] == "R = running, X = disabled, - = no link"
    traffic = env.text("/traffic").splitlines()
    assert traffic[0] == "<b>Traffic</b> on core (now)"
    names = [TAG.sub("", line).split()[0] for line in traffic[2:]]
    assert names == ["ether1", "sfp-sfpplus1", "ether2", "bridge-lan"]   # running interfaces only
    assert re.search(r"ether1\s+4\d\.\d Mbps\s+1[23]\.\d Mbps", "\n".join(traffic))
    one = env.text("/traffic ether2").splitlines()
    assert len(one) == 3 and re.match(r"ether2\s+2\.\d Mbps\s+1\.\d Mbps</pre>", one[2])
    monitor = [w for w in env.router.commands if w[0] == "/interface/monitor-traffic"][-1]
    assert "=interface=ether2" in monitor and "=once=" in monitor


def test_traffic_of_an_unknown_interface_is_the_routers_one_line_error(env: Env) -> None:
    assert env.text("/traffic ether99") == (f"⚠️ Router core (127.0.0.1:{env.router.port}): the router refused "
                                            "the command: input does not match any value of interface")


def test_status_shows_uptime_outbox_and_last_delivery(env: Env) -> None:
    save_states(env)
    (env.config.data_dir / "timing.jsonl").write_text(
        '{"acked_at": "2026-11-27T06:58:00.412+00:00", "latency_ms": 412.0}\n', "utf-8")
    env.clock.advance(60)
    text = env.text("/status")
    assert text.startswith("<b>netwatchd status</b>\n<pre>uptime            1m0")
    assert "outbox            1\n" in text            # the Porong alert waits for the console
    assert "last delivery     412 ms (13:58)\n" in text
    assert "routers           core\n" in text


def test_history_mute_unmute(env: Env) -> None:
    save_states(env)
    assert env.text("/history porong") == (
        "<b>History</b> of Porong (last 1 events)\n"
        "<pre>at    event   evidence\n"
        "13:48 UP→DOWN loss 100% 4x</pre>")
    assert env.text("/mute kecamatan 2h ganti kabel") == "🔕 kecamatan muted until 16:00 (2h00m)."
    conn = env.db.connect()
    mutes = state_repo.active_mutes(conn, env.clock.now())
    conn.close()
    assert [(m.target, m.by, m.reason) for m in mutes] == [("kecamatan", "@admin (111)", "ganti kabel")]
    assert "🔕" in env.text("/monitor")
    assert env.text("/mute").startswith("<b>Muted</b> (1)\n<pre>site      until by           evidence")
    assert env.text("/unmute kecamatan") == "🔔 kecamatan is no longer muted."
    assert env.text("/unmute kecamatan") == "kecamatan is not muted."
    assert env.text("/mute waru soon") == "Duration soon is not valid; examples: 30m, 2h, 1d, 1h30m."


def test_report_month_to_date(env: Env) -> None:
    save_states(env)
    text = env.text("/report")
    assert text.splitlines()[0] == "<b>Availability</b> 11/2026 (to 14:00)"
    assert re.search(r"Porong\s+0\.00%\s+12m0\ds\s+-\s+-\s+-", text), text     # own down, parent, maint, blind
    assert "1 outages • own downtime 12m0" in text


def test_report_pdf_comes_back_as_a_document(env: Env) -> None:
    pytest.importorskip("weasyprint")
    pypdf = pytest.importorskip("pypdf")
    save_states(env)
    before = len(env.tg.documents(ADMIN))
    env.tg.inject_message(ADMIN, ADMIN, "/report pdf")
    env.clock.advance(3)
    env.poller.run_once(0)
    documents = env.tg.documents(ADMIN)[before:]
    assert len(documents) == 1, env.tg.messages(ADMIN)[-1:]
    doc = documents[0]
    assert doc["file_name"] == "availability-report-2026-11.pdf" and doc["mime_type"] == "application/pdf"
    assert doc["caption"].startswith("Availability report 11/2026")
    reader = pypdf.PdfReader(io.BytesIO(doc["data"]))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Porong" in text and "0.000 %" in text
    assert "Bad format" not in env.text("/report docx") and "/report pdf" in env.text("/report docx")


def test_crosscheck_against_the_routers_netwatch(env: Env) -> None:
    save_states(env)
    waru = next(row for row in env.router.netwatch if row.get("name") == "Waru")
    waru.update({"status": "down", "since": "2026-11-27 13:30:00"})
    assert env.text("/crosscheck") == (
        "<b>Netwatch cross-check</b> core\n"
        "Status disagrees (1)\n"
        "<pre>site netwatchd since router since\n"
        "Waru UP        09:00 DOWN   13:30</pre>\n"
        "Not comparable yet (1: state unknown or entry disabled): Sidoarjo\n"
        "Only netwatchd watches (1)\n"
        "<pre>site     address\n"
        "loopback 127.0.0.1</pre>\n"
        "Only the router watches (2)\n"
        "<pre>name          address     status\n"
        "Candi         198.18.3.2  up\n"
        "web-kecamatan 198.18.0.10 up</pre>")


def test_menu_sends_a_keyboard_and_inline_buttons_that_work(env: Env) -> None:
    keyboard, inline = env.ask("/menu")
    assert keyboard["reply_markup"]["keyboard"][0][0] == {"text": "/monitor"}
    assert inline["reply_markup"]["inline_keyboard"][0][2]["callback_data"] == "/status"
    env.tg.inject_callback(ADMIN, ADMIN, "/status", inline["message_id"])
    env.poller.run_once(0)
    answered = env.tg.calls("answerCallbackQuery")
    assert len(answered) == 1 and answered[0]["status"] == 200
    assert env.tg.messages(ADMIN)[-1]["text"].startswith("<b>netwatchd status</b>")


def test_a_strangers_button_press_is_refused(env: Env) -> None:
    env.tg.inject_callback(ADMIN, STRANGER, "/dhcp", 1)
    env.poller.run_once(0)
    assert len(env.tg.calls("answerCallbackQuery")) == 1
    assert env.tg.messages(ADMIN)[-1]["text"].startswith("Your Telegram user id is <code>999</code>")
    assert not any(w[0].startswith("/ip/dhcp") for w in env.router.commands)


# --- failures ----------------------------------------------------------------------------------------

def test_router_down_is_one_line_in_the_chat(env: Env) -> None:
    env.router.stop()
    text = env.text("/interface")
    assert text == (f"⚠️ Router core (127.0.0.1:{env.config.routers[0].port}): connection refused on port "
                    f"{env.config.routers[0].port} (is the api service enabled: /ip service print?)")
    assert "lab-secret" not in text
    assert audit(env)[-1]["outcome"].startswith("router error: ")


def test_wrong_router_password_is_one_line_without_the_password(env: Env, tmp_path: Path) -> None:
    bad = replace(env.config, routers=(replace(env.config.routers[0], password="wrong-secret-123"),))
    pool = RouterPool(bad.routers)
    poller = BotPoller(env.db, bad, env.clock, api=env.api, routers=pool, probe_fn=loopback_only_probe)
    env.poller = poller
    try:
        text = env.text("/dhcp")
    finally:
        poller.stop()
        pool.close()
    assert text.startswith("⚠️ Router core (127.0.0.1:") and "login refused for user 'netwatchd'" in text
    assert "\n" not in text and "wrong-secret-123" not in text


def test_a_slow_router_times_out_and_does_not_hold_up_other_admins(env: Env) -> None:
    env.poller.command_timeout = 1.0
    env.router.set_fault("slow", delay=1.8, commands={"/interface/print"})
    env.tg.inject_message(ADMIN, ADMIN, "/interface")
    env.tg.inject_message(OTHER_ADMIN, OTHER_ADMIN, "/monitor")
    env.poller.run_once(0)
    interface, monitor = env.tg.messages(ADMIN)[0], env.tg.messages(OTHER_ADMIN)[0]
    assert interface["text"] == "⚠️ /interface did not finish within 1 s."
    assert monitor["text"].startswith("<b>Monitor</b>")
    assert monitor["at"] < interface["at"]
    assert {r["user_id"]: r["outcome"] for r in audit(env)} == {ADMIN: "timeout", OTHER_ADMIN: "ok"}


def test_long_replies_are_split_at_4096(env: Env) -> None:
    many = tuple(HostSpec(f"kecamatan-site-{i:03d}", f"198.18.{i // 250}.{i % 250 + 1}", group=f"group-{i // 40}")
                 for i in range(400))
    env.poller.replace_config(replace(env.config, hosts=many))
    replies = env.ask("/monitor")
    assert len(replies) >= 3
    assert all(len(r["text"]) <= 4096 for r in replies)
    assert all(r["text"].count("<pre>") == r["text"].count("</pre>") for r in replies)
    shown = "".join(TAG.sub("", r["text"]) for r in replies)
    assert all(f"kecamatan-site-{i:03d}" in shown for i in range(400))


def test_a_409_conflict_is_explained_and_retried_later(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    env.poller.run_once(0)      # start-up calls done
    result: list[int] = []
    polling = threading.Thread(target=lambda: result.append(env.poller.run_once(3)))
    with caplog.at_level(logging.ERROR, logger="netwatchd.bot.poller"):
        polling.start()
        assert wait_until(lambda: len(env.tg.calls("getUpdates")) >= 2)
        TelegramAPI(env.tg.api_url, env.tg.token).get_updates(None, 0)   # a second poller on the token
        polling.join(5)
    assert result == [0]
    assert env.poller.next_delay == 30.0
    assert "another netwatchd or bot is polling this token" in caplog.text
    assert env.tg.token not in caplog.text


def test_network_errors_back_off_exponentially(env: Env) -> None:
    env.poller.run_once(0)
    env.tg.set_outage(True)
    delays = []
    for _ in range(4):
        env.poller.run_once(0)
        delays.append(env.poller.next_delay)
    env.tg.set_outage(False)
    assert delays == [1.0, 2.0, 4.0, 8.0]
    env.poller.run_once(0)
    assert env.poller.next_delay == 0.0


def test_the_background_thread_answers_commands(env: Env) -> None:
    env.poller.poll_timeout = 1
    env.poller.start()
    env.tg.inject_message(ADMIN, ADMIN, "/help")
    replies = env.tg.wait_for_messages(1, timeout=5, chat_id=ADMIN)
    env.poller.stop()
    assert replies and replies[0]["text"].startswith("/menu — show the button menu")


def test_stop_then_start_again_polls_with_one_thread_only(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    env.poller.poll_timeout = 2
    env.poller.start()
    assert wait_until(lambda: bool(env.tg.calls("getUpdates")))
    env.poller.stop(timeout=0.05)            # its long poll is still open
    with caplog.at_level(logging.WARNING, logger="netwatchd.bot.poller"):
        env.poller.start()
        env.tg.inject_message(ADMIN, ADMIN, "/help")
        replies = env.tg.wait_for_messages(1, timeout=5, chat_id=ADMIN)
        env.poller.stop(timeout=3)
    assert len(replies) == 1 and replies[0]["text"].startswith("/menu")
    assert "another netwatchd" not in caplog.text     # the abandoned poll's 409 is not a conflict
    assert len(env.tg.messages(ADMIN)) == 1


def test_an_unexpected_error_is_one_line_and_lab_sites_get_no_packet(env: Env) -> None:
    """The loopback guard raises inside the command: the admin gets one line, no traceback, and the
    lab address (which exists only inside namespaces) is never pinged from here."""
    text = env.text("/ping porong 1")
    assert text == "⚠️ The command failed inside netwatchd; the log has the details."


def test_no_secret_in_logs_or_chat(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        env.ask("/help")
        env.ask("/interface@core")
        env.ask("/monitor", user=STRANGER)
        env.router.stop()
        env.ask("/dhcp")
        env.tg.set_outage(True)
        env.poller.run_once(0)
        env.tg.set_outage(False)
    written = caplog.text + "".join(m["text"] for m in env.tg.messages())
    written += "".join(str(r) for r in audit(env))
    assert env.tg.token not in written and env.tg.token.split(":", 1)[1] not in written
    assert "lab-secret" not in written


def test_commands_that_time_out_do_not_leave_store_connections_behind(env: Env) -> None:
    """Each deadline answer runs in its own timer thread: its audit write must not open a store
    connection that is kept until stop (a hanging router would leak file descriptors until the
    whole agent, probes and alerts included, runs out of them)."""
    env.poller.command_timeout = 0.2
    env.router.set_fault("slow", delay=0.5, commands={"/interface/print"})
    opened_before = len(env.poller._connections._opened)
    for _ in range(4):
        env.tg.inject_message(ADMIN, ADMIN, "/interface")
        env.poller.run_once(0)
    texts = [m["text"] for m in env.tg.messages(ADMIN)]
    assert texts == ["⚠️ /interface did not finish within 0.2 s."] * 4
    assert {r["outcome"] for r in audit(env)} == {"timeout"}
    assert len(env.poller._connections._opened) <= opened_before + 2   # the pools' threads, not one per timeout


def test_a_day_long_telegram_outage_keeps_the_backoff_at_its_ceiling(env: Env) -> None:
    """~1,000 failed polls (about 17 h at the 60 s ceiling): the delay must stay 60 s; 2**1024
    overflowed a float, the loop's own error handler raised again and the poll thread died."""
    env.poller.run_once(0)
    env.tg.set_outage(True)
    env.poller.poll_failures = 1100
    env.poller.run_once(0)
    assert env.poller.next_delay == 60.0
    env.tg.set_outage(False)
    env.poller.run_once(0)
    assert env.poller.next_delay == 0.0
