"""Scheduling: pure due-time arithmetic with a FakeClock (no sleeping), then the loop itself."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from netwatchd.clock import FakeClock, SystemClock
from netwatchd.config.model import HostSpec
from netwatchd.models import ProbeResult
from netwatchd.schedule import DueSchedule, ProbeLoop, spread_offset


def site(name: str, **overrides: object) -> HostSpec:
    return HostSpec(name=name, address="127.0.0.1", **overrides)


# -- DueSchedule -----------------------------------------------------------------------------

def test_first_probes_are_spread_over_the_interval_by_a_stable_hash():
    hosts = [site(f"kec-{i:02d}", interval=10.0) for i in range(200)]
    schedule = DueSchedule()
    schedule.replace(hosts, now=1000.0)
    offsets = [schedule.due_time(h.name) - 1000.0 for h in hosts]
    assert all(0 <= o < 10.0 for o in offsets)
    # no thundering herd: every one-second slice of the interval gets some, none gets a crowd
    per_second = [sum(1 for o in offsets if s <= o < s + 1) for s in range(10)]
    assert min(per_second) >= 8 and max(per_second) <= 35, per_second
    # stable: the same phase after a restart
    again = DueSchedule()
    again.replace(hosts, now=5000.0)
    assert [again.due_time(h.name) - 5000.0 for h in hosts] == pytest.approx(offsets)
    assert spread_offset("kec-01", 10.0) == spread_offset("kec-01", 10.0) != spread_offset("kec-02", 10.0)


def test_take_due_takes_only_due_hosts_and_never_twice():
    schedule = DueSchedule()
    a, b = site("a", interval=10.0), site("b", interval=10.0)
    schedule.add(a, 0.0, due=5.0)
    schedule.add(b, 0.0, due=7.0)
    assert schedule.take_due(4.9) == []
    [taken] = schedule.take_due(5.0)
    assert (taken.host.name, taken.due_at, taken.missed) == ("a", 5.0, 0)
    assert schedule.is_in_flight("a") and schedule.due_time("a") is None
    assert [d.host.name for d in schedule.take_due(100.0)] == ["b"]  # a is in flight: not stacked
    assert schedule.next_due() is None


def test_next_due_keeps_the_phase_and_retry_uses_retry_interval():
    schedule = DueSchedule()
    host = site("a", interval=10.0, retry_interval=1.0)
    schedule.add(host, 0.0, due=3.0)
    schedule.take_due(3.0)
    assert schedule.finish("a", 3.0, finished_at=3.2, retry=False) == (13.0, 0)
    schedule.take_due(13.0)
    assert schedule.finish("a", 13.0, finished_at=13.3, retry=True) == (14.0, 0)
    schedule.take_due(14.0)
    # a dead host's probe (1 s timeout) outlasts its 1 s retry period: due again at once, once
    assert schedule.finish("a", 14.0, finished_at=15.1, retry=True) == (15.1, 1)


def test_overrun_and_late_ticks_coalesce_missed_runs():
    schedule = DueSchedule()
    schedule.add(site("a", interval=2.0), 0.0, due=1.0)
    schedule.take_due(1.0)
    next_due, missed = schedule.finish("a", 1.0, finished_at=8.5, retry=False)
    assert (next_due, missed) == (8.5, 3)   # the runs due at 3, 5 and 7 become one run now
    [late] = schedule.take_due(15.0)        # the loop itself stalled for 6.5 s
    assert late.missed == 3 and late.due_at == 8.5


def test_replace_keeps_unchanged_hosts_due_times_and_respreads_changed_intervals():
    schedule = DueSchedule()
    a, b, c = site("a", interval=10.0), site("b", interval=10.0), site("c", interval=10.0)
    schedule.add(a, 0.0, due=4.0)
    schedule.add(b, 0.0, due=6.0)
    schedule.add(c, 0.0, due=1.0)
    [taken] = schedule.take_due(2.0)                     # c is being probed during the reload
    assert taken.host.name == "c"
    schedule.replace([replace(a, comment="new switch"), replace(b, interval=30.0),
                      replace(c, interval=60.0), site("d", interval=10.0), site("e", disabled=True)], now=2.0)
    assert schedule.due_time("a") == 4.0 and schedule.host("a").comment == "new switch"
    assert schedule.due_time("b") == pytest.approx(2.0 + spread_offset("b", 30.0))
    assert schedule.due_time("c") is None and schedule.is_in_flight("c")   # not stacked
    assert schedule.finish("c", 1.0, 2.5, retry=False) == (61.0, 0)        # new interval applies
    assert 2.0 <= schedule.due_time("d") < 12.0
    assert schedule.host("e") is None
    schedule.replace([a], now=3.0)
    assert [h.name for h in schedule.hosts()] == ["a"] and schedule.due_time("b") is None
    assert schedule.finish("b", 6.0, 7.0, retry=False) == (float("inf"), 0)  # removed: dropped


def test_replace_keeps_the_exact_due_time_of_an_unchanged_queued_host():
    schedule = DueSchedule()
    schedule.replace([site("a", interval=10.0), site("b", interval=10.0)], now=0.0)
    before = schedule.due_time("a")
    schedule.replace([site("a", interval=10.0), site("c", interval=5.0)], now=1.0)
    assert schedule.due_time("a") == before
    assert schedule.due_time("b") is None and schedule.host("b") is None


# -- ProbeLoop with a FakeClock ---------------------------------------------------------------

class Recorder:
    """A probe_fn that answers from a table and records every batch it was given."""

    def __init__(self, alive: dict[str, bool] | None = None, delay: dict[str, float] | None = None) -> None:
        self.alive = alive or {}
        self.delay = delay or {}
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, hosts, *, clock):
        with self.lock:
            self.batches.append([h.name for h in hosts])
        for host in hosts:
            if host.name in self.delay:
                time.sleep(self.delay[host.name])
        return [ProbeResult(host=h.name, address=h.address, probe=h.probe, at=clock.now(),
                            alive=self.alive.get(h.name, True), sent=1,
                            received=int(self.alive.get(h.name, True))) for h in hosts]


def test_run_once_probes_due_hosts_and_retries_failing_ones_quickly(clock: FakeClock):
    hosts = [site("ok", interval=10.0, retry_interval=1.0), site("bad", interval=10.0, retry_interval=1.0)]
    recorder = Recorder(alive={"bad": False})
    handled: list[list[str]] = []
    failing = {"bad"}
    loop = ProbeLoop(hosts, probe_fn=recorder, on_results=lambda rs: handled.append([r.host for r in rs]),
                     needs_retry=lambda name: name in failing, clock=clock)
    try:
        probed = {h.name: 0 for h in hosts}
        for _ in range(300):                       # 30 s of 0.1 s ticks
            for result in loop.run_once():
                probed[result.host] += 1
            clock.advance(0.1)
        assert probed["ok"] == 3                   # every 10 s
        first_bad = spread_offset("bad", 10.0)     # then every second while it is failing
        assert probed["bad"] == pytest.approx(int(30 - first_bad) + 1, abs=1)
        failing.clear()                            # it settled: back to the normal interval
        before = probed["bad"]
        for _ in range(200):
            for result in loop.run_once():
                probed[result.host] += 1
            clock.advance(0.1)
        assert probed["bad"] - before in (2, 3)    # 20 s at 10 s (the first one still at 1 s)
        assert all(batch for batch in handled)
    finally:
        loop.stop()


def test_icmp_hosts_due_together_share_one_round_other_types_get_their_own(clock: FakeClock):
    hosts = [site("p1"), site("p2"), site("web", probe="http"), site("dns", probe="dns", dns_name="x.lab")]
    recorder = Recorder()
    loop = ProbeLoop(hosts, probe_fn=recorder, on_results=lambda rs: None, needs_retry=lambda n: False,
                     clock=clock)
    try:
        loop.replace_hosts([replace(h, interval=10.0) for h in hosts])
        clock.advance(10.0)  # everyone is due
        results = loop.run_once()
        assert sorted(r.host for r in results) == ["dns", "p1", "p2", "web"]
        assert sorted(sorted(b) for b in recorder.batches) == [["dns"], ["p1", "p2"], ["web"]]
    finally:
        loop.stop()


def test_a_failing_probe_fn_or_handler_does_not_stop_the_loop(clock: FakeClock, caplog):
    calls = {"n": 0}

    def flaky(hosts, *, clock):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("engine exploded")
        return Recorder()(hosts, clock=clock)

    seen: list[str] = []
    loop = ProbeLoop([site("a", interval=1.0)], probe_fn=flaky, on_results=lambda rs: seen.extend(r.host for r in rs),
                     needs_retry=lambda n: False, clock=clock)
    try:
        clock.advance(1.0)
        assert loop.run_once() == []               # no made-up results: no false alert
        assert "engine exploded" in caplog.text
        clock.advance(1.0)
        assert [r.host for r in loop.run_once()] == ["a"] and seen == ["a"]
    finally:
        loop.stop()



def test_a_late_tick_probes_once_and_logs_the_coalesced_runs(clock: FakeClock, caplog):
    """Issue 3: missed runs are coalesced and logged, never stacked."""
    loop = ProbeLoop([site("a", interval=10.0)], probe_fn=Recorder(), on_results=lambda rs: None,
                     needs_retry=lambda n: False, clock=clock)
    try:
        clock.advance(spread_offset("a", 10.0) + 35.0)     # the process stalled for 3 more periods
        with caplog.at_level("WARNING", logger="netwatchd"):
            assert [r.host for r in loop.run_once()] == ["a"]   # one probe, not four
        assert "a: 3 probe run(s) missed (the previous round was late); coalesced into one" in caplog.text
        assert "took longer than" not in caplog.text       # the probe was quick: counted once, right reason
        assert loop.run_once() == []                       # nothing stacked behind it
        clock.advance(4.9)
        assert loop.run_once() == []
        clock.advance(0.2)                                 # the next run keeps the host's phase
        assert [r.host for r in loop.run_once()] == ["a"]
    finally:
        loop.stop()

def test_each_batch_reports_how_late_its_hosts_started(clock: FakeClock):
    hosts = [site("a", interval=10.0), site("b", interval=10.0)]
    late: list[float] = []
    loop = ProbeLoop(hosts, probe_fn=Recorder(), on_results=lambda r: None, needs_retry=lambda n: False,
                     clock=clock, on_lateness=late.extend)
    try:
        clock.advance(10.0)                                 # both due within their first interval
        due = {name: loop.due_time(name) for name in ("a", "b")}
        clock.advance(0.25)
        assert sorted(r.host for r in loop.run_once()) == ["a", "b"]
        assert sorted(late) == pytest.approx(sorted(clock.monotonic() - d for d in due.values()))
    finally:
        loop.stop()

# -- ProbeLoop in the background (real APScheduler, real threads) ------------------------------

def test_a_slow_http_probe_never_delays_ping_rounds():
    hosts = [site("ping", interval=0.2), site("slow-web", probe="http", interval=0.2)]
    recorder = Recorder(delay={"slow-web": 1.2})
    seen: list[tuple[str, float]] = []
    lock = threading.Lock()

    def on_results(results):
        with lock:
            seen.extend((r.host, time.monotonic()) for r in results)

    loop = ProbeLoop(hosts, probe_fn=recorder, on_results=on_results, needs_retry=lambda n: False,
                     clock=SystemClock(), tick=0.05)
    started = time.monotonic()
    loop.start()
    try:
        time.sleep(1.0)
    finally:
        loop.stop()
    with lock:
        pings = [t for name, t in seen if name == "ping" and t - started < 1.0]
        webs = [t for name, t in seen if name == "slow-web"]
    assert len(pings) >= 3, seen                     # kept its 0.2 s rhythm during the slow probe
    assert len(webs) <= 1                            # the slow one was never stacked
    assert max(len(b) for b in recorder.batches) == 1


def test_the_loop_with_the_real_probers_on_loopback(clock: FakeClock):
    import socket
    from functools import partial

    from netwatchd.errors import PermissionProblem
    from netwatchd.probes import probe_hosts
    from netwatchd.probes.icmp import IcmpEngine

    engine = IcmpEngine()
    try:
        engine.check()
    except PermissionProblem as exc:
        pytest.skip(str(exc))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        hosts = [site("lo", interval=5.0, count=2, packet_interval=0.01),
                 HostSpec(name="lo6", address="::1", interval=5.0, count=1),
                 site("api", probe="tcp", port=listener.getsockname()[1], interval=5.0)]
        handled: list[ProbeResult] = []
        loop = ProbeLoop(hosts, probe_fn=partial(probe_hosts, icmp=engine), on_results=handled.extend,
                         needs_retry=lambda n: False, clock=clock)
        try:
            clock.advance(5.0)
            results = loop.run_once()
        finally:
            loop.stop()
    assert sorted(r.host for r in results) == ["api", "lo", "lo6"]
    assert all(r.alive for r in results) and sorted(r.host for r in handled) == ["api", "lo", "lo6"]
    assert {r.host: r.sent for r in results} == {"lo": 2, "lo6": 1, "api": 1}
    started = 1000.0  # FakeClock's monotonic start: next due = first due + interval, phase kept
    assert all(loop.due_time(h.name) == pytest.approx(started + spread_offset(h.name, 5.0) + 5.0) for h in hosts)


def test_a_round_stuck_on_a_dead_site_never_delays_the_next_ping_rounds():
    """ICMP rounds of different ticks overlap: one that waits out a dead site's timeout
    (simulated: 1.2 s) does not hold back the site probed every 0.2 s in later ticks."""
    # "kec-porong" is first due 0.117 s in (stable hash), "dead" within 0.05 s: different ticks
    assert spread_offset("kec-porong", 0.2) > 0.1 and spread_offset("dead", 0.05) < 0.05
    hosts = [site("dead", interval=0.05), site("kec-porong", interval=0.2)]
    recorder = Recorder(delay={"dead": 1.2})
    seen: list[tuple[str, float]] = []
    lock = threading.Lock()

    def on_results(results):
        with lock:
            seen.extend((r.host, time.monotonic()) for r in results)

    loop = ProbeLoop(hosts, probe_fn=recorder, on_results=on_results, needs_retry=lambda n: False,
                     clock=SystemClock(), tick=0.05)
    started = time.monotonic()
    loop.start()
    try:
        time.sleep(1.0)
    finally:
        loop.stop()
    with lock:
        alive = [t - started for name, t in seen if name == "kec-porong" and t - started < 1.0]
    assert len(alive) >= 3, seen
    assert ["dead"] in recorder.batches  # the slow round had its own batch, it did not stack


def test_failing_sites_are_pinged_in_a_round_apart_from_healthy_ones(clock: FakeClock):
    hosts = [site("ok", interval=10.0, retry_interval=1.0), site("bad", interval=10.0, retry_interval=1.0)]
    recorder = Recorder(alive={"bad": False})
    loop = ProbeLoop(hosts, probe_fn=recorder, on_results=lambda rs: None,
                     needs_retry=lambda name: name == "bad", clock=clock)
    try:
        clock.advance(10.0)
        loop.run_once()                       # nobody known to fail yet: one round
        assert recorder.batches == [["ok", "bad"]] or recorder.batches == [["bad", "ok"]]
        clock.advance(10.0)                   # both due again in the same tick
        recorder.batches.clear()
        loop.run_once()
        assert sorted(recorder.batches) == [["bad"], ["ok"]]
    finally:
        loop.stop()


def test_settling_answers_a_whole_batch_once_in_place_of_needs_retry(clock: FakeClock):
    """With `settling`, the retry question is asked once per batch (one lock in the agent); it
    decides exactly as needs_retry would: the failing site comes back after retry_interval."""
    hosts = [site("ok", interval=10.0, retry_interval=1.0), site("bad", interval=10.0, retry_interval=1.0)]
    asked: list[list[str]] = []

    def settling(names: list[str]) -> set[str]:
        asked.append(list(names))
        return {name for name in names if name == "bad"}

    def needs_retry(name: str) -> bool:
        raise AssertionError("needs_retry asked although settling answers for the batch")

    probed = {"ok": 0, "bad": 0}
    loop = ProbeLoop(hosts, probe_fn=Recorder(alive={"bad": False}), on_results=lambda rs: None,
                     needs_retry=needs_retry, settling=settling, clock=clock)
    try:
        for _ in range(300):                       # 30 s of 0.1 s ticks
            for result in loop.run_once():
                probed[result.host] += 1
            clock.advance(0.1)
    finally:
        loop.stop()
    assert probed["ok"] == 3
    assert probed["bad"] == pytest.approx(int(30 - spread_offset("bad", 10.0)) + 1, abs=1)
    assert sum(len(batch) for batch in asked) == probed["ok"] + probed["bad"]   # each probe asked once


def test_probe_soon_brings_a_host_forward_but_never_stacks_one_in_flight(clock: FakeClock):
    hosts = [site("core", interval=10.0), site("kec", interval=10.0)]
    recorder = Recorder()
    loop = ProbeLoop(hosts, probe_fn=recorder, on_results=lambda rs: None, needs_retry=lambda n: False,
                     clock=clock)
    try:
        assert loop.due_time("core") > clock.monotonic() + 1.0         # stable offset: not due yet
        assert loop.probe_soon(["core", "unknown"]) == ["core"]
        assert [r.host for r in loop.run_once()] == ["core"]     # at once, not in up to 10 s
        assert loop.due_time("core") == pytest.approx(clock.monotonic() + 10.0)
    finally:
        loop.stop()
    schedule = DueSchedule()
    schedule.add(site("a", interval=10.0), 0.0, due=5.0)
    schedule.take_due(5.0)
    assert schedule.expedite("a", 6.0) is False                    # being probed: not stacked


def test_a_reload_forgets_the_retry_marks_of_removed_hosts(clock: FakeClock):
    """Hosts removed while failing must not be remembered for the life of the process."""
    hosts = [site("keep", interval=1.0), site("gone", interval=1.0)]
    loop = ProbeLoop(hosts, probe_fn=Recorder(alive={"gone": False}), on_results=lambda rs: None,
                     needs_retry=lambda name: name == "gone", clock=clock)
    try:
        clock.advance(1.0)
        assert sorted(r.host for r in loop.run_once()) == ["gone", "keep"]
        assert loop._retrying == {"gone"}
        loop.replace_hosts([hosts[0]])
        assert loop._retrying == set()
    finally:
        loop.stop()


def test_the_slotted_schedule_takes_exactly_what_a_plain_due_table_says():
    """DueSchedule keeps due times in 10 ms slots (a timing wheel), not one heap entry per host:
    through random adds, expedites, removals and finishes, take_due and next_due must give what a
    plain table of name -> (due, order queued) gives: every host due by now, earliest first."""
    import random

    rng = random.Random(1616)
    schedule = DueSchedule()
    names = [f"s{i}" for i in range(60)]
    table: dict[str, tuple[float, int]] = {}     # what should be queued: name -> (due, push order)
    order = 0
    now = 1000.0

    def queued(name: str, due: float) -> None:
        nonlocal order
        order += 1
        table[name] = (due, order)

    for name in names:
        host = site(name, interval=rng.choice([0.5, 1.0, 3.0]), retry_interval=0.2)
        schedule.add(host, now)
        queued(name, now + spread_offset(name, host.interval))
    for _ in range(3000):
        roll = rng.random()
        if roll < 0.1:
            name = rng.choice(names)
            accepted = schedule.expedite(name, now)
            assert accepted == (name in table)
            if accepted and table[name][0] > now:
                queued(name, now)
        elif roll < 0.13:
            name = rng.choice(names)
            schedule.remove(name)
            table.pop(name, None)
            schedule.add(site(name, interval=1.0, retry_interval=0.2), now, due=now + rng.uniform(0, 2))
            queued(name, schedule.due_time(name))  # type: ignore[arg-type]
        else:
            now += rng.choice([0.0, 0.004, 0.01, 0.05, 0.2, 1.3])
            taken = schedule.take_due(now)
            expected = sorted((due, n, name) for name, (due, n) in table.items() if due <= now)
            assert [(d.due_at, d.host.name) for d in taken] == [(due, name) for due, _, name in expected]
            for due in taken:
                del table[due.host.name]
                next_due, _ = schedule.finish(due.host.name, due.latest_slot, now + rng.uniform(0, 0.3),
                                              retry=rng.random() < 0.3)
                queued(due.host.name, next_due)
        assert schedule.next_due() == (min(due for due, _ in table.values()) if table else None)


# -- the pace at scale --------------------------------------------------------------------------

def test_the_pace_is_50_ms_on_time_below_2000_sites_and_200_ms_early_from_there():
    from netwatchd.schedule import BIG_SCHEDULE_SITES, probe_pace

    assert probe_pace(18) == probe_pace(BIG_SCHEDULE_SITES - 1) == (0.05, 0.0)
    assert probe_pace(BIG_SCHEDULE_SITES) == probe_pace(10_000) == (0.2, 0.2)


def test_take_due_until_takes_what_is_due_within_the_window_and_counts_nothing_missed():
    schedule = DueSchedule()
    for name, due in (("a", 10.0), ("b", 10.15), ("c", 10.25)):
        schedule.add(site(name, interval=10.0), now=0.0, due=due)
    taken = schedule.take_due(10.0, 10.2)
    assert [(d.host.name, d.due_at, d.missed) for d in taken] == [("a", 10.0, 0), ("b", 10.15, 0)]
    assert schedule.take_due(10.05, 10.25)[0].host.name == "c"
    assert schedule.take_due(30.0, 30.0) == []          # all three in flight: never taken twice
    assert schedule.finish("b", 10.15, 10.3, retry=False) == (20.15, 0)   # the phase is the slot's


def test_an_early_loop_starts_each_probe_within_one_tick_before_its_slot_and_keeps_the_phase(clock: FakeClock):
    """The pace from 2,000 sites on: every host's probes start in [slot - early, slot], one probe a
    slot, slots every interval apart; a host taken early is reported 0 s late."""
    hosts = [site(f"h{i}", interval=2.0) for i in range(40)]
    starts: dict[str, list[float]] = {h.name: [] for h in hosts}
    late: list[float] = []

    def probe(batch, *, clock):
        for h in batch:
            starts[h.name].append(clock.monotonic())
        return Recorder()(batch, clock=clock)

    loop = ProbeLoop(hosts, probe_fn=probe, on_results=lambda r: None, needs_retry=lambda n: False,
                     clock=clock, tick=0.2, early=0.2, on_lateness=late.extend)
    slots = {h.name: loop.due_time(h.name) for h in hosts}
    try:
        for _ in range(int(10 / 0.2)):                 # ten seconds of 200 ms ticks
            loop.run_once()
            clock.advance(0.2)
    finally:
        loop.stop()
    for name, first in slots.items():
        assert first is not None
        times = starts[name]
        assert len(times) >= 4, name
        for k, started in enumerate(times):
            slot = first + 2.0 * k
            assert slot - 0.2 - 1e-9 <= started <= slot + 1e-9, (name, k, started, slot)
    assert late and max(late) == 0.0 and min(late) == 0.0
