"""Hooks: a real command and a real webhook receiver on loopback get every event, in order, through
a receiver outage, at least once, and never the bot token; a failing hook shows in `netwatchd
status` and never holds up a Telegram alert."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from netwatchd import cli
from netwatchd.app import Agent
from netwatchd.clock import Backoff, FakeClock
from netwatchd.config.loader import load_config
from netwatchd.config.model import HookSpec
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.models import ProbeResult, State, Transition
from netwatchd.notify.hooks import HookFailed, HookRunner, event_names, hook_environment, lanes_for

HOOK_TOKEN = "hook-secret-Zq81xYv3"
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=timezone.utc)

RECORDER = """\
import json, os, sys
event = json.load(sys.stdin)
env = {k: v for k, v in os.environ.items()}
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"event": event, "env": env}) + "\\n")
print("environment:", " ".join(f"{k}={v}" for k, v in sorted(env.items())))
"""


class Receiver:
    """A webhook receiver on loopback: records every POST; `status` is what it answers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "status": receiver.status})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook?source=netwatchd"

    def delivered(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests if r["status"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


def write_config(tmp_path: Path, tg: TelegramStandIn, receiver: Receiver, *, command: list[str]) -> Path:
    path = tmp_path / "hosts.yaml"
    path.write_text(f"""\
data_dir: ./data
web: false
defaults: {{down_after: 1, up_after: 1, interval: 10s, timeout: 1s}}
hosts:
  - {{name: core, address: 198.18.0.1}}
  - {{name: kec-a, address: 198.18.1.2, parent: core}}
  - {{name: kec-b, address: 198.18.2.2, parent: core}}
telegram:
  token: ${{NW_TEST_BOT_TOKEN}}
  api_url: {tg.api_url}
  chat_ids: [-100777]
  poll_commands: false
hooks:
  - name: ticket
    on: [down, up, unreachable]
    command: {json.dumps(command)}
    timeout: 5s
  - name: gateway
    on: [down, up]
    url: {receiver.url}
    headers: {{Authorization: "Bearer ${{NW_TEST_HOOK_TOKEN}}", X-Source: netwatchd}}
    timeout: 2s
""")
    return path


def results(clock: FakeClock, **alive: bool) -> list[ProbeResult]:
    return [ProbeResult.from_rtts(host=host, address="198.18.0.1", probe="icmp", at=clock.now(), sent=1,
                                  rtts_ms=[1.0] if up else []) for host, up in alive.items()]


def drain(agent: Agent, clock: FakeClock, steps: int = 6) -> None:
    for _ in range(steps):
        agent.deliver_once()
        clock.advance(0.05)


def test_command_and_webhook_get_every_event_in_order_through_an_outage(
        tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    calls = tmp_path / "calls.jsonl"
    with TelegramStandIn() as tg:
        monkeypatch.setenv("NW_TEST_BOT_TOKEN", tg.token)
        monkeypatch.setenv("NW_TEST_HOOK_TOKEN", HOOK_TOKEN)
        config = load_config(write_config(tmp_path, tg, receiver, command=[sys.executable, str(script), str(calls)]))
        clock = FakeClock(T0)
        agent = Agent(config, clock=clock, probe_fn=lambda hosts, **_: [], routers=_NoRouters())
        agent.worker.hook_backoff = Backoff(0.5, 0.5, jitter=0.0)
        try:
            agent.handle_results(results(clock, core=True, **{"kec-a": True, "kec-b": True}))  # first settling
            drain(agent, clock)
            assert receiver.requests == [] and not calls.exists()
            clock.advance(10)
            # kec-a DOWN: its parent answers, and its sibling, probed at once as the agent does
            agent.handle_results(results(clock, core=True, **{"kec-a": False, "kec-b": True}))
            drain(agent, clock)
            receiver.status = 503                                              # the gateway fails from here on
            for step in ({"kec-a": True}, {"kec-b": False, "kec-a": True}, {"kec-b": True}):
                clock.advance(10)
                agent.handle_results(results(clock, core=True, **step))
                drain(agent, clock)
            clock.advance(10)
            agent.handle_results(results(clock, core=False))                   # core DOWN: kec-a/b unreachable
            drain(agent, clock)
            # meanwhile Telegram got every alert: a failing hook holds up nothing
            assert len(tg.messages(-100777)) >= 5
            status = _status(tmp_path, capsys=None)
            assert "hook gateway (http://127.0.0.1:" in status and "FAILING" in status and "HTTP 503" in status
            assert "hook ticket (" in status and ": ok;" in status
            receiver.status = 200                                              # the gateway is back
            for _ in range(10):
                clock.advance(1)
                drain(agent, clock, 3)
        finally:
            agent.stop(0.5)
        expected = [("kec-a", "down"), ("kec-a", "up"), ("kec-b", "down"), ("kec-b", "up"), ("core", "down")]
        got = [(e["host"], e["state"]) for e in receiver.delivered()]
        assert got == expected                                       # every event, in order, after the outage
        assert sum(1 for r in receiver.requests if r["status"] == 503) >= 2   # it was retried, not dropped
        ids = [e["event_id"] for e in receiver.delivered()]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        headers = receiver.requests[-1]["headers"]
        assert headers["Authorization"] == f"Bearer {HOOK_TOKEN}" and headers["X-Source"] == "netwatchd"
        assert headers["Content-Type"] == "application/json" and headers["X-Netwatchd-Event-Id"] == str(ids[-1])
        lines = [json.loads(line) for line in calls.read_text().splitlines()]
        assert [(c["event"]["host"], c["event"]["event"]) for c in lines] == [
            *expected, ("kec-a", "unreachable"), ("kec-b", "unreachable")]
        env = lines[0]["env"]
        assert (env["NETWATCHD_HOST"], env["NETWATCHD_STATE"], env["NETWATCHD_PREVIOUS"], env["NETWATCHD_EVENT"]) \
            == ("kec-a", "down", "up", "down")
        assert lines[4]["env"]["NETWATCHD_AFFECTED"] == "kec-a,kec-b"     # the core's DOWN names its sites
        everything = calls.read_text() + json.dumps([r["headers"] for r in receiver.requests]) + \
            b"".join(r["body"] for r in receiver.requests).decode() + caplog.text
        assert tg.token not in everything and tg.token.split(":")[1] not in everything   # never the bot token
        assert HOOK_TOKEN not in caplog.text                          # the header secret is never logged
        assert "hook ticket stdout: environment:" in caplog.text and "NETWATCHD_HOST=kec-a" in caplog.text


class _NoRouters:
    def close(self) -> None:
        pass


def _status(tmp_path: Path, capsys: Any) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["status", "-c", str(tmp_path / "hosts.yaml")]) == 0
    return out.getvalue()


def test_which_transitions_run_hooks() -> None:
    def t(before: str, after: str, kind: str = "state", notify: bool = True) -> Transition:
        return Transition("kec-a", "", State(before), State(after), T0, kind=kind, notify=notify)

    assert event_names(t("unknown", "up", notify=False)) == set()          # the first settling at start
    assert event_names(t("up", "down")) == {"down"} and event_names(t("down", "up")) == {"up"}
    assert event_names(t("up", "down", notify=False)) == set()             # muted, flapping, alert_on_down: false
    assert event_names(t("up", "unreachable", notify=False)) == {"unreachable"}
    assert event_names(t("up", "down", kind="flapping")) == {"flapping"}
    assert event_names(t("down", "up", kind="maintenance_end")) == {"up"}
    assert event_names(t("up", "down", kind="uplink_lost")) == {"uplink"}
    assert event_names(t("up", "up", kind="reminder")) == set()
    assert event_names(t("up", "path")) == {"path"}                           # issue 14: the via router reaches it
    assert event_names(t("up", "degraded", kind="router_health")) == {"router"}
    assert event_names(t("up", "up", kind="router_restart")) == {"router"}
    lanes = lanes_for([HookSpec(name="a", on=("down",), command=("x",)), HookSpec(name="b", on=("up", "down"),
                                                                                  command=("y",))])
    assert lanes(t("up", "down")) == ["hook:a", "hook:b"] and lanes(t("down", "up")) == ["hook:b"]


def test_a_command_gets_no_secret_from_the_environment_and_is_killed_at_its_timeout(tmp_path: Path) -> None:
    env = hook_environment({"event": "down", "kind": "state", "host": "kec-a", "address": "198.18.1.2", "group": "",
                            "state": "down", "previous": "up", "at": "t", "since": None, "event_id": 7,
                            "affected": [], "hook": "h"},
                           base={"PATH": "/usr/bin", "TELEGRAM_BOT_TOKEN": "123:abc", "ROUTER_PASSWORD": "pw",
                                 "LANG": "C.UTF-8"})
    assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "NETWATCHD_EVENT": "down", "NETWATCHD_KIND": "state",
                   "NETWATCHD_HOST": "kec-a", "NETWATCHD_ADDRESS": "198.18.1.2", "NETWATCHD_GROUP": "",
                   "NETWATCHD_STATE": "down", "NETWATCHD_PREVIOUS": "up", "NETWATCHD_AT": "t", "NETWATCHD_SINCE": "",
                   "NETWATCHD_EVENT_ID": "7", "NETWATCHD_AFFECTED": "", "NETWATCHD_HOOK": "h"}
    runner = HookRunner([], workdir=tmp_path)
    slow = HookSpec(name="slow", command=(sys.executable, "-c", "import time; time.sleep(30)"), timeout=0.3)
    event = {**json.loads(json.dumps({"event": "down", "kind": "state", "host": "x", "address": "", "group": "",
                                      "state": "down", "previous": "up", "at": "t", "since": None, "event_id": 1,
                                      "affected": [], "hook": "slow"}))}
    with pytest.raises(HookFailed, match="did not finish within 0.3 s"):
        runner.run(slow, event)
    failing = HookSpec(name="f", command=(sys.executable, "-c", "import sys; print('no ticket', file=sys.stderr); "
                                                               "sys.exit(3)"))
    with pytest.raises(HookFailed, match="exited with status 3: no ticket"):
        runner.run(failing, event)
    with pytest.raises(HookFailed, match="cannot run /nonexistent/open-ticket"):
        runner.run(HookSpec(name="n", command=("/nonexistent/open-ticket",)), event)


def test_a_webhook_that_refuses_the_request_is_given_up_and_a_redirect_is_not_followed(receiver: Receiver) -> None:
    runner = HookRunner([])
    spec = HookSpec(name="g", url=receiver.url, headers={"Authorization": f"Bearer {HOOK_TOKEN}"})
    event = {"event": "down", "event_id": 3}
    receiver.status = 401
    with pytest.raises(HookFailed) as refused:
        runner.run(spec, event)
    assert refused.value.permanent and "HTTP 401" in str(refused.value) and HOOK_TOKEN not in str(refused.value)
    receiver.status = 503
    with pytest.raises(HookFailed) as busy:
        runner.run(spec, event)
    assert not busy.value.permanent
    receiver.status = 302
    with pytest.raises(HookFailed) as moved:
        runner.run(spec, event)
    assert moved.value.permanent and "final URL" in str(moved.value)
    receiver.close()
    with pytest.raises(HookFailed, match="connection refused") as down:
        runner.run(spec, event)
    assert not down.value.permanent and "source=netwatchd" not in str(down.value)   # no query string shown


def test_the_issue_s_example_config_loads_and_the_header_secret_is_masked(tmp_path: Path) -> None:
    from netwatchd.logs import isolated_secrets, redact

    path = tmp_path / "hosts.yaml"
    path.write_text("""\
hosts:
  - {name: kec-a, address: 198.18.1.2}
telegram: {chat_ids: [-1002222]}
reports:
  - every: monthly
    at: "08:00"
    chat_ids: [-1001111]
    format: pdf
    language: id
  - every: weekly
hooks:
  - on: [down, up]
    command: ["/usr/local/bin/open-ticket", "--site"]
    timeout: 10s
  - on: [down, up]
    url: https://gateway.example/hook
    headers: {Authorization: "Bearer ${HOOK_TOKEN}"}
""")
    with isolated_secrets():
        config = load_config(path, {"HOOK_TOKEN": HOOK_TOKEN})
        assert redact(f"sent {HOOK_TOKEN} and Bearer {HOOK_TOKEN}") == "sent *** and ***"
    assert [(r.every, r.at, r.chat_ids, r.format, r.language) for r in config.reports] == [
        ("monthly", "08:00", (-1001111,), "pdf", "id"), ("weekly", "08:00", (-1002222,), "pdf", "id")]
    ticket, gateway = config.hooks
    assert (ticket.name, ticket.on, ticket.command, ticket.timeout) == (
        "hook1", ("down", "up"), ("/usr/local/bin/open-ticket", "--site"), 10.0)
    assert (gateway.name, gateway.url, gateway.headers) == ("hook2", "https://gateway.example/hook",
                                                            {"Authorization": f"Bearer {HOOK_TOKEN}"})
    assert HOOK_TOKEN not in repr(config)
