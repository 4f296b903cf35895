"""`import-netwatch --rsc` on what people actually paste: the three ways of writing the menu (mixed),
console prompts, continuations and escapes, `[ :resolve ]`, placeholders, the RouterOS version's
defaults, netwatch-notify's comment keys, scripts, and one-line errors for unreadable input.
Outputs are loaded with the real config loader."""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import pytest

from netwatchd.cli import main
from netwatchd.config.loader import analyze, load_config
from netwatchd.config.model import HostSpec
from netwatchd.router.hosts_yaml import check_host, convert
from netwatchd.router.netwatch import NetwatchEntry
from netwatchd.router.netwatch_notify import parse_notify
from netwatchd.router.rsc import read_export

FIXTURES = Path(__file__).parent / "testdata" / "netwatch"


def hosts_of(tmp_path: Path, text: str, prefix: str = "") -> dict[str, HostSpec]:
    path = tmp_path / "hosts.yaml"
    path.write_text(f"data_dir: {tmp_path / 'data'}\n{prefix}hosts:\n{text}", encoding="utf-8")
    result = analyze(path)
    assert [str(p) for p in result.problems] == [], text
    assert result.config is not None
    return {host.name: host for host in result.config.hosts}


def only(text: str) -> NetwatchEntry:
    [entry] = read_export(text).entries
    assert isinstance(entry, NetwatchEntry)
    return entry


# ----------------------------------------------------------------------------- syntaxes


@pytest.mark.parametrize("text", [
    '/tool netwatch\nadd host=172.16.1.1 comment="Kec. Waru"\n',
    '/tool netwatch add host=172.16.1.1 comment="Kec. Waru"\n',
    '/tool/netwatch/add host=172.16.1.1 comment="Kec. Waru"\n',
    '/tool/netwatch\nadd host=172.16.1.1 comment="Kec. Waru"\n',
    '/ tool netwatch add host=172.16.1.1 comment="Kec. Waru";\n',
    '/ tool netwatch\nadd host=172.16.1.1 comment="Kec. Waru"\n',
    '/tool netwatch; add host=172.16.1.1 comment="Kec. Waru"\n',
    '[admin@MikroTik] > /tool netwatch add host=172.16.1.1 comment="Kec. Waru"\n',
    '[admin@MikroTik] /tool netwatch> add host=172.16.1.1 comment="Kec. Waru"\n',
    '[admin@MikroTik] /tool/netwatch> add host=172.16.1.1 \\\n\\... comment="Kec. Waru"\n',
    '[admin@Kominfo Core] tool netwatch> add host=172.16.1.1 comment="Kec. Waru"\n',
    '/tool netwatch\r\nadd host=172.16.1.1 \\\r\n    comment="Kec. Waru"\r\n',
    '\ufeff/tool netwatch\nadd\u00a0host=172.16.1.1\u00a0comment=\u201cKec. Waru\u201d\n',
    '/tool netwatch\nadd host=172.16.1.1 comment=("Kec." . " Waru") # the office\n',
])
def test_every_way_of_writing_one_entry(text: str) -> None:
    entry = only(text)
    assert (entry.host, entry.comment, entry.settings) == ("172.16.1.1", "Kec. Waru", {})


def test_the_three_syntaxes_mixed_in_one_file() -> None:
    export = read_export((FIXTURES / "v7-mixed-syntaxes.rsc").read_text("utf-8"))
    entries = [e for e in export.entries if isinstance(e, NetwatchEntry)]
    assert [(e.name, e.host) for e in entries] == [
        ("Sidoarjo", "172.16.1.1"), ("Buduran", "172.16.2.1"), ("Candi", "172.16.3.1"), ("Porong", "172.16.4.1"),
        ("Krembung", "172.16.5.1"), ("Tulangan", "172.16.6.1")]
    assert entries[0].comment == "Kecamatan Sidoarjo \u2014 gedung A"
    assert entries[1].comment == 'Kecamatan "Buduran"'
    assert entries[3].interval == 30.0                                 # the `set` at the end, path syntax
    assert entries[4].comment == "Krembung\r\nlantai 2" and entries[4].interval == 15.0
    assert entries[5].comment == "biaya $0   gratis"                   # \$ and \_ (a space)
    assert export.commands == 7


def test_other_menus_scripts_and_print_output_are_not_entries() -> None:
    text = ('/ip/address/add address=172.16.0.1/24 interface=ether1\n'
            '/system/script/add name=x source="/tool netwatch add host=172.16.9.9"\n'
            '/tool netwatch\n'
            ':foreach i in={1;2} do={ /tool netwatch add host=("172.16.9." . $i) }\n'
            '/tool/netwatch/print\n'
            '/ip address add address=172.16.0.2/24 interface=ether2\n'
            'add address=172.16.0.3/24 interface=ether3\n')
    export = read_export(text)
    assert export.entries == []
    assert export.notes == ["line 4: a script command (:foreach ...) is not run; Netwatch entries it would add "
                            "are not imported"]
    printed = read_export((FIXTURES / "v7-print-output.rsc").read_text("utf-8"))
    assert printed.entries == [] and "is this `print` output?" in printed.notes[0]


def test_set_remove_enable_disable_and_find_conditions() -> None:
    text = ("/tool netwatch\n"
            "add host=172.16.1.1 comment=\"notify, name=a\"\nadd host=172.16.1.2 comment=b disabled=yes\n"
            "add host=172.16.1.3 comment=c\n"
            "set [ find where comment~\"^notify\" ] interval=30s\n"
            "set [ find disabled ] timeout=2s\n"
            "enable [ find !disabled=no ]\n"
            "disable numbers=2\n"
            "set [ /tool netwatch find host=172.16.1.3 ] comment=\"c 2\"\n"
            "remove [ find comment=nothing ]\n"
            "set [ find comment~\"(\" ] interval=1s\n"
            "unset 0 value-name=interval\n")
    export = read_export(text)
    entries = [e for e in export.entries if isinstance(e, NetwatchEntry)]
    assert [(e.host, e.interval, e.timeout, e.disabled, e.comment) for e in entries] == [
        ("172.16.1.1", 60.0, 1.0, False, "notify, name=a"),     # interval unset again: the v6 default
        ("172.16.1.2", 60.0, 2.0, False, "b"),
        ("172.16.1.3", 60.0, 1.0, True, "c 2")]
    assert export.notes == ["line 10: remove: no entry matches [ find comment=nothing ]; ignored",
                            "line 11: set: the condition in [ find comment~\"(\" ] is not understood; ignored"]


# ----------------------------------------------------------------------------- values


def test_continuations_escapes_braces_and_expressions() -> None:
    entry = only('/tool netwatch\nadd host=172.16.1.1 comment="caf\\C3\\A9 \\E9t\\E9 \\"x\\" \\\\ \\? \\$a" \\\n'
                 '    down-script={\n    :log info "down"\n} up-script=("/log info " . "\\"up\\"") \\\n'
                 '    test-script="a\\\n    b"\n')
    assert entry.comment == 'café été "x" \\ ? $a'          # \E9 alone is not UTF-8: Windows-1252
    assert entry.settings["down-script"] == ':log info "down"'
    assert entry.settings["up-script"] == '/log info "up"'
    assert entry.settings["test-script"] == "ab"             # the continuation's indent is not part of it


@pytest.mark.parametrize("value, host", [
    ('[ :resolve "portal.sidoarjo.lab" ]', "portal.sidoarjo.lab"),
    ('[:resolve domain-name=portal.sidoarjo.lab]', "portal.sidoarjo.lab"),
    ('[ :resolve "portal.sidoarjo.lab" server=172.16.0.53 ]', "portal.sidoarjo.lab"),
    ('[ :resolve portal.sidoarjo.lab ]', "portal.sidoarjo.lab"),
    ('[ /ip route get [ find dst-address=0.0.0.0/0 ] gateway ]',
     "[ /ip route get [ find dst-address=0.0.0.0/0 ] gateway ]"),
])
def test_resolve_becomes_the_name_and_other_expressions_stay_text(value: str, host: str) -> None:
    assert only(f"/tool/netwatch/add host={value} comment=x\n").host == host


def test_a_resolved_name_is_watched_by_name_and_an_expression_is_skipped(tmp_path: Path) -> None:
    export = read_export('/tool netwatch\nadd host=[ :resolve "portal.sidoarjo.lab" ] comment=portal\n'
                         'add host=[ /ip route get [ find ] gateway ] comment=gw\n')
    result = convert(export.entries)
    assert "  # address portal.sidoarjo.lab is a name: netwatchd looks it up before every probe" in result.text
    assert ("  # NOT IMPORTED (host=[ /ip route get [ find ] gateway ] is a script expression, not an address "
            "(only [ :resolve \"name\" ] is understood)): host=[ /ip route get [ find ] gateway ] name=gw"
            ) in result.text
    assert hosts_of(tmp_path, result.text)["portal"].address == "portal.sidoarjo.lab"


@pytest.mark.parametrize("host, why", [
    ("IP_OF_HOST", "looks like a template placeholder (a word in capitals)"),
    ("GATEWAY", "looks like a template placeholder (a word in capitals)"),
    ("x.x.x.x", "looks like a template placeholder (an address with letters in it)"),
    ("172.16.1.X", "looks like a template placeholder (an address with letters in it)"),
    ("172.16.1.xxx", "looks like a template placeholder (an address with letters in it)"),
    ("<ip-router>", "looks like a template placeholder (a word in brackets)"),
    ("your-ip-address", "looks like a template placeholder (a word that stands for an address)"),
    ("ip-gateway", "looks like a template placeholder (a word that stands for an address)"),
    ("$gateway", "is a script variable, not an address"),
    ("0.0.0.0", "is neither an address nor a valid host name ('0.0.0.0' cannot be probed)"),
    ("0.0", "is neither an address nor a valid host name ('0.0' is not a valid IPv4 address)"),
    ("172.16.300.1", "is neither an address nor a valid host name ('172.16.300.1' is not a valid IPv4 address)"),
    ("-kec-", "is neither an address nor a valid host name ('-kec-' is not a valid host name)"),
    ("203.0.113.5", "is a documentation address (RFC 5737), not a real host"),
    ("2001:db8::1", "is a documentation address (RFC 3849), not a real host"),
    ("www.example.com", "is a documentation name (RFC 2606), not a real host"),
    ("fe80::1%ether1", "is a link-local address on the router's interface ether1"),
])
def test_hosts_that_are_not_real_targets_are_skipped_saying_why(host: str, why: str) -> None:
    reason, _, _ = check_host(host)
    assert reason is not None and why in reason
    text = convert(read_export(f"/tool netwatch\nadd host={host} comment=site\n").entries).text
    assert f"  # NOT IMPORTED (host={host} {why}" in text and "- name:" not in text


@pytest.mark.parametrize("host, address, note", [
    ("172.16.1.1", "172.16.1.1", None),
    ("fd00:172:16::1", "fd00:172:16::1", None),
    ("kec-waru.sidoarjo.lab", "kec-waru.sidoarjo.lab", "is a name: netwatchd looks it up before every probe"),
    ("172.16.1.1@vrf-mgmt", "172.16.1.1", "@vrf-mgmt (a VRF on the router) not carried over"),
])
def test_hosts_that_are_real_targets(host: str, address: str, note: str | None) -> None:
    reason, found, notes = check_host(host)
    assert reason is None and found == address
    assert (note is None and notes == []) or (note is not None and note in notes[0])


# ----------------------------------------------------------------------------- RouterOS version defaults


@pytest.mark.parametrize("text, major, reason, interval, timeout", [
    ("# jun/14/2026 16:20:41 by RouterOS 6.47.10\n/tool netwatch\nadd host=172.16.1.1\n", 6,
     "the export header says RouterOS 6.47.10", 60.0, 1.0),
    ("# 2026-08-19 10:02:44 by RouterOS 7.16.2\n/tool netwatch\nadd host=172.16.1.1\n", 7,
     "the export header says RouterOS 7.16.2", 10.0, 3.0),
    ("# jun/14/2026 16:20:41 by RouterOS 6.49\n/tool netwatch\nadd host=172.16.1.1 type=simple\n", 6,
     "the export header says RouterOS 6.49", 60.0, 1.0),
    ("/tool netwatch\nadd host=172.16.1.1\n", 6, "no export header and no type=", 60.0, 1.0),
    ("/tool netwatch\nadd host=172.16.1.1\nadd host=172.16.1.2 type=icmp\n", 7,
     "no export header; type= is used, which only RouterOS 7 has", 10.0, 3.0),
    ("/tool/netwatch/add host=172.16.1.1 name=waru\n", 7, "no export header; name= is used", 10.0, 3.0),
])
def test_defaults_follow_the_routeros_version(text: str, major: int, reason: str, interval: float,
                                              timeout: float) -> None:
    export = read_export(text)
    assert export.version.major == major and reason in export.version.reason
    entry = export.entries[0]
    assert isinstance(entry, NetwatchEntry) and (entry.interval, entry.timeout) == (interval, timeout)


def test_a_v6_timeout_of_15s_survives_and_the_header_names_the_version(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    source = FIXTURES / "v6-timeout-15s.rsc"
    assert main(["import-netwatch", "--rsc", str(source)]) == 0
    out = capsys.readouterr().out
    assert ("# RouterOS 6 defaults fill what the script leaves out (interval 1m, timeout 1s): the export header "
            "says RouterOS 6.47.10") in out
    vsat = hosts_of(tmp_path, out)["Link VSAT Kecamatan Jabon (latency tinggi)"]
    assert (vsat.interval, vsat.timeout) == (60.0, 15.0)
    # read as RouterOS 7 (interval 10s) the same entry's timeout could not stay
    assert main(["import-netwatch", "--rsc", str(source), "--routeros", "7"]) == 0
    out = capsys.readouterr().out
    assert ("# RouterOS 7 defaults fill what the script leaves out (interval 10s, timeout 3s): "
            "set with --routeros 7") in out
    assert "  # timeout 15s lowered to 5s (netwatchd needs a timeout shorter than the interval, 10s)" in out


# ----------------------------------------------------------------------------- netwatch-notify


@pytest.mark.parametrize("comment, expected", [
    ("notify, name=gw", ("gw", "", False)),
    ("notify, name=printer, parent=gw, no-down-notification", ("printer", "gw", True)),
    ("notify,name=printer,no-down-notification=true", ("printer", "", True)),
    ("notify, hostname=old-style, parent=gw", ("old-style", "gw", False)),
    ("doh, notify, name=dns", ("dns", "", False)),
    ('{"notify": true, "name": "j", "parent": "gw", "no-down-notification": true}', ("j", "gw", True)),
    ("notify=true, name=x", ("x", "", False)),
    ("notify=false, name=x", None),
    ("notifications off", None),
    ("Kantor Kecamatan Waru", None),
    ("{not json, notify, name=y}", ("y}", "", False)),      # not JSON: read as key=value items, like the script
])
def test_netwatch_notify_comments(comment: str, expected: tuple[str, str, bool] | None) -> None:
    found = parse_notify(comment)
    assert (None if found is None else (found.name, found.parent, found.no_down_notification)) == expected


def test_notify_names_parents_and_no_down_notification_become_hosts_yaml(tmp_path: Path) -> None:
    text = ('/tool/netwatch/add comment="notify, name=printer, parent=gateway, no-down-notification" host=172.16.0.30\n'
            '/tool/netwatch/add comment="notify, name=gateway, parent=edge" host=172.16.0.1\n'
            '/tool/netwatch/add comment="notify, name=kamera, parent=core" host=172.16.0.31\n'
            '/tool/netwatch/add comment="notify, name=ap, parent=nowhere, count=7, down-hook=/beep" host=172.16.0.32\n'
            '/tool/netwatch/add comment="notify, name=self, parent=SELF" host=172.16.0.33\n'
            '/tool/netwatch/add comment="notify, name=dup" host=172.16.0.40\n'
            '/tool/netwatch/add comment="notify, name=behind-watched, parent=dup" host=172.16.0.41\n')
    core = HostSpec(name="Core", address="172.16.0.40")
    result = convert(read_export(text).entries, [core], routers=["edge"])
    assert "  # parent=nowhere not carried over: no entry here and no host or router in the config has that name" \
        in result.text
    assert "  # parent=SELF not carried over: it names the entry itself" in result.text
    assert "  # ALREADY WATCHED as Core: host=172.16.0.40 name=notify, name=dup" in result.text
    assert "  # netwatch-notify count=7 (checks of its scheduler before a DOWN notification) not carried over" \
        in result.text
    assert "  # netwatch-notify down-hook dropped: netwatchd sends its own alerts; for anything else a script did, " \
           "add a `hooks:` entry to hosts.yaml (a command or a webhook run on down/up: hooks: [{on: [down, up], " \
           "command: [/path/to/script]}]): /beep" in result.text
    hosts = hosts_of(tmp_path, "  - {name: Core, address: 172.16.0.40}\n" + result.text,
                     prefix="routers:\n  - {name: edge, address: 172.16.0.254}\n")
    assert hosts["printer"].parent == "gateway" and hosts["printer"].alert_on_down is False
    assert hosts["gateway"].parent == "edge"                  # a configured router
    assert hosts["kamera"].parent == "Core"                   # a configured host, its own spelling
    assert hosts["ap"].parent is None and hosts["self"].parent is None
    assert hosts["behind-watched"].parent == "Core"           # its parent entry is already watched as Core
    assert hosts["gateway"].alert_on_down is True and "comment" not in result.text.split("name: gateway")[1][:80]


def test_notify_fixture_through_the_command_with_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "hosts.yaml"
    config.write_text("routers:\n  - {name: core, address: 172.16.0.254, password: \"${NW_PW}\"}\n"
                      "hosts:\n  - {name: kamera-pusat, address: 172.16.200.200}\n", encoding="utf-8")
    assert main(["import-netwatch", "--rsc", str(FIXTURES / "v7-netwatch-notify.rsc"), "-c", str(config)]) == 0
    out = capsys.readouterr().out
    with config.open("a", encoding="utf-8") as handle:
        handle.write(out)
    hosts = {h.name: h for h in load_config(config, {"NW_PW": "x-secret-1"}).hosts}
    assert hosts["cctv-pos"].parent == "kamera-pusat"         # found in the existing config this time
    assert hosts["printer-lantai2"].alert_on_down is False and hosts["printer-lantai2"].parent == "kecamatan-waru"
    assert (hosts["portal"].address, hosts["voip"].comment) == (
        "portal.sidoarjo.lab", "Telepon kantor; hubungi Pak Budi")
    assert hosts["json-style"].parent == "gateway" and hosts["service-2"].address == "172.16.0.62"
    assert [hosts["loop-a"].parent, hosts["loop-b"].parent] == [None, "loop-a"]
    assert "  # comment items for other scripts (doh) not carried over" in out


# ----------------------------------------------------------------------------- scripts


def test_scripts_are_dropped_pointing_at_hooks_and_tokens_never_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-netwatch", "--rsc", str(FIXTURES / "v6-telegram-down-script.rsc")]) == 0
    out = capsys.readouterr().out
    assert out.count("  # up-script, down-script dropped: netwatchd sends its own alerts; for anything else a "
                     "script did, add a `hooks:` entry to hosts.yaml (a command or a webhook run on down/up: hooks: "
                     "[{on: [down, up], command: [/path/to/script]}])") == 2
    assert "contohTokenBukanAsli" not in out and "987654321:" not in out and "bot***" in out
    assert main(["import-netwatch", "--rsc", str(FIXTURES / "v7-scripts-and-test-script.rsc")]) == 0
    out = capsys.readouterr().out
    assert "  # test-script dropped (it ran after every probe; netwatchd has no such thing)" in out
    assert "AAH4-examplE" not in out


# ----------------------------------------------------------------------------- reading files


def test_file_encodings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name, comment in (("v6-winbox-cp1252", "Kantor Kecamatan Taman \u2013 Gedung B (caf\u00e9 lantai 1)"),
                          ("v7-powershell-utf16", "Kantor Kecamatan Wonoayu")):
        assert main(["import-netwatch", "--rsc", str(FIXTURES / f"{name}.rsc")]) == 0
        assert comment in capsys.readouterr().out
    utf16_be = tmp_path / "be.rsc"
    utf16_be.write_bytes(codecs.BOM_UTF16_BE
                         + "/tool netwatch add host=172.16.1.1 comment=b\u00e9\n".encode("utf-16-be"))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(utf16_be.read_bytes())))
    assert main(["import-netwatch", "--rsc", "-"]) == 0
    captured = capsys.readouterr()
    assert "comment: b\u00e9" in captured.out and "1 of 1 entries from stdin" in captured.err


@pytest.mark.parametrize("content, message", [
    (b"\x00\x01\x02MikroTik backup\x00\xff", "{path} is a binary file, not a script (a RouterOS .backup?): on the "
     "router run `/tool netwatch export file=netwatch` and use netwatch.rsc"),
    (b'/tool netwatch\nadd host=172.16.1.1 comment="open\n',
     "{path}: line 2: a quoted string is never closed (missing '\"')"),
    (b"/tool netwatch\nadd host=172.16.1.1 comment=\"a\\qb\"\n",
     "{path}: line 2: unknown escape '\\q' in a quoted string"),
    (codecs.BOM_UTF16_LE + b"\x00\xd8", "{path}: not readable as UTF-16 text although it starts like it"),
])
def test_unreadable_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes,
                                      message: str) -> None:
    path = tmp_path / "netwatch.rsc"
    path.write_bytes(content)
    assert main(["import-netwatch", "--rsc", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"netwatchd: {message.format(path=path)}"] and captured.out == ""


def test_unreadable_paths_and_wrong_flags_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-netwatch", "--rsc", str(tmp_path)]) == 2
    assert main(["import-netwatch", "--rsc", str(tmp_path / "nope.rsc")]) == 2
    assert main(["import-netwatch", "--router", "core", "--routeros", "6", "-c", str(tmp_path / "x.yaml")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"netwatchd: cannot read {tmp_path}: Is a directory",
        f"netwatchd: cannot read {tmp_path / 'nope.rsc'}: No such file or directory",
        "netwatchd: --routeros only applies to --rsc (a router's own entries carry every value)"]


def test_a_file_without_netwatch_commands_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("hosts:\n  - {name: a, address: 172.16.1.1}\n", encoding="utf-8")
    assert main(["import-netwatch", "--rsc", str(path)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"import-netwatch: 0 of 0 entries from {path} converted",
        f"import-netwatch: {path} has no /tool netwatch add commands: is it an export (`/tool netwatch export`)?"]
