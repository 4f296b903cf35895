"""When each host is probed: its own interval, spread out, re-probed quickly while failing.

Two layers:
- `DueSchedule` is pure bookkeeping on monotonic seconds (a heap of next-due times): first probes
  are spread across each host's interval by a stable hash of its name (no thundering herd, and
  the same phase after a restart), a failing/settling host comes back after `retry_interval`,
  a probe that overran its period is run again once (missed runs are coalesced and counted,
  never stacked). Tested with a FakeClock and no sleeping.
- `ProbeLoop` asks it which hosts are due, probes them and hands the results on. Every healthy
  ICMP host due in one tick goes into one engine round, the failing ones (being retried) into a
  second round, so that hosts waiting out their timeouts do not hold back the healthy hosts'
  results; every other host (tcp/http/dns) gets its own task;
  ICMP rounds and the other probes run in separate worker pools, so a slow HTTP site never delays
  a ping and a slow round never delays the next tick. A host in flight is never dispatched again
  until its result is back. A ticker thread calls `run_once` every `tick` seconds of the
  monotonic clock (a late tick is one run, never a burst).

Why not APScheduler for the tick: its interval trigger counts in wall time (the next run is the
previous run's wall time plus the interval), so after the system clock stepped back an hour it
waited an hour before probing again. Every wait here is monotonic; the wall clock only stamps
results (`ProbeResult.at`), and a result probed across a step is re-stamped in today's frame.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any, NamedTuple

from netwatchd.clock import STEP_TOLERANCE, Clock, wall_offset
from netwatchd.config.model import HostSpec
from netwatchd.errors import NetwatchError
from netwatchd.models import ProbeResult

log = logging.getLogger(__name__)

ProbeFn = Callable[..., list[ProbeResult]]
"""probe_fn(hosts: Sequence[HostSpec], *, clock: Clock) -> list[ProbeResult] (e.g. probes.probe_hosts)."""
PROBE_TICK_SECONDS = 0.05
"""How often the agent's schedule is looked at: part of every detection delay."""
BIG_SCHEDULE_SITES = 2_000
BIG_PROBE_TICK_SECONDS = 0.2
"""The tick from BIG_SCHEDULE_SITES sites on, each host taken up to one tick before its slot."""


def probe_pace(sites: int) -> tuple[float, float]:
    """(tick, early) for a schedule of `sites` hosts: how often it is looked at, and how long before
    its slot a host may be taken.

    Below BIG_SCHEDULE_SITES: every 50 ms, each host when due (up to 50 ms after its slot). From
    it on, every 200 ms, taking each host due within the next 200 ms: its probe starts between
    200 ms before its slot and its slot, never later because of the tick. A round has a fixed cost
    (waking threads and caches, the socket, two transactions: ~0.4-0.7 ms whatever its size), and
    at 10,000 sites a 50 ms tick made 20 rounds a second of ~50 sites: ~3 points of a core more
    than 5 rounds of ~200 (measured with the whole agent: 12.2 % at 50 ms, 9.2 % at 200 ms)."""
    if sites >= BIG_SCHEDULE_SITES:
        return BIG_PROBE_TICK_SECONDS, BIG_PROBE_TICK_SECONDS
    return PROBE_TICK_SECONDS, 0.0
SLOT_SECONDS = 0.01
"""Width of a DueSchedule slot: hosts due within one are kept in one list."""


def spread_offset(name: str, interval: float) -> float:
    """A stable offset in [0, interval) for a host name: same name, same phase, every start."""
    return (zlib.crc32(name.encode("utf-8")) / 2 ** 32) * interval


class Due(NamedTuple):
    """A host taken off the schedule to be probed: when it was due and how many runs it missed.
    (A NamedTuple: one is made per host per probe run, ~3x cheaper than a frozen dataclass.)"""

    host: HostSpec
    due_at: float
    missed: int = 0

    @property
    def latest_slot(self) -> float:
        """The latest due moment that had passed when the host was taken (due_at plus the missed
        periods): the next run is counted from here, so a late tick is one run, not a second one
        right after it, and its missed runs are not counted (and logged) twice."""
        return self.due_at + self.missed * max(self.host.interval, 1e-3)


class DueSchedule:
    """Next-due times of hosts (monotonic seconds). Not thread-safe: ProbeLoop locks around it."""

    def __init__(self) -> None:
        # a timing wheel: due entries (due, generation, name) in slots of SLOT_SECONDS, plus a heap
        # of the slot numbers in use (a few hundred). A tick takes whole slots (a list each) instead
        # of popping a 10,000-entry heap host by host, ~13 cold tuple comparisons per pop.
        self._slots: dict[int, list[tuple[float, int, str]]] = {}
        self._slot_keys: list[int] = []
        # name -> its live entry in a slot, the same tuple (due, generation, name) when queued: a
        # slot's entry is stale when it is not this one (a second tuple per host was 0.6 MB at 10,000)
        self._entry: dict[str, tuple[float, int, str]] = {}
        self._hosts: dict[str, HostSpec] = {}
        self._in_flight: set[str] = set()
        self._generation = 0

    # -- membership ------------------------------------------------------------------------
    def hosts(self) -> list[HostSpec]:
        return list(self._hosts.values())

    def host(self, name: str) -> HostSpec | None:
        return self._hosts.get(name)

    def due_time(self, name: str) -> float | None:
        """When the host is next due, None while it is being probed (or unknown)."""
        entry = self._entry.get(name)
        return entry[0] if entry else None

    def is_in_flight(self, name: str) -> bool:
        return name in self._in_flight

    def add(self, host: HostSpec, now: float, due: float | None = None) -> None:
        """Schedule a new (or changed) host: at `due`, or spread within its first interval."""
        self._hosts[host.name] = host
        if host.name not in self._in_flight:
            self._push(host.name, now + spread_offset(host.name, host.interval) if due is None else due)

    def remove(self, name: str) -> None:
        self._hosts.pop(name, None)
        self._entry.pop(name, None)
        self._in_flight.discard(name)

    def replace(self, hosts: Iterable[HostSpec], now: float) -> None:
        """Reload: unchanged hosts keep their due time; a host whose interval changed is re-spread;
        other changes apply from its next probe; removed hosts go; disabled ones are left out."""
        wanted = {h.name: h for h in hosts if not h.disabled}
        for name in list(self._hosts):
            if name not in wanted:
                self.remove(name)
        for name, host in wanted.items():
            old = self._hosts.get(name)
            if old is None:
                self.add(host, now)
            elif old.interval != host.interval and name not in self._in_flight:
                self._hosts[name] = host
                self._push(name, now + spread_offset(name, host.interval))
            else:
                self._hosts[name] = host

    def expedite(self, name: str, now: float) -> bool:
        """Make a queued host due at `now` (a dependency check wants it probed at once).

        Returns False for unknown hosts and hosts already being probed (never stacked)."""
        entry = self._entry.get(name)
        if entry is None or name in self._in_flight:
            return False
        if entry[0] > now:
            self._push(name, now)
        return True

    # -- the clockwork ---------------------------------------------------------------------
    def _push(self, name: str, due: float) -> None:
        self._generation = generation = self._generation + 1
        self._entry[name] = item = (due, generation, name)
        key = int(due // SLOT_SECONDS)
        slot = self._slots.get(key)
        if slot is None:
            self._slots[key] = [item]
            heapq.heappush(self._slot_keys, key)
        else:
            slot.append(item)

    def next_due(self) -> float | None:
        """The earliest due time queued (None when nothing is queued)."""
        keys, slots, entry = self._slot_keys, self._slots, self._entry
        while keys:
            key = keys[0]
            live = [item for item in slots[key] if entry.get(item[2]) is item]
            if live:
                slots[key] = live
                return min(item[0] for item in live)
            del slots[key]              # only stale entries (removed or rescheduled hosts)
            heapq.heappop(keys)
        return None

    def take_due(self, now: float, until: float | None = None) -> list[Due]:
        """Take every host due by `until` (default: `now`) off the schedule (it is then in
        flight), in due order.

        A host more than one period late at `now` had runs missed: they are coalesced into this
        one run and counted in `Due.missed`.
        """
        horizon = now if until is None else max(now, until)
        keys, slots = self._slot_keys, self._slots
        last = int(horizon // SLOT_SECONDS)
        found: list[tuple[float, int, str]] = []
        while keys and keys[0] <= last:
            key = keys[0]
            slot = slots[key]
            if key < last:              # the whole slot is due
                found.extend(slot)
            else:                       # the slot `horizon` is in: only what is due by then
                later = [item for item in slot if item[0] > horizon]
                if later:
                    found.extend(item for item in slot if item[0] <= horizon)
                    slots[key] = later
                    break
                found.extend(slot)
            del slots[key]
            heapq.heappop(keys)
        taken: list[Due] = []
        if not found:
            return taken
        entry, hosts, in_flight = self._entry, self._hosts, self._in_flight
        found.sort()
        for item in found:
            due, _, name = item
            if entry.get(name) is not item:
                continue  # stale: removed or rescheduled
            del entry[name]
            host = hosts[name]
            in_flight.add(name)
            period = host.interval if host.interval > 1e-3 else 1e-3
            late = now - due
            taken.append(Due(host, due, int(late // period) if late >= period else 0))
        return taken

    def finish(self, name: str, due_at: float, finished_at: float, *, retry: bool) -> tuple[float, int]:
        """A probe of `name` (due at `due_at`) is handled; queue its next run.

        Next due = due_at + (retry_interval if retry else interval), keeping the phase. When that
        moment has already passed (the probe took longer than the period), the host is due
        at once, a single run for all the missed ones. Returns (next due, runs missed).
        Unknown/removed hosts are dropped silently (returns (inf, 0)).
        """
        self._in_flight.discard(name)
        host = self._hosts.get(name)
        if host is None:
            return float("inf"), 0
        period = max(host.retry_interval if retry else host.interval, 1e-3)
        next_due = due_at + period
        missed = 0
        if next_due < finished_at:
            missed = int((finished_at - next_due) // period) + 1
            next_due = finished_at
        self._push(name, next_due)
        return next_due, missed


class ProbeLoop:
    """Probes due hosts, hands their results to `on_results`, decides when each comes back.

    `probe_fn(hosts, clock=clock)` probes a batch; `on_results(results)` is called once per
    finished batch, never concurrently; `needs_retry(host_name)` (asked after on_results)
    says whether the host should come back after its retry_interval instead of its interval.

    A round lasts until its slowest host's last echo times out (count, packet_interval and
    timeout), so with a dead site in most ticks about tick_rate x that many rounds run at once:
    `icmp_workers` (threads are only started when needed) bounds them; beyond it rounds queue
    and their hosts are logged as late. `on_lateness(seconds)` (optional) gets, as each batch
    starts, how late each of its hosts is (start - due time, 0 for a host taken early; the
    metrics' lateness histogram). `early`: how long before its slot a host may be taken (see
    probe_pace; 0 = only when due).
    `settling(names)` (optional) answers needs_retry for a whole batch at once: the names among
    `names` that need a retry.
    """

    def __init__(self, hosts: Sequence[HostSpec], *, probe_fn: ProbeFn,
                 on_results: Callable[[list[ProbeResult]], Any],
                 needs_retry: Callable[[str], bool], clock: Clock, tick: float = 0.1, early: float = 0.0,
                 icmp_workers: int = 32, other_workers: int = 32,
                 on_lateness: Callable[[list[float]], Any] | None = None,
                 settling: Callable[[list[str]], Iterable[str]] | None = None) -> None:
        self._probe_fn = probe_fn
        self._settling = settling
        self._on_results = on_results
        self._on_lateness = on_lateness
        self._needs_retry = needs_retry
        self._clock = clock
        self._tick = tick
        self._early = early
        self._lock = threading.Lock()
        self._results_lock = threading.Lock()
        self._schedule = DueSchedule()
        self._schedule.replace(hosts, clock.monotonic())
        self._icmp_workers = icmp_workers
        self._other_workers = other_workers
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_failure: str | None = None
        self._retrying: set[str] = set()

    # -- introspection (status page, tests) ------------------------------------------------
    def due_time(self, name: str) -> float | None:
        with self._lock:
            return self._schedule.due_time(name)

    def hosts(self) -> list[HostSpec]:
        with self._lock:
            return self._schedule.hosts()

    # -- one step ----------------------------------------------------------------------------
    def run_once(self, *, wait: bool = True) -> list[ProbeResult]:
        """Probe every host due now; results go to on_results batch by batch.

        wait=True (tests, one-shot use): block until this tick's batches are handled and return
        their results. wait=False (the scheduler): dispatch and return [] at once.
        """
        healthy: list[Due] = []
        failing: list[Due] = []
        others: list[Due] = []
        with self._lock:
            now = self._clock.monotonic()
            taken = self._schedule.take_due(now, now + self._early)
            if not taken:
                return []
            # one pass: failing sites wait out their timeouts in a round of their own, so the
            # healthy sites due in the same tick get their results in milliseconds
            retrying = self._retrying
            for due in taken:
                host = due[0]
                if host.probe != "icmp":
                    others.append(due)
                elif host.name in retrying:
                    failing.append(due)
                else:
                    healthy.append(due)
        for due in taken:
            if due[2]:
                log.warning("%s: %d probe run(s) missed (the previous round was late); coalesced into one",
                            due.host.name, due.missed)
        run = self._run_batch
        futures: list[Future[list[ProbeResult]]] = []
        if healthy or failing:
            icmp = self._pool("icmp")
            futures.extend(icmp.submit(run, batch) for batch in (healthy, failing) if batch)
        if others:
            other = self._pool("other")
            futures.extend(other.submit(run, [due]) for due in others)
        if not wait:
            return []
        results: list[ProbeResult] = []
        for future in futures:
            results.extend(future.result())
        return results

    def _pool(self, kind: str) -> ThreadPoolExecutor:
        pool = self._pools.get(kind)      # started once: no lock needed to find it again
        if pool is not None:
            return pool
        with self._lock:
            pool = self._pools.get(kind)
            if pool is None:
                workers = self._icmp_workers if kind == "icmp" else self._other_workers
                pool = self._pools[kind] = ThreadPoolExecutor(max_workers=workers,
                                                              thread_name_prefix=f"probe-{kind}")
            return pool

    def _run_batch(self, batch: list[Due]) -> list[ProbeResult]:
        clock = self._clock
        hosts = [d[0] for d in batch]
        names = [h.name for h in hosts]
        offset = wall_offset(clock)
        if self._on_lateness is not None:
            started = clock.monotonic()
            try:
                self._on_lateness([started - d[1] if started > d[1] else 0.0 for d in batch])
            except Exception:
                log.exception("recording the probe lateness failed")
        try:
            results = list(self._probe_fn(hosts, clock=clock))
            self._last_failure = None
        except Exception as exc:  # noqa: BLE001 - keep the loop alive; no made-up results (no false alerts)
            text = str(exc) if isinstance(exc, NetwatchError) else f"{type(exc).__name__}: {exc}"
            if text != self._last_failure:
                log.error("probing %d host(s) failed: %s", len(hosts), text)
                self._last_failure = text
            results = []
        with self._lock:
            scheduled = self._schedule.host
            known = {name for name in names if scheduled(name) is not None}
        results = [r for r in results if r.host in known]
        with self._results_lock:
            if results:
                results = _restamp(results, wall_offset(clock) - offset)
                try:
                    self._on_results(results)
                except Exception:
                    log.exception("handling the results of %d host(s) failed", len(results))
            again = self._to_retry(names)
        finished = clock.monotonic()
        with self._lock:
            retrying, finish = self._retrying, self._schedule.finish
            for due, name in zip(batch, names, strict=True):
                retry = name in again
                if retry:
                    retrying.add(name)
                else:
                    retrying.discard(name)
                _, missed = finish(name, due.latest_slot if due[2] else due[1], finished, retry=retry)
                if missed and not retry:
                    log.warning("%s: the probe took longer than its %gs interval; %d run(s) coalesced",
                                name, due.host.interval, missed)
        return results

    def _to_retry(self, names: list[str]) -> set[str]:
        """The hosts of a batch to come back after their retry_interval: one `settling(names)`
        call when the loop has one (one lock taken by the agent, not one per host), else
        needs_retry host by host. A failing question counts as no (logged)."""
        if self._settling is not None:
            try:
                return set(self._settling(names))
            except Exception:
                log.exception("settling(%d host(s)) failed", len(names))
                return set()
        again: set[str] = set()
        for name in names:
            try:
                if self._needs_retry(name):
                    again.add(name)
            except Exception:
                log.exception("needs_retry(%s) failed", name)
        return again

    def probe_soon(self, names: Iterable[str]) -> list[str]:
        """Bring these hosts forward to the next tick (e.g. a failing site's parent); the phase of
        later probes follows from then. Returns the names accepted (known and not in flight)."""
        with self._lock:
            now = self._clock.monotonic()
            return [name for name in names if self._schedule.expedite(name, now)]

    # -- reload ------------------------------------------------------------------------------
    def replace_hosts(self, hosts: Sequence[HostSpec]) -> None:
        """Apply a reloaded host list; unchanged hosts keep their due times."""
        with self._lock:
            self._schedule.replace(hosts, self._clock.monotonic())
            self._retrying &= {h.name for h in self._schedule.hosts()}

    def set_pace(self, tick: float, early: float) -> None:
        """Look at the schedule every `tick` seconds from the next tick on, taking hosts up to
        `early` seconds before their slot (see probe_pace)."""
        self._tick, self._early = tick, early

    # -- background running -------------------------------------------------------------------
    def start(self) -> None:
        """Run in the background: a ticker thread calls run_once(wait=False) every `tick` seconds."""
        if self._ticker is not None:
            return
        self._stopping.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="probe-tick", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        # time.sleep counts a relative timeout on the monotonic clock on every supported Python
        # (threading waits count in wall time on 3.10); stopping waits at most one tick
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.run_once(wait=False)
            except Exception:  # the ticker must survive a bad round; the log says what broke
                log.exception("probe tick failed")
            time.sleep(max(0.0, self._tick - (time.monotonic() - started)))

    def stop(self) -> None:
        """Stop ticking, let running probe rounds finish (bounded by their timeouts)."""
        ticker, self._ticker = self._ticker, None
        self._stopping.set()
        if ticker is not None:
            ticker.join()
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _restamp(results: list[ProbeResult], step: float) -> list[ProbeResult]:
    """Results probed while the wall clock stepped by `step` seconds, stamped in today's frame
    (a stamp from before the step would put the probe an hour into the future or the past)."""
    if abs(step) <= STEP_TOLERANCE:
        return results
    log.warning("the system clock stepped by %+.0f s during a probe round: its results are re-stamped", step)
    return [replace(r, at=r.at + timedelta(seconds=step)) for r in results]
