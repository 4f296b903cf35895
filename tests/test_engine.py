"""Table tests of the alert brain: probe outcomes in, exact transitions out (as Gatus tests alerting)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from netwatchd.config.model import FlapPolicy, MaintenanceWindow, Thresholds
from netwatchd.engine.engine import (
    DEGRADED,
    FAILED,
    OK,
    SELF_HOST,
    AlertEngine,
    HostState,
    Mute,
    classify,
    self_check_hosts,
    self_check_name,
)
from netwatchd.engine.flapping import change_percent
from netwatchd.models import ProbeResult, State, Transition
from support.state import Driver, alerts, brief, config, host, result

D, U, G, X, N = "down", "up", "degraded", "unreachable", "unknown"


# --------------------------------------------------------------------------- judging one result

@pytest.mark.parametrize("kwargs, thresholds, down_loss, expected", [
    (dict(alive=False, sent=3, received=0), Thresholds(), 100.0, FAILED),
    (dict(alive=True, sent=3, received=3, rtt_avg_ms=5.0, rtt_max_ms=9.0), Thresholds(), 100.0, OK),
    # 1 of 3 lost = 33.33 % >= the 20 % loss threshold: answers, but degraded
    (dict(alive=True, sent=3, received=2, rtt_avg_ms=5.0, rtt_max_ms=9.0), Thresholds(), 100.0, DEGRADED),
    # the same loss fails outright when the host says 30 % loss is down
    (dict(alive=True, sent=3, received=2, rtt_avg_ms=5.0, rtt_max_ms=9.0), Thresholds(), 30.0, FAILED),
    (dict(alive=True, sent=3, received=3, rtt_avg_ms=100.0, rtt_max_ms=100.0), Thresholds(), 100.0, OK),
    (dict(alive=True, sent=3, received=3, rtt_avg_ms=100.5, rtt_max_ms=101.0), Thresholds(), 100.0, DEGRADED),
    (dict(alive=True, sent=3, received=3, rtt_avg_ms=10.0, rtt_max_ms=1000.1), Thresholds(), 100.0, DEGRADED),
    (dict(alive=True, sent=3, received=3, rtt_avg_ms=10.0, rtt_max_ms=20.0, jitter_ms=31.0),
     Thresholds(jitter_ms=30.0), 100.0, DEGRADED),
    (dict(alive=True, sent=3, received=3, rtt_avg_ms=10.0, rtt_max_ms=20.0, stdev_ms=9.0),
     Thresholds(stdev_ms=8.0), 100.0, DEGRADED),
    # None = not checked: a slow, lossy answer is still ok
    (dict(alive=True, sent=3, received=2, rtt_avg_ms=900.0, rtt_max_ms=5000.0),
     Thresholds(loss_percent=None, rtt_avg_ms=None, rtt_max_ms=None), 100.0, OK),
    # nothing could be sent: loss counts as 100 %
    (dict(alive=True, sent=0, received=0), Thresholds(loss_percent=None, rtt_avg_ms=None, rtt_max_ms=None),
     100.0, FAILED),
])
def test_classify(clock, kwargs, thresholds, down_loss, expected):
    spec = host("a", thresholds=thresholds, down_loss_percent=down_loss)
    r = ProbeResult(host="a", address="198.18.0.2", probe="icmp", at=clock.now(), **kwargs)
    assert classify(r, spec) == expected


# --------------------------------------------------------------------------- one host

ONE_HOST = [
    ("first settling is silent", "++", [("a", "state", N, U, False, ())]),
    ("first settling into down is silent", "---", [("a", "state", N, D, False, ())]),
    ("two failures are not an outage", "++--++--+", [("a", "state", N, U, False, ())]),
    ("down after three failures", "++---",
     [("a", "state", N, U, False, ()), ("a", "state", U, D, True, ())]),
    ("one answer does not end an outage", "++---+-+--",
     [("a", "state", N, U, False, ()), ("a", "state", U, D, True, ())]),
    ("up after two answers", "++----++",
     [("a", "state", N, U, False, ()), ("a", "state", U, D, True, ()), ("a", "state", D, U, True, ())]),
    ("an unannounced down comes back silently", "---++",
     [("a", "state", N, D, False, ()), ("a", "state", D, U, False, ())]),
    ("slow for three rounds is degraded, two good rounds recover", "++~~~++",
     [("a", "state", N, U, False, ()), ("a", "state", U, G, True, ()), ("a", "state", G, U, True, ())]),
    ("lossy counts as degraded too", "++%%%",
     [("a", "state", N, U, False, ()), ("a", "state", U, G, True, ())]),
    ("slow twice then fine stays up", "++~~+~~+", [("a", "state", N, U, False, ())]),
    ("degraded then down then up", "++~~~---++",
     [("a", "state", N, U, False, ()), ("a", "state", U, G, True, ()), ("a", "state", G, D, True, ()),
      ("a", "state", D, U, True, ())]),
    ("down host answering slow-and-fine mixed ends degraded", "++---+~+",
     [("a", "state", N, U, False, ()), ("a", "state", U, D, True, ()), ("a", "state", D, U, True, ())]),
    ("down host answering only slowly is degraded", "++---~~~",
     [("a", "state", N, U, False, ()), ("a", "state", U, D, True, ()), ("a", "state", D, G, True, ())]),
]


@pytest.mark.parametrize("name, outcomes, expected", ONE_HOST, ids=[c[0] for c in ONE_HOST])
def test_one_host_sequences(name, outcomes, expected):
    run = Driver(config([host("a")]))
    assert [brief(t) for t in run.feed({"a": outcomes})] == expected


def test_thresholds_per_host():
    """down_after/up_after/degraded_after are the host's own."""
    run = Driver(config([host("a", down_after=1, up_after=3, degraded_after=1)]))
    out = run.feed({"a": "+++-+++~"})
    assert [brief(t) for t in out] == [
        ("a", "state", N, U, False, ()), ("a", "state", U, D, True, ()),
        ("a", "state", D, U, True, ()), ("a", "state", U, G, True, ())]


def test_transition_carries_evidence_and_since():
    run = Driver(config([host("a")]))
    run.feed({"a": "++"})
    up_at = run.clock.now()
    out = run.feed({"a": "---"})
    down = out[-1]
    assert down.to_state == State.DOWN and down.since == up_at
    assert down.evidence["failures_in_row"] == 3
    assert down.evidence["loss_percent"] == 100.0 and down.evidence["error"] == "timeout"
    assert down.address == host("a").address


# --------------------------------------------------------------------------- dependencies

def tree() -> Driver:
    hosts = [host("core"), host("k1", parent="core"), host("k2", parent="core"), host("k3", parent="core")]
    run = Driver(config(hosts))
    run.feed({"core": "++", "k1": "++", "k2": "++", "k3": "++"})
    run.log.clear()
    return run


def test_parent_down_folds_children_into_one_message():
    run = tree()
    out = run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    assert alerts(out) == [("core", "state", U, D, True, ("k1", "k2", "k3"))]
    assert [brief(t) for t in out if not t.notify] == [
        ("k1", "state", U, X, False, ()), ("k2", "state", U, X, False, ()), ("k3", "state", U, X, False, ())]


def test_child_crossing_down_after_waits_for_the_failing_parent():
    """The children fail one round earlier than the core: they are held, then unreachable."""
    run = tree()
    out = run.feed({"core": "+---", "k1": "---", "k2": "---", "k3": "---"})
    assert alerts(out) == [("core", "state", U, D, True, ("k1", "k2", "k3"))]
    assert not any(t.host.startswith("k") and t.to_state == State.DOWN for t in out)


def test_held_child_goes_down_when_the_parent_stays_up():
    run = tree()
    out = run.step(core="-", k1="-", k2="+", k3="+")   # (the app probes a failing site's family at once)
    out += run.step(core="-", k1="-")
    out += run.step(core="+", k1="-")    # k1 is held only while the core is failing
    assert alerts(out) == [("k1", "state", U, D, True, ())]
    out = run.step(core="+", k1="-")
    assert out == []


def test_held_child_stays_held_while_parent_keeps_failing():
    run = tree()
    run.feed({"core": "--", "k1": "---"})
    assert run.engine.is_settling("k1")
    assert run.engine.states()["k1"].held
    assert run.state("k1") == State.UP


def test_parent_recovery_folds_children_up_and_lone_failure_gets_its_own_down():
    run = tree()
    run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    out = run.feed({"core": "++", "k1": "++", "k2": "++", "k3": "--"})
    assert alerts(out) == []             # k3 has not answered: the core's UP waits (fold_window, 1 s)
    assert run.engine.wanted_soon() == ["k3"]
    out = run.step(core="+", k1="+", k2="+", k3="-")   # a second later the window is over: sent without k3
    assert alerts(out) == [("core", "state", D, U, True, ("k1", "k2"))]
    assert run.state("k3") == State.UNREACHABLE and run.engine.is_settling("k3")
    out = run.step(core="+", k3="-")
    assert alerts(out) == []             # failures seen while the core was down do not count
    out = run.step(core="+", k3="-")
    assert alerts(out) == [("k3", "state", X, D, True, ())]


def test_child_whose_latest_probe_answered_folds_into_the_parents_up():
    run = tree()
    run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    out = run.feed({"core": "++", "k1": "-+", "k2": " +", "k3": "+-"})
    out += run.step(core="+")            # k3 stays silent for the core's whole fold window
    assert alerts(out) == [("core", "state", D, U, True, ("k1", "k2"))]


def test_child_recovering_later_gets_its_own_up():
    run = tree()
    run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    out = run.feed({"core": "++", "k1": "++", "k2": "++", "k3": "+-"})
    out += run.step(core="+")                 # k3 stays silent for the core's whole fold window
    assert alerts(out) == [("core", "state", D, U, True, ("k1", "k2"))]
    assert run.engine.is_settling("k3")
    out = run.step(core="+", k3="+")
    assert alerts(out) == []                  # one answer after the core's message is out: not yet
    out = run.step(core="+", k3="+")
    assert alerts(out) == [("k3", "state", X, U, True, ())]


def test_a_parents_up_waits_for_children_that_answer_within_its_fold_window():
    """The demo's core restore: most sites answer with the core, a few a moment later; one message."""
    run = tree()
    run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    out = run.feed({"core": "++", "k1": "++", "k2": "++", "k3": "- "})
    decided = run.clock.now()
    assert alerts(out) == []
    assert run.engine.next_wakeup() == decided + timedelta(seconds=1.0)
    assert run.engine.is_settling("k3") and run.engine.wanted_soon() == ["k3"]
    out = run.step(0.3, k3="-")                  # not yet (the site's ARP is still resolving)
    assert alerts(out) == []
    out = run.step(0.4, k3="+")                  # its first answer, 0.7 s after the core's UP
    assert alerts(out) == [("core", "state", D, U, True, ("k1", "k2", "k3"))]
    message = next(t for t in out if t.notify)
    assert message.at == decided                 # the core came back then, not when it was sent
    assert run.engine.next_wakeup() is None
    assert run.state("k3") == State.UP
    out = run.feed({"core": "+++", "k1": "+++", "k2": "+++", "k3": "+++"})
    assert alerts(out) == []                     # k3 was named: no second UP


def test_a_fold_window_of_0_sends_the_parents_up_at_once():
    hosts = [host("core", fold_window=0.0), host("k1", parent="core"), host("k2", parent="core")]
    run = Driver(config(hosts))
    run.feed({"core": "++---", "k1": "++---", "k2": "++---"})
    out = run.feed({"core": "++", "k1": "++", "k2": "- "})
    assert alerts(out) == [("core", "state", D, U, True, ("k1",))]
    out = run.feed({"k2": "++"})
    assert alerts(out) == [("k2", "state", X, U, True, ())]


def test_a_childs_own_news_during_the_window_comes_after_the_parents_up():
    hosts = [host("core"), host("k1", parent="core"), host("k2", parent="core", down_after=2)]
    run = Driver(config(hosts))
    run.feed({"core": "++---", "k1": "++---", "k2": "++---"})
    out = run.feed({"core": "++", "k1": "++", "k2": "--"})
    out += run.step(0.2, core="+", k1="+", k2="-")   # (the app probes a failing site's parent and family)
    out += run.step(0.2, core="+", k2="-")           # k2 is really down: the core's UP goes first
    assert alerts(out) == [("core", "state", D, U, True, ("k1",)), ("k2", "state", X, D, True, ())]


def test_a_restart_inside_the_fold_window_still_sends_the_parents_up(tmp_path):
    from netwatchd.store import state_repo
    from netwatchd.store.db import Database

    run = tree()
    run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    out = run.feed({"core": "++", "k1": "++", "k2": "++", "k3": "- "})
    assert alerts(out) == []
    conn = Database.in_dir(tmp_path).open()
    state_repo.save(conn, run.engine.states(), [], ["console"], run.clock.now())
    restored = Driver(run.config, states=state_repo.load_states(conn), clock=run.clock)
    conn.close()
    assert restored.engine.next_wakeup() == run.engine.next_wakeup()
    out = restored.step(0.5, k3="+")
    assert alerts(out) == [("core", "state", D, U, True, ("k1", "k2", "k3"))]


def family(**kw: Any) -> Driver:
    hosts = [host("core")] + [host(f"k{i}", parent="core", down_after=2, **kw) for i in range(1, 5)]
    run = Driver(config(hosts))
    run.feed({h.name: "++" for h in hosts})
    return run


def test_sites_cut_together_are_told_together_in_one_round():
    """k1 is decided first; k2 and k3, probed a moment after its first failure (the app sweeps
    the family), fail too: k1's DOWN waits for them and the three go out in one round."""
    run = family()
    out = run.step(0.5, core="+", k1="-", k2="-", k3="-", k4="+")
    out += run.step(0.5, k1="-")
    assert alerts(out) == []                                   # k2 and k3 are failing, undecided
    assert run.engine.next_wakeup() is not None
    out = run.step(0.5, k2="-", k3="-")
    assert alerts(out) == [("k1", "state", U, D, True, ()), ("k2", "state", U, D, True, ()),
                           ("k3", "state", U, D, True, ())]
    assert [t.at for t in out if t.notify][0] < [t.at for t in out if t.notify][1]   # k1 decided first


def test_a_sibling_that_lost_one_probe_holds_a_down_only_until_its_next_answer():
    run = family()
    out = run.step(0.5, core="+", k1="-", k2="-", k3="+", k4="+")
    out += run.step(0.5, k1="-")
    assert alerts(out) == []
    out = run.step(0.5, k2="+")
    assert alerts(out) == [("k1", "state", U, D, True, ())]


def test_a_down_waits_at_most_two_probes_for_its_siblings_and_asks_for_them():
    run = family()
    run.step(0.5, core="+", k1="-")
    out = run.step(0.5, k1="-")              # its siblings have not been probed since it began failing
    assert alerts(out) == [] and set(run.engine.wanted_soon()) == {"k2", "k3", "k4"}
    out = run.step(2.0)                      # nobody probes them: retry 1 s, probe 1.1 s -> 2 x 1.1 + 0.2
    assert alerts(out) == []
    out = run.step(0.5)
    assert alerts(out) == [("k1", "state", U, D, True, ())]


def test_a_held_down_goes_out_before_its_sites_next_news_and_survives_a_restart(tmp_path):
    from netwatchd.store import state_repo
    from netwatchd.store.db import Database

    run = family()
    run.step(0.5, core="+", k1="-", k2="-", k3="+", k4="+")
    run.step(0.5, k1="-")
    conn = Database.in_dir(tmp_path).open()
    state_repo.save(conn, run.engine.states(), [], ["console"], run.clock.now())
    again = Driver(run.config, states=state_repo.load_states(conn), clock=run.clock)
    conn.close()
    out = again.step(0.5, k1="+")
    out += again.step(0.5, k1="+")                              # back before k2 was decided
    assert alerts(out) == [("k1", "state", U, D, True, ()), ("k1", "state", D, U, True, ())]


def test_unreachable_children_are_probed_soon_while_the_parent_recovers():
    run = tree()
    run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    assert not run.engine.is_settling("k1")   # parent down and silent: normal interval
    run.step(core="+")
    assert run.engine.is_settling("k1")       # the core answers again: have fresh evidence ready


def test_child_already_down_is_not_refolded():
    run = tree()
    run.feed({"core": "+++", "k1": "---", "k2": "+", "k3": "+"})
    out = run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    assert alerts(out) == [("core", "state", U, D, True, ("k2", "k3"))]
    out = run.feed({"core": "++", "k1": "--", "k2": "++", "k3": "++"})
    assert alerts(out) == [("core", "state", D, U, True, ("k2", "k3"))]
    out = run.feed({"core": "+", "k1": "-"})   # k1 was down, is still down: nothing new to say
    assert alerts(out) == []
    out = run.feed({"core": "++", "k1": "++"})
    assert alerts(out) == [("k1", "state", X, U, True, ())]


def test_three_level_chain():
    hosts = [host("core"), host("agg", parent="core"), host("leaf1", parent="agg"),
             host("leaf2", parent="agg"), host("other", parent="core")]
    run = Driver(config(hosts))
    run.feed({h.name: "++" for h in hosts})
    out = run.feed({h.name: "---" for h in hosts})
    assert alerts(out) == [("core", "state", U, D, True, ("agg", "leaf1", "leaf2", "other"))]
    # core back, agg still dead: agg gets its own DOWN naming its leaves
    # (failures seen while the core was down do not count: agg needs three more after it is back)
    out = run.feed({"core": "+++++", "agg": "-----", "leaf1": "-----", "leaf2": "-----", "other": "+++++"})
    assert alerts(out) == [("core", "state", D, U, True, ("other",)),
                           ("agg", "state", X, D, True, ("leaf1", "leaf2"))]
    out = run.feed({"core": "++", "agg": "++", "leaf1": "++", "leaf2": "++"})
    assert alerts(out) == [("agg", "state", D, U, True, ("leaf1", "leaf2"))]


def test_child_waits_for_a_fresh_probe_of_a_parent_not_probed_since_it_began_failing():
    """The core was last probed before the cut: its sites reaching down_after first must not be
    announced one by one; they wait for the core's next probe (and are folded if it fails)."""
    run = tree()
    out = run.feed({"k1": "---", "k2": "---", "k3": "---"})
    assert alerts(out) == [] and run.engine.states()["k1"].held
    assert set(run.engine.wanted_soon()) == {"core"} and run.engine.is_settling("core")
    out = run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    assert alerts(out) == [("core", "state", U, D, True, ("k1", "k2", "k3"))]


def test_fresh_answer_from_the_parent_releases_the_child():
    run = tree()
    run.feed({"k1": "---", "k2": "+", "k3": "+"})
    out = run.step(core="+")
    assert alerts(out) == [("k1", "state", U, D, True, ())]
    assert run.engine.wanted_soon() == []


def test_child_waits_at_most_one_parent_interval():
    run = tree()
    out = run.feed({"k1": "---", "k2": "+", "k3": "+"})
    out += run.feed({"k1": "-" * 11})       # core (interval 10 s, timeout 1 s) never probed again
    assert alerts(out) == []
    out = run.feed({"k1": "-"})
    assert alerts(out) == [("k1", "state", U, D, True, ())]


def test_router_parent_that_is_not_probed_counts_as_up():
    run = Driver(config([host("k1", parent="core-router")]))
    out = run.feed({"k1": "++---"})
    assert alerts(out) == [("k1", "state", U, D, True, ())]


def test_children_keep_silent_while_parent_down_whatever_they_answer():
    run = tree()
    run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    out = run.feed({"core": "------", "k1": "+-+~~~", "k2": "++++++", "k3": "------"})
    assert out == []
    assert run.state("k2") == State.UNREACHABLE


# --------------------------------------------------------------------------- flapping

def flappy(**kw) -> Driver:
    spec = host("a", down_after=1, up_after=1)
    return Driver(config([spec], flapping=FlapPolicy(window=21, high_percent=50.0, low_percent=25.0, **kw)))


def test_flapping_sends_one_alert_then_one_stable():
    run = flappy(early_outages=0, stable_after=1.0)      # the percent rule alone, as Nagios
    out = run.feed({"a": "+" + "-+" * 12 + "+" * 20})
    got = alerts(out)
    kinds = [g[1] for g in got]
    assert kinds.count("flapping") == 1 and kinds.count("stable") == 1
    first = kinds.index("flapping")
    assert kinds[first:] == ["flapping", "stable"]   # nothing in between, nothing after
    assert 2 <= first <= 12 and set(kinds[:first]) == {"state"}
    assert got[0] == ("a", "state", U, D, True, ())
    assert got[-1] == ("a", "stable", U, U, True, ())
    assert out[[t.kind for t in out].index("flapping")].evidence["flap_percent"] >= 50.0
    state_changes = [t for t in out if t.kind == "state"]
    assert len(state_changes) > 10        # every change is still recorded


def drive_link(run: Driver, name: str, link_up: Callable[[float], bool], seconds: float) -> list[Transition]:
    """Probe `name` as the ProbeLoop does (every interval; every retry_interval while it settles)
    for `seconds` of fake time, the link up or down at t as `link_up(t)` says."""
    spec = run.config.host(name)
    assert spec is not None
    t, gap, out = 0.0, 0.0, []
    while t <= seconds:
        out += run.step(gap, **{name: "+" if link_up(t) else "-"})
        gap = spec.retry_interval if run.engine.is_settling(name) else spec.interval
        t += gap
    return out


def lab_like(**flapping: Any) -> Driver:
    """The issue's lab settings: interval 1 s, retry 500 ms, down_after 2, up_after 2."""
    spec = replace(host("a", down_after=2, up_after=2, interval=1.0, timeout=0.5), retry_interval=0.5)
    run = Driver(config([spec], flapping=FlapPolicy(**flapping)))
    drive_link(run, "a", lambda t: True, 5)           # settled UP (silently) first
    return run


def toggling(period: float, for_seconds: float) -> Callable[[float], bool]:
    """Down for `period`, up for `period`, ... for `for_seconds`, then up for good."""
    return lambda t: t >= for_seconds or int(t // period) % 2 == 1


def test_a_link_flapping_every_1_5_s_for_30_s_gives_at_most_4_messages_and_every_outage_is_recorded():
    run = lab_like()
    out = drive_link(run, "a", toggling(1.5, 30), 30 + 25)
    got = alerts(out)
    assert [g[1:4] for g in got] == [("state", U, D), ("state", D, U), ("flapping", U, D), ("stable", U, U)], got
    flapping = next(t for t in out if t.kind == "flapping")
    assert flapping.evidence["outages"] == 2 and 2.0 <= flapping.evidence["outages_window_s"] <= 4.0
    downs = [t for t in out if t.kind == "state" and t.to_state == State.DOWN]
    assert len(downs) == 10                     # every outage is still an event for the report
    stable = next(t for t in out if t.kind == "stable")
    last_change = max(t.at for t in out if t.kind == "state")
    assert (stable.at - last_change).total_seconds() >= 10.0      # stable_after: 10 x interval


def test_the_early_rule_counts_outages_within_its_window_only():
    run = lab_like(early_window=5.0)
    out = drive_link(run, "a", lambda t: not (0 <= t < 2 or 8 <= t < 10), 14)   # outages 8 s apart
    assert [g[1:4] for g in alerts(out)] == [("state", U, D), ("state", D, U)] * 2
    run = lab_like(early_outages=3)
    out = drive_link(run, "a", toggling(2, 11), 14)                             # 3 outages in 8 s
    assert [g[1:4] for g in alerts(out)] == [("state", U, D), ("state", D, U)] * 2 + [("flapping", U, D)]


def test_early_rule_off_and_flapping_off_send_every_outage():
    for run in (lab_like(early_outages=0), lab_like(enabled=False)):
        out = drive_link(run, "a", toggling(1.5, 9), 12)
        assert [g[1] for g in alerts(out)] == ["state"] * 6


def test_a_site_that_just_recovered_and_fails_again_is_named_down_in_its_flapping_message():
    run = lab_like()
    out = drive_link(run, "a", lambda t: not (0 <= t < 2), 4)        # an outage, then back
    out += drive_link(run, "a", lambda t: False, 3)                   # cut again, for good
    got = alerts(out)
    assert [g[1:4] for g in got] == [("state", U, D), ("state", D, U), ("flapping", U, D)]
    assert run.state("a") == State.DOWN
    flapping = [t for t in out if t.notify][-1]
    assert flapping.evidence["outages"] == 2
    out = drive_link(run, "a", lambda t: False, 30)                   # it stays down: settled
    assert alerts(out) == [("a", "stable", D, D, True, ())]


def test_a_site_flapping_between_up_and_degraded_is_still_told_when_it_goes_down():
    """The issue's burst miss: a lossy link had made the site flap (slow/fine answers); its DOWN
    was held back as flapping and never named."""
    spec = replace(host("a", down_after=2, up_after=2, degraded_after=2, interval=1.0, timeout=0.5),
                   retry_interval=0.5)
    run = Driver(config([spec], flapping=FlapPolicy()))
    out = run.feed({"a": "+++" + "~+" * 8})
    assert alerts(out) == [("a", "flapping", U, U, True, ())]        # "FLAPPING, now UP"
    out = run.feed({"a": "--"})
    assert alerts(out) == [("a", "state", U, D, True, ())]           # named like any other outage
    assert run.state("a") == State.DOWN
    out = run.feed({"a": "++--++"})
    assert alerts(out) == []                 # still flapping: the rest waits for the settled state


def test_a_site_flapping_on_lost_probes_is_not_told_again_when_one_outage_comes_of_it():
    """At the demo's timing a link flapping every 1.5 s is probed every 2 s: its probes fail and
    answer (no outage decided) and the percent rule says FLAPPING, now UP. The DOWN that follows
    is part of the same flapping: it waits for the settled state (was a 5th message)."""
    spec = replace(host("a", down_after=2, up_after=2, interval=2.0, timeout=0.5), retry_interval=0.5)
    run = Driver(config([spec], flapping=FlapPolicy()))
    out = run.feed({"a": "+++" + "-+" * 8})
    assert alerts(out) == [("a", "flapping", U, U, True, ())]
    out = run.feed({"a": "--++--"})
    assert alerts(out) == []
    assert run.engine.states()["a"].flap_quality is False


def test_a_flapping_parents_message_names_the_sites_cut_off_with_it():
    hosts = [replace(host("core", down_after=2, up_after=2, interval=1.0), retry_interval=0.5),
             host("k1", parent="core"), host("k2", parent="core")]
    run = Driver(config(hosts, flapping=FlapPolicy()))
    run.feed({"core": "+++", "k1": "+++", "k2": "+++"})
    out = run.feed({"core": "--++--", "k1": "------", "k2": "------"})
    got = alerts(out)
    assert got[-1] == ("core", "flapping", U, D, True, ("k1", "k2")), got


def test_flap_disabled_sends_every_change():
    run = flappy(enabled=False)
    out = run.feed({"a": "+" + "-+" * 5})
    assert [g[1] for g in alerts(out)] == ["state"] * 10


@pytest.mark.parametrize("mask, slots, expected", [
    (0, 20, 0.0), ((1 << 20) - 1, 20, 100.0),
    (1, 20, 6.0),                 # newest change: weight 1.2 of 20 slots
    (1 << 19, 20, 4.0),           # oldest change: weight 0.8
    (0b1010101010, 20, 5 * 1.2 * 5 - 0.0 if False else None),
])
def test_change_percent_weights(mask, slots, expected):
    if expected is None:
        expected = round(100 * sum(1.2 - 0.4 * i / 19 for i in range(1, 10, 2)) / 20, 3)
    assert change_percent(mask, slots) == expected


# --------------------------------------------------------------------------- maintenance and mutes

def test_bot_mute_silences_and_announces_changed_state_at_the_end():
    run = Driver(config([host("a"), host("b")]))
    run.feed({"a": "++", "b": "++"})
    run.engine.set_mutes([Mute(target="a", until=run.clock.now() + timedelta(seconds=10), by="admin")])
    out = run.feed({"a": "----", "b": "+"})
    assert alerts(out) == []
    assert run.engine.states()["a"].muted and run.engine.states()["a"].pre_mute_state == State.UP
    out = run.feed({"a": "-" * 8})
    assert alerts(out) == [("a", "maintenance_end", U, D, True, ())]
    out = run.feed({"a": "++"})
    assert alerts(out) == [("a", "state", D, U, True, ())]


def test_mute_ending_in_the_same_state_says_nothing():
    run = Driver(config([host("a")]))
    run.feed({"a": "++"})
    run.engine.set_mutes([Mute(target="a", until=run.clock.now() + timedelta(seconds=10))])
    out = run.feed({"a": "----++" + "+" * 5})   # down and back up inside the mute
    assert alerts(out) == []


def test_group_mute_and_parent_fold_after_maintenance():
    hosts = [host("core", group="inti"), host("k1", parent="core"), host("k2", parent="core")]
    run = Driver(config(hosts))
    run.feed({"core": "++", "k1": "++", "k2": "++"})
    run.engine.set_mutes([Mute(target="INTI", until=run.clock.now() + timedelta(seconds=4))])
    out = run.feed({"core": "---", "k1": "---", "k2": "---"})
    assert alerts(out) == []
    out = run.feed({"core": "---", "k1": "---", "k2": "---"})
    assert alerts(out) == [("core", "maintenance_end", U, D, True, ("k1", "k2"))]


def test_window_until_end_of_day_and_bad_times():
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from netwatchd.engine.mutes import compile_windows
    from netwatchd.errors import ConfigError
    late = compile_windows([MaintenanceWindow(targets=("a",), daily_start="23:00", daily_end="24:00")],
                           ZoneInfo("Asia/Jakarta"))[0]
    assert late.active(datetime(2026, 1, 5, 16, 59, 59, tzinfo=timezone.utc))        # 23:59:59 WIB
    assert not late.active(datetime(2026, 1, 5, 17, 0, 0, tzinfo=timezone.utc))      # 00:00 WIB
    with pytest.raises(ConfigError, match="daily_end: '25:00' is not a time of day"):
        compile_windows([MaintenanceWindow(targets=("a",), daily_start="01:00", daily_end="25:00")], timezone.utc)
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Base'"):   # a Config in code, not from a file
        replace(config([]), timezone="Mars/Base")


def test_weekly_maintenance_window_in_local_time():
    # FakeClock starts Monday 2026-01-05 01:00 UTC = 08:00 WIB
    window = MaintenanceWindow(targets=("a",), days=(0,), daily_start="08:00", daily_end="08:01")
    run = Driver(config([host("a")], maintenance=(window,)))
    out = run.feed({"a": "++---"})
    assert alerts(out) == [] and run.state("a") == State.DOWN
    out = run.feed({"a": "-" * 60})
    assert alerts(out) == [("a", "maintenance_end", N, D, True, ())]


def test_one_off_window():
    window = MaintenanceWindow(targets=("a",), start="2026-01-05T01:00:10+00:00", end="2026-01-05T01:00:20Z")
    run = Driver(config([host("a")], maintenance=(window,)))
    out = run.feed({"a": "+" * 10 + "-" * 5})
    assert alerts(out) == []            # muted from second 10 on; down at second 13
    out = run.feed({"a": "-" * 4})
    assert alerts(out) == []
    out = run.feed({"a": "-"})          # second 20: the window is over
    assert alerts(out) == [("a", "maintenance_end", U, D, True, ())]


# --------------------------------------------------------------------------- reminders and startup

def test_reminders_repeat_while_down_only():
    run = Driver(config([host("a", reminder_every=10.0)]))
    run.feed({"a": "++---"})
    out = run.feed({"a": "-" * 25})
    assert [brief(t) for t in out] == [("a", "reminder", D, D, True, ())] * 2
    assert out[0].evidence["down_for_s"] == 10.0
    out = run.feed({"a": "++" + "+" * 20})
    assert [g[1] for g in alerts(out)] == ["state"]


def test_no_reminders_by_default():
    run = Driver(config([host("a")]))
    out = run.feed({"a": "++" + "-" * 100})
    assert [g[1] for g in alerts(out)] == ["state"]


def test_startup_summary_once_when_everything_settled():
    run = Driver(config([host("a"), host("b"), host("c")], announce_startup=True))
    out = run.feed({"a": "+++", "b": "---", "c": "+  "})
    assert alerts(out) == []
    out = run.feed({"c": "+"})
    assert alerts(out) == [(SELF_HOST, "startup", N, U, True, ("b",))]
    assert out[-1].evidence == {"watching": 3, "down": 1, "unreachable": 0}
    out = run.feed({"b": "++", "a": "---", "c": "+"})
    assert alerts(out) == [("b", "state", D, U, True, ()), ("a", "state", U, D, True, ())]


# --------------------------------------------------------------------------- the server's own uplink

def uplinked() -> Driver:
    cfg = replace(config([host("core"), host("k1", parent="core"), host("k2")]),
                  self_check=replace(config([]).self_check, anchors=("198.18.0.1", "198.18.0.2")))
    run = Driver(cfg)
    for _ in range(2):
        run.anchors_round("+", core="+", k1="+", k2="+")
    run.log.clear()
    return run


def test_uplink_lost_sends_one_message_and_no_site_alerts():
    run = uplinked()
    out = []
    for _ in range(6):
        out += run.anchors_round("-", core="-", k1="-", k2="-")
    assert alerts(out) == [(SELF_HOST, "uplink_lost", U, D, True, ())]
    assert {run.state(h) for h in ("core", "k1", "k2")} == {State.UNREACHABLE}


def test_uplink_back_summarises_what_changed():
    run = uplinked()
    for _ in range(4):
        run.anchors_round("-", core="-", k1="-", k2="-")
    out = []
    for _ in range(4):
        out += run.anchors_round("+", core="+", k1="+", k2="-")
    assert alerts(out) == []             # k2 is judged again from fresh evidence first
    out += run.anchors_round("+", core="+", k1="+", k2="-")
    assert alerts(out) == [(SELF_HOST, "uplink_back", D, U, True, ("k2",))]
    assert out[-1].evidence["changes"] == {"k2": "down"}
    assert out[-1].evidence["lost_for_s"] == 3.0
    assert run.state("k2") == State.DOWN and run.state("k1") == State.UP


def test_sites_failing_while_anchors_are_undecided_are_held():
    run = uplinked()
    out = run.anchors_round("-", k2="-") + run.anchors_round("-", k2="-")
    out += run.anchors_round("-", k2="-")
    assert alerts(out) == [(SELF_HOST, "uplink_lost", U, D, True, ())]


def test_self_check_hosts_for_the_app():
    cfg = replace(config([]), self_check=replace(config([]).self_check, anchors=("198.18.0.1",)))
    specs = self_check_hosts(cfg)
    assert [(s.name, s.address, s.probe) for s in specs] == [(self_check_name("198.18.0.1"), "198.18.0.1", "icmp")]
    assert specs[0].name == "__self__:198.18.0.1"


# --------------------------------------------------------------------------- persistence and reload

def test_state_round_trips_through_json_and_engine_continues():
    run = Driver(config([host("a"), host("b", parent="a")], flapping=FlapPolicy()))
    run.feed({"a": "++--", "b": "++--"})
    import json
    saved = {k: HostState.from_dict(json.loads(json.dumps(v.to_dict()))) for k, v in run.engine.states().items()}
    assert saved == run.engine.states()
    again = Driver(run.config, states=saved, clock=run.clock)
    twin = run
    for code in "-++--+":
        ours = [t.to_dict() for t in twin.step(a=code, b=code)]
        twin.clock.advance(-1)          # both share the clock: replay the same moment
        theirs = [t.to_dict() for t in again.step(a=code, b=code)]
        assert ours == theirs
    assert again.engine.states() == run.engine.states()


def test_restored_down_host_is_not_alerted_again_but_its_up_is():
    run = Driver(config([host("a")]))
    run.feed({"a": "++---"})
    again = Driver(run.config, states=run.engine.states(), clock=run.clock)
    assert alerts(again.feed({"a": "-----"})) == []
    assert alerts(again.feed({"a": "++"})) == [("a", "state", D, U, True, ())]


def test_replace_config_keeps_unchanged_hosts_and_adds_new_ones():
    run = Driver(config([host("a")]))
    run.feed({"a": "++--"})
    run.engine.replace_config(config([host("a"), host("b")]))
    assert run.engine.states()["a"].fails == 2 and run.state("b") == State.UNKNOWN
    out = run.feed({"a": "-", "b": "++"})
    assert alerts(out) == [("a", "state", U, D, True, ())]


def test_unknown_hosts_in_results_are_ignored(clock):
    engine = AlertEngine(config([host("a")]), clock)
    assert engine.ingest([result("ghost", "-", clock.now())]) == []
    assert "ghost" not in engine.states()


def test_is_settling_drives_quick_retries():
    run = Driver(config([host("a")]))
    assert run.engine.is_settling("a")            # unknown
    run.feed({"a": "++"})
    assert not run.engine.is_settling("a")
    run.feed({"a": "-"})
    assert run.engine.is_settling("a")
    run.feed({"a": "--"})
    assert not run.engine.is_settling("a")        # decided: down, back to the normal interval
    run.feed({"a": "+"})
    assert run.engine.is_settling("a")


def test_take_changed_returns_only_touched_hosts():
    run = Driver(config([host("a"), host("b")]))
    run.engine.take_changed()
    run.feed({"a": "+"})
    assert set(run.engine.take_changed()) == {"a"}
    assert run.engine.take_changed() == {}


def test_snapshot_is_a_complete_hoststate():
    """states() builds HostState without __init__ for speed: it must equal one built normally."""
    run = Driver(config([host("a")], flapping=FlapPolicy()))
    run.feed({"a": "++-~-"})
    snap = run.engine.states()["a"]
    rebuilt = HostState(**{name: getattr(snap, name) for name in HostState.__dataclass_fields__})
    assert snap == rebuilt and hash(repr(snap)) == hash(repr(rebuilt))
    assert set(vars(snap)) == set(HostState.__dataclass_fields__)


def test_to_dict_writes_every_field_as_the_generic_loop_did():
    """to_dict (its field names computed once, not by fields() on every call: the agent saves the
    states of every round) writes what the generic loop wrote."""
    import dataclasses

    at = datetime(2026, 11, 2, 1, 2, 3, 456000, tzinfo=timezone.utc)
    full = HostState("a", State.DOWN, since=at, fails=3, oks=1, degraded=2, alive=4, last_class="failed",
                     flap_bits=5, flapping=True, flap_announced=True, flap_percent=33.3, held=True, rejudge=True,
                     told=State.UP, muted=True, pre_mute_state=State.UP, last_reminder=at, checked_at=at,
                     failing_since=at, held_since=at, evidence={"loss_percent": 100.0}, extra={"x": 1},
                     fail_bits=6, flap_quality=True, outages=("2026-11-02T01:00:00.000+00:00",))
    for state in (full, HostState("b")):
        assert list(state.to_dict()) == [f.name for f in dataclasses.fields(state)]   # every field, in order
        generic = {}
        for f in dataclasses.fields(state):
            value = getattr(state, f.name)
            generic[f.name] = (value.value if isinstance(value, State) else value.isoformat(timespec="milliseconds")
                               if isinstance(value, datetime) else dict(value) if isinstance(value, dict)
                               else list(value) if isinstance(value, tuple) else value)
        assert state.to_dict() == generic
        assert HostState.from_dict(state.to_dict()) == state


@pytest.mark.parametrize("code", ["+", "-", "~", "%"])
def test_engine_judges_results_like_classify(code, clock):
    """The engine's unpacked hot path and the public classify() agree."""
    spec = host("a", down_after=1, up_after=1, degraded_after=1)
    engine = AlertEngine(config([spec]), clock)
    r = result("a", code, clock.now())
    engine.ingest([r])
    expected = {OK: State.UP, DEGRADED: State.DEGRADED, FAILED: State.DOWN}[classify(r, spec)]
    assert engine.states()["a"].state == expected


def test_reload_moving_a_host_away_from_a_down_parent_rejudges_it():
    run = tree()
    run.feed({"core": "---", "k1": "---", "k2": "---", "k3": "---"})
    hosts = [host("core"), host("k1"), host("k2", parent="core"), host("k3", parent="core")]
    run.engine.replace_config(config(hosts))
    assert run.engine.is_settling("k1")
    out = run.feed({"core": "-", "k1": "++"})
    assert alerts(out) == [("k1", "state", X, U, True, ())]
    run.engine.replace_config(config(hosts[:3] + [host("k4", parent="core")]))
    assert run.state("k4") == State.UNREACHABLE and "k3" not in run.engine.states()


def test_held_host_stays_held_across_a_restart():
    run = tree()
    run.feed({"k1": "---", "k2": "+", "k3": "+"})
    again = Driver(run.config, states=run.engine.states(), clock=run.clock)
    assert again.engine.states()["k1"].held and again.engine.wanted_soon() == ["core"]
    assert alerts(again.step(core="+")) == [("k1", "state", U, D, True, ())]


def test_material_mark_follows_every_material_field_of_the_track_and_no_confirmation_field():
    """material_mark (read off the track, no snapshot) moves with each HostState field but the
    confirmation's (oks, alive, checked_at, evidence) and agrees with the snapshot's fields."""
    import dataclasses

    from netwatchd.app import material
    from netwatchd.engine.engine import CONFIRMATION_FIELDS

    run = Driver(config([host("a")]))
    run.feed({"a": "+++"})
    engine = run.engine
    track = engine._tracks["a"]
    assert track.state == State.UP
    base = engine.material_mark("a")
    assert base is not None and material(engine.snapshots(["a"])["a"]) is not None
    at = datetime(2026, 11, 2, tzinfo=timezone.utc)
    different = {bool: lambda v: not v, int: lambda v: v + 1, float: lambda v: v + 0.5,
                 str: lambda v: v + "x", tuple: lambda v: (*v, "2026-11-02T00:00:00.000+00:00")}
    names = {"host": "name", "checked_at": "last_at"}
    for f in dataclasses.fields(HostState):
        if f.name == "extra":
            continue
        attr = names.get(f.name, f.name)
        saved = getattr(track, attr)
        if f.name in ("state", "told", "pre_mute_state"):
            new = State.UP if f.name != "state" and saved != State.UP else State.UP if saved is None else None
        elif saved is None or isinstance(saved, datetime):
            new = at if saved != at else at + timedelta(seconds=1)
        elif f.name == "evidence":
            new = {"loss_percent": 50.0}
        else:
            new = different[type(saved)](saved)
        setattr(track, attr, new)
        try:
            moved = engine.material_mark("a") != base if track.state == State.UP else engine.material_mark("a") is None
            assert moved == (f.name not in CONFIRMATION_FIELDS), f.name
        finally:
            setattr(track, attr, saved)
    assert engine.material_mark("a") == base
    track.extra = {"confirm": 1}
    assert engine.material_mark("a") is None


def test_tracks_without_children_or_bookkeeping_share_one_empty_container():
    """A leaf's children, and `extra` / `held_children` of a track with none, are one shared empty
    object (not three containers per track); a track gets its own once it needs one, and a write
    to the shared one raises rather than reaching every track."""
    from netwatchd.engine.engine import _NONE_YET

    run = tree()
    tracks = run.engine._tracks
    leaves = [tracks[name] for name in ("k1", "k2", "k3")]
    assert all(t.children == () and t.held_children is _NONE_YET and t.extra is _NONE_YET for t in leaves)
    assert [c.name for c in tracks["core"].children] == ["k1", "k2", "k3"]
    with pytest.raises(TypeError):
        _NONE_YET["x"] = 1
    assert _NONE_YET.pop("x", None) is None and len(_NONE_YET) == 0
    run.feed({"core": "+--", "k1": "---"})            # k1 held: the core now holds a dict of its own
    assert list(tracks["core"].held_children) == ["k1"] and _NONE_YET == {}
    run.feed({"core": "-"})
    assert tracks["core"].held_children is _NONE_YET and run.state("k1") == State.UNREACHABLE
    assert all(t.held_children is _NONE_YET and t.extra is _NONE_YET for t in leaves)


def test_seen_is_what_the_snapshots_say():
    """engine.seen() (read from the tracks) equals the Seen of every states() snapshot."""
    from netwatchd.engine.engine import Seen

    run = tree()
    run.feed({"core": "++++---", "k1": "+++----", "k2": "++++", "k3": "+++-"})
    states = run.engine.states()
    assert {s.state for s in states.values()} >= {State.DOWN, State.UNREACHABLE}
    assert run.engine.seen() == {name: Seen(s.state, s.since, s.fails, s.muted, s.flapping)
                                 for name, s in states.items()}
    assert list(run.engine.seen()) == list(states)


def test_a_mute_names_a_site_without_regard_to_case_with_or_without_a_second_table():
    """Lower-case names: the name index is the tracks' own table; mixed case: a table of its own.
    Either way a mute finds its site whatever the case it is written in, and a parent by its name."""
    for names in (("core", "k1"), ("Core", "K1")):
        run = Driver(config([host(names[0]), host(names[1], parent=names[0].lower())]))
        assert (run.engine._by_name is run.engine._tracks) == (names == ("core", "k1"))
        assert run.engine._tracks[names[1]].parent is run.engine._tracks[names[0]]
        run.feed({names[0]: "++", names[1]: "++"})
        run.engine.set_mutes([Mute(target=names[1].upper(), until=run.clock.now() + timedelta(seconds=10))])
        out = run.feed({names[0]: "+++++", names[1]: "-----"})
        assert alerts(out) == [] and run.state(names[1]) == State.DOWN
