"""The Bot API stand-in is faithful: python-telegram-bot 22 (which parses every answer strictly)
drives it over real HTTP; raw requests check the wire details PTB hides."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest
import requests
import telegram
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

from netwatchd.lab.telegram_standin import DEFAULT_TOKEN, TelegramStandIn

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def _ptb(tg: TelegramStandIn) -> telegram.Bot:
    return telegram.Bot(tg.token, base_url=f"{tg.api_url}/bot")


def test_python_telegram_bot_accepts_every_answer(standin):
    async def scenario() -> None:
        async with _ptb(standin) as bot:
            me = await bot.get_me()
            assert me.is_bot and me.username == "netwatchd_lab_bot" and me.id == 123456
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Status", callback_data="status:Waru")]])
            sent = await bot.send_message(-1001234567890, "<b>Waru</b> DOWN &amp; more", parse_mode="HTML",
                                          reply_markup=keyboard)
            assert sent.message_id == 1 and sent.chat.type == "supergroup" and sent.text == "Waru DOWN & more"
            assert sent.reply_markup == keyboard and sent.from_user.id == me.id and sent.date.year >= 2024
            assert await bot.delete_webhook() is True
            assert await bot.set_my_commands([BotCommand("status", "status semua situs")]) is True
            assert await bot.get_my_commands() == (BotCommand("status", "status semua situs"),)
            standin.inject_message(777, 777, "/status@netwatchd_lab_bot Waru", username="budi")
            standin.inject_callback(-1001234567890, 777, "status:Waru", sent.message_id)
            updates = await bot.get_updates(timeout=2)
            assert len(updates) == 2
            command, press = updates
            assert command.message.text.startswith("/status") and command.message.chat.type == "private"
            assert command.message.entities[0].type == "bot_command" and command.message.entities[0].length == 25
            assert command.message.from_user.username == "budi"
            assert press.callback_query.data == "status:Waru"
            assert press.callback_query.message.message_id == sent.message_id
            assert await bot.answer_callback_query(press.callback_query.id, text="ok") is True
            edited = await bot.edit_message_text("Waru <i>UP</i>", chat_id=-1001234567890,
                                                 message_id=sent.message_id, parse_mode="HTML")
            assert edited.text == "Waru UP" and edited.edit_date is not None
            assert await bot.get_updates(offset=press.update_id + 1, timeout=0) == ()
            assert standin.pending_updates() == 0
            with pytest.raises(telegram.error.BadRequest, match="not modified"):
                await bot.edit_message_text("Waru <i>UP</i>", chat_id=-1001234567890,
                                            message_id=sent.message_id, parse_mode="HTML")
            with pytest.raises(telegram.error.BadRequest, match="(?i)query is too old"):
                await bot.answer_callback_query(press.callback_query.id)
            with pytest.raises(telegram.error.BadRequest, match="(?i)can't parse entities"):
                await bot.send_message(5, "<blink>x</blink>", parse_mode="HTML")
            standin.fail_next(1, "migrate", to_chat_id=-1009)
            with pytest.raises(telegram.error.ChatMigrated) as migrated:
                await bot.send_message(-42, "x")
            assert migrated.value.new_chat_id == -1009
            standin.fail_next(1, "429", retry_after=4)
            with pytest.raises(telegram.error.RetryAfter) as limited:
                await bot.send_message(5, "x")
            assert "Retry in 4" in str(limited.value)
            standin.fail_next(1, "403")
            with pytest.raises(telegram.error.Forbidden, match="blocked"):
                await bot.send_message(5, "x")

    asyncio.run(scenario())
    assert {c["method"] for c in standin.calls()} == {
        "getMe", "sendMessage", "deleteWebhook", "setMyCommands", "getMyCommands", "getUpdates",
        "answerCallbackQuery", "editMessageText"}


def test_wrong_token_and_unknown_method_get_telegrams_404(standin):
    for url in (f"{standin.api_url}/bot1:WRONG/getMe", f"{standin.api_url}/bot{standin.token}/noSuchMethod",
                f"{standin.api_url}/elsewhere"):
        answer = requests.post(url, json={}, timeout=2)
        assert answer.status_code == 404
        assert answer.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_form_encoded_json_and_query_parameters_are_all_understood(standin):
    base = f"{standin.api_url}/bot{standin.token}"
    markup = '{"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}'
    form = requests.post(f"{base}/sendMessage", data={"chat_id": "5", "text": "form", "reply_markup": markup},
                         timeout=2).json()
    body = requests.post(f"{base}/sendMessage", json={"chat_id": 5, "text": "json"}, timeout=2).json()
    query = requests.get(f"{base}/sendMessage", params={"chat_id": 5, "text": "query"}, timeout=2).json()
    assert [form["result"]["text"], body["result"]["text"], query["result"]["text"]] == ["form", "json", "query"]
    assert form["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "b"
    assert [m["message_id"] for m in standin.messages(5)] == [1, 2, 3]
    too_long = requests.post(f"{base}/sendMessage", json={"chat_id": 5, "text": "x" * 4097}, timeout=2)
    assert too_long.status_code == 400 and too_long.json()["description"] == "Bad Request: message is too long"
    empty = requests.post(f"{base}/sendMessage", json={"chat_id": 5, "text": " "}, timeout=2)
    assert empty.json()["description"] == "Bad Request: message text is empty"


def test_long_polling_waits_for_an_update_and_offsets_confirm(standin):
    base = f"{standin.api_url}/bot{standin.token}"
    threading.Timer(0.3, standin.inject_message, args=(5, 5, "/ping")).start()
    started = time.monotonic()
    first = requests.post(f"{base}/getUpdates", json={"timeout": 5}, timeout=10).json()["result"]
    waited = time.monotonic() - started
    assert len(first) == 1 and 0.2 < waited < 3
    empty_started = time.monotonic()
    assert requests.post(f"{base}/getUpdates", json={"offset": first[0]["update_id"] + 1, "timeout": 0.3},
                         timeout=5).json()["result"] == []
    assert time.monotonic() - empty_started >= 0.25
    ids = [standin.inject_message(5, 5, f"m{i}") for i in range(5)]
    limited = requests.post(f"{base}/getUpdates", json={"limit": 2}, timeout=2).json()["result"]
    assert [u["update_id"] for u in limited] == ids[:2]
    rest = requests.post(f"{base}/getUpdates", json={"offset": ids[2], "allowed_updates": ["message"]},
                         timeout=2).json()["result"]
    assert [u["update_id"] for u in rest] == ids[2:]


def test_a_second_poller_terminates_the_first_with_409(standin):
    base = f"{standin.api_url}/bot{standin.token}"
    answers = {}
    first = threading.Thread(target=lambda: answers.update(
        first=requests.post(f"{base}/getUpdates", json={"timeout": 3}, timeout=10)))
    first.start()
    time.sleep(0.2)
    requests.post(f"{base}/getUpdates", json={"timeout": 0}, timeout=5)
    first.join(5)
    assert answers["first"].status_code == 409
    assert answers["first"].json()["description"].startswith("Conflict: terminated by other getUpdates")


def test_faults_outage_and_rate_limits():
    with TelegramStandIn(enforce_rate_limits=True) as tg:
        base = f"{tg.api_url}/bot{tg.token}"
        tg.fail_next(1, "drop", method="sendMessage")
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{base}/sendMessage", json={"chat_id": 5, "text": "a"}, timeout=2)
        assert requests.post(f"{base}/getMe", timeout=2).status_code == 200   # other methods unaffected
        tg.fail_next(1, "5xx", status=503, chat_id=6)
        assert requests.post(f"{base}/sendMessage", json={"chat_id": 5, "text": "a"}, timeout=2).ok
        assert requests.post(f"{base}/sendMessage", json={"chat_id": 6, "text": "a"}, timeout=2).status_code == 503
        tg.set_outage(True)
        outage = requests.post(f"{base}/getMe", timeout=2)
        assert outage.status_code == 502 and outage.headers["Content-Type"] == "text/html"
        tg.set_outage(False)
        limited = requests.post(f"{base}/sendMessage", json={"chat_id": 5, "text": "b"}, timeout=2)
        assert limited.status_code == 429 and limited.json()["parameters"] == {"retry_after": 1}
        tg.fail_next(1, "slow", seconds=0.3)
        started = time.monotonic()
        assert requests.post(f"{base}/getMe", timeout=2).ok and time.monotonic() - started >= 0.3
        with pytest.raises(ValueError, match="unknown fault kind"):
            tg.fail_next(1, "explode")
    with pytest.raises(ValueError, match="loopback only"):
        TelegramStandIn(host="198.51.100.1")


def test_runnable_as_a_module_and_prints_its_url():
    process = subprocess.Popen([sys.executable, "-m", "netwatchd.lab.telegram_standin", "--port", "0",
                                "--token", DEFAULT_TOKEN], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = line.split()[4]
        assert url.startswith("http://127.0.0.1:")
        assert requests.post(f"{url}/bot{DEFAULT_TOKEN}/getMe", timeout=2).json()["ok"] is True
    finally:
        process.terminate()
        assert process.wait(5) == 0


def test_python_telegram_bot_accepts_replies_forum_topics_and_edits_and_gets_telegrams_errors(standin):
    """What an outage's conversation needs, through PTB 22's strict parsing: reply_parameters, forum
    topics, callback answers with a toast, editMessageText / editMessageReplyMarkup, and the errors
    Telegram gives for a message that is gone, not the bot's, or unchanged."""
    from telegram import ReplyParameters

    forum = -1009876543210
    async def scenario() -> None:
        async with _ptb(standin) as bot:
            topic = standin.create_forum_topic(forum, "Kecamatan Waru")
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("✅ Ack", callback_data="nw1:abcdefgh12345678:a")]])
            root = await bot.send_message(forum, "🔴 <b>Waru DOWN</b>", parse_mode="HTML", reply_markup=keyboard,
                                          message_thread_id=topic)
            assert root.message_thread_id == topic and root.is_topic_message and root.chat.is_forum
            reply = await bot.send_message(forum, "🟢 Waru UP", reply_parameters=ReplyParameters(root.message_id))
            assert reply.reply_to_message.message_id == root.message_id
            assert reply.message_thread_id == topic, "a reply lands in its target's topic"
            assert reply.reply_to_message.reply_markup == keyboard
            legacy = await bot.send_message(forum, "x", reply_to_message_id=root.message_id)
            assert legacy.reply_to_message.message_id == root.message_id

            standin.inject_callback(forum, 777, "nw1:abcdefgh12345678:a", root.message_id, username="budi")
            [press] = await bot.get_updates(timeout=1)
            assert press.callback_query.message.message_thread_id == topic
            assert press.callback_query.from_user.username == "budi"
            assert await bot.answer_callback_query(press.callback_query.id, text="✅ Waru: acknowledged") is True
            assert standin.callback_answers()[-1]["text"] == "✅ Waru: acknowledged"
            standin.inject_callback(forum, 777, "x", root.message_id)
            [again] = await bot.get_updates(offset=press.update_id + 1, timeout=1)
            with pytest.raises(telegram.error.BadRequest, match="(?i)message_too_long"):
                await bot.answer_callback_query(again.callback_query.id, text="x" * 201)

            history = InlineKeyboardButton("📈 History", callback_data="nw1:abcdefgh12345678:h")
            smaller = InlineKeyboardMarkup([[history]])
            edited = await bot.edit_message_reply_markup(forum, root.message_id, reply_markup=smaller)
            assert edited.reply_markup == smaller and edited.text == "🔴 Waru DOWN"
            with pytest.raises(telegram.error.BadRequest, match="(?i)message is not modified"):
                await bot.edit_message_reply_markup(forum, root.message_id, reply_markup=smaller)
            edited = await bot.edit_message_text("🔴 Waru DOWN\n✅ acknowledged", chat_id=forum,
                                                 message_id=root.message_id)
            assert edited.reply_markup is None, "editMessageText without reply_markup removes the keyboard"

            standin.inject_message(forum, 777, "hello", thread_id=topic)
            [said] = await bot.get_updates(offset=again.update_id + 1, timeout=1)
            assert said.message.message_thread_id == topic and said.message.is_topic_message
            with pytest.raises(telegram.error.BadRequest, match="(?i)message can.t be edited"):
                await bot.edit_message_text("y", chat_id=forum, message_id=said.message.message_id)
            standin.delete_message(forum, root.message_id)
            with pytest.raises(telegram.error.BadRequest, match="(?i)message to edit not found"):
                await bot.edit_message_text("z", chat_id=forum, message_id=root.message_id)
            with pytest.raises(telegram.error.BadRequest, match="(?i)message to be replied not found"):
                await bot.send_message(forum, "w", reply_parameters=ReplyParameters(root.message_id))
            plain = await bot.send_message(forum, "w", reply_parameters=ReplyParameters(
                root.message_id, allow_sending_without_reply=True))
            assert plain.reply_to_message is None
            with pytest.raises(telegram.error.BadRequest, match="(?i)message thread not found"):
                await bot.send_message(forum, "v", message_thread_id=topic + 1000)
            with pytest.raises(telegram.error.BadRequest, match="(?i)message thread not found"):
                await bot.send_message(-1001234567890, "v", message_thread_id=topic)
            standin.close_forum_topic(forum, topic)
            with pytest.raises(telegram.error.BadRequest, match="(?i)topic_closed"):
                await bot.send_message(forum, "v", message_thread_id=topic)
            too_long = InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="x" * 65)]])
            with pytest.raises(telegram.error.BadRequest, match="(?i)button_data_invalid"):
                await bot.send_message(forum, "u", reply_markup=too_long)

    asyncio.run(scenario())
