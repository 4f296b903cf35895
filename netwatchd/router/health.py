"""A router's own health (`routers[].health`): CPU, memory, temperature, voltage, uptime, IP pools.

Every `health.every` seconds each router with `health:` is read, read-only, on its WatchSession
(every print at once, within the router's `timeout`): /system/resource (cpu-load, free-memory,
total-memory, uptime), /system/health where the board has sensors (v6: one row of properties such
as `voltage=24.1 temperature=41`; v7: one row per sensor, `name=voltage value=24.1 type=V`, as
mktxp's health datasource reads both), /ip/pool and /ip/pool/used (a pool's size from its
`ranges`, its use from the addresses leased out of it; a v7 `total`/`used` is taken when printed).

Each figure is judged like a site (CHECKS looks in a row, so one busy minute is no alert): above
its threshold -> a "router_health" transition to DEGRADED naming the figure and the threshold;
back within it -> one to UP. One alert per IP pool. An uptime shorter than the last look's plus the
time since then means the router restarted in between: one "router_restart" (no CHECKS: it
happened). `judge()` is pure; `read()` is the I/O; the memory (the counters, the last uptime)
survives restarts through the store like the cross-check's (`pending()` / `saved()`).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from netwatchd.clock import Clock, iso_ms
from netwatchd.config.durations import parse_duration
from netwatchd.config.model import Config, HealthSpec, RouterSpec
from netwatchd.errors import RouterError
from netwatchd.models import State, Transition, TransitionKind
from netwatchd.router.values import ros_number
from netwatchd.router.watch_session import Call, WatchSession

log = logging.getLogger(__name__)

HEALTH_KIND: TransitionKind = "router_health"
RESTART_KIND: TransitionKind = "router_restart"
CHECKS = 2
RESTART_SLACK_S = 30.0
READS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "resource": ("/system/resource/print", ("uptime", "cpu-load", "free-memory", "total-memory", "board-name",
                                            "version")),
    "health": ("/system/health/print", None),
    "pools": ("/ip/pool/print", ("name", "ranges", "total", "used")),
    "used": ("/ip/pool/used/print", ("pool", "address")),
}


@dataclass(frozen=True)
class HealthReading:
    """One look at one router: its tables (a table it could not give is missing) or its error."""

    router: str
    at: datetime
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Figure:
    """One figure of a router and its verdict: `bad` when it is past `threshold`."""

    item: str              # cpu | memory | temperature | voltage | pool:NAME
    value: float
    threshold: float
    bad: bool
    detail: dict[str, Any] = field(default_factory=dict)


def sensors(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """/system/health rows of either form -> {sensor name: reading}."""
    found: dict[str, float] = {}
    for row in rows:
        if "name" in row and "value" in row:                  # v7: one row per sensor
            number = ros_number(row["value"])
            if number is not None:
                found[str(row["name"])] = number
            continue
        for key, value in row.items():                       # v6: one row of properties
            number = ros_number(value) if not str(key).startswith(".") else None
            if number is not None:
                found[str(key)] = number
    return found


def pool_size(ranges: Any) -> int:
    """Addresses in a pool's `ranges` ("a-b,c-d", single addresses, or prefixes)."""
    total = 0
    for part in str(ranges or "").split(","):
        part = part.strip()
        try:
            if "-" in part:
                first, last = (ipaddress.ip_address(p.strip()) for p in part.split("-", 1))
                total += max(0, int(last) - int(first) + 1)
            elif "/" in part:
                total += ipaddress.ip_network(part, strict=False).num_addresses
            elif part:
                ipaddress.ip_address(part)
                total += 1
        except ValueError:
            continue
    return total


def figures(spec: HealthSpec, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[list[Figure], float | None]:
    """The figures a reading gives for the thresholds set in `spec`, and the uptime in seconds."""
    found: list[Figure] = []
    resource = tables.get("resource") or [{}]
    row = resource[0] if resource else {}
    uptime: float | None = None
    try:
        uptime = parse_duration(row["uptime"]) if "uptime" in row else None
    except ValueError:
        uptime = None
    cpu = ros_number(row.get("cpu-load"))
    if spec.cpu_percent is not None and cpu is not None:
        found.append(Figure("cpu", cpu, spec.cpu_percent, cpu >= spec.cpu_percent, {"unit": "%"}))
    free, total = ros_number(row.get("free-memory")), ros_number(row.get("total-memory"))
    if spec.memory_free_percent is not None and free is not None and total:
        percent = round(100.0 * free / total, 1)
        found.append(Figure("memory", percent, spec.memory_free_percent, percent < spec.memory_free_percent,
                            {"unit": "%", "free_bytes": int(free), "total_bytes": int(total)}))
    readings = sensors(tables.get("health", ()))
    temperatures = {k: v for k, v in readings.items() if "temperature" in k}
    if spec.temperature_c is not None and temperatures:
        name, value = max(temperatures.items(), key=lambda kv: kv[1])
        found.append(Figure("temperature", value, spec.temperature_c, value > spec.temperature_c,
                            {"unit": "°C", "sensor": name}))
    voltages = {k: v for k, v in readings.items() if "voltage" in k}
    if spec.min_voltage is not None and voltages:
        name, value = min(voltages.items(), key=lambda kv: kv[1])
        found.append(Figure("voltage", value, spec.min_voltage, value < spec.min_voltage,
                            {"unit": "V", "sensor": name}))
    if spec.pool_used_percent is not None and "pools" in tables:
        used: dict[str, int] = {}
        for lease in tables.get("used", ()):
            used[str(lease.get("pool"))] = used.get(str(lease.get("pool")), 0) + 1
        for pool in tables["pools"]:
            name = str(pool.get("name", ""))
            size = int(ros_number(pool.get("total")) or 0) or pool_size(pool.get("ranges"))
            printed = "used" in pool and "used" not in tables           # v7 may print it; else count the leases
            taken = int(ros_number(pool.get("used")) or 0) if printed else used.get(name, 0)
            if not name or size <= 0:
                continue
            percent = round(100.0 * taken / size, 1)
            found.append(Figure(f"pool:{name}", percent, spec.pool_used_percent, percent >= spec.pool_used_percent,
                                {"unit": "%", "pool": name, "used": taken, "size": size}))
    return found, uptime


def read_health(session: WatchSession, timeout: float, clock: Clock) -> HealthReading:
    """Read the health tables of `session`'s router at once, within `timeout` s. Never raises: a
    router that cannot be reached gives a reading with `error`; a table it refuses is left out."""
    deadline = time.monotonic() + timeout
    calls: dict[str, Call] = {}
    try:
        for name, (command, proplist) in READS.items():
            calls[name] = session.start(command, proplist=proplist, connect_timeout=deadline - time.monotonic())
    except RouterError as exc:
        return HealthReading(session.name, clock.now(), error=str(exc))
    tables: dict[str, list[dict[str, Any]]] = {}
    errors: list[str] = []
    for name, call in calls.items():
        if not call.wait(deadline - time.monotonic()):
            session.expired(call)
            errors.append(f"{READS[name][0]}: no reply within {timeout:g} s")
        elif call.error is not None:
            errors.append(str(call.error))
        elif call.trap is not None:
            log.debug("router %s: %s", session.name, call.trap)
        else:
            tables[name] = call.rows
    error = None if "resource" in tables else (errors[0] if errors else "no /system/resource")
    return HealthReading(session.name, clock.now(), tables, error)


class HealthWatcher:
    """Looks at every router with `health:` when it is due (`run_once()`, or `read()` + `judge()`).

    Its memory per router: {"uptime_s", "at", "items": {item: {"bad": n, "good": n, "announced": bool}}}.
    """

    def __init__(self, config: Config, sessions: Callable[[str], WatchSession], clock: Clock, *,
                 memory: Mapping[str, dict[str, Any]] | None = None) -> None:
        self.config = config
        self.sessions = sessions
        self.clock = clock
        self.last_errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._memory: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (memory or {}).items()}
        self._dirty: set[str] = set()
        self._next: dict[str, float] = {}

    def replace_config(self, config: Config) -> None:
        self.config = config

    def watched(self) -> list[RouterSpec]:
        return [r for r in self.config.routers if r.health is not None]

    def due(self) -> list[RouterSpec]:
        """Routers whose next look is due now (each one `health.every` after its last)."""
        now = self.clock.monotonic()
        return [r for r in self.watched() if self._next.get(r.name, 0.0) <= now]

    def read(self, routers: Iterable[RouterSpec] | None = None) -> list[HealthReading]:
        """The I/O half: one look at each router (the due ones by default). Never raises."""
        readings = []
        for spec in (self.due() if routers is None else routers):
            assert spec.health is not None
            self._next[spec.name] = self.clock.monotonic() + spec.health.every
            try:
                session = self.sessions(spec.name)
            except RouterError as exc:
                readings.append(HealthReading(spec.name, self.clock.now(), error=str(exc)))
                continue
            readings.append(read_health(session, spec.timeout, self.clock))
        return readings

    def run_once(self) -> list[Transition]:
        return self.judge(self.read())

    def judge(self, readings: Iterable[HealthReading]) -> list[Transition]:
        """The logic half: the transitions a set of readings decides (maybe none)."""
        specs = {r.name: r for r in self.watched()}
        out: list[Transition] = []
        with self._lock:
            for gone in [name for name in self._memory if name not in {r.name for r in self.config.routers}]:
                del self._memory[gone]
                self._dirty.add(gone)
            for reading in readings:
                spec = specs.get(reading.router)
                if spec is None or spec.health is None:
                    continue
                if reading.error is not None:
                    if self.last_errors.get(spec.name) != reading.error:
                        log.warning("router health of %s not read: %s", spec.name, reading.error)
                    self.last_errors[spec.name] = reading.error
                    continue
                self.last_errors.pop(spec.name, None)
                out += self._judge_one(spec, reading)
        return out

    def _judge_one(self, spec: RouterSpec, reading: HealthReading) -> list[Transition]:
        assert spec.health is not None
        found, uptime = figures(spec.health, reading.tables)
        memory = dict(self._memory.get(spec.name, {}))
        items: dict[str, dict[str, Any]] = {k: dict(v) for k, v in memory.get("items", {}).items()}
        out: list[Transition] = []
        previous, seen_at = memory.get("uptime_s"), memory.get("at")
        if uptime is not None and previous is not None and seen_at:
            elapsed = (reading.at - datetime.fromisoformat(seen_at)).total_seconds()
            if uptime + RESTART_SLACK_S < float(previous) + elapsed:
                out.append(self._transition(spec, RESTART_KIND, State.UP, State.UP, reading.at,
                                            {"uptime_s": round(uptime), "previous_uptime_s": round(float(previous)),
                                             "last_look": seen_at}))
        if uptime is not None:
            memory.update(uptime_s=uptime, at=iso_ms(reading.at))
        present = set()
        for figure in found:
            present.add(figure.item)
            state = items.get(figure.item, {"bad": 0, "good": 0, "announced": False})
            state["bad"], state["good"] = (state["bad"] + 1, 0) if figure.bad else (0, state["good"] + 1)
            evidence = {"item": figure.item, "value": figure.value, "threshold": figure.threshold, **figure.detail}
            if figure.bad and not state["announced"] and state["bad"] >= CHECKS:
                state["announced"] = True
                out.append(self._transition(spec, HEALTH_KIND, State.UP, State.DEGRADED, reading.at, evidence))
            elif not figure.bad and state["announced"] and state["good"] >= CHECKS:
                state["announced"] = False
                out.append(self._transition(spec, HEALTH_KIND, State.DEGRADED, State.UP, reading.at, evidence))
            items[figure.item] = state
        for item in [i for i in items if i not in present and i.startswith("pool:")]:
            del items[item]                                    # the pool is gone: nothing to recover
        memory["items"] = items
        if memory != self._memory.get(spec.name):
            self._memory[spec.name] = memory
            self._dirty.add(spec.name)
        return out

    def _transition(self, spec: RouterSpec, kind: TransitionKind, old: State, new: State, at: datetime,
                    evidence: dict[str, Any]) -> Transition:
        return Transition(host=spec.name, address=spec.address, group="router", kind=kind, from_state=old,
                          to_state=new, at=at, evidence={"router": spec.name, **evidence})

    # -- memory for the store -------------------------------------------------------------------

    def memory(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._memory.items()}

    def pending(self) -> dict[str, dict[str, Any] | None]:
        """Routers whose memory changed since it was last stored (None: delete it)."""
        with self._lock:
            return {name: (dict(self._memory[name]) if name in self._memory else None) for name in self._dirty}

    def saved(self, writes: Mapping[str, dict[str, Any] | None]) -> None:
        with self._lock:
            for name, value in writes.items():
                if self._memory.get(name) == value or (value is None and name not in self._memory):
                    self._dirty.discard(name)

