"""Helpers shared by the state tests (no tests here): configs, result factories, a driven engine."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from netwatchd.clock import FakeClock
from netwatchd.config.model import Config, FlapPolicy, HostSpec, SelfCheck, Thresholds
from netwatchd.engine.engine import AlertEngine, HostState, self_check_name
from netwatchd.models import ProbeResult, State, Transition

# One character per probe outcome in the tables.
OK, FAIL, SLOW, LOSSY = "+", "-", "~", "%"


def host(name: str, parent: str | None = None, **kw: Any) -> HostSpec:
    return HostSpec(name=name, address=f"198.18.{len(name)}.{sum(map(ord, name)) % 250 + 1}",
                    parent=parent, retry_interval=1.0, **kw)


def config(hosts: Iterable[HostSpec], **kw: Any) -> Config:
    kw.setdefault("flapping", FlapPolicy(enabled=False))
    return Config(path=Path("/nonexistent/hosts.yaml"), data_dir=Path("/nonexistent"),
                  hosts=tuple(hosts), **kw)


def result(name: str, code: str, at: Any, address: str = "198.18.0.9") -> ProbeResult:
    """A result for outcome `code`: + ok, - no reply, ~ slow (avg 250 ms), % 40 % loss."""
    if code == FAIL:
        return ProbeResult(host=name, address=address, probe="icmp", at=at, alive=False, sent=3,
                           received=0, error="timeout")
    rtts = {OK: [1.0, 1.2, 1.1], SLOW: [240.0, 260.0, 250.0],
            LOSSY: [1.0, 1.1, 1.0, 1.2, 1.0, 1.1, 1.0, 1.2, 1.0, 1.0]}[code]
    sent = 10 if code == LOSSY else 3
    received = 6 if code == LOSSY else 3
    return ProbeResult.from_rtts(host=name, address=address, probe="icmp", at=at, sent=sent,
                                 rtts_ms=rtts[:received])


def brief(t: Transition) -> tuple[Any, ...]:
    """A transition as a compact tuple for exact comparisons in tables."""
    return (t.host, t.kind, t.from_state.value, t.to_state.value, t.notify, t.affected)


def alerts(transitions: Sequence[Transition]) -> list[tuple[Any, ...]]:
    return [brief(t) for t in transitions if t.notify]


class Driver:
    """An engine on a FakeClock, fed one probe round per step (1 s apart)."""

    def __init__(self, cfg: Config, states: dict[str, HostState] | None = None,
                 clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.config = cfg
        self.engine = AlertEngine(cfg, self.clock, states)
        self.log: list[Transition] = []

    def step(self, seconds: float = 1.0, **codes: str) -> list[Transition]:
        """Advance the clock, then one round: keyword = host name, value = outcome code."""
        self.clock.advance(seconds)
        now = self.clock.now()
        batch = [result(name.replace("__", ":") if name.startswith("anchor") else name, code, now)
                 for name, code in codes.items()]
        out = self.engine.ingest(batch)
        out += self.engine.tick()
        self.log += out
        return out

    def feed(self, rounds: dict[str, str], seconds: float = 1.0) -> list[Transition]:
        """Columns of outcomes: {"core": "+++---", "k1": "+++---"} -> one step per column."""
        length = max(len(v) for v in rounds.values())
        out: list[Transition] = []
        for i in range(length):
            out += self.step(seconds, **{h: v[i] for h, v in rounds.items() if i < len(v) and v[i] != " "})
        return out

    def raw(self, batch: list[ProbeResult], seconds: float = 1.0) -> list[Transition]:
        self.clock.advance(seconds)
        out = self.engine.ingest(batch) + self.engine.tick()
        self.log += out
        return out

    def anchors_round(self, code: str, **codes: str) -> list[Transition]:
        """One round with every anchor answering `code`, plus the given sites."""
        self.clock.advance(1.0)
        now = self.clock.now()
        batch = [result(self_check_name(a), code, now) for a in self.config.self_check.anchors]
        batch += [result(name, c, now) for name, c in codes.items()]
        out = self.engine.ingest(batch) + self.engine.tick()
        self.log += out
        return out

    def state(self, name: str) -> State:
        return self.engine.states()[name].state


def with_anchors(cfg: Config, *anchors: str) -> Config:
    return replace(cfg, self_check=SelfCheck(anchors=tuple(anchors)))


NO_THRESHOLDS = Thresholds(loss_percent=None, rtt_avg_ms=None, rtt_max_ms=None)


class CommitFailsOnce:
    """A store connection whose first COMMIT fails (disk full / I/O error) and, as SQLite may do
    then, leaves the transaction open; everything else goes to the real connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self.failed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._connection, name)

    def execute(self, sql: str, *args: object) -> object:
        if sql == "COMMIT" and not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database or disk is full")
        return self._connection.execute(sql, *args)
