"""The periodic cross-check (`crosscheck_every`): alert when the router's Netwatch and netwatchd
lastingly disagree about a site, and say once when they agree again.

Per (router, site) the watcher follows a small state machine (CHECKS = 2):

    agree ──disagree──► seen once ──disagree──► announced ("NETWATCH DISAGREES" sent)
      ▲                    │ agree / not comparable       │ agree in CHECKS checks in a row
      └────────────────────┘                              ▼
      ◄──────────────────────────────────────── "agrees again" sent

Two checks in a row either way, so a lossy link whose `simple` Netwatch entry flips on single
lost echoes produces neither a disagreement nor a disagree/agree pair every few minutes.
A check where one side does not know (netwatchd just started, the router's status is unknown)
neither confirms nor ends a disagreement: a "seen once" is dropped, an announced one keeps
waiting. An announced disagreement whose pairing is gone (site removed or disabled in hosts.yaml,
entry removed or disabled on the router, router removed from the config) is forgotten without a
message: there is nothing left to agree. A router that cannot be read changes nothing (its
one-line error is kept in `last_errors`).

Side effects stay at the edges: `read()` does the I/O (routers, netwatchd's states), `judge()` is
the logic, `run_once()` is both. The watcher's memory (`SiteWatch` rows) survives restarts: the
caller loads it into the constructor and saves `pending()` in the same transaction as the
transitions `judge()` returned, then calls `saved()` (the agent does both in `_persist`).
A "seen once" older than STALE_PERIODS check periods (netwatchd was stopped in between) starts
over; an announced disagreement never goes stale, so its agree-again is sent whenever it comes.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from netwatchd.clock import Clock
from netwatchd.config.model import Config
from netwatchd.errors import RouterError
from netwatchd.models import State, Transition, TransitionKind
from netwatchd.router.netwatch import Comparison, NetwatchEntry, crosscheck, read_netwatch

log = logging.getLogger(__name__)
KIND: TransitionKind = "crosscheck"
AGREE_KIND: TransitionKind = "crosscheck_agree"
CHECKS_TO_DISAGREE = 2
CHECKS_TO_AGREE = 2
STALE_PERIODS = 2.5
DEFAULT_PERIOD = 300.0          # seconds, when crosscheck_every is off but run_once() is called anyway

Key = tuple[str, str]           # (router, site)


@dataclass(frozen=True)
class SiteWatch:
    """What the watcher remembers about one (router, site) that does not simply agree."""

    router: str
    site: str
    disagree_checks: int
    agree_checks: int
    announced: bool
    since: datetime             # the first disagreeing check
    last_checked: datetime      # the last check that changed this record
    router_status: str          # up | down, at the last disagreeing check
    netwatchd_state: str        # netwatchd's state name then
    entry: str = ""             # the router entry's label

    @property
    def key(self) -> Key:
        return (self.router, self.site)


@dataclass(frozen=True)
class PendingWrites:
    """Changes of the watcher's memory not yet stored: rows to write and keys to delete."""

    upserts: tuple[SiteWatch, ...] = ()
    deletes: tuple[Key, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)


@dataclass(frozen=True)
class Reading:
    """One round of I/O: every configured router's Netwatch table (or its error) and netwatchd's states."""

    routers: tuple[str, ...]
    tables: dict[str, list[NetwatchEntry]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    states: Mapping[str, Any] = field(default_factory=dict)


class CrossCheckWatcher:
    """Call `run_once()` every config.crosscheck_every seconds (the agent's loop does)."""

    def __init__(self, config: Config, routers: Any, clock: Clock, *,
                 load_states: Callable[[], Mapping[str, Any]], memory: Iterable[SiteWatch] = ()) -> None:
        self.config = config
        self.routers = routers          # a RouterPool (names(), get(name))
        self.clock = clock
        self.load_states = load_states
        self.last_errors: dict[str, str] = {}
        self._lock = threading.Lock()
        watched = {h.name for h in config.hosts}
        # only this agent's sites: with --shard, agents sharing a store never touch each other's rows
        self._memory: dict[Key, SiteWatch] = {w.key: w for w in memory if w.site in watched}
        self._dirty: set[Key] = set()

    def replace_config(self, config: Config) -> None:
        self.config = config

    # -- the round ----------------------------------------------------------------------------------

    def run_once(self) -> list[Transition]:
        """Check every router now; returns the transitions to announce (maybe none). Never raises
        for a router's failure."""
        return self.judge(self.read())

    def read(self) -> Reading:
        """The I/O half: every router's Netwatch table, then netwatchd's states (so both sides are
        read as close together as possible). Never raises for a router's failure."""
        names = tuple(self.routers.names())
        reading = Reading(routers=names)
        for name in names:
            try:
                reading.tables[name] = read_netwatch(self.routers.get(name))
            except RouterError as exc:
                reading.errors[name] = str(exc)
                log.warning("cross-check skipped: %s", exc)
        return dataclasses.replace(reading, states=self.load_states())

    def judge(self, reading: Reading) -> list[Transition]:
        """The logic half: update the memory from one Reading; returns the transitions to announce."""
        now = self.clock.now()
        announce: list[Transition] = []
        with self._lock:
            for name, error in reading.errors.items():
                self.last_errors[name] = error
            for name in [*reading.tables, *(n for n in self.last_errors if n not in reading.routers)]:
                self.last_errors.pop(name, None)
            for key in [k for k in self._memory if k[0] not in reading.routers]:
                self._forget(key, "its router is no longer configured")
            for name, entries in reading.tables.items():
                check = crosscheck(entries, self.config, reading.states, router=name)
                compared = {c.site: c for c in check.both}
                for key in [k for k in self._memory if k[0] == name and k[1] not in compared]:
                    self._forget(key, "the site or its Netwatch entry is gone")
                for comparison in compared.values():
                    transition = self._step(name, comparison, now)
                    if transition is not None:
                        announce.append(transition)
        return announce

    # -- memory for the store -----------------------------------------------------------------------

    def memory(self) -> list[SiteWatch]:
        with self._lock:
            return sorted(self._memory.values(), key=lambda w: w.key)

    def pending(self) -> PendingWrites:
        """A snapshot of the changes to store (empty when nothing changed)."""
        with self._lock:
            upserts = tuple(self._memory[k] for k in sorted(self._dirty) if k in self._memory)
            deletes = tuple(k for k in sorted(self._dirty) if k not in self._memory)
        return PendingWrites(upserts, deletes)

    def saved(self, writes: PendingWrites) -> None:
        """`writes` (from pending()) are stored: stop reporting them, unless they changed since."""
        with self._lock:
            for row in writes.upserts:
                if self._memory.get(row.key) == row:
                    self._dirty.discard(row.key)
            for key in writes.deletes:
                if key not in self._memory:
                    self._dirty.discard(key)

    # -- internals ----------------------------------------------------------------------------------

    def _put(self, row: SiteWatch) -> None:
        if self._memory.get(row.key) != row:
            self._memory[row.key] = row
            self._dirty.add(row.key)

    def _forget(self, key: Key, why: str = "") -> None:
        row = self._memory.pop(key, None)
        if row is None:
            return
        self._dirty.add(key)
        if row.announced and why:
            log.info("cross-check: no longer following %s on router %s (%s); no agree-again is sent",
                     key[1], key[0], why)

    def _stale(self, row: SiteWatch, now: datetime) -> bool:
        period = self.config.crosscheck_every or DEFAULT_PERIOD
        return (now - row.last_checked).total_seconds() > STALE_PERIODS * period

    def _step(self, router: str, c: Comparison, now: datetime) -> Transition | None:
        key = (router, c.site)
        row = self._memory.get(key)
        if c.agree is False:
            if row is None or (not row.announced and self._stale(row, now)):
                row = SiteWatch(router, c.site, 1, 0, False, now, now, c.router, c.ours_detail, c.entry)
            else:
                row = dataclasses.replace(row, disagree_checks=row.disagree_checks + 1, agree_checks=0,
                                          last_checked=now, router_status=c.router,
                                          netwatchd_state=c.ours_detail, entry=c.entry)
            transition = None
            if not row.announced and row.disagree_checks >= CHECKS_TO_DISAGREE:
                row = dataclasses.replace(row, announced=True)
                transition = self._disagreement(router, c, now)
            self._put(row)
            return transition
        if row is None:
            return None
        if c.agree is True:
            if not row.announced:
                self._forget(key)
                return None
            row = dataclasses.replace(row, agree_checks=row.agree_checks + 1, last_checked=now)
            if row.agree_checks >= CHECKS_TO_AGREE:
                self._forget(key)
                return self._agreement(row, c, now)
            self._put(row)
            return None
        # not comparable now: one side does not know, or the router's entry is disabled
        if not row.announced:
            self._forget(key)
        elif c.router == "disabled":
            self._forget(key, "its Netwatch entry is disabled")
        elif row.agree_checks:
            self._put(dataclasses.replace(row, agree_checks=0, last_checked=now))
        return None

    def _evidence(self, router: str, c: Comparison) -> dict[str, Any]:
        host = self.config.host(c.site)
        evidence: dict[str, Any] = {
            "router": router, "router_entry": c.entry, "router_status": c.router,
            "router_since": c.router_since.isoformat(timespec="seconds") if c.router_since else None,
            "netwatchd_state": c.ours_detail,
            "netwatchd_since": c.ours_since.isoformat(timespec="seconds") if c.ours_since else None}
        if c.entry_type:
            evidence["router_type"] = c.entry_type
        if host is not None:
            evidence.update(down_after=host.down_after, up_after=host.up_after)
        return evidence

    def _disagreement(self, router: str, c: Comparison, now: datetime) -> Transition:
        host = self.config.host(c.site)
        return Transition(
            host=c.site, address=c.address, group=host.group if host else "", kind=KIND,
            from_state=_state(c.ours_detail), to_state=State.UP if c.router == "up" else State.DOWN,
            at=now, since=c.ours_since, evidence=self._evidence(router, c))

    def _agreement(self, row: SiteWatch, c: Comparison, now: datetime) -> Transition:
        """Both sides say the same again: from and to are that state (nothing changed state here);
        `since` is when the disagreement was first seen, so the message can say how long it lasted."""
        host = self.config.host(c.site)
        evidence = self._evidence(row.router, c)
        evidence.update(was_router_status=row.router_status, was_netwatchd_state=row.netwatchd_state)
        agreed = _state(c.ours_detail)
        return Transition(host=c.site, address=c.address, group=host.group if host else "", kind=AGREE_KIND,
                          from_state=agreed, to_state=agreed, at=now, since=row.since, evidence=evidence)


def _state(name: str) -> State:
    return State(name) if name in State._value2member_map_ else State.UNKNOWN
