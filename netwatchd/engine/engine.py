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
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, NamedTuple, Protocol

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

__all__ = ["AlertEngine", "HostState", "Seen", "Mute", "RouterAnswer", "RouterAsk", "SELF_HOST", "SELF_CHECK_PREFIX",
           "classify", "self_check_hosts", "self_check_name", "FAILED", "DEGRADED", "OK"]

SELF_HOST = "__self__"
"""Host name of the monitoring server itself: uplink_lost / uplink_back / startup transitions."""
SELF_CHECK_PREFIX = "__self__:"
"""Self-check anchors are probed like hosts named SELF_CHECK_PREFIX + address."""
UPLINK_DOWN_AFTER = 3
UPLINK_UP_AFTER = 2
UPLINK_SUMMARY_WAIT = 60.0
"""Seconds after the uplink returns that the summary waits for sites to be judged again."""
OUTAGES_KEPT = 100
"""At most this many recent outage starts are kept per host for the early flapping rule."""
BURST_FAMILY_MAX = 256
"""Sites sharing a parent are one family up to this many: when one starts failing the others are
probed at once, and DOWNs decided together are told together. Larger families are not."""

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


_SHARED_LIMITS: dict[_Limits, _Limits] = {}


def _kept_limits(host: HostSpec) -> _Limits:
    """_limits for a track to keep: equal ones are one shared tuple (10,000 tracks)."""
    limits = _limits(host)
    return _SHARED_LIMITS.setdefault(limits, limits)


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
      evidence, which should not take a whole interval — and of a down host that answers again,
      so that their answers are there for its UP message.
    """
    soon: dict[str, None] = {}
    answered: list[ProbeResult] = []
    for result in results:
        spec = hosts.get(result.host)
        if spec is None:
            continue
        if classify(result, spec) != FAILED:
            answered.append(result)
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
    answering = {r.host for r in answered if (known := states.get(r.host)) is not None and known.state == State.DOWN}
    if recovered or answering:
        for spec in hosts.values():
            if spec.parent in recovered or spec.parent in answering:
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


def _shifted(transition: Transition, delta: timedelta) -> Transition:
    """`transition` with its moments moved by `delta` (the wall clock stepped)."""
    return replace(transition, at=transition.at + delta,
                   since=transition.since + delta if transition.since is not None else None)


def _drop_extra(track: _Track, key: str) -> None:
    track.extra = {k: v for k, v in track.extra.items() if k != key} or _NONE_YET


def _first_news(out: list[Transition], order: dict[int, int], after: int, *, any_of: set[str],
                announced_of: frozenset[str] | set[str] = frozenset()) -> int | None:
    """Index of the first transition in `out` decided after the waiting message (its number in
    `order` above `after`) that it must go out before: any of a host in `any_of` (the site
    itself, its ancestors), an announced one of a host in `announced_of` (its descendants) or
    of the server itself."""
    return next((i for i, t in enumerate(out) if order.get(id(t), -1) > after and (
        t.host in any_of or (t.notify and (t.host in announced_of or t.host == SELF_HOST)))), None)


def _probe_time(spec: HostSpec) -> float:
    """How long a probe of a dead host lasts: an ICMP probe waits for its last echo."""
    if spec.probe == "icmp":
        return (spec.count - 1) * spec.packet_interval + spec.timeout
    return spec.timeout


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


def _sv(state: State | None) -> str:
    return state.value if state is not None else ""


@dataclass(frozen=True)
class HostState:
    """Everything the engine knows about one host (or the server itself, SELF_HOST).

    fails/oks/degraded/alive: consecutive failed / ok / degraded / answered results.
    flap_bits: the last window-1 change bits (bit 0 newest); last_class: class of the last result.
    fail_bits: which of the last `window` results failed (bit 0 newest). flap_quality: the flapping
    began on quality (few failed results then): an outage during it is news.
    held: reached down_after but waits for an ancestor to settle (or to be probed again: an
    ancestor whose last probe is older than this host's first failure is not known to be up).
    checked_at / failing_since / held_since: time of the last result, of the first failed result
    in a row, and since when it is held. rejudge: was unreachable, its
    parent is back, waiting for fresh evidence. told: the state admins were last told (None =
    nothing yet). muted / pre_mute_state: mute mark and the state when the mute began.
    outages: when its recent outages began (ISO times, for the early flapping rule).
    extra: SELF_HOST bookkeeping (uplink loss time, pending summary, startup announced); for a host,
    its questions to the routers (see engine.confirm): "confirm" (asked, not answered), "verdict"
    (answered, not yet applied), "path_checked", "outage_from", "deferred" (an UP waiting for its cause);
    on a parent back UP, "fold": its UP message waiting for its children's answers; on a site whose
    DOWN waits for the rest of a burst, "burst".
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
    fail_bits: int = 0
    flap_quality: bool = False
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
    outages: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as ISO 8601 with ms). Field by field, each by its declared type:
        the agent writes every steady host's state once a minute (at 10,000 hosts a loop testing
        each value's type cost ~0.3 s of CPU a minute; a test holds the two equal)."""
        since, told, pre_mute = self.since, self.told, self.pre_mute_state
        reminder, checked = self.last_reminder, self.checked_at
        failing, held_since = self.failing_since, self.held_since
        return {
            "host": self.host, "state": self.state.value, "since": since and _iso_cached(since),
            "fails": self.fails, "oks": self.oks, "degraded": self.degraded, "alive": self.alive,
            "last_class": self.last_class, "flap_bits": self.flap_bits, "fail_bits": self.fail_bits,
            "flap_quality": self.flap_quality, "flapping": self.flapping,
            "flap_announced": self.flap_announced, "flap_percent": self.flap_percent,
            "held": self.held, "rejudge": self.rejudge, "told": told and told.value,
            "muted": self.muted, "pre_mute_state": pre_mute and pre_mute.value,
            "last_reminder": reminder and _iso_cached(reminder),
            "checked_at": checked and _iso_cached(checked),
            "failing_since": failing and _iso_cached(failing),
            "held_since": held_since and _iso_cached(held_since),
            "outages": list(self.outages), "evidence": dict(self.evidence), "extra": dict(self.extra),
        }

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
        values["outages"] = tuple(values.get("outages") or ())
        values["evidence"] = dict(values.get("evidence") or {})
        values["extra"] = dict(values.get("extra") or {})
        return cls(**values)


class Seen(NamedTuple):
    """What the agent keeps of a host's state between rounds (the engine holds the whole
    HostState): enough for the status page, the metrics and the maintenance marks. A HostState
    snapshot with its evidence is ~1.5 KB; at 10,000 hosts keeping them all cost 15 MB."""

    state: State
    since: datetime | None
    fails: int
    muted: bool
    flapping: bool


CONFIRMATION_FIELDS = frozenset({"oks", "alive", "checked_at", "evidence"})
"""What a probe changes in a steady UP host's HostState: its ok counters, when it was checked and the
last probe's evidence. Everything else (but `extra`) is "material" (see AlertEngine.material_mark)."""
_TRACK_NAMES = {"host": "name", "checked_at": "last_at"}     # HostState field -> _Track attribute
_track_material = attrgetter(*(
    _TRACK_NAMES.get(f.name, f.name) for f in fields(HostState)
    if f.name not in CONFIRMATION_FIELDS and f.name != "extra"))
"""The material fields of a HostState, read straight off its _Track (one C call, no snapshot)."""


class _Empty(dict):  # type: ignore[type-arg]
    """An empty dict that refuses keys: the one `extra` and `held_children` of every track that
    has none (two dicts per track were 1.3 MB at 10,000 sites). A track that needs a key gets its
    own dict first (_own_extra, _hold); a write that forgot to raises instead of reaching every
    track. Reading, `pop(key, None)` and `del` of a missing key behave as on any empty dict."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a shared empty dict cannot take keys")

    __setitem__ = setdefault = update = __ior__ = _refuse


_NONE_YET: Any = _Empty()


def _own_extra(track: _Track) -> dict[str, Any]:
    """`track.extra`, first made the track's own dict when it is the shared empty one."""
    if track.extra is _NONE_YET:
        track.extra = {}
    return track.extra


def _hold(blocker: _Track, track: _Track) -> None:
    """Register held `track` with the ancestor it waits for."""
    if blocker.held_children is _NONE_YET:
        blocker.held_children = {}
    blocker.held_children[track.name] = track


def _adopt(parent: _Track, track: _Track) -> None:
    """Make `track` a child of `parent` (a track without children shares one empty tuple)."""
    if isinstance(parent.children, list):
        parent.children.append(track)
    else:
        parent.children = [track]


class _Track:
    """The mutable working copy of a HostState (fast to update per result)."""

    __slots__ = ("name", "spec", "state", "since", "fails", "oks", "degraded", "alive", "last_class",
                 "flap_bits", "fail_bits", "flap_quality", "flapping", "flap_announced", "flap_percent", "held",
                 "rejudge", "told",
                 "muted", "pre_mute_state", "last_reminder", "last", "evidence", "extra", "parent",
                 "children", "depth", "held_children", "limits", "last_at", "failing_since",
                 "held_since", "order", "outages", "stored_mark", "unwritten")

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
        self.fail_bits = saved.fail_bits
        self.flap_quality = saved.flap_quality
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
        self.outages: tuple[str, ...] = tuple(saved.outages)
        self.last: ProbeResult | None = None
        # the stored evidence, kept until the first result as its JSON text: one string a track, where
        # the decoded dict (with its keys' values) was ~1 KB of objects for each of 10,000 tracks of an
        # agent started on its store, ~10 MB among the tracks' own objects (RSS +8 MB after they went)
        self.evidence: str | None = json.dumps(saved.evidence, separators=(",", ":")) if saved.evidence else None
        self.extra: dict[str, Any] = dict(saved.extra) if saved.extra else _NONE_YET
        self.parent: _Track | None = None
        self.children: Sequence[_Track] = ()    # a list once it has any (_adopt)
        self.depth = 0
        self.order = 0              # position in the config: a stable tie-break for judging order
        self.held_children: dict[str, _Track] = _NONE_YET
        self.limits: _Limits = _kept_limits(spec) if spec else (100.0, None, None, None, None, None)
        self.stored_mark: int | None = None   # material_mark() of the row the agent last wrote
        self.unwritten = False                # a newer confirmation than that row waits to be written

    def current_evidence(self) -> dict[str, Any]:
        """The evidence of the last result, or the stored one before the first (a new dict each
        call). Built when asked, not kept: 10,000 tracks each holding a dict of it was 3.6 MB,
        where the result itself is shared with the agent's latest results."""
        if self.last is not None:
            self.evidence = None
            return _evidence(self.last, self.fails)
        return {} if self.evidence is None else json.loads(self.evidence)

    def snapshot(self) -> HostState:
        # Built like HostState(...) but without the frozen dataclass's per-field object.__setattr__
        # (3-4x faster; the app snapshots every host touched by each batch).
        state = object.__new__(HostState)
        state.__dict__.update(
            host=self.name, state=self.state, since=self.since, fails=self.fails, oks=self.oks,
            degraded=self.degraded, alive=self.alive, last_class=_CLASS_NAMES[self.last_class],
            flap_bits=self.flap_bits, fail_bits=self.fail_bits, flap_quality=self.flap_quality,
            flapping=self.flapping, flap_announced=self.flap_announced,
            flap_percent=self.flap_percent, held=self.held, rejudge=self.rejudge, told=self.told,
            muted=self.muted, pre_mute_state=self.pre_mute_state, last_reminder=self.last_reminder,
            checked_at=self.last_at, failing_since=self.failing_since, held_since=self.held_since,
            outages=self.outages,
            evidence=self.current_evidence(),
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


class _Pending:
    """A parent's UP message held until its children have answered (or its fold_window ends).

    Mirrored in the parent's HostState.extra["fold"], so a restart sends it all the same."""

    __slots__ = ("transition", "fold", "until", "told_before")

    def __init__(self, transition: Transition, fold: _Fold, until: datetime, told_before: State | None) -> None:
        self.transition, self.fold, self.until, self.told_before = transition, fold, until, told_before

    def to_extra(self) -> dict[str, Any]:
        return {"transition": self.transition.to_dict(), "until": iso_ms(self.until),
                "names": list(self.fold.names), "changes": dict(self.fold.changes),
                "before": dict(self.fold.before), "told_before": _sv(self.told_before)}

    @classmethod
    def from_extra(cls, data: Any) -> _Pending | None:
        """None for a malformed entry (it is dropped: the parent's UP is then not announced)."""
        try:
            fold = _Fold()
            fold.names = [str(n) for n in data["names"]]
            fold.changes = {str(k): str(v) for k, v in dict(data["changes"]).items()}
            fold.before = {str(k): str(v) for k, v in dict(data["before"]).items()}
            return cls(Transition.from_dict(data["transition"]), fold, datetime.fromisoformat(data["until"]),
                       _st(data.get("told_before")))
        except (KeyError, TypeError, ValueError):
            return None


class _Held:
    """A site's DOWN message held while siblings are failing too (a burst), for at most `until`.

    Mirrored in the site's HostState.extra["burst"]."""

    __slots__ = ("transitions", "until", "told_before", "before")

    def __init__(self, transitions: list[Transition], until: datetime, told_before: State | None,
                 before: dict[str, str]) -> None:
        self.transitions, self.until, self.told_before = transitions, until, told_before
        self.before = before                 # what admins knew of each child it names as unreachable

    def to_extra(self) -> dict[str, Any]:
        return {"transitions": [t.to_dict() for t in self.transitions], "until": iso_ms(self.until),
                "told_before": _sv(self.told_before), "before": dict(self.before)}

    @classmethod
    def from_extra(cls, data: Any) -> _Held | None:
        """None for a malformed entry (it is dropped)."""
        try:
            return cls([Transition.from_dict(t) for t in data["transitions"]], datetime.fromisoformat(data["until"]),
                       _st(data.get("told_before")), {str(k): str(v) for k, v in dict(data["before"]).items()})
        except (KeyError, TypeError, ValueError):
            return None


_BY_DEPTH = attrgetter("depth", "order")


class AlertEngine:
    """Debounced per-host state machine with dependencies, flap damping, mutes and reminders.

    `ingest(results)` and `tick()` return every Transition (notify=False ones too, for the
    events table); only notify=True ones are announced. Not thread-safe: call from one thread.
    """

    def __init__(self, config: Config, clock: Clock, states: Mapping[str, HostState] | None = None) -> None:
        self._clock = clock
        self._steps = StepWatch(clock)
        self._mutes: tuple[Mute, ...] = ()
        self._muted_now: set[str] = set()
        self._touched: set[str] = set()
        self._summary: _Fold | None = None   # the pending uplink_back summary (mirrored in SELF_HOST extra)
        self._pending: dict[str, _Pending] = {}   # parents' UP messages waiting for their children
        self._swept: dict[str | None, float] = {}  # family (parent name) -> monotonic time of its last sweep
        self._marks: dict[str, int] = {}          # this round's number of the change a DOWN waits from
        self._fold_marks: dict[str, int] = {}     # ... and of the change a parent's UP waits from
        self._order: dict[int, int] = {}          # id(transition) -> its number in this round
        self._numbers = itertools.count()
        self._held: dict[str, _Held] = {}         # DOWN messages waiting for the rest of a burst
        self._tracks: dict[str, _Track] = {}
        self._anchors: dict[str, _Track] = {}
        saved: Mapping[str, HostState] = states if states is not None else {}   # looked up once per host
        self._self = _Track(SELF_HOST, None, saved.get(SELF_HOST))
        self._self.depth = -1
        self._asks: list[RouterAsk] = []
        self._ask_seq = 0
        self._configure(config, saved)
        waiting: tuple[tuple[str, Any, dict[str, Any]], ...] = (
            ("fold", _Pending, self._pending), ("burst", _Held, self._held))   # messages saved while waiting
        for track in self._tracks.values():
            for key, kind, into in waiting:
                if key in track.extra:
                    found = kind.from_extra(track.extra[key])
                    if found is not None:
                        into[track.name] = found
                    else:
                        _drop_extra(track, key)
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
            if track.outages:
                track.outages = tuple(iso_ms(datetime.fromisoformat(at) + delta) for at in track.outages)
            self._touched.add(track.name)
        for pending in self._pending.values():       # re-mirrored in the parent's state when settled
            pending.until += delta
            pending.transition = _shifted(pending.transition, delta)
        for name, held in self._held.items():
            held.until += delta
            held.transitions = [_shifted(t, delta) for t in held.transitions]
            if name in self._tracks:
                self._tracks[name].extra = {**self._tracks[name].extra, "burst": held.to_extra()}

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
            if any(datetime.fromisoformat(at) > now for at in track.outages):
                track.outages = tuple(min(at, iso_ms(now), key=datetime.fromisoformat) for at in track.outages)
                self._touched.add(track.name)

    # ----------------------------------------------------------------- configuration

    def _configure(self, config: Config, saved: Mapping[str, HostState]) -> None:
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
                kept.limits = _kept_limits(spec)
                kept.children = ()
                kept.held_children = _NONE_YET
                tracks[spec.name] = kept
            else:
                tracks[spec.name] = _Track(spec.name, spec, saved.get(spec.name))
        old_anchors = self._anchors
        self._anchors = {}
        for spec in self_check_hosts(config):
            self._anchors[spec.name] = old_anchors.get(spec.name) or _Track(spec.name, spec,
                                                                              saved.get(spec.name))
            self._anchors[spec.name].spec = spec
            self._anchors[spec.name].limits = _kept_limits(spec)
        self._tracks = tracks
        for order, track in enumerate(tracks.values()):
            track.order = order
        self._self.children = ()
        self._self.held_children = _NONE_YET
        root_parent = self._self if self._anchors else None
        by_lower = tracks   # the same table when every name is lower-case already (10,000 sites: 0.2 MB)
        if any(name != name.lower() for name in tracks):
            by_lower = {name.lower(): t for name, t in tracks.items()}
        for track in tracks.values():
            parent_name = track.spec.parent if track.spec else None
            parent = by_lower.get(parent_name.lower()) if parent_name else None
            if parent is None or parent is track:
                parent = root_parent
            track.parent = parent
            if parent is not None:
                _adopt(parent, track)
        # Depth by walking up (a loop in the parent chain is cut at the first repeat).
        for track in tracks.values():
            depth, node, seen = 0, track.parent, {track.name}
            while node is not None and node is not self._self:
                if node.name in seen:
                    track.parent.children.remove(track)  # type: ignore[union-attr]
                    track.parent = root_parent
                    if root_parent is not None:
                        _adopt(root_parent, track)
                    depth = 0
                    break
                seen.add(node.name)
                depth += 1
                node = node.parent
            track.depth = depth
        # only a track with children can hold any (a held host waits for one of its ancestors)
        self._parents = [t for t in tracks.values() if t.children]
        self._top_level = [t for t in tracks.values() if t.parent is None]   # siblings of a site without a parent
        self._groups: dict[str, list[_Track]] = {}
        for track in tracks.values():
            if track.spec and track.spec.group:
                self._groups.setdefault(track.spec.group.lower(), []).append(track)
        self._by_name: dict[str, _Track] = by_lower      # a mute names a site or a group (a list per site was 1.5 MB)
        now = self._clock.now()
        for track in tracks.values():
            if track.held:       # re-register with its blocker; without one, tick() judges it
                _, blocker = self._ancestry(track, now)
                if blocker is not None:
                    _hold(blocker, track)
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

    def seen(self) -> dict[str, Seen]:
        """The Seen of every host, the anchors and SELF_HOST (as of states(), without building a
        HostState each: 10,000 of them at start-up were ~15 MB made and dropped at once, among
        the objects the agent keeps)."""
        return {t.name: Seen(t.state, t.since, t.fails, t.muted, t.flapping) for t in self._all_tracks()}

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
        return self.snapshots(self.take_touched())

    def take_touched(self) -> set[str]:
        """Names of the entries touched since the last call (take_changed without the snapshots)."""
        names, self._touched = self._touched, set()
        return names

    def material_mark(self, name: str) -> int | None:
        """A fingerprint of everything in `name`'s HostState but a probe's confirmation
        (CONFIRMATION_FIELDS), read off its track without building the snapshot: the agent asks it
        for every probed host to tell a mere confirmation from a change worth writing. None when
        the state must always be written: not UP, bookkeeping in `extra`, the server itself, or
        not known."""
        track = self._tracks.get(name) or self._anchors.get(name)
        if track is None or track.state != State.UP or track.extra:
            return None
        return hash(_track_material(track))

    def is_confirmation(self, name: str, mark: int | None) -> bool:
        """Is `mark` (material_mark) what the row last written for `name` had (note_written)? Then
        only a probe's confirmation moved: the agent notes it unwritten instead of writing now."""
        track = self._tracks.get(name) or self._anchors.get(name)
        return mark is not None and track is not None and track.stored_mark == mark

    def note_written(self, name: str, mark: int | None) -> None:
        """The agent wrote `name`'s row, with this material_mark (None: always write it)."""
        track = self._tracks.get(name) or self._anchors.get(name)
        if track is not None:
            track.stored_mark, track.unwritten = mark, False

    def note_unwritten(self, names: Iterable[str]) -> None:
        """These hosts' newer confirmations wait to be written (take_unwritten)."""
        for name in names:
            track = self._tracks.get(name) or self._anchors.get(name)
            if track is not None:
                track.unwritten = True

    def take_unwritten(self) -> list[str]:
        """The hosts noted unwritten, the notes cleared (a flag on each track: a set of 10,000
        names was a 0.5 MB table the agent kept, with a dict of their marks beside it)."""
        waiting = [track for track in self._all_tracks() if track.unwritten]
        for track in waiting:
            track.unwritten = False
        return [track.name for track in waiting]

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
        self._marks, self._fold_marks, self._order = {}, {}, {}
        self._refresh_mutes(now, out)
        dirty: list[_Track] = []
        seen: set[str] = set()
        tracks = self._tracks
        flap_on = self._flap.enabled
        flap_mask = self._flap_mask
        fail_mask = (flap_mask << 1) | 1
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
            track.fail_bits = ((track.fail_bits << 1) | (cls == FAILED)) & fail_mask
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
                    or (track.rejudge and cls == OK and self._pending)
                    or (not steady and self._target(track) not in (None, state))):
                dirty.append(track)
        self._judge_all(dirty, now, out, anchors_hit)
        self._settle_bursts(now, out)
        self._settle_folds(now, out)
        self._maybe_startup(now, out)
        return out

    def tick(self) -> list[Transition]:
        """Time-driven work: mute starts/ends, reminders, the uplink summary's deadline, the end of
        a parent's fold window or of a burst's wait."""
        now = self._now()
        out: list[Transition] = []
        self._marks, self._fold_marks, self._order = {}, {}, {}
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
        self._settle_bursts(now, out)
        self._settle_folds(now, out)
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
        soon += self._siblings_to_sweep(results)
        return list(dict.fromkeys(soon + self.wanted_soon()))

    def _family(self, track: _Track) -> Sequence[_Track]:
        """`track` and its siblings: the children of its parent (or every top-level host)."""
        if track.parent is not None:
            return track.parent.children
        return self._top_level

    def _siblings_to_sweep(self, results: Sequence[ProbeResult]) -> list[str]:
        """The siblings of hosts whose first failure is in `results`: probed at once, sites cut in
        the same second are seen failing together and decided together, however their probe
        phases were spread. Families larger than BURST_FAMILY_MAX are not swept, and a family at
        most once per its shortest interval (a flapping site does not keep its siblings busy)."""
        found: dict[str, None] = {}
        now = self._clock.monotonic()
        for result in results:
            track = self._tracks.get(result.host)
            if track is None or track.fails != 1 or track.state in _DOWNISH:
                continue
            family = self._family(track)
            if not 2 <= len(family) <= BURST_FAMILY_MAX:
                continue
            key = track.parent.name if track.parent is not None else None
            shortest = min(t.spec.interval for t in family if t.spec is not None)
            if now - self._swept.get(key, float("-inf")) < shortest:
                continue
            self._swept[key] = now
            found.update((t.name, None) for t in family
                         if t is not track and t.fails == 0 and t.state not in _DOWNISH)
        return list(found)

    def wanted_soon(self) -> list[str]:
        """Hosts (and anchors) whose fresh probe would let held hosts be judged: probe them now."""
        found = [t.name for t in self._parents if t.held_children]   # not all 10,000 tracks per batch
        if self._self.held_children:
            found += list(self._anchors)
        for name in self._pending:          # a parent's UP waits for these children's answers
            track = self._tracks.get(name)
            if track is not None:
                found += [d.name for d in self._descendants(track) if d.rejudge]
        for name in self._held:             # a burst's DOWNs wait for these siblings' fresh answers
            track = self._tracks.get(name)
            if track is not None and track.failing_since is not None:
                found += [s.name for s in self._family(track) if s.name not in self._held and not s.muted
                          and s.state in (State.UP, State.DEGRADED)
                          and (s.last_at is None or s.last_at < track.failing_since)]
        return list(dict.fromkeys(found))

    def next_wakeup(self) -> datetime | None:
        """When tick() has time-driven work before its usual second (a parent's fold window ends,
        a burst's DOWN messages stop waiting)."""
        return min([p.until for p in self._pending.values()] + [h.until for h in self._held.values()],
                   default=None)

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
        self._marks, self._fold_marks, self._order = {}, {}, {}
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
                _own_extra(track)["verdict"] = verdict
                self._judge(track, now, out)
                track.extra.pop("verdict", None)     # not used: the site answered again meanwhile
            else:
                self._release_deferred(track, now, out, reply)
        self._maybe_summarize_uplink(now, out, force_after=None)
        self._settle_bursts(now, out)
        self._settle_folds(now, out)
        self._maybe_startup(now, out)
        return out

    def _ask(self, track: _Track, kind: str, router: str, now: datetime) -> None:
        self._ask_seq += 1
        key = "confirm" if kind == "confirm" else "cause_ask"
        _own_extra(track)[key] = {"id": self._ask_seq, "at": iso_ms(now), "router": router}
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
                _own_extra(track)["path_checked"] = iso_ms(now)
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
        _own_extra(track)["path_checked"] = iso_ms(now)
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
        target = self._target(track)
        if (target is None and track.rejudge and track.last_class == OK
                and self._holding_fold(track) is not None):
            target = State.UP       # its parent's UP waits for it, and it answers: name it there
        upcoming = target if target is not None and target != track.state else None
        note = self._judge_flapping(track, now, out, upcoming) if self._flap.enabled else None
        extra: dict[str, Any] | None = None
        if target == State.DOWN and track.state == State.PATH:
            self._recheck_path(track, now, out)     # failing is what PATH is: only its router decides
            self._announce_flapping(track, now, out, note)
        elif upcoming is not None:
            if upcoming == State.DOWN:
                verdict, blocker = self._ancestry(track, now)
                if verdict == "settling" and blocker is not None:
                    track.held = True
                    track.held_since = track.held_since or now
                    self._touched.add(track.name)
                    _hold(blocker, track)
                    self._announce_flapping(track, now, out, note)
                    return
                if verdict == "down":
                    self._change(track, State.UNREACHABLE, now, out, None, note)
                    return
                gate = self._confirmation(track, now)
                if gate is _WAIT:            # its via router is asked: answer() decides
                    track.held = False
                    self._announce_flapping(track, now, out, note)
                    return
                if isinstance(gate, tuple):
                    upcoming, extra = gate
            track.held = False
            self._change(track, upcoming, now, out, None, note, extra=extra)
        else:
            if track.held and target != State.DOWN:
                track.held = False
            self._announce_flapping(track, now, out, note)
        if target != State.DOWN and track.extra and "confirm" in track.extra:
            del track.extra["confirm"]               # it answers again: the question is moot
            self._touched.add(track.name)
        self._release_held(track, now, out)

    def _release_held(self, track: _Track, now: datetime, out: list[Transition]) -> None:
        """Judge again the hosts held for `track` once it is no longer failing undecided."""
        if not track.held_children or track.held or (track.fails > 0 and track.state not in _SETTLED_FAILING):
            return
        if track.state in _DOWNISH:
            track.held_children = _NONE_YET     # the descendant walk made them unreachable
            return
        held = sorted(track.held_children.values(), key=_BY_DEPTH)
        track.held_children = _NONE_YET
        for child in held:
            if child.held:
                child.held = False
                self._judge(child, now, out)

    def _judge_flapping(self, track: _Track, now: datetime, out: list[Transition],
                        upcoming: State | None) -> dict[str, Any] | None:
        """The percent rule. Returns the note of a flapping start (told with `upcoming`, the change
        this result brings, or alone by _announce_flapping); announces "stable" itself."""
        percent = change_percent(track.flap_bits, self._slots)
        track.flap_percent = percent
        if not track.flapping and percent >= self._flap.high_percent:
            track.flapping = True
            # on quality (UP <-> DEGRADED) unless failed probes make half the changes (each failed
            # probe between answers is two changes: into and out of "failed")
            track.flap_quality = 4 * track.fail_bits.bit_count() < track.flap_bits.bit_count()
            return {"flap_percent": percent}
        quiet = track.muted or self._summary_pending() or track.state == State.UNREACHABLE
        if (track.flapping and percent < self._flap.low_percent and upcoming is None
                and self._held_long_enough(track, now)):
            track.flapping = False
            if not quiet:
                self._announce_stable(track, now, out, percent)
        elif track.flap_announced and not track.flapping and not quiet:
            # a "stable" held back by a mute, the uplink summary or a parent outage
            self._announce_stable(track, now, out, percent)
        return None

    def _held_long_enough(self, track: _Track, now: datetime) -> bool:
        """Has a flapping host kept its state for flapping.stable_after?"""
        if track.spec is None or track.since is None:
            return True
        return (now - track.since).total_seconds() >= self._flap.stable_after_for(track.spec.interval)

    def _announce_flapping(self, track: _Track, now: datetime, out: list[Transition],
                           note: dict[str, Any] | None) -> None:
        """A flapping start with no change of state to tell with it: "FLAPPING, now <state>"."""
        if note is None:
            return
        # Admins told "flapping" and not yet "stable" (the stable fell in a mute) hear nothing new.
        notify = not (track.muted or track.flap_announced or track.state == State.UNREACHABLE
                      or self._summary_pending())
        track.flap_announced = track.flap_announced or notify
        if notify and track.state in (State.UP, State.DOWN, State.DEGRADED):
            track.told = track.state
        out.append(self._transition(track, track.state, now, kind="flapping", notify=notify,
                                    since=track.since, extra=note))

    def _outage_started(self, track: _Track, now: datetime) -> dict[str, Any] | None:
        """Record an outage start; the early rule's note when it makes `early_outages` within
        `early_window` (counted from outage start to outage start), else None."""
        spec = track.spec
        if spec is None:
            return None
        window = self._flap.early_window_for(spec.interval)
        kept = [at for at in track.outages if (now - datetime.fromisoformat(at)).total_seconds() <= window]
        kept.append(iso_ms(now))
        track.outages = tuple(kept[-OUTAGES_KEPT:])
        if self._flap.early_outages < 2 or len(kept) < self._flap.early_outages:
            return None
        first = datetime.fromisoformat(kept[0])
        return {"outages": len(kept), "outages_window_s": round((now - first).total_seconds(), 3),
                "first_outage": kept[0]}

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
                fold: _Fold | None, note: dict[str, Any] | None = None,
                extra: dict[str, Any] | None = None) -> None:
        """Move `track` to `new`, decide whether it is announced, and carry its descendants along.

        `note`: a flapping start found in this judgement; the change is then told in one FLAPPING
        message. A DOWN that makes the early rule's count is such a start too. While flapping
        nothing is announced, except a DOWN of a site flapping on quality alone (UP <-> DEGRADED)
        when admins were last told it was not down. `extra`: evidence added to the transition (a
        router's vote)."""
        if track.extra:
            if "deferred" in track.extra:        # an UP still waiting for its cause goes out first
                self._release_deferred(track, now, out, None)
            for key in ("confirm", "verdict", "path_checked"):
                track.extra.pop(key, None)
        if self._held:        # its own or its descendants' DOWNs waiting for a burst go out first
            self._release([t for t in (track, *self._descendants(track)) if t.name in self._held], out)
        mark = next(self._numbers)           # what this change brings is numbered after this
        old = track.state
        old_since = track.since
        told_before = track.told
        if fold is None and new == State.UP and track.rejudge:
            fold = self._holding_fold(track)   # an ancestor's UP message waits for it
        if new in (State.DOWN, State.PATH) and self._flap.enabled:   # a path that comes and goes flaps too
            early = self._outage_started(track, now)
            if early is not None and not track.flapping:
                note = {**(note or {}), **early}
                track.flap_quality = False
        flap_notify = False
        if note is not None:
            track.flapping = True
            notify = False
            flap_notify = (not (track.muted or old == State.UNKNOWN or self._summary_pending()
                                or new in (State.UNREACHABLE, State.UNKNOWN))
                           and ("outages" in note or not track.flap_announced))
        else:
            # while flapping nothing is told, but an outage of a site flapping on quality alone
            hushed = track.flapping and not (new == State.DOWN and track.told != State.DOWN and track.flap_quality)
            notify = not (track.muted or hushed or old == State.UNKNOWN) and self._news(track, new)
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
        if flap_notify:
            track.flap_announced = True
            if new in (State.UP, State.DOWN, State.DEGRADED):
                track.told = new
        track.state = new
        track.since = now
        track.rejudge = False
        track.held = False
        track.held_since = None
        track.last_reminder = None
        self._touched.add(track.name)
        announced = notify or flap_notify
        own_fold = _Fold() if announced else fold
        children_out: list[Transition] = []
        if new in _DOWNISH:
            self._cut_off(track, now, children_out, own_fold, fold_children=announced or folded)
        elif old in _DOWNISH or old == State.UNKNOWN:
            self._reconnect(track, now, children_out, own_fold)
        affected = tuple(own_fold.names) if announced and own_fold is not None else ()
        change = self._transition(track, new, now, kind="state", notify=notify, since=old_since,
                                  old=old, affected=affected if notify else (), extra=extra)
        self._order[id(change)] = mark       # decided before what its descendants' changes brought
        spec = track.spec
        if new == State.PATH:
            _own_extra(track)["path_checked"] = iso_ms(now)
        if new == State.DOWN:    # the outage began after the last good probe, about one interval earlier
            began = (track.failing_since or now) - timedelta(seconds=spec.interval if spec else 0.0)
            _own_extra(track)["outage_from"] = iso_ms(began)
        elif old == State.DOWN and spec is not None and spec.router and new in (State.UP, State.DEGRADED):
            _own_extra(track)["deferred"] = change.to_dict()     # emitted with its cause (answer())
            self._ask(track, "cause", spec.router, now)
        else:
            track.extra.pop("outage_from", None)
        deferred = "deferred" in track.extra
        if note is not None:
            if not deferred:
                out.append(change)
            first = note.pop("first_outage", None)
            flapping = self._transition(track, new, now, kind="flapping", notify=flap_notify,
                                        since=datetime.fromisoformat(first) if first else old_since,
                                        old=old, affected=affected, extra=note)
            self._order[id(flapping)] = mark
            if flap_notify and new == State.DOWN and self._burst_forming(track):
                self._marks[track.name] = mark
                self._hold_down(track, flapping, now, told_before, own_fold)
            else:
                out.append(flapping)
        elif deferred:
            pass                               # goes out with its cause (answer())
        elif notify and new == State.DOWN and self._burst_forming(track):
            self._marks[track.name] = mark
            self._hold_down(track, change, now, told_before, own_fold)
        elif notify and new == State.UP and own_fold is not None and self._waits_for_children(track):
            assert spec is not None
            self._pending[track.name] = _Pending(change, own_fold, now + timedelta(seconds=spec.fold_window),
                                                 told_before)
            self._fold_marks[track.name] = mark
        else:
            out.append(change)
        out.extend(children_out)
        if folded and fold is self._summary:
            self._save_summary()

    # ----------------------------------------------------------------- bursts

    def _suspects(self, family: list[_Track], since: datetime) -> bool:
        """Is a site of `family` failing but undecided, or not probed since `since` (the app probes
        the family at once when one starts failing: its answer is on the way)?"""
        for sibling in family:
            if (sibling.muted or sibling.name in self._held
                    or sibling.state not in (State.UP, State.DEGRADED)):
                continue
            if sibling.fails > 0 or (sibling.last_at is not None and sibling.last_at < since):
                return True
        return False

    def _burst_forming(self, track: _Track) -> bool:
        """Should `track`'s DOWN wait for siblings about to be decided too (one message for all)?"""
        family = self._family(track)
        if len(family) < 2 or len(family) > BURST_FAMILY_MAX or track.failing_since is None:
            return False
        others = [t for t in family if t is not track]
        return any(t.name in self._held for t in others) or self._suspects(others, track.failing_since)

    def _hold_down(self, track: _Track, transition: Transition, now: datetime, told_before: State | None,
                   fold: _Fold | None) -> None:
        """Hold `transition` (a DOWN) at most two probes of the slowest sibling: long enough for
        a sibling probed a moment later to fail twice and be decided."""
        longest = max(max(t.spec.retry_interval, _probe_time(t.spec)) for t in self._family(track) if t.spec)
        self._held[track.name] = _Held([transition], now + timedelta(seconds=2 * longest + 0.2), told_before,
                                       dict(fold.before) if fold is not None else {})
        track.extra = {**track.extra, "burst": self._held[track.name].to_extra()}
        self._touched.add(track.name)

    def _settle_bursts(self, now: datetime, out: list[Transition]) -> None:
        """Send the held DOWNs of a family together once no sibling is left failing undecided, or
        when the first of them has waited its longest; and before any other news of one of them,
        of an ancestor, or of the server itself."""
        if not self._held:
            return
        families: dict[int, list[_Track]] = {}
        for name in list(self._held):
            track = self._tracks.get(name)
            if track is None:                        # removed by a reload
                del self._held[name]
                continue
            families.setdefault(id(track.parent), []).append(track)
        for members in families.values():
            names = {t.name for t in members}
            first = {m.name: _first_news(out, self._order, self._marks.get(m.name, -1),
                                         any_of={m.name} | self._ancestor_names(m)) for m in members}
            since = min((t.failing_since for t in members if t.failing_since is not None), default=now)
            waiting = self._suspects([t for t in self._family(members[0]) if t.name not in names], since)
            if (all(index is None for index in first.values()) and waiting
                    and all(now < self._held[n].until for n in names)):
                continue
            self._release(members, out, first)

    def _untell(self, names: Iterable[str], before: dict[str, str]) -> None:
        """Admins will not be told about `names` after all: back to what they knew before."""
        for name in names:
            track = self._tracks.get(name)
            if track is not None:
                told = before.get(name, "")
                track.told = State(told) if told else None
                self._touched.add(name)

    @staticmethod
    def _ancestor_names(track: _Track) -> set[str]:
        names: set[str] = set()
        node = track.parent
        while node is not None:
            names.add(node.name)
            node = node.parent
        return names

    def _release(self, members: list[_Track], out: list[Transition], at: dict[str, int | None] | None = None) -> None:
        """Put the held DOWNs of `members` into `out`, each before the news decided after it
        (`at`: index by member name; None or absent: at the end), ties in the order they were
        decided; a member muted meanwhile has its DOWN recorded, not announced."""
        placed: list[tuple[int, datetime, int, list[Transition]]] = []
        for order, member in enumerate(sorted(members, key=_BY_DEPTH)):  # ties in time: the config's order
            held = self._held.pop(member.name)
            if member.muted:                        # muted meanwhile: recorded; the mute's end tells
                member.told = held.told_before
                self._untell(held.before, held.before)
                released = [self._same_number(t, notify=False, affected=()) for t in held.transitions]
            else:
                muted = {n: b for n, b in held.before.items() if n in self._tracks and self._tracks[n].muted}
                self._untell(muted, held.before)
                released = [self._same_number(t, affected=tuple(n for n in t.affected if n not in muted))
                            for t in held.transitions]
            _drop_extra(member, "burst")
            self._touched.add(member.name)
            index = (at or {}).get(member.name)
            placed.append((len(out) if index is None else index, min(t.at for t in released), order, released))
        for index, _, _, released in sorted(placed, key=lambda p: (-p[0], -p[1].timestamp(), -p[2])):
            out[index:index] = released          # from the last place back: earlier indexes stay right

    # ----------------------------------------------------------------- a parent's fold window

    def _waits_for_children(self, track: _Track) -> bool:
        """Should `track`'s UP message wait for children that have not answered yet?"""
        spec = track.spec
        return spec is not None and spec.fold_window > 0 and self._awaited(track)

    def _awaited(self, track: _Track) -> bool:
        """Are descendants cut off with `track` still to be judged (ones known DOWN before, or
        muted, would not be named in its message: not waited for)?"""
        return any(d.rejudge and d.told != State.DOWN and not d.muted for d in self._descendants(track))

    def _holding_fold(self, track: _Track) -> _Fold | None:
        """The fold of the nearest ancestor whose UP message is waiting, if any."""
        node = track.parent
        while node is not None and self._pending:
            pending = self._pending.get(node.name)
            if pending is not None:
                return pending.fold
            node = node.parent
        return None

    def _settle_folds(self, now: datetime, out: list[Transition]) -> None:
        """Send each waiting parent UP whose children have all answered or whose window is over,
        and any whose family (or the server itself) has other news in `out`: it goes before it."""
        if not self._pending:
            return
        for name in list(self._pending):
            pending = self._pending[name]
            track = self._tracks.get(name)
            if track is None:                   # removed by a reload
                del self._pending[name]
                continue
            first = _first_news(out, self._order, self._fold_marks.get(name, -1),
                                any_of={name} | self._ancestor_names(track),
                                announced_of={t.name for t in self._descendants(track)})
            if first is None and now < pending.until and self._awaited(track):
                track.extra = {**track.extra, "fold": pending.to_extra()}
                self._touched.add(name)
                continue
            fold = pending.fold
            muted = [n for n in fold.names if n in self._tracks and (track.muted or self._tracks[n].muted)]
            self._untell(muted, fold.before)        # muted meanwhile: the mute's end tells
            message = replace(pending.transition, affected=tuple(n for n in fold.names if n not in muted))
            if track.muted:
                track.told = pending.told_before
                message = replace(message, notify=False, affected=())
            out.insert(len(out) if first is None else first, message)
            del self._pending[name]
            _drop_extra(track, "fold")
            self._touched.add(name)

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
            child.held_children = _NONE_YET
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
        track.held_children = _NONE_YET

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
        out.append(self._numbered(Transition(
            host=SELF_HOST, address=self._anchor_addresses(), from_state=State.DOWN, to_state=State.UP, at=now,
            kind="uplink_back", since=lost_at, affected=tuple(fold.names), evidence=extra, notify=True)))
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
            named = self._by_name.get(target)
            if named is not None:
                names.add(named.name)
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
        if me.state == State.DOWN or me.extra.get("back_at") or self._held or self._pending:
            return                 # (a message waiting to go out goes first: it is news of before)
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
        out.append(self._numbered(Transition(
            host=SELF_HOST, address="", from_state=State.UNKNOWN, to_state=State.UP, at=now, kind="startup",
            affected=tuple(t.name for t in down),
            evidence={"watching": len(tracks), "down": len(down),
                      "unreachable": sum(t.state == State.UNREACHABLE for t in tracks)},
            notify=True)))

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
        return self._numbered(Transition(
            host=track.name, address=address, from_state=old if old is not None else new, to_state=new,
            at=now, kind=kind, group=spec.group if spec else "", since=since, affected=affected,
            evidence=evidence, notify=notify))

    def _same_number(self, transition: Transition, **changes: Any) -> Transition:
        """`transition` with `changes`, keeping its number in this round (if it has one)."""
        changed = replace(transition, **changes)
        if id(transition) in self._order:
            self._order[id(changed)] = self._order[id(transition)]
        return changed

    def _numbered(self, transition: Transition) -> Transition:
        """Give `transition` this round's next number (the order things were decided in)."""
        self._order[id(transition)] = next(self._numbers)
        return transition
