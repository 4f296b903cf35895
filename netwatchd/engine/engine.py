"""The alert brain: probe results in, decided transitions out. Pure: the clock is handed in.

How a probe result is judged (per host, with the host's own settings):

* **failed**   — the target did not answer at all (`alive` is False), or
                 `loss_percent >= host.down_loss_percent` (default 100: only total loss fails);
* **degraded** — it answered, but `loss_percent >= thresholds.loss_percent`, or
                 `rtt_avg_ms > thresholds.rtt_avg_ms`, `rtt_max_ms > thresholds.rtt_max_ms`,
                 `jitter_ms > thresholds.jitter_ms` or `stdev_ms > thresholds.stdev_ms`
                 (a threshold set to None is not checked);
* **ok**       — everything else.

States follow consecutive results: `down_after` failed in a row -> DOWN, `up_after` ok in a row
-> UP, `degraded_after` degraded in a row -> DEGRADED (and `up_after` ok ones leave it). A DOWN host
that answers `max(up_after, degraded_after)` times in a row but mixes ok and slow replies becomes
UP or DEGRADED by its last reply. The first settling out of UNKNOWN is recorded but not announced.

What admins were last told about a host (`HostState.told`) decides what is announced: a change
is announced only when it differs from what they know, so an UP is never sent without a DOWN (or
DEGRADED / unreachable) before it, and nothing is repeated. Nothing is announced for a muted or
flapping host, nor for a host whose parent is down (it is UNREACHABLE and folded into the
parent's message via `Transition.affected`), nor while the server's own uplink is lost.

Dependencies: a host's parent is another host (or a router that is also a host); a router that
is not probed counts as up. The self-check anchors act as one more parent above every top-level
host. A host that reaches `down_after` while an ancestor is itself failing but not yet decided
- or has not been probed since the host began failing (for at most that ancestor's next probe,
see `wanted_soon()`) - is *held* until that ancestor settles: then it becomes UNREACHABLE
(ancestor went down) or DOWN (ancestor stayed up). While a parent is down every descendant is UNREACHABLE
whatever its own probes say; when the parent comes back, each descendant is judged again from fresh evidence and
its recovery folds into the parent's UP message (a child whose latest probe answered counts as up
at once: the path to it has just passed the parent's own up_after).

Uplink: when every anchor fails UPLINK_DOWN_AFTER times in a row, one "uplink_lost" is sent and
every site becomes UNREACHABLE; when an anchor answers again the sites are judged afresh and their
news is folded into one "uplink_back" summary (sent once they are judged, at most
UPLINK_SUMMARY_WAIT seconds later).

A host with `alert_on_down: false` (devices that are often off on purpose) reaches DOWN as any
other, but the DOWN is not announced (nor reminded, nor listed at startup or a mute's end): it is
recorded as told, so the UP that ends it is announced, as netwatch-notify's no-down-notification
does. While it is down its descendants are UNREACHABLE without a message of their own.

Flapping (see engine.flapping): one "flapping" alert, state changes recorded but not announced, one
"stable" alert with the settled state. Mutes (see engine.mutes): nothing is announced for a muted
host; at the mute's end a "maintenance_end" announces the state if admins knew another one.

Confirmation (see engine.confirm): a host whose spec `confirms` (it has a `via` router) that
reaches DOWN with its ancestors up is not changed yet: the engine asks (`take_asks()`) and waits
for `answer()`. The router could not reach it either -> DOWN with evidence["confirm"]; the router
reached it -> PATH (failing from here, alive from the router: not an outage of the site, no
descendant is cut off, asked again every PATH_RECHECK_S); no answer -> DOWN "unconfirmed". While
it waits the host counts as failing but undecided, so its children are held and fold into its
message as they do today. An UP after a DOWN of a host with `router:` is recorded at once but its
transition is emitted when the router's uptime is answered (the cause) or after CAUSE_GIVE_UP_S.

Every engine-level fact lives in the `HostState` values (plus the config and the mutes), so an
engine rebuilt from `states()` continues exactly as the one that produced them.

Clock steps: the engine keeps its moments (a state's start, the last reminder, ...) as wall times
for showing and storing, and decides on their differences. Each entry point first asks its
`StepWatch` whether the wall clock stepped since the last call (NTP, `date -s`) and shifts every
stored moment by the step, so every difference stays what the monotonic clock measured: a step
back never gives "Outage: 0 s", a step forward never a false "still DOWN (2 h)" reminder. Mutes
end on the monotonic clock (`Mute.ends`). Moments restored from the store that lie in the future
(the clock stepped back while the agent was stopped) are taken as now.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, Protocol

from netwatchd.clock import Clock, StepWatch, iso_ms
from netwatchd.config.model import Config, HostSpec, Thresholds
from netwatchd.engine.confirm import (
    CAUSE_GIVE_UP_S,
    CONFIRM_GIVE_UP_S,
    NO_ANSWER,
    PATH_RECHECK_S,
    REACHABLE,
    RouterAnswer,
    RouterAsk,
    recovery_cause,
)
from netwatchd.engine.flapping import change_percent, slots_for
from netwatchd.engine.mutes import CompiledWindow, Mute, compile_windows, muted_targets
from netwatchd.models import ProbeResult, State, Transition, TransitionKind

__all__ = ["AlertEngine", "HostState", "Mute", "RouterAnswer", "RouterAsk", "SELF_HOST", "SELF_CHECK_PREFIX",
           "classify", "self_check_hosts", "self_check_name", "FAILED", "DEGRADED", "OK"]

SELF_HOST = "__self__"
"""Host name of the monitoring server itself: uplink_lost / uplink_back / startup transitions."""
SELF_CHECK_PREFIX = "__self__:"
"""Self-check anchors are probed like hosts named SELF_CHECK_PREFIX + address."""
UPLINK_DOWN_AFTER = 3
UPLINK_UP_AFTER = 2
UPLINK_SUMMARY_WAIT = 60.0
"""Seconds after the uplink returns that the summary waits for sites to be judged again."""

FAILED, DEGRADED, OK = 0, 1, 2
_NO_CLASS = -1
_CLASS_NAMES = {FAILED: "failed", DEGRADED: "degraded", OK: "ok", _NO_CLASS: ""}
_CLASS_BY_NAME = {v: k for k, v in _CLASS_NAMES.items()}
_DOWNISH = (State.DOWN, State.UNREACHABLE)
_PROBLEM = (State.DOWN, State.DEGRADED, State.UNREACHABLE)
_SETTLED_FAILING = (State.DOWN, State.PATH)   # failing, and decided so: nothing held waits for it
_WAIT = object()       # _confirmation(): the via router has been asked, the DOWN waits for its answer


def self_check_name(address: str) -> str:
    """The host name under which the app probes one self-check anchor."""
    return SELF_CHECK_PREFIX + address


def self_check_hosts(config: Config) -> list[HostSpec]:
    """HostSpecs the app probes for the self-check (one per anchor, ICMP, no degraded checks)."""
    quiet = Thresholds(loss_percent=None, rtt_avg_ms=None, rtt_max_ms=None)
    return [HostSpec(name=self_check_name(address), address=address, probe="icmp",
                     interval=config.self_check.probe_interval, retry_interval=1.0,
                     down_after=UPLINK_DOWN_AFTER, up_after=UPLINK_UP_AFTER, thresholds=quiet)
            for address in config.self_check.anchors]


def classify(result: ProbeResult, host: HostSpec) -> int:
    """FAILED, DEGRADED or OK for one result, by the rules in the module docstring."""
    return _classify(result, _limits(host))


_Limits = tuple[float, "float | None", "float | None", "float | None", "float | None", "float | None"]


def _limits(host: HostSpec) -> _Limits:
    thr = host.thresholds
    return (host.down_loss_percent, thr.loss_percent, thr.rtt_avg_ms, thr.rtt_max_ms, thr.jitter_ms,
            thr.stdev_ms)


def _classify(result: ProbeResult, limits: _Limits) -> int:
    """classify() with the host's limits unpacked once (the per-result hot path)."""
    if not result.alive:
        return FAILED
    sent, received = result.sent, result.received
    if sent <= 0:
        loss = 100.0
    elif received >= sent:
        loss = 0.0
    else:
        loss = round(100.0 * (sent - received) / sent, 2)     # as ProbeResult.loss_percent
    down_loss, t_loss, t_avg, t_max, t_jitter, t_stdev = limits
    if loss >= down_loss:
        return FAILED
    if ((t_loss is not None and loss >= t_loss)
            or (t_avg is not None and result.rtt_avg_ms is not None and result.rtt_avg_ms > t_avg)
            or (t_max is not None and result.rtt_max_ms is not None and result.rtt_max_ms > t_max)
            or (t_jitter is not None and result.jitter_ms is not None and result.jitter_ms > t_jitter)
            or (t_stdev is not None and result.stdev_ms is not None and result.stdev_ms > t_stdev)):
        return DEGRADED
    return OK


class _Judged(Protocol):
    """What hosts_to_probe_soon reads of a host's state (a HostState, or the engine's working copy)."""

    @property
    def state(self) -> State: ...

    @property
    def fails(self) -> int: ...


def hosts_to_probe_soon(results: Sequence[ProbeResult], transitions: Sequence[Transition],
                        states: Mapping[str, _Judged], hosts: Mapping[str, HostSpec]) -> list[str]:
    """Hosts worth probing at once, so dependencies are judged in the right order (Nagios-style
    "check the parent when a child fails"):

    * the ancestors of a host that just failed while still undecided, when they have not failed
      yet themselves — so a dead core is seen failing before its sites reach down_after and the
      sites are held and folded into the core's message instead of announced one by one;
    * the children of a host that just came back UP — they were unreachable and wait for fresh
      evidence, which should not take a whole interval.
    """
    soon: dict[str, None] = {}
    for result in results:
        spec = hosts.get(result.host)
        if spec is None or classify(result, spec) != FAILED:
            continue
        own = states.get(result.host)
        if own is not None and own.state in (*_DOWNISH, State.PATH):
            continue
        parent, seen = spec.parent, {spec.name}
        while parent and parent in hosts and parent not in seen:
            seen.add(parent)
            known = states.get(parent)
            if known is None or (known.state != State.DOWN and known.fails == 0):
                soon[parent] = None
            parent = hosts[parent].parent
    recovered = {t.host for t in transitions if t.kind == "state" and t.to_state == State.UP}
    if recovered:
        for spec in hosts.values():
            if spec.parent in recovered:
                soon[spec.name] = None
    return list(soon)


_MOMENTS = ("since", "last_reminder", "last_at", "failing_since", "held_since")
"""The _Track attributes holding wall times (shifted together when the wall clock steps)."""
_EXTRA_MOMENTS = ("lost_at", "back_at", "path_checked", "outage_from")
"""Extra keys holding wall times (ISO text): SELF_HOST's uplink loss, a host's last PATH re-check and
the start of its outage (the cause's reference)."""
_QUESTION_KEYS = ("confirm", "cause_ask")
"""Extra keys of a host's open questions to the routers: each holds when it was asked ("at")."""

_ISO_CACHE: dict[datetime, str] = {}


def _iso_cached(moment: datetime) -> str:
    """iso_ms, memoised: a probe round shares one timestamp across thousands of results."""
    text = _ISO_CACHE.get(moment)
    if text is None:
        if len(_ISO_CACHE) > 4096:
            _ISO_CACHE.clear()
        text = _ISO_CACHE[moment] = iso_ms(moment)
    return text


def _evidence(result: ProbeResult | None, failures: int) -> dict[str, Any]:
    if result is None:
        return {"failures_in_row": failures}
    return {"probe": result.probe, "loss_percent": result.loss_percent,
            "rtt_avg_ms": result.rtt_avg_ms, "rtt_max_ms": result.rtt_max_ms,
            "jitter_ms": result.jitter_ms, "error": result.error, "failures_in_row": failures,
            "checked_at": _iso_cached(result.at)}


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _verdict_evidence(verdict: dict[str, Any]) -> dict[str, Any]:
    """A router's answer as the evidence of the transition it decides: "confirm" and "diagnosis"."""
    evidence: dict[str, Any] = {"confirm": {k: v for k, v in verdict.items() if k != "diagnosis"}}
    if verdict.get("diagnosis"):
        evidence["diagnosis"] = verdict["diagnosis"]
    return evidence


def _age(text: Any, now: datetime) -> float:
    """Seconds since the ISO time `text` (infinite when there is none: overdue)."""
    if not isinstance(text, str) or not text:
        return float("inf")
    return (now - datetime.fromisoformat(text)).total_seconds()


def _st(text: str | None) -> State | None:
    return State(text) if text else None


@dataclass(frozen=True)
class HostState:
    """Everything the engine knows about one host (or the server itself, SELF_HOST).

    fails/oks/degraded/alive: consecutive failed / ok / degraded / answered results.
    flap_bits: the last window-1 change bits (bit 0 newest); last_class: class of the last result.
    held: reached down_after but waits for an ancestor to settle (or to be probed again: an
    ancestor whose last probe is older than this host's first failure is not known to be up).
    checked_at / failing_since / held_since: time of the last result, of the first failed result
    in a row, and since when it is held. rejudge: was unreachable, its
    parent is back, waiting for fresh evidence. told: the state admins were last told (None =
    nothing yet). muted / pre_mute_state: mute mark and the state when the mute began.
    extra: SELF_HOST bookkeeping (uplink loss time, pending summary, startup announced); for a host,
    its questions to the routers (see engine.confirm): "confirm" (asked, not answered), "verdict"
    (answered, not yet applied), "path_checked", "outage_from", "deferred" (an UP waiting for its cause).
    """

    host: str
    state: State = State.UNKNOWN
    since: datetime | None = None
    fails: int = 0
    oks: int = 0
    degraded: int = 0
    alive: int = 0
    last_class: str = ""
    flap_bits: int = 0
    flapping: bool = False
    flap_announced: bool = False
    flap_percent: float = 0.0
    held: bool = False
    rejudge: bool = False
    told: State | None = None
    muted: bool = False
    pre_mute_state: State | None = None
    last_reminder: datetime | None = None
    checked_at: datetime | None = None
    failing_since: datetime | None = None
    held_since: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as ISO 8601 with ms)."""
        data: dict[str, Any] = {}
        for name in _HOST_STATE_FIELDS:    # fields() rebuilt its list per call; the agent saves every
            value = getattr(self, name)    # host a probe round changes
            if isinstance(value, State):
                value = value.value
            elif isinstance(value, datetime):
                value = _iso_cached(value)
            elif isinstance(value, dict):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostState:
        """Inverse of to_dict; unknown keys are ignored (newer versions may add some)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["state"] = State(values.get("state", "unknown"))
        values["told"] = _st(values.get("told"))
        values["pre_mute_state"] = _st(values.get("pre_mute_state"))
        for name in ("since", "last_reminder", "checked_at", "failing_since", "held_since"):
            values[name] = _dt(values.get(name))
        values["evidence"] = dict(values.get("evidence") or {})
        values["extra"] = dict(values.get("extra") or {})
        return cls(**values)


_HOST_STATE_FIELDS = tuple(f.name for f in fields(HostState))
_NOTHING: dict[str, Any] = {}
"""The empty evidence that tracks share (replaced, never changed in place)."""


class _Track:
    """The mutable working copy of a HostState (fast to update per result)."""

    __slots__ = ("name", "spec", "state", "since", "fails", "oks", "degraded", "alive", "last_class",
                 "flap_bits", "flapping", "flap_announced", "flap_percent", "held", "rejudge", "told",
                 "muted", "pre_mute_state", "last_reminder", "last", "evidence", "extra", "parent",
                 "children", "depth", "held_children", "limits", "last_at", "failing_since",
                 "held_since", "order")

    def __init__(self, name: str, spec: HostSpec | None, saved: HostState | None) -> None:
        saved = saved or HostState(host=name)
        self.name = name
        self.spec = spec
        self.state = saved.state
        self.since = saved.since
        self.fails = saved.fails
        self.oks = saved.oks
        self.degraded = saved.degraded
        self.alive = saved.alive
        self.last_class = _CLASS_BY_NAME.get(saved.last_class, _NO_CLASS)
        self.flap_bits = saved.flap_bits
        self.flapping = saved.flapping
        self.flap_announced = saved.flap_announced
        self.flap_percent = saved.flap_percent
        self.held = saved.held
        self.rejudge = saved.rejudge
        self.told = saved.told
        self.muted = saved.muted
        self.pre_mute_state = saved.pre_mute_state
        self.last_reminder = saved.last_reminder
        self.last_at = saved.checked_at
        self.failing_since = saved.failing_since
        self.held_since = saved.held_since
        self.last: ProbeResult | None = None
        self.evidence: dict[str, Any] = dict(saved.evidence)
        self.extra: dict[str, Any] = dict(saved.extra)
        self.parent: _Track | None = None
        self.children: list[_Track] = []
        self.depth = 0
        self.order = 0              # position in the config: a stable tie-break for judging order
        self.held_children: dict[str, _Track] = {}
        self.limits: _Limits = _limits(spec) if spec else (100.0, None, None, None, None, None)

    def current_evidence(self) -> dict[str, Any]:
        """The evidence of the last result (a new dict each call), or the stored one before the
        first. Built when asked, not kept: 10,000 tracks each holding a dict of it was 3.6 MB,
        where the result itself is shared with the agent's latest results."""
        if self.last is not None:
            self.evidence = _NOTHING
            return _evidence(self.last, self.fails)
        return self.evidence

    def snapshot(self) -> HostState:
        # Built like HostState(...) but without the frozen dataclass's per-field object.__setattr__
        # (3-4x faster; the app snapshots every host touched by each batch).
        state = object.__new__(HostState)
        state.__dict__.update(
            host=self.name, state=self.state, since=self.since, fails=self.fails, oks=self.oks,
            degraded=self.degraded, alive=self.alive, last_class=_CLASS_NAMES[self.last_class],
            flap_bits=self.flap_bits, flapping=self.flapping, flap_announced=self.flap_announced,
            flap_percent=self.flap_percent, held=self.held, rejudge=self.rejudge, told=self.told,
            muted=self.muted, pre_mute_state=self.pre_mute_state, last_reminder=self.last_reminder,
            checked_at=self.last_at, failing_since=self.failing_since, held_since=self.held_since,
            evidence=self.current_evidence() if self.last is not None else dict(self.evidence),
            extra=dict(self.extra) if self.extra else {})
        return state


class _Fold:
    """Children's news collected into one notified message (a parent's DOWN/UP, the uplink summary)."""

    __slots__ = ("names", "changes", "before", "net")

    def __init__(self, net: bool = False) -> None:
        self.net = net                       # keep only net news (the uplink summary)
        self.names: list[str] = []
        self.changes: dict[str, str] = {}
        self.before: dict[str, str] = {}     # what admins knew before the first folded change

    def add(self, track: _Track, new: State) -> None:
        """Fold `new` for `track` (the caller has set track.told = new). A host that ends where
        admins already knew it to be drops out again (net news only)."""
        name = track.name
        if name not in self.changes:
            self.names.append(name)
            self.before[name] = track.told.value if track.told else ""
        self.changes[name] = new.value
        before = self.before[name]
        if self.net and (new.value == before or (new == State.UP and not before)):
            self.names.remove(name)
            del self.changes[name]
            del self.before[name]
            track.told = State(before) if before else None


_BY_DEPTH = attrgetter("depth", "order")


class AlertEngine:
    """Debounced per-host state machine with dependencies, flap damping, mutes and reminders.

    `ingest(results)` and `tick()` return every Transition (notify=False ones too, for the
    events table); only notify=True ones are announced. Not thread-safe: call from one thread.
    """

    def __init__(self, config: Config, clock: Clock, states: dict[str, HostState] | None = None) -> None:
        self._clock = clock
        self._steps = StepWatch(clock)
        self._mutes: tuple[Mute, ...] = ()
        self._muted_now: set[str] = set()
        self._touched: set[str] = set()
        self._summary: _Fold | None = None   # the pending uplink_back summary (mirrored in SELF_HOST extra)
        self._tracks: dict[str, _Track] = {}
        self._anchors: dict[str, _Track] = {}
        saved = dict(states or {})
        self._self = _Track(SELF_HOST, None, saved.get(SELF_HOST))
        self._self.depth = -1
        self._asks: list[RouterAsk] = []
        self._ask_seq = 0
        self._configure(config, saved)
        self._no_future(clock.now())
        now = clock.now()
        for track in self._tracks.values():     # questions of a previous run are asked again
            if "confirm" in track.extra and track.spec is not None and track.spec.via:
                self._ask(track, "confirm", track.spec.via, now)
            if "deferred" in track.extra and track.spec is not None and track.spec.router:
                self._ask(track, "cause", track.spec.router, now)

    # ----------------------------------------------------------------- wall-clock steps

    def _now(self) -> datetime:
        """The wall time, once every stored moment is shifted by a wall-clock step seen since the last call."""
        step = self._steps.check()
        if step:
            self._shift(timedelta(seconds=step))
        return self._clock.now()

    def _all_tracks(self) -> list[_Track]:
        return [*self._tracks.values(), *self._anchors.values(), self._self]

    def _shift(self, delta: timedelta) -> None:
        """Move every stored moment by `delta` (the wall clock stepped by it): differences stay true,
        and what is shown and stored reads right on the corrected clock."""
        for track in self._all_tracks():
            for name in _MOMENTS:
                moment = getattr(track, name)
                if moment is not None:
                    setattr(track, name, moment + delta)
            if any(key in track.extra for key in _EXTRA_MOMENTS):
                track.extra = {**track.extra, **{
                    key: iso_ms(datetime.fromisoformat(track.extra[key]) + delta)
                    for key in _EXTRA_MOMENTS if track.extra.get(key)}}
            for key in _QUESTION_KEYS:            # a question's age is what the monotonic clock says
                asked = track.extra.get(key)
                if isinstance(asked, dict) and asked.get("at"):
                    track.extra[key] = {**asked, "at": iso_ms(datetime.fromisoformat(asked["at"]) + delta)}
            self._touched.add(track.name)

    def _no_future(self, now: datetime) -> None:
        """Restored moments later than now (the clock stepped back while stopped) are taken as now:
        a duration is never negative, a reminder never put off by the step."""
        for track in self._all_tracks():
            for name in _MOMENTS:
                moment = getattr(track, name)
                if moment is not None and moment > now:
                    setattr(track, name, now)
                    self._touched.add(track.name)
            late = {key: iso_ms(now) for key in _EXTRA_MOMENTS
                    if track.extra.get(key) and datetime.fromisoformat(track.extra[key]) > now}
            if late:
                track.extra = {**track.extra, **late}
                self._touched.add(track.name)

    # ----------------------------------------------------------------- configuration

    def _configure(self, config: Config, saved: dict[str, HostState]) -> None:
        self._config = config
        self._specs = {spec.name: spec for spec in config.hosts}
        self._windows: tuple[CompiledWindow, ...] = compile_windows(config.maintenance, config.tz)
        self._flap = config.flapping
        self._slots = slots_for(config.flapping.window)
        self._flap_mask = (1 << self._slots) - 1
        old = self._tracks
        tracks: dict[str, _Track] = {}
        for spec in config.hosts:
            if spec.disabled:
                continue
            kept = old.get(spec.name)
            if kept is not None:
                kept.spec = spec
                kept.limits = _limits(spec)
                kept.children = []
                kept.held_children = {}
                tracks[spec.name] = kept
            else:
                tracks[spec.name] = _Track(spec.name, spec, saved.get(spec.name))
        old_anchors = self._anchors
        self._anchors = {}
        for spec in self_check_hosts(config):
            self._anchors[spec.name] = old_anchors.get(spec.name) or _Track(spec.name, spec,
                                                                              saved.get(spec.name))
            self._anchors[spec.name].spec = spec
            self._anchors[spec.name].limits = _limits(spec)
        self._tracks = tracks
        for order, track in enumerate(tracks.values()):
            track.order = order
        self._self.children = []
        self._self.held_children = {}
        root_parent = self._self if self._anchors else None
        by_lower = {name.lower(): t for name, t in tracks.items()}
        for track in tracks.values():
            parent_name = track.spec.parent if track.spec else None
            parent = by_lower.get(parent_name.lower()) if parent_name else None
            if parent is None or parent is track:
                parent = root_parent
            track.parent = parent
            if parent is not None:
                parent.children.append(track)
        # Depth by walking up (a loop in the parent chain is cut at the first repeat).
        for track in tracks.values():
            depth, node, seen = 0, track.parent, {track.name}
            while node is not None and node is not self._self:
                if node.name in seen:
                    track.parent.children.remove(track)  # type: ignore[union-attr]
                    track.parent = root_parent
                    if root_parent is not None:
                        root_parent.children.append(track)
                    depth = 0
                    break
                seen.add(node.name)
                depth += 1
                node = node.parent
            track.depth = depth
        # only a track with children can hold any (a held host waits for one of its ancestors)
        self._parents = [t for t in tracks.values() if t.children]
        self._groups: dict[str, list[_Track]] = {}
        for track in tracks.values():
            self._groups.setdefault(track.name.lower(), []).append(track)
            if track.spec and track.spec.group:
                self._groups.setdefault(track.spec.group.lower(), []).append(track)
        now = self._clock.now()
        for track in tracks.values():
            if track.held:       # re-register with its blocker; without one, tick() judges it
                _, blocker = self._ancestry(track, now)
                if blocker is not None:
                    blocker.held_children[track.name] = track
        self._muted_now = {t.name for t in tracks.values() if t.muted}

    def replace_config(self, config: Config, saved: dict[str, HostState] | None = None) -> None:
        """Apply a reloaded config: hosts kept by name keep their state and counters; a host added back
        gets its `saved` state (kept by the store for a while after a reload removed it).

        A host moved away from a down parent is judged again from fresh probes; one moved under a
        down parent becomes unreachable (silently: the parent's message has already gone out).
        """
        self._configure(config, saved or {})
        self._touched.update(self._tracks)
        now = self._now()
        for track in sorted(self._tracks.values(), key=_BY_DEPTH):
            verdict, _ = self._ancestry(track)
            if track.state == State.UNREACHABLE and not track.rejudge and verdict != "down":
                track.rejudge, track.fails = True, 0
            elif verdict == "down" and track.state != State.UNREACHABLE:
                track.state, track.since, track.rejudge, track.held = State.UNREACHABLE, now, False, False

    def set_mutes(self, mutes: Sequence[Mute]) -> None:
        """The bot's active mutes (replaces the previous list); applied at the next ingest/tick."""
        self._mutes = tuple(mutes)

    # ----------------------------------------------------------------- queries

    def states(self) -> dict[str, HostState]:
        """A snapshot of every host, the anchors and SELF_HOST (what the store persists)."""
        found = {name: t.snapshot() for name, t in self._tracks.items()}
        found.update((name, t.snapshot()) for name, t in self._anchors.items())
        found[SELF_HOST] = self._self.snapshot()
        return found

    def snapshots(self, names: Iterable[str]) -> dict[str, HostState]:
        """Snapshots of these entries (names the engine does not know are left out)."""
        found: dict[str, HostState] = {}
        for name in names:
            track = self._tracks.get(name) or self._anchors.get(name)
            if track is not None:
                found[name] = track.snapshot()
            elif name == SELF_HOST:
                found[name] = self._self.snapshot()
        return found

    def take_changed(self) -> dict[str, HostState]:
        """Snapshots of the entries touched since the last call (what `save` needs to write)."""
        names, self._touched = self._touched, set()
        return self.snapshots(names)

    def is_settling(self, host: str) -> bool:
        """True while `host`'s counters are on their way to a decision (probe it again soon)."""
        track = self._tracks.get(host) or self._anchors.get(host)
        if track is None:
            return False
        if host in self._anchors:
            return (track.fails > 0 and self._self.state != State.DOWN) or bool(self._self.held_children) \
                or (self._self.state == State.DOWN and track.oks > 0)
        if track.held_children:
            return True
        if track.state == State.UNREACHABLE and not track.rejudge:
            # Probe it soon while the ancestor that cut it off is answering again, so that its
            # fresh answer is there to fold into that ancestor's UP message.
            node = track.parent
            while node is not None and node.state == State.UNREACHABLE and not node.rejudge:
                node = node.parent
            return node is not None and node.state in _DOWNISH and (node.alive > 0 or node.oks > 0)
        if track.held or track.state == State.UNKNOWN or track.rejudge:
            return True
        if track.state in _SETTLED_FAILING:
            return track.alive > 0
        return track.fails > 0 or (track.state == State.DEGRADED and track.oks > 0) or \
            (track.state == State.UP and track.degraded > 0)

    # ----------------------------------------------------------------- the two entry points

    def ingest(self, results: Sequence[ProbeResult]) -> list[Transition]:
        """Judge a batch of probe results; returns every transition decided."""
        now = self._now()
        out: list[Transition] = []
        self._refresh_mutes(now, out)
        dirty: list[_Track] = []
        seen: set[str] = set()
        tracks = self._tracks
        flap_on = self._flap.enabled
        flap_mask = self._flap_mask
        touched = self._touched
        anchors_hit = False
        for result in results:
            name = result.host
            track = tracks.get(name)
            if track is None:
                anchor = self._anchors.get(name)
                if anchor is not None:
                    self._count(anchor, _classify(result, anchor.limits), result)
                    touched.add(name)
                    anchors_hit = True
                continue
            if name in seen:            # the same host twice in one batch: judge what we have first
                self._judge_all(dirty, now, out, anchors_hit)
                dirty, anchors_hit = [], False
                seen.clear()
            seen.add(name)
            touched.add(name)
            cls = _classify(result, track.limits)
            track.last = result
            track.last_at = result.at
            if cls == FAILED:
                if not track.fails:
                    track.failing_since = result.at
                track.fails += 1
                track.oks = track.degraded = track.alive = 0
            elif cls == OK:
                track.oks += 1
                track.alive += 1
                track.fails = track.degraded = 0
            else:
                track.degraded += 1
                track.alive += 1
                track.fails = track.oks = 0
            if cls != FAILED and track.failing_since is not None:
                track.failing_since = track.held_since = None
            changed = cls != track.last_class and track.last_class != _NO_CLASS
            track.flap_bits = ((track.flap_bits << 1) | changed) & flap_mask
            track.last_class = cls
            state = track.state
            if state == State.UNREACHABLE and not track.rejudge:
                continue
            # A result that agrees with the state cannot change it (the counters only confirm it).
            steady = ((cls == OK and state == State.UP) or (cls == FAILED and state in _SETTLED_FAILING)
                      or (cls == DEGRADED and state == State.DEGRADED))
            if (track.held or (flap_on and (changed or track.flapping or track.flap_announced))
                    or (track.extra and "confirm" in track.extra and cls != FAILED)
                    or (track.held_children and cls != FAILED)
                    or (not steady and self._target(track) not in (None, state))):
                dirty.append(track)
        self._judge_all(dirty, now, out, anchors_hit)
        self._maybe_startup(now, out)
        return out

    def tick(self) -> list[Transition]:
        """Time-driven work: mute starts/ends, reminders, the uplink summary's deadline."""
        now = self._now()
        out: list[Transition] = []
        self._refresh_mutes(now, out)
        for track in list(self._tracks.values()):
            if track.held:     # its ancestor was not probed in time: judge it with what is known
                _, blocker = self._ancestry(track, now)
                if blocker is None or not track.held:
                    track.held = False
                    self._judge(track, now, out)
            every = track.spec.reminder_every if track.spec else None
            if (every and track.state == State.DOWN and track.told == State.DOWN
                    and track.spec is not None and track.spec.alert_on_down
                    and not track.muted and not track.flapping and not self._summary_pending()):
                base = track.last_reminder or track.since
                if base is not None and (now - base).total_seconds() >= every:
                    track.last_reminder = now
                    self._touched.add(track.name)
                    out.append(self._transition(
                        track, track.state, now, kind="reminder", notify=True, since=track.since,
                        extra={"down_for_s": round((now - track.since).total_seconds(), 3)
                               if track.since else None}))
        self._tick_questions(now, out)
        self._maybe_summarize_uplink(now, out, force_after=UPLINK_SUMMARY_WAIT)
        return out

    def _tick_questions(self, now: datetime, out: list[Transition]) -> None:
        """Questions that got no answer in time; PATH hosts whose router is due to be asked again."""
        for track in list(self._tracks.values()):
            extra = track.extra
            if not extra:
                continue
            asked = extra.get("confirm")
            if isinstance(asked, dict) and _age(asked.get("at"), now) >= CONFIRM_GIVE_UP_S:
                del extra["confirm"]
                extra["verdict"] = {"via": asked.get("router"), "result": NO_ANSWER, "sent": 0, "received": 0,
                                    "error": "no answer in time", "waited_s": round(_age(asked.get("at"), now), 3)}
                self._touched.add(track.name)
                self._judge(track, now, out)
                extra.pop("verdict", None)
            if "deferred" in extra and _age(extra.get("cause_ask", {}).get("at"), now) >= CAUSE_GIVE_UP_S:
                self._release_deferred(track, now, out, None)
            spec = track.spec
            if (track.state == State.PATH and "confirm" not in extra and spec is not None and spec.via
                    and _age(extra.get("path_checked"), now) >= PATH_RECHECK_S):
                self._ask(track, "confirm", spec.via, now)

    # ----------------------------------------------------------------- judging

    def _count(self, track: _Track, cls: int, result: ProbeResult | None) -> None:
        track.last = result
        track.last_at = result.at if result is not None else track.last_at
        if cls == FAILED:
            track.fails += 1
            track.oks = track.degraded = track.alive = 0
        else:
            track.oks += 1
            track.alive += 1
            track.fails = track.degraded = 0
        track.last_class = cls

    @staticmethod
    def _target(track: _Track) -> State | None:
        """The state the counters call for (None = not decided yet)."""
        spec = track.spec
        assert spec is not None
        if track.fails >= spec.down_after:
            return State.DOWN
        if track.oks >= spec.up_after:
            return State.UP
        if track.degraded >= spec.degraded_after:
            return State.DEGRADED
        if (track.state in (State.DOWN, State.UNKNOWN, State.UNREACHABLE)
                and track.alive >= max(spec.up_after, spec.degraded_after)):
            return State.DEGRADED if track.last_class == DEGRADED else State.UP
        return None

    def _ancestry(self, track: _Track, now: datetime | None = None) -> tuple[str, _Track | None]:
        """("down", a) if ancestor a is down/unreachable, ("settling", a) if a is failing but
        undecided (or held), or - with `now` - not probed since `track` began failing (for at
        most _verify_wait(a) seconds), else ("up", None)."""
        node = track.parent
        while node is not None:
            if node.state in _DOWNISH:
                return "down", node
            if node.held or (node.fails > 0 and node.state not in _SETTLED_FAILING):
                return "settling", node
            if now is not None and self._unverified(node, track, now):
                return "settling", node
            node = node.parent
        return "up", None

    def _unverified(self, node: _Track, track: _Track, now: datetime) -> bool:
        """Is `node` not known to be up since `track` started failing (and still worth waiting for)?"""
        if track.failing_since is None or (node is self._self and node.state == State.UNKNOWN):
            return False
        if node.last_at is not None and node.last_at >= track.failing_since:
            return False
        waited = (now - (track.held_since or now)).total_seconds()
        return waited < self._verify_wait(node)

    def _verify_wait(self, node: _Track) -> float:
        """How long a failing child waits for a fresh probe of `node`: its next probe, at worst."""
        if node is self._self or node.spec is None:
            return self._config.self_check.probe_interval + 2.0
        return node.spec.interval + node.spec.timeout + 1.0

    def probe_soon(self, results: Sequence[ProbeResult], transitions: Sequence[Transition]) -> list[str]:
        """After `ingest(results)` returned `transitions`: the hosts (and anchors) to probe now rather
        than at their turn (hosts_to_probe_soon, then wanted_soon). The caller expedites them."""
        soon = hosts_to_probe_soon(results, transitions, self._tracks, self._specs)
        return soon + [name for name in self.wanted_soon() if name not in soon]

    def wanted_soon(self) -> list[str]:
        """Hosts (and anchors) whose fresh probe would let held hosts be judged: probe them now."""
        found = [t.name for t in self._parents if t.held_children]   # not all 10,000 tracks per batch
        if self._self.held_children:
            found += list(self._anchors)
        return found

    # ----------------------------------------------------------------- questions to the routers

    def take_asks(self) -> list[RouterAsk]:
        """The questions decided since the last call (each asked once); the app has the routers
        answer them and hands the answers to `answer()`."""
        asks, self._asks = self._asks, []
        return asks

    def answer(self, answers: Sequence[RouterAnswer]) -> list[Transition]:
        """Apply routers' answers; returns the transitions they decide. An answer to a question
        that is no longer open (the site answered again meanwhile, a newer question) is ignored."""
        now = self._now()
        out: list[Transition] = []
        for reply in answers:
            track = self._tracks.get(reply.host)
            if track is None:
                continue
            key = "confirm" if reply.kind == "confirm" else "cause_ask"
            asked = track.extra.get(key)
            if not isinstance(asked, dict) or asked.get("id") != reply.id:
                continue
            del track.extra[key]
            self._touched.add(track.name)
            if reply.kind == "confirm":
                verdict = reply.confirm_evidence()
                verdict["waited_s"] = round(_age(asked.get("at"), now), 3)   # what the vote added
                if reply.diagnosis:
                    verdict["diagnosis"] = [dict(line) for line in reply.diagnosis]
                track.extra["verdict"] = verdict
                self._judge(track, now, out)
                track.extra.pop("verdict", None)     # not used: the site answered again meanwhile
            else:
                self._release_deferred(track, now, out, reply)
        self._maybe_summarize_uplink(now, out, force_after=None)
        self._maybe_startup(now, out)
        return out

    def _ask(self, track: _Track, kind: str, router: str, now: datetime) -> None:
        self._ask_seq += 1
        key = "confirm" if kind == "confirm" else "cause_ask"
        track.extra[key] = {"id": self._ask_seq, "at": iso_ms(now), "router": router}
        self._touched.add(track.name)
        assert track.spec is not None
        self._asks.append(RouterAsk(id=self._ask_seq, kind=kind, host=track.name, address=track.spec.address,
                                    router=router, asked_at=now))

    def _confirmation(self, track: _Track, now: datetime) -> object:
        """For a host about to go DOWN: None (go ahead, no confirmation), _WAIT (its via router is
        asked / being asked), or (state, evidence) decided by the router's answer."""
        spec = track.spec
        if spec is None or not spec.confirms or spec.via is None:
            return None
        verdict = track.extra.pop("verdict", None)
        if verdict is not None:
            evidence = _verdict_evidence(verdict)
            if verdict.get("result") == REACHABLE:
                track.extra["path_checked"] = iso_ms(now)
                return State.PATH, evidence
            return State.DOWN, evidence
        if "confirm" not in track.extra:
            self._ask(track, "confirm", spec.via, now)
        return _WAIT

    def _recheck_path(self, track: _Track, now: datetime, out: list[Transition]) -> None:
        """A PATH host's via router answered again: it still reaches it (stay), it does not (DOWN,
        confirmed), or it did not answer (stay: nothing new is known)."""
        verdict = track.extra.pop("verdict", None)
        if verdict is None:
            return
        track.extra["path_checked"] = iso_ms(now)
        self._touched.add(track.name)
        if verdict.get("result") not in (REACHABLE, NO_ANSWER):
            self._change(track, State.DOWN, now, out, None, extra=_verdict_evidence(verdict))

    def _release_deferred(self, track: _Track, now: datetime, out: list[Transition],
                          reply: RouterAnswer | None) -> None:
        """Emit the UP held for its cause, with the cause (unknown without an answer)."""
        data = track.extra.pop("deferred", None)
        track.extra.pop("cause_ask", None)
        outage_from = _dt(track.extra.pop("outage_from", None))
        self._touched.add(track.name)
        if not isinstance(data, dict):
            return
        held = Transition.from_dict(data)
        cause: dict[str, Any] = {"router": track.spec.router if track.spec else None}
        if reply is not None and reply.uptime_s is not None:
            cause.update(result=recovery_cause(reply.uptime_s, reply.at, outage_from),
                         uptime_s=round(reply.uptime_s, 1))
        else:
            cause.update(result="unknown", error=(reply.error if reply is not None and reply.error
                                                  else "no answer in time"))
        out.append(dataclasses.replace(held, evidence={**held.evidence, "cause": cause}))

    def _judge_all(self, dirty: list[_Track], now: datetime, out: list[Transition],
                   anchors_hit: bool) -> None:
        if anchors_hit:
            self._judge_uplink(now, out)
        if len(dirty) > 1:
            dirty.sort(key=_BY_DEPTH)
        for track in dirty:
            self._judge(track, now, out)
        self._maybe_summarize_uplink(now, out, force_after=None)

    def _judge(self, track: _Track, now: datetime, out: list[Transition]) -> None:
        if track.state == State.UNREACHABLE and not track.rejudge:
            return
        if self._flap.enabled:
            self._judge_flapping(track, now, out)
        target = self._target(track)
        extra: dict[str, Any] | None = None
        if target == State.DOWN and track.state == State.PATH:
            self._recheck_path(track, now, out)     # failing is what PATH is: only its router decides
        elif target is not None and target != track.state:
            if target == State.DOWN:
                verdict, blocker = self._ancestry(track, now)
                if verdict == "settling" and blocker is not None:
                    track.held = True
                    track.held_since = track.held_since or now
                    self._touched.add(track.name)
                    blocker.held_children[track.name] = track
                    return
                if verdict == "down":
                    self._change(track, State.UNREACHABLE, now, out, None)
                    return
                gate = self._confirmation(track, now)
                if gate is _WAIT:
                    track.held = False
                    return
                if isinstance(gate, tuple):
                    target, extra = gate
            track.held = False
            self._change(track, target, now, out, None, extra=extra)
        elif track.held and target != State.DOWN:
            track.held = False
        if target != State.DOWN and track.extra and "confirm" in track.extra:
            del track.extra["confirm"]               # it answers again: the question is moot
            self._touched.add(track.name)
        self._release_held(track, now, out)

    def _release_held(self, track: _Track, now: datetime, out: list[Transition]) -> None:
        """Judge again the hosts held for `track` once it is no longer failing undecided."""
        if not track.held_children or track.held or (track.fails > 0 and track.state not in _SETTLED_FAILING):
            return
        if track.state in _DOWNISH:
            track.held_children = {}     # the descendant walk made them unreachable
            return
        held = sorted(track.held_children.values(), key=_BY_DEPTH)
        track.held_children = {}
        for child in held:
            if child.held:
                child.held = False
                self._judge(child, now, out)

    def _judge_flapping(self, track: _Track, now: datetime, out: list[Transition]) -> None:
        percent = change_percent(track.flap_bits, self._slots)
        track.flap_percent = percent
        if not track.flapping and percent >= self._flap.high_percent:
            track.flapping = True
            # Admins told "flapping" and not yet "stable" (the stable fell in a mute) hear nothing new.
            notify = not (track.muted or track.flap_announced or track.state == State.UNREACHABLE
                          or self._summary_pending())
            track.flap_announced = track.flap_announced or notify
            out.append(self._transition(track, track.state, now, kind="flapping", notify=notify,
                                        since=track.since, extra={"flap_percent": percent}))
            return
        quiet = track.muted or self._summary_pending() or track.state == State.UNREACHABLE
        if track.flapping and percent < self._flap.low_percent:
            track.flapping = False
            if not quiet:
                self._announce_stable(track, now, out, percent)
        elif track.flap_announced and not track.flapping and not quiet:
            # a "stable" held back by a mute, the uplink summary or a parent outage
            self._announce_stable(track, now, out, percent)

    def _announce_stable(self, track: _Track, now: datetime, out: list[Transition], percent: float) -> None:
        notify = track.flap_announced or self._news(track, track.state)
        if notify and not track.flap_announced and self._silent_down(track, track.state):
            track.told, notify = State.DOWN, False
        track.flap_announced = False
        if notify and track.state in (State.UP, State.DOWN, State.DEGRADED):
            track.told = track.state
        out.append(self._transition(track, track.state, now, kind="stable", notify=notify,
                                    since=track.since, extra={"flap_percent": percent}))

    @staticmethod
    def _news(track: _Track, new: State) -> bool:
        """Would telling admins `new` tell them something they do not know?"""
        if new == State.UNREACHABLE or new == State.UNKNOWN or new == track.told:
            return False
        return not (new == State.UP and track.told is None)

    @staticmethod
    def _silent_down(track: _Track, new: State) -> bool:
        """Is `new` a DOWN this host does not announce (alert_on_down: false)?"""
        return new == State.DOWN and track.spec is not None and not track.spec.alert_on_down

    def _change(self, track: _Track, new: State, now: datetime, out: list[Transition],
                fold: _Fold | None, extra: dict[str, Any] | None = None) -> None:
        """Move `track` to `new`, decide whether it is announced, and carry its descendants along."""
        if track.extra:
            if "deferred" in track.extra:        # an UP still waiting for its cause goes out first
                self._release_deferred(track, now, out, None)
            for key in ("confirm", "verdict", "path_checked"):
                track.extra.pop(key, None)
        old = track.state
        old_since = track.since
        quiet = track.muted or track.flapping or old == State.UNKNOWN
        notify = not quiet and self._news(track, new)
        if notify and self._silent_down(track, new):
            # counted as told without a message, so the UP that ends it is news
            track.told, notify = new, False
        folded = False
        if notify and fold is None and self._summary_pending():
            fold = self._summary_fold()    # news while the uplink summary is pending goes into it
        if notify and fold is not None and (new == State.UP or fold is self._summary):
            folded, notify = True, False
            fold.add(track, new)
            if track.name in fold.changes:
                track.told = new
        elif notify:
            track.told = new
        track.state = new
        track.since = now
        track.rejudge = False
        track.held = False
        track.held_since = None
        track.last_reminder = None
        self._touched.add(track.name)
        own_fold = _Fold() if notify else fold
        children_out: list[Transition] = []
        if new in _DOWNISH:
            self._cut_off(track, now, children_out, own_fold, fold_children=notify or folded)
        elif old in _DOWNISH or old == State.UNKNOWN:
            self._reconnect(track, now, children_out, own_fold)
        affected = tuple(own_fold.names) if notify and own_fold is not None else ()
        transition = self._transition(track, new, now, kind="state", notify=notify, since=old_since,
                                      old=old, affected=affected, extra=extra)
        spec = track.spec
        if new == State.PATH:
            track.extra["path_checked"] = iso_ms(now)
        if new == State.DOWN:    # the outage began after the last good probe, about one interval earlier
            began = (track.failing_since or now) - timedelta(seconds=spec.interval if spec else 0.0)
            track.extra["outage_from"] = iso_ms(began)
        elif old == State.DOWN and spec is not None and spec.router and new in (State.UP, State.DEGRADED):
            track.extra["deferred"] = transition.to_dict()     # emitted with its cause (answer())
            self._ask(track, "cause", spec.router, now)
        else:
            track.extra.pop("outage_from", None)
        if "deferred" not in track.extra:
            out.append(transition)
        out.extend(children_out)
        if folded and fold is self._summary:
            self._save_summary()

    def _cut_off(self, track: _Track, now: datetime, out: list[Transition], fold: _Fold | None,
                 fold_children: bool) -> None:
        """`track` is down or unreachable: every descendant becomes UNREACHABLE."""
        stack = list(reversed(track.children))
        while stack:
            child = stack.pop()
            stack.extend(reversed(child.children))
            child.rejudge = False
            child.held = False
            child.held_since = None
            child.held_children = {}
            if child.extra and ("confirm" in child.extra or "verdict" in child.extra):
                child.extra.pop("confirm", None)
                child.extra.pop("verdict", None)
                self._touched.add(child.name)
            if child.state != State.UNREACHABLE:
                old, old_since = child.state, child.since
                child.state, child.since = State.UNREACHABLE, now
                child.last_reminder = None
                self._touched.add(child.name)
                out.append(self._transition(child, State.UNREACHABLE, now, kind="state", notify=False,
                                            since=old_since, old=old))
            if fold_children and fold is not None and not child.muted and child.told != State.DOWN:
                fold.add(child, State.UNREACHABLE)
                if child.name in fold.changes:
                    child.told = State.UNREACHABLE
        track.held_children = {}

    def _reconnect(self, track: _Track, now: datetime, out: list[Transition], fold: _Fold | None) -> None:
        """`track` is reachable again: judge its unreachable children from their own evidence."""
        for child in list(track.children):
            if child.state != State.UNREACHABLE or child.rejudge:
                continue
            child.rejudge = True
            child.fails = 0           # failures seen while the parent was down do not count
            self._touched.add(child.name)
            target = self._target(child)
            if target is None and child.last_class == OK:
                target = State.UP     # it answers and the path to it has just proved stable
            if target is not None and target != State.DOWN:
                self._change(child, target, now, out, fold)

    # ----------------------------------------------------------------- uplink (self-check)

    def _judge_uplink(self, now: datetime, out: list[Transition]) -> None:
        anchors = list(self._anchors.values())
        me = self._self
        me.fails = min(a.fails for a in anchors)
        me.oks = max(a.oks for a in anchors)
        seen = [a.last_at for a in anchors if a.last_at is not None]
        me.last_at = max(seen) if seen else None
        self._touched.add(SELF_HOST)
        if me.state != State.DOWN and me.fails >= UPLINK_DOWN_AFTER:
            self._maybe_summarize_uplink(now, out, force_after=0.0)  # a pending "back" goes first
            old, old_since = me.state, me.since
            me.state, me.since = State.DOWN, now
            me.extra = {**me.extra, "lost_at": iso_ms(now)}
            out.append(self._transition(me, State.DOWN, now, kind="uplink_lost", notify=True,
                                        since=old_since, old=old,
                                        extra={"anchors": [a.spec.address for a in anchors if a.spec]}))
            self._cut_off(me, now, out, None, fold_children=False)
        elif me.state != State.UP and me.oks >= UPLINK_UP_AFTER:
            was_lost = me.state == State.DOWN
            me.state, me.since = State.UP, now if was_lost or me.since is None else me.since
            if was_lost:
                me.extra = {**me.extra, "back_at": iso_ms(now), "changes": {}, "names": [], "before": {}}
                self._summary = None
                self._reconnect(me, now, out, self._summary_fold())
            else:
                self._reconnect(me, now, out, None)
        self._release_held(me, now, out)

    def _summary_pending(self) -> bool:
        return bool(self._self.extra.get("back_at"))

    def _summary_fold(self) -> _Fold:
        fold = self._summary
        if fold is None:
            fold = _Fold(net=True)
            fold.names = list(self._self.extra.get("names", []))
            fold.changes = dict(self._self.extra.get("changes", {}))
            fold.before = dict(self._self.extra.get("before", {}))
            self._summary = fold
        return fold

    def _save_summary(self) -> None:
        fold = self._summary
        if fold is not None and self._self.extra.get("back_at"):
            self._self.extra = {**self._self.extra, "names": list(fold.names),
                                "changes": dict(fold.changes), "before": dict(fold.before)}
            self._touched.add(SELF_HOST)

    def _maybe_summarize_uplink(self, now: datetime, out: list[Transition], force_after: float | None) -> None:
        me = self._self
        back_at = me.extra.get("back_at")
        if not back_at:
            return
        self._save_summary()
        waited = (now - datetime.fromisoformat(back_at)).total_seconds()
        pending = any(t.rejudge for t in self._tracks.values())
        if pending and (force_after is None or waited < force_after):
            return
        fold = self._summary_fold()
        for name in list(fold.names):       # muted since its news was folded: the mute's end tells
            track = self._tracks.get(name)
            if track is not None and track.muted:
                before = fold.before.pop(name, "")
                track.told = State(before) if before else None
                fold.names.remove(name)
                del fold.changes[name]
                self._touched.add(name)
        lost_at = datetime.fromisoformat(me.extra["lost_at"])
        extra = {"lost_for_s": round((datetime.fromisoformat(back_at) - lost_at).total_seconds(), 3),
                 "changes": dict(fold.changes), "lost_at": me.extra["lost_at"]}
        out.append(Transition(host=SELF_HOST, address=self._anchor_addresses(), from_state=State.DOWN,
                              to_state=State.UP, at=now, kind="uplink_back", since=lost_at,
                              affected=tuple(fold.names), evidence=extra, notify=True))
        me.extra = {k: v for k, v in me.extra.items()
                    if k not in ("back_at", "changes", "names", "before", "lost_at")}
        self._summary = None
        self._touched.add(SELF_HOST)
        for track in self._tracks.values():     # "stable" held back while the summary was pending
            if (track.flap_announced and not track.flapping and not track.muted
                    and track.state != State.UNREACHABLE):
                self._touched.add(track.name)
                self._announce_stable(track, now, out, track.flap_percent)

    def _anchor_addresses(self) -> str:
        return ",".join(a.spec.address for a in self._anchors.values() if a.spec)

    # ----------------------------------------------------------------- mutes and startup

    def _refresh_mutes(self, now: datetime, out: list[Transition]) -> None:
        if not self._windows and not self._mutes and not self._muted_now:
            return
        names: set[str] = set()
        for target in muted_targets(self._windows, self._mutes, now, self._clock.monotonic()):
            for track in self._groups.get(target, ()):
                names.add(track.name)
        if names == self._muted_now:
            return
        started = names - self._muted_now
        ended = [self._tracks[n] for n in self._muted_now - names if n in self._tracks]
        self._muted_now = names
        for name in started:
            track = self._tracks[name]
            track.muted = True
            track.pre_mute_state = track.state
            self._touched.add(name)
        for track in ended:
            track.muted = False
            self._touched.add(track.name)
        for track in sorted(ended, key=_BY_DEPTH):
            self._end_mute(track, now, out)

    def _end_mute(self, track: _Track, now: datetime, out: list[Transition]) -> None:
        before = track.pre_mute_state
        track.pre_mute_state = None
        if track.state == State.UNKNOWN or track.held or track.flapping or track.rejudge:
            return
        if track.state == State.UNREACHABLE:
            return       # its parent is down: it is announced with the parent
        if track.flap_announced:
            if not self._summary_pending():     # else it follows the uplink summary
                self._announce_stable(track, now, out, track.flap_percent)
            return
        if not self._news(track, track.state):
            return
        if self._silent_down(track, track.state):
            track.told = State.DOWN
            self._touched.add(track.name)
            return
        if self._summary_pending():
            fold = self._summary_fold()
            fold.add(track, track.state)
            if track.name in fold.changes:
                track.told = track.state
            self._save_summary()
            return
        track.told = track.state
        fold = _Fold()
        if track.state == State.DOWN:
            for child in self._descendants(track):
                if not child.muted and child.told != State.DOWN and child.state == State.UNREACHABLE:
                    fold.add(child, State.UNREACHABLE)
                    child.told = State.UNREACHABLE
                    self._touched.add(child.name)
        out.append(self._transition(track, track.state, now, kind="maintenance_end", notify=True,
                                    since=track.since, old=before or track.state,
                                    affected=tuple(fold.names)))

    @staticmethod
    def _descendants(track: _Track) -> Iterable[_Track]:
        stack = list(reversed(track.children))
        while stack:
            child = stack.pop()
            yield child
            stack.extend(reversed(child.children))

    def _maybe_startup(self, now: datetime, out: list[Transition]) -> None:
        me = self._self
        if not self._config.announce_startup or me.extra.get("startup_announced"):
            return
        if me.state == State.DOWN or me.extra.get("back_at"):
            return
        tracks = list(self._tracks.values())
        if not tracks or any(t.state == State.UNKNOWN or t.held for t in tracks):
            return
        down = [t for t in tracks if t.state == State.DOWN and not t.muted]
        for track in down:
            track.told = State.DOWN
            self._touched.add(track.name)
        down = [t for t in down if not self._silent_down(t, State.DOWN)]   # told, but not listed
        me.extra = {**me.extra, "startup_announced": True}
        self._touched.add(SELF_HOST)
        out.append(Transition(host=SELF_HOST, address="", from_state=State.UNKNOWN, to_state=State.UP,
                              at=now, kind="startup", affected=tuple(t.name for t in down),
                              evidence={"watching": len(tracks), "down": len(down),
                                        "unreachable": sum(t.state == State.UNREACHABLE for t in tracks)},
                              notify=True))

    # ----------------------------------------------------------------- building transitions

    def _transition(self, track: _Track, new: State, now: datetime, *, kind: TransitionKind, notify: bool,
                    since: datetime | None, old: State | None = None, affected: tuple[str, ...] = (),
                    extra: dict[str, Any] | None = None) -> Transition:
        evidence = dict(track.current_evidence()) if track is not self._self else {}
        if track is not self._self:
            evidence["failures_in_row"] = track.fails
        if extra:
            evidence.update(extra)
        spec = track.spec
        address = spec.address if spec else self._anchor_addresses()
        return Transition(host=track.name, address=address, from_state=old if old is not None else new,
                          to_state=new, at=now, kind=kind, group=spec.group if spec else "",
                          since=since, affected=affected, evidence=evidence, notify=notify)
