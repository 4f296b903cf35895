"""Command parsing and argument validation (pure, table-driven)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatchd.bot.parse import (
    CommandInputError,
    ParsedCommand,
    is_valid_address,
    parse_command,
    parse_count,
    parse_duration,
    parse_interface,
    parse_mute,
    parse_ping,
    resolve_target,
)
from netwatchd.config.model import Config, HostSpec, RouterSpec

CONFIG = Config(
    path=Path("hosts.yaml"), data_dir=Path("/tmp/unused"),
    hosts=(HostSpec(name="Waru", address="198.18.15.2", group="kecamatan", parent="core"),
           HostSpec(name="Krian", address="198.18.9.2", group="kecamatan"),
           HostSpec(name="web", address="127.0.0.1", group="servers")),
    routers=(RouterSpec(name="core", address="127.0.0.1"), RouterSpec(name="edge", address="127.0.0.1")),
)
ROUTERS = ("core", "edge")


def parse(text: str) -> ParsedCommand | None:
    return parse_command(text, bot_username="netwatchd_lab_bot", router_names=ROUTERS)


@pytest.mark.parametrize("text, name, args, router", [
    ("/monitor", "monitor", (), None),
    ("/Monitor", "monitor", (), None),
    ("  /MONITOR  kecamatan ", "monitor", ("kecamatan",), None),
    ("/monitor@netwatchd_lab_bot", "monitor", (), None),
    ("/monitor@NetwatchD_Lab_Bot", "monitor", (), None),
    ("/interface@core", "interface", (), "core"),
    ("/Interface@EDGE", "interface", (), "edge"),
    ("/interface@edge@netwatchd_lab_bot", "interface", (), "edge"),
    ("/traffic@core ether1", "traffic", ("ether1",), "core"),
    ("/ping waru 5 router", "ping", ("waru", "5", "router"), None),
    ("/ping@edge 127.0.0.1", "ping", ("127.0.0.1",), "edge"),
    ("/start", "start", (), None),
])
def test_commands_are_recognized(text: str, name: str, args: tuple[str, ...], router: str | None) -> None:
    parsed = parse(text)
    assert parsed is not None
    assert (parsed.name, parsed.args, parsed.router) == (name, args, router)


@pytest.mark.parametrize("text", ["hello", "", "   ", "monitor", "/monitor@other_bot", "/status@SomeBot"])
def test_plain_text_and_other_bots_commands_are_not_ours(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize("text, key", [
    ("/reboot", "unknown_command"),
    ("/system_reset", "unknown_command"),
    ("/ip/address/print", "unknown_command"),
    ("/interface@branch", "unknown_router"),
    ("/monitor@core", "no_router_here"),
    ("/mute@edge waru 1h", "no_router_here"),
])
def test_bad_commands_name_the_mistake(text: str, key: str) -> None:
    with pytest.raises(CommandInputError) as caught:
        parse(text)
    assert caught.value.key == key


def test_unknown_router_lists_the_configured_ones() -> None:
    with pytest.raises(CommandInputError) as caught:
        parse("/dhcp@branch")
    assert caught.value.params == {"router": "branch", "known": "core, edge"}


@pytest.mark.parametrize("value, valid", [
    ("127.0.0.1", True), ("::1", True), ("198.18.0.10", True), ("localhost", True),
    ("kec-waru.lab", True), ("10.0.0.300", False), ("1.2.3", False), ("-bad.example", False),
    ("a" * 64 + ".lab", False), ("waru;reboot", False), ("=address=x", False), ("", False),
])
def test_address_or_host_name_syntax(value: str, valid: bool) -> None:
    assert is_valid_address(value) is valid


@pytest.mark.parametrize("word, expected", [("1", 1), ("20", 20), ("3", 3)])
def test_count_within_bounds(word: str, expected: int) -> None:
    assert parse_count(word) == expected


@pytest.mark.parametrize("word", ["0", "21", "-1", "3.5", "many", "999999999999"])
def test_count_out_of_bounds(word: str) -> None:
    with pytest.raises(CommandInputError) as caught:
        parse_count(word)
    assert caught.value.key == "bad_count"


@pytest.mark.parametrize("word, seconds", [("30m", 1800), ("2h", 7200), ("1d12h", 129600), ("1H30M", 5400),
                                            ("1w", 604800), ("60s", 60)])
def test_durations(word: str, seconds: float) -> None:
    assert parse_duration(word) == seconds


@pytest.mark.parametrize("word, key", [("soon", "bad_duration"), ("2 h", "bad_duration"), ("h2", "bad_duration"),
                                        ("10s", "duration_range"), ("31d", "duration_range")])
def test_bad_durations(word: str, key: str) -> None:
    with pytest.raises(CommandInputError) as caught:
        parse_duration(word)
    assert caught.value.key == key


def test_ping_a_site_uses_its_configured_address() -> None:
    request = parse_ping(("waru", "5"), CONFIG)
    assert (request.site, request.host.address, request.count, request.from_router) == ("Waru", "198.18.15.2", 5, False)
    assert request.host.probe == "icmp" and request.host.count == 5


def test_ping_from_the_router_keyword_in_any_position() -> None:
    assert parse_ping(("waru", "router"), CONFIG).from_router is True
    assert parse_ping(("waru", "router", "2"), CONFIG).count == 2
    assert parse_ping(("127.0.0.1",), CONFIG).count == 3


@pytest.mark.parametrize("args, key", [((), "usage"), (("waru;reboot",), "bad_target"),
                                       (("waru", "50"), "bad_count"), (("waru", "1", "2"), "usage")])
def test_ping_bad_arguments(args: tuple[str, ...], key: str) -> None:
    with pytest.raises(CommandInputError) as caught:
        parse_ping(args, CONFIG)
    assert caught.value.key == key


def test_mute_a_site_or_a_group() -> None:
    assert parse_mute(("krian", "2h", "ganti", "kabel"), CONFIG) == \
        parse_mute(("KRIAN", "2h", "ganti", "kabel"), CONFIG)
    site = parse_mute(("krian", "2h", "ganti", "kabel"), CONFIG)
    assert (site.target, site.seconds, site.reason, site.is_group) == ("Krian", 7200.0, "ganti kabel", False)
    group = parse_mute(("Kecamatan", "30m"), CONFIG)
    assert (group.target, group.is_group) == ("kecamatan", True)


def test_unknown_site_suggests_real_ones() -> None:
    with pytest.raises(CommandInputError) as caught:
        resolve_target("porong", CONFIG, allow_group=True)
    assert caught.value.params == {"value": "porong", "example": "Waru, Krian, web"}


def test_history_does_not_accept_a_group() -> None:
    with pytest.raises(CommandInputError):
        resolve_target("kecamatan", CONFIG, allow_group=False)


@pytest.mark.parametrize("args, expected", [((), None), (("ether1",), "ether1"), (("sfp-sfpplus1",), "sfp-sfpplus1"),
                                            (("vlan10.lan",), "vlan10.lan")])
def test_interface_names(args: tuple[str, ...], expected: str | None) -> None:
    assert parse_interface(args) == expected


@pytest.mark.parametrize("args", [("ether1", "ether2"), ("a=b",), ("x" * 65,), ("ether1;quit",)])
def test_bad_interface_names(args: tuple[str, ...]) -> None:
    with pytest.raises(CommandInputError):
        parse_interface(args)
