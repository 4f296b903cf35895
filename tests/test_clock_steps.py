"""Wall-clock steps change nothing that waits or measures (issue 18, item 2), without sleeping: a
FakeClock steps its wall time back 1 h or forward 2 h while its monotonic time runs on.

Each case failed before the change: a step back gave "Outage: 0 s" and held a failing site for an
hour, a step forward sent a false "still DOWN" reminder, a 1 h mute ended at once, and an alert
queued during a Telegram outage waited out its wall-clock retry time plus the step.
The same steps under a real `netwatchd run` (libfaketime): tests/test_clock_steps_run.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from netwatchd.app import Agent
from netwatchd.clock import Deadline, FakeClock, StepWatch
from netwatchd.config.model import Config, HostSpec, TelegramSpec, WebSpec
from netwatchd.engine.engine import AlertEngine, HostState
from netwatchd.engine.mutes import Mute, MuteTimers
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.models import ProbeResult, State
from netwatchd.notify.format import render_one
from netwatchd.notify.outbox import DeliveryWorker
from netwatchd.schedule import ProbeLoop
from netwatchd.store import state_repo
from support.state import Driver, alerts, config, host

TOKEN = "123456:TEST-token-for-the-stand-in-0000000000"
CHAT = -1001234567890
BACK, FORWARD = -3600.0, 7200.0


# --------------------------------------------------------------------------- the clock's tools

def test_a_fake_clock_steps_its_wall_time_alone_and_a_step_watch_sees_it(clock: FakeClock):
    watch = StepWatch(clock)
    wall, mono = clock.now(), clock.monotonic()
    clock.advance(5.0)
    assert watch.check() == 0.0                      # time passing is no step
    clock.step(BACK)
    assert clock.now() == wall + timedelta(seconds=5 + BACK) and clock.monotonic() == mono + 5.0
    assert watch.check() == pytest.approx(BACK)
    assert watch.check() == 0.0                      # told once
    clock.step(0.5)
    assert watch.check() == 0.0                      # within the tolerance (NTP slews, reads are not atomic)


def test_a_deadline_ignores_steps_and_a_restored_one_is_clamped(clock: FakeClock):
    deadline = Deadline.after(clock, 60.0)
    clock.step(FORWARD)
    clock.advance(30.0)
    assert deadline.remaining(clock) == pytest.approx(30.0) and not deadline.passed(clock)
    assert deadline.wall(clock) == clock.now() + timedelta(seconds=30)    # shown on today's clock
    # stored an hour ahead by a clock that has since stepped back: at most the longest wait
    assert Deadline.restore(clock, clock.now() + timedelta(hours=1), longest=15.0).remaining(clock) == 15.0
    assert Deadline.restore(clock, clock.now() + timedelta(seconds=4), longest=15.0).remaining(clock) == 4.0
    assert Deadline.restore(clock, clock.now() - timedelta(hours=2), longest=15.0).passed(clock)


# --------------------------------------------------------------------------- the engine

@pytest.mark.parametrize("step", [BACK, FORWARD])
def test_an_outage_lasts_what_the_monotonic_clock_measured_whatever_the_step(step):
    run = Driver(config([host("a", down_after=2, up_after=2)]))
    run.feed({"a": "++--"})                          # DOWN at the 4th round
    down_at = run.clock.monotonic()
    run.clock.step(step)
    for _ in range(118):
        run.step(a="-")
    out = run.feed({"a": "++"})
    up = [t for t in out if t.notify and t.to_state == State.UP]
    assert len(up) == 1
    assert up[0].since is not None and up[0].since <= up[0].at          # never a recovery before its start
    assert (up[0].at - up[0].since).total_seconds() == pytest.approx(run.clock.monotonic() - down_at)
    assert "Outage: 2 min (since" in render_one(up[0], language="en")


def test_a_step_forward_sends_no_false_reminder_and_the_real_one_comes_on_time():
    run = Driver(config([host("a", down_after=2, reminder_every=3600.0)]))
    run.feed({"a": "++--"})
    run.clock.step(FORWARD)
    out = [t for _ in range(600) for t in run.step(a="-")]
    assert [t for t in out if t.kind == "reminder"] == []               # 10 min, not "still DOWN (2 h)"
    out = [t for _ in range(3000) for t in run.step(a="-")]
    reminders = [t for t in out if t.kind == "reminder"]
    assert len(reminders) == 1
    assert reminders[0].evidence["down_for_s"] == pytest.approx(3600.0, abs=1.0)


def test_a_step_back_does_not_hold_a_failing_site_for_an_hour():
    """The site fails while its parent was last probed before that: held for at most the parent's
    next probe (interval + timeout + 1 s), whatever the clock did meanwhile."""
    cfg = config([host("core", interval=10.0, timeout=1.0), host("k1", "core", down_after=2)])
    run = Driver(cfg)
    run.feed({"core": "++", "k1": "++"})
    run.step(k1="-")
    out = run.step(k1="-")
    assert run.engine.states()["k1"].held and alerts(out) == []
    run.clock.step(BACK)
    out = [t for _ in range(13) for t in run.step()]                 # 13 s: the core's probe never came
    assert alerts(out) == [("k1", "state", "up", "down", True, ())]


def test_every_stored_moment_moves_with_a_step():
    every = {"since", "last_reminder", "checked_at", "failing_since", "held_since"}
    assert every == {name for name, kind in HostState.__annotations__.items() if "datetime" in str(kind)}
    clock = FakeClock()
    moment = clock.now() - timedelta(minutes=5)
    saved = {"a": HostState(host="a", state=State.DOWN, told=State.DOWN,
                            **dict.fromkeys(every, moment))}
    engine = AlertEngine(config([host("a")]), clock, saved)
    clock.step(BACK)
    engine.tick()
    after = engine.states()["a"]
    assert {name: getattr(after, name) for name in every} == {
        name: moment + timedelta(seconds=BACK) for name in every}


def test_moments_restored_from_the_future_are_taken_as_now():
    """The clock stepped back while the agent was stopped: durations start at 0, never below."""
    clock = FakeClock()
    ahead = clock.now() + timedelta(hours=1)
    saved = {"a": HostState(host="a", state=State.DOWN, told=State.DOWN, since=ahead, last_reminder=ahead)}
    engine = AlertEngine(config([host("a", reminder_every=600.0)]), clock, saved)
    state = engine.states()["a"]
    assert state.since == clock.now() and state.last_reminder == clock.now()
    clock.advance(600.0)
    assert [t.kind for t in engine.tick() if t.notify] == ["reminder"]      # not an hour late


def test_mute_timers_end_on_the_monotonic_clock(clock: FakeClock):
    timers = MuteTimers(clock)
    set_at = clock.now()
    mute = Mute(target="Waru", until=set_at + timedelta(hours=1), set_at=set_at, length=3600.0)
    running, ended = timers.apply([mute])
    assert [m.target for m in running] == ["Waru"] and ended == []
    clock.step(FORWARD)                               # the wall clock says it ended an hour ago
    running, _ = timers.apply([mute])
    assert [m.target for m in running] == ["Waru"]
    clock.advance(3599.0)
    assert timers.apply([mute])[1] == []
    clock.advance(1.0)
    assert [m.target for m in timers.apply([mute])[1]] == ["Waru"]
    # first seen after a restart, stored an hour ahead of a clock stepped back: at most its length
    fresh = MuteTimers(clock)
    ahead = Mute(target="Taman", until=clock.now() + timedelta(hours=2), set_at=clock.now() + timedelta(hours=1),
                 length=3600.0)
    assert fresh.apply([ahead])[0][0].ends == pytest.approx(clock.monotonic() + 3600.0)


# --------------------------------------------------------------------------- the agent

class Network:
    def __init__(self) -> None:
        self.down: set[str] = set()

    def probe(self, hosts: Sequence[HostSpec], *, clock: FakeClock) -> list[ProbeResult]:
        return [ProbeResult.from_rtts(host=h.name, address=h.address, probe="icmp", at=clock.now(), sent=3,
                                      rtts_ms=[] if h.name in self.down else [0.4, 0.5, 0.4]) for h in hosts]


def _site(name: str, parent: str | None = "core", **kw: object) -> HostSpec:
    return HostSpec(name=name, address=f"198.18.{len(name)}.2", parent=parent, interval=10.0, timeout=1.0,
                    retry_interval=1.0, down_after=2, up_after=2, **kw)  # type: ignore[arg-type]


def _config(tmp_path: Path, api_url: str, **kw: object) -> Config:
    return Config(path=tmp_path / "hosts.yaml", data_dir=tmp_path / "data",
                  hosts=(_site("core", None), _site("Waru", **kw), _site("Taman")),
                  telegram=TelegramSpec(token=TOKEN, chat_ids=(CHAT,), admins=(42,), api_url=api_url,
                                        language="en", poll_commands=False),
                  web=WebSpec(enabled=False))


@pytest.fixture
def tg() -> Iterator[TelegramStandIn]:
    with TelegramStandIn(token=TOKEN) as server:
        yield server


def _run(agent: Agent, clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        agent.probe_once()
        agent.tick_once()
        agent.deliver_once()


def _texts(tg: TelegramStandIn) -> list[str]:
    return [m["text"] for m in tg.messages(CHAT)]


@pytest.mark.parametrize("step", [BACK, FORWARD])
def test_a_mute_lasts_its_length_through_a_step_and_the_store_follows_the_clock(tmp_path, clock, tg, step):
    net = Network()
    agent = Agent(_config(tmp_path, tg.api_url), clock=clock, probe_fn=net.probe)
    _run(agent, clock, 30)
    conn = agent._conn()
    state_repo.add_mute(conn, "Waru", clock.now() + timedelta(hours=1), "admin", "works", now=clock.now())
    _run(agent, clock, 2)
    clock.step(step)
    net.down.add("Waru")
    _run(agent, clock, 600)                           # 10 min into the mute: silent, still listed
    assert not any("Waru" in text for text in _texts(tg)), _texts(tg)
    listed = state_repo.active_mutes(conn, clock.now())
    assert [m.target for m in listed] == ["Waru"]
    left = (listed[0].until - clock.now()).total_seconds()
    assert left == pytest.approx(3600 - 602, abs=2)  # /mute shows the right end on today's clock
    _run(agent, clock, 2970, step=5.0)               # 59 min 32 s after it was set: still muted
    assert not any("Waru" in text for text in _texts(tg))
    _run(agent, clock, 40, step=1.0)                 # its hour is up: the state it hid is told
    assert any("Waru" in text and "DOWN" in text for text in _texts(tg)), _texts(tg)
    assert state_repo.active_mutes(conn, clock.now()) == [] and state_repo.stored_mutes(conn) == []


def test_an_alert_queued_in_a_telegram_outage_goes_out_as_soon_as_telegram_answers_after_a_step_back(
        tmp_path, clock, tg):
    net = Network()
    agent = Agent(_config(tmp_path, tg.api_url), clock=clock, probe_fn=net.probe)
    _run(agent, clock, 30)
    tg.set_outage(True)
    net.down.add("Waru")
    _run(agent, clock, 60)                            # the DOWN is queued, retried with backoff
    assert not _texts(tg)
    clock.step(BACK)
    tg.set_outage(False)
    back = clock.monotonic()
    while not any("Waru DOWN" in text for text in _texts(tg)):
        assert clock.monotonic() - back <= 16.0, "still held after the longest backoff (15 s)"
        _run(agent, clock, 0.5)


def test_a_retry_time_stored_an_hour_ahead_is_clamped_after_a_restart(tmp_path, clock, tg):
    """Written before the clock stepped back, read by a new process: at most the longest backoff."""
    net = Network()
    cfg = _config(tmp_path, tg.api_url)
    agent = Agent(cfg, clock=clock, probe_fn=net.probe)
    _run(agent, clock, 30)
    tg.set_outage(True)
    net.down.add("Waru")
    _run(agent, clock, 20)
    agent.worker.stop()
    conn = agent._conn()
    ahead = (clock.now() + timedelta(hours=1)).isoformat(timespec="milliseconds")
    with conn:
        conn.execute("UPDATE outbox SET next_attempt_at = ? WHERE status = 'pending'", (ahead,))
    tg.set_outage(False)
    worker = DeliveryWorker(agent.db, cfg, clock, api=agent.api)
    waited = 0.0
    while worker.run_once() == 0:
        assert waited <= worker.backoff.cap, "the stored retry time was taken at its word"
        clock.advance(0.5)
        waited += 0.5
    assert any("Waru DOWN" in text for text in _texts(tg))


def test_outage_and_since_in_the_recovery_message_after_a_step_back(tmp_path, clock, tg):
    net = Network()
    agent = Agent(_config(tmp_path, tg.api_url), clock=clock, probe_fn=net.probe)
    _run(agent, clock, 30)
    net.down.add("Waru")
    cut = clock.monotonic()
    _run(agent, clock, 30)
    assert any("Waru DOWN" in text for text in _texts(tg))
    clock.step(BACK)
    _run(agent, clock, 150)
    net.down.discard("Waru")
    restored = clock.monotonic()
    _run(agent, clock, 15)
    up = [text for text in _texts(tg) if "Waru UP" in text]
    assert len(up) == 1, _texts(tg)
    outage = re.search(r"Outage: (\d+) min (\d+) s \(since", up[0])
    assert outage, up[0]
    # from the DOWN decision to the UP decision: each up to one 10 s interval after the cut / the repair
    assert abs(int(outage.group(1)) * 60 + int(outage.group(2)) - (restored - cut)) <= 10, up[0]
    stored = [json.loads(r[0]) for r in agent._conn().execute(
        "SELECT payload FROM events WHERE host = 'Waru' AND kind = 'state' ORDER BY id")]
    assert [(e["from"], e["to"]) for e in stored] == [("unknown", "up"), ("up", "down"), ("down", "up")]
    down_at, since, up_at = (datetime.fromisoformat(t) for t in (stored[-2]["at"], stored[-1]["since"],
                                                                  stored[-1]["at"]))
    assert since == down_at + timedelta(seconds=BACK) and since < up_at      # stored in today's frame


# --------------------------------------------------------------------------- the probe schedule

def test_probing_goes_on_through_steps_and_results_are_stamped_in_todays_frame(clock: FakeClock):
    seen: list[ProbeResult] = []

    def probe(hosts: Sequence[HostSpec], *, clock: FakeClock) -> list[ProbeResult]:
        stamped = clock.now()
        clock.step(BACK)                              # the step falls while the probe is out
        return [ProbeResult(host=h.name, address=h.address, probe="icmp", at=stamped, alive=True, sent=1,
                            received=1) for h in hosts]

    loop = ProbeLoop([_site("Waru", None)], probe_fn=probe, on_results=seen.extend,
                     needs_retry=lambda name: False, clock=clock)
    try:
        for _ in range(3):
            clock.advance(10.0)
            loop.run_once()
    finally:
        loop.stop()
    assert len(seen) == 3                             # one probe per interval, steps or not
    assert all(abs((r.at - clock.now()).total_seconds()) < 25 for r in seen[-1:])


def test_the_early_flapping_rule_counts_outages_by_what_the_monotonic_clock_measured():
    """Two outages 6 s apart with a 2 h step between them are 6 s apart: FLAPPING, not two DOWNs."""
    from dataclasses import replace

    from netwatchd.config.model import FlapPolicy

    spec = replace(host("a", down_after=2, up_after=2, interval=1.0), retry_interval=0.5)
    run = Driver(config([spec], flapping=FlapPolicy()))
    out = run.feed({"a": "+++--++"})
    run.clock.step(FORWARD)
    out += run.feed({"a": "--"})
    assert [(t.kind, t.to_state) for t in out if t.notify] == [
        ("state", State.DOWN), ("state", State.UP), ("flapping", State.DOWN)]
    flapping = [t for t in out if t.notify][-1]
    assert flapping.evidence["outages"] == 2 and flapping.evidence["outages_window_s"] == pytest.approx(4.0)


@pytest.mark.parametrize("step", [BACK, FORWARD])
def test_a_parents_fold_window_lasts_its_second_whatever_the_step(step):
    run = Driver(config([host("core"), host("k1", "core"), host("k2", "core")]))
    run.feed({"core": "++---", "k1": "++---", "k2": "++---"})
    out = run.feed({"core": "++", "k1": "++", "k2": "- "})   # the core's UP waits for k2
    assert [t for t in out if t.notify] == []
    run.clock.step(step)
    out = run.step(0.5)
    assert [t for t in out if t.notify] == []                # half its window: still waiting
    out = run.step(0.6)
    assert [(t.host, t.affected) for t in out if t.notify] == [("core", ("k1",))]
