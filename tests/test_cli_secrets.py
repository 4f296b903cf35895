"""Each command asks only for the secrets it uses: an admin's laptop or a CI box holding the shipped
hosts.yaml may have the router password but no bot token, or neither, and `test-notify`,
`crosscheck` and `import-netwatch` still work there (in-process CLI, real stand-ins on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatchd.cli import main
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.logs import isolated_secrets

ROUTER_PASSWORD = "Rr-pass-9c4d"


@pytest.fixture(autouse=True)
def _forget_secrets_afterwards():
    with isolated_secrets():
        yield


def _config(tmp_path: Path, *, api_url: str = "http://127.0.0.1:9", router_port: int = 9) -> str:
    """The shipped layout: both secrets come from the environment."""
    path = tmp_path / "hosts.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        "telegram:\n  token: ${NW_TEST_BOT_TOKEN}\n  chat_ids: [-1001]\n"
        f"  api_url: {api_url}\n  language: en\n"
        f"routers:\n  - {{name: core, address: 127.0.0.1, port: {router_port}, username: netwatchd,"
        " password: ${NW_TEST_ROUTER_PW}}\n"
        "hosts:\n  - {name: Waru, address: 198.18.1.1, parent: core}\n", "utf-8")
    return str(path)


def test_test_notify_needs_the_token_but_not_the_router_password(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NW_TEST_ROUTER_PW", raising=False)
    with TelegramStandIn() as tg:
        monkeypatch.setenv("NW_TEST_BOT_TOKEN", tg.token)
        assert main(["test-notify", "-c", _config(tmp_path, api_url=tg.api_url)]) == 0
        assert [m["chat_id"] for m in tg.messages()] == [-1001]
    assert "delivered in" in capsys.readouterr().out


def test_test_notify_without_the_token_variable_names_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NW_TEST_BOT_TOKEN", raising=False)
    monkeypatch.delenv("NW_TEST_ROUTER_PW", raising=False)
    assert main(["test-notify", "-c", _config(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{tmp_path / 'hosts.yaml'}:3: telegram.token: environment variable NW_TEST_BOT_TOKEN is not set "
                   "(export NW_TEST_BOT_TOKEN=... in the agent's environment, or write the value here)"]


def test_crosscheck_needs_the_router_password_but_not_the_token(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NW_TEST_BOT_TOKEN", raising=False)
    monkeypatch.setenv("NW_TEST_ROUTER_PW", ROUTER_PASSWORD)
    with RouterOSStandIn("netwatchd", ROUTER_PASSWORD) as router:
        assert main(["crosscheck", "-c", _config(tmp_path, router_port=router.port)]) in (0, 3)
    captured = capsys.readouterr()
    assert "netwatchd has not run yet" in captured.out and "NW_TEST_BOT_TOKEN" not in captured.err
    monkeypatch.delenv("NW_TEST_ROUTER_PW")
    assert main(["crosscheck", "-c", _config(tmp_path)]) == 2
    assert "routers[core].password: environment variable NW_TEST_ROUTER_PW is not set" in capsys.readouterr().err


def test_import_netwatch_from_a_router_needs_its_password_only(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NW_TEST_BOT_TOKEN", raising=False)
    monkeypatch.setenv("NW_TEST_ROUTER_PW", ROUTER_PASSWORD)
    with RouterOSStandIn("netwatchd", ROUTER_PASSWORD) as router:
        assert main(["import-netwatch", "--router", "core", "-c", _config(tmp_path, router_port=router.port)]) == 0
    assert "hosts:" in capsys.readouterr().out


def test_import_netwatch_from_a_script_needs_no_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NW_TEST_BOT_TOKEN", raising=False)
    monkeypatch.delenv("NW_TEST_ROUTER_PW", raising=False)
    rsc = Path(__file__).parent / "testdata" / "netwatch-v7.rsc"
    assert main(["import-netwatch", "--rsc", str(rsc), "-c", _config(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "hosts:" in captured.out and "entries from" in captured.err


def test_status_and_report_need_no_secret(tmp_path, monkeypatch, capsys):
    """docs/install.md (day to day): `status` and `report` read the store, not the secrets."""
    monkeypatch.delenv("NW_TEST_BOT_TOKEN", raising=False)
    monkeypatch.delenv("NW_TEST_ROUTER_PW", raising=False)
    config = _config(tmp_path)
    assert main(["status", "-c", config]) == 1          # the agent has not run: one line, not a config error
    assert "no store at" in capsys.readouterr().err
    assert main(["report", "-c", config, "--format", "json"]) == 0
    assert "NW_TEST" not in capsys.readouterr().err
