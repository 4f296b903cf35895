"""The running agent: the one place objects are built and threads started.

`Agent(config)` builds, without starting anything: the store (migrated), the alert engine
restored from it, the probe loop (the config's hosts plus the self-check anchors), the delivery
worker, the command bot (Telegram on and `poll_commands`), the status page (`web` on), metrics.
Tests drive it without threads through `probe_once()`, `tick_once()` and `deliver_once()`;
`start()` / `stop()` run the same steps in the background.

One probe round flows: ProbeLoop -> `handle_results` -> engine.ingest -> incident_repo.save_round (new
states + events + incidents + outbox rows, ONE transaction) -> wake the delivery worker -> history ->
metrics. If the store cannot be written (disk full, damaged file, locked), the decided
transitions are kept in memory and retried with every round, and their alerts are delivered from
memory meanwhile (DeliveryWorker.hold); the save that finally succeeds writes each alert's rows
as far as delivery got (a delivered one as 'sent': never sent twice). `store_health` tracks every
store failure: /healthz fails with the reason, the log says it once a minute. At start the store
is checked (SQLite's quick_check): a damaged file is refused with one line saying how to move it
aside (`netwatchd run --move-damaged-store` does it). The hosts the engine wants probed at once
(`AlertEngine.probe_soon`: the parent and the siblings of a site that starts failing, the
children of a parent answering again, the hosts a held decision waits for) are brought forward
to the next probe tick (`ProbeLoop.probe_soon`); a parent's UP waits up to its fold_window for
its children's answers and the ticker wakes for the window's end. The engine's
questions to the routers (confirm a DOWN with the site's `via` router, read a recovered site's
uptime) go to a small pool (`ROUTER_ASK_WORKERS`): every question of one round to one router at
once on that router's WatchSession, answered within about a second and fed back
(`answer_routers`) under the same lock, so a router never holds up a probe round.

`run_agent(path)` is `netwatchd run`: SIGTERM/SIGINT stop it cleanly (exit 0 within 2 s),
SIGHUP reloads hosts.yaml — a file with errors is rejected (each error logged) and the running
config stays; hosts kept by name keep their state, added ones start UNKNOWN, removed ones are
forgotten.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import itertools
import logging
import operator
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal, TextIO

from netwatchd import __version__
from netwatchd.clock import Clock, StepWatch, SystemClock
from netwatchd.config.apart import load_config_apart
from netwatchd.config.durations import format_duration
from netwatchd.config.model import Config, HostSpec
from netwatchd.engine.engine import CONFIRMATION_FIELDS, SELF_HOST, AlertEngine, HostState, Seen, self_check_hosts
from netwatchd.engine.mutes import MuteTimers
from netwatchd.engine.routing import Router
from netwatchd.errors import ConfigError, NetwatchError, StoreDamaged, StoreError
from netwatchd.logs import add_secret, redact
from netwatchd.models import ProbeResult, RouterAnswer, RouterAsk, State, Transition
from netwatchd.store import (
    crosscheck_repo,
    history_repo,
    incident_repo,
    integrity,
    report_repo,
    router_watch_repo,
    state_repo,
)
from netwatchd.store.db import Database, ThreadConnections, locked_transaction, transaction
from netwatchd.store.faults import DAMAGED, damaged_message
from netwatchd.store.faults import classify as classify_fault
from netwatchd.store.health import CHECK_EVERY, REPORT_EVERY, StoreHealth, health_file, write_health_file
from netwatchd.web.snapshot import RttHistories

if TYPE_CHECKING:   # built lazily below: `netwatchd check`-style imports stay light
    from netwatchd.bot.poller import BotPoller
    from netwatchd.notify.telegram_api import TelegramAPI
    from netwatchd.router.client import RouterPool
    from netwatchd.router.crosscheck_watch import CrossCheckWatcher
    from netwatchd.router.watch_session import WatchSession, WatchSessions
    from netwatchd.web.server import StatusServer
    from netwatchd.web.snapshot import SnapshotEncoder

log = logging.getLogger("netwatchd.app")

ROUTER_ASK_WORKERS = 4      # threads putting the engine's questions to the routers (one job per router per round)
ROUTER_LOOK_SECONDS = 300.0  # a via router's interfaces are looked at this often (the link-downs baseline)
ROUTER_WATCH_TICK = 1.0     # how often the router-watch loop checks what is due
TICK_SECONDS = 1.0          # engine.tick(): mute ends, reminders, the uplink summary, fold windows
HISTORY_PRUNE_SECONDS = 60.0
HISTORY_BACKLOG = 50_000      # probe results kept for the history while the store cannot take them
RTT_HISTORY_LENGTH = 30
CONFIRMATION_WRITE_SECONDS = 60.0   # a probe that only confirms an UP host is stored at most this late
BIG_PAGE_SITES = 2000               # above this many sites the status page is rebuilt every 2 s, not 1 s
CONFIRMATION_CHUNK = 1000           # hosts written per transaction (and per hold of the engine lock)
STOP_BUDGET_SECONDS = 1.6   # SIGTERM -> exit well inside the promised 2 s
HEARTBEAT_SECONDS = 30.0    # how often the agent records that it is running (reports: monitor blind)
AVAILABILITY_SECONDS = 300.0  # how often /metrics' month-to-date availability is computed again

ProbeFn = Callable[..., list[ProbeResult]]


def _default_probe_fn() -> ProbeFn:
    """probe_hosts with one IcmpEngine for the agent's life (not a new one, and a test socket
    opened to decide raw or datagram mode, for every batch)."""
    from netwatchd.probes import probe_hosts
    from netwatchd.probes.icmp import IcmpEngine

    return functools.partial(probe_hosts, icmp=IcmpEngine())


def seen_of(state: HostState) -> Seen:
    """What the agent keeps of one HostState."""
    return Seen(state.state, state.since, state.fails, state.muted, state.flapping)


def material(state: HostState) -> int | None:
    """A fingerprint of everything but a confirmation's fields (CONFIRMATION_FIELDS); None when the
    state must always be written (not UP, or extra bookkeeping: SELF_HOST). The agent itself asks
    the engine (AlertEngine.material_mark, the same fields read off the track); this is the
    reference a test holds that against."""
    if state.state != State.UP or state.extra:
        return None
    return hash(_material_values(state))


_material_values = operator.attrgetter(*(f.name for f in dataclasses.fields(HostState)
                                         if f.name not in CONFIRMATION_FIELDS and f.name != "extra"))


def page_cache_seconds(sites: int) -> float:
    """How often the status page's data is rebuilt while someone watches: every second, or every 2 s
    (the page's own poll period) above BIG_PAGE_SITES sites, where each rebuild and its gzip cost
    ~30 ms of CPU for a 4 MB page (each site is probed every 10 s anyway)."""
    return 1.0 if sites <= BIG_PAGE_SITES else 2.0


def watched_config(config: Config, shard: tuple[int, int] | None) -> Config:
    """The config this agent watches: all hosts, or shard K of N (a host stays with its top parent)."""
    if shard is None:
        return config
    from netwatchd.engine.sharding import shard_hosts

    k, n = shard
    return dataclasses.replace(config, hosts=tuple(shard_hosts(config.hosts, k, n)))


def probe_targets(config: Config) -> list[HostSpec]:
    """What the probe loop probes: every enabled host plus the self-check anchors."""
    return [h for h in config.hosts if not h.disabled] + self_check_hosts(config)


@dataclasses.dataclass(frozen=True)
class ReloadOutcome:
    """What a SIGHUP did. `ok` False: the file was rejected and the old config keeps running."""

    ok: bool
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()

    def summary(self) -> str:
        if not self.ok:
            return f"rejected ({len(self.errors)} error(s)); the running config is kept"
        parts = [f"+{len(self.added)} added", f"-{len(self.removed)} removed", f"~{len(self.changed)} changed"]
        text = ", ".join(parts)
        if self.needs_restart:
            text += f"; needs a restart to apply: {', '.join(self.needs_restart)}"
        return text


def open_store(db: Database, config_path: str | Path | None = None, *,
               now: Callable[[], Any] = lambda: SystemClock().now()) -> None:
    """Check the store file (PRAGMA quick_check) and migrate it; a missing file is created.

    Raises StoreDamaged (one line: the file, what is damaged, the commands that move it aside)
    or StoreError (cannot be opened, read or migrated).
    """
    if db.path.exists() and db.path.stat().st_size == 0:
        log.warning("the store %s is empty (0 bytes): starting with an empty store", db.path)
    with refusing_damage(db, config_path, now):
        problem = integrity.check_file(db.path)
        if problem is not None:
            raise StoreDamaged(damaged_message(db.path, problem, when=now(), config_path=config_path),
                               path=str(db.path), detail=problem)
        db.migrate()


@contextmanager
def refusing_damage(db: Database, config_path: str | Path | None, now: Callable[[], Any]) -> Iterator[None]:
    """Turn a damaged-file error met while starting (sqlite3.DatabaseError or StoreError saying
    'malformed' / 'not a database') into StoreDamaged with the commands that move the file aside,
    and any other sqlite3.Error into a one-line StoreError."""
    try:
        yield
    except StoreDamaged:
        raise
    except (sqlite3.Error, StoreError) as exc:
        fault = classify_fault(exc)
        if fault.kind == DAMAGED:
            raise StoreDamaged(damaged_message(db.path, fault.detail, when=now(), config_path=config_path),
                               path=str(db.path), detail=fault.detail) from None
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"cannot read the store {db.path}: {fault.detail} (check data_dir is "
                             "readable and writable by netwatchd)") from None
        raise


class Agent:
    """Every long-lived object of a running netwatchd, built from one Config.

    Raises StoreDamaged when the store file is damaged (the message says how to move it aside),
    StoreError when it cannot be opened or migrated, ConfigError when the status page's port is
    taken (on start()).
    """

    def __init__(self, config: Config, *, clock: Clock | None = None, probe_fn: ProbeFn | None = None,
                 api: TelegramAPI | None | Literal["auto"] = "auto", routers: RouterPool | None = None,
                 console: TextIO = sys.stdout,
                 shard: tuple[int, int] | None = None, delivery_poll: float = 0.25,
                 watch: WatchSessions | None = None) -> None:
        from netwatchd.notify.hooks import HookRunner, lanes_for
        from netwatchd.notify.outbox import DeliveryWorker
        from netwatchd.report.scheduled import ReportScheduler
        from netwatchd.router.confirm import Confirmer
        from netwatchd.router.health import HealthWatcher
        from netwatchd.schedule import ProbeLoop, probe_pace
        from netwatchd.web.metrics import Metrics

        for secret in config.secrets():
            add_secret(secret)
        self.shard = shard
        self.config = config
        self.watched = watched_config(config, shard)
        self.clock: Clock = clock or SystemClock()
        self.probe_fn: ProbeFn = probe_fn or _default_probe_fn()
        self.db = Database.in_dir(config.data_dir)
        open_store(self.db, config.path, now=self.clock.now)
        self.store_health = StoreHealth(self.db, self.clock)
        self._health_file = health_file(config.data_dir, shard)
        self._health_written = float("-inf")
        self._health_last: tuple[Any, ...] | None = None
        self._longest: tuple[Config, float | None] | None = None    # see _longest_interval
        self._connections = ThreadConnections(self.db)
        self._results_lock = threading.Lock()
        self._results_conn: sqlite3.Connection | None = None
        self._round_local = threading.local()
        self._lock = threading.RLock()          # the engine and its store writes, one thread at a time
        self._unsaved_states: dict[str, HostState] = {}
        self._last_confirmation_write = self.clock.monotonic()
        # transitions not saved yet, each with a key the delivery worker knows it by once held
        self._unsaved: list[tuple[int, Transition]] = []
        self._keys = itertools.count(1)
        self._history_backlog: list[tuple[list[ProbeResult], dict[str, str]]] = []
        self._history_lock = threading.Lock()
        with refusing_damage(self.db, config.path, self.clock.now):
            stored_states = state_repo.load_states_lazily(self._conn())   # decoded as each track is built
            crosscheck_memory = crosscheck_repo.load(self._conn())
            router_watch_memory = router_watch_repo.load(self._conn())
        self.engine = AlertEngine(self.watched, self.clock, states=stored_states)
        self._steps = StepWatch(self.clock)             # wall-clock steps: logged, stored mutes follow them
        self._mute_timers = MuteTimers(self.clock)      # mutes end on the monotonic clock
        self._router = Router(config)
        self.known: dict[str, Seen] = self.engine.seen()   # kept current from take_changed()
        self._tick_wake = threading.Event()     # a held message's moment comes before the next second
        self.metrics = Metrics()
        self.metrics.set_states(self.known)
        self.latest: dict[str, ProbeResult] = self.metrics.latest_results   # written by observe_probes
        self.rtt_history = RttHistories(RTT_HISTORY_LENGTH)
        self._snapshot_encoder: SnapshotEncoder | None = None
        self._page_lock = threading.Lock()
        self._page_changes: set[str] | None = None   # names touched since the last snapshot (None: all)
        self.last_round_monotonic: float | None = None
        self._last_prune = float("-inf")
        self.api = self._make_api(config) if api == "auto" else api
        self._api_identity = (config.telegram.api_url, config.telegram.token)
        self.routers = routers if routers is not None else self._make_routers(config)
        self._router_specs = config.routers
        self.hooks = HookRunner(config.hooks, workdir=config.data_dir)
        self._hook_lanes = lanes_for(config.hooks) if config.hooks else None
        self._unsaved_maintenance: list[tuple[str, bool, datetime]] = []
        self.worker = DeliveryWorker(self.db, config, self.clock, api=self.api, console=console,
                                     on_delivered=self.metrics.observe_delivery, poll_interval=delivery_poll,
                                     hooks=self.hooks, on_hook=self.metrics.observe_hook,
                                     health=self.store_health, claim_in_memory=shard is None)
        self.store_health.held = self.worker.ledger.unsaved
        self.reports = ReportScheduler(self.db, config, self.clock, on_enqueued=self.worker.wake)
        self._run_id: int | None = None
        self._last_heartbeat = float("-inf")
        self._last_availability = float("-inf")
        self._reporter: threading.Thread | None = None
        self.bot = self._make_bot(config)
        targets = probe_targets(self.watched)
        tick, early = probe_pace(len(targets))
        self.loop = ProbeLoop(targets, probe_fn=self.probe_fn,
                              on_results=self.handle_results, needs_retry=self.needs_retry,
                              clock=self.clock, tick=tick, early=early,
                              on_lateness=self.metrics.observe_lateness, settling=self.settling)
        self.web = self._make_web(config)
        self.crosscheck = self._make_crosscheck(self.watched, crosscheck_memory)
        self.watch = watch if watch is not None else self._make_watch(config)
        self.confirmer = Confirmer(self.clock)
        self.router_health = HealthWatcher(self.watched, self._watch_session, self.clock,
                                           memory=router_watch_memory)
        self._askers = ThreadPoolExecutor(max_workers=ROUTER_ASK_WORKERS, thread_name_prefix="router-ask")
        self._asking: set[Future[None]] = set()
        self._asking_lock = threading.Lock()
        self._looked: dict[str, float] = {}
        self._ticker: threading.Thread | None = None
        self._checker: threading.Thread | None = None
        self._crosschecker: threading.Thread | None = None
        self._router_watcher: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- construction helpers ---------------------------------------------------------
    @staticmethod
    def _make_api(config: Config) -> TelegramAPI | None:
        if not config.telegram.enabled:
            return None
        from netwatchd.notify.telegram_api import TelegramAPI

        return TelegramAPI(config.telegram.api_url, config.telegram.token)

    @staticmethod
    def _make_routers(config: Config) -> RouterPool:
        from netwatchd.router.client import RouterPool

        return RouterPool(config.routers)

    def _make_bot(self, config: Config) -> BotPoller | None:
        if self.api is None or not config.telegram.poll_commands:
            return None
        from netwatchd.bot.poller import BotPoller

        return BotPoller(self.db, config, self.clock, api=self.api, routers=self.routers,
                         probe_fn=self.probe_fn, on_command=self.metrics.observe_command,
                         limiter=self.worker.limiter, store_health=self.store_health,
                         wake=self.worker.wake)

    def _make_web(self, config: Config) -> StatusServer | None:
        if not config.web.enabled:
            return None
        from netwatchd.web.server import StatusServer

        return StatusServer(config.web, snapshot=self.snapshot_parts, metrics=self.metrics, health=self.health,
                            cache_seconds=page_cache_seconds(len(self.watched.hosts)), release=self.release_page)

    @staticmethod
    def _make_watch(config: Config) -> WatchSessions:
        from netwatchd.router.watch_session import WatchSessions

        return WatchSessions(config.routers)

    def _watch_session(self, name: str) -> WatchSession:
        return self.watch.get(name)

    def _make_crosscheck(self, config: Config, memory: Any) -> CrossCheckWatcher:
        from netwatchd.router.crosscheck_watch import CrossCheckWatcher

        return CrossCheckWatcher(config, self.routers, self.clock,
                                 load_states=lambda: state_repo.load_states(self._conn()),
                                 memory=memory)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection to the store (opened on first use); while a probe round's
        results are handled, the rounds' own connection (see handle_results)."""
        conn: sqlite3.Connection | None = getattr(self._round_local, "conn", None)
        return conn if conn is not None else self._connections.get()

    # ---- one probe round --------------------------------------------------------------
    def handle_results(self, results: list[ProbeResult]) -> list[Transition]:
        """Judge one batch of results, persist state + events + outbox, record history.

        Batches are handled one at a time, through one store connection of their own whichever
        probe thread finished the round: a connection per pool thread was up to 32 open
        connections, each with its own page cache (~2 MB at 10,000 hosts)."""
        with self._results_lock:
            conn = self._results_conn
            if conn is None:
                conn = self._results_conn = self.db.connect()
            self._round_local.conn = conn
            try:
                return self._handle(results)
            finally:
                self._round_local.conn = None

    def _handle(self, results: list[ProbeResult]) -> list[Transition]:
        with self._lock:
            transitions = self.engine.ingest(results)
            self._persist(transitions)
            asks = self.engine.take_asks()
            # a round in flight during a reload may bring results of a site just removed: not recorded
            results = [r for r in results if r.host in self.known]
            states = {r.host: self.known[r.host].state.value for r in results}
            soon = self.engine.probe_soon(results, transitions)
            wake = self.engine.next_wakeup() is not None
        if soon:
            self.loop.probe_soon(soon)
        self.ask_routers(asks)
        if wake:
            self._tick_wake.set()
        self.last_round_monotonic = self.clock.monotonic()
        self.rtt_history.append_all([(r.host, r.rtt_avg_ms) for r in results])
        self.metrics.observe_probes(results)          # and self.latest, the same table
        self._page_touched(r.host for r in results)   # after the update: a page built meanwhile misses none
        self._record_history(results, states)
        return transitions

    def _record_history(self, results: list[ProbeResult], states: dict[str, str]) -> None:
        """Write this round's results to the probe history, with the rounds that could not be
        written before (kept in memory, the oldest dropped beyond HISTORY_BACKLOG results). Waits
        for another writer at most ALERT_PATIENCE: this is the probe round's own thread."""
        with self._history_lock:
            if results:
                self._history_backlog.append((results, states))
            if not self._history_backlog:
                return
            try:
                conn = self.store_health.ready(self._conn(), alert=True)
                with transaction(conn):
                    for batch, batch_states in self._history_backlog:
                        history_repo.record_results(conn, batch, batch_states)
            except sqlite3.Error as exc:         # logged by StoreHealth, once a minute with a count
                self.store_health.failed("probe history", exc)
                kept = 0
                for index in range(len(self._history_backlog) - 1, -1, -1):
                    kept += len(self._history_backlog[index][0])
                    if kept > HISTORY_BACKLOG:
                        del self._history_backlog[:index + 1]
                        break
                return
            self._history_backlog.clear()
        self.store_health.succeeded()

    # ---- questions to the routers ------------------------------------------------------
    def ask_routers(self, asks: Sequence[RouterAsk]) -> None:
        """Put the engine's questions to their routers, in the background: one job per router."""
        by_router: dict[str, list[RouterAsk]] = {}
        for ask in asks:
            by_router.setdefault(ask.router.lower(), []).append(ask)
        for group in by_router.values():
            try:
                future = self._askers.submit(self._ask_job, group)
            except RuntimeError:        # stopping: the engine gives the question up on its own
                return
            with self._asking_lock:
                self._asking.add(future)
            future.add_done_callback(self._asked)

    def _asked(self, future: Future[None]) -> None:
        with self._asking_lock:
            self._asking.discard(future)

    def _ask_job(self, asks: list[RouterAsk]) -> None:
        from netwatchd.router.confirm import ask_routers

        try:
            answers = ask_routers(asks, self._watch_session, self.confirmer, self.clock)
        except Exception:
            log.exception("asking router %s failed", asks[0].router)
            return
        for answer in answers:
            if answer.kind == "confirm":
                log.info("%s: %s answered %s (%d/%d)%s", answer.host, answer.router, answer.result, answer.received,
                         answer.sent, f": {answer.error}" if answer.error else "")
        self.answer_routers(answers)

    def answer_routers(self, answers: Sequence[RouterAnswer]) -> list[Transition]:
        """Hand routers' answers to the engine; persist what they decide (one transaction)."""
        with self._lock:
            transitions = self.engine.answer(answers)
            self._persist(transitions)
            asks = self.engine.take_asks()
        self.ask_routers(asks)
        return transitions

    def wait_routers(self, timeout: float = 5.0) -> bool:
        """Wait until no question is with a router (tests); True when none is left in time."""
        deadline = time.monotonic() + timeout
        while True:
            with self._asking_lock:
                pending = list(self._asking)
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            pending[0].exception(timeout=left)   # waits for it (its own errors are logged by the job)

    def router_watch_once(self) -> list[Transition]:
        """What the router-watch loop does each tick: the health looks that are due (read outside
        the lock, judged and saved under it), and the via routers' interface looks (the link-downs
        baseline, which also keeps their sessions open). Never raises for a router's failure."""
        readings = self.router_health.read()
        with self._lock:
            transitions = self.router_health.judge(readings) if readings else []
            self._persist(transitions)
        now = self.clock.monotonic()
        for name in sorted({h.via for h in self.watched.hosts if h.confirms and h.via}):
            if now - self._looked.get(name, float("-inf")) < ROUTER_LOOK_SECONDS:
                continue
            self._looked[name] = now
            try:
                spec = next(r for r in self.config.routers if r.name == name)
                self.confirmer.look(self._watch_session(name), spec.timeout)
            except (NetwatchError, StopIteration) as exc:
                log.info("router %s not looked at: %s", name, redact(str(exc)))
        return transitions

    def needs_retry(self, host: str) -> bool:
        with self._lock:
            return self.engine.is_settling(host)

    def settling(self, hosts: Sequence[str]) -> set[str]:
        """needs_retry for a probe round's hosts under one lock: those of `hosts` to re-probe soon."""
        with self._lock:
            is_settling = self.engine.is_settling
            return {host for host in hosts if is_settling(host)}

    def _persist(self, transitions: Sequence[Transition]) -> None:
        """Save changed states + transitions in one transaction. When the store cannot be written
        they stay in memory for the next try, and their alerts are delivered from memory meanwhile;
        the save that succeeds writes how far that delivery got (see notify/memory.py)."""
        # A probe that only confirms an UP host (its ok counters, checked_at and evidence moved,
        # nothing else) is not written now: rewriting every probed host's row cost a random page
        # write per host, 20 commits a second and most of the agent's CPU at 10,000 hosts.
        # write_confirmations() stores them every CONFIRMATION_WRITE_SECONDS and at stop. (What
        # `known` keeps of such a host does not change either.) Only the others are snapshotted.
        engine, unsaved, known = self.engine, self._unsaved_states, self.known
        marks: dict[str, int | None] = {}
        confirmed: list[str] = []
        for name in engine.take_touched():
            mark = engine.material_mark(name)
            if engine.is_confirmation(name, mark) and name not in unsaved and name in known:
                confirmed.append(name)
                continue
            marks[name] = mark
        engine.note_unwritten(confirmed)
        changed_now = engine.snapshots(marks)
        now = self.clock.now()
        for name, state in changed_now.items():
            before = known.get(name)
            if name != SELF_HOST and (before.muted if before else False) != state.muted:
                self._unsaved_maintenance.append((name, state.muted, now))
        touched: list[str] = []
        for name, state in changed_now.items():
            engine.note_written(name, marks[name])
            unsaved[name] = state
            known[name] = seen_of(state)
            touched.append(name)
        self._page_touched(touched)
        self._unsaved.extend((next(self._keys), t) for t in transitions)
        # the cross-check's memory goes in the same transaction as the alerts it decided: a crash
        # can then neither repeat a disagreement nor lose its agree-again
        watcher = getattr(self, "crosscheck", None)
        watch_writes = watcher.pending() if watcher is not None else None
        health = getattr(self, "router_health", None)
        health_writes = health.pending() if health is not None else None
        if not self._unsaved_states and not self._unsaved and not watch_writes \
                and not self._unsaved_maintenance and not health_writes:
            return
        keys = [key for key, _ in self._unsaved]
        held = self.worker.ledger.held_keys()
        try:
            conn = self.store_health.ready(self._conn(), alert=True)
            if any(key in held for key in keys):
                # the store's write lock first (it may take a while), then the ledger's until after
                # the commit: no lane may claim a held alert between its snapshot and the commit
                with locked_transaction(conn, self.worker.handoff()) as handoff:
                    saved_round = self._save(conn, watch_writes, health_writes,
                                             [handoff.prior(key) for key in keys], handoff=handoff)
            else:
                with transaction(conn):
                    saved_round = self._save(conn, watch_writes, health_writes, None)
        except sqlite3.Error as exc:
            self.store_health.failed("alerts", exc)
            # not saved, not lost: delivered from memory now (where telegram.routes sends each, as
            # plain messages: the incidents and their buttons come with the save), saved with a later round
            self._hold([(key, t) for key, t in self._unsaved if t.notify and key not in held])
            self._decided(transitions, changed_now, saved=False)
            return
        self.store_health.succeeded()
        if watcher is not None and watch_writes:
            watcher.saved(watch_writes)
        if health is not None and health_writes:
            health.saved(health_writes)
        handed = len([key for key in keys if key in held])
        if handed:
            log.info("%d alert(s) decided while the store could not be written are saved now, each as far "
                     "as its delivery from memory got", handed)
        saved, self._unsaved, self._unsaved_states = self._unsaved, [], {}
        self._unsaved_maintenance = []
        # as saved: a reminder of an acknowledged or snoozed outage is recorded, not announced
        self._decided(saved_round.transitions[len(saved_round.transitions) - len(transitions):], changed_now,
                      saved=True)
        if saved_round.chats:
            self.worker.wake(sorted(saved_round.chats))
        if self._hook_lanes is not None:
            lanes = sorted({lane for _, t in saved for lane in self._hook_lanes(t)})
            if lanes:
                self.worker.wake(lanes)

    def _decided(self, transitions: Sequence[Transition], changed: dict[str, HostState], *, saved: bool) -> None:
        """Log and count what the engine just decided (whether or not the store has it yet)."""
        for transition in transitions:
            self.metrics.observe_transition(transition)
            log.log(logging.INFO if transition.notify else logging.DEBUG, "%s: %s -> %s (%s%s%s)",
                    transition.host, transition.from_state.value, transition.to_state.value,
                    transition.kind, "" if transition.notify else ", not announced",
                    "" if saved else "; not saved yet: the store cannot be written")
        for name, state in changed.items():
            if name != SELF_HOST:
                self.metrics.set_state(name, state.state)

    def _save(self, conn: sqlite3.Connection, watch_writes: Any, health_writes: Any, prior: list[Any] | None,
              handoff: Any = None) -> incident_repo.SavedRound:
        """The writes of one _persist (inside its transaction). Raises sqlite3.Error."""
        if watch_writes:
            crosscheck_repo.apply(conn, watch_writes)
        if health_writes:
            router_watch_repo.apply(conn, health_writes)
        if self._unsaved_maintenance:
            report_repo.record_maintenance(conn, self._unsaved_maintenance)
        # incidents, threads and routes: reminders of acknowledged outages are recorded, not sent
        saved = incident_repo.save_round(conn, self._unsaved_states, [t for _, t in self._unsaved], self.config,
                                         self.clock.now(), router=self._router, hook_lanes=self._hook_lanes,
                                         prior=prior)
        if handoff is not None:
            handoff.note(conn, zip([key for key, _ in self._unsaved], saved.event_ids, strict=True))
        return saved

    def _hold(self, alerts: list[tuple[int, Transition]]) -> None:
        """Deliver from memory alerts the store could not take, each to the chats it is routed to
        (one by one: each chat keeps their order)."""
        for key, transition in alerts:
            chats = list(dict.fromkeys(d.chat_id for d in self._router.destinations(transition)))
            self.worker.hold([(key, transition)], chats, self.clock.now())

    def write_confirmations(self) -> int:
        """Store the newer counters, checked_at and evidence of steady UP hosts (see _persist), a
        chunk of hosts per transaction; returns how many rows were written. Raises sqlite3.Error
        (the hosts not written stay queued)."""
        written = 0
        self._last_confirmation_write = self.clock.monotonic()
        with self._lock:
            waiting = self.engine.take_unwritten()
        while waiting:
            chunk = waiting[-CONFIRMATION_CHUNK:]
            del waiting[-CONFIRMATION_CHUNK:]
            with self._lock:
                # a host that changed for real since it was taken is written by its own save, with its
                # events and alerts in the same transaction, never ahead of them by this one
                chunk = [name for name in chunk if name not in self._unsaved_states]
                if not chunk:
                    continue
                try:
                    state_repo.save(self._conn(), self.engine.snapshots(chunk), [], (), self.clock.now())
                except sqlite3.Error:
                    self.engine.note_unwritten(chunk + waiting)
                    raise
            written += len(chunk)
        return written

    def probe_once(self) -> list[ProbeResult]:
        """Probe every host due now and handle the results (no threads; for tests)."""
        return self.loop.run_once(wait=True)

    # ---- time-driven work -------------------------------------------------------------
    def tick_once(self) -> list[Transition]:
        """Mutes from the store, engine.tick(), outbox depth, history pruning (every minute)."""
        conn = self._conn()
        with self._lock:
            try:
                self._follow_step(conn)
                running, ended = self._mute_timers.apply(state_repo.stored_mutes(conn))
                self.engine.set_mutes(running)
                if ended:       # over on the monotonic clock: gone from the store, /mute and /status too
                    state_repo.end_mutes(conn, ended)
            except sqlite3.Error as exc:       # the mutes read last stay in force
                self.store_health.failed("reading mutes", exc)
            transitions = self.engine.tick()
            self._persist(transitions)
            self.escalate_once()
            asks = self.engine.take_asks()
        self.ask_routers(asks)
        now = self.clock.now()
        if self._run_id is not None and self.clock.monotonic() - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._last_heartbeat = self.clock.monotonic()
            try:
                report_repo.heartbeat(conn, self._run_id, now)
            except sqlite3.Error as exc:
                self.store_health.failed("the run's heartbeat", exc)
        self.metrics.set_outbox_depth(self.worker.depth())
        if self.clock.monotonic() - self._last_confirmation_write >= CONFIRMATION_WRITE_SECONDS:
            try:
                self.write_confirmations()
            except sqlite3.Error as exc:
                self.store_health.failed("the steady sites' counters", exc)
        store = self.store_health.report()
        self.metrics.set_store(store.ok, store.held)
        if self.clock.monotonic() - self._last_prune >= HISTORY_PRUNE_SECONDS:
            self._last_prune = self.clock.monotonic()
            try:
                history_repo.prune_and_rollup(self.store_health.ready(conn, alert=True), now, self.config.retention)
            except sqlite3.Error as exc:
                self.store_health.failed("history housekeeping", exc)
            else:
                self.store_health.succeeded()
            release_free_memory()      # a compaction reads every raw row of its 5 minutes
        self.report_health()
        return transitions

    def _follow_step(self, conn: sqlite3.Connection) -> None:
        """Log a wall-clock step once and move the stored mutes' times with it (their lengths are
        kept, so /mute shows the right end and a restart re-derives the right remainder).
        Raises sqlite3.Error."""
        step = self._steps.check()
        if not step:
            return
        log.warning("the system clock stepped %s by %s (NTP, a manual change or a reset clock): "
                    "probing, retries, reminders, mutes and durations run on the monotonic clock and keep "
                    "their timing; stored times were moved with the clock",
                    "back" if step < 0 else "forward", format_duration(abs(step)))
        delta = timedelta(milliseconds=round(step * 1000))    # stored times have milliseconds
        state_repo.shift_mutes(conn, self._mute_timers.known(), delta)
        incident_repo.shift_open(conn, delta)          # escalation due times and snoozes keep their lengths
        self._mute_timers.shift(delta)

    def check_store_once(self) -> str | None:
        """The store's quick check (SQLite's quick_check) now; the store-check thread runs it every
        CHECK_EVERY s. Returns what is damaged, None when sound. Damage makes /healthz fail until
        a restart."""
        return self.store_health.check_now()

    def report_health(self, *, stopped: bool = False) -> None:
        """Write the agent's health file (read by `netwatchd status`) when it changed or every
        REPORT_EVERY s. Never raises."""
        ok, detail = self.health()
        store = self.store_health.report()
        mono = self.clock.monotonic()
        state = (ok, store.ok, store.kind, store.held, stopped)
        if state == self._health_last and mono - self._health_written < REPORT_EVERY:
            return
        record = {"pid": os.getpid(), "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
                  "written_at": self.clock.now().isoformat(timespec="seconds"), "ok": ok, "detail": detail,
                  "stopped": stopped, "store": store.to_dict()}
        if write_health_file(self._health_file, record) or stopped:
            self._health_last, self._health_written = state, mono

    def escalate_once(self, now: Any = None) -> set[str]:
        """Send the escalation levels due now (telegram.escalate); returns the chats woken.
        A store failure goes to store_health and the levels are sent on a later tick (their due
        times are in the store: an outage that began while the store failed escalates once it
        is saved)."""
        if not self.config.telegram.escalate:
            return set()
        try:
            with transaction(self.store_health.ready(self._conn())) as conn:
                chats = incident_repo.escalate(conn, self.config, now or self.clock.now())
        except sqlite3.Error as exc:
            self.store_health.failed("escalation", exc)
            return set()
        self.store_health.succeeded()
        if chats:
            log.info("escalated: messages queued for chat(s) %s", ", ".join(sorted(chats)))
            self.worker.wake(sorted(chats))
        return chats

    def crosscheck_once(self) -> list[Transition]:
        """Compare the routers' own Netwatch tables with our states; record + announce lasting
        disagreements. Never raises for a router's failure (the watcher logs it)."""
        reading = self.crosscheck.read()          # router I/O outside the engine's lock
        with self._lock:
            # judged and saved under one lock: no other write can store the watcher's memory
            # without the alerts it decided. A failed save keeps both for the next write.
            transitions = self.crosscheck.judge(reading)
            self._persist(transitions)
        return transitions

    def deliver_once(self) -> int:
        """One delivery step for every chat with pending messages (no threads; for tests)."""
        return self.worker.run_once()

    def begin_run(self) -> None:
        """Record that the agent watches from now on (reports count the time between runs as
        monitor blind). start() calls it; tests driving the agent by hand may too."""
        if self._run_id is None:
            try:
                self._run_id = report_repo.start_run(self._conn(), self.clock.now())
                self._last_heartbeat = self.clock.monotonic()
            except sqlite3.Error as exc:
                log.error("the start of this run was not recorded (%s): reports may count it as blind", exc)

    def end_run(self) -> None:
        """Record a clean stop (open maintenance marks are closed by the next start's states)."""
        if self._run_id is not None:
            try:
                report_repo.stop_run(self._conn(), self._run_id, self.clock.now())
            except sqlite3.Error as exc:
                log.error("the end of this run was not recorded: %s", exc)
            self._run_id = None

    def reports_once(self) -> int:
        """Enqueue the scheduled reports due now (no threads; for tests); returns documents enqueued."""
        return self.reports.run_once()

    def refresh_availability(self) -> None:
        """Month-to-date availability per site (the honest split) into /metrics, the same figures
        as the month's report: computed by a new interpreter (report/apart.py), or here one site at
        a time when that fails (availability_figures; its errors are logged). Never raises."""
        now = self.clock.now()
        local = now.astimezone(self.config.tz if hasattr(self.config, "tz") else _zone(self.config.timezone))
        since = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if since >= now:
            return                  # midnight of the 1st: nothing of this month yet
        from netwatchd.report.apart import figures_apart
        from netwatchd.web.metrics import AVAILABILITY_PARTS

        watched = self.watched      # one config for the question and the answer (a reload may come between)
        values = figures_apart(watched, since, now, now, AVAILABILITY_PARTS)   # in a new interpreter
        if values is not None:
            self.metrics.set_availability_values((h.name for h in watched.hosts if not h.disabled), values)
            del values
            return
        from netwatchd.report.make import all_sites, iter_availability_figures  # only for the fallback

        batch: list[tuple[str, Any]] = []
        try:        # handed over AVAILABILITY_BATCH sites at a time: written in place, nothing kept
            for item in iter_availability_figures(self.config, since, now, all_sites(watched), now=now):
                batch.append(item)
                if len(batch) >= AVAILABILITY_BATCH:
                    self.metrics.set_availability(dict(batch))
                    batch.clear()
            self.metrics.set_availability(dict(batch))
        except (NetwatchError, sqlite3.Error) as exc:
            log.error("month-to-date availability for /metrics not computed: %s", redact(str(exc)))
            return
        finally:
            batch.clear()
        release_free_memory()

    def _reports_loop(self) -> None:
        """Scheduled reports every CHECK_EVERY_S, /metrics' availability every AVAILABILITY_SECONDS."""
        from netwatchd.report.scheduled import CHECK_EVERY_S

        while True:
            try:
                self.reports.run_once()
            except sqlite3.Error as exc:       # the store's problem: StoreHealth says it once a minute
                self.store_health.failed("scheduled reports", exc)
            except Exception:
                log.exception("scheduled reports failed")
            if time.monotonic() - self._last_availability >= AVAILABILITY_SECONDS:
                self._last_availability = time.monotonic()
                try:
                    self.refresh_availability()
                except sqlite3.Error as exc:
                    self.store_health.failed("month-to-date availability", exc)
                except Exception:
                    log.exception("month-to-date availability failed")
            if self._stopping.wait(CHECK_EVERY_S):
                return

    # ---- the status page --------------------------------------------------------------
    def snapshot(self) -> bytes:
        """/api/status, encoded (snapshot_parts() joined)."""
        return b"".join(self.snapshot_parts())

    def snapshot_parts(self) -> Iterator[bytes]:
        """/api/status, encoded, in pieces (the server gzips them without joining): only the sites
        whose state or result changed since the last call are encoded again (SnapshotEncoder), from
        the agent's own current maps - no copy of the engine's states or of the histories (with
        10,000 hosts, building the whole page each second was the largest part of the agent's CPU
        while a page was open). Consume the pieces before the next call."""
        from netwatchd.web.snapshot import SnapshotEncoder

        encoder = self._snapshot_encoder
        if encoder is None:
            encoder = self._snapshot_encoder = SnapshotEncoder()
        with self._page_lock:
            changed, self._page_changes = self._page_changes, set()
        return encoder.parts(self.watched, self.known, self.latest, self.rtt_history, self.worker.depth(),
                             now=self.clock.now(), changed=changed)

    def release_page(self) -> None:
        """Forget the page's per-site cache (~3.4 MB at 10,000 sites) while nobody watches; the
        next snapshot encodes every site again."""
        with self._page_lock:
            self._snapshot_encoder = None
            self._page_changes = None

    def _page_touched(self, names: Iterable[str]) -> None:
        """Note hosts whose page entry may have changed (only once a page has been built: with the
        status page off or never opened, nothing is collected)."""
        with self._page_lock:
            if self._page_changes is not None:
                self._page_changes.update(names)

    def health(self) -> tuple[bool, str]:
        """Healthy while probe rounds keep arriving (within three of the longest interval) and the
        store works (StoreHealth: no failure since the last good write, no damage found). The
        detail is one line; a failing store's says why and what to do. No store access."""
        store = self.store_health.report()
        longest = self._longest_interval()
        if longest is None:
            probes_ok, probes = True, "no hosts configured"
        elif self.last_round_monotonic is None:
            probes_ok, probes = True, "starting"
        else:
            limit = 3 * longest + 5
            age = self.clock.monotonic() - self.last_round_monotonic
            probes_ok = age <= limit
            probes = f"last probe round {age:.1f} s ago" if probes_ok else f"no probe results for {age:.0f} s"
        if not store.ok:
            return False, f"{store.line()}; {probes}"   # the full disk's line says the free space
        return probes_ok, probes if not store.held else f"{probes}; {store.line()}"

    def _longest_interval(self) -> float | None:
        """The longest probe interval of the watched config (None: nothing to probe), computed once
        per config: health() is asked every second, and 10,000 hosts were listed each time."""
        watched, cached = self.watched, self._longest
        if cached is None or cached[0] is not watched:
            longest = max((h.interval for h in probe_targets(watched)), default=None)
            cached = self._longest = (watched, longest)
        return cached[1]

    # ---- reload -----------------------------------------------------------------------
    def reload(self, path: str | Path) -> ReloadOutcome:
        """Re-read hosts.yaml. A file with errors changes nothing (errors logged, old config kept)."""
        try:
            new = load_config_apart(path)       # read in a new interpreter: see config/apart.py
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload rejected: %s", redact(problem))
            log.error("reload of %s rejected: the running config (%d hosts) is kept", path,
                      len(self.watched.hosts))
            return ReloadOutcome(ok=False, errors=tuple(exc.problems))
        return self.apply_config(new)

    def _retire_removed(self) -> None:
        """Start the grace period of sites no longer configured; forget those whose grace has passed."""
        try:
            state_repo.retire_hosts(self._conn(), list(self.engine.states()), self.clock.now(),
                                    self.config.retention.removed_sites)
        except sqlite3.Error as exc:
            log.error("states of removed sites not retired: %s", exc)

    def _reload_notice(self, removed: Sequence[str], added: Sequence[str],
                       restored: dict[str, HostState]) -> Transition | None:
        """The chat line for a reload that removed sites (a truncated or mistaken hosts.yaml must not pass
        unnoticed); None when nothing was removed."""
        if not removed:
            return None
        log.warning("reload removed %d site(s): %s; their state is kept %s", len(removed), ", ".join(removed),
                    format_duration(self.config.retention.removed_sites))
        return Transition(host=SELF_HOST, address="", from_state=State.UNKNOWN, to_state=State.UNKNOWN,
                          at=self.clock.now(), kind="reload", affected=tuple(removed),
                          evidence={"added": len(added), "restored": len(restored),
                                    "kept_seconds": self.config.retention.removed_sites})

    def apply_config(self, new: Config) -> ReloadOutcome:
        """Switch to an already validated config; hosts kept by name keep their state."""
        for secret in new.secrets():
            add_secret(secret)
        old_hosts = {h.name: h for h in self.watched.hosts}
        watched = watched_config(new, self.shard)
        new_hosts = {h.name: h for h in watched.hosts}
        added = tuple(n for n in new_hosts if n not in old_hosts)
        removed = tuple(n for n in old_hosts if n not in new_hosts)
        changed = tuple(n for n in new_hosts if n in old_hosts and new_hosts[n] != old_hosts[n])
        needs_restart = []
        if Path(new.data_dir) != Path(self.config.data_dir):
            needs_restart.append("data_dir")
        if new.web != self.config.web:
            needs_restart.append("web")
        wants_bot = new.telegram.enabled and new.telegram.poll_commands
        if wants_bot != (self.bot is not None):
            needs_restart.append("the command bot (telegram token / poll_commands)")
        with self._lock:
            try:   # a site removed by an earlier reload and put back gets its kept state again
                restored = state_repo.load_states(self._conn(), added) if added else {}
            except sqlite3.Error as exc:
                log.error("kept states of re-added sites not read (they start as unknown): %s", exc)
                restored = {}
            self.engine.replace_config(watched, restored)
            notice = self._reload_notice(removed, added, restored)
            self._persist([notice] if notice else [])
            self._retire_removed()
            self.config, self.watched = new, watched
            self._router = Router(new)
            self.known = self.engine.seen()
            with self._page_lock:
                self._page_changes = None   # the next page checks every site
        from netwatchd.schedule import probe_pace

        targets = probe_targets(watched)
        self.loop.replace_hosts(targets)
        self.loop.set_pace(*probe_pace(len(targets)))
        for name in removed:
            self.metrics.remove_host(name)          # self.latest too: the same table
            self.rtt_history.pop(name, None)
        if (new.telegram.api_url, new.telegram.token) != self._api_identity:
            self._api_identity = (new.telegram.api_url, new.telegram.token)
            self.api = self._make_api(new)
            self.worker.api = self.api
            if self.bot is not None and self.api is not None:   # no token left: the bot needs a restart anyway
                self.bot.api = self.api
        if new.routers != self._router_specs:
            self._router_specs = new.routers
            old_routers, self.routers = self.routers, self._make_routers(new)
            if self.bot is not None:
                self.bot.routers = self.routers
            old_routers.close()
            old_watch, self.watch = self.watch, self._make_watch(new)
            old_watch.close()
            self._looked.clear()
        self.router_health.replace_config(watched)
        self.worker.replace_config(new)
        self.hooks.replace_hooks(new.hooks)
        from netwatchd.notify.hooks import lanes_for

        with self._lock:
            self._hook_lanes = lanes_for(new.hooks) if new.hooks else None
        self.reports.replace_config(new)
        self.crosscheck.replace_config(watched)
        self.crosscheck.routers = self.routers
        if self.bot is not None:
            self.bot.replace_config(new)
        outcome = ReloadOutcome(ok=True, added=added, removed=removed, changed=changed,
                                needs_restart=tuple(needs_restart))
        log.info("reloaded %s: %d hosts (%s)", new.path, len(watched.hosts), outcome.summary())
        return outcome

    # ---- background running -----------------------------------------------------------
    def start(self) -> None:
        """Start the status page, the delivery worker, the bot, the probe loop and the ticker.

        Raises ConfigError when the status page's port is taken (nothing is left running).
        """
        self._stopping.clear()
        if self.web is not None:
            self.web.start()
        self.begin_run()
        self.worker.start()
        if self.bot is not None:
            self.bot.start()
        self.loop.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="engine-tick", daemon=True)
        self._ticker.start()
        self._crosschecker = threading.Thread(target=self._crosscheck_loop, name="crosscheck", daemon=True)
        self._crosschecker.start()
        self._reporter = threading.Thread(target=self._reports_loop, name="reports", daemon=True)
        self._reporter.start()
        self._router_watcher = threading.Thread(target=self._router_watch_loop, name="router-watch", daemon=True)
        self._router_watcher.start()
        self._checker = threading.Thread(target=self._check_loop, name="store-check", daemon=True)
        self._checker.start()
        telegram = (f"telegram: {len(self.config.telegram.chat_ids)} chat(s), bot "
                    f"{'on' if self.bot is not None else 'off'}" if self.api is not None
                    else "alerts to the console (no telegram token)")
        shard = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        web = f"http://{self.web.web.host}:{self.web.port}/" if self.web is not None else "off"
        log.info("netwatchd %s watching %d hosts%s; %s; status page %s", __version__,
                 len(self.watched.hosts), shard, telegram, web)

    def _tick_loop(self) -> None:
        while not self._stopping.is_set():
            self._tick_wake.wait(self.tick_delay())
            self._tick_wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.tick_once()
            except Exception:  # the ticker must survive; the log says what broke
                log.exception("engine tick failed")

    def _check_loop(self) -> None:
        """The store's quick check every CHECK_EVERY s (the start-up check covered the first hour)."""
        while not self._stopping.wait(CHECK_EVERY):
            self.check_store_once()

    def tick_delay(self) -> float:
        """Seconds until the next engine tick: TICK_SECONDS, or less when a fold window ends sooner."""
        with self._lock:
            wake = self.engine.next_wakeup()
        if wake is None:
            return TICK_SECONDS
        return min(TICK_SECONDS, max(0.01, (wake - self.clock.now()).total_seconds()))

    def _crosscheck_loop(self) -> None:
        """Runs crosscheck_once every config.crosscheck_every seconds (off when unset or no router)."""
        while True:
            every = getattr(self.config, "crosscheck_every", None)
            if self._stopping.wait(every if every and self.config.routers else 5.0):
                return
            if not every or not self.config.routers:
                continue
            try:
                self.crosscheck_once()
            except Exception:  # a store or router surprise must not end the loop
                log.exception("the Netwatch cross-check failed")

    def _router_watch_loop(self) -> None:
        """router_watch_once() every ROUTER_WATCH_TICK (nothing to do without routers)."""
        while not self._stopping.wait(ROUTER_WATCH_TICK if self.config.routers else 5.0):
            if not self.config.routers:
                continue
            try:
                self.router_watch_once()
            except Exception:
                log.exception("watching the routers failed")

    def stop(self, budget: float = STOP_BUDGET_SECONDS) -> bool:
        """Stop everything within `budget` seconds; returns True if every part finished in time.

        The probe loop, the bot and the delivery worker stop in parallel; a send in flight may
        finish (its row stays in the outbox otherwise and goes out on the next start).
        """
        deadline = time.monotonic() + budget
        self._stopping.set()
        self._tick_wake.set()
        parts: list[tuple[str, Callable[[], None]]] = [("probe loop", self.loop.stop)]
        bot = self.bot
        if bot is not None:
            # its thread may sit in a 25 s getUpdates long poll that cannot be interrupted: give
            # it a short join (it is a daemon thread); running commands still get their answer
            parts.append(("command bot", lambda: bot.stop(timeout=min(0.5, budget / 2))))
        parts.append(("delivery", lambda: self.worker.stop(timeout=max(0.1, budget - 0.3))))
        if self.web is not None:
            parts.append(("status page", self.web.stop))
        threads = [threading.Thread(target=_quietly(name, fn), name=f"stop-{name}", daemon=True)
                   for name, fn in parts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._ticker is not None:
            self._ticker.join(max(0.0, deadline - time.monotonic()))
        stuck = [name for (name, _), t in zip(parts, threads, strict=True) if t.is_alive()]
        if stuck:
            log.warning("still stopping after %.1f s: %s", budget, ", ".join(stuck))
        self._askers.shutdown(wait=False, cancel_futures=True)
        try:   # the counters of steady hosts, so a restart goes on exactly where this run stopped
            self.write_confirmations()
        except sqlite3.Error as exc:
            log.error("the latest probe counters of steady hosts were not stored: %s", exc)
        for closer in (self.routers.close, self.watch.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - closing sockets at exit must not fail the exit
                pass
        self.end_run()
        held = self.worker.ledger.unsaved()
        if held:
            log.error("stopping with %d alert(s) the store never took (it still cannot be written): they "
                      "were delivered or tried from memory; their events are not in the store", held)
        self.report_health(stopped=True)
        with self._results_lock:     # the rounds' connection (the others close with their threads):
            if self._results_conn is not None:   # the last one closed removes the -wal and -shm files
                self._results_conn.close()
                self._results_conn = None
        return not stuck


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _quietly(name: str, fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception:  # one part failing to stop must not block the others
            log.exception("stopping the %s failed", name)
    return run


MALLOC_MMAP_THRESHOLD = 128 * 1024
"""Blocks this large and larger come from their own mappings, given back when freed."""


AVAILABILITY_BATCH = 500
"""Sites whose month-to-date availability is handed to /metrics at once (see refresh_availability)."""


def tune_malloc() -> bool:
    """Set glibc's allocator for a long-running agent, before its threads start. Returns False
    where there is no glibc (nothing is changed; not an error).

    * Two arenas, as MALLOC_ARENA_MAX=2 would: glibc gives every thread that allocates under
      contention an arena of its own and keeps what the thread freed there (~15 MB of RSS with 20-odd
      threads at 10,000 hosts).
    * The mmap threshold pinned at 128 KiB (glibc's starting value). glibc otherwise raises it after
      every large block freed, up to 32 MB: after the first status page or /metrics scrape, the
      multi-megabyte buffers of the next ones were cut from the heap and left it full of holes that
      `malloc_trim` cannot always give back (at 10,000 hosts the heap held 12 MB free of 30;
      pinned: under 1.5 MB free of 13, RSS ~8 MB lower). Setting it also fixes the trim threshold.
    """
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt(-8, 2)                          # M_ARENA_MAX
    mallopt(-3, MALLOC_MMAP_THRESHOLD)      # M_MMAP_THRESHOLD
    mallopt(-1, MALLOC_MMAP_THRESHOLD)      # M_TRIM_THRESHOLD: the heap's free top goes back above this
    return True


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim(0)) after a pass that
    allocated a lot for a moment: reading a 10,000-site hosts.yaml, the month's availability,
    compacting history. glibc by itself only gives back what is free at the top of its heap: at
    10,000 sites ~20-30 MB of RSS that nothing used stayed. A walk of the heap of a few ms; best
    effort (no glibc: nothing)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _glibc() -> Any:
    """The C library's handle (ctypes), looked up once; None where there is none."""
    try:
        import ctypes

        return ctypes.CDLL(None)
    except OSError:
        return None


def _malloc_trim() -> Callable[[int], int] | None:
    libc = _glibc()
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None) if libc is not None else None
    return trim


def _freeze_startup_objects() -> None:
    """Move what exists now (the config's hosts, the engine's tracks, the schedule: ~150,000
    objects at 10,000 hosts, kept for the agent's life) out of the cyclic collector's sight: each
    full collection scanned them all again, ~170 ms every few seconds of a busy agent."""
    gc.collect()
    gc.freeze()
    release_free_memory()      # what reading the config and building the agent used for a moment


def run_agent(config_path: str | Path, *, shard: tuple[int, int] | None = None,
              move_damaged_store: bool = False) -> int:
    """`netwatchd run`: start, run until SIGTERM/SIGINT (exit 0 within 2 s), reload on SIGHUP.

    `move_damaged_store`: a damaged store file is renamed to `<name>.damaged-<time>` (with its
    -wal/-shm) and the agent starts with an empty store; a sound one is used as always.
    Raises ConfigError / StoreError / StoreDamaged (exit 2) when the config or the store is
    unusable at start.
    """
    config = load_config_apart(config_path)      # read in a child: its ~40 MB moment stays there
    release_free_memory()       # (read in-process, reading 10,000 sites' YAML used ~35 MB for a moment)
    tune_malloc()
    try:
        agent = Agent(config, shard=shard)
    except StoreDamaged as exc:
        if not move_damaged_store:
            raise
        moved = integrity.move_aside(Database.in_dir(config.data_dir).path, SystemClock().now())
        log.warning("the store %s was damaged (%s): moved to %s; starting with an empty store (site states, "
                    "queued alerts and history start over)", exc.path, exc.detail,
                    ", ".join(str(to) for _, to in moved))
        agent = Agent(config, shard=shard)
    stop = threading.Event()
    reload_wanted = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()
        stop_wait.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        reload_wanted.set()
        stop_wait.set()

    stop_wait = threading.Event()
    wanted = [(signal.SIGTERM, on_stop), (signal.SIGINT, on_stop)]
    if hasattr(signal, "SIGHUP"):            # not on Windows (unsupported there, see the README)
        wanted.append((signal.SIGHUP, on_hup))
    previous = {sig: signal.signal(sig, handler) for sig, handler in wanted}
    try:
        agent.start()
        _freeze_startup_objects()
        while not stop.is_set():
            stop_wait.wait(0.2)
            stop_wait.clear()
            if reload_wanted.is_set():
                reload_wanted.clear()
                log.info("SIGHUP received: reloading %s", config_path)
                gc.unfreeze()           # what the old config held may now be garbage
                try:
                    agent.reload(config_path)
                except NetwatchError as exc:
                    log.error("reload failed, the running config is kept: %s", redact(str(exc)))
                except Exception as exc:  # a reload must never end the agent
                    log.error("reload failed (%s: %s), the running config is kept; run `netwatchd check -c %s`",
                              type(exc).__name__, redact(str(exc)), config_path)
                    log.debug("reload failure", exc_info=True)
                _freeze_startup_objects()
    finally:
        finished = agent.stop()
        gc.unfreeze()           # what the agent held (its store connections among it) is let go at exit
        gc.collect()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not finished:
        # A probe or a send is stuck past the budget: every write is transactional, so leaving
        # now loses nothing; waiting would break the 2-second promise to systemd.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    log.info("stopped")
    return 0
