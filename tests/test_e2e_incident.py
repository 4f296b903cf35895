"""End to end: an outage as one conversation, with `netwatchd run` as a real process in the lab's
monitor namespace, real ICMP over veth pairs, and the Bot API stand-in where the admins press.

Timing: interval 1 s, timeout 500 ms, retry 500 ms, down_after 2 -> a DOWN about 2 s after a cut.
One escalation level, 8 s after an outage opens (short, so the test can watch it happen).
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from netwatchd.lab.topology import LabTiming

pytestmark = pytest.mark.netns

TIMING = LabTiming(interval=1.0, timeout=0.5, retry_interval=0.5, down_after=2, up_after=2, count=3)
SITES = ["Waru", "Taman", "Candi"]
ESCALATION = -1002222000000
ESCALATE_AFTER = 8.0
VIEWER, STRANGER = 222333, 999888


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from conftest import require_lab

    require_lab()
    from netwatchd.lab.harness import LabRun

    extra = {"viewers": [VIEWER], "escalate": [{"after": f"{ESCALATE_AFTER:g}s", "chat_ids": [ESCALATION]}]}
    with LabRun(SITES, timing=TIMING, workdir=tmp_path_factory.mktemp("e2e-incident"),
                telegram_extra=extra) as lab_run:
        lab_run.ensure_running()
        yield lab_run


@pytest.fixture
def healthy(run: Any) -> Iterator[Any]:
    """The shared run with every site UP and the agent running, before and after the test."""
    run.ensure_running()
    yield run
    run.telegram.clear_faults()
    for site in SITES:
        run.restore(site)
    run.ensure_running(20)


def wait(what: str, found: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = found()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.05)


def root_of(run: Any, host: str, chat: int | None = None, *, after: int = 0) -> dict[str, Any]:
    """The first message with buttons announcing `host` (in the admins' chat, or `chat`)."""
    from netwatchd.lab.harness import LAB_CHAT_ID

    messages = run.telegram.messages(chat or LAB_CHAT_ID)[after:]
    return next((m for m in messages if m["reply_markup"] and f"<b>{host} " in m["text"]), {})


def test_ack_from_the_alert_edits_it_and_stops_escalation_and_the_up_replies_to_it(healthy):
    run = healthy
    from netwatchd.lab.harness import LAB_CHAT_ID

    start = len(run.alerts())
    run.cut("Waru")
    alert = wait("DOWN with buttons", lambda: root_of(run, "Waru", after=start), TIMING.bound + 3)
    assert alert["text"].startswith("🔴 <b>Waru DOWN</b>")
    assert [b["text"] for row in alert["reply_markup"]["inline_keyboard"] for b in row] == [
        "✅ Ack", "🔕 1 h", "🔍 Diagnose", "📈 History"]

    assert run.press(alert, "ack", VIEWER, username="vera")["text"] == "Viewers may look (📈 History), not act"
    assert run.press(alert, "ack", STRANGER, username="mallory")["text"] == \
        f"Not allowed: your id {STRANGER} is not in telegram.admins"
    assert run.message(LAB_CHAT_ID, alert["message_id"])["edits"] == 0, "their presses change nothing"

    pressed = time.time()
    toast = run.press(alert, "ack", username="budi")
    assert toast["text"] == "✅ Waru: acknowledged" and toast["at"] - pressed < 1.0
    edited = wait("the edit", lambda: run.message(LAB_CHAT_ID, alert["message_id"])["edits"] == 1 and
                  run.message(LAB_CHAT_ID, alert["message_id"]), 3)
    assert re.search(r"\n\n✅ acknowledged by @budi, \d\d:\d\d WIB$", edited["text"])
    assert [b["text"] for row in edited["reply_markup"]["inline_keyboard"] for b in row] == [
        "🔍 Diagnose", "📈 History"]

    time.sleep(ESCALATE_AFTER + 2)
    assert run.telegram.messages(ESCALATION) == [], "an ack stops the escalation"
    waru = [m for m in run.alerts()[start:] if "Waru" in m["text"].split("\n")[0]]
    assert [m["message_id"] for m in waru] == [alert["message_id"]], "nothing more about Waru meanwhile"

    run.restore("Waru")
    up = wait("the UP", lambda: next((m for m in run.alerts()[start:] if m["text"].startswith("🟢 <b>Waru UP</b>")),
                                     None), TIMING.bound + 6)
    assert up["reply_to"] == alert["message_id"], "the UP is a reply in the outage's thread"
    final = wait("the resolve edit", lambda: "resolved after" in run.message(LAB_CHAT_ID, alert["message_id"])["text"]
                 and run.message(LAB_CHAT_ID, alert["message_id"]), 3)
    assert re.search(r"✅ acknowledged by @budi, \d\d:\d\d WIB\n🟢 resolved after \d+ s$", final["text"])
    assert [b["text"] for row in final["reply_markup"]["inline_keyboard"] for b in row] == ["📈 History"]


def test_nobody_acks_the_escalation_chat_gets_it_and_the_recovery_reaches_both_threads(healthy):
    run = healthy
    from netwatchd.lab.harness import LAB_CHAT_ID

    start = len(run.alerts())
    run.cut("Taman")
    alert = wait("DOWN", lambda: root_of(run, "Taman", after=start), TIMING.bound + 3)
    opened = time.time()
    escalated = wait("the escalation", lambda: root_of(run, "Taman", ESCALATION), ESCALATE_AFTER + 4)
    assert escalated["at"] - opened >= ESCALATE_AFTER - 2.5, "not before its time"
    assert escalated["text"].startswith("⏫ <b>Taman DOWN</b> — not acknowledged after")
    assert f"Told before: chat {LAB_CHAT_ID}" in escalated["text"]
    note = wait("the note in the thread", lambda: next(
        (m for m in run.alerts()[start:] if m["text"].startswith("⏫ <b>Taman</b>")), None), 3)
    assert note["reply_to"] == alert["message_id"]

    run.restore("Taman")
    wait("UP in the escalation chat", lambda: any(m["text"].startswith("🟢 <b>Taman UP</b>")
                                                  for m in run.telegram.messages(ESCALATION)), TIMING.bound + 6)
    up = next(m for m in run.alerts()[start:] if m["text"].startswith("🟢 <b>Taman UP</b>"))
    assert up["reply_to"] == alert["message_id"]
    escalation_up = next(m for m in run.telegram.messages(ESCALATION) if m["text"].startswith("🟢 <b>Taman UP</b>"))
    assert escalation_up["reply_to"] == escalated["message_id"]
    for chat, root in ((LAB_CHAT_ID, alert), (ESCALATION, escalated)):
        wait("the root's resolve edit",
             lambda c=chat, r=root: "resolved after" in run.message(c, r["message_id"])["text"], 3)


def test_kill_9_between_a_press_and_its_edit_the_edit_still_happens_once(healthy):
    run = healthy
    from netwatchd.lab.harness import LAB_CHAT_ID

    start = len(run.alerts())
    run.cut("Candi", "interface")
    alert = wait("DOWN", lambda: root_of(run, "Candi", after=start), TIMING.bound + 3)
    run.telegram.fail_next(1000, "5xx", method="editMessageText")       # the edit cannot get through
    tried = len(run.telegram.calls("editMessageText"))
    assert run.press(alert, "ack")["text"] == "✅ Candi: acknowledged"
    wait("a refused edit", lambda: len(run.telegram.calls("editMessageText")) > tried, 3)
    run.kill_agent()
    assert run.agent.returncode == -signal.SIGKILL
    run.telegram.clear_faults()
    assert run.message(LAB_CHAT_ID, alert["message_id"])["edits"] == 0
    run.start_agent()
    edited = wait("the edit after the restart", lambda: run.message(LAB_CHAT_ID, alert["message_id"])["edits"] and
                  run.message(LAB_CHAT_ID, alert["message_id"]), 10)
    assert edited["text"].endswith(" WIB") and "✅ acknowledged by @admin" in edited["text"]
    time.sleep(2)
    assert run.message(LAB_CHAT_ID, alert["message_id"])["edits"] == 1, "once"
    time.sleep(ESCALATE_AFTER)
    assert root_of(run, "Candi", ESCALATION) == {}, "the ack survived the crash: no escalation"
