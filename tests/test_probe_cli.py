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


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1\r\n127.0.0.2\r\n\n", ["127.0.0.1", "127.0.0.2"]),        # a Windows file, a blank line
    ("127.0.0.1\n  127.0.0.2\t\n# note\n::1 # v6\n", ["127.0.0.1", "127.0.0.2", "::1"]),
    ("127.0.0.1\x0b127.0.0.2\n", None),                                    # a vertical tab between two words
    ("kantor\u00a0waru\n", None),                                          # a no-break space between two words
    ("127.0.0.1 127.0.0.2", None),
])
def test_an_address_list_is_one_word_a_line_whichever_way_it_is_read(text: str, expected: list[str] | None):
    from netwatchd.commands.probe import address_lines
    from netwatchd.errors import UsageError

    if expected is None:
        with pytest.raises(UsageError, match="one address per line"):
            address_lines(text, "list.txt")
    else:
        assert address_lines(text, "list.txt") == expected


# -- the whole process at scale: what it builds and writes (in-process, no packet sent) ------------

def _args(*argv: str):
    from netwatchd.cli import build_parser

    return build_parser(only=("probe",)).parse_args(["probe", *argv])


def test_plain_addresses_get_the_command_lines_settings_in_one_host_spec_each(tmp_path: Path):
    from netwatchd.commands.probe import build_hosts
    from netwatchd.config.model import HostSpec

    listing = tmp_path / "targets.txt"
    listing.write_text("127.0.0.2\n127.0.0.3  # a comment\n")
    hosts = build_hosts(_args("-c", "2", "-i", "10ms", "-t", "300ms", "-s", "100", "-f", str(listing), "127.0.0.1"))
    assert hosts == [HostSpec(name=a, address=a, count=2, packet_interval=0.01, timeout=0.3, packet_size=100)
                     for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3")]
    assert len({id(h) for h in hosts}) == 3
    tcp = build_hosts(_args("--probe", "tcp", "-p", "22", "127.0.0.1"))
    assert tcp == [HostSpec(name="127.0.0.1", address="127.0.0.1", probe="tcp", port=22)]


def test_a_hosts_yaml_keeps_its_settings_unless_a_flag_overrides_them(tmp_path: Path):
    from netwatchd.commands.probe import build_hosts

    config = tmp_path / "lab-hosts.yaml"  # loopback only; nothing is probed here
    config.write_text("data_dir: ./data\nhosts:\n"
                      "  - {name: office, address: 127.0.0.1, count: 5, timeout: 2s}\n"
                      "  - {name: 127.0.0.2, address: 127.0.0.2}\n"
                      "  - {name: off, address: 127.0.0.3, disabled: true}\n")
    hosts = build_hosts(_args("-f", str(config)))
    assert [(h.name, h.count, h.timeout, h.probe) for h in hosts] == [("office", 5, 2.0, "icmp"),
                                                                      ("127.0.0.2", 3, 1.0, "icmp")]
    hosts = build_hosts(_args("-c", "1", "--probe", "tcp", "-p", "7", "-f", str(config)))
    assert [(h.name, h.count, h.timeout, h.probe, h.port) for h in hosts] == [
        ("office", 1, 2.0, "icmp", None), ("127.0.0.2", 1, 1.0, "tcp", 7)]


def _results():
    from datetime import datetime, timezone

    from netwatchd.models import ProbeResult

    at = datetime(2026, 11, 2, 1, 0, 0, 123456, tzinfo=timezone.utc)
    return [
        ProbeResult.from_rtts(host="127.0.0.1", address="127.0.0.1", probe="icmp", at=at, sent=3,
                              rtts_ms=[0.25, 0.5, 1.125], detail={"mode": "raw"}),
        ProbeResult.from_rtts(host='kantor "Waru" \u00e9', address="::1", probe="icmp", at=at, sent=2, rtts_ms=[],
                              error="destination host unreachable from 198.18.0.1", detail={"icmp_errors": 2}),
        ProbeResult(host="web", address="127.0.0.1", probe="http", at=at, alive=True, sent=1, received=1,
                    rtt_min_ms=12.0, rtt_avg_ms=12.0, rtt_max_ms=12.0, detail={"http_status": 301}),
        ProbeResult(host="dns", address="127.0.0.1", probe="dns", at=at, alive=True, sent=1, received=1,
                    detail={"dns_answers": ["198.18.0.5", "198.18.0.6"]}),
        ProbeResult(host="x", address="127.0.0.9", probe="tcp", at=at, alive=False, error="connection refused"),
    ]


def test_to_dict_has_every_field_as_dataclasses_asdict_had_it():
    import dataclasses

    for result in _results():
        old = dataclasses.asdict(result)
        old["at"] = result.at.isoformat(timespec="milliseconds")
        old["loss_percent"] = result.loss_percent
        assert result.to_dict() == old
        assert list(result.to_dict()) == list(old)        # same key order: same JSON as before
    result = _results()[3]
    result.to_dict()["detail"]["dns_answers"].append("changed")
    assert result.detail["dns_answers"] == ["198.18.0.5", "198.18.0.6"]   # a copy, as asdict made


def test_json_output_is_the_results_to_dict_one_per_line():
    from netwatchd.commands.probe import render_json

    results = _results()
    text = render_json(results)
    assert json.loads(text) == [r.to_dict() for r in results]
    assert text.splitlines()[1:-1] == [json.dumps(r.to_dict()) + ("," if i < len(results) - 1 else "")
                                       for i, r in enumerate(results)]
    assert render_json([]) == "[]"


def test_the_table_shows_http_status_dns_answers_and_errors():
    from netwatchd.commands.probe import render_table

    lines = render_table(_results()).splitlines()
    assert lines[0].split() == ["ADDRESS", "PROBE", "RESULT", "SENT", "RECV", "LOSS%", "MIN", "AVG", "MAX",
                                "JITTER", "NOTE"]
    assert lines[1].split() == ["127.0.0.1", "icmp", "up", "3", "3", "0", "0.25", "0.62", "1.12", "0.44"]
    assert lines[2].startswith('kantor "Waru" \u00e9 (::1)  icmp   DOWN')
    assert lines[2].split("DOWN")[1].split() == ["2", "0", "100", "-", "-", "-", "-", "destination", "host",
                                                 "unreachable", "from", "198.18.0.1"]
    assert lines[3].endswith("  HTTP 301") and lines[4].endswith("  198.18.0.5 198.18.0.6")
    assert lines[5].endswith("  connection refused")
    assert all(line == line.rstrip() for line in lines)


def test_output_goes_out_in_one_write_even_when_stdout_is_unbuffered():
    import io

    from netwatchd.commands.probe import render_json, render_table, write_out

    class Raw(io.RawIOBase):
        def __init__(self) -> None:
            self.writes: list[bytes] = []

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:  # type: ignore[override]
            self.writes.append(bytes(data))
            return len(data)

    def unbuffered() -> tuple[Raw, io.TextIOWrapper]:   # what python -u / PYTHONUNBUFFERED gives
        raw = Raw()
        return raw, io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", write_through=True,
                                     line_buffering=True)

    results = _results() * 2000
    for text in (render_table(results), render_json(results)):
        raw, stream = unbuffered()
        write_out(text, stream)
        assert raw.writes == [(text + "\n").encode()]
    raw, stream = unbuffered()
    json.dump([r.to_dict() for r in results], stream, indent=1)   # what --json did: a write per token
    assert len(raw.writes) > 100_000
