"""The periodic Netwatch cross-check without noise: two checks in a row either way, one agree-again
line, the `simple`-entry explanation, a memory that survives restarts in a real SQLite store, and
comments a router holds in cp1252 read as text (real RouterOS stand-in on loopback)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from netwatchd.app import Agent
from netwatchd.clock import FakeClock
from netwatchd.config.model import Config, HostSpec, RouterSpec, WebSpec
from netwatchd.engine.engine import HostState
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.models import ProbeResult, State, Transition
from netwatchd.notify.format import render_alerts, render_one
from netwatchd.router.client import RouterClient, RouterPool
from netwatchd.router.crosscheck_watch import CrossCheckWatcher, PendingWrites, Reading, SiteWatch
from netwatchd.router.netwatch import NetwatchEntry, read_netwatch
from netwatchd.router.wire_text import decode_word, wire_encoding
from netwatchd.store import Database, crosscheck_repo, state_repo
from netwatchd.store.db import latest_version

WIB = ZoneInfo("Asia/Jakarta")

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
PORONG = HostSpec("Porong", "198.18.4.2", group="kecamatan", down_after=4, up_after=3)
WARU = HostSpec("Waru", "198.18.15.2")


# ----------------------------------------------------------------------------- the state machine (pure)

def config(*hosts: HostSpec, every: float = 60.0) -> Config:
    return Config(path=Path("hosts.yaml"), data_dir=Path("/nonexistent"), hosts=hosts or (PORONG, WARU),
                  crosscheck_every=every)


class NoRouters:
    def names(self) -> list[str]:
        return ["core"]


def reading(router_says: dict[str, str], ours: dict[str, State], *, type_: str = "icmp",
            disabled: Sequence[str] = ()) -> Reading:
    """The router's status per site (by address of PORONG/WARU) and netwatchd's states."""
    hosts = {"Porong": PORONG.address, "Waru": WARU.address}
    entries = [NetwatchEntry.from_fields({"host": hosts[site], "status": status, "type": type_,
                                          "disabled": "true" if site in disabled else "false"})
               for site, status in router_says.items()]
    return Reading(routers=("core",), tables={"core": entries},
                   states={site: HostState(site, state, T0) for site, state in ours.items()})


def watcher(clock: FakeClock, *hosts: HostSpec, memory: Sequence[SiteWatch] = ()) -> CrossCheckWatcher:
    return CrossCheckWatcher(config(*hosts), NoRouters(), clock, load_states=dict, memory=memory)


def kinds(found: Sequence[Transition]) -> list[tuple[str, str]]:
    return [(t.kind, t.host) for t in found]


DISAGREE = reading({"Porong": "down", "Waru": "up"}, {"Porong": State.UP, "Waru": State.UP})
AGREE = reading({"Porong": "up", "Waru": "up"}, {"Porong": State.UP, "Waru": State.UP})
UNKNOWN = reading({"Porong": "down", "Waru": "up"}, {"Porong": State.UNKNOWN, "Waru": State.UP})


def run(w: CrossCheckWatcher, clock: FakeClock, *readings: Reading) -> list[list[tuple[str, str]]]:
    out = []
    for r in readings:
        clock.advance(60)
        out.append(kinds(w.judge(r)))
    return out


def test_disagreement_after_two_checks_then_one_agree_again_after_two(clock: FakeClock) -> None:
    w = watcher(clock)
    assert run(w, clock, DISAGREE, DISAGREE, DISAGREE, AGREE, AGREE, AGREE) == [
        [], [("crosscheck", "Porong")], [], [], [("crosscheck_agree", "Porong")], []]
    assert w.memory() == []


def test_a_lossy_simple_entry_flipping_every_check_stays_silent(clock: FakeClock) -> None:
    """Router down, up, down, up ...: never two disagreeing checks in a row, so nothing; and once
    announced, single agreeing checks between disagreeing ones never produce an agree/disagree pair."""
    w = watcher(clock)
    assert run(w, clock, *[DISAGREE, AGREE] * 5) == [[]] * 10
    w = watcher(clock)
    found = run(w, clock, DISAGREE, DISAGREE, *[AGREE, DISAGREE] * 5)
    assert [x for x in found if x] == [[("crosscheck", "Porong")]]


def test_a_check_where_one_side_does_not_know_neither_confirms_nor_ends(clock: FakeClock) -> None:
    w = watcher(clock)
    assert run(w, clock, DISAGREE, UNKNOWN, DISAGREE) == [[], [], []]          # the streak starts over
    assert run(w, clock, DISAGREE) == [[("crosscheck", "Porong")]]
    assert run(w, clock, UNKNOWN, UNKNOWN, AGREE, UNKNOWN, AGREE) == [[], [], [], [], []]
    assert run(w, clock, AGREE) == [[("crosscheck_agree", "Porong")]]


def test_a_disabled_entry_or_a_removed_site_ends_the_watch_without_a_message(clock: FakeClock) -> None:
    w = watcher(clock)
    run(w, clock, DISAGREE, DISAGREE)
    disabled = reading({"Porong": "down", "Waru": "up"}, {"Porong": State.UP, "Waru": State.UP},
                       disabled=["Porong"])
    assert run(w, clock, disabled, AGREE, AGREE) == [[], [], []]
    assert w.memory() == []
    run(w, clock, DISAGREE, DISAGREE)
    w.replace_config(config(WARU))                                             # Porong removed
    assert run(w, clock, AGREE, AGREE) == [[], []] and w.memory() == []
    assert w.pending().deletes == (("core", "Porong"),)


def test_a_router_that_cannot_be_read_changes_nothing(clock: FakeClock) -> None:
    w = watcher(clock)
    run(w, clock, DISAGREE, DISAGREE)
    broken = Reading(routers=("core",), errors={"core": "router core: timeout"})
    assert run(w, clock, broken, broken, AGREE) == [[], [], []]
    assert w.last_errors == {} and run(w, clock, AGREE) == [[("crosscheck_agree", "Porong")]]
    gone = Reading(routers=())                                                  # router removed from config
    run(w, clock, DISAGREE, DISAGREE, broken)
    assert w.last_errors == {"core": "router core: timeout"}
    assert run(w, clock, gone) == [[]] and w.memory() == [] and w.last_errors == {}


def test_pending_writes_are_cleared_only_for_what_was_saved(clock: FakeClock) -> None:
    w = watcher(clock)
    run(w, clock, DISAGREE)
    first = w.pending()
    assert [r.disagree_checks for r in first.upserts] == [1] and not first.deletes
    run(w, clock, DISAGREE)                      # changes again before the first save lands
    w.saved(first)
    second = w.pending()
    assert [(r.disagree_checks, r.announced) for r in second.upserts] == [(2, True)]
    w.saved(second)
    assert not w.pending()


def test_the_alerts_carry_what_the_message_needs(clock: FakeClock) -> None:
    w = watcher(clock)
    simple = reading({"Porong": "down", "Waru": "up"}, {"Porong": State.UP, "Waru": State.UP}, type_="simple")
    clock.advance(60)
    w.judge(simple)
    clock.advance(60)
    [alert] = w.judge(simple)
    assert (alert.kind, alert.group, alert.from_state, alert.to_state) == (
        "crosscheck", "kecamatan", State.UP, State.DOWN)
    assert {k: alert.evidence[k] for k in ("router", "router_status", "netwatchd_state", "router_type",
                                           "down_after", "up_after")} == {
        "router": "core", "router_status": "down", "netwatchd_state": "up", "router_type": "simple",
        "down_after": 4, "up_after": 3}
    first_seen = clock.now() - timedelta(seconds=60)
    clock.advance(60)
    w.judge(AGREE)
    clock.advance(60)
    [agreed] = w.judge(AGREE)
    assert (agreed.kind, agreed.from_state, agreed.to_state, agreed.since, agreed.at) == (
        "crosscheck_agree", State.UP, State.UP, first_seen, clock.now())
    assert (agreed.evidence["was_router_status"], agreed.evidence["router_status"]) == ("down", "up")


# ----------------------------------------------------------------------------- the messages

AT = datetime(2026, 11, 27, 14, 3, 5, tzinfo=timezone.utc)


def crosscheck_alert(router: str = "down", ours: str = "up", type_: str = "simple") -> Transition:
    return Transition(host="Porong", address="198.18.4.2", kind="crosscheck", from_state=State(ours),
                      to_state=State(router), at=AT, evidence={
                          "router": "core", "router_entry": "Porong", "router_status": router,
                          "netwatchd_state": ours, "router_type": type_, "down_after": 4, "up_after": 3})


def test_a_simple_entry_disagreement_explains_single_echo_versus_down_after() -> None:
    assert render_one(crosscheck_alert(), language="en", tz=WIB) == (
        "🔀 <b>Porong NETWATCH DISAGREES</b>\nAddress: 198.18.4.2\nChecked: 27/11/2026 21:03:05 WIB\n"
        "Evidence: Netwatch core: down, netwatchd: up\n"
        "Note: the router&#x27;s entry is type simple (every RouterOS 6 entry is): Netwatch calls a site down "
        "after one lost echo, netwatchd only after 4 failed probes in a row (down_after). On a lossy link this "
        "is expected, not an outage; on RouterOS 7 an entry of type=icmp with thr-loss-percent judges loss "
        "the way netwatchd does.")
    indonesian = render_one(crosscheck_alert(), language="id", tz=WIB)
    assert indonesian.startswith("🔀 <b>Porong BEDA DENGAN NETWATCH</b>\nAlamat: 198.18.4.2\n")
    assert "Catatan: entri router bertipe simple" in indonesian and "4 probe gagal berturut-turut" in indonesian
    back_up = render_one(crosscheck_alert("up", "down"), language="en", tz=WIB)
    assert "up again after one answered echo, netwatchd only after 3 good probes in a row (up_after)" in back_up
    for typed in (crosscheck_alert(type_="icmp"), crosscheck_alert("up", "unreachable")):
        assert "Note:" not in render_one(typed, language="en", tz=WIB)


@pytest.mark.parametrize("language, first_line, lines", [
    ("en", "🤝 <b>Porong NETWATCH AGREES AGAIN</b>",
     ["Address: 198.18.4.2", "At: 27/11/2026 21:03:05 WIB", "Disagreed for: 25 min (since 27/11/2026 20:38:05 WIB)",
      "Evidence: Netwatch core: up, netwatchd: up"]),
    ("id", "🤝 <b>Porong SESUAI LAGI DENGAN NETWATCH</b>",
     ["Alamat: 198.18.4.2", "Pada: 27/11/2026 21:03:05 WIB", "Sempat berbeda: 25 mnt (sejak 27/11/2026 20:38:05 WIB)",
      "Bukti: Netwatch core: up, netwatchd: up"]),
])
def test_the_agree_again_line_has_its_own_label_and_icon(language: str, first_line: str, lines: list[str]) -> None:
    agreed = Transition(host="Porong", address="198.18.4.2", kind="crosscheck_agree", from_state=State.UP,
                        to_state=State.UP, at=AT, since=AT - timedelta(minutes=25), evidence={
                            "router": "core", "router_status": "up", "netwatchd_state": "up",
                            "router_type": "simple", "down_after": 4})
    assert render_one(agreed, language=language, tz=WIB).split("\n") == [first_line, *lines]
    merged = render_alerts([crosscheck_alert(), agreed], language=language, tz=WIB)[0]
    assert "🟢" not in merged and "🔴" not in merged and " UP " not in merged and "Porong DOWN" not in merged


# ----------------------------------------------------------------------------- the store

def test_the_migration_adds_the_table_to_an_existing_store_and_rows_round_trip(tmp_path: Path) -> None:
    db = Database.in_dir(tmp_path)
    conn = db.connect()
    from netwatchd.store.db import _schema_v1

    conn.executescript(f"BEGIN; {_schema_v1()} PRAGMA user_version=1; COMMIT;")     # a store from before
    state_repo.save(conn, {"Porong": HostState("Porong", State.UP, T0)}, [], [], T0)
    conn.close()
    assert db.migrate() == latest_version() >= 2
    conn = db.connect()
    assert state_repo.load_states(conn)["Porong"].state == State.UP                 # nothing lost
    rows = [SiteWatch("core", "Porong", 2, 1, True, T0, T0 + timedelta(minutes=1), "down", "up", "Porong — fiber"),
            SiteWatch("core", "Waru", 1, 0, False, T0, T0, "up", "down")]
    crosscheck_repo.apply(conn, PendingWrites(upserts=tuple(rows)))
    assert crosscheck_repo.load(conn) == rows
    crosscheck_repo.apply(conn, PendingWrites(upserts=(rows[0],), deletes=(("core", "Waru"),)))
    assert crosscheck_repo.load(conn) == rows[:1]
    conn.close()


class Network:
    """Every site answers (netwatchd sees them UP)."""

    def probe(self, hosts: Sequence[HostSpec], *, clock: FakeClock) -> list[ProbeResult]:
        return [ProbeResult.from_rtts(host=h.name, address=h.address, probe="icmp", at=clock.now(), sent=3,
                                      rtts_ms=[0.4, 0.5, 0.4]) for h in hosts]


def agent_config(tmp_path: Path, port: int) -> Config:
    hosts = tuple(HostSpec(name=n, address=a, interval=10.0, timeout=1.0, retry_interval=1.0, down_after=2,
                           up_after=2) for n, a in (("Porong", "198.18.4.2"), ("Waru", "198.18.15.2")))
    return Config(path=tmp_path / "hosts.yaml", data_dir=tmp_path / "data", hosts=hosts, web=WebSpec(enabled=False),
                  crosscheck_every=60.0, routers=(RouterSpec(name="core", address="127.0.0.1", port=port,
                                                             username="netwatchd", password="lab-secret"),))


def start(cfg: Config, clock: FakeClock) -> Agent:
    agent = Agent(cfg, clock=clock, probe_fn=Network().probe)
    for _ in range(24):                                   # 12 s: both sites settle UP
        clock.advance(0.5)
        agent.probe_once()
        agent.tick_once()
    return agent


def announced(agent: Agent) -> list[tuple[str, str]]:
    rows = agent._conn().execute("SELECT payload FROM outbox ORDER BY id").fetchall()
    return [(json.loads(r[0])["kind"], json.loads(r[0])["host"]) for r in rows
            if json.loads(r[0])["kind"].startswith("crosscheck")]


def check(agent: Agent, clock: FakeClock, times: int = 1) -> None:
    for _ in range(times):
        clock.advance(60)
        agent.crosscheck_once()


def test_a_restart_neither_repeats_the_disagreement_nor_forgets_the_agree_again(tmp_path: Path,
                                                                               clock: FakeClock) -> None:
    with RouterOSStandIn(password="lab-secret") as router:          # its Netwatch says Porong is down
        cfg = agent_config(tmp_path, router.port)
        agent = start(cfg, clock)
        check(agent, clock, 2)
        assert announced(agent) == [("crosscheck", "Porong")]
        agent.routers.close()

        agent = start(cfg, clock)                                   # restart: still disagreeing
        check(agent, clock, 3)
        assert announced(agent) == [("crosscheck", "Porong")]
        router.set_netwatch_status("198.18.4.2", "up")
        check(agent, clock)                                         # one agreeing check ...
        agent.routers.close()

        agent = start(cfg, clock)                                   # ... a restart ...
        check(agent, clock)                                         # ... and the second one
        assert announced(agent) == [("crosscheck", "Porong"), ("crosscheck_agree", "Porong")]
        agent.routers.close()

        agent = start(cfg, clock)
        check(agent, clock, 3)
        agent.routers.close()
    assert announced(agent) == [("crosscheck", "Porong"), ("crosscheck_agree", "Porong")]
    assert crosscheck_repo.load(agent._conn()) == []


def test_a_v6_routers_simple_entry_alert_says_why_it_may_disagree(tmp_path: Path, clock: FakeClock) -> None:
    with RouterOSStandIn(password="lab-secret", version="6.49.10") as router:
        agent = start(agent_config(tmp_path, router.port), clock)
        check(agent, clock, 2)
        agent.routers.close()
    [payload] = [json.loads(r[0]) for r in agent._conn().execute("SELECT payload FROM outbox")
                 if json.loads(r[0])["kind"] == "crosscheck"]
    text = render_one(Transition.from_dict(payload), language="en", tz=WIB)
    assert "Netwatch core: down, netwatchd: up" in text
    assert "Netwatch calls a site down after one lost echo, netwatchd only after 2 failed probes" in text


def test_a_disagreement_seen_once_before_a_short_restart_counts_a_long_one_starts_over(
        tmp_path: Path, clock: FakeClock) -> None:
    with RouterOSStandIn(password="lab-secret") as router:
        cfg = agent_config(tmp_path, router.port)
        agent = start(cfg, clock)
        check(agent, clock)
        agent.routers.close()
        agent = start(cfg, clock)                                   # back within the next period
        check(agent, clock)
        assert announced(agent) == [("crosscheck", "Porong")]
        agent.routers.close()

        router.set_netwatch_status("198.18.4.2", "up")
        agent = start(cfg, clock)
        check(agent, clock, 2)                                      # agree again
        router.set_netwatch_status("198.18.4.2", "down")
        check(agent, clock)                                         # seen once ...
        agent.routers.close()
        clock.advance(3600)                                         # ... stopped for an hour
        agent = start(cfg, clock)
        check(agent, clock)
        assert announced(agent)[-1] == ("crosscheck_agree", "Porong")   # stale: not "two in a row"
        check(agent, clock)
        agent.routers.close()
    assert announced(agent)[-1] == ("crosscheck", "Porong")


def test_a_failed_save_stores_neither_the_alert_nor_the_watchers_memory(tmp_path: Path, clock: FakeClock,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Both go in one transaction: had the memory been stored alone ("announced"), a crash before
    the retry would lose the alert for good."""
    with RouterOSStandIn(password="lab-secret") as router:
        agent = start(agent_config(tmp_path, router.port), clock)
        check(agent, clock)

        def locked(*args: Any, **kwargs: Any) -> None:
            raise sqlite3.OperationalError("database is locked")

        real_save = state_repo.save
        monkeypatch.setattr(state_repo, "save", locked)
        check(agent, clock)                                         # decided, but not stored
        monkeypatch.setattr(state_repo, "save", real_save)
        other = Database.in_dir(tmp_path / "data").connect()
        assert [(w.disagree_checks, w.announced) for w in crosscheck_repo.load(other)] == [(1, False)]
        assert other.execute("SELECT count(*) FROM events WHERE kind = 'crosscheck'").fetchone()[0] == 0
        check(agent, clock)                                         # the next write stores both
        assert [(w.disagree_checks, w.announced) for w in crosscheck_repo.load(other)] == [(3, True)]
        assert other.execute("SELECT count(*) FROM events WHERE kind = 'crosscheck'").fetchone()[0] == 1
        other.close()
        agent.routers.close()
    assert announced(agent) == [("crosscheck", "Porong")]


def test_shards_sharing_a_store_keep_to_their_own_sites(tmp_path: Path, clock: FakeClock) -> None:
    theirs = SiteWatch("core", "Sidoarjo", 2, 0, True, T0, T0, "down", "up")
    conn = Database.in_dir(tmp_path / "data").open()
    crosscheck_repo.apply(conn, PendingWrites(upserts=(theirs,)))
    with RouterOSStandIn(password="lab-secret") as router:
        agent = start(agent_config(tmp_path, router.port), clock)   # watches Porong and Waru only
        check(agent, clock, 3)
        agent.routers.close()
    assert [w.site for w in crosscheck_repo.load(conn)] == ["Porong", "Sidoarjo"]
    conn.close()


# ----------------------------------------------------------------------------- cp1252 comments

def test_cp1252_words_are_decoded_per_word_not_stripped() -> None:
    assert decode_word("Kecamatan Porong — fiber".encode()) == "Kecamatan Porong — fiber"
    assert decode_word("Kecamatan Porong – gedung café".encode("cp1252")) == "Kecamatan Porong – gedung café"
    assert decode_word(b"\x81\x8d\x8f\x90\x9d") == "\x81\x8d\x8f\x90\x9d"      # undefined in cp1252: C1
    assert wire_encoding("UTF8") == wire_encoding("utf-8") != "utf-8"
    assert wire_encoding("cp1251") == "cp1251"


def test_the_client_reads_a_routers_cp1252_and_utf8_comments_side_by_side() -> None:
    """WinBox wrote one comment in the PC's cp1252, a script wrote another in UTF-8: the router
    sends the bytes as stored. Before, librouteros' utf-8 with errors="ignore" dropped the dash and é."""
    with RouterOSStandIn(password="lab-secret") as router:
        router.netwatch[0]["comment"] = "Kantor Kecamatan Sidoarjo – gedung café".encode("cp1252")
        router.netwatch[1]["comment"] = "Kecamatan Porong — link fiber".encode()
        client = RouterClient(RouterSpec(name="core", address="127.0.0.1", port=router.port,
                                         username="netwatchd", password="lab-secret"))
        entries = read_netwatch(client)
        client.close()
    assert [e.comment for e in entries[:2]] == ["Kantor Kecamatan Sidoarjo – gedung café",
                                                "Kecamatan Porong — link fiber"]


def test_a_router_in_cp1252_and_a_configured_code_page() -> None:
    with RouterOSStandIn(password="lab-secret", encoding="cp1252") as router:     # every word in cp1252
        client = RouterClient(RouterSpec(name="core", address="127.0.0.1", port=router.port,
                                         username="netwatchd", password="lab-secret"))
        assert read_netwatch(client)[1].comment == "Kecamatan Porong — link fiber"
        client.close()
    with RouterOSStandIn(password="lab-secret") as router:
        router.netwatch[1]["comment"] = "Порог".encode("cp1251")
        client = RouterClient(RouterSpec(name="core", address="127.0.0.1", port=router.port,
                                         username="netwatchd", password="lab-secret", encoding="cp1251"))
        assert read_netwatch(client)[1].comment == "Порог"
        client.close()


def test_a_cp1252_comment_still_matches_its_site_by_name(tmp_path: Path, clock: FakeClock) -> None:
    """An entry whose address changed is matched by its comment: the cp1252 comment must read as
    the site's name, or the pairing silently fails."""
    site = HostSpec("Tanggulangin – Kalidawir", "198.18.9.2")
    with RouterOSStandIn(password="lab-secret") as router:
        router.netwatch.append({"host": "198.18.99.2", "status": "down", "since": "", "type": "icmp",
                                "comment": "Tanggulangin – Kalidawir".encode("cp1252"), "disabled": "false"})
        cfg = Config(path=Path("hosts.yaml"), data_dir=Path("/nonexistent"), hosts=(site,), crosscheck_every=60.0,
                     routers=(RouterSpec(name="core", address="127.0.0.1", port=router.port,
                                         username="netwatchd", password="lab-secret"),))
        pool = RouterPool(cfg.routers)
        w = CrossCheckWatcher(cfg, pool, clock, load_states=lambda: {site.name: HostState(site.name, State.UP, T0)})
        clock.advance(60)
        assert w.run_once() == []
        clock.advance(60)
        [alert] = w.run_once()
        pool.close()
    assert (alert.host, alert.evidence["router_entry"]) == ("Tanggulangin – Kalidawir", "Tanggulangin – Kalidawir")


# ----------------------------------------------------------------------------- the report

def test_cross_check_events_are_not_outages_in_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cross-check event records what the ROUTER said (to_state DOWN): the report must not read it
    as netwatchd's own state, or a site that never went down loses availability."""
    from netwatchd import cli

    (tmp_path / "hosts.yaml").write_text("data_dir: ./data\ntimezone: Asia/Jakarta\nhosts:\n"
                                         "  - {name: Porong, address: 198.18.4.2}\n")
    conn = Database.in_dir(tmp_path / "data").open()
    day = datetime(2026, 11, 1, tzinfo=timezone(timedelta(hours=7)))
    up = Transition(host="Porong", address="198.18.4.2", from_state=State.UNKNOWN, to_state=State.UP,
                    at=day - timedelta(days=1))
    disagree = dataclasses.replace(crosscheck_alert(), at=day + timedelta(hours=8))
    agreed = Transition(host="Porong", address="198.18.4.2", kind="crosscheck_agree", from_state=State.UP,
                        to_state=State.UP, at=day + timedelta(hours=9))
    state_repo.save(conn, {}, [up, disagree, agreed], [], day)
    conn.close()
    out = tmp_path / "r.json"
    assert cli.main(["report", "-c", str(tmp_path / "hosts.yaml"), "--since", "2026-11-01", "--until",
                     "2026-11-02", "--format", "json", "-o", str(out)]) == 0
    [porong] = json.loads(out.read_text())["sites"]
    assert porong["availability_percent"] == 100.0 and porong["outage_count"] == 0
