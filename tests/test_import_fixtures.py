"""Every export fixture in tests/testdata/netwatch/ (written for these tests in the shapes public
guides, forum posts and real `/tool netwatch export`s have; RouterOS 6 and 7; Indonesian and English
comments; CRLF, Windows-1252 and UTF-16 files) goes through `netwatchd import-netwatch --rsc`, and its
output, put under `hosts:` of a minimal config, must pass `netwatchd check` without a problem.

The table says what each fixture must give (which RouterOS version's defaults, how many entries
become sites and how many are left out), so an import that silently loses entries fails here even
when its output is valid. A property test then does the same for generated exports."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwatchd.cli import main
from netwatchd.config.loader import analyze
from netwatchd.router.hosts_yaml import convert
from netwatchd.router.rsc import quote, read_export

FIXTURES = Path(__file__).parent / "testdata" / "netwatch"

# fixture -> (RouterOS version whose defaults apply, entries converted, entries NOT IMPORTED)
EXPECTED = {
    "v6-crlf-kelurahan": (6, 3, 0),
    "v6-email-down-script": (6, 1, 0),
    "v6-export-kecamatan": (6, 6, 0),
    "v6-export-terse": (6, 4, 0),
    "v6-export-then-edits": (6, 3, 0),
    "v6-export-verbose": (6, 4, 0),
    "v6-forum-console-paste": (6, 2, 0),
    "v6-netwatch-notify-hostname": (6, 4, 0),
    "v6-old-wiki-scripts": (6, 1, 0),
    "v6-snippet-no-header": (6, 2, 0),
    "v6-telegram-down-script": (6, 2, 0),
    "v6-template-placeholders": (6, 1, 6),
    "v6-timeout-15s": (6, 2, 0),
    "v6-wan-failover-guide": (6, 2, 0),
    "v6-winbox-cp1252": (6, 2, 0),
    "v7-crlf-puskesmas": (7, 3, 0),
    "v7-dns-tcp-unsupported": (7, 3, 3),
    "v7-export-typed": (7, 6, 0),
    "v7-forum-brace-scripts": (7, 2, 0),
    "v7-long-comments-duplicates": (7, 7, 0),
    "v7-mixed-syntaxes": (7, 6, 0),
    "v7-netwatch-notify": (7, 15, 0),
    "v7-old-date-header": (7, 2, 0),
    "v7-path-syntax-guide": (7, 4, 0),
    "v7-powershell-utf16": (7, 2, 0),
    "v7-print-output": (6, 0, 0),
    "v7-scripts-and-test-script": (7, 3, 0),
    "v7-space-slash-syntax": (7, 2, 0),
    "v7-values-out-of-range": (7, 9, 0),
    "v7-verbose-export": (7, 2, 0),
    "v7-vrf-linklocal-ipv6": (7, 3, 2),
}


def test_every_fixture_is_in_the_table_and_there_are_enough() -> None:
    found = sorted(path.stem for path in FIXTURES.glob("*.rsc"))
    assert found == sorted(EXPECTED)
    assert len(found) >= 25
    assert sum(1 for name in found if name.startswith("v6-")) >= 10
    assert sum(1 for name in found if name.startswith("v7-")) >= 10
    raw = {name: (FIXTURES / f"{name}.rsc").read_bytes() for name in found}
    assert sum(1 for data in raw.values() if b"\r\n" in data) >= 3       # CRLF files are among them


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_converts_and_its_output_passes_check(name: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    version, converted, skipped = EXPECTED[name]
    assert main(["import-netwatch", "--rsc", str(FIXTURES / f"{name}.rsc")]) == 0
    captured = capsys.readouterr()
    total = converted + skipped
    assert f"import-netwatch: {converted} of {total} entries from" in captured.err
    assert (f"{skipped} not importable" in captured.err) == bool(skipped)
    assert captured.out.count("\n  - name: ") == converted
    assert captured.out.count("# NOT IMPORTED (") == skipped
    assert f"# RouterOS {version} defaults fill what the script leaves out" in captured.out
    assert "Traceback" not in captured.err

    config = tmp_path / "hosts.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nhosts:\n{captured.out}", encoding="utf-8")
    assert main(["check", "-c", str(config)]) == 0, capsys.readouterr().err
    assert "OK" in capsys.readouterr().out
    result = analyze(config)
    assert result.problems == []
    assert [w.what for w in result.warnings] == (["no hosts to watch"] if converted == 0 else [])
    assert result.config is not None and len(result.config.hosts) == converted


# ----------------------------------------------------------------------------- generated exports

_hosts = st.one_of(
    st.builds(lambda a, b: f"172.16.{a}.{b}", st.integers(0, 255), st.integers(1, 254)),
    st.sampled_from(["fd00:172:16::1", "IP_OF_HOST", "x.x.x.x", "172.16.1.X", "0.0.0.0", "kec-waru.sidoarjo.lab",
                     "[ :resolve \"portal.sidoarjo.lab\" ]", "[ :resolve \"IP_OF_HOST\" ]", "$gw", "172.16.3.1@vrf1",
                     "fe80::1%ether1", "203.0.113.9", "example.com", "", "256.1.1.1", "-bad-", "a" * 70]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
_durations = st.one_of(st.none(), st.sampled_from(["0s", "1ms", "50ms", "500ms", "1s", "2s", "3s", "10s", "1m",
                                                   "00:00:15", "1h", "2d", "10m", "soon", "", "1w2d"]))
_types = st.one_of(st.none(), st.sampled_from(["simple", "icmp", "tcp-conn", "http-get", "https-get", "dns",
                                               "snmp-get"]))
_texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
_comments = st.one_of(_texts, st.builds(lambda name, parent, extra: f"notify, name={name}, parent={parent}{extra}",
                                        st.sampled_from(["a", "b", "c", "gw", "Gw", ""]),
                                        st.sampled_from(["a", "b", "c", "gw", "core", "missing", ""]),
                                        st.sampled_from(["", ", no-down-notification", ", count=3", ", resolve=x.lab",
                                                         ", down-hook=/log info x", ", link=http://x"])))
_numbers = st.one_of(st.none(), st.sampled_from(["0", "1", "3", "10", "101", "200", "abc", "-1"]))


@st.composite
def _entry(draw: st.DrawFn) -> str:
    fields = {"host": draw(_hosts)}
    for key, strategy in (("interval", _durations), ("timeout", _durations), ("type", _types),
                          ("packet-count", _numbers), ("packet-interval", _durations), ("port", _numbers),
                          ("thr-max", _durations), ("thr-loss-percent", st.sampled_from([None, "0%", "50%", "150%"])),
                          ("http-codes", st.sampled_from([None, "200-299", "500-200", "200,301", "abc"])),
                          ("dns-server", st.sampled_from([None, "172.16.0.53", "bad server"])),
                          ("packet-size", _numbers), ("disabled", st.sampled_from([None, "yes", "no"]))):
        value = draw(strategy)
        if value is not None:
            fields[key] = value
    for key in ("comment", "name", "down-script"):
        if draw(st.booleans()):
            fields[key] = draw(_comments if key == "comment" else _texts)
    parts = []
    for key, value in fields.items():
        if key == "host" and value.startswith("[ "):
            parts.append(f"host={value}")
        else:
            parts.append(f"{key}={''.join(quote(value))}")
    return "add " + " ".join(parts)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(_entry(), max_size=8), header=st.sampled_from(["", "# x by RouterOS 6.49\n",
                                                                         "# x by RouterOS 7.16\n"]),
       existing=st.sampled_from(["", "  - {name: core, address: 172.16.0.1}\n  - {name: gw, address: 172.16.0.2}\n"]))
def test_any_generated_export_gives_output_that_passes_check(entries: list[str], header: str, existing: str) -> None:
    text = header + "/tool netwatch\n" + "\n".join(entries) + "\n"
    export = read_export(text)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "base.yaml"
        base.write_text(f"data_dir: {folder}/data\nrouters:\n  - {{name: edge, address: 172.16.0.254}}\n"
                        f"hosts:\n{existing or '  - {name: core, address: 172.16.0.1}'}\n", encoding="utf-8")
        known = analyze(base).config
        assert known is not None
        result = convert(export.entries, known.hosts, routers=[r.name for r in known.routers],
                         header=[export.version.reason] + export.notes)
        config = Path(folder) / "hosts.yaml"
        config.write_text(base.read_text("utf-8") + result.text, encoding="utf-8")
        checked = analyze(config)
        assert [str(p) for p in checked.problems] == [], result.text
        assert checked.config is not None
        assert len(checked.config.hosts) == len(known.hosts) + result.converted
        assert result.converted + result.skipped + result.already == len(export.entries)
