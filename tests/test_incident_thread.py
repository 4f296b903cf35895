"""An outage as one conversation, driven step by step: the real agent (FakeClock, no threads), a
real SQLite store, the command bot and the delivery worker talking HTTP to the Bot API stand-in.
Only the network is replaced (a table of which site answers). Hours pass in milliseconds."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netwatchd.app import Agent
from netwatchd.clock import FakeClock
from netwatchd.config.model import (
    Config,
    EscalationLevel,
    HostSpec,
    RateLimitSpec,
    Route,
    RouteMatch,
    TelegramSpec,
    WebSpec,
)
from netwatchd.engine.incidents import callback_data, parse_callback
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.store import incident_repo
from netwatchd.store.audit_repo import recent_audit
from test_app import Network

TOKEN = "123456:TEST-token-for-the-stand-in-0000000000"
CHAT = -1001234567890
ESCALATION = -1002222000000
DISTRICT = -1004444000000
ADMIN, VIEWER, STRANGER = 42, 43, 999


def site(name: str, parent: str | None = "core", group: str = "kecamatan", **kw: Any) -> HostSpec:
    return HostSpec(name=name, address=f"198.18.{abs(hash(name)) % 250 + 1}.2", parent=parent, group=group,
                    interval=10.0, timeout=1.0, retry_interval=1.0, down_after=2, up_after=2, **kw)


def make_config(tmp_path: Path, api_url: str, **telegram: Any) -> Config:
    spec = TelegramSpec(token=TOKEN, chat_ids=(CHAT,), admins=(ADMIN,), viewers=(VIEWER,), api_url=api_url,
                        language="en", **telegram)
    hosts = (site("core", None, "core"), site("Waru", reminder_every=600.0), site("Taman"), site("Candi"))
    return Config(path=tmp_path / "hosts.yaml", data_dir=tmp_path / "data", hosts=hosts, telegram=spec,
                  web=WebSpec(enabled=False))


@pytest.fixture
def standin() -> Iterator[TelegramStandIn]:
    with TelegramStandIn(token=TOKEN) as server:
        yield server


class Run:
    """The agent and its bot, stepped by hand."""

    def __init__(self, tmp_path: Path, standin: TelegramStandIn, net: Network | None = None, **telegram: Any) -> None:
        self.clock = FakeClock()
        self.net = net or Network()
        self.tg = standin
        self.config = make_config(tmp_path, standin.api_url, **telegram)
        self.agent = Agent(self.config, clock=self.clock, probe_fn=self.net.probe)
        self.settle(12)

    def settle(self, seconds: float, step: float = 0.5) -> None:
        for _ in range(int(seconds / step)):
            self.clock.advance(step)
            self.agent.probe_once()
            self.agent.tick_once()
            self.deliver()

    def deliver(self) -> None:
        for _ in range(20):
            if not self.agent.deliver_once():
                return
            self.clock.advance(1.1)        # Telegram's pace: a message per second per chat

    def press(self, message: dict[str, Any], action: str, user: int, username: str = "admin",
              site: str | None = None) -> dict[str, Any]:
        """Press `action`'s button of `message` (in `site`'s row when it announced several) as `user`;
        returns the toast."""
        rows = message["reply_markup"]["inline_keyboard"]
        if site is not None:
            rows = [row for row in rows if row[0]["text"].endswith(" " + site)]
        data = next(b["callback_data"] for row in rows for b in row if parse_callback(b["callback_data"])[1] == action)
        return self.press_data(message, data, user, username)

    def press_data(self, message: dict[str, Any], data: str, user: int, username: str = "admin") -> dict[str, Any]:
        before = len(self.tg.callback_answers())
        self.tg.inject_callback(message["chat_id"], user, data, message["message_id"], username=username)
        assert self.agent.bot.run_once() == 1
        answers = self.tg.wait_for_answers(before + 1, 2.0)
        assert len(answers) == before + 1, "the press was not answered"
        self.deliver()
        return answers[-1]

    def messages(self, chat: int = CHAT) -> list[dict[str, Any]]:
        return self.tg.messages(chat)

    def root(self, host: str, chat: int = CHAT) -> dict[str, Any]:
        return next(m for m in self.messages(chat) if m["reply_markup"]
                    and (f"<b>{host} " in m["text"] or f"<b>{host}</b>" in m["text"]))


def first_lines(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"].split("\n")[0] for m in messages]


def buttons(message: dict[str, Any]) -> list[str]:
    markup = message["reply_markup"] or {"inline_keyboard": []}
    return [b["text"] for row in markup["inline_keyboard"] for b in row]


def test_ack_edits_the_alert_stops_reminders_and_escalation_and_the_up_replies_in_its_thread(tmp_path, standin):
    run = Run(tmp_path, standin, escalate=(EscalationLevel(after=900.0, chat_ids=(ESCALATION,)),))
    run.net.down.add("Waru")
    run.settle(6)
    [alert] = run.messages()
    assert alert["text"].startswith("🔴 <b>Waru DOWN</b>")
    assert buttons(alert) == ["✅ Ack", "🔕 1 h", "🔍 Diagnose", "📈 History"]
    assert all(len(b["callback_data"].encode()) <= 64 for row in alert["reply_markup"]["inline_keyboard"]
               for b in row)

    toast = run.press(alert, "ack", ADMIN)
    assert toast["text"] == "✅ Waru: acknowledged"
    [edited] = run.messages()
    assert edited["message_id"] == alert["message_id"] and edited["edits"] == 1
    assert edited["text"].startswith(alert["text"])
    assert edited["text"].endswith("\n\n✅ acknowledged by @admin, 08:00 WIB")
    assert buttons(edited) == ["🔍 Diagnose", "📈 History"]

    run.settle(1800)                                   # 3 reminder periods, 2 escalation times
    assert first_lines(run.messages()) == ["🔴 <b>Waru DOWN</b>"], "no reminder after an ack"
    assert run.messages(ESCALATION) == [], "no escalation after an ack"
    run.press(run.root("Waru"), "history", ADMIN)
    history = run.messages()[-1]["text"]
    assert history.count("reminder DOWN 🔕") == 3, history           # recorded, not sent
    assert re.search(r"DOWN +✅ @admin 08:00 +…", history), history    # who acknowledged it

    run.net.down.clear()
    run.settle(12)
    messages = [m for m in run.messages() if not m["text"].startswith("<b>History</b>")]
    assert first_lines(messages) == ["🔴 <b>Waru DOWN</b>", "🟢 <b>Waru UP</b>"]
    assert messages[1]["reply_to"] == alert["message_id"]
    assert re.search(r"\n\n✅ acknowledged by @admin, 08:00 WIB\n🟢 resolved after 30 min \d+ s$", messages[0]["text"])
    assert buttons(messages[0]) == ["📈 History"]
    records = [json.loads(line) for line in run.agent.worker.timing.path.read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds == ["alert", "edit", "reply", "edit"]


def test_nobody_acks_the_escalation_chat_gets_the_outage_so_far_and_the_thread_a_note(tmp_path, standin):
    run = Run(tmp_path, standin, escalate=(EscalationLevel(after=900.0, chat_ids=(ESCALATION,)),
                                           EscalationLevel(after=3600.0, chat_ids=(DISTRICT,))))
    run.net.down.add("Taman")
    run.settle(6)
    alert = run.root("Taman")
    run.settle(890)
    assert run.messages(ESCALATION) == []
    run.settle(20)
    [escalated] = run.messages(ESCALATION)
    lines = escalated["text"].split("\n")
    assert lines[0] == "⏫ <b>Taman DOWN</b> — not acknowledged after 15 min"
    assert "Escalation level 1/2. Told before: chat -1001234567890 at" in escalated["text"]
    assert "nobody has acknowledged it" in escalated["text"]
    assert buttons(escalated) == ["✅ Ack", "🔕 1 h", "🔍 Diagnose", "📈 History"]
    note = run.messages()[-1]
    assert note["reply_to"] == alert["message_id"]
    assert note["text"].startswith("⏫ <b>Taman</b> not acknowledged after 15 min: escalated to chat "
                                   "-1002222000000 (level 1/2)")

    toast = run.press(escalated, "ack", ADMIN, username="budi")       # acked from the escalation chat
    assert toast["text"] == "✅ Taman: acknowledged"
    assert run.messages(ESCALATION)[0]["text"].endswith("✅ acknowledged by @budi, 08:15 WIB")
    assert run.root("Taman")["text"].endswith("✅ acknowledged by @budi, 08:15 WIB"), "every root shows it"
    run.settle(3600)
    assert run.messages(DISTRICT) == [], "an ack stops the levels not yet sent"
    run.net.down.clear()
    run.settle(12)
    up = run.messages(ESCALATION)[-1]
    assert up["text"].startswith("🟢 <b>Taman UP</b>") and up["reply_to"] == escalated["message_id"]


def test_a_recovery_before_the_level_is_due_cancels_it_and_the_levels_survive_a_restart(tmp_path, standin):
    run = Run(tmp_path, standin, escalate=(EscalationLevel(after=900.0, chat_ids=(ESCALATION,)),))
    run.net.down.add("Candi")
    run.settle(300)
    run.agent = Agent(run.config, clock=run.clock, probe_fn=run.net.probe)   # kill -9 and start again
    run.settle(700)
    assert len(run.messages(ESCALATION)) == 1, "the due time was kept in the store"
    run.net.down.add("Waru")
    run.settle(300)
    run.net.down.clear()
    run.settle(1200)
    assert len(run.messages(ESCALATION)) == 2, "Waru recovered before its level: only Candi's UP came"
    assert run.messages(ESCALATION)[1]["text"].startswith("🟢 <b>Candi UP</b>")


def test_viewers_may_only_look_and_strangers_and_forged_buttons_change_nothing(tmp_path, standin):
    run = Run(tmp_path, standin)
    run.net.down.add("Waru")
    run.settle(6)
    run.net.down.add("Taman")
    run.settle(12)
    waru, taman = run.root("Waru"), run.root("Taman")
    assert waru["message_id"] != taman["message_id"]

    assert run.press(waru, "ack", VIEWER, "vera")["text"] == "Viewers may look (📈 History), not act"
    assert run.press(waru, "ack", STRANGER, "mallory")["text"] == \
        "Not allowed: your id 999 is not in telegram.admins"
    forged = callback_data("AAAAAAAAAAAAAAAA", "ack")
    assert run.press_data(waru, forged, ADMIN)["text"] == "This button is not valid (here) any more"
    taman_ack = next(b["callback_data"] for row in taman["reply_markup"]["inline_keyboard"] for b in row
                     if b["text"] == "✅ Ack")
    assert run.press_data(waru, taman_ack, ADMIN)["text"] == "This button is not valid (here) any more", \
        "Taman's button data on Waru's message is refused"
    assert run.press_data(waru, "nw1:junk", ADMIN)["text"] == "This button is not valid (here) any more"
    assert run.root("Waru")["edits"] == 0 and run.root("Taman")["edits"] == 0
    with run.agent._conn() as conn:
        assert all(i.acked_at is None for i in incident_repo.open_incidents(conn).values())

    history = run.press(waru, "history", VIEWER, "vera")
    assert history["text"] == "📈 History of Waru…"
    reply = run.messages()[-1]
    assert reply["reply_to"] == waru["message_id"] and reply["text"].startswith("<b>History</b> of Waru")
    assert "not acknowledged" in reply["text"]

    audit = [(r["user_id"], r["outcome"]) for r in reversed(recent_audit(run.agent._conn()))]
    assert audit == [(VIEWER, "refused: viewers may only read"), (STRANGER, "refused: not allowed"),
                     (ADMIN, "refused: not this message's button"), (ADMIN, "refused: not this message's button"),
                     (ADMIN, "refused: not this message's button"), (VIEWER, "ok")]
    incident_ids = [r["incident_id"] for r in reversed(recent_audit(run.agent._conn()))]
    waru_id = incident_repo.open_for(run.agent._conn(), "Waru").id
    assert incident_ids == [waru_id, waru_id, None, incident_repo.open_for(run.agent._conn(), "Taman").id,
                            None, waru_id]


def test_snooze_holds_reminders_and_escalation_for_an_hour_then_they_resume(tmp_path, standin):
    run = Run(tmp_path, standin, escalate=(EscalationLevel(after=900.0, chat_ids=(ESCALATION,)),))
    run.net.down.add("Waru")
    run.settle(6)
    alert = run.root("Waru")
    toast = run.press(alert, "snooze", ADMIN)
    assert toast["text"] == "🔕 Waru: snoozed until 09:00"
    assert run.root("Waru")["text"].endswith("🔕 snoozed by @admin until 09:00 WIB")
    assert buttons(run.root("Waru")) == ["✅ Ack", "🔕 1 h", "🔍 Diagnose", "📈 History"]
    run.settle(3590)
    assert first_lines(run.messages()) == ["🔴 <b>Waru DOWN</b>"] and run.messages(ESCALATION) == []
    run.settle(20)
    assert len(run.messages(ESCALATION)) == 1, "the level whose time passed is sent when the snooze ends"
    run.settle(600)
    reminders = [m for m in run.messages() if m["text"].startswith("🔴 <b>Waru still DOWN</b>")]
    assert reminders and all(m["reply_to"] == alert["message_id"] for m in reminders)


def test_ack_and_snooze_from_text_do_the_same_as_the_buttons(tmp_path, standin):
    run = Run(tmp_path, standin)
    run.net.down.update({"Waru", "Taman"})
    run.settle(6)

    def ask(text: str, user: int = ADMIN) -> str:
        before = len(run.messages(user))
        run.tg.inject_message(user, user, text)
        run.agent.bot.run_once()
        run.deliver()
        return "\n".join(m["text"] for m in run.messages(user)[before:])

    listing = ask("/ack")
    assert "<b>Open outages</b> (2)" in listing and "Taman" in listing and "not acknowledged" in listing
    assert ask("/ack waru") == ("✅ Waru acknowledged by @admin: reminders and escalation stop; the recovery "
                                "will still be announced.")
    assert run.root("Waru")["text"].endswith("✅ acknowledged by @admin, 08:00 WIB")
    assert ask("/ack Waru").startswith("Waru was already acknowledged by @admin at")
    assert ask("/snooze Taman 2h") == ("🔕 Taman snoozed by @admin until 10:00: no reminder and no escalation "
                                       "until then.")
    assert ask("/ack Candi") == "Candi has no open outage."
    assert ask("/ack Waru", VIEWER).startswith("Viewers may read")
    audit = [(r["command"], r["outcome"]) for r in reversed(recent_audit(run.agent._conn()))]
    assert audit[1:5] == [("/ack waru", "acknowledged"), ("/ack Waru", "already acknowledged"),
                          ("/snooze Taman 2h", "snoozed"), ("/ack Candi", "refused: no open outage")]


def test_routes_send_a_site_to_its_forum_topic_and_the_cores_fold_to_every_routed_chat(tmp_path, standin):
    topic = standin.create_forum_topic(DISTRICT, "Kecamatan Waru")
    run = Run(tmp_path, standin,
              routes=(Route(match=(RouteMatch(host="Waru"),), chat_ids=(DISTRICT,), thread_id=topic),))
    run.net.down.add("Waru")
    run.settle(6)
    [alert] = run.messages(DISTRICT)
    assert alert["thread_id"] == topic and alert["text"].startswith("🔴 <b>Waru DOWN</b>")
    assert run.messages(CHAT) == []
    run.net.down.clear()
    run.settle(12)
    up = run.messages(DISTRICT)[-1]
    assert up["thread_id"] == topic and up["reply_to"] == alert["message_id"]

    run.net.down.add("core")
    run.settle(8)
    [core_main] = run.messages(CHAT)
    core_district = run.messages(DISTRICT)[-1]
    assert core_main["text"].startswith("🔴 <b>core DOWN</b> — 3 sites unreachable")
    assert core_district["text"] == core_main["text"] and core_district["thread_id"] == topic
    assert buttons(core_district) == ["✅ Ack", "🔕 1 h", "🔍 Diagnose", "📈 History"]


def test_a_deleted_alert_or_a_closed_topic_never_loses_the_news(tmp_path, standin):
    topic = standin.create_forum_topic(DISTRICT, "Kecamatan Waru")
    run = Run(tmp_path, standin,
              routes=(Route(match=(RouteMatch(host="Waru"),), chat_ids=(DISTRICT,), thread_id=topic),))
    run.net.down.update({"Waru", "Taman"})
    run.settle(6)
    taman = run.root("Taman")
    run.tg.delete_message(CHAT, taman["message_id"])
    run.press(taman, "ack", ADMIN)
    news = run.messages()[-1]
    assert news["text"] == "✅ <b>Taman</b> acknowledged by @admin, 08:00 WIB" and news["reply_to"] is None
    run.tg.close_forum_topic(DISTRICT, topic)
    run.net.down.clear()
    run.settle(12)
    waru_up = run.messages(DISTRICT)[-1]
    assert waru_up["text"].startswith("🟢 <b>Waru UP</b>") and waru_up["thread_id"] is None
    taman_up = next(m for m in run.messages() if m["text"].startswith("🟢 <b>Taman UP</b>"))
    assert taman_up["reply_to"] is None, "the root is gone: the UP is an ordinary message"
    records = [json.loads(line) for line in run.agent.worker.timing.path.read_text().splitlines()]
    assert [r["outcome"] for r in records if r["kind"] == "edit" and r["host"] == "Taman"] == [
        "root gone: sent as a new message", "root gone"]


def test_a_site_whose_recovery_folds_into_its_parents_up_has_its_outage_ended_there(tmp_path, standin):
    run = Run(tmp_path, standin)
    run.net.down.add("Waru")
    run.settle(6)
    waru = run.root("Waru")
    run.net.down.add("core")
    run.settle(8)
    run.net.down.clear()
    run.settle(20)
    ups = [m for m in run.messages() if m["text"].startswith("🟢 <b>core UP</b>")]
    assert len(ups) == 1 and "Waru" in ups[0]["text"].split("\n")[0], run.messages()
    assert re.search(r"🟢 resolved after \d+ s$", run.root("Waru")["text"]), "Waru's root is edited at once"
    assert buttons(run.root("Waru")) == ["📈 History"]
    assert incident_repo.open_incidents(run.agent._conn()) == {}
    assert waru["message_id"] == run.root("Waru")["message_id"]


def test_outages_announced_together_share_one_root_with_a_row_of_buttons_per_site(tmp_path, standin):
    run = Run(tmp_path, standin)
    run.net.down.update({"Waru", "Taman", "Candi"})
    run.settle(6)
    [root] = run.messages()
    assert root["text"].startswith("🔴 <b>3 sites DOWN</b>\n🔴 <b>Waru</b>")
    assert [[b["text"] for b in row] for row in root["reply_markup"]["inline_keyboard"]] == [
        ["✅ Waru", "🔕 1 h", "🔍 Diagnose", "📈 History"], ["✅ Taman", "🔕 1 h", "🔍 Diagnose", "📈 History"],
        ["✅ Candi", "🔕 1 h", "🔍 Diagnose", "📈 History"]]
    assert run.press(root, "ack", ADMIN, site="Taman")["text"] == "✅ Taman: acknowledged"
    edited = run.messages()[0]
    assert edited["text"].endswith("\n\n<b>Taman</b>: ✅ acknowledged by @admin, 08:00 WIB")
    assert [[b["text"] for b in row] for row in edited["reply_markup"]["inline_keyboard"]] == [
        ["✅ Waru", "🔕 1 h", "🔍 Diagnose", "📈 History"], ["🔍 Taman", "📈 History"],
        ["✅ Candi", "🔕 1 h", "🔍 Diagnose", "📈 History"]]
    run.net.down.clear()
    run.settle(12)
    messages = run.messages()
    assert first_lines(messages) == ["🔴 <b>3 sites DOWN</b>", "🟢 <b>3 sites UP</b>"], "the UPs together, too"
    assert messages[1]["reply_to"] == root["message_id"], "all three reply to their common root"
    final = messages[0]["text"]
    assert re.search(r"<b>Waru</b>: 🟢 resolved after \d+ s\n<b>Taman</b>: ✅ acknowledged by @admin, 08:00 WIB\n"
                     r"<b>Taman</b>: 🟢 resolved after \d+ s\n<b>Candi</b>: 🟢 resolved after \d+ s$", final), final
    edits = [json.loads(line) for line in run.agent.worker.timing.path.read_text().splitlines()]
    assert [(r["kind"], r.get("reasons")) for r in edits] == [
        ("alert", None), ("edit", ["ack"]), ("reply", None), ("edit", ["resolve"])], "one edit for all three"


def test_two_outages_at_once_keep_a_thread_each(tmp_path, standin):
    run = Run(tmp_path, standin)
    run.net.down.update({"Waru", "Taman"})
    run.settle(6)
    waru, taman = run.root("Waru"), run.root("Taman")
    assert waru["message_id"] != taman["message_id"] and buttons(waru) == buttons(taman)
    run.net.down.clear()
    run.settle(12)
    ups = [m for m in run.messages() if m["text"].startswith("🟢")]
    assert sorted((m["text"].split("\n")[0], m["reply_to"]) for m in ups) == sorted([
        ("🟢 <b>Waru UP</b>", waru["message_id"]), ("🟢 <b>Taman UP</b>", taman["message_id"])])


def test_an_edit_telegram_keeps_refusing_never_holds_the_chats_alerts(tmp_path, standin):
    run = Run(tmp_path, standin)
    run.net.down.add("Waru")
    run.settle(6)
    standin.fail_next(1000, "5xx", method="editMessageText")
    run.press(run.root("Waru"), "ack", ADMIN)
    run.net.down.add("Taman")
    run.settle(12)
    assert first_lines(run.messages()) == ["🔴 <b>Waru DOWN</b>", "🔴 <b>Taman DOWN</b>"]
    assert run.root("Waru")["edits"] == 0 and len(standin.calls("editMessageText")) >= 2, "retried meanwhile"
    standin.clear_faults()
    run.settle(20)
    assert run.root("Waru")["text"].endswith("✅ acknowledged by @admin, 08:00 WIB")


def test_a_site_removed_by_a_reload_during_its_outage_is_not_escalated_any_more(tmp_path, standin):
    import dataclasses

    run = Run(tmp_path, standin, escalate=(EscalationLevel(after=900.0, chat_ids=(ESCALATION,)),))
    run.net.down.add("Candi")
    run.settle(6)
    assert run.root("Candi")
    smaller = dataclasses.replace(run.config, hosts=tuple(h for h in run.config.hosts if h.name != "Candi"))
    assert run.agent.apply_config(smaller).removed == ("Candi",)
    run.settle(1000)
    assert run.messages(ESCALATION) == [], "no recovery can end it: its escalation stops instead"


class StoreLocked:
    """Another process's write transaction on the store: the agent's and the bot's writes fail at once."""

    def __init__(self, run: Run) -> None:
        run.agent.store_health.patience_s = 0
        self.blocker = run.agent.db.connect()

    def __enter__(self) -> StoreLocked:
        self.blocker.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.blocker.execute("ROLLBACK")
        self.blocker.close()


def test_an_outage_that_began_while_the_store_failed_gets_its_buttons_once_it_is_saved(tmp_path, standin):
    run = Run(tmp_path, standin, escalate=(EscalationLevel(after=900.0, chat_ids=(ESCALATION,)),))
    with StoreLocked(run):
        run.net.down.add("Waru")
        run.settle(6)
        [alert] = run.messages()
        assert alert["text"].startswith("🔴 <b>Waru DOWN</b>") and alert["reply_markup"] is None, "from memory"
    run.settle(2)                                      # saved: the incident opens, an edit adds its buttons
    [alert] = run.messages()
    assert buttons(alert) == ["✅ Ack", "🔕 1 h", "🔍 Diagnose", "📈 History"] and alert["edits"] == 1
    assert run.press(alert, "ack", ADMIN)["text"] == "✅ Waru: acknowledged"
    run.settle(1000)
    assert run.messages(ESCALATION) == [] and run.messages()[0]["text"].endswith("✅ acknowledged by @admin, 08:00 WIB")
    run.net.down.clear()
    run.settle(12)
    assert run.messages()[-1]["text"].startswith("🟢 <b>Waru UP</b>")
    assert run.messages()[-1]["reply_to"] == alert["message_id"]


def test_a_press_the_failing_store_cannot_record_is_told_so_at_once_and_changes_nothing(tmp_path, standin):
    run = Run(tmp_path, standin)
    run.net.down.add("Waru")
    run.settle(6)
    alert = run.root("Waru")
    with StoreLocked(run):
        toast = run.press(alert, "ack", ADMIN)
        assert toast["text"] == "⚠️ netwatchd's store is failing: not recorded; try again later"
        assert run.agent.bot.run_once() == 0, "not fetched again and again while the store fails"
    assert run.root("Waru")["edits"] == 0
    assert incident_repo.open_for(run.agent._conn(), "Waru").acked_at is None
    assert run.press(alert, "ack", ADMIN)["text"] == "✅ Waru: acknowledged"


def test_an_alert_sent_again_after_a_restart_keeps_its_note_through_every_later_edit(tmp_path, standin):
    """Found by the fault suite (case 6): the edits that bring a root up to date (an Ack, the
    recovery) rewrote its text without "sent again after a restart", so a repeat looked like a
    second outage once it was over."""
    run = Run(tmp_path, standin)
    run.net.down.add("Waru")
    run.settle(6)
    [alert] = run.messages()
    store = sqlite3.connect(run.config.data_dir / "netwatchd.sqlite3")
    try:        # as the recovery of a killed worker's in-flight rows leaves the alert that was sent again
        with store:
            store.execute("UPDATE outbox SET resend=1 WHERE message_id=?", (alert["message_id"],))
    finally:
        store.close()
    run.press(alert, "ack", ADMIN)
    run.net.down.clear()
    run.settle(12)
    root = run.messages()[0]
    assert root["message_id"] == alert["message_id"] and root["edits"] == 2
    assert "acknowledged by @admin" in root["text"] and "resolved after" in root["text"]
    assert root["text"].endswith("\n↻ sent again after a restart — may repeat"), root["text"]
    assert "sent again" not in run.messages()[1]["text"]          # the UP itself was sent once


class LossyNetwork(Network):
    """Network whose `lossy` hosts lose one echo in three (DEGRADED)."""

    def __init__(self) -> None:
        super().__init__()
        self.lossy: set[str] = set()

    def probe(self, hosts: Any, *, clock: FakeClock) -> Any:
        from netwatchd.models import ProbeResult
        results = super().probe(hosts, clock=clock)
        return [ProbeResult.from_rtts(host=r.host, address=r.address, probe="icmp", at=r.at, sent=3,
                                      rtts_ms=[0.4, 0.5]) if r.host in self.lossy and r.host not in self.down
                else r for r in results]


def test_a_burst_with_a_degraded_site_gone_down_is_one_message_and_its_buttons_stay_under_its_own_root(
        tmp_path, standin):
    net = LossyNetwork()
    run = Run(tmp_path, standin, net)
    net.lossy.add("Waru")
    run.settle(30)
    [degraded] = run.messages()
    assert degraded["text"].startswith("🟡 <b>Waru DEGRADED</b>") or "DEGRADED" in degraded["text"].split("\n")[0]
    run.net.down.update({"Waru", "Taman", "Candi"})
    run.settle(6)
    burst = run.messages()[1:]
    assert len(burst) == 1, first_lines(burst)            # one message, not a reply and two roots
    [message] = burst
    assert all(f"<b>{name}</b>" in message["text"] for name in ("Waru", "Taman", "Candi")), message["text"]
    assert message["reply_to"] is None
    rows = [[b["text"] for b in row] for row in message["reply_markup"]["inline_keyboard"]]
    assert [row[0] for row in rows] == ["✅ Taman", "✅ Candi"], rows   # Waru's buttons: under its DEGRADED root
    run.press(message, "ack", ADMIN, site="Candi")
    edited = run.messages()[1]
    assert edited["edits"] == 1 and edited["text"].startswith(message["text"].split("\n\n")[0]), edited["text"]
    assert "<b>Waru</b>" in edited["text"] and edited["text"].endswith(
        "<b>Candi</b>: ✅ acknowledged by @admin, 08:00 WIB"), edited["text"]
    assert run.press(degraded, "ack", ADMIN)["text"] == "✅ Waru: acknowledged"   # its own root acts for it


def test_a_queued_ack_keeps_the_admins_role_and_a_viewer_is_queued_like_an_admin(tmp_path, standin):
    """telegram.rate_limit applies to viewers as to admins (busy, then the answer), and a command
    that waited in the queue runs with the role its sender had: a queued /ack acknowledges."""
    import time

    run = Run(tmp_path, standin, rate_limit=RateLimitSpec(admin_burst=1, admin_per_second=0.5))
    run.net.down.add("Waru")
    run.settle(6)

    def replies(user: int, count: int) -> list[str]:
        deadline = time.monotonic() + 5
        while len(run.messages(user)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return [m["text"] for m in run.messages(user)]

    for text in ("/help", "/ack Waru"):                    # back to back: the second waits its turn
        run.tg.inject_message(ADMIN, ADMIN, text)
    run.agent.bot.run_once()
    texts = replies(ADMIN, 2)
    assert texts[-1] == "⏳ Busy — 1 command queued, about 2 s. /ack runs then; no need to send it again.", texts
    assert "acknowledged" not in run.root("Waru")["text"]
    run.clock.advance(2.1)
    assert run.agent.bot.release_queued() == 1
    assert replies(ADMIN, 3)[-1].startswith("✅ Waru acknowledged by @admin"), run.messages(ADMIN)
    run.deliver()
    assert run.root("Waru")["text"].endswith("✅ acknowledged by @admin, 08:00 WIB")

    for text in ("/history Waru", "/history Waru", "/ack Waru"):
        run.tg.inject_message(VIEWER, VIEWER, text, username="vera")
    run.agent.bot.run_once()
    texts = replies(VIEWER, 3)
    assert [t for t in texts if t.startswith("<b>History</b>")], texts
    assert "⏳ Busy — 1 command queued, about 2 s. /history runs then; no need to send it again." in texts, texts
    assert any(t.startswith("Viewers may read") for t in texts), texts      # refused at once, never queued
    run.clock.advance(2.1)
    assert run.agent.bot.release_queued() == 1
    assert replies(VIEWER, 4)[-1].startswith("<b>History</b>"), "the viewer's queued /history is answered"
    outcomes = [(r["user_id"], r["command"], r["outcome"]) for r in reversed(recent_audit(run.agent._conn()))]
    assert (ADMIN, "/ack Waru", "acknowledged") in outcomes, outcomes
    assert sorted(o for u, c, o in outcomes if u == VIEWER) == ["ok", "ok", "refused: viewers may only read"], outcomes
