"""state_repo on a real SQLite file: states + events + outbox in one transaction, mutes, restore."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest

from netwatchd.engine.engine import AlertEngine, HostState
from netwatchd.models import State
from netwatchd.store import state_repo
from netwatchd.store.db import Database
from support.state import CommitFailsOnce, Driver, alerts, config, host


@pytest.fixture
def conn(tmp_path):
    connection = Database.in_dir(tmp_path).open()
    yield connection
    connection.close()


def persist(conn, run: Driver, transitions, destinations=("1",)):
    """Save what the engine decided, as the app does after every ingest."""
    return state_repo.save(conn, run.engine.take_changed(), transitions, list(destinations), run.clock.now())


def outage(run: Driver):
    run.feed({"core": "++", "k1": "++"})
    return run.feed({"core": "---", "k1": "---"})


def test_save_writes_states_events_and_outbox_rows_for_announced_only(conn, clock):
    run = Driver(config([host("core"), host("k1", parent="core")]), clock=clock)
    transitions = outage(run)
    ids = state_repo.save(conn, run.engine.take_changed(), transitions, ["-100123", "-100456"], clock.now())
    assert len(ids) == len(transitions) == 2
    events = conn.execute("SELECT id, host, kind, from_state, to_state FROM events ORDER BY id").fetchall()
    assert [tuple(e)[1:] for e in events] == [("core", "state", "up", "down"), ("k1", "state", "up", "unreachable")]
    rows = conn.execute("SELECT event_id, chat_id, status, payload FROM outbox ORDER BY id").fetchall()
    assert [(r["event_id"], r["chat_id"], r["status"]) for r in rows] == [(ids[0], "-100123", "pending"),
                                                                          (ids[0], "-100456", "pending")]
    assert json.loads(rows[0]["payload"])["affected"] == ["k1"]
    loaded = state_repo.load_states(conn)
    assert loaded["core"].state == State.DOWN and loaded["k1"].state == State.UNREACHABLE
    assert loaded["core"] == run.engine.states()["core"]


def test_a_failing_write_keeps_nothing(conn, clock):
    run = Driver(config([host("a")]), clock=clock)
    persist(conn, run, run.feed({"a": "++"}))
    transitions = run.feed({"a": "---"})
    assert alerts(transitions)
    conn.execute("DROP TABLE outbox")        # the delivery part of the transaction breaks
    with pytest.raises(sqlite3.Error):
        state_repo.save(conn, run.engine.take_changed(), transitions, ["1"], clock.now())
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    assert state_repo.load_states(conn)["a"].state == State.UP
    assert not conn.in_transaction


def test_restart_from_the_store_does_not_realert_and_still_sends_up(conn, clock):
    cfg = config([host("a"), host("b")])
    run = Driver(cfg, clock=clock)
    persist(conn, run, run.feed({"a": "++---", "b": "++---"}))
    persist(conn, run, run.feed({"a": "-"}))
    restarted = Driver(cfg, states=state_repo.load_states(conn), clock=clock)
    assert alerts(restarted.feed({"a": "---", "b": "--"})) == []
    assert alerts(restarted.feed({"a": "++"})) == [("a", "state", "down", "up", True, ())]


def test_recent_events_newest_first_and_by_host(conn, clock):
    run = Driver(config([host("a"), host("b")]), clock=clock)
    persist(conn, run, run.feed({"a": "++---++", "b": "++"}))
    events = state_repo.recent_events(conn)
    assert [(e.host, e.to_state.value) for e in events] == [("a", "up"), ("a", "down"), ("b", "up"), ("a", "up")]
    assert [e.to_state.value for e in state_repo.recent_events(conn, host="A", limit=2)] == ["up", "down"]


def test_mutes_add_replace_expire_and_remove(conn, clock):
    now = clock.now()
    state_repo.add_mute(conn, "Waru", now + timedelta(hours=1), "admin", "router swap", now=now)
    state_repo.add_mute(conn, "kecamatan", now + timedelta(minutes=5), "admin", "", now=now)
    state_repo.add_mute(conn, "waru", now + timedelta(hours=2), "other", "longer", now=now)   # replaces
    active = state_repo.active_mutes(conn, now)
    assert [(m.target, m.until - now, m.by, m.reason) for m in active] == [
        ("kecamatan", timedelta(minutes=5), "admin", ""), ("waru", timedelta(hours=2), "other", "longer")]
    assert [m.target for m in state_repo.active_mutes(conn, now + timedelta(minutes=10))] == ["waru"]
    assert state_repo.remove_mute(conn, "WARU") is True
    assert state_repo.remove_mute(conn, "waru") is False
    assert [m.target for m in state_repo.active_mutes(conn, now)] == ["kecamatan"]


def test_mutes_from_the_store_silence_the_engine(conn, clock):
    cfg = config([host("a", group="kecamatan")])
    engine = AlertEngine(cfg, clock)
    state_repo.add_mute(conn, "kecamatan", clock.now() + timedelta(minutes=1), "admin", "", now=clock.now())
    engine.set_mutes(state_repo.active_mutes(conn, clock.now()))
    run = Driver(cfg, clock=clock)
    run.engine = engine
    assert alerts(run.feed({"a": "++----"})) == []
    assert engine.states()["a"].muted


def test_hoststate_json_survives_the_store_exactly(conn, clock):
    run = Driver(config([host("a", reminder_every=5.0)]), clock=clock)
    transitions = run.feed({"a": "++-----------"})
    state_repo.save(conn, run.engine.states(), transitions, ["console"], clock.now())
    assert state_repo.load_states(conn) == run.engine.states()
    assert HostState.from_dict(json.loads(json.dumps(run.engine.states()["a"].to_dict()))).last_reminder is not None


def test_states_for_the_agents_start_are_decoded_one_host_at_a_time_as_looked_up(conn, clock, monkeypatch):
    """load_states_lazily: the same states as load_states, but none decoded until its host is looked
    up, and each lookup decodes only that host (10,000 states decoded at once pinned ~11 MB)."""
    cfg = config([host("a", reminder_every=5.0), host("b"), host("c")])
    run = Driver(cfg, clock=clock)
    persist(conn, run, run.feed({"a": "++-----------", "b": "++", "c": "+-"}))
    eager = state_repo.load_states(conn)
    decoded: list[str] = []
    loads = json.loads
    monkeypatch.setattr(state_repo.json, "loads", lambda text: decoded.append(text) or loads(text))
    lazy = state_repo.load_states_lazily(conn)
    assert decoded == [] and set(lazy) == set(eager) and len(lazy) == len(eager)
    assert lazy["a"] == eager["a"] and len(decoded) == 1
    assert dict(lazy) == eager
    restarted = Driver(cfg, states=state_repo.load_states_lazily(conn), clock=clock)
    assert restarted.engine.states() == run.engine.states()   # the engine takes the lazy mapping as is
    # until its first result a restored track keeps the stored evidence as one JSON string (a dict
    # of ~1 KB of objects per site was ~10 MB at 10,000), and gives it back whole
    assert eager["a"].evidence and isinstance(restarted.engine._tracks["a"].evidence, str)
    assert restarted.engine.snapshots(["a"])["a"].evidence == eager["a"].evidence
    assert alerts(restarted.feed({"a": "++"})) == [("a", "state", "down", "up", True, ())]


def test_load_states_of_some_hosts(conn, clock):
    run = Driver(config([host(f"h{i}") for i in range(600)]), clock=clock)
    persist(conn, run, run.step(**{f"h{i}": "+" for i in range(600)}))
    wanted = [f"h{i}" for i in range(0, 600, 2)] + ["nope", "h0"]
    assert set(state_repo.load_states(conn, wanted)) == {f"h{i}" for i in range(0, 600, 2)}
    assert state_repo.load_states(conn, []) == {}


def test_hosts_removed_from_the_config_are_kept_for_the_grace_then_forgotten(conn, clock):
    run = Driver(config([host("a"), host("b")]), clock=clock)
    state_repo.save(conn, run.engine.states(), run.feed({"a": "++", "b": "++"}), ["1"], clock.now())
    assert state_repo.retire_hosts(conn, ["a", "__self__"], clock.now(), 3600) == []
    assert set(state_repo.load_states(conn)) == {"a", "b", "__self__"}
    clock.advance(1800)
    assert state_repo.retire_hosts(conn, ["a", "__self__"], clock.now(), 3600) == []   # the clock runs from removal
    clock.advance(1800)
    assert state_repo.retire_hosts(conn, ["a", "__self__"], clock.now(), 3600) == ["b"]
    assert set(state_repo.load_states(conn)) == {"a", "__self__"}
    assert state_repo.retire_hosts(conn, ["a"], clock.now(), 0) == ["__self__"]          # 0: forgotten at once


def test_a_failed_commit_does_not_make_the_next_save_join_a_dead_transaction(conn, clock, tmp_path):
    """After a COMMIT failed, the next save must commit its own rows; joining the transaction the
    failure left open, it returned as if saved and the alert never reached another connection."""
    run = Driver(config([host("a")]), clock=clock)
    persist(conn, run, run.feed({"a": "++"}))
    flaky = CommitFailsOnce(conn)
    transitions = run.feed({"a": "---"})
    changed = run.engine.take_changed()
    with pytest.raises(sqlite3.Error):
        state_repo.save(flaky, changed, transitions, ["1"], clock.now())
    assert flaky.failed and not conn.in_transaction
    state_repo.save(flaky, changed, transitions, ["1"], clock.now())       # the app's retry
    other = Database.in_dir(tmp_path).open()
    try:
        assert other.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
        assert state_repo.load_states(other)["a"].state == State.DOWN
    finally:
        other.close()
