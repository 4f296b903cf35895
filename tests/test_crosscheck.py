"""Cross-check: the router's Netwatch table against netwatchd's own states (pure tables), and the
`netwatchd crosscheck` command end to end against the stand-in and a real store."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from netwatchd.cli import main
from netwatchd.config.model import Config, HostSpec
from netwatchd.engine.engine import HostState
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.models import State
from netwatchd.router.netwatch import NetwatchEntry, crosscheck, read_netwatch
from netwatchd.store import state_repo
from netwatchd.store.db import Database

WIB = ZoneInfo("Asia/Jakarta")
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)


def config_with(*hosts: HostSpec) -> Config:
    return Config(path=Path("hosts.yaml"), data_dir=Path("/nonexistent"), hosts=hosts)


def entry(host: str, status: str, since: str = "2026-11-27 08:58:00", **fields: str) -> NetwatchEntry:
    return NetwatchEntry.from_fields({"host": host, "status": status, "since": since, "type": "icmp", **fields})


def test_disagreement_is_reported_with_both_sinces() -> None:
    config = config_with(HostSpec("Porong", "198.18.4.2"), HostSpec("Waru", "198.18.15.2"))
    states = {"Porong": HostState("Porong", State.UP, T0), "Waru": HostState("Waru", State.UP, T0)}
    check = crosscheck([entry("198.18.4.2", "down", name="Porong"), entry("198.18.15.2", "up", name="Waru")],
                       config, states, router="core")
    assert [c.site for c in check.disagreements] == ["Porong"]
    porong = check.disagreements[0]
    assert (porong.ours, porong.ours_since, porong.router) == ("up", T0, "down")
    assert porong.router_since == datetime(2026, 11, 27, 8, 58, tzinfo=WIB)  # router time read in WIB
    assert check.both[1].agree is True and check.only_netwatchd == () and check.only_router == ()


@pytest.mark.parametrize("ours, router, agree", [
    (State.DEGRADED, "up", True),            # replies arrive: both call it alive
    (State.UNREACHABLE, "down", True),       # behind a down parent: the router sees it down
    (State.DOWN, "up", False),
    (State.UNKNOWN, "down", None),           # netwatchd has not decided yet
    (State.UP, "unknown", None),
])
def test_states_fold_before_comparing(ours: State, router: str, agree: bool | None) -> None:
    config = config_with(HostSpec("Candi", "198.18.3.2"))
    check = crosscheck([entry("198.18.3.2", router)], config, {"Candi": HostState("Candi", ours, T0)})
    assert check.both[0].agree is agree
    assert check.both[0].ours_detail == ours.value


def test_only_one_side_and_name_fallback_and_disabled_entries() -> None:
    config = config_with(HostSpec("Sidoarjo", "198.18.1.2"), HostSpec("Buduran", "198.18.2.2"),
                         HostSpec("Candi", "198.18.3.9"), HostSpec("Jabon", "198.18.8.2"),
                         HostSpec("Tarik", "198.18.12.2", disabled=True))
    entries = [entry("198.18.1.2", "up"), entry("198.18.3.2", "down", comment="candi"),
               entry("198.18.8.2", "down", disabled="true"), entry("198.18.0.10", "up", name="portal", type="http-get")]
    check = crosscheck(entries, config, {"Candi": HostState("Candi", State.UP, T0)})
    assert [h.name for h in check.only_netwatchd] == ["Buduran"]           # Tarik is disabled: not watched
    assert [e.label for e in check.only_router] == ["portal"]
    by_site = {c.site: c for c in check.both}
    assert by_site["Candi"].matched_by == "name" and by_site["Candi"].entry_host == "198.18.3.2"
    assert by_site["Candi"].agree is False
    assert by_site["Jabon"].router == "disabled" and by_site["Jabon"].agree is None
    assert by_site["Sidoarjo"].ours == "unknown"                            # no state stored yet


def test_an_address_match_wins_over_a_name_match() -> None:
    config = config_with(HostSpec("Waru", "198.18.15.2"), HostSpec("Waru-2", "198.18.16.2"))
    entries = [entry("198.18.16.2", "up", name="Waru"), entry("198.18.15.2", "down", name="old-waru")]
    check = crosscheck(entries, config, {})
    assert {(c.site, c.entry, c.matched_by) for c in check.both} == {("Waru", "old-waru", "address"),
                                                                     ("Waru-2", "Waru", "address")}


def test_to_dict_is_json_ready() -> None:
    config = config_with(HostSpec("Porong", "198.18.4.2"))
    check = crosscheck([entry("198.18.4.2", "down")], config, {"Porong": HostState("Porong", State.UP, T0)},
                       router="core")
    data = json.loads(json.dumps(check.to_dict()))
    assert data["disagree"][0]["netwatchd_since"] == "2026-11-27T02:00:00+00:00"
    assert data["disagree"][0]["router_since"] == "2026-11-27T08:58:00+07:00"


def test_v6_since_format_is_read() -> None:
    v6 = NetwatchEntry.from_fields({"host": "198.18.4.2", "status": "down", "since": "nov/27/2026 08:58:00"})
    assert v6.type == "simple" and v6.since(WIB) == datetime(2026, 11, 27, 8, 58, tzinfo=WIB)


# ----------------------------------------------------------------------------- the command

def write_config(tmp_path: Path, port: int, password_env: str = "NW_TEST_ROUTER_PW",
                 router_options: str = "") -> Path:
    path = tmp_path / "hosts.yaml"
    path.write_text(f"""
data_dir: {tmp_path / 'data'}
routers:
  - {{name: core, address: 127.0.0.1, port: {port}, username: netwatchd, \
password: "${{{password_env}}}"{router_options}}}
hosts:
  - {{name: Sidoarjo, address: 198.18.1.2}}
  - {{name: Porong, address: 198.18.4.2}}
  - {{name: Waru, address: 198.18.15.2}}
  - {{name: Buduran, address: 198.18.2.2}}
""", encoding="utf-8")
    return path


def test_command_before_netwatchd_ever_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NW_TEST_ROUTER_PW", "Cc-pass-1f2e")
    with RouterOSStandIn("netwatchd", "Cc-pass-1f2e") as standin:
        assert main(["crosscheck", "-c", str(write_config(tmp_path, standin.port))]) == 0
    out = capsys.readouterr().out
    assert "netwatchd has not run yet" in out
    assert "Only netwatchd watches (1):" in out and "Buduran  198.18.2.2" in out
    assert "Only the router watches (2):" in out and "web-kecamatan" in out


def test_command_reports_disagreement_from_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NW_TEST_ROUTER_PW", "Cc-pass-1f2e")
    conn = Database.in_dir(tmp_path / "data").open()
    states = {name: HostState(name, State.UP, T0) for name in ("Sidoarjo", "Porong", "Waru")}
    state_repo.save(conn, states, [], [], T0)
    conn.close()
    with RouterOSStandIn("netwatchd", "Cc-pass-1f2e") as standin:
        config = write_config(tmp_path, standin.port)
        assert main(["crosscheck", "-c", str(config)]) == 3
        text = capsys.readouterr().out
        assert main(["crosscheck", "-c", str(config), "--json", "--router", "CORE"]) == 3
        data = json.loads(capsys.readouterr().out)
    assert "Disagree (1):" in text and "Porong" in text.split("Disagree (1):")[1].split("\n\n")[0]
    assert "type=simple" not in text                       # the stand-in's v7 entries are typed icmp
    assert data["netwatchd_has_run"] is True
    assert [(d["site"], d["netwatchd"], d["router"]) for d in data["disagree"]] == [("Porong", "up", "down")]
    assert data["disagree"][0]["netwatchd_since"] == "2026-11-27T02:00:00+00:00"


def test_command_router_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NW_TEST_ROUTER_PW", "Wrong-pass-77aa")
    with RouterOSStandIn("netwatchd", "Cc-pass-1f2e") as standin:
        assert main(["crosscheck", "-c", str(write_config(tmp_path, standin.port))]) == 1
        assert main(["crosscheck", "-c", str(write_config(tmp_path, standin.port)), "--router", "waru"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("netwatchd:")]
    assert lines[0].startswith("netwatchd: router core (127.0.0.1:") and "login refused" in lines[0]
    assert lines[1] == "netwatchd: no router named 'waru'; configured: core"
    assert "Wrong-pass-77aa" not in err and "Traceback" not in err


def test_read_netwatch_reads_v7_fields(tmp_path: Path) -> None:
    from netwatchd.config.model import RouterSpec
    from netwatchd.router.client import RouterClient

    with RouterOSStandIn() as standin:
        client = RouterClient(RouterSpec(name="core", address="127.0.0.1", port=standin.port,
                                         username="netwatchd", password="lab-secret"))
        entries = read_netwatch(client)
        client.close()
    porong = next(e for e in entries if e.name == "Porong")
    assert (porong.type, porong.status, porong.interval, porong.timeout) == ("icmp", "down", 10.0, 3.0)
    assert porong.comment == "Kecamatan Porong — link fiber"
    assert porong.settings["thr-avg"] == "100ms" and porong.status_fields["loss-percent"] == "100%"
    assert "done-tests" not in porong.settings


# ----------------------------------------------------------------------------- periodic

def test_watcher_alerts_once_on_a_lasting_disagreement(clock) -> None:
    from netwatchd.config.model import RouterSpec
    from netwatchd.router.client import RouterPool
    from netwatchd.router.crosscheck_watch import CrossCheckWatcher

    states = {"Porong": HostState("Porong", State.UP, T0), "Waru": HostState("Waru", State.UP, T0)}
    with RouterOSStandIn() as standin:
        config = Config(path=Path("hosts.yaml"), data_dir=Path("/nonexistent"),
                        hosts=(HostSpec("Porong", "198.18.4.2", group="kecamatan"), HostSpec("Waru", "198.18.15.2")),
                        routers=(RouterSpec(name="core", address="127.0.0.1", port=standin.port,
                                            username="netwatchd", password="lab-secret"),))
        pool = RouterPool(config.routers)
        watcher = CrossCheckWatcher(config, pool, clock, load_states=lambda: states)
        assert watcher.run_once() == []                      # first sighting: could be a moment's lag
        clock.advance(60)
        [alert] = watcher.run_once()                         # second in a row: lasting
        assert (alert.kind, alert.host, alert.group, alert.from_state, alert.to_state) == (
            "crosscheck", "Porong", "kecamatan", State.UP, State.DOWN)
        assert alert.evidence["router"] == "core" and alert.evidence["netwatchd_since"] == "2026-11-27T02:00:00+00:00"
        assert alert.at == clock.now() and alert.notify
        assert watcher.run_once() == []                      # announced once
        standin.netwatch[1]["status"] = "up"                 # they agree again (two checks in a row) ...
        assert watcher.run_once() == []
        [agreed] = watcher.run_once()
        assert (agreed.kind, agreed.host, agreed.to_state) == ("crosscheck_agree", "Porong", State.UP)
        standin.netwatch[1]["status"] = "down"               # ... and a new disagreement alerts again
        assert watcher.run_once() == [] and len(watcher.run_once()) == 1
        standin.set_fault("fatal")
        assert watcher.run_once() == []
        assert watcher.last_errors["core"].startswith("router core (127.0.0.1:")
        pool.close()


# ----------------------------------------------------------------------------- api-ssl without a certificate, v6 and v7

def test_command_over_api_ssl_of_a_router_without_a_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NW_TEST_ROUTER_PW", "Cc-pass-1f2e")
    with RouterOSStandIn("netwatchd", "Cc-pass-1f2e", tls=True, certificate=False, personality="v6") as standin:
        unverified = write_config(tmp_path, standin.port, router_options=", tls: true, tls_verify: false")
        assert main(["crosscheck", "-c", str(unverified), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        verified = write_config(tmp_path, standin.port, router_options=", tls: true")
        assert main(["crosscheck", "-c", str(verified)]) == 1
        port = standin.port
    assert {(c["site"], c["router"]) for c in data["both"]} == {("Sidoarjo", "up"), ("Porong", "down"), ("Waru", "up")}
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines == [
        f"netwatchd: router core (127.0.0.1:{port}): api-ssl refused the TLS handshake (sslv3 alert handshake "
        "failure): most likely the router has no certificate for api-ssl, and then it offers only anonymous-DH "
        "ciphers, which certificate checks cannot use: set tls_verify: false for this router, or give api-ssl a "
        "certificate: /certificate add name=api-ssl common-name=127.0.0.1 subject-alt-name=IP:127.0.0.1 "
        "days-valid=3650; /certificate sign api-ssl; /ip service set api-ssl certificate=api-ssl"], captured.err
    assert captured.out == "" and "Cc-pass-1f2e" not in captured.err


@pytest.mark.parametrize("version, since_pattern", [
    ("6.49.10 (long-term)", r"[a-z]{3}/\d{2}/\d{4} \d\d:\d\d:\d\d"),
    ("7.9.2 (stable)", r"[a-z]{3}/\d{2}/\d{4} \d\d:\d\d:\d\d"),
    ("7.15.3 (stable)", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
    ("7.18.2 (stable)", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
])
def test_command_reads_every_personality(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], version: str, since_pattern: str) -> None:
    import re

    monkeypatch.setenv("NW_TEST_ROUTER_PW", "Cc-pass-1f2e")
    conn = Database.in_dir(tmp_path / "data").open()
    state_repo.save(conn, {"Waru": HostState("Waru", State.UP, T0), "Porong": HostState("Porong", State.UP, T0)},
                    [], [], T0)
    conn.close()
    with RouterOSStandIn("netwatchd", "Cc-pass-1f2e", version=version) as standin:
        porong = next(row for row in standin.netwatch if row["host"] == "198.18.4.2")
        assert re.fullmatch(since_pattern, porong["since"])
        standin.netwatch.append({"host": "198.18.99.9", "interval": "1m", "timeout": "1s", "status": "up",
                                 "since": "", "comment": "not yet tested", "disabled": "false"})
        assert main(["crosscheck", "-c", str(write_config(tmp_path, standin.port)), "--json"]) == 3
        since = datetime.now(WIB).replace(microsecond=0)
    data = json.loads(capsys.readouterr().out)
    [disagree] = data["disagree"]
    assert (disagree["site"], disagree["router"]) == ("Porong", "down")
    router_since = datetime.fromisoformat(disagree["router_since"])
    assert abs((since - router_since).total_seconds() - 12 * 60) < 120     # "12 minutes ago", in either format
    assert "not yet tested" in {e["entry"] for e in data["only_router"]}


def test_command_explains_a_v6_simple_entry_that_disagrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A RouterOS 6 router (the stand-in's v6 personality: untyped, i.e. simple, entries)."""
    monkeypatch.setenv("NW_TEST_ROUTER_PW", "Cc-pass-1f2e")
    conn = Database.in_dir(tmp_path / "data").open()
    state_repo.save(conn, {n: HostState(n, State.UP, T0) for n in ("Sidoarjo", "Porong", "Waru")}, [], [], T0)
    conn.close()
    with RouterOSStandIn("netwatchd", "Cc-pass-1f2e", version="6.49.10") as standin:
        assert main(["crosscheck", "-c", str(write_config(tmp_path, standin.port))]) == 3
    disagree = capsys.readouterr().out.split("Disagree (1):")[1].split("\n\n")[0]
    assert "Porong" in disagree and "type=simple entry, as every RouterOS 6 entry is, flips on one lost" in disagree
