"""Property tests of the alert brain over random probe sequences, random trees and random mutes.

Invariants (the spec of issue 4):
  * every UP alert for a host follows a DOWN (or DEGRADED / unreachable) alert for it;
  * nothing is announced for a host while it is muted, while an ancestor is down, or while the
    server's own uplink is lost;
  * never two alerts of the same kind (and same announced state) in a row for a host
    (reminders excepted: repeating a DOWN is what they are for);
  * between a FLAPPING alert and its STABLE one, a host's only alert is a DOWN the admins were
    not told yet;
  * stopping at any point and restoring from the saved states gives the same future alerts.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwatchd.clock import FakeClock
from netwatchd.config.model import FlapPolicy, SelfCheck
from netwatchd.engine.engine import SELF_HOST, HostState, Mute, self_check_name
from netwatchd.models import State, Transition
from netwatchd.store import state_repo
from netwatchd.store.db import Database
from support.state import Driver, config, host, result

PROBLEMS = {State.DOWN, State.DEGRADED, State.UNREACHABLE}
ANCHORS = ("198.18.0.1", "198.18.0.2")


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 7))
    parents = [draw(st.sampled_from([None, "router"] + [f"h{j}" for j in range(i)])) for i in range(n)]
    down_after, up_after, degraded_after = (draw(st.integers(1, 3)) for _ in range(3))
    reminder = draw(st.sampled_from([None, 3.0]))
    hosts = [host(f"h{i}", parent=parents[i], group=f"g{i % 2}", down_after=down_after,
                  up_after=up_after, degraded_after=degraded_after, reminder_every=reminder)
             for i in range(n)]
    flap = draw(st.booleans())
    cfg = config(hosts, flapping=FlapPolicy(window=draw(st.integers(4, 21)), high_percent=50.0,
                                            low_percent=25.0, enabled=flap),
                 announce_startup=draw(st.booleans()))
    if draw(st.booleans()):
        cfg = replace(cfg, self_check=SelfCheck(anchors=ANCHORS))
    steps = draw(st.integers(5, 45))
    # Outages are correlated in real networks: draw per-step "weather" and per-host noise.
    rounds = []
    for _ in range(steps):
        rounds.append({
            "hosts": [draw(st.sampled_from("++++--~ ")) for _ in range(n)],
            "anchors": draw(st.sampled_from("+++- ")),
        })
    targets = [h.name for h in hosts] + ["g0", "g1"]
    mutes = draw(st.lists(st.tuples(st.sampled_from(targets), st.integers(0, steps), st.integers(1, 15)),
                          max_size=3))
    cut = draw(st.integers(0, steps))
    return cfg, rounds, mutes, cut


def play(run: Driver, rounds, mutes, start: int = 0, stop: int | None = None) -> list[list[Transition]]:
    """Feed rounds[start:stop]; mutes (target, start step, duration s) are set from their step on."""
    base = FakeClock().now()
    per_step = []
    for index in range(start, len(rounds) if stop is None else stop):
        run.engine.set_mutes([Mute(target=t, until=base + timedelta(seconds=s + d + 1))
                              for t, s, d in mutes if s <= index])
        now = base + timedelta(seconds=index + 1)
        batch = [result(f"h{i}", code, now) for i, code in enumerate(rounds[index]["hosts"]) if code != " "]
        if run.config.self_check.anchors and rounds[index]["anchors"] != " ":
            batch += [result(self_check_name(a), rounds[index]["anchors"], now) for a in ANCHORS]
        run.clock.advance((now - run.clock.now()).total_seconds())
        out = run.engine.ingest(batch) + run.engine.tick()
        per_step.append(out)
    return per_step


def muted_at(cfg, mutes, index: int, name: str) -> bool:
    spec = next(h for h in cfg.hosts if h.name == name)
    base = FakeClock().now()
    now = base + timedelta(seconds=index + 1)
    return any(s <= index and base + timedelta(seconds=s + d + 1) > now and t in (name, spec.group)
               for t, s, d in mutes)


def told_entries(t: Transition) -> list[tuple[str, State]]:
    """(host, announced state) pairs a notified transition tells the admins."""
    found = []
    if t.kind in ("state", "maintenance_end", "stable", "flapping") and t.host != SELF_HOST:
        found.append((t.host, t.to_state))
    for name in t.affected:
        if t.kind == "uplink_back":
            found.append((name, State(t.evidence["changes"][name])))
        elif t.kind == "startup":
            found.append((name, State.DOWN))
        elif t.to_state == State.UP:
            found.append((name, State.UP))
        else:
            found.append((name, State.UNREACHABLE))
    return found


def check_invariants(cfg, per_step, mutes) -> None:
    parents = {h.name: h.parent for h in cfg.hosts}
    current: dict[str, State] = {}
    told: dict[str, State] = {}
    last_alert: dict[str, tuple[str, State]] = {}
    flapping: set[str] = set()
    uplink_lost = False

    def ancestors(name):
        seen = set()
        p = parents.get(name)
        while p in parents and p not in seen:
            seen.add(p)
            yield p
            p = parents.get(p)

    for index, out in enumerate(per_step):
        for t in out:
            if t.kind == "uplink_lost":
                assert not uplink_lost, "two uplink_lost in a row"
                uplink_lost = True
            elif t.kind == "uplink_back":
                assert uplink_lost, "uplink_back without uplink_lost"
                uplink_lost = False
            if t.notify and t.host != SELF_HOST:
                assert not uplink_lost, f"alert {t.kind} for {t.host} while the uplink is lost"
                assert not muted_at(cfg, mutes, index, t.host), f"alert for muted {t.host}: {t}"
                for a in ancestors(t.host):
                    assert current.get(a) not in (State.DOWN, State.UNREACHABLE), \
                        f"alert for {t.host} while its ancestor {a} is {current.get(a)}"
            if t.notify and t.host in flapping and t.kind != "stable":
                assert t.kind in ("state", "flapping") and t.to_state == State.DOWN \
                    and told.get(t.host) != State.DOWN, f"{t.kind} {t.to_state} for flapping {t.host}"
            if t.notify and t.kind == "flapping":
                flapping.add(t.host)
            elif t.notify and t.kind == "stable":
                flapping.discard(t.host)
            if t.notify:
                for name in t.affected:
                    assert not muted_at(cfg, mutes, index, name), f"muted {name} named in {t}"
                for name, state in told_entries(t):
                    if state == State.UP and t.kind in ("state", "uplink_back"):
                        assert told.get(name) in PROBLEMS, f"UP for {name} without a DOWN before: {t}"
                    told[name] = state
                if t.kind != "reminder":
                    key = (t.kind, t.to_state)
                    assert last_alert.get(t.host) != key, f"two {key} alerts in a row for {t.host}"
                    last_alert[t.host] = key
                else:
                    assert told.get(t.host) == State.DOWN and current.get(t.host) == State.DOWN
                for name in t.affected:          # named in another host's message
                    last_alert[name] = (f"{t.kind}:{t.host}", t.to_state)
            if t.kind == "state":
                current[t.host] = t.to_state


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_invariants_hold_for_random_networks(scenario):
    cfg, rounds, mutes, _ = scenario
    run = Driver(cfg)
    per_step = play(run, rounds, mutes)
    try:
        check_invariants(cfg, per_step, mutes)
    except AssertionError as exc:     # say what happened, step by step, to make a failure readable
        story = [f"{i}: {t.host} {t.kind} {t.from_state.value}->{t.to_state.value}"
                 f"{' NOTIFY' if t.notify else ''} {t.affected or ''}"
                 for i, out in enumerate(per_step) for t in out]
        raise AssertionError(f"{exc}\n" + "\n".join(story)) from None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_restoring_at_any_point_gives_the_same_future(scenario):
    cfg, rounds, mutes, cut = scenario
    straight = Driver(cfg)
    expected = play(straight, rounds, mutes)
    first = Driver(cfg)
    play(first, rounds, mutes, 0, cut)
    with tempfile.TemporaryDirectory() as folder:      # through the real store, as a restart does
        conn = Database.in_dir(folder).open()
        state_repo.save(conn, first.engine.states(), [], ["console"], first.clock.now())
        saved = state_repo.load_states(conn)
        conn.close()
    assert saved == {name: HostState.from_dict(json.loads(json.dumps(s.to_dict())))
                     for name, s in first.engine.states().items()}
    restored = Driver(cfg, states=saved, clock=first.clock)
    future = play(restored, rounds, mutes, cut)
    assert [[t.to_dict() for t in out] for out in future] == \
        [[t.to_dict() for t in out] for out in expected[cut:]]


@settings(max_examples=300, deadline=None)
@given(sent=st.integers(0, 10), lost=st.integers(0, 10),
       avg=st.one_of(st.none(), st.floats(0, 2000)), spread=st.floats(0, 500),
       jitter=st.one_of(st.none(), st.floats(0, 300)),
       limits=st.tuples(st.sampled_from([100.0, 50.0, 30.0]), st.sampled_from([None, 20.0, 33.33]),
                        st.sampled_from([None, 100.0]), st.sampled_from([None, 1000.0]),
                        st.sampled_from([None, 30.0]), st.sampled_from([None, 8.0])))
def test_documented_failed_degraded_rules(sent, lost, avg, spread, jitter, limits):
    """classify() follows the rules written in the state module's docstring, for any result."""
    from netwatchd.config.model import Thresholds
    from netwatchd.engine.engine import DEGRADED, FAILED, OK, classify
    from netwatchd.models import ProbeResult

    received = max(0, sent - lost)
    alive = received > 0
    r = ProbeResult(host="a", address="198.18.0.2", probe="icmp", at=FakeClock().now(), alive=alive,
                    sent=sent, received=received, rtt_avg_ms=avg if alive else None,
                    rtt_max_ms=(avg + spread) if alive and avg is not None else None,
                    jitter_ms=jitter if alive else None, stdev_ms=jitter if alive else None)
    down_loss, t_loss, t_avg, t_max, t_jit, t_std = limits
    spec = host("a", down_loss_percent=down_loss,
                thresholds=Thresholds(loss_percent=t_loss, rtt_avg_ms=t_avg, rtt_max_ms=t_max,
                                      jitter_ms=t_jit, stdev_ms=t_std))
    loss = r.loss_percent
    if not alive or loss >= down_loss:
        expected = FAILED
    elif ((t_loss is not None and loss >= t_loss)
          or any(limit is not None and value is not None and value > limit
                 for limit, value in ((t_avg, r.rtt_avg_ms), (t_max, r.rtt_max_ms),
                                      (t_jit, r.jitter_ms), (t_std, r.stdev_ms)))):
        expected = DEGRADED
    else:
        expected = OK
    assert classify(r, spec) == expected
