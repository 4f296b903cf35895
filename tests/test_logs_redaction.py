"""Secrets never reach any output: redact() patterns, registered secrets in their escaped forms,
JSON lines, real `requests` exceptions (which carry the token-bearing URL), uncaught exceptions in
threads, and the whole CLI run with --log-level debug, grepped for the secrets."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from netwatchd.logs import (
    JsonFormatter,
    RedactingFormatter,
    add_secret,
    describe_exception,
    isolated_secrets,
    redact,
    setup_logging,
)

TOKEN = "7012345678:AAH-secretTokenForRedactionTests_xyz"
PASSWORD = 'r0uter"pa$$ w0rd'
WEB_PASSWORD = "status-page-secret"


@pytest.fixture(autouse=True)
def _forget_secrets_afterwards() -> Iterator[None]:
    """Configs loaded here register made-up secrets; keep them out of other tests' output."""
    with isolated_secrets():
        yield


@pytest.mark.parametrize("text, expected", [
    (f"POST https://api.telegram.org/bot{TOKEN}/sendMessage", "POST https://api.telegram.org/bot***/sendMessage"),
    ("url: /bot123456%3AAAEabcdefghijklmn/getUpdates", "url: /bot***/getUpdates"),
    ("token 123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA leaked", "token *** leaked"),
    ("/login =name=netwatchd =password=hunter2", "/login =name=netwatchd =password=***"),
    ("GET http://admin:hunter2@127.0.0.1:8080/api", "GET http://admin:***@127.0.0.1:8080/api"),
    ("Authorization: Basic YWRtaW46aHVudGVyMg==", "Authorization: Basic ***"),
    ("GET /x?token=abc123&page=2", "GET /x?token=***&page=2"),
    ("routers[core].password: environment variable ROUTER_PASSWORD is not set",
     "routers[core].password: environment variable ROUTER_PASSWORD is not set"),   # messages stay readable
])
def test_shapes_of_secrets_are_masked_before_any_config_is_known(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_registered_secret_is_masked_in_escaped_forms() -> None:
    add_secret(PASSWORD)
    for form in (PASSWORD, repr(PASSWORD), json.dumps(PASSWORD), "r0uter%22pa%24%24%20w0rd"):
        assert "r0uter" not in redact(f"login failed with {form}!"), form


def test_short_values_are_not_registered() -> None:
    add_secret("ab")
    assert redact("about a bar") == "about a bar"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_real_requests_exception_is_redacted_in_text_and_json() -> None:
    add_secret(TOKEN)
    url = f"http://127.0.0.1:{_closed_port()}/bot{TOKEN}/getMe"
    with pytest.raises(requests.RequestException) as caught:
        requests.get(url, timeout=2)
    assert TOKEN in str(caught.value)            # what requests itself puts in the message
    assert TOKEN not in describe_exception(caught.value)
    assert describe_exception(caught.value).startswith("ConnectionError: ")
    record = logging.LogRecord("netwatchd.notify", logging.ERROR, __file__, 1, "send to %s failed: %s",
                               (url, caught.value), (type(caught.value), caught.value, caught.value.__traceback__))
    record.url = url                             # an extra= field
    for formatter in (RedactingFormatter(), JsonFormatter()):
        line = formatter.format(record)
        assert TOKEN not in line and TOKEN.split(":")[1] not in line
        assert "bot***" in line
    document = json.loads(JsonFormatter().format(record))
    assert document["level"] == "error" and document["logger"] == "netwatchd.notify"
    assert document["url"].endswith("/bot***/getMe") and "Traceback" in document["exception"]
    assert document["time"].endswith("Z")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes process-wide state (root handlers, excepthooks): put it back."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook, threading.excepthook)
    yield
    root.handlers[:], level, sys.excepthook, threading.excepthook = saved
    root.setLevel(level)
    logging.captureWarnings(False)


def test_json_escaping_cannot_hide_a_secret(restore_logging: None) -> None:
    add_secret(PASSWORD)   # contains a quote, which JSON escapes
    stream = io.StringIO()
    setup_logging("debug", "json", stream=stream)
    logging.getLogger("netwatchd.router").warning("login as netwatchd/%s refused", PASSWORD)
    line = stream.getvalue()
    assert "r0uter" not in line and json.loads(line)["message"] == "login as netwatchd/*** refused"


def _run_script(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_uncaught_exceptions_in_threads_and_main_are_redacted(tmp_path: Path, fmt: str) -> None:
    done = _run_script(tmp_path, f"""
        import sys, threading, warnings
        from netwatchd.logs import add_secret, setup_logging
        setup_logging("debug", sys.argv[1])
        add_secret({PASSWORD!r})
        def worker():
            raise RuntimeError("router said: bad password " + {PASSWORD!r})
        t = threading.Thread(target=worker, name="router-poll"); t.start(); t.join()
        warnings.warn("fetching https://api.telegram.org/bot{TOKEN}/getMe")
        raise ValueError("giving up on /bot{TOKEN}/sendMessage")
    """, fmt)
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "router-poll" in output and "ValueError" in output and "RuntimeError" in output
    assert "r0uter" not in output and TOKEN not in output and TOKEN.split(":")[1] not in output


def test_cli_with_secrets_in_the_config_never_prints_them(tmp_path: Path) -> None:
    """Runs check (valid, invalid, --json, --log-level debug, both log formats) on configs holding a
    bot token, router and web passwords, and greps everything the processes wrote."""
    valid = tmp_path / "hosts.yaml"
    valid.write_text(textwrap.dedent(f"""\
        telegram: {{token: "{TOKEN}", chat_ids: [-100123], admins: [42]}}
        routers: [{{name: core, address: 127.0.0.1, password: '{PASSWORD}'}}]
        web: {{listen: 127.0.0.1:0, username: admin, password: {WEB_PASSWORD}}}
        hosts:
          - {{name: Waru, address: 127.0.0.2, parent: core, comment: "token {TOKEN} pw {WEB_PASSWORD}"}}
        """))
    broken = tmp_path / "broken.yaml"
    broken.write_text(valid.read_text().replace("address: 127.0.0.2", "address: 127.0.0.999")
                      + f"pasword: {WEB_PASSWORD}\ntelegram_token: {TOKEN}\n")
    bad_token = tmp_path / "bad-token.yaml"
    bad_token.write_text("telegram: {token: 'malformed-token-secret-value', chat_ids: [1]}\n"
                         "routers: [{name: r, address: 10.0.0.1, password: [not, text]}]\nhosts: []\n")
    env_file = tmp_path / "env.yaml"
    env_file.write_text("telegram: {token: '${TG}', chat_ids: [-1]}\nrouters: [{name: r, address: 10.0.0.1, "
                        "password: ${PW}}]\nhosts: [{name: A, address: ${PW}}]\n")
    env = {**os.environ, "TG": TOKEN, "PW": "env-password-value"}
    outputs = []
    for args in (["--log-level", "debug", "check", "-c", str(valid)],
                 ["--log-level", "debug", "--log-format", "json", "check", "-c", str(valid)],
                 ["check", "--json", "-c", str(valid), "--log-level", "debug"],
                 ["--log-level", "debug", "check", "-c", str(broken)],
                 ["check", "--json", "-c", str(broken)],
                 ["--log-level", "debug", "check", "-c", str(env_file)],
                 ["--log-level", "debug", "check", "--json", "-c", str(bad_token)]):
        done = subprocess.run([sys.executable, "-m", "netwatchd", *args], capture_output=True, text=True,
                              timeout=60, env=env)
        assert "Traceback" not in done.stderr, done.stderr
        outputs.append(done.stdout + done.stderr)
    everything = "\n".join(outputs)
    assert "check: " in everything and "config: Config(" in everything    # the debug line was written
    assert "unknown key" in everything and "127.0.0.999" in everything    # the broken file was reported
    assert "does not look like a bot token" in everything
    for secret in (TOKEN, TOKEN.split(":")[1], "r0uter", WEB_PASSWORD, "env-password-value", "malformed-token"):
        assert secret not in everything, secret


def test_isolated_secrets_forgets_what_was_registered_inside() -> None:
    add_secret("outer-secret-value")
    with isolated_secrets():
        add_secret("inner-secret-value")
        assert redact("inner-secret-value outer-secret-value") == "*** ***"
    assert redact("inner-secret-value outer-secret-value") == "inner-secret-value ***"
