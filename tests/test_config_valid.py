"""Valid configs: defaults and overrides, durations, ${VAR} expansion (also inside flow mappings),
relative data_dir, maintenance windows, and the schema table staying complete."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netwatchd.config import model as config_module
from netwatchd.config.kinds import format_duration, parse_duration
from netwatchd.config.loader import analyze, load_config
from netwatchd.config.schema import SECTIONS, Section, config_reference
from netwatchd.errors import ConfigError
from netwatchd.logs import isolated_secrets, redact

REPO = Path(__file__).resolve().parent.parent
ENV = {"TELEGRAM_BOT_TOKEN": "987654321:AAFakeTokenForTests_abcdefghijklmno", "ROUTER_PASSWORD": "r0uter: #{pw}"}


@pytest.fixture(autouse=True)
def _forget_secrets_afterwards() -> Iterator[None]:
    """Configs loaded here register made-up secrets; keep them out of other tests' output."""
    with isolated_secrets():
        yield


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hosts.yaml"
    path.write_text(text)
    return path


def test_shipped_hosts_yaml_loads_with_secrets_from_the_environment() -> None:
    config = load_config(REPO / "hosts.yaml", environ=ENV)
    kecamatan = [h for h in config.hosts if h.group == "kecamatan"]
    assert len(kecamatan) == 18 and {h.parent for h in kecamatan} == {"core"}
    core = config.host("core")                                  # watched, so a dead core is one message
    assert core is not None and core.parent is None and core.address == config.routers[0].address
    assert config.host("waru").address == "172.16.200.117"
    assert config.routers[0].password == "r0uter: #{pw}"      # expanded after parsing: ': ' and '#' survive
    assert config.telegram.token == ENV["TELEGRAM_BOT_TOKEN"]
    assert config.telegram.chat_ids == (-1001234567890,)
    assert config.data_dir == (REPO / "netwatchd-data").resolve()
    # loading registered the secrets: no later output can show them
    text = f"GET /bot{ENV['TELEGRAM_BOT_TOKEN']}/getMe with password {ENV['ROUTER_PASSWORD']}"
    assert ENV["TELEGRAM_BOT_TOKEN"] not in redact(text) and ENV["ROUTER_PASSWORD"] not in redact(text)


def test_shipped_hosts_yaml_without_secrets_is_valid_for_check_only() -> None:
    result = analyze(REPO / "hosts.yaml", environ={}, secrets_may_be_unset=True)
    assert result.problems == []
    assert result.config is not None and not result.config.telegram.enabled
    assert result.unset_secrets == {"telegram.token": "TELEGRAM_BOT_TOKEN", "routers[core].password": "ROUTER_PASSWORD"}
    assert [w.path for w in result.warnings] == ["telegram.token", "routers[core].password"]
    with pytest.raises(ConfigError) as caught:
        load_config(REPO / "hosts.yaml", environ={})
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        "telegram.token: environment variable TELEGRAM_BOT_TOKEN is not set "
        "(export TELEGRAM_BOT_TOKEN=... in the agent's environment, or write the value here)",
        "routers[core].password: environment variable ROUTER_PASSWORD is not set "
        "(export ROUTER_PASSWORD=... in the agent's environment, or write the value here)"]


def test_defaults_apply_and_hosts_override_them_key_by_key(tmp_path: Path) -> None:
    path = write(tmp_path, """
defaults:
  interval: 30s
  timeout: 2s
  count: 5
  thresholds: {rtt_avg_ms: 250ms, loss_percent: 10%}
hosts:
  - {name: A, address: 10.0.0.1}
  - {name: B, address: 10.0.0.2, interval: 1m, thresholds: {loss_percent: 40}}
  - name: C
    address: fd00::3
    probe: tcp
    port: 443
    timeout: 500ms
""")
    a, b, c = load_config(path, environ={}).hosts
    assert (a.interval, a.timeout, a.count) == (30.0, 2.0, 5)
    assert a.thresholds.rtt_avg_ms == 250.0 and a.thresholds.loss_percent == 10.0
    assert a.thresholds.rtt_max_ms == 1000.0                      # dataclass default kept
    assert (b.interval, b.timeout) == (60.0, 2.0)
    assert b.thresholds.loss_percent == 40.0 and b.thresholds.rtt_avg_ms == 250.0  # merged per key
    assert (c.probe, c.port, c.timeout, c.interval) == ("tcp", 443, 0.5, 30.0)


def test_hosts_are_slotted_and_equal_thresholds_are_one_object(tmp_path: Path) -> None:
    """At 10,000 sites a HostSpec with a __dict__ (1.6 KB) and a Thresholds per site were ~17 MB."""
    path = write(tmp_path, """
defaults:
  thresholds: {rtt_avg_ms: 250ms}
hosts:
  - {name: A, address: 10.0.0.1}
  - {name: B, address: 10.0.0.2, thresholds: {loss_percent: 40}}
  - {name: C, address: 10.0.0.3}
  - {name: D, address: 10.0.0.4, thresholds: {loss_percent: 40}}
  - {name: E, address: 10.0.0.5, thresholds: {rtt_avg_ms: 250ms}}
""")
    a, b, c, d, e = load_config(path, environ={}).hosts
    assert not hasattr(a, "__dict__") and not hasattr(a.thresholds, "__dict__")
    assert a.thresholds is c.thresholds is e.thresholds           # written the same way or not at all
    assert b.thresholds is d.thresholds and b.thresholds is not a.thresholds
    assert b.thresholds.loss_percent == 40.0 and b.thresholds.rtt_avg_ms == 250.0
    assert a.thresholds.loss_percent == 20.0


def test_a_host_override_is_checked_against_the_defaults_it_meets(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults: {interval: 5s}\nhosts:\n  - {name: A, address: 10.0.0.1}\n"
                           "  - {name: B, address: 10.0.0.2, timeout: 6s}\n")
    problems = analyze(path, environ={}).problems
    assert [str(p) for p in problems] == [f"{path}:4: hosts[B].timeout: timeout 6s is not shorter than interval 5s "
                                          "(make timeout shorter than interval)"]


def test_a_rule_broken_in_defaults_is_reported_once_not_per_host(tmp_path: Path) -> None:
    hosts = "".join(f"  - {{name: H{i}, address: 10.0.0.{i}}}\n" for i in range(1, 19))
    path = write(tmp_path, "defaults:\n  interval: 1s\n  timeout: 2s\nhosts:\n" + hosts)
    assert [p.path for p in analyze(path, environ={}).problems] == ["defaults.timeout"]


@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("10s", 10.0), ("1m", 60.0), ("1h30m", 5400.0), ("1d", 86400.0), ("1w", 604800.0),
    ("1m30s250ms", 90.25), ("00:01:30", 90.0), ("2.5", 2.5), ("15", 15.0), ("1.5s", 1.5), (" 10S ", 10.0),
    (7, 7.0), (0.25, 0.25),
    # as RouterOS prints them (the API, /export): ping times and clock style after days
    ("1ms234us", 0.001234), ("845us", 0.000845), ("1d02:00:00", 93600.0), ("1w2d03:04:05", 788645.0),
])
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "s", "10x", "1h 30m", "-5s", "1e3s", "m10", "10ss", "inf", "nan",
                                  "10:00:05s", "1:60:00", "1h 00:00:01",
                                  True, None, float("inf"), -1])
def test_parse_duration_rejects(text: object) -> None:
    if text == "10":
        assert parse_duration(text) == 10.0  # plain seconds as text is fine
        return
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10 ** 12))
def test_duration_round_trip_whole_milliseconds(millis: int) -> None:
    seconds = millis / 1000
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert format_duration(parse_duration(text)) == text


@given(st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from(["w", "d", "h", "m", "s", "ms"])),
                min_size=1, max_size=6))
def test_duration_parts_add_up(parts: list[tuple[int, str]]) -> None:
    size = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert parse_duration(text) == sum(n * size[unit] for n, unit in parts) / 1000


def test_durations_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
defaults: {interval: 1h30m, timeout: "00:00:02", retry_interval: 500ms, reminder_every: 2h,
           packet_interval: 20ms, thresholds: {rtt_max_ms: 1.5s, jitter_ms: 30, stdev_ms: off}}
hosts: [{name: A, address: 10.0.0.1}, {name: B, address: 10.0.0.2, reminder_every: off}]
retention: {raw_days: 2w, rollup_5m_days: 30, rollup_days: 1y}
""")
    result = analyze(path, environ={})
    assert [str(p) for p in result.problems] == [
        f"{path}:5: retention.rollup_days: '1y' is not a duration (a duration like 500ms, 10s, 1m, 1h30m or "
        "plain days, 1h to 521w3d, or off)".replace(", or off", "")]
    path.write_text(path.read_text().replace("1y", "400d"))
    config = load_config(path, environ={})
    a, b = config.hosts
    assert (a.interval, a.timeout, a.retry_interval, a.reminder_every, a.packet_interval) == (
        5400.0, 2.0, 0.5, 7200.0, 0.02)
    assert (a.thresholds.rtt_max_ms, a.thresholds.jitter_ms, a.thresholds.stdev_ms) == (1500.0, 30.0, None)
    assert b.reminder_every is None
    retention = config.retention
    assert (retention.raw_days, retention.rollup_5m_days, retention.rollup_days) == (14.0, 30.0, 400.0)


def test_env_expansion_inside_flow_mappings_keeps_lines_and_types(tmp_path: Path) -> None:
    path = write(tmp_path, """telegram:
  token: ${TOKEN}
  chat_ids: [${CHAT}, -100200]
  admins: [${ADMIN}]
routers:
  - {name: core, address: ${CORE_ADDR}, password: ${PW}, username: "$${literal}"}
hosts:
  - {name: A, address: 10.0.0.1, parent: core, comment: "pw is ${PW}", timeout: 99s}
""")
    env = {"TOKEN": "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "CHAT": "-100123", "ADMIN": "42",
           "CORE_ADDR": "172.16.0.1", "PW": "x: {y} # z"}
    result = analyze(path, environ=env)
    # the line numbers after ${...} on earlier lines and earlier on the same line are right
    assert [(p.line, p.path) for p in result.problems] == [(8, "hosts[A].timeout")]
    path.write_text(path.read_text().replace(", timeout: 99s", ""))
    config = load_config(path, environ=env)
    assert config.telegram.chat_ids == (-100123, -100200) and config.telegram.admins == (42,)
    assert config.routers[0].address == "172.16.0.1" and config.routers[0].password == "x: {y} # z"
    assert config.routers[0].username == "${literal}"
    assert config.hosts[0].comment == "pw is x: {y} # z"


def test_missing_env_variable_is_named_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts:\n  - {name: A, address: ${SITE_A}}\n")
    assert [str(p) for p in analyze(path, environ={}).problems] == [
        f"{path}:2: hosts[A].address: environment variable SITE_A is not set "
        "(export SITE_A=... in the agent's environment, or write the value here)"]


def test_data_dir_is_relative_to_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "hosts.yaml"
    path.write_text("data_dir: state\nhosts: [{name: A, address: 10.0.0.1}]\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("etc/hosts.yaml"), environ={}).data_dir == (folder / "state").resolve()
    path.write_text(f"data_dir: {tmp_path}/abs\nhosts: [{{name: A, address: 10.0.0.1}}]\n")
    assert load_config(path, environ={}).data_dir == tmp_path / "abs"


def test_parents_resolve_to_hosts_or_routers_in_their_own_spelling(tmp_path: Path) -> None:
    path = write(tmp_path, """
routers: [{name: Core, address: 172.16.0.1, tls: true}]
defaults: {parent: CORE}
hosts:
  - {name: Dist, address: 10.0.0.1}
  - {name: Site, address: 10.0.0.2, parent: dist}
  - {name: Core, address: 172.16.0.1, parent: null}
""")
    config = load_config(path, environ={})
    assert [(h.name, h.parent) for h in config.hosts] == [("Dist", "Core"), ("Site", "Dist"), ("Core", None)]
    assert config.routers[0].port == 8729            # api-ssl port by default with tls


def test_http_host_may_leave_out_address_and_web_and_flapping_forms(tmp_path: Path) -> None:
    path = write(tmp_path, """
web: {listen: "[::1]:9090", username: admin, password: s3cret-web}
flapping: false
announce_startup: yes
crosscheck_every: 5m
hosts:
  - {name: Portal, probe: https, url: "https://portal.sidoarjo.local:8443/health", http_code_max: 299}
""")
    config = load_config(path, environ={})
    assert config.hosts[0].address == "portal.sidoarjo.local"
    assert (config.web.host, config.web.port, config.web.username) == ("::1", 9090, "admin")
    assert config.flapping.enabled is False and config.announce_startup is True
    assert config.crosscheck_every == 300.0
    path.write_text("web: false\nhosts: [{name: A, address: 10.0.0.1}]\n")
    assert load_config(path, environ={}).web.enabled is False


def test_maintenance_windows_in_local_time_become_utc(tmp_path: Path) -> None:
    path = write(tmp_path, """
timezone: Asia/Jakarta
hosts:
  - {name: Waru, address: 172.16.200.117, group: kecamatan}
maintenance:
  - {targets: [waru], start: 2026-12-01T22:00, end: 2026-12-02T01:00, reason: kabel PLN}
  - {targets: [KECAMATAN], start: "2026-12-05T03:00Z", duration: 2h}
  - {targets: [Waru], days: [sat, Minggu, 0], daily_start: "22:00", daily_end: "24:00"}
""")
    one, two, weekly = load_config(path, environ={}).maintenance
    assert (one.targets, one.start, one.end, one.reason) == (
        ("Waru",), "2026-12-01T15:00:00+00:00", "2026-12-01T18:00:00+00:00", "kabel PLN")
    assert (two.targets, two.start, two.end) == (
        ("kecamatan",), "2026-12-05T03:00:00+00:00", "2026-12-05T05:00:00+00:00")
    assert (weekly.days, weekly.daily_start, weekly.daily_end) == ((0, 5, 6), "22:00", "24:00")


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """
x-site: &site {group: kecamatan, parent: core, interval: 20s}
""".replace("x-site", "defaults") + """
routers: [{name: core, address: 172.16.0.1}]
hosts:
  - {<<: *site, name: A, address: 10.0.0.1, interval: 5s}
""")
    host = load_config(path, environ={}).hosts[0]
    assert (host.group, host.parent, host.interval) == ("kecamatan", "core", 5.0)


def test_values_yaml_would_retype_stay_text(tmp_path: Path) -> None:
    # YAML 1.1 reads 0x1F as 31 and 22:00 as 1320 - names and passwords must stay as written
    path = write(tmp_path, "routers: [{name: r1, address: 10.0.0.1, password: 0x1F}]\n"
                           "hosts: [{name: 2024, address: 10.0.0.2, group: 22:00, comment: yes}]\n")
    config = load_config(path, environ={})
    assert config.routers[0].password == "0x1F"
    assert (config.hosts[0].name, config.hosts[0].group, config.hosts[0].comment) == ("2024", "22:00", "yes")


def test_every_dataclass_field_has_a_key_in_the_schema() -> None:
    """Fails when someone adds a config field that the loader does not parse yet."""
    for section in SECTIONS:
        if section.target is None:
            continue
        keys = {k.name for k in section.keys} | set(section.extra_fields)
        fields = {f.name for f in dataclasses.fields(section.target) if f.init}   # Config.tz is built, not read
        if section.target is config_module.HostSpec:
            fields -= {"name", "address"} if section.name == "defaults" else set()
        missing = fields - keys
        assert not missing, f"{section.target.__name__} fields without a YAML key: {sorted(missing)}"


def test_config_reference_lists_every_key() -> None:
    text = config_reference()
    for section in SECTIONS:
        for key in section.keys:
            if isinstance(key.kind, Section):
                continue
            assert f"`{key.name}`" in text or f"`thresholds.{key.name}`" in text, key.name


def test_load_without_secrets_for_commands_that_need_none() -> None:
    from netwatchd.config.loader import load

    config = load(REPO / "hosts.yaml", environ={}, secrets_may_be_unset=True)
    assert config.telegram.token == "" and config.routers[0].password == "" and len(config.hosts) == 19


def test_warnings_do_not_fail_the_config(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    path = write(tmp_path, """
telegram: {token: "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA", chat_ids: [-100123]}
web: {listen: ":8080"}
routers: [{name: core, address: 172.16.0.1, ca_file: ca.pem}]
crosscheck_every: 10m
hosts: []
""")
    result = analyze(path, environ={})
    assert result.problems == [] and result.config is not None
    assert result.config.routers[0].ca_file == str(ca)
    assert [str(w).split(": ", 1)[1] for w in result.warnings] == [
        "warning: telegram.admins: nobody may command the bot (add the admins' Telegram user ids under admins:)",
        "warning: web.listen: the status page on 0.0.0.0 is open to the network without a password "
        "(add web.username and web.password, or listen on 127.0.0.1)",
        "warning: routers[core].ca_file: is only used with tls: true (add tls: true or remove it)",
        "warning: hosts: no hosts to watch (add a hosts: list, e.g. - {name: Waru, address: 172.16.200.117})",
    ]


def test_an_empty_token_warns_that_alerts_stay_on_the_console(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram: {token: '${TG}', chat_ids: [-1]}\nhosts: [{name: A, address: 10.0.0.1}]\n")
    result = analyze(path, environ={"TG": ""})
    assert result.config is not None and not result.config.telegram.enabled
    assert [str(w) for w in result.warnings] == [f"{path}:1: warning: telegram.token: is empty, so alerts go to the "
                                                 "console (set the bot token from @BotFather to send them to Telegram)"]


def test_a_secret_too_short_to_mask_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "routers: [{name: r, address: 10.0.0.1, password: ab}]\n"
                           "hosts: [{name: A, address: 10.0.0.1}]\n")
    result = analyze(path, environ={})
    assert result.config is not None
    assert [str(w) for w in result.warnings] == [
        f"{path}:1: warning: routers[r].password: is only 2 character(s) long "
        "(use a longer secret: one under 3 characters cannot be masked in logs)"]


def test_a_parent_that_is_only_a_router_is_warned_about(tmp_path: Path) -> None:
    from netwatchd.config.loader import analyze

    path = write(tmp_path, "routers:\n  - {name: core, address: 198.18.0.1, password: x}\n"
                           "hosts:\n  - {name: A, address: 198.18.1.2, parent: core}\n"
                           "  - {name: B, address: 198.18.2.2, parent: core}\n")
    result = analyze(path, {})
    assert result.config is not None and not result.problems
    [warning] = [w for w in result.warnings if w.path.endswith(".parent")]
    assert warning.line == 4 and "'core' is a router but not a watched host" in warning.what
    assert "- {name: core, address: 198.18.0.1}" in warning.allowed


def test_incident_keys_roles_buttons_escalation_and_routes(tmp_path: Path) -> None:
    path = write(tmp_path, """
telegram:
  token: "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
  chat_ids: [-100111]
  admins: [111, 222]
  viewers: [333, 111]
  buttons: false
  escalate:
    - after: 15m
      chat_ids: [-1002222]
    - {after: 1h, chat_ids: -1003333}
  routes:
    - match: {group: KECAMATAN}
      chat_ids: [-1004444]
      thread_id: 12
    - match: [{host: waru}, {host: Taman}]
      chat_ids: [-44]
      thread_id: 3
hosts:
  - {name: Waru, address: 10.0.0.1}
  - {name: Taman, address: 10.0.0.2, group: kecamatan}
""")
    result = analyze(path, environ={})
    assert result.problems == [] and result.config is not None
    telegram = result.config.telegram
    assert (telegram.viewers, telegram.buttons) == ((333, 111), False)
    assert telegram.escalate == (config_module.EscalationLevel(900.0, (-1002222,)),
                                 config_module.EscalationLevel(3600.0, (-1003333,)))
    assert telegram.routes == (
        config_module.Route((config_module.RouteMatch(group="kecamatan"),), (-1004444,), 12),
        config_module.Route((config_module.RouteMatch(host="Waru"), config_module.RouteMatch(host="Taman")),
                            (-44,), 3))
    assert telegram.known_chats == (-100111, -1004444, -44, -1002222, -1003333)
    assert [str(w).split(": ", 1)[1] for w in result.warnings] == [
        "warning: telegram.viewers: 111 is also in admins, who may read anyway (list each person once: admins "
        "act and read, viewers only read)",
        "warning: telegram.routes[1].thread_id: chat -44 is not a supergroup, and only forum supergroups have "
        "topics (forum chat ids start with -100; or remove thread_id)",
    ]


def test_incident_defaults_buttons_on_no_levels_no_routes(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram: {token: '123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA', chat_ids: [-1], admins: [1]}\n"
                           "hosts: [{name: A, address: 10.0.0.1}]\n")
    telegram = load_config(path, environ={}).telegram
    assert (telegram.buttons, telegram.viewers, telegram.escalate, telegram.routes) == (True, (), (), ())


def test_escalation_and_routes_without_a_token_warn_that_they_do_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  escalate: [{after: 15m, chat_ids: [-1]}]\n"
                           "hosts: [{name: A, address: 10.0.0.1}]\n")
    result = analyze(path, environ={})
    assert [str(w).split(": ", 1)[1] for w in result.warnings] == [
        "warning: telegram.escalate: has no effect without a bot token (alerts go to the console) "
        "(set telegram.token)"]


def test_equal_strings_of_different_sites_are_one_object(tmp_path: Path) -> None:
    """A group or parent name written on every site is one str in memory (10,000 sites: ~0.5 MB each)."""
    path = write(tmp_path, "hosts:\n  - {name: core, address: 198.18.0.1}\n"
                           "  - {name: a, address: 198.18.1.2, parent: core, group: kecamatan}\n"
                           "  - {name: b, address: 198.18.1.3, parent: core, group: kecamatan}\n")
    core, a, b = load_config(path, environ={}).hosts
    assert (a.group, a.parent) == (b.group, b.parent) == ("kecamatan", "core")
    assert a.group is b.group and a.parent is b.parent is core.name


def test_the_agents_specs_are_made_again_equal_to_the_loaded_ones() -> None:
    """load_config (what the agent runs on) gives specs equal to what the loader built, as new
    objects (see model.compacted), for every site of the shipped file."""
    from netwatchd.config.loader import load
    from netwatchd.config.model import compacted

    loaded = load(REPO / "hosts.yaml", ENV)
    agents = load_config(REPO / "hosts.yaml", environ=ENV)
    assert agents == dataclasses.replace(loaded, hosts=agents.hosts) and agents.hosts == loaded.hosts
    assert all(a is not b and a.name is not b.name for a, b in zip(agents.hosts, loaded.hosts, strict=True))
    assert [repr(h) for h in compacted(loaded.hosts)] == [repr(h) for h in loaded.hosts]
    assert compacted(()) == ()
