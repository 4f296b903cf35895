"""The delivery worker against the Bot API stand-in over real HTTP, with a real SQLite file.

Time is a FakeClock (pacing, backoff, retry_after are exact and instant); only the
multi-thread tests (slow chat, stop) use the system clock, with sub-second waits.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from itertools import pairwise

import pytest

from netwatchd.clock import Backoff, SystemClock, utc_ms
from netwatchd.models import State, Transition
from netwatchd.notify.outbox import delivery_status, destinations_for, enqueue
from netwatchd.notify.pacing import BOT, RateLimiter
from netwatchd.store import transaction
from support.notify import ADMIN, GROUP, Rig, down, hosts_in, make_config, seconds, up

SITES = ["Sidoarjo", "Buduran", "Candi", "Porong", "Krembung", "Tulangan", "Tanggulangin", "Jabon",
         "Krian", "Balongbendo", "Wonoayu", "Tarik", "Prambon", "Taman", "Waru", "Gedangan", "Sedati",
         "Sukodono"]


def test_first_alert_goes_at_once_then_a_burst_is_merged_into_one_message(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock)
    rig.add(down("Waru", clock.now()))
    assert rig.worker.run_once() == 2                       # one message per chat, immediately
    assert [m["chat_id"] for m in standin.messages()] == [GROUP, ADMIN]
    clock.advance(0.2)
    rig.add(*(down(site, clock.now()) for site in SITES[:17]))
    assert rig.worker.run_once() == 0                       # both chats wait for their next slot
    assert len(standin.calls("sendMessage")) == 2
    clock.advance(0.8)
    assert rig.worker.run_once() == 2
    for chat in (GROUP, ADMIN):
        texts = [m["text"] for m in standin.messages(chat)]
        assert len(texts) == 2
        assert texts[1].startswith("🔴 <b>17 situs DOWN</b>\n")
        assert hosts_in(texts[1:], SITES[:17]) == SITES[:17]
    assert rig.worker.depth() == 0


def test_eighteen_sites_down_at_once_arrive_in_one_message_per_chat(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock)
    rig.add(*(down(site, clock.now()) for site in SITES))
    assert rig.worker.run_once() == 2
    for chat in (GROUP, ADMIN):
        [message] = standin.messages(chat)
        assert message["text"].count("\n") == 18 and "18 situs DOWN" in message["text"]
        assert hosts_in([message["text"]], SITES) == SITES
    record = rig.timing()[0]
    assert [e["host"] for e in record["events"]] == SITES and record["status"] == "sent"


def test_transient_failures_are_retried_with_exponential_backoff_until_delivered(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[GROUP]),
              backoff=Backoff(base=1.0, cap=30.0, jitter=0.5))
    standin.fail_next(2, "5xx")
    standin.fail_next(1, "drop")
    standin.fail_next(1, "5xx", status=503)
    start = clock.now()
    rig.add(down("Waru", start))
    retry_times = []
    for _ in range(40):
        rig.worker.run_once()
        row = rig.rows()[0]
        if row["status"] == "sent":
            break
        retry_times.append(row["next_attempt_at"])
        clock.advance(0.5)
    assert len(standin.messages()) == 1
    calls = standin.calls("sendMessage")
    assert [c["status"] for c in calls] == [502, 502, 0, 503, 200]
    # attempts at 0, 1, 1+2, 1+2+4, 1+2+4+8 s (jitter draw 0 => the full delay)
    expected = [utc_ms(start + seconds(s)) for s in (1, 3, 7, 15)]
    assert sorted(set(retry_times)) == expected
    record = rig.timing()[0]
    assert record["attempts"] == 5 and record["latency_ms"] == 15000


def test_backoff_is_capped_and_jittered():
    backoff = Backoff(base=1.0, cap=30.0, jitter=0.5)
    assert [backoff.delay(n, 0.0) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]  # explicit cap=30
    assert backoff.delay(3, 1.0) == 2.0 and backoff.delay(3, 0.5) == 3.0
    # a weekend with a rejected token is over a thousand attempts: still the cap, not OverflowError
    # (which turned the chat's 15 s retries into one a second, each logged as a failure)
    assert backoff.delay(1100, 0.0) == 30.0 and Backoff().delay(10**6, 0.0) == 15.0


def test_retry_after_from_a_429_is_honoured_before_anything_else_goes_to_that_chat(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[GROUP]))
    standin.fail_next(1, "429", retry_after=7)
    rig.add(down("Waru", clock.now()))
    assert rig.worker.run_once() == 0
    clock.advance(3)
    rig.add(down("Taman", clock.now()))
    clock.advance(3.9)
    assert rig.worker.run_once() == 0
    assert len(standin.calls("sendMessage")) == 1           # nothing sent during the 7 s
    clock.advance(0.1)
    assert rig.worker.run_once() == 1
    [message] = standin.messages()
    assert hosts_in([message["text"]], ["Taman", "Waru"]) == ["Waru", "Taman"]


def test_migrated_group_is_followed_for_this_and_later_alerts(tmp_path, standin, clock, caplog):
    new_id = -1009999999999
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[GROUP]))
    standin.fail_next(1, "migrate", to_chat_id=new_id)
    rig.add(down("Waru", clock.now()), down("Taman", clock.now()))
    with caplog.at_level(logging.WARNING):
        assert rig.worker.run_once() == 0
        assert rig.worker.run_once() == 1
    assert [m["chat_id"] for m in standin.messages()] == [new_id]
    assert "Waru" in standin.messages()[0]["text"] and "Taman" in standin.messages()[0]["text"]
    assert f"put {new_id} in telegram.chat_ids" in caplog.text
    clock.advance(5)
    rig.add(down("Candi", clock.now()))                      # config still names the old id
    assert {r["chat_id"] for r in rig.rows()} == {str(new_id)}
    assert rig.worker.run_once() == 1
    assert standin.messages()[-1]["chat_id"] == new_id
    assert len(standin.calls("sendMessage")) == 3           # no second migrate round trip


@pytest.mark.parametrize("kind, reason", [("403", "bot was blocked by the user"),
                                          ("chat_not_found", "chat not found")])
def test_permanent_errors_mark_the_rows_dead_and_spare_the_other_chat(tmp_path, standin, clock, caplog, kind, reason):
    rig = Rig(tmp_path, standin, clock)
    standin.fail_next(1, kind, chat_id=GROUP)
    rig.add(down("Waru", clock.now()))
    with caplog.at_level(logging.ERROR):
        rig.worker.run_once()
    assert [m["chat_id"] for m in standin.messages()] == [ADMIN]
    [dead] = rig.rows(GROUP)
    assert dead["status"] == "dead" and reason in dead["last_error"]
    assert reason in caplog.text and "check telegram.chat_ids" in caplog.text
    status = delivery_status(rig.conn)
    assert status["pending"] == 0
    assert status["dead"][0]["host"] == "Waru" and reason in status["dead"][0]["error"]
    dead_records = [r for r in rig.timing() if r["status"] == "dead"]
    assert dead_records[0]["chat_id"] == str(GROUP) and reason in dead_records[0]["error"]
    clock.advance(10)
    assert rig.worker.run_once() == 0 and len(standin.calls("sendMessage")) == 2   # never retried


def test_order_per_chat_is_kept_while_the_head_alert_is_failing(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    standin.fail_next(3, "5xx")
    t0 = clock.now()
    rig.add(down("Waru", t0))
    rig.worker.run_once()
    for i, site in enumerate(["Taman", "Candi"]):
        clock.advance(0.5)
        rig.add(down(site, clock.now()) if i == 0 else up("Waru", clock.now(), since=t0))
        rig.worker.run_once()
    rig.run(seconds_between=1.0, rounds=12)
    texts = [m["text"] for m in standin.messages()]
    assert len(texts) == 1
    lines = texts[0].split("\n")[1:]
    assert [line.split("</b>")[0].split("<b>")[1] for line in lines] == ["Waru", "Taman", "Waru"]
    assert "DOWN" in lines[0] and "UP" in lines[2]


def test_an_outage_backlog_is_sent_in_order_in_4096_character_messages(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[GROUP]))
    names = [f"site-{i:03d}" for i in range(200)]
    standin.set_outage(True)
    for name in names:
        rig.add(down(name, clock.now()))
        rig.worker.run_once()
        clock.advance(3.0)                                   # 10 minutes of transitions
    assert standin.messages() == [] and rig.worker.depth() == 200
    standin.set_outage(False)
    rig.run(seconds_between=1.0, rounds=60)
    messages = standin.messages()
    assert rig.worker.depth() == 0
    assert all(len(m["text"].encode("utf-16-le")) // 2 <= 4096 for m in messages)
    assert 4 <= len(messages) <= 8
    assert hosts_in([m["text"] for m in messages], names) == names          # order, nothing lost
    assert sum(m["text"].count("site-") for m in messages) == 200          # no duplicates
    gaps = [b["at"] - a["at"] for a, b in pairwise(messages)]
    assert all(g >= 0 for g in gaps)


def test_a_single_message_longer_than_4096_is_split_on_lines_and_each_part_paced(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    children = tuple(f"kecamatan-{i:03d}" for i in range(500))
    core = Transition("core", "198.18.0.1", State.UP, State.DOWN, clock.now(), affected=children)
    rig.add(core)
    standin.fail_next(1, "5xx", method="sendMessage")
    sent = rig.run(seconds_between=1.0, rounds=10)
    messages = standin.messages()
    assert sent == len(messages) >= 2
    assert all(len(m["text"]) <= 4096 for m in messages)
    joined = " ".join(m["text"] for m in messages)
    assert [joined.count(child) for child in children] == [1] * 500   # each once: no part sent twice
    assert rig.rows()[0]["status"] == "sent"


def test_a_slow_chat_does_not_delay_another_chat(tmp_path, standin):
    rig = Rig(tmp_path, standin, SystemClock(), timeout=5.0, poll_interval=0.05)
    standin.fail_next(1, "slow", chat_id=GROUP, seconds=2.5)
    rig.worker.start()
    try:
        rig.add(down("Waru", rig.clock.now()))
        rig.worker.wake()
        fast = standin.wait_for_messages(1, timeout=2.0, chat_id=ADMIN)
        assert len(fast) == 1 and standin.messages(GROUP) == []   # the group is still in its slow call
        assert len(standin.wait_for_messages(1, timeout=4.0, chat_id=GROUP)) == 1
    finally:
        rig.worker.stop(timeout=3)
    latency = {r["chat_id"]: r["latency_ms"] for r in rig.timing()}
    assert latency[str(ADMIN)] < 2000 and latency[str(GROUP)] >= 2500


def test_stop_lets_the_send_in_flight_finish_and_commit(tmp_path, standin):
    rig = Rig(tmp_path, standin, SystemClock(), poll_interval=0.05,
              config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    standin.fail_next(1, "slow", seconds=0.5)
    rig.worker.start()
    rig.add(down("Waru", rig.clock.now()))
    rig.worker.wake()
    deadline = time.monotonic() + 2
    while not standin.calls("sendMessage") and time.monotonic() < deadline:
        time.sleep(0.01)
    rig.worker.stop(timeout=5)
    assert [r["status"] for r in rig.rows()] == ["sent"]
    assert len(standin.messages()) == 1


def test_rows_left_sending_by_a_dead_worker_are_delivered_by_the_next_one(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.add(down("Waru", clock.now()), down("Taman", clock.now()))
    # exactly what a kill -9 after the claim commit and before the answer leaves behind
    rig.conn.execute("UPDATE outbox SET status='sending', claimed_by='999999999:dead', attempts=1")
    rig.add(down("Porong", clock.now()))          # fresh news, never sent
    sent = 0
    for _ in range(3):
        clock.advance(1.1)                        # one message a second per chat
        sent += rig.worker.run_once()
    assert sent == 3 and [r["status"] for r in rig.rows()] == ["sent", "sent", "sent"]
    # each possibly shown row goes alone and says so; the fresh one is not merged into them
    texts = [m["text"] for m in standin.messages()]
    names = ["Waru", "Taman", "Porong"]
    assert [hosts_in([t], names) for t in texts] == [["Waru"], ["Taman"], ["Porong"]], texts
    assert ["sent again after a restart" in t or "dikirim ulang setelah restart" in t for t in texts] == \
        [True, True, False]
    assert [(r["attempts"], r.get("resend", False)) for r in rig.timing()] == [(2, True), (2, True), (1, False)]


def test_rows_claimed_by_a_live_process_are_not_stolen(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.add(down("Waru", clock.now()))
    rig.conn.execute("UPDATE outbox SET status='sending', claimed_by='1:other-agent'")   # pid 1 lives
    assert rig.worker.run_once() == 0
    assert standin.calls("sendMessage") == [] and rig.rows()[0]["status"] == "sending"


_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from netwatchd.clock import SystemClock
    from netwatchd.config.model import Config, TelegramSpec
    from netwatchd.notify.outbox import DeliveryWorker
    from netwatchd.notify.telegram_api import TelegramAPI
    from netwatchd.store import Database
    data, url, token, chat = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    config = Config(path=data / "h.yaml", data_dir=data,
                    telegram=TelegramSpec(token=token, chat_ids=(chat,), api_url=url))
    worker = DeliveryWorker(Database.in_dir(data), config, SystemClock(), api=TelegramAPI(url, token, timeout=30))
    while True:
        worker.run_once()
        time.sleep(0.01)
""")


def test_kill_9_in_the_middle_of_a_send_loses_nothing(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.add(down("Waru", clock.now()))
    # the request reaches "Telegram", which stalls and then never handles it
    standin.fail_next(1, "slow", seconds=3.0, then="drop")
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), standin.api_url, standin.token,
                              str(ADMIN)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not standin.calls("sendMessage") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert standin.calls("sendMessage"), child.stderr.read().decode() if child.poll() is not None else ""
        assert rig.rows()[0]["status"] == "sending"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert rig.worker.run_once() == 1
    assert [m["text"].count("Waru") for m in standin.messages()] == [1]
    assert rig.rows()[0]["status"] == "sent"


def test_kill_9_after_telegram_showed_the_alert_resends_it_marked_as_a_possible_repeat(tmp_path, standin, clock):
    # The Bot API has no idempotency key: a worker killed after Telegram showed the message and
    # before the answer came back cannot know; the next one sends again and says so.
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.add(down("Waru", clock.now()))
    standin.latency = 4.0             # shown after 2 s, answered after 4 s
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), standin.api_url, standin.token,
                              str(ADMIN)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not standin.messages() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert standin.messages(), child.stderr.read().decode() if child.poll() is not None else ""
        assert rig.rows()[0]["status"] == "sending"       # shown, but the answer is still on its way
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    standin.latency = 0.0
    assert rig.worker.run_once() == 1
    first, again = [m["text"] for m in standin.messages()]
    assert "Waru" in first and "Waru" in again
    assert "restart" not in first and "ulang" not in first
    assert again.endswith("\n↻ dikirim ulang setelah restart — mungkin ganda"), again
    assert rig.rows()[0]["status"] == "sent"
    assert [(r["status"], r["attempts"], r.get("resend")) for r in rig.timing()] == [("sent", 2, True)]


def test_console_notifier_prints_plain_text_and_logs_timing(tmp_path, clock):
    out = io.StringIO()
    config = make_config(tmp_path, None)
    assert destinations_for(config) == ["console"]
    rig = Rig(tmp_path, None, clock, config=config, console=out)
    rig.add(Transition("Waru & Co", "172.16.200.117", State.UP, State.DOWN, clock.now(),
                       evidence={"loss_percent": 100, "error": "<timeout>"}))
    assert rig.worker.run_once() == 1
    assert out.getvalue() == ("🔴 Waru & Co DOWN\nAlamat: 172.16.200.117\nSejak: 05/01/2026 08:00:00 WIB\n"
                              "Bukti: loss 100%, error: <timeout>\n\n")
    [record] = rig.timing()
    assert record["chat_id"] == "console" and record["message_id"] is None and record["status"] == "sent"


def test_telegram_rows_wait_when_no_token_is_configured(tmp_path, standin, clock, caplog):
    rig = Rig(tmp_path, standin, clock)
    rig.add(down("Waru", clock.now()))
    rig.worker.api = None
    with caplog.at_level(logging.WARNING):
        assert rig.worker.run_once() == 0
    assert rig.worker.depth() == 2 and "no telegram.token" in caplog.text


def test_html_that_telegram_refuses_is_resent_as_plain_text(tmp_path, standin, clock):
    config = make_config(tmp_path, standin, chat_ids=[ADMIN], templates={"down": "<blink>{host}</blink> mati"})
    rig = Rig(tmp_path, standin, clock, config=config)
    rig.add(down("Waru", clock.now()))
    assert rig.worker.run_once() == 1
    assert [(m["text"], m["parse_mode"]) for m in standin.messages()] == [("Waru mati", None)]


def test_timing_record_has_the_fixed_fields_with_milliseconds_and_offset(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    detected = clock.now()
    clock.advance(0.004)
    rig.add(down("Waru", detected))
    clock.advance(0.006)
    delivered = []
    rig.worker.on_delivered = delivered.append
    rig.worker.run_once()
    [record] = rig.timing()
    assert delivered == [record]
    assert list(record) == ["events", "detected_at", "enqueued_at", "sent_at", "acked_at", "latency_ms",
                            "attempts", "chat_id", "message_id", "status", "kind"]
    assert record["kind"] == "alert"
    assert record["events"] == [{"host": "Waru", "kind": "state", "from": "up", "to": "down",
                                 "at": "2026-01-05T08:00:00.000+07:00"}]
    assert record["detected_at"] == "2026-01-05T08:00:00.000+07:00"
    assert record["enqueued_at"] == "2026-01-05T08:00:00.004+07:00"
    assert record["sent_at"] == record["acked_at"] == "2026-01-05T08:00:00.010+07:00"
    assert record["latency_ms"] == 10 and record["message_id"] == 1 and record["chat_id"] == str(ADMIN)


def test_enqueue_is_part_of_the_callers_transaction(tmp_path, clock):
    rig = Rig(tmp_path, None, clock)
    with pytest.raises(RuntimeError):
        with transaction(rig.conn):
            enqueue(rig.conn, None, down("Waru", clock.now()), ["1", "2", "1"], clock.now())
            assert rig.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 2   # deduplicated
            raise RuntimeError("the state write failed")
    assert rig.rows() == []


def test_restart_remembers_recent_sends_for_pacing(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.add(down("Waru", clock.now()))
    assert rig.worker.run_once() == 1
    clock.advance(0.3)
    fresh = Rig(tmp_path, standin, clock, config=rig.config)
    fresh.add(down("Taman", clock.now()))
    assert fresh.worker.run_once() == 0                     # the earlier send is 0.3 s old
    clock.advance(0.7)
    assert fresh.worker.run_once() == 1


class TestRateLimiter:
    def test_one_message_per_second_per_chat(self):
        limiter = RateLimiter()
        assert limiter.reserve("5", 100.0) == 0.0
        assert limiter.reserve("5", 100.4) == pytest.approx(0.6)
        assert limiter.reserve("6", 100.4) == 0.0           # another chat is independent
        assert limiter.reserve("5", 101.0) == 0.0

    def test_twenty_per_minute_per_group(self):
        limiter = RateLimiter()
        for i in range(20):
            assert limiter.reserve("-100", 100.0 + 1.5 * i) == 0.0
        assert limiter.reserve("-100", 131.0) == pytest.approx(29.0)   # first of the 20 was at 100
        assert limiter.reserve("42", 131.0) == 0.0          # private chats have no per-minute cap

    def test_thirty_per_second_overall(self):
        limiter = RateLimiter()
        for chat in range(30):
            assert limiter.reserve(str(chat), 100.0 + chat * 0.01) == 0.0
        assert limiter.reserve("99", 100.5) == pytest.approx(0.5)
        assert limiter.reserve("99", 101.0) == 0.0

    def test_a_refunded_slot_does_not_count_against_the_groups_minute(self):
        limiter = RateLimiter()
        for i in range(20):
            assert limiter.reserve("-100", 100.0 + 1.5 * i) == 0.0
            if i % 2:
                limiter.refund("-100", 100.0 + 1.5 * i)      # e.g. a proxy's 502: Telegram never saw it
        assert limiter.reserve("-100", 131.0) == 0.0, "only 10 of the 20 were sent"

    def test_headroom_leaves_the_last_slots_of_a_groups_minute_to_alerts(self):
        limiter = RateLimiter()
        for i in range(12):
            assert limiter.reserve("-100", 100.0 + 1.5 * i) == 0.0
        assert limiter.reserve("-100", 118.0, BOT, reserve=8) == pytest.approx(42.0)   # edits wait for the minute
        assert limiter.reserve("-100", 118.0) == 0.0                               # an alert does not
        assert limiter.reserve("42", 118.0, BOT, reserve=8) == 0.0                     # no cap for private chats

    def test_a_group_is_busy_once_half_its_minute_is_used(self):
        limiter = RateLimiter()
        for i in range(9):
            limiter.reserve("-100", 100.0 + 1.5 * i)
        assert not limiter.busy("-100", 114.0)
        limiter.reserve("-100", 114.0)
        assert limiter.busy("-100", 114.0) and not limiter.busy("-100", 161.0)
        assert not limiter.busy("42", 114.0)                 # a private chat has no minute to run short of

    def test_console_is_not_limited(self):
        limiter = RateLimiter()
        assert [limiter.reserve("console", 1.0) for _ in range(50)] == [0.0] * 50


def test_idle_chat_threads_end_and_come_back_when_needed(tmp_path, standin, monkeypatch):
    monkeypatch.setattr("netwatchd.notify.outbox.LANE_IDLE_EXIT", 0.2)
    rig = Rig(tmp_path, standin, SystemClock(), poll_interval=0.05,
              config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.worker.start()
    try:
        rig.add(down("Waru", rig.clock.now()))
        rig.worker.wake()
        assert len(standin.wait_for_messages(1, timeout=2)) == 1
        deadline = time.monotonic() + 3
        while any(t.name == f"delivery-{ADMIN}" for t in threading.enumerate()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(t.name == f"delivery-{ADMIN}" for t in threading.enumerate())
        rig.add(down("Taman", rig.clock.now()))
        rig.worker.wake()
        assert len(standin.wait_for_messages(2, timeout=2)) == 2
    finally:
        rig.worker.stop(timeout=3)


def test_a_new_alert_is_tried_at_once_even_while_the_chat_backs_off(tmp_path, standin, clock):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]),
              backoff=Backoff(base=8.0, cap=8.0, jitter=0.0))
    standin.fail_next(1, "5xx")
    rig.add(down("Waru", clock.now()))
    assert rig.worker.run_once() == 0
    clock.advance(1.0)
    assert rig.worker.run_once() == 0 and len(standin.calls("sendMessage")) == 1   # backing off: 8 s
    rig.add(down("Taman", clock.now()))
    assert rig.worker.run_once() == 1                       # fresh news: tried now, not at 8 s
    [message] = standin.messages()
    assert hosts_in([message["text"]], ["Taman", "Waru"]) == ["Waru", "Taman"]


def test_a_damaged_row_is_set_aside_and_does_not_block_its_chat(tmp_path, standin, clock, caplog):
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.add(down("Waru", clock.now()), down("Taman", clock.now()))
    rig.conn.execute("UPDATE outbox SET payload='{not json' WHERE id=1")
    with caplog.at_level(logging.ERROR):
        assert rig.worker.run_once() == 1
    assert [r["status"] for r in rig.rows()] == ["dead", "sent"]
    assert "unreadable outbox row" in rig.rows()[0]["last_error"] and "set aside" in caplog.text
    assert "Taman" in standin.messages()[0]["text"]


def test_a_store_failure_after_a_send_neither_holds_the_chat_nor_sends_the_alert_twice(tmp_path, standin, clock):
    """The commit after Telegram's answer hits a locked store: the result is kept in memory and
    written once the store takes writes again. Before, the claimed row went back to 'pending'
    when the store recovered and the DOWN Telegram had already shown was sent a second time."""
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.add(down("Waru", clock.now()))
    rig.worker._conn().execute("PRAGMA busy_timeout=0")     # fail at once instead of after 10 s
    blocker = rig.db.connect()
    real_send = rig.worker.api.send_message

    def send_then_lock_the_store(*args, **kwargs):
        message_id = real_send(*args, **kwargs)
        blocker.execute("BEGIN IMMEDIATE")                   # another writer holds the store
        return message_id

    rig.worker.api.send_message = send_then_lock_the_store
    assert rig.worker.step(str(ADMIN)).sent                  # delivered; its 'sent' waits in memory
    del rig.worker.api.send_message
    assert [r["status"] for r in rig.rows()] == ["sending"]
    clock.advance(2)
    assert rig.worker.run_once() == 0                        # still locked: nothing sent again
    blocker.execute("ROLLBACK")
    rig.add(up("Waru", clock.now(), since=clock.now()))
    rig.run(rounds=5)
    assert [r["status"] for r in rig.rows()] == ["sent", "sent"]
    texts = [m["text"].split("\n")[0] for m in standin.messages()]
    assert len(texts) == 2 and "DOWN" in texts[0] and "UP" in texts[1], texts
    assert rig.worker.depth() == 0


def test_rows_claimed_by_a_process_whose_pid_was_reused_after_a_reboot_are_sent(tmp_path, standin, clock):
    """After a power loss the claimer's pid may belong to some other live process: its rows must
    not stay 'sending' (and hold the chat) forever."""
    from netwatchd.notify.outbox import _process_identity

    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.add(down("Waru", clock.now()))
    assert _process_identity(1)                              # pid 1 lives (and is not us)
    rig.conn.execute("UPDATE outbox SET status='sending', claimed_by=?, attempts=1",
                     (f"1:{_process_identity(1)}0:before-the-reboot",))
    assert rig.worker.run_once() == 1
    assert rig.rows()[0]["status"] == "sent"


def test_rows_claimed_by_a_live_worker_with_its_identity_are_not_stolen(tmp_path, standin, clock):
    from netwatchd.notify.outbox import _process_identity

    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[ADMIN]))
    rig.add(down("Waru", clock.now()))
    rig.conn.execute("UPDATE outbox SET status='sending', claimed_by=?", (f"1:{_process_identity(1)}:other",))
    assert rig.worker.run_once() == 0
    assert standin.calls("sendMessage") == [] and rig.rows()[0]["status"] == "sending"


def test_sent_and_dead_rows_leave_the_outbox_after_raw_days_but_the_timing_log_keeps_every_message(
        tmp_path, standin, clock):
    """docs/reports-and-web.md (history table): events and timing.jsonl are kept forever; delivered and dead outbox
    rows only for retention.raw_days (7 days), and a row still waiting is never pruned."""
    rig = Rig(tmp_path, standin, clock, config=make_config(tmp_path, standin, chat_ids=[GROUP, ADMIN]))
    standin.fail_next(1, "chat_not_found", chat_id=ADMIN)
    rig.add(down("Waru", clock.now()))
    rig.worker.run_once()
    assert sorted(r["status"] for r in rig.rows()) == ["dead", "sent"]
    clock.advance(6 * 86400)
    rig.add(down("Candi", clock.now()))
    standin.set_outage(True)
    rig.worker.run_once()
    assert len(rig.rows()) == 4                              # 6 days old: still there
    clock.advance(2 * 86400)
    rig.worker.run_once()
    assert [(r["chat_id"], r["status"]) for r in rig.rows()] == [(str(GROUP), "pending"), (str(ADMIN), "pending")]
    standin.set_outage(False)
    clock.advance(3600)
    rig.worker.run_once()
    assert [r["status"] for r in rig.rows()] == ["sent", "sent"]
    assert [(t["chat_id"], t["status"]) for t in rig.timing()].count((str(GROUP), "sent")) == 2
