"""Every invalid config in tests/testdata/invalid-*.yaml paired with its exact messages
(the blackbox_exporter config/testdata pattern), plus the inputs that are not YAML at all.

Each expected line is `LINE: key.path: what is wrong (what is allowed)`; the file name is prefixed
when comparing, so a message that changes, moves to another line, or goes missing fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatchd.config.loader import InvalidConfig, analyze, load_config
from netwatchd.errors import ConfigError
from netwatchd.logs import isolated_secrets

TESTDATA = Path(__file__).parent / "testdata"

@pytest.fixture(autouse=True)
def _forget_secrets_afterwards() -> Iterator[None]:
    """Configs loaded here register made-up secrets; keep them out of other tests' output."""
    with isolated_secrets():
        yield


EXPECTED: dict[str, list[str]] = {
    "invalid-address.yaml": [
        "2: hosts[A].address: '172.16.0.256' is not a valid IPv4 address (four numbers 0-255 like 172.16.200.117)",
        "3: hosts[B].address: 'fe80::zz' is not a valid IPv6 address (an IPv4 address, an IPv6 address or a host name like kec-waru.sidoarjo.local)",
        "4: hosts[C].address: 'bad_host.local' is not a valid host name (RFC 1123: letters, digits and '-' in dot-separated labels of 1-63 characters)",
        "5: hosts[D].address: 'http://10.0.0.1/' is a URL, not an address (put the host here and the URL under url:)",
        "6: hosts[E].address: '10.0.0.1:8080' includes a port (put the port under port:)",
        "7: hosts[F].address: '-leading.example' is not a valid host name (RFC 1123: letters, digits and '-' in dot-separated labels of 1-63 characters)",
        "8: hosts[G].address: '172.16.200.0/24' is a network, not an address (write the host's own address, without /prefix)",
    ],
    "invalid-api-url.yaml": [
        "2: telegram.api_url: 'ftp://api.telegram.org' is not a http/https URL (a URL starting with http:// or https://)",
    ],
    "invalid-chat-ids.yaml": [
        "3: telegram.chat_ids[0]: '@diskominfo' is not a whole number (a whole number, not 0)",
        '3: telegram.chat_ids[1]: 0 is not allowed (a whole number, not 0)',
        "4: telegram.admins[0]: '12.5' is not a whole number (a whole number of at least 1)",
    ],
    "invalid-incidents.yaml": [
        "4: telegram.viewers[0]: 'abc' is not a whole number (a whole number of at least 1)",
        "5: telegram.buttons: 'sometimes' is not true or false (write true or false)",
        "9: telegram.escalate[1].after: 15m is not later than the level before (1h, line 7) (list the levels in the order they are sent, each after the one before)",
        "11: telegram.escalate[2]: after is missing (add after: ...)",
        "12: telegram.escalate[3].chat_ids: names no chat (at least one chat id, e.g. [-1002222])",
        "14: telegram.routes[0].match[0].group: unknown group 'kecamatn' (did you mean 'kecamatan'?)",
        "16: telegram.routes[1].match: unknown selector 'site' ({group: NAME} or {host: NAME}, or a list of them)",
        "18: telegram.routes[2].match: a selector names exactly one of host or group ({group: NAME} or {host: NAME}, or a list of them)",
        "21: telegram.routes[3].thread_id: '0' is out of range (a whole number of at least 1)",
        "23: telegram.routes[4].match: must be a mapping or a list of mappings, not text ({group: NAME} or {host: NAME}, or a list of them)",
    ],
    "invalid-count.yaml": [
        "2: defaults.count: '0' is out of range (a whole number from 1 to 100)",
        "4: hosts[Waru].down_after: '1000' is out of range (a whole number from 1 to 100)",
        "4: hosts[Waru].up_after: '-1' is out of range (a whole number from 1 to 100)",
    ],
    "invalid-defaults-name.yaml": [
        '2: defaults.name: is set per host, not under defaults (move it to each host)',
    ],
    "invalid-dns-no-name.yaml": [
        '2: hosts[Resolver].probe: a dns probe needs dns_name, the name to resolve (add dns_name: e.g. sidoarjokab.go.id; address is the DNS server)',
    ],
    "invalid-duplicate-host.yaml": [
        "3: hosts[waru].name: duplicate host name 'waru' (already used on line 2; names are compared without case)",
    ],
    "invalid-duplicate-key.yaml": [
        '4: telegram.chat_ids: duplicate key, already set on line 3 (YAML would silently keep only the last one; remove one of them)',
    ],
    "invalid-duration.yaml": [
        "2: defaults.interval: '10 seconds' is not a duration (a duration like 500ms, 10s, 1m, 1h30m or plain seconds, 100ms to 1d)",
        "3: defaults.retry_interval: '-1s' is not a duration (a duration like 500ms, 10s, 1m, 1h30m or plain seconds, 100ms to 1d)",
        "5: hosts[Waru].reminder_every: '1h30x' is not a duration (a duration like 500ms, 10s, 1m, 1h30m or plain seconds, 1m to 4w2d, or off)",
    ],
    "invalid-env-syntax.yaml": [
        "2: '${1TOKEN}' is not a valid environment variable reference (write ${NAME} with letters, digits and _, or $${ for a literal ${)",
    ],
    "invalid-flapping.yaml": [
        '3: flapping.low_percent: low_percent 40% is not below high_percent 20% (low_percent < high_percent, e.g. 25% and 50%)',
    ],
    "invalid-host-missing-fields.yaml": [
        '2: hosts[0]: name is missing (add name: ...)',
        '3: hosts[Candi]: address is missing (add address: an IP address or host name, or url: for an http/https probe)',
        '4: hosts[2]: must be a mapping, not text (- {name: ..., address: ...})',
    ],
    "invalid-http-url.yaml": [
        '2: hosts[Portal].url: url starts with https:// but probe is http (use probe: https)',
        '3: hosts[Mail].url: url is only used by http/https probes, but probe is icmp (add probe: http, or remove url)',
        '3: hosts[Mail].http_code_min: http_code_min 500 is above http_code_max 200 (http_code_min <= http_code_max)',
        "4: hosts[Bad].url: 'http://bad_host/': 'bad_host' is not a valid host name (RFC 1123: letters, digits and '-' in dot-separated labels of 1-63 characters)",
        "5: hosts[Port].url: 'https://portal.local:99999/' has an invalid port (a port from 1 to 65535, like https://host:8443/)",
    ],
    "invalid-huge-numbers.yaml": [
        "2: defaults.count: '99999999999999999999999…' is out of range (a whole number from 1 to 100)",
        "3: defaults.interval: '1e400' is not a duration (a duration like 500ms, 10s, 1m, 1h30m or plain seconds, 100ms to 1d)",
        "5: hosts[Waru].packet_size: '12345678901234567890123…' is out of range (a whole number from 0 to 65500)",
    ],
    "invalid-icmp-too-long.yaml": [
        '4: defaults.count: an ICMP probe of 30 echoes 50ms apart plus timeout 1s takes 2s450ms, not shorter than interval 2s (lower count or packet_interval, or raise interval)',
    ],
    "invalid-language.yaml": [
        "2: telegram.language: unknown language 'jv' (one of: id, en)",
    ],
    "invalid-list.yaml": [
        '1: the file is a list, not a mapping of keys (top-level keys like defaults:, telegram:, routers:, hosts:)',
    ],
    "invalid-maintenance-mixed.yaml": [
        '2: maintenance[0]: mixes start/end with days/daily_start/daily_end (a one-off window and a weekly one are two entries)',
        "3: maintenance[1].days[1]: 'funday' is not a day of the week (mon..sun, senin..minggu, or 0=Monday..6=Sunday)",
        '3: maintenance[1].daily_end: 22:00 is not after daily_start 23:00 (for a window across midnight write two: …-24:00 and 00:00-…)',
        '4: maintenance[2]: a window needs start and end, start and duration, or daily_start and daily_end (e.g. start: 2026-12-01T22:00, duration: 2h)',
    ],
    "invalid-maintenance.yaml": [
        "2: maintenance[0].targets[0]: unknown host or group 'Waroo' (did you mean 'Waru'?)",
        '2: maintenance[0].end: end is not after start (end must be later than start)',
        "3: maintenance[1].daily_start: '25:00' is not a time of day (a time of day HH:MM from 00:00 to 24:00)",
    ],
    "invalid-missing-env.yaml": [
        "1: data_dir: environment variable NETWATCHD_DATA is not set (export NETWATCHD_DATA=... in the agent's environment, or write the value here)",
    ],
    "invalid-no-cascade.yaml": [
        "2: hosts[A].address: '1.2.3.999' is not a valid IPv4 address (four numbers 0-255 like 172.16.200.117)",
        "3: hosts[B].count: '0' is out of range (a whole number from 1 to 100)",
    ],
    "invalid-null-required.yaml": [
        "2: hosts[0].name: is empty (1-64 characters without '/', ',' or control characters)",
        '3: hosts[B].address: is empty (an IPv4 address, an IPv6 address or a host name)',
        "4: routers[0].name: is empty (1-64 characters without '/', ',' or control characters)",
    ],
    "invalid-parent-loop.yaml": [
        '2: hosts[A].parent: parents loop: A -> B -> C -> A (parents must form a tree)',
        "5: hosts[D].parent: 'D' cannot be its own parent (name another host or a router)",
    ],
    "invalid-percent.yaml": [
        "2: defaults.down_loss_percent: '150%' is out of range (a percentage above 0% and up to 100%, like 50%)",
        "3: defaults.thresholds.loss_percent: '0%' is out of range (a percentage above 0% and up to 100%, like 50%, or off)",
        "5: hosts[Waru].thresholds.loss_percent: 'lots' is not a number (a percentage above 0% and up to 100%, like 50%, or off)",
    ],
    "invalid-port.yaml": [
        "2: routers[core].port: '70000' is out of range (a whole number from 1 to 65535)",
        "4: hosts[Web].port: '0' is out of range (a whole number from 1 to 65535)",
    ],
    "invalid-probe-type.yaml": [
        "2: hosts[Waru].probe: unknown probe type 'ping' (one of: icmp, tcp, http, https, dns)",
    ],
    "invalid-retention.yaml": [
        '3: retention.rollup_5m_days: raw_days (30 days) is longer than rollup_5m_days (14 days) (raw_days <= rollup_5m_days <= rollup_days)',
    ],
    "invalid-router-names.yaml": [
        "3: routers[Core].name: duplicate router name 'Core' (already used on line 2)",
        '4: routers[2]: name is missing (add name: ...)',
        "6: hosts[core].name: 'core' is also a router's name, with a different address, 172.16.0.1 (give the host and the router different names, or the same address)",
    ],
    "invalid-router-tls.yaml": [
        "2: routers[core].port: port 8728 is RouterOS's plain API port but tls is true (use port 8729 for api-ssl, or tls: false)",
        "3: routers[edge].tls: 'maybe' is not true or false (write true or false)",
    ],
    "invalid-self-check.yaml": [
        "2: self_check.anchors[1]: '999.1.1.1' is not a valid IPv4 address (four numbers 0-255 like 172.16.200.117)",
        "3: self_check.probe_interval: '0s' is out of range (a duration like 500ms, 10s, 1m, 1h30m or plain seconds, 1s to 1h)",
    ],
    "invalid-syntax.yaml": [
        "4: YAML syntax error: while parsing a block collection: expected <block end>, but found '<block mapping start>' (at column 4; check the indentation and quote values that contain ': ', '#', '{' or '[')",
    ],
    "invalid-tab-indent.yaml": [
        "2: YAML syntax error: while scanning for the next token: found character '\\t' that cannot start any token (at column 1; indent with spaces, not tabs)",
    ],
    "invalid-templates.yaml": [
        '3: telegram.templates.down: unbalanced HTML tags (Telegram would refuse it)',
        '4: telegram.templates.up: must be a non-empty text (fix it, or remove the key to use the built-in text)',
    ],
    "invalid-tcp-no-port.yaml": [
        '2: hosts[Web].probe: a tcp probe needs a port (add port: 1-65535)',
    ],
    "invalid-telegram-no-chats.yaml": [
        "2: telegram.chat_ids: a token is set but no chat receives the alerts (add chat_ids: [the admins' group chat id])",
    ],
    "invalid-telegram-token.yaml": [
        '2: telegram.token: does not look like a bot token (digits:letters as @BotFather gives it, like 123456789:AAE...)',
    ],
    "invalid-timeout-interval.yaml": [
        '4: hosts[Waru].timeout: timeout 5s is not shorter than interval 5s (make timeout shorter than interval)',
        '5: hosts[Candi].interval: timeout 1s is not shorter than interval 500ms (make timeout shorter than interval)',
    ],
    "invalid-timezone.yaml": [
        "1: timezone: unknown time zone 'Asia/Jakarat' (an IANA time zone like Asia/Jakarta, Asia/Makassar or UTC; did you mean 'Asia/Jakarta'?)",
    ],
    "invalid-top-level-host-key.yaml": [
        '1: interval: unknown key (host settings go under defaults: or on a host, e.g. defaults.interval)',
    ],
    "invalid-two-documents.yaml": [
        "3: YAML syntax error: expected a single document in the stream, but found another document (at column 1; keep one YAML document per file: remove the '---' line)",
    ],
    "invalid-unknown-key.yaml": [
        "2: defaults.intervall: unknown key (did you mean 'interval'?)",
        "4: hosts[Waru].parnet: unknown key (did you mean 'parent'?)",
    ],
    "invalid-unknown-parent.yaml": [
        "4: hosts[Waru].parent: unknown parent 'cor' (did you mean 'core'?)",
    ],
    "invalid-web-auth.yaml": [
        '3: web: username is set but password is missing (set both username and password, or neither)',
    ],
    "invalid-reports-hooks.yaml": [
        "4: reports[0].every: unknown schedule 'fortnightly' (one of: daily, weekly, monthly)",
        "6: reports[1].at: 24:00 is not a time to send at (00:00 to 23:59)",
        "7: reports[2].chat_ids: no chat would receive this report (add chat_ids: [...] here or under telegram:)",
        "8: reports[2].format: unknown format 'docx' (one of: pdf, html, csv)",
        '10: hooks[0]: needs a command or a url (one of them: command: ["/usr/local/bin/open-ticket"] or url: https://gateway.example/hook)',
        "12: hooks[1].command: '/usr/local/bin/open-ticket --site' is one text, not a list of words (a list of words, the program first: [\"/usr/local/bin/open-ticket\", \"--site\"] (no shell); a shell line needs [\"/bin/sh\", \"-c\", \"...\"])",
        '13: hooks[2]: has both command and url (one of them: command: ["/usr/local/bin/open-ticket"] or url: https://gateway.example/hook)',
        "16: hooks[3].on[0]: unknown event 'reboot' (one of: down, up, degraded, unreachable, flapping, path, acknowledged, uplink, router)",
        "17: hooks[3].url: 'ftp://gateway.example/hook' is not a http/https URL (a URL starting with http:// or https://)",
        "20: hooks[gw].headers: 'Bad Header' is not an HTTP header name (letters, digits and - (like X-Api-Key))",
        "21: hooks[GW].name: hook name 'GW' is used twice (already hook [4]; give each hook its own name)",
    ],
    "invalid-web-listen.yaml": [
        "2: web.listen: '8080' is not host:port (host:port like 127.0.0.1:8080, [::1]:8080 or :8080 for every interface)",
    ],
    "invalid-wrong-types.yaml": [
        '1: timezone: must be a single value, not a list (an IANA time zone like Asia/Jakarta, Asia/Makassar or UTC)',
        "2: announce_startup: 'sometimes' is not true or false (write true or false)",
        '3: defaults: must be a mapping of keys, not text (keys like probe, group, parent, comment, interval, timeout, ...)',
        '5: hosts: must be a list, not a mapping (a list of mappings, one per entry: - {name: ..., address: ...})',
    ],
}


def test_every_invalid_file_has_expected_messages() -> None:
    on_disk = {p.name for p in TESTDATA.glob("invalid-*.yaml")}
    assert on_disk == set(EXPECTED), "add the new file's exact messages to EXPECTED"
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_file_messages(name: str) -> None:
    path = TESTDATA / name
    result = analyze(path, environ={})
    assert result.config is None
    assert [str(p) for p in result.problems] == [f"{path}:{line}" for line in EXPECTED[name]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_config_raises_config_error_with_every_problem(name: str) -> None:
    path = TESTDATA / name
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert isinstance(caught.value, InvalidConfig)
    assert caught.value.exit_code == 2
    assert caught.value.problems == [f"{path}:{line}" for line in EXPECTED[name]]


def _problems(path: Path) -> list[str]:
    result = analyze(path, environ={})
    assert result.config is None
    return [str(p) for p in result.problems]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("")
    assert _problems(path) == [f"{path}:1: the file is empty (it needs at least a hosts: list; "
                               "see the shipped hosts.yaml)"]


def test_comments_only_file_counts_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("# nothing yet\n\n# still nothing\n")
    assert _problems(path) == [f"{path}:1: the file is empty (it needs at least a hosts: list; "
                               "see the shipped hosts.yaml)"]


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_bytes(b"hosts:\n\x00\x01\x02\xff\xfe")
    assert _problems(path) == [f"{path}:2: this is a binary file, not YAML text "
                               "(give the path of your hosts.yaml)"]


def test_directory(tmp_path: Path) -> None:
    assert _problems(tmp_path) == [f"{tmp_path}: is a directory, not a file "
                                   "(give the path of your hosts.yaml with -c FILE)"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert _problems(path) == [f"{path}: no such file (give the path of your hosts.yaml with -c FILE)"]


def test_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_bytes(b"hosts:\n  - {name: Waru, address: 172.16.200.117}\n  - {name: Kec"
                     + b"\xe9" + b"matan, address: 10.0.0.1}\n")
    assert _problems(path) == [f"{path}:3: not valid UTF-8 (byte 0xe9 at column 15; save the file as UTF-8)"]


def test_symlink_loop_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.symlink_to(path)
    assert _problems(path) == [f"{path}: cannot read the file: too many levels of symbolic links "
                               "(check the path and its permissions)"]


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("hosts: []\n")

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)   # root ignores file modes, so refuse the way the OS would
    assert _problems(path) == [f"{path}: cannot read the file: permission denied (check the path and its permissions)"]


def test_fifo_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    os.mkfifo(path)
    assert _problems(path) == [f"{path}: is not a regular file (a pipe or device cannot be read as a config; "
                               "give the path of your hosts.yaml)"]


def test_scalar_document(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("just some words\n")
    assert _problems(path) == [f"{path}:1: the file is text, not a mapping of keys "
                               "(top-level keys like defaults:, telegram:, routers:, hosts:)"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_bytes(b"\xef\xbb\xbfhosts:\n  - {name: Waru, address: 172.16.200.117}\n")
    assert analyze(path, environ={}).config is not None


def test_alias_bomb_is_stopped(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        prev = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([prev] * 10)}]")
    path = tmp_path / "hosts.yaml"
    path.write_text("\n".join(lines) + "\n")
    problems = _problems(path)
    assert len(problems) == 1
    assert "after expanding aliases" in problems[0]


def test_deep_nesting_is_a_message_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("hosts: " + "[" * 5000 + "]" * 5000 + "\n")
    problems = _problems(path)
    assert len(problems) >= 1 and all(p.startswith(f"{path}:") for p in problems)


@pytest.mark.parametrize("text", [
    "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 1000)),          # mappings 1,000 levels deep
    "hosts:\n" + "".join("  " * i + "- \n" for i in range(1, 1000)),      # sequences 1,000 levels deep
    "hosts:\n  - " + "- " * 1000 + "x\n",                                  # compact sequences on one line
])
def test_block_nesting_1000_deep_is_one_located_line_not_a_recursion_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "netwatchd", "check", "-c", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith(f"{path}:") and ("flatten the YAML" in first or "syntax error" in first), first


def test_all_errors_are_collected_in_line_order(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(
        "timezone: Mars/Olympus\n"
        "defaults: {count: 0}\n"
        "hosts:\n"
        "  - {name: A, address: 1.2.3.999}\n"
        "  - {name: B, address: 10.0.0.2, probe: icmpp}\n")
    problems = _problems(path)
    assert [p.split(":")[1] for p in problems] == ["1", "2", "4", "5"]
    assert "did you mean 'icmp'?" in problems[3]


def test_a_value_with_a_newline_is_still_reported_on_one_line(tmp_path: Path) -> None:
    # found by tests/test_config_fuzz.py: a quoted scalar may hold a newline
    path = tmp_path / "hosts.yaml"
    path.write_text('hosts:\n  - {name: A, address: "1.2.3\\n.4"}\n')
    assert _problems(path) == [f"{path}:2: hosts[A].address: '1.2.3\\n.4' is not a valid host name "
                               "(RFC 1123: letters, digits and '-' in dot-separated labels of 1-63 characters)"]
