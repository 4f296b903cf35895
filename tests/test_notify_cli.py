"""`netwatchd test-notify` end to end against the stand-in (in-process CLI, real HTTP)."""

from __future__ import annotations

from netwatchd.cli import main
from netwatchd.lab.telegram_standin import TelegramStandIn
from support.notify import ADMIN, GROUP


def _config(tmp_path, tg: TelegramStandIn | None, chats=(GROUP, ADMIN), language="en", token=None):
    path = tmp_path / "hosts.yaml"
    telegram = ""
    if tg is not None:
        telegram = (f"telegram:\n  token: {token or tg.token}\n  chat_ids: [{', '.join(map(str, chats))}]\n"
                    f"  api_url: {tg.api_url}\n  language: {language}\n")
    path.write_text(f"{telegram}hosts:\n  - {{name: Waru, address: 198.18.1.1}}\n", "utf-8")
    return str(path)


def test_sends_to_every_chat_and_prints_latency(tmp_path, standin, capsys):
    assert main(["test-notify", "-c", _config(tmp_path, standin)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("bot @netwatchd_lab_bot via 127.0.0.1:")
    assert f"chat {GROUP} : delivered in " in out and f"chat        {ADMIN} : delivered in " in out
    assert [m["chat_id"] for m in standin.messages()] == [GROUP, ADMIN]
    assert standin.messages()[0]["text"].startswith("✅ <b>netwatchd test</b>\nTest message from ")
    assert standin.messages()[0]["parse_mode"] == "HTML"


def test_one_line_per_failing_chat_and_exit_1(tmp_path, standin, capsys):
    standin.fail_next(1, "chat_not_found", chat_id=GROUP)
    standin.fail_next(1, "migrate", chat_id=ADMIN, to_chat_id=-1005)
    assert main(["test-notify", "-c", _config(tmp_path, standin)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"  chat {GROUP} : chat not found (check telegram.chat_ids; the bot must be a member of that chat)"
    assert out[2] == f"  chat        {ADMIN} : this group became supergroup -1005: put -1005 in telegram.chat_ids"
    assert out[3] == "2 of 2 chat(s) failed"


def test_a_wrong_token_is_one_line_on_stderr(tmp_path, standin, capsys):
    wrong = _config(tmp_path, standin, token="999999:AAnot-the-right-token-but-the-right-shape")
    assert main(["test-notify", "-c", wrong]) == 1
    captured = capsys.readouterr()
    assert captured.err == ("netwatchd: cannot use the bot: the bot token was rejected "
                            "(check telegram.token with @BotFather)\n")
    assert "not-the-right-token-but-the-right-shape" not in captured.out + captured.err


def test_unreachable_telegram_is_one_line_per_chat(tmp_path, capsys):
    with TelegramStandIn() as tg:
        config = _config(tmp_path, tg)
    assert main(["test-notify", "-c", config, "--timeout", "1"]) == 1
    assert capsys.readouterr().err.startswith("netwatchd: cannot use the bot: Telegram getMe via 127.0.0.1:")


def test_without_a_token_it_shows_the_console_text(tmp_path, capsys):
    assert main(["test-notify", "-c", _config(tmp_path, None)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("✅ Tes netwatchd\nPesan uji dari ")
    assert "no telegram.token configured: alerts go to the console" in out
