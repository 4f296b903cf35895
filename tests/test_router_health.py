"""Router health: figures from v6 and v7 tables, two looks in a row either way, one alert per pool,
a restart from the uptime, the memory across restarts; and the same read from the stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netwatchd.clock import FakeClock, SystemClock
from netwatchd.config.model import Config, HealthSpec, RouterSpec
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.router.health import HealthReading, HealthWatcher, figures, pool_size, read_health, sensors
from netwatchd.router.watch_session import WatchSession, WatchSessions
from netwatchd.store import router_watch_repo
from netwatchd.store.db import Database

SPEC = HealthSpec(cpu_percent=90, memory_free_percent=10, temperature_c=70, min_voltage=11, pool_used_percent=90)


def tables(cpu: int = 5, free: int = 500, uptime: str = "3d4h", temperature: float = 40.0, voltage: float = 24.0,
           used: int = 2, v6: bool = False) -> dict[str, list[dict[str, Any]]]:
    health = ([{"voltage": voltage, "temperature": temperature}] if v6 else
              [{"name": "voltage", "value": voltage, "type": "V"},
               {"name": "cpu-temperature", "value": temperature, "type": "C"},
               {"name": "board-temperature1", "value": temperature - 5, "type": "C"}])
    return {"resource": [{"uptime": uptime, "cpu-load": cpu, "free-memory": free, "total-memory": 1000}],
            "health": health,
            "pools": [{"name": "dhcp-lan", "ranges": "10.0.0.10-10.0.0.19"}, {"name": "empty", "ranges": ""}],
            "used": [{"pool": "dhcp-lan", "address": f"10.0.0.{10 + i}"} for i in range(used)]}


@pytest.mark.parametrize("v6", [False, True])
def test_figures_from_either_table_form(v6):
    found, uptime = figures(SPEC, tables(cpu=95, free=80, temperature=75, voltage=10.5, used=9, v6=v6))
    by_item = {f.item: f for f in found}
    assert uptime == 3 * 86400 + 4 * 3600
    assert (by_item["cpu"].value, by_item["cpu"].bad) == (95, True)
    assert (by_item["memory"].value, by_item["memory"].bad) == (8.0, True)
    assert (by_item["temperature"].value, by_item["temperature"].bad) == (75, True)
    assert (by_item["voltage"].value, by_item["voltage"].bad) == (10.5, True)
    assert (by_item["pool:dhcp-lan"].value, by_item["pool:dhcp-lan"].detail["size"]) == (90.0, 10)
    assert "pool:empty" not in by_item                      # no addresses: nothing to fill up
    off = HealthSpec(cpu_percent=None, memory_free_percent=None, temperature_c=None, min_voltage=None,
                     pool_used_percent=None)
    assert figures(off, tables(cpu=99))[0] == []


def test_sensors_and_pool_sizes():
    assert sensors([{"name": "psu1-voltage", "value": "24.1", "type": "V"}, {"name": "fan1-speed", "value": "x"}]) == \
        {"psu1-voltage": 24.1}
    assert sensors([{".id": "*0", "voltage": "12.1", "temperature": "38"}]) == {"voltage": 12.1, "temperature": 38.0}
    assert pool_size("10.0.0.10-10.0.0.19,10.0.1.1,192.168.0.0/30") == 15
    assert pool_size("nonsense,10.0.0.9-10.0.0.1") == 0


def watcher(clock: FakeClock, spec: HealthSpec = SPEC, memory: dict | None = None) -> HealthWatcher:
    router = RouterSpec(name="core", address="198.18.0.2", health=spec)
    config = Config(path=Path("/x/hosts.yaml"), data_dir=Path("/x"), routers=(router,))
    return HealthWatcher(config, lambda name: None, clock, memory=memory)  # type: ignore[arg-type,return-value]


def look(w: HealthWatcher, clock: FakeClock, **kw: Any) -> list[tuple[str, str, Any]]:
    """One look a minute after the last; the router's uptime grows with the clock unless given."""
    clock.advance(60)
    kw.setdefault("uptime", f"{3 * 86400 + int(clock.monotonic())}s")
    out = w.judge([HealthReading("core", clock.now(), tables(**kw))])
    return [(t.kind, t.to_state.value, t.evidence.get("item")) for t in out]


def test_two_looks_in_a_row_either_way_one_alert_per_pool(clock):
    w = watcher(clock)
    assert look(w, clock) == []
    assert look(w, clock, cpu=97) == []                     # one busy minute is no alert
    assert look(w, clock, cpu=97, used=9) == [("router_health", "degraded", "cpu")]
    assert look(w, clock, cpu=97, used=10) == [("router_health", "degraded", "pool:dhcp-lan")]
    assert look(w, clock, cpu=10, used=10) == []
    assert look(w, clock, cpu=10, used=2) == [("router_health", "up", "cpu")]
    assert look(w, clock, cpu=10, used=2) == [("router_health", "up", "pool:dhcp-lan")]
    assert look(w, clock) == []


def test_an_uptime_that_went_backwards_is_a_restart(clock):
    w = watcher(clock)
    assert look(w, clock, uptime="10d") == []
    assert look(w, clock, uptime="10d1m") == []
    out = look(w, clock, uptime="45s")
    assert out == [("router_restart", "up", None)]


def test_the_memory_survives_a_restart_of_netwatchd(tmp_path, clock):
    db = Database.in_dir(tmp_path)
    db.migrate()
    conn = db.connect()
    w = watcher(clock)
    look(w, clock, cpu=97)
    look(w, clock, cpu=97, uptime="3d4h1m")
    router_watch_repo.apply(conn, w.pending())
    w.saved(w.pending())
    assert w.pending() == {}
    again = watcher(clock, memory=router_watch_repo.load(conn))
    clock.advance(3600)                                     # an hour later; the router restarted meanwhile
    out = again.judge([HealthReading("core", clock.now(), tables(cpu=97, uptime="20m"))])
    assert [(t.kind, t.evidence.get("item")) for t in out] == [("router_restart", None)]   # no second "cpu" alert
    conn.close()


@pytest.mark.parametrize("personality", ["v6", "v7"])
def test_read_from_the_stand_in(personality):
    with RouterOSStandIn("netwatchd", "pw-health-1234", personality=personality) as server:
        server.resource["cpu-load"] = "93"
        server.health = {"voltage": 10.9, "temperature": 72.0}
        spec = RouterSpec(name="core", address="127.0.0.1", port=server.port, username="netwatchd",
                          password="pw-health-1234", timeout=2.0, health=SPEC)
        session = WatchSession(spec)
        reading = read_health(session, 2.0, SystemClock())
        assert reading.error is None and set(reading.tables) == {"resource", "health", "pools", "used"}
        found = {f.item: f.value for f in figures(SPEC, reading.tables)[0]}
        assert found["cpu"] == 93 and found["voltage"] == 10.9 and found["temperature"] == 72
        session.close()


def test_an_unreachable_router_changes_nothing_and_is_logged_once(clock, caplog):
    with RouterOSStandIn("netwatchd", "pw-health-1234") as server:
        port = server.port
    spec = RouterSpec(name="core", address="127.0.0.1", port=port, username="netwatchd", password="pw-health-1234",
                      timeout=0.5, health=SPEC)
    config = Config(path=Path("/x/hosts.yaml"), data_dir=Path("/x"), routers=(spec,))
    sessions = WatchSessions([spec])
    w = HealthWatcher(config, sessions.get, clock)
    assert w.run_once() == [] and "refused" in w.last_errors["core"]
    assert w.due() == []                                    # next look only after `every`
    clock.advance(SPEC.every + 1)
    assert [r.name for r in w.due()] == ["core"]
    assert caplog.text.count("router health of core not read") == 1
    sessions.close()
