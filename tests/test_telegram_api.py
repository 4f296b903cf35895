"""TelegramAPI over real HTTP: error mapping, and the token never leaks (logs, errors, files)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.notify.telegram_api import TelegramAPI, TelegramError
from support.notify import ADMIN, GROUP, Rig, down
from support.sockets import finish_within, trickling_server

SECRET_TOKEN = "987654321:AAH-very-secret-token-value-1234567890"


@pytest.mark.parametrize("kind, params, expected", [
    ("5xx", {}, dict(permanent=False, retry_after=None, migrate_to_chat_id=None, error_code=502)),
    ("429", {"retry_after": 9}, dict(permanent=False, retry_after=9.0, error_code=429)),
    ("migrate", {"to_chat_id": -1007}, dict(permanent=False, migrate_to_chat_id=-1007, error_code=400)),
    ("403", {}, dict(permanent=True, error_code=403)),
    ("403", {"description": "Forbidden: bot was kicked from the group chat"}, dict(permanent=True)),
    ("chat_not_found", {}, dict(permanent=True, error_code=400)),
    ("drop", {}, dict(permanent=False, error_code=None)),
])
def test_errors_are_mapped_for_the_worker(standin, kind, params, expected):
    api = TelegramAPI(standin.api_url, standin.token, timeout=2)
    standin.fail_next(1, kind, **params)
    with pytest.raises(TelegramError) as caught:
        api.send_message(GROUP, "x")
    for name, value in expected.items():
        assert getattr(caught.value, name) == value, name
    assert standin.token not in str(caught.value)


def test_network_failures_have_clear_token_free_messages():
    with TelegramStandIn(token=SECRET_TOKEN) as tg:
        api = TelegramAPI(tg.api_url, tg.token, timeout=0.3)
        tg.fail_next(1, "slow", seconds=1)
        with pytest.raises(TelegramError,
                           match=r"sendMessage via 127\.0\.0\.1:\d+: no complete answer within 0\.3 s \(will retry\)$"):
            api.send_message(1, "x")
        tg.set_outage(True)
        with pytest.raises(TelegramError, match="HTTP 502 without a Bot API answer"):
            api.get_me()
        port = tg.port
    api = TelegramAPI(f"http://127.0.0.1:{port}", SECRET_TOKEN, timeout=0.5)
    with pytest.raises(TelegramError, match="connection refused") as refused:
        api.get_me()
    assert SECRET_TOKEN not in str(refused.value) and refused.value.__cause__ is None
    assert "***" in repr(api) and SECRET_TOKEN not in repr(api)


def test_a_rejected_token_is_explained_and_retried_not_dropped(standin):
    api = TelegramAPI(standin.api_url, "111:wrong-token-for-this-test", timeout=2)
    with pytest.raises(TelegramError, match="check telegram.token") as caught:
        api.send_message(ADMIN, "x")
    assert caught.value.permanent is False


def test_every_method_netwatchd_uses(standin):
    api = TelegramAPI(standin.api_url, standin.token, timeout=2)
    assert api.get_me()["username"] == "netwatchd_lab_bot"
    assert api.delete_webhook() is True
    assert api.set_my_commands([("status", "status semua situs"), ("ping", "ping alamat")]) is True
    assert [c["command"] for c in standin.commands()] == ["status", "ping"]
    message_id = api.send_message(ADMIN, "<b>a</b>", reply_markup={"inline_keyboard": [[
        {"text": "Refresh", "callback_data": "r"}]]})
    update_id = standin.inject_callback(ADMIN, ADMIN, "r", message_id)
    [update] = api.get_updates(offset=None, timeout=1)
    assert update["update_id"] == update_id
    assert api.answer_callback_query(update["callback_query"]["id"], text="ok") is True
    assert api.edit_message_text(ADMIN, message_id, "<i>b</i>")["text"] == "b"
    assert api.get_updates(offset=update_id + 1, timeout=0) == []


def test_the_token_appears_nowhere_even_with_debug_logging(tmp_path, clock, caplog):
    with TelegramStandIn(token=SECRET_TOKEN) as tg:
        rig = Rig(tmp_path, tg, clock, timeout=0.5)
        tg.fail_next(1, "drop")
        tg.fail_next(1, "5xx")
        tg.fail_next(1, "slow", seconds=1)
        tg.fail_next(1, "chat_not_found", chat_id=GROUP)
        with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="urllib3"):
            rig.add(down("Waru", clock.now()))
            rig.run(seconds_between=2.0, rounds=8)
        assert len(tg.messages(ADMIN)) == 1
    assert "urllib3" in caplog.text or "Telegram" in caplog.text     # debug lines were produced
    written = [caplog.text, *(r.getMessage() for r in caplog.records),
               (tmp_path / "timing.jsonl").read_text("utf-8")]
    written += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.glob("netwatchd.sqlite3*")]
    for text in written:
        assert SECRET_TOKEN not in text and SECRET_TOKEN.split(":")[1] not in text


def test_cli_stderr_with_debug_logging_has_no_token(tmp_path):
    with TelegramStandIn(token=SECRET_TOKEN) as tg:
        config = tmp_path / "hosts.yaml"
        config.write_text(f"telegram:\n  token: {SECRET_TOKEN}\n  chat_ids: [{GROUP}, {ADMIN}]\n"
                          f"  api_url: {tg.api_url}\nhosts:\n  - {{name: Waru, address: 198.18.1.1}}\n")
        tg.fail_next(1, "chat_not_found", chat_id=GROUP)
        done = subprocess.run([sys.executable, "-m", "netwatchd", "--log-level", "debug", "test-notify",
                               "-c", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "chat not found (check telegram.chat_ids" in done.stdout
    assert "DEBUG" in done.stderr                       # debug logging really was on
    assert SECRET_TOKEN not in done.stdout + done.stderr
    assert SECRET_TOKEN.split(":")[1] not in done.stdout + done.stderr


def test_a_password_in_the_api_url_is_in_no_error_message():
    """A local Bot API server behind basic auth (https://user:pass@host/): the error text names the
    host, which must not carry the password (it goes to logs, the outbox and timing.jsonl)."""
    with TelegramStandIn(token=SECRET_TOKEN) as tg:
        port = tg.port
    api = TelegramAPI(f"http://relay:Pr0xy-pass-9931@127.0.0.1:{port}", SECRET_TOKEN, timeout=0.5)
    with pytest.raises(TelegramError, match=rf"getMe via 127\.0\.0\.1:{port}: connection refused") as refused:
        api.get_me()
    assert "Pr0xy-pass-9931" not in str(refused.value) and "Pr0xy-pass-9931" not in repr(api)


# --- whole-request deadlines: a Bot API (or proxy) that trickles cannot hold a sender -----------------

@pytest.mark.parametrize("first", [
    b"HTTP/1.1 200 OK\r\n",                                                         # the head never ends
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 300\r\n\r\n",  # nor the body
], ids=["head", "body"])
def test_an_answer_trickling_one_byte_per_100ms_fails_by_the_deadline(first: bytes) -> None:
    with trickling_server(first) as port:
        api = TelegramAPI(f"http://127.0.0.1:{port}", SECRET_TOKEN, timeout=0.5)
        error, elapsed = finish_within(lambda: api.send_message(1, "x"), 3)
    assert isinstance(error, TelegramError) and error.permanent is False          # retried, not dropped
    assert str(error) == f"Telegram sendMessage via 127.0.0.1:{port}: no complete answer within 0.5 s (will retry)"
    assert SECRET_TOKEN not in str(error) and elapsed < 1.5


def test_a_long_poll_gets_its_poll_seconds_plus_the_timeout_then_no_more() -> None:
    with trickling_server(b"HTTP/1.1 200 OK\r\n") as port:
        api = TelegramAPI(f"http://127.0.0.1:{port}", SECRET_TOKEN, timeout=0.5)
        error, elapsed = finish_within(lambda: api.get_updates(offset=None, timeout=1), 4)
    assert isinstance(error, TelegramError)
    assert "getUpdates" in str(error) and "no complete answer within 1.5 s" in str(error)
    assert 1.3 < elapsed < 2.5            # not cut at the 0.5 s request timeout: a long poll is long


def test_deadlines_leave_normal_calls_and_long_polls_alone(standin):
    api = TelegramAPI(standin.api_url, standin.token, timeout=0.5)
    started = time.monotonic()
    assert api.get_updates(offset=None, timeout=1) == []        # a full 1 s long poll, answered empty
    assert time.monotonic() - started >= 0.9
    for _ in range(20):                                         # keep-alive reuse across many deadlines
        api.send_message(ADMIN, "ok")
    assert len(standin.messages(ADMIN)) == 20
