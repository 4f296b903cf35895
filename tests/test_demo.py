"""`netwatchd demo`: the README's first command. The whole demo runs once as root (about 30 s);
Ctrl-C half-way leaves nothing behind; without root it says why and how in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from netwatchd import cli
from netwatchd.lab.chatview import bubble, plain, render_chat_html
from netwatchd.lab.topology import PREFIX_STEM, list_namespaces


def test_without_root_the_demo_says_why_and_how_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "needs root" in err and "sudo netwatchd demo" in err



def test_without_iproute2_the_demo_names_the_package_in_one_line(monkeypatch, capsys):
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "ip" else real_which(name, *a, **k))
    assert cli.main(["demo"]) == 2
    assert capsys.readouterr().err == "netwatchd: the lab needs iproute2's 'ip' command: apt-get install iproute2\n"

@pytest.mark.parametrize("html, ansi, expected", [
    ("🔴 <b>Waru DOWN</b>", False, "🔴 Waru DOWN"),
    ("🔴 <b>Waru DOWN</b>", True, "🔴 \x1b[0m\x1b[1mWaru DOWN\x1b[0m"),
    ("<pre>a &lt;b&gt; &amp; c</pre>", False, "a <b> & c"),
    ("<b>bold <i>both</i></b>", True, "\x1b[0m\x1b[1mbold \x1b[0m\x1b[1;3mboth\x1b[0m\x1b[1m\x1b[0m"),
    ('<a href="https://example.invalid">link</a> &quot;x&quot;', False, 'link "x"'),
    ("<b>unclosed", True, "\x1b[0m\x1b[1munclosed\x1b[0m"),
])
def test_telegram_html_is_shown_as_the_chat_displays_it(html, ansi, expected):
    assert render_chat_html(html, ansi=ansi) == expected


def test_a_message_bubble_has_a_bar_before_every_line():
    assert bubble("<b>A</b>\nB &amp; C", ansi=False, title="chat") == "| chat\n| A\n| B & C"
    assert plain("&amp;lt;") == "&lt;"          # unescaped once, as Telegram does


def _our_namespaces(pid: int) -> list[str]:
    return [n for n in list_namespaces() if n.startswith(f"{PREFIX_STEM}{pid}x")]


@pytest.mark.netns
def test_the_demo_runs_end_to_end_within_90_seconds_and_removes_the_lab(lab):
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "netwatchd", "demo", "--no-color"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    took = time.monotonic() - start
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert took <= 90, took
    assert "Theoretical bound" in out and "= 3.0 s" in out
    assert "Waru DOWN" in out and "Waru UP" in out and "Confirmed by core: 0/3" in out
    assert "Taman PATH PROBLEM" in out and "but core can (3/3" in out and "Taman reachable again" in out
    assert "Taman DOWN" not in out
    assert "core DOWN — 18 sites unreachable" in out
    assert "admin @budi presses ✅ Ack" in out and "“✅ Waru: acknowledged”" in out
    assert "is edited in place:\n| ✅ acknowledged by @budi" in out and "🟢 resolved after" in out
    assert "↪ reply to: 🔴 Waru DOWN\n| 🟢 Waru UP" in out
    assert "escalation chat (heads)\n| ⏫ core DOWN — not acknowledged after" in out
    assert "core UP — 18 sites back with it" in out
    assert "one message for the core and every kecamatan back with it" in out
    assert "admin: /monitor" in out and "19 sites" in out
    assert "Ping Waru (198.18.15.2)" in out and "loss 0%" in out
    assert "availability report" in out
    assert "agent stopped with SIGTERM: exit 0" in out
    assert "lab removed" in out
    assert "Traceback" not in err
    assert _our_namespaces(proc.pid) == []


@pytest.mark.netns
def _marked_processes(mark: str) -> list[int]:
    """Processes whose environment carries `mark` (this test's demo and everything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_ctrl_c_half_way_removes_the_lab_and_stops_the_agent(lab):
    mark = f"NETWATCHD_TEST_DEMO={uuid.uuid4().hex}"
    key, _, value = mark.partition("=")
    proc = subprocess.Popen([sys.executable, "-m", "netwatchd", "demo", "--no-color"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, key: value})
    try:
        seen = ""
        deadline = time.monotonic() + 30
        while "1. Pull Waru's cable" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "1. Pull Waru's cable" in seen, seen
        assert _our_namespaces(proc.pid), "the lab should exist while the demo runs"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted: the lab was removed" in out
    assert "Traceback" not in err
    assert _our_namespaces(proc.pid) == []
    assert _marked_processes(mark) == []          # no agent or stand-in of this demo outlived it
