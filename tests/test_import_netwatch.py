"""`/tool netwatch export` parsing (v6 and v7) and hosts.yaml generation, validated by the real
config loader; and `netwatchd import-netwatch` from a file, stdin and the stand-in."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from netwatchd.cli import main
from netwatchd.config.kinds import format_duration
from netwatchd.config.loader import load_config
from netwatchd.errors import UsageError
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.router.hosts_yaml import convert, to_hosts_yaml
from netwatchd.router.netwatch import NetwatchEntry, UnreadableEntry
from netwatchd.router.rsc import RscSyntaxError, parse_rsc, read_export

TESTDATA = Path(__file__).parent / "testdata"
TOKEN = "123456789:AAH4-examplE_t0ken-for-tests-0123456789"


def load_items(tmp_path: Path, text: str) -> list:
    """Drop the generated text under hosts: and load it with the real loader."""
    path = tmp_path / "hosts.yaml"
    path.write_text("hosts:\n" + text, encoding="utf-8")
    return list(load_config(path).hosts)


def test_v6_export_with_continuations_escapes_and_set() -> None:
    entries = parse_rsc((TESTDATA / "netwatch-v6.rsc").read_text("utf-8"))
    assert [e.host for e in entries] == ["172.16.200.117", "172.16.4.1", "172.16.3.1", "172.16.5.1", "172.16.16.1"]
    waru = entries[0]
    assert (waru.type, waru.interval, waru.timeout, waru.comment) == ("simple", 30.0, 2.0, "Kantor Kecamatan Waru")
    # the continuation inside the quoted script is joined without the next line's indentation
    assert waru.settings["down-script"] == (
        f'/tool fetch url="https://api.telegram.org/bot{TOKEN}/sendMessage?chat_id=-1001234567890'
        '&text=Waru%20DOWN" keep-result=no')
    assert entries[1].comment == 'Kecamatan Porong "lama"' and entries[1].interval == 60.0
    assert entries[2].disabled is True
    assert entries[3].comment == "Krembung\r\nlantai 2" and entries[3].interval == 15.0
    assert entries[3].timeout == 1.0                                   # from `set [ find host=... ]`
    assert entries[4].comment == "Gedangan $cadangan" and entries[4].host == "172.16.16.1"


def test_v7_export_types_thresholds_and_one_line_menu() -> None:
    entries = {e.name: e for e in parse_rsc((TESTDATA / "netwatch-v7.rsc").read_text("utf-8"))}
    assert list(entries) == ["Sidoarjo", "portal", "radius", "dns-dinas", "Waru", "Krian", "Tarik"]
    sidoarjo = entries["Sidoarjo"]
    assert sidoarjo.comment == "Kantor Kecamatan Sidoarjo — gedung utama"   # \E2\80\94 is UTF-8 for —
    assert (sidoarjo.type, sidoarjo.interval, sidoarjo.timeout) == ("icmp", 10.0, 1.0)
    assert sidoarjo.settings["thr-loss-percent"] == "60%" and sidoarjo.settings["packet-interval"] == "100ms"
    assert entries["portal"].settings == {"http-codes": "200-299", "port": "8080", "thr-http-time": "2s"}
    assert entries["radius"].settings["src-address"] == "172.16.0.1"
    assert entries["Waru"].disabled and entries["Waru"].type == "simple"
    assert entries["Tarik"].comment == "Tarik; ruang server"            # ';' inside quotes is not a separator


@pytest.mark.parametrize("text, message", [
    ('/tool netwatch\nadd host=10.0.0.1 comment="never closed\n', "line 2: a quoted string is never closed"),
    ('/tool netwatch\nadd host=10.0.0.1 comment="bad \\q escape"\n', "line 2: unknown escape '\\q'"),
    ("/tool netwatch\nset [ find host=10.0.0.1 \n", "line 2: '[' is never closed with ']'"),
    ("/tool netwatch\nadd host=10.0.0.1 comment=\u201cnever closed\n", "line 2: a quoted string opened with"),
    ("/tool netwatch\nadd host=10.0.0.1 comment=(\"a\" . \"b\"\n", "line 2: '(' is never closed with ')'"),
])
def test_unreadable_scripts_say_where(text: str, message: str) -> None:
    with pytest.raises(RscSyntaxError) as error:
        parse_rsc(text)
    assert str(error.value).startswith(message)
    assert isinstance(error.value, UsageError)


def test_an_unreadable_entry_or_command_is_left_out_with_the_reason() -> None:
    export = read_export("/tool netwatch\n\nadd interval=10s\nadd host=10.0.0.1 interval=soon\n"
                         "add host=10.0.0.2\nset 5 disabled=yes\nset [ find host=10.9.9.9 ] timeout=2s\n")
    assert [(type(e).__name__, e.host) for e in export.entries] == [
        ("UnreadableEntry", ""), ("UnreadableEntry", "10.0.0.1"), ("NetwatchEntry", "10.0.0.2")]
    assert [e.reason for e in export.entries if isinstance(e, UnreadableEntry)] == [
        "'add' without host=", "interval=soon is not a RouterOS duration (like 10s, 1m, 00:01:00)"]
    assert export.notes == ["line 6: set: no item '5' to change; ignored",
                            "line 7: set: no entry matches [ find host=10.9.9.9 ]; ignored"]
    text = convert(export.entries).text
    assert "# NOT IMPORTED (line 3: 'add' without host=): host= name=" in text
    assert "# NOT IMPORTED (line 4: interval=soon is not a RouterOS duration (like 10s, 1m, 00:01:00)): " \
           "host=10.0.0.1 name=10.0.0.1" in text


def test_other_menus_comments_and_hex_escapes() -> None:
    text = ("# header\n/ip address\nadd address=10.0.0.1/24 interface=ether1\n"
            "/tool netwatch\nadd host=10.0.0.2 comment=\"caf\\C3\\A9 \\\\ \\_x\\t\" ; add host=10.0.0.3\n"
            "/system identity\nset name=core\n/tool netwatch disable 1\nremove [ find where host=10.0.0.2 ]\n")
    entries = parse_rsc(text)
    assert [(e.host, e.disabled) for e in entries] == [("10.0.0.3", True)]
    single = parse_rsc("/tool netwatch\nadd host=10.0.0.2 comment=\"caf\\C3\\A9 \\\\ \\_x\\t\"\n")
    assert single[0].comment == "café \\  x\t"


def test_v6_yaml_loads_and_never_shows_the_token(tmp_path: Path) -> None:
    text = to_hosts_yaml(parse_rsc((TESTDATA / "netwatch-v6.rsc").read_text("utf-8")))
    assert TOKEN not in text and "AAH4" not in text and "bot***" in text
    hosts = load_items(tmp_path, text)
    assert [(h.name, h.address, h.probe, h.interval) for h in hosts] == [
        ("Kantor Kecamatan Waru", "172.16.200.117", "icmp", 30.0),
        ('Kecamatan Porong "lama"', "172.16.4.1", "icmp", 60.0),
        ("Kecamatan Candi", "172.16.3.1", "icmp", 60.0), ("Krembung-lantai 2", "172.16.5.1", "icmp", 15.0),
        ("Gedangan $cadangan", "172.16.16.1", "icmp", 60.0)]      # RouterOS 6: interval 1m unless set
    assert hosts[0].timeout == 2.0 and hosts[2].disabled and hosts[3].comment == "Krembung\r\nlantai 2"
    assert "# down-script dropped: netwatchd sends its own alerts; for anything else a script did, add a `hooks:` " \
           "entry to hosts.yaml (a command or a webhook run on down/up: hooks: [{on: [down, up], command: " \
           "[/path/to/script]}])" in text
    assert "#   down-script: :log warning \"Gedangan down\"" in text
    assert [h.timeout for h in hosts] == [2.0, 1.0, 1.0, 1.0, 1.0]     # RouterOS 6: timeout 1s unless set


def test_v7_yaml_carries_types_and_thresholds(tmp_path: Path) -> None:
    text = to_hosts_yaml(parse_rsc((TESTDATA / "netwatch-v7.rsc").read_text("utf-8")))
    hosts = {h.name: h for h in load_items(tmp_path, text)}
    sidoarjo = hosts["Sidoarjo"]
    assert (sidoarjo.count, sidoarjo.packet_interval, sidoarjo.down_loss_percent) == (5, 0.1, 60.0)
    assert (sidoarjo.thresholds.rtt_avg_ms, sidoarjo.thresholds.rtt_max_ms) == (50.0, 300.0)
    portal = hosts["portal"]
    assert (portal.probe, portal.port, portal.http_code_min, portal.http_code_max) == ("http", 8080, 200, 299)
    assert (hosts["radius"].probe, hosts["radius"].port) == ("tcp", 1812)
    dns = hosts["dns-dinas"]
    assert (dns.probe, dns.address, dns.dns_name, dns.record_type) == ("dns", "172.16.0.53", "sidoarjokab.go.id", "A")
    assert hosts["Waru"].disabled
    for note in ("# src-address=172.16.0.1 not carried over", "# thr-tcp-conn-time=500ms not carried over",
                 "# thr-http-time=2s not carried over", "# thr-loss-count=3 not carried over",
                 "# start-delay=10s not carried over"):
        assert note in text


def test_unsupported_types_become_comments(tmp_path: Path) -> None:
    entries = [NetwatchEntry.from_fields({"host": "10.0.0.9", "type": "snmp-get", "name": "odd"}),
               NetwatchEntry.from_fields({"host": "example.lab", "type": "dns", "name": "nodns"}),
               NetwatchEntry.from_fields({"host": "10.0.0.1", "comment": "a/b,c"}),
               NetwatchEntry.from_fields({"host": "10.0.0.2", "comment": "a/b,c", "interval": "2s", "timeout": "3s"})]
    text = to_hosts_yaml(entries)
    assert "# NOT IMPORTED (type snmp-get has no netwatchd probe): host=10.0.0.9 name=odd" in text
    assert "# NOT IMPORTED (type dns without dns-server" in text
    assert "# timeout 3s lowered to 1s (netwatchd needs a timeout shorter than the interval, 2s)" in text
    assert [h.name for h in load_items(tmp_path, text)] == ["a-b c", "a-b c-2"]     # "/" -> "-", "," -> " "
    assert yaml.safe_load("hosts:\n" + to_hosts_yaml([]))["hosts"] is None


@pytest.mark.parametrize("seconds, text", [(10, "10s"), (90, "1m30s"), (0.05, "50ms"), (3600, "1h"), (1.5, "1s500ms"),
                                           (7 * 86400, "1w")])
def test_durations_are_written_as_config_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_command_from_rsc_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-netwatch", "--rsc", str(TESTDATA / "netwatch-v7.rsc")]) == 0
    captured = capsys.readouterr()
    assert len(load_items(tmp_path, captured.out)) == 7
    assert "import-netwatch: 7 of 7 entries" in captured.err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"/tool netwatch\nadd host=10.1.1.1 type=snmp-get\n")))
    assert main(["import-netwatch", "--rsc", "-"]) == 0
    assert "1 not importable" in capsys.readouterr().err


def test_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.rsc"
    bad.write_text('/tool netwatch\nadd host=1.1.1.1 comment="open\n', encoding="utf-8")
    assert main(["import-netwatch", "--rsc", str(bad)]) == 2
    assert main(["import-netwatch", "--rsc", str(tmp_path / "missing.rsc")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"netwatchd: {bad}: line 2: a quoted string is never closed (missing '\"')",
                   f"netwatchd: cannot read {tmp_path / 'missing.rsc'}: No such file or directory"]
    with pytest.raises(SystemExit) as usage:
        main(["import-netwatch"])
    assert usage.value.code == 2


def test_command_from_the_router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NW_IMPORT_PW", "Imp-0a9b8c")
    with RouterOSStandIn("netwatchd", "Imp-0a9b8c") as standin:
        config = tmp_path / "hosts.yaml"
        config.write_text(f"routers:\n  - {{name: core, address: 127.0.0.1, port: {standin.port}, "
                          "username: netwatchd, password: \"${NW_IMPORT_PW}\"}\n", encoding="utf-8")
        assert main(["import-netwatch", "--router", "core", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    generated = tmp_path / "generated"
    generated.mkdir()
    hosts = {h.name: h for h in load_items(generated, out)}
    assert set(hosts) == {"Sidoarjo", "Porong", "Waru", "Candi", "web-kecamatan"}
    assert hosts["Porong"].comment == "Kecamatan Porong — link fiber"
    assert hosts["Porong"].count == 10 and hosts["Porong"].down_loss_percent == 85.0
    assert hosts["web-kecamatan"].probe == "http" and hosts["web-kecamatan"].port == 80
    assert "done-tests" not in out and "loss-percent" not in out   # status counters are not settings


# ----------------------------------------------------------------------------- round trip

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from netwatchd.router.rsc import quote  # noqa: E402

# every character RouterOS escapes or treats specially, plus anything else Unicode has
script_text = st.text(st.one_of(st.sampled_from(list('\\"$?\n\r\t ;#[]={}/:_abfv0123456789ABCDEF')),
                                st.characters(blacklist_categories=("Cs",))), max_size=120)


@settings(max_examples=150, deadline=None)
@given(comment=script_text, script=script_text, wraps=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_any_quoted_value_survives_an_export_wrapped_anywhere(comment: str, script: str, wraps: list[int]) -> None:
    units = ["add", " ", "host=10.0.0.1", " ", "comment="] + quote(comment) + [" ", "down-script="] + quote(script)
    # RouterOS wraps long lines with a backslash and indents the next line; never inside an escape,
    # and the indentation is not part of the value (so no wrap right before a literal blank)
    for position in sorted({w % len(units) for w in wraps}, reverse=True):
        if position and not units[position].startswith((" ", "\t")):
            units.insert(position, "\\\n    ")
    [entry] = parse_rsc("/tool netwatch\n" + "".join(units) + "\n")
    assert entry.comment == comment
    assert entry.settings.get("down-script", "") == script


def test_sites_already_configured_are_not_imported_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "hosts.yaml"
    config.write_text("hosts:\n  - {name: Waru, address: 172.16.200.117}\n  - {name: Sidoarjo, address: 172.16.99.1}\n",
                      encoding="utf-8")
    assert main(["import-netwatch", "--rsc", str(TESTDATA / "netwatch-v7.rsc"), "-c", str(config)]) == 0
    captured = capsys.readouterr()
    assert "# ALREADY WATCHED as Waru: host=172.16.200.117 name=Waru" in captured.out
    assert "6 of 7 entries" in captured.err and "1 already in" in captured.err
    assert "1 not importable" not in captured.err
    generated = tmp_path / "generated"
    generated.mkdir()
    names = [h.name for h in load_items(generated, captured.out)]
    assert "Sidoarjo-2" in names and "Waru" not in names           # a new name never collides with a site
