"""The agent's wiring, driven step by step (no threads, a FakeClock) against a real SQLite store
and the real Bot API stand-in over HTTP on loopback. The network is the one seam replaced: a
table of which address answers, handed in as probe_fn (the lab e2e tests use real ICMP)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from netwatchd.app import Agent
from netwatchd.clock import FakeClock
from netwatchd.config.model import Config, HostSpec, TelegramSpec, WebSpec
from netwatchd.engine.engine import HostState, hosts_to_probe_soon
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.models import ProbeResult, State, Transition
from netwatchd.store import state_repo

TOKEN = "123456:TEST-token-for-the-stand-in-0000000000"
CHAT = -1001234567890


class Network:
    """Which hosts answer right now (everything does unless cut)."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.rounds = 0

    def probe(self, hosts: Sequence[HostSpec], *, clock: FakeClock) -> list[ProbeResult]:
        self.rounds += 1
        return [ProbeResult.from_rtts(host=h.name, address=h.address, probe="icmp", at=clock.now(),
                                      sent=3, rtts_ms=[] if h.name in self.down else [0.4, 0.5, 0.4])
                for h in hosts]


def site(name: str, parent: str | None = "core", **kw: object) -> HostSpec:
    return HostSpec(name=name, address=f"198.18.{abs(hash(name)) % 250 + 1}.2", parent=parent, interval=10.0,
                    timeout=1.0, retry_interval=1.0, down_after=2, up_after=2, **kw)  # type: ignore[arg-type]


def make_config(tmp_path: Path, api_url: str | None, hosts: Sequence[HostSpec] | None = None) -> Config:
    telegram = TelegramSpec(token=TOKEN, chat_ids=(CHAT,), admins=(42,), api_url=api_url,
                            language="en", poll_commands=False) if api_url else TelegramSpec()
    return Config(path=tmp_path / "hosts.yaml", data_dir=tmp_path / "data",
                  hosts=tuple(hosts or (site("core", None), site("Waru"), site("Taman"))),
                  telegram=telegram, web=WebSpec(enabled=False))


@pytest.fixture
def standin() -> Iterator[TelegramStandIn]:
    with TelegramStandIn(token=TOKEN) as server:
        yield server


def settle(agent: Agent, clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    """Advance time in steps, probing whatever is due and ticking, like the threads would."""
    for _ in range(int(seconds / step)):
        clock.advance(step)
        agent.probe_once()
        agent.tick_once()


def outbox(agent: Agent) -> list[tuple[str, str]]:
    rows = agent._conn().execute("SELECT payload FROM outbox ORDER BY id").fetchall()
    import json

    return [(json.loads(r[0])["host"], json.loads(r[0])["to"]) for r in rows]


def test_a_cut_site_goes_down_into_the_store_and_out_to_telegram_then_up(tmp_path, clock, standin):
    net = Network()
    agent = Agent(make_config(tmp_path, standin.api_url), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    assert {n: s.state for n, s in agent.known.items() if n in ("core", "Waru", "Taman")} == \
        {"core": State.UP, "Waru": State.UP, "Taman": State.UP}
    net.down.add("Waru")
    settle(agent, clock, 12)
    assert outbox(agent) == [("Waru", "down")]
    assert agent.deliver_once() == 1
    assert "Waru DOWN" in standin.messages(CHAT)[-1]["text"]
    net.down.clear()
    settle(agent, clock, 12)
    agent.deliver_once()
    assert [m["text"].split("\n")[0] for m in standin.messages(CHAT)] == ["🔴 <b>Waru DOWN</b>", "🟢 <b>Waru UP</b>"]
    assert agent.metrics.render().count(b'netwatchd_host_state{host="Waru",state="up"} 1.0') == 1


def test_a_store_that_cannot_be_written_keeps_the_alert_for_the_next_round(tmp_path, clock, monkeypatch, caplog):
    net = Network()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    real_save = state_repo.save
    failures = []

    def failing_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("database or disk is full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(state_repo, "save", failing_once)
    net.down.add("Taman")
    with caplog.at_level(logging.ERROR, logger="netwatchd.store"):
        for _ in range(40):
            clock.advance(0.5)
            agent.probe_once()
            if failures and outbox(agent):
                break
    assert failures, "the failure was never hit"
    assert "cannot be written" in caplog.text and "alerts are still sent, from memory" in caplog.text
    assert outbox(agent) == [("Taman", "down")]


def test_a_restart_restores_state_sends_no_second_down_and_still_sends_the_up(tmp_path, clock, standin):
    net = Network()
    config = make_config(tmp_path, standin.api_url)
    first = Agent(config, clock=clock, probe_fn=net.probe)
    settle(first, clock, 12)
    net.down.add("Waru")
    settle(first, clock, 12)
    first.deliver_once()
    del first                                   # as after kill -9: nothing is stopped or flushed
    second = Agent(config, clock=clock, probe_fn=net.probe)
    assert second.known["Waru"].state == State.DOWN
    settle(second, clock, 25)
    assert outbox(second) == [("Waru", "down")]
    net.down.clear()
    settle(second, clock, 12)
    second.deliver_once()
    assert [m["text"].split("\n")[0] for m in standin.messages(CHAT)] == ["🔴 <b>Waru DOWN</b>", "🟢 <b>Waru UP</b>"]


def test_reload_keeps_unchanged_sites_state_adds_and_forgets_sites(tmp_path, clock):
    net = Network()
    config = make_config(tmp_path, None)
    agent = Agent(config, clock=clock, probe_fn=net.probe)
    net.down.add("Taman")
    settle(agent, clock, 15)
    waru_since = agent.known["Waru"].since
    assert agent.known["Taman"].state == State.DOWN
    changed_core = site("core", None, comment="now with a comment")
    new = make_config(tmp_path, None, [changed_core, site("Waru"), site("Candi")])
    outcome = agent.apply_config(new)
    assert outcome.ok
    assert (outcome.added, outcome.removed, outcome.changed) == (("Candi",), ("Taman",), ("core",))
    assert agent.known["Waru"].since == waru_since and agent.known["Waru"].state == State.UP
    assert "Taman" in state_repo.load_states(agent._conn())            # kept for the grace period
    assert set(state_repo.retired_hosts(agent._conn())) == {"Taman"}
    assert {h.name for h in agent.loop.hosts()} == {"core", "Waru", "Candi"}
    settle(agent, clock, 12)
    assert agent.known["Candi"].state == State.UP


def _reload_rows(agent: Agent) -> list[dict]:
    import json

    rows = [json.loads(r[0]) for r in agent._conn().execute("SELECT payload FROM outbox ORDER BY id")]
    return [r for r in rows if r.get("kind") == "reload"]


def test_a_reload_that_removes_sites_says_so_in_the_chat_and_restoring_the_file_restores_their_state(tmp_path,
                                                                                                      clock):
    net = Network()
    hosts = [site("core", None)] + [site(f"Kec{i:02d}") for i in range(1, 18)]
    agent = Agent(make_config(tmp_path, None, hosts), clock=clock, probe_fn=net.probe)
    net.down.add("Kec03")
    settle(agent, clock, 15)
    down_since = agent.known["Kec03"].since
    assert agent.known["Kec03"].state == State.DOWN
    truncated = make_config(tmp_path, None, hosts[:5])                  # a file cut at a line boundary
    outcome = agent.apply_config(truncated)
    assert len(outcome.removed) == 13
    [notice] = _reload_rows(agent)
    assert len(notice["affected"]) == 13 and notice["evidence"]["kept_seconds"] == 86400
    from zoneinfo import ZoneInfo

    from netwatchd.models import Transition
    from netwatchd.notify.format import render_message

    text = render_message([Transition.from_dict(notice)], language="en", tz=ZoneInfo("Asia/Jakarta"))
    assert "hosts.yaml reloaded" in text and "13 sites removed: Kec05, Kec06" in text and "kept 1 d" in text
    clock.advance(3600)                                                 # an hour later the admin notices
    outcome = agent.apply_config(make_config(tmp_path, None, hosts))
    assert len(outcome.added) == 13 and not outcome.removed
    assert len(_reload_rows(agent)) == 1                                # putting sites back is no alarm
    assert agent.known["Kec03"].state == State.DOWN and agent.known["Kec03"].since == down_since
    settle(agent, clock, 15)
    assert ("Kec03", "down") not in outbox(agent)[1:]                   # no second DOWN for the same outage
    assert state_repo.retired_hosts(agent._conn()) == {}


def test_removed_sites_are_forgotten_once_their_grace_has_passed(tmp_path, clock):
    import dataclasses

    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=Network().probe)
    settle(agent, clock, 5)
    short = make_config(tmp_path, None, [site("core", None), site("Waru")])
    agent.apply_config(dataclasses.replace(short, retention=dataclasses.replace(short.retention,
                                                                                 removed_sites=600.0)))
    assert "Taman" in state_repo.load_states(agent._conn())
    clock.advance(601)
    agent.apply_config(dataclasses.replace(short, retention=dataclasses.replace(short.retention,
                                                                                 removed_sites=600.0)))
    assert "Taman" not in state_repo.load_states(agent._conn())
    assert state_repo.retired_hosts(agent._conn()) == {}


def test_reload_of_a_bad_file_is_rejected_with_its_errors_and_the_old_config_kept(tmp_path, clock, caplog):
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=Network().probe)
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts:\n  - {name: Waru, address: 198.18.1.2, interval: soon}\n", "utf-8")
    with caplog.at_level(logging.ERROR, logger="netwatchd.app"):
        outcome = agent.reload(bad)
    assert not outcome.ok and outcome.errors
    assert "interval" in caplog.text and "the running config (3 hosts) is kept" in caplog.text
    assert {h.name for h in agent.loop.hosts()} == {"core", "Waru", "Taman"}


def test_shards_split_the_hosts_between_agents_without_overlap(tmp_path, clock):
    hosts = [site("core", None)] + [site(f"s{i}") for i in range(6)] + [site("edge", None), site("e1", "edge")]
    config = make_config(tmp_path, None, hosts)
    watched = []
    for k in (1, 2):
        agent = Agent(config, clock=clock, probe_fn=Network().probe, shard=(k, 2))
        watched.append({h.name for h in agent.loop.hosts()})
    assert watched[0] | watched[1] == {h.name for h in hosts}
    assert not watched[0] & watched[1]
    for part in watched:                       # a site always stays with its parent
        assert ("core" in part) == ("s0" in part) and ("edge" in part) == ("e1" in part)


def _result(host: str, alive: bool, clock: FakeClock) -> ProbeResult:
    return ProbeResult.from_rtts(host=host, address="198.18.9.9", probe="icmp", at=clock.now(), sent=3,
                                 rtts_ms=[0.5] if alive else [])


@pytest.mark.parametrize("site_state, core_state, core_fails, expected", [
    (State.UP, State.UP, 0, ["core"]),             # first failure of a site: check the core now
    (State.UP, State.UP, 1, []),                   # the core is already failing: its own retries
    (State.UP, State.DOWN, 2, []),                 # the core is known down
    (State.DOWN, State.UP, 0, []),                 # the site is decided: nothing to order
    (State.UNKNOWN, State.UNKNOWN, 0, ["core"]),
])
def test_parents_are_probed_first_when_a_site_starts_failing(clock, site_state, core_state, core_fails, expected):
    hosts = {h.name: h for h in (site("core", None), site("Waru"))}
    states = {"core": HostState("core", core_state, fails=core_fails), "Waru": HostState("Waru", site_state)}
    assert hosts_to_probe_soon([_result("Waru", False, clock)], [], states, hosts) == expected
    assert hosts_to_probe_soon([_result("Waru", True, clock)], [], states, hosts) == []


def test_children_are_probed_at_once_when_their_parent_comes_back(clock):
    hosts = {h.name: h for h in (site("core", None), site("Waru"), site("Taman"), site("x", "Waru"))}
    back = Transition(host="core", address="", from_state=State.DOWN, to_state=State.UP, at=clock.now())
    states = {n: HostState(n, State.UNREACHABLE) for n in hosts}
    assert hosts_to_probe_soon([_result("core", True, clock)], [back], states, hosts) == ["Waru", "Taman"]


def test_the_engine_names_what_to_probe_soon_from_its_own_states(tmp_path, clock):
    from netwatchd.engine.engine import AlertEngine

    engine = AlertEngine(make_config(tmp_path, None, [site("core", None), site("Waru"), site("Taman")]), clock)
    waru_fails = [_result("Waru", False, clock)]
    assert engine.probe_soon(waru_fails, engine.ingest(waru_fails)) == ["core", "Taman"]   # the parent, the family
    core_fails = [_result("core", False, clock)]
    assert engine.probe_soon(core_fails, engine.ingest(core_fails)) == []         # its own retries follow
    taman_fails = [_result("Taman", False, clock)]
    assert engine.probe_soon(taman_fails, engine.ingest(taman_fails)) == []       # core failing, family just swept
    # Waru reaches down_after while core is failing but undecided: Waru is held and core wanted again
    assert engine.probe_soon(waru_fails, engine.ingest(waru_fails)) == ["core"]
    assert engine.states()["Waru"].held


def test_a_lasting_netwatch_disagreement_is_recorded_and_queued_for_the_admins(tmp_path, clock):
    from netwatchd.config.model import RouterSpec
    from netwatchd.lab.routeros_standin import RouterOSStandIn

    with RouterOSStandIn(password="lab-secret") as router:     # its Netwatch says Porong is down
        hosts = [HostSpec(name=n, address=a, interval=10.0, timeout=1.0, retry_interval=1.0, down_after=2,
                          up_after=2) for n, a in (("Porong", "198.18.4.2"), ("Waru", "198.18.15.2"))]
        config = make_config(tmp_path, None, hosts)
        config = replace(config, crosscheck_every=60.0, routers=(RouterSpec(
            name="core", address="127.0.0.1", port=router.port, username="netwatchd", password="lab-secret"),))
        agent = Agent(config, clock=clock, probe_fn=Network().probe)
        settle(agent, clock, 12)                               # we see both UP
        assert agent.crosscheck_once() == []                   # one check is not yet lasting
        found = agent.crosscheck_once()
        agent.routers.close()
    assert [(t.host, t.kind, t.to_state) for t in found] == [("Porong", "crosscheck", State.DOWN)]
    assert outbox(agent) == [("Porong", "down")]


def test_the_status_page_serves_the_agents_own_states_and_metrics(tmp_path, clock):
    import json
    import urllib.request

    net = Network()
    config = replace(make_config(tmp_path, None), web=WebSpec(enabled=True, port=0))
    agent = Agent(config, clock=clock, probe_fn=net.probe)
    net.down.add("Taman")
    settle(agent, clock, 15)
    agent.web.start()
    try:
        base = f"http://127.0.0.1:{agent.web.port}"
        status = json.load(urllib.request.urlopen(f"{base}/api/status", timeout=5))
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        health = urllib.request.urlopen(f"{base}/healthz", timeout=5).status
    finally:
        agent.web.stop()
    text = json.dumps(status)
    assert '"Taman"' in text and '"down"' in text
    assert 'netwatchd_host_state{host="Taman",state="down"} 1.0' in metrics
    assert health == 200


def test_when_the_core_dies_its_sites_fold_into_one_message_whatever_the_probe_phases(tmp_path, clock):
    names = ["Sidoarjo", "Buduran", "Candi", "Porong", "Krembung", "Tulangan", "Waru", "Taman"]
    hosts = [site("core", None)] + [site(n) for n in names]
    net = Network()
    agent = Agent(make_config(tmp_path, None, hosts), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    net.down.update(["core", *names])
    settle(agent, clock, 25, step=0.1)
    import json

    payloads = [json.loads(r[0]) for r in agent._conn().execute("SELECT payload FROM outbox ORDER BY id")]
    assert [(p["host"], p["to"]) for p in payloads] == [("core", "down")]
    assert sorted(payloads[0]["affected"]) == sorted(names)


def test_reload_says_which_changes_need_a_restart_and_switches_the_telegram_endpoint(tmp_path, clock, standin):
    config = make_config(tmp_path, standin.api_url)
    agent = Agent(config, clock=clock, probe_fn=Network().probe)
    old_api = agent.worker.api
    moved = replace(make_config(tmp_path, "http://127.0.0.1:9"), data_dir=tmp_path / "elsewhere",
                    web=WebSpec(enabled=True, port=0))
    outcome = agent.apply_config(moved)
    assert outcome.ok and set(outcome.needs_restart) == {"data_dir", "web"}
    assert "needs a restart to apply: data_dir, web" in outcome.summary()
    assert agent.worker.api is not old_api and agent.worker.api is agent.api



@pytest.mark.parametrize("phase", [0.0, 2.5, 5.0, 7.5])
def test_a_site_dying_alone_is_decided_within_the_bound_whatever_the_cores_probe_phase(tmp_path, clock, phase):
    """The core is checked at the site's first failure, so the site never waits for the core's turn."""
    import json
    from datetime import datetime

    net = Network()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12 + phase, step=0.05)
    net.down.add("Waru")
    cut_at = clock.now()
    settle(agent, clock, 15, step=0.05)
    rows = [json.loads(r[0]) for r in agent._conn().execute("SELECT payload FROM outbox")]
    assert [(r["host"], r["to"]) for r in rows] == [("Waru", "down")]
    waited = (datetime.fromisoformat(rows[0]["at"]) - cut_at).total_seconds()
    spec = site("Waru")
    bound = spec.interval + (spec.down_after - 1) * spec.retry_interval + spec.timeout
    assert waited <= bound + 0.2, (waited, bound)


def test_a_netwatch_disagreement_decided_while_the_store_is_locked_is_saved_later(tmp_path, clock, monkeypatch):
    """The watcher announces a disagreement once (on its second check): when that save fails the
    alert must be kept for the next write, like the engine's transitions, not dropped."""
    from netwatchd.config.model import RouterSpec
    from netwatchd.lab.routeros_standin import RouterOSStandIn

    with RouterOSStandIn(password="lab-secret") as router:     # its Netwatch says Porong is down
        hosts = [HostSpec(name=n, address=a, interval=10.0, timeout=1.0, retry_interval=1.0, down_after=2,
                          up_after=2) for n, a in (("Porong", "198.18.4.2"), ("Waru", "198.18.15.2"))]
        config = make_config(tmp_path, None, hosts)
        config = replace(config, crosscheck_every=60.0, routers=(RouterSpec(
            name="core", address="127.0.0.1", port=router.port, username="netwatchd", password="lab-secret"),))
        agent = Agent(config, clock=clock, probe_fn=Network().probe)
        settle(agent, clock, 12)
        assert agent.crosscheck_once() == []
        real_save = state_repo.save

        def locked(*args, **kwargs):
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(state_repo, "save", locked)
        try:
            agent.crosscheck_once()
        except sqlite3.Error:
            pass
        monkeypatch.setattr(state_repo, "save", real_save)
        assert agent.crosscheck_once() == []                   # announced once: not decided again
        settle(agent, clock, 1)                                # the next write of any kind
        agent.routers.close()
    assert outbox(agent) == [("Porong", "down")]


def test_a_round_in_flight_during_a_reload_does_not_bring_a_removed_site_back(tmp_path, clock):
    """A probe round that started before SIGHUP hands in the removed site's result afterwards: it
    must not reappear in the status page data or /metrics (nor stay there for good)."""
    net = Network()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    agent.apply_config(make_config(tmp_path, None, [site("core", None), site("Waru")]))
    agent.handle_results([_result("Taman", True, clock), _result("Waru", True, clock)])
    assert "Taman" not in agent.latest and "Taman" not in agent.rtt_history
    assert b'host="Taman"' not in agent.metrics.render()
    assert "Waru" in agent.latest


# --------------------------------------------------------------------------- bursts and folds (issue 12)

class LossyNetwork(Network):
    """Network, plus sites that answer slowly (DEGRADED by the default 100 ms average threshold)."""

    def __init__(self) -> None:
        super().__init__()
        self.slow: set[str] = set()

    def probe(self, hosts: Sequence[HostSpec], *, clock: FakeClock) -> list[ProbeResult]:
        self.rounds += 1
        return [ProbeResult.from_rtts(host=h.name, address=h.address, probe="icmp", at=clock.now(), sent=3,
                                      rtts_ms=[] if h.name in self.down else
                                      [250.0, 260.0, 240.0] if h.name in self.slow else [0.4, 0.5, 0.4])
                for h in hosts]


def _downs(agent: Agent) -> dict[str, float]:
    import json
    from datetime import datetime

    rows = [json.loads(r[0]) for r in agent._conn().execute("SELECT payload FROM outbox ORDER BY id")]
    return {r["host"]: datetime.fromisoformat(r["at"]).timestamp() for r in rows if r["to"] == "down"}


@pytest.mark.parametrize("phase", [0.0, 3.3, 6.6])
def test_sites_cut_in_the_same_second_are_decided_together_whatever_their_probe_phases(tmp_path, clock, phase):
    """The first one to fail has its siblings probed at once: the three are decided together (here
    probes take no time: within a few probe ticks; in the lab within one probe's time). Their own
    probe phases are 1.8 s, 5.7 s and 7.4 s into the 10 s interval: without the sweep they were
    decided 1 to 9 s apart."""
    names = ["Sidoarjo", "Buduran", "Candi", "Porong", "Krembung", "Tulangan", "Waru", "Taman"]
    net = Network()
    agent = Agent(make_config(tmp_path, None, [site("core", None)] + [site(n) for n in names]),
                  clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12 + phase, step=0.05)
    net.down.update(["Candi", "Sidoarjo", "Tulangan"])
    cut_at = clock.now().timestamp()
    settle(agent, clock, 15, step=0.05)
    downs = _downs(agent)
    assert set(downs) == {"Candi", "Sidoarjo", "Tulangan"}
    spec = site("Waru")
    assert max(downs.values()) - min(downs.values()) <= 0.2, downs
    bound = spec.interval + (spec.down_after - 1) * spec.retry_interval + spec.timeout
    assert max(downs.values()) - cut_at <= bound + 0.2


@pytest.mark.parametrize("before", ["up", "degraded"])
def test_a_degraded_site_goes_down_on_the_same_retry_schedule_as_an_up_one(tmp_path, clock, before):
    net = LossyNetwork()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    if before == "degraded":
        net.slow.add("Waru")
    settle(agent, clock, 40, step=0.05)
    assert agent.known["Waru"].state == State(before)
    net.down.add("Waru")
    first_failure = None
    for _ in range(400):
        clock.advance(0.05)
        agent.probe_once()
        if first_failure is None and agent.known["Waru"].fails:
            first_failure = clock.now().timestamp()
            assert agent.loop.due_time("Waru") - clock.monotonic() <= site("Waru").retry_interval
        if agent.known["Waru"].state == State.DOWN:
            break
    assert first_failure is not None and agent.known["Waru"].state == State.DOWN
    assert _downs(agent)["Waru"] - first_failure <= site("Waru").retry_interval + 0.05


def test_the_cores_up_waits_for_its_sites_first_answers_and_the_ticker_wakes_for_the_windows_end(tmp_path, clock):
    import json

    names = ["Waru", "Taman", "Candi"]
    net = Network()
    agent = Agent(make_config(tmp_path, None, [site("core", None)] + [site(n) for n in names]),
                  clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12, step=0.05)
    net.down.update(["core", *names])
    settle(agent, clock, 25, step=0.05)
    net.down = {"Candi"}                     # the core and two sites come back; Candi a moment later
    waited_at = None
    for _ in range(300):
        clock.advance(0.05)
        agent.probe_once()
        if agent.known["core"].state == State.UP:
            waited_at = clock.monotonic()
            break
    assert waited_at is not None
    assert [json.loads(r[0])["to"] for r in agent._conn().execute("SELECT payload FROM outbox")] == ["down"]
    assert 0 < agent.tick_delay() <= 1.0    # the ticker wakes when the core's fold window ends
    clock.advance(0.4)
    net.down.clear()
    agent.probe_once()                       # Candi is probed at once (wanted_soon) and answers
    agent.tick_once()
    rows = [json.loads(r[0]) for r in agent._conn().execute("SELECT payload FROM outbox ORDER BY id")]
    assert [(r["host"], r["to"]) for r in rows] == [("core", "down"), ("core", "up")]
    assert sorted(rows[1]["affected"]) == sorted(names)
    assert agent.tick_delay() == 1.0


def test_a_failing_sites_family_is_swept_once_per_interval_and_only_when_of_a_sane_size(tmp_path, clock):
    from netwatchd.engine.engine import BURST_FAMILY_MAX, AlertEngine

    def answers(*names: str) -> list[ProbeResult]:
        return [_result(name, True, clock) for name in names]

    names = ["Waru", "Taman", "Candi"]
    engine = AlertEngine(make_config(tmp_path, None, [site("core", None), *map(site, names), site("Solo", None)]),
                         clock)
    for _ in range(2):
        engine.ingest(answers("core", *names, "Solo"))
    waru = [_result("Waru", False, clock)]
    assert engine.probe_soon(waru, engine.ingest(waru)) == ["core", "Taman", "Candi"]   # not Solo: no sibling
    engine.ingest(answers("Waru"))                    # one lost probe, not an outage
    clock.advance(5)
    assert engine.probe_soon(waru, engine.ingest(waru)) == ["core"]    # the family was swept 5 s ago
    engine.ingest(answers("Waru"))
    clock.advance(6)
    assert engine.probe_soon(waru, engine.ingest(waru)) == ["core", "Taman", "Candi"]   # an interval later
    clock.advance(20)
    assert "Taman" not in engine.probe_soon(waru, engine.ingest(waru))   # not its first failure in a row
    big = [site("core", None)] + [site(f"s{i}") for i in range(BURST_FAMILY_MAX + 1)]
    engine = AlertEngine(make_config(tmp_path, None, big), clock)
    for _ in range(2):
        engine.ingest(answers(*(h.name for h in big)))
    s0 = [_result("s0", False, clock)]
    assert engine.probe_soon(s0, engine.ingest(s0)) == ["core"]


# -- what a probe round costs the store: steady hosts are confirmed, not rewritten every probe ----

def _stored(agent: Agent, name: str) -> HostState:
    return state_repo.load_states(agent._conn(), [name])[name]


def test_a_probe_that_only_confirms_an_up_host_is_stored_later_and_at_stop(tmp_path, clock):
    from netwatchd.app import CONFIRMATION_WRITE_SECONDS

    net = Network()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 25)                        # UP, then confirmed by later probes
    live = agent.engine.snapshots(["Waru"])["Waru"]
    stored = _stored(agent, "Waru")
    assert live.state == stored.state == State.UP and live.since == stored.since
    assert stored.checked_at < live.checked_at and stored.oks < live.oks   # not rewritten per probe
    assert agent.engine._tracks["Waru"].unwritten              # noted, written later
    settle(agent, clock, CONFIRMATION_WRITE_SECONDS)          # the periodic write (tick_once)
    assert _stored(agent, "Waru").checked_at >= live.checked_at
    settle(agent, clock, 10)
    assert agent.stop() and _stored(agent, "Waru") == agent.engine.snapshots(["Waru"])["Waru"]


def test_confirmations_the_store_refuses_stay_waiting_and_are_written_on_the_next_try(tmp_path, clock, monkeypatch):
    from netwatchd import app as app_module

    net = Network()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 25)
    live = agent.engine.snapshots(["Waru"])["Waru"]
    assert _stored(agent, "Waru").checked_at < live.checked_at
    monkeypatch.setattr(app_module, "CONFIRMATION_CHUNK", 1)        # one host per transaction
    save = state_repo.save
    calls: list[int] = []

    def failing_second(conn, states, *args, **kwargs):
        calls.append(len(states))
        if len(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return save(conn, states, *args, **kwargs)

    monkeypatch.setattr(state_repo, "save", failing_second)
    waiting = {name for name, track in agent.engine._tracks.items() if track.unwritten}
    assert len(waiting) >= 2
    with pytest.raises(sqlite3.OperationalError):
        agent.write_confirmations()
    still = {name for name, track in agent.engine._tracks.items() if track.unwritten}
    assert len(still) == len(waiting) - 1 and still < waiting    # the one written is off the list, no other
    monkeypatch.setattr(state_repo, "save", save)
    assert agent.write_confirmations() == len(still)
    assert not any(track.unwritten for track in agent.engine._tracks.values())
    for name in waiting:
        assert _stored(agent, name) == agent.engine.snapshots([name])[name]


def test_a_host_that_changes_for_real_during_the_confirmation_write_waits_for_its_own_save(tmp_path, clock,
                                                                                           monkeypatch):
    """The confirmation write goes chunk by chunk, letting the probe rounds in between: a host taken
    for it whose state then changed and is not saved yet (its alert is waiting for the store) must
    not have its row written ahead of that alert's transaction."""
    from netwatchd import app as app_module

    net = Network()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 25)
    monkeypatch.setattr(app_module, "CONFIRMATION_CHUNK", 1)
    waiting = [name for name, track in agent.engine._tracks.items() if track.unwritten]
    assert len(waiting) >= 2
    save = state_repo.save
    written: list[str] = []
    changed: list[str] = []

    def save_and_meanwhile_change_another(conn, states, *args, **kwargs):
        written.extend(states)
        if not changed:                  # as if a round changed another waiting host, its save failing
            other = next(name for name in waiting if name not in states)
            agent._unsaved_states[other] = agent.engine.snapshots([other])[other]
            changed.append(other)
        return save(conn, states, *args, **kwargs)

    monkeypatch.setattr(state_repo, "save", save_and_meanwhile_change_another)
    agent.write_confirmations()
    assert changed and changed[0] not in written
    assert set(written) == set(waiting) - set(changed)


def test_a_change_that_matters_is_stored_with_the_round_that_made_it(tmp_path, clock):
    net = Network()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 25)
    net.down.add("Waru")
    clock.advance(10)
    agent.probe_once()                              # one failure: fails=1, still UP
    live = agent.engine.snapshots(["Waru"])["Waru"]
    assert live.state == State.UP and live.fails == 1
    assert _stored(agent, "Waru") == live           # counting towards DOWN: written at once
    assert not agent.engine._tracks["Waru"].unwritten


def test_the_fields_a_confirmation_may_leave_unwritten_are_fields_of_hoststate():
    import dataclasses

    from netwatchd.app import CONFIRMATION_FIELDS, material

    assert CONFIRMATION_FIELDS < {f.name for f in dataclasses.fields(HostState)}
    base = HostState("x", State.UP)
    for name, value in (("fails", 1), ("held", True), ("muted", True), ("flap_bits", 2), ("told", State.DOWN)):
        assert material(dataclasses.replace(base, **{name: value})) != material(base), name
    for name, value in (("oks", 9), ("alive", 9), ("evidence", {"loss_percent": 0.0})):
        assert material(dataclasses.replace(base, **{name: value})) == material(base), name
    assert material(dataclasses.replace(base, state=State.DOWN)) is None


def test_the_status_page_follows_the_rounds_without_rebuilding_every_site(tmp_path, clock):
    import json

    from netwatchd.web.snapshot import build_snapshot

    net = Network()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    first = json.loads(agent.snapshot())
    net.down.add("Taman")
    settle(agent, clock, 12)
    page = json.loads(agent.snapshot())
    full = build_snapshot(agent.watched, agent.engine.states(), agent.latest, agent.rtt_history,
                          agent.worker.depth(), now=clock.now())
    assert page == json.loads(json.dumps(full))
    assert page["summary"]["down"] == 1 and first["summary"]["down"] == 0
    assert len(page["sites"][1]["rtt_history"]) > len(first["sites"][1]["rtt_history"])
    agent.release_page()                        # nobody watched for a while: the per-site cache is dropped
    assert agent._snapshot_encoder is None and agent._page_changes is None
    settle(agent, clock, 12)                    # rounds meanwhile are not collected for the page
    assert agent._page_changes is None
    again = json.loads(agent.snapshot())        # and the next request encodes every site afresh
    full = build_snapshot(agent.watched, agent.engine.states(), agent.latest, agent.rtt_history,
                          agent.worker.depth(), now=clock.now())
    assert again == json.loads(json.dumps(full)) and again != page


def test_health_fails_when_probe_rounds_stop_and_follows_a_reloaded_interval(tmp_path, clock):
    """Healthy while rounds arrive within 3 x the longest interval + 5 s; a reload that lengthens
    the interval lengthens the limit (the longest interval is kept per config, not recomputed)."""
    net = Network()
    agent = Agent(make_config(tmp_path, None), clock=clock, probe_fn=net.probe)
    assert agent.health() == (True, "starting")
    settle(agent, clock, 12)
    ok, detail = agent.health()
    assert ok and detail.startswith("last probe round"), detail
    clock.advance(3 * 10 + 5 + 1)                # no round for longer than 3 x 10 s + 5 s
    ok, detail = agent.health()
    assert not ok and detail.startswith("no probe results for"), detail
    slow = [replace(h, interval=60.0) for h in make_config(tmp_path, None).hosts]
    assert agent.apply_config(make_config(tmp_path, None, slow)).ok
    ok, detail = agent.health()                  # 36 s without a round is fine at 60 s
    assert ok and detail.startswith("last probe round"), detail
    assert agent.apply_config(make_config(tmp_path, None, [site("core", None, disabled=True)])).ok
    assert agent.health() == (True, "no hosts configured")


def test_from_2000_sites_the_schedule_is_looked_at_every_200_ms_and_a_reload_follows(tmp_path, clock):
    from netwatchd.schedule import BIG_SCHEDULE_SITES

    many = [site(f"s{i:04d}", None) for i in range(BIG_SCHEDULE_SITES)]
    agent = Agent(make_config(tmp_path, None, many), clock=clock, probe_fn=Network().probe)
    assert (agent.loop._tick, agent.loop._early) == (0.2, 0.2)
    assert agent.apply_config(make_config(tmp_path, None, many[:100])).ok
    assert (agent.loop._tick, agent.loop._early) == (0.05, 0.0)
