"""`netwatchd probe` as an administrator runs it: a real subprocess, loopback targets only."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from netwatchd.cli import main

JSON_KEYS = {"address", "alive", "sent", "received", "loss_percent", "rtt_min_ms", "rtt_avg_ms",
             "rtt_max_ms", "jitter_ms", "error"}


def netwatchd(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netwatchd", "probe", *args], capture_output=True,
                          text=True, input=stdin, timeout=30)


def test_json_lists_every_target_with_the_documented_fields():
    done = netwatchd("--json", "-c", "2", "-i", "10ms", "-t", "500ms", "127.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["address"] for r in results] == ["127.0.0.1", "::1"]
    for result in results:
        assert JSON_KEYS <= set(result)
        assert result["alive"] and (result["sent"], result["received"], result["loss_percent"]) == (2, 2, 0.0)
        assert result["rtt_min_ms"] <= result["rtt_avg_ms"] <= result["rtt_max_ms"]


def test_table_and_exit_status_1_when_a_target_fails():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = netwatchd("--probe", "tcp", "--port", str(port), "127.0.0.1")
    assert done.returncode == 1
    header, row = done.stdout.strip().splitlines()
    assert header.split()[:4] == ["ADDRESS", "PROBE", "RESULT", "SENT"]
    assert row.split()[:3] == ["127.0.0.1", "tcp", "DOWN"]
    assert row.endswith(f"connection refused (port {port})")
    up = netwatchd("-c", "1", "127.0.0.1")
    assert up.returncode == 0 and up.stdout.splitlines()[1].split()[:3] == ["127.0.0.1", "icmp", "up"]


def test_from_file_reads_addresses_and_skips_comments(tmp_path: Path):
    listing = tmp_path / "targets.txt"
    listing.write_text("# kecamatan test list\n127.0.0.1\n\n127.0.0.2   # second\n::1\n")
    done = netwatchd("--json", "-c", "1", "--from-file", str(listing), "127.0.0.3")
    assert done.returncode == 0, done.stderr
    assert [r["address"] for r in json.loads(done.stdout)] == ["127.0.0.3", "127.0.0.1", "127.0.0.2", "::1"]
    piped = netwatchd("--json", "-c", "1", "--from-file", "-", stdin="127.0.0.4\n")
    assert [r["address"] for r in json.loads(piped.stdout)] == ["127.0.0.4"]


def test_from_file_takes_a_hosts_yaml_with_its_probe_settings(tmp_path: Path):
    config = tmp_path / "lab-hosts.yaml"  # a test config on loopback, never the shipped hosts.yaml
    config.write_text(
        "data_dir: ./data\n"
        "hosts:\n"
        "  - name: loopback\n"
        "    address: 127.0.0.1\n"
        "    count: 2\n"
        "  - name: loopback-v6\n"
        "    address: '::1'\n"
        "    count: 1\n")
    done = netwatchd("--json", "--from-file", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout)
    assert [(r["host"], r["sent"]) for r in results] == [("loopback", 2), ("loopback-v6", 1)]


def test_from_file_hosts_yaml_needs_no_secrets_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    config = tmp_path / "lab-hosts.yaml"  # loopback only
    config.write_text(
        "data_dir: ./data\n"
        "telegram: {token: ${TELEGRAM_BOT_TOKEN}, chat_ids: [-100123], admins: [1]}\n"
        "hosts:\n"
        "  - {name: loopback, address: 127.0.0.1, count: 1}\n")
    done = netwatchd("--json", "--from-file", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["host"] for r in json.loads(done.stdout)] == ["loopback"]


@pytest.mark.parametrize("args, message", [
    ([], "nothing to probe: give one or more ADDR, or --from-file FILE"),
    (["-c", "0", "127.0.0.1"], "--count 0 is out of range (allowed: 1-1000)"),
    (["-c", "three", "127.0.0.1"], "--count 'three' is not a whole number (allowed: 1-1000)"),
    (["-t", "soon", "127.0.0.1"], "--timeout 'soon' is not a duration (e.g. 500ms, 1s, 0.2)"),
    (["-t", "0", "127.0.0.1"], "--timeout '0' is out of range (allowed: more than 0 to 60s)"),
    (["-i", "2m", "127.0.0.1"], "--interval '2m' is out of range (allowed: 0 to 60s)"),
    (["--probe", "tcp", "127.0.0.1"], "--probe tcp needs --port N (the TCP port to connect to)"),
    (["--probe", "dns", "127.0.0.1"], "--probe dns needs --dns-name NAME (ADDR is the DNS server to ask)"),
    (["--from-file", "/nonexistent/list.txt"],
     "cannot read --from-file /nonexistent/list.txt: No such file or directory"),
])
def test_usage_mistakes_are_one_line_and_exit_2(args: list[str], message: str, capsys):
    # in-process through the real entry point (no packet is sent for a usage mistake)
    assert main(["probe", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"netwatchd: {message}"
    assert captured.out == ""


def test_a_file_with_two_words_on_a_line_is_refused_with_its_line_number(tmp_path: Path):
    listing = tmp_path / "bad.txt"
    listing.write_text("127.0.0.1\n127.0.0.2 127.0.0.3\n")
    done = netwatchd("--from-file", str(listing))
    assert done.returncode == 2
    assert done.stderr.strip() == f"netwatchd: {listing}:2: one address per line, got '127.0.0.2 127.0.0.3'"
