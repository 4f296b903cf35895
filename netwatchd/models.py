"""Value objects passed between the probe engine, the state machine, the store and the notifiers.

They are small, immutable and JSON-friendly (`to_dict`/`from_dict`), so a Transition can be
written to SQLite as the evidence of an event and to the outbox as the payload of a message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from itertools import pairwise
from typing import Any, Literal, get_args


class State(str, Enum):
    """A site's state as the administrators see it."""

    UNKNOWN = "unknown"        # at start, before enough probes to judge
    UP = "up"
    DEGRADED = "degraded"      # replies arrive, but loss/rtt/jitter exceed the host's thresholds
    DOWN = "down"
    UNREACHABLE = "unreachable"  # its parent is down: no separate alert
    PATH = "path"              # netwatchd cannot reach it, but its `via` router can: the path is at fault


TransitionKind = Literal["state", "flapping", "stable", "reminder", "maintenance_end", "uplink_lost", "uplink_back",
                         "startup", "reload", "crosscheck", "crosscheck_agree", "router_health", "router_restart",
                         "escalation", "escalated"]
"""What a Transition records (see Transition)."""
TRANSITION_KINDS: tuple[TransitionKind, ...] = get_args(TransitionKind)

ProbeType = Literal["icmp", "tcp", "http", "https", "dns"]
"""How a host is probed (hosts.yaml `probe`)."""
PROBE_TYPES: tuple[ProbeType, ...] = get_args(ProbeType)


Language = Literal["id", "en"]
"""The language of alerts and bot replies (telegram.language): Indonesian (default) or English."""
LANGUAGES: tuple[Language, ...] = get_args(Language)


def transition_kind(text: str) -> TransitionKind:
    """`text` as a TransitionKind. Raises ValueError for a kind netwatchd does not write."""
    for kind in TRANSITION_KINDS:
        if kind == text:
            return kind
    raise ValueError(f"unknown transition kind {text!r}")


# The one word for each state in each language: alerts (notify.format) and the bot's replies
# (bot.render) both show these, so an administrator reads the same word for the same state.
STATE_WORDS: dict[str, dict[State, str]] = {
    "id": {State.UP: "UP", State.DOWN: "DOWN", State.DEGRADED: "TERGANGGU", State.UNREACHABLE: "TAK TERJANGKAU",
           State.UNKNOWN: "TIDAK DIKETAHUI", State.PATH: "GANGGUAN JALUR"},
    "en": {State.UP: "UP", State.DOWN: "DOWN", State.DEGRADED: "DEGRADED", State.UNREACHABLE: "UNREACHABLE",
           State.UNKNOWN: "UNKNOWN", State.PATH: "PATH PROBLEM"},
}


def state_word(language: str, state: State | str) -> str:
    """The word for `state` in `language` ("id" for a language not in STATE_WORDS); a string that
    is no State (a router's own status) is shown in capitals."""
    words = STATE_WORDS.get(language, STATE_WORDS["id"])
    try:
        return words[State(state)]
    except ValueError:
        return str(state).upper()


class Detail(dict[str, Any]):
    """A ProbeResult's `detail`: a dict that cannot be changed, so that equal ones can be one
    object. Every ICMP result of an agent carried its own copy of {"mode": "datagram"}
    (184 bytes; 1.8 MB at 10,000 hosts, and 10,000 new dicts per interval); now the results share
    it (see shared_detail). Copies (dict(d), copy, pickle) are ordinary dicts or Details."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a ProbeResult's detail cannot be changed (copy it with dict())")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (Detail, (dict(self),))


EMPTY_DETAIL = Detail()
_SHARED_DETAILS: dict[tuple[Any, ...], Detail] = {}
_SHAREABLE = (str, int, bool, type(None))
_SHARED_MAX = 256
_last_detail: tuple[object, Detail] = (None, EMPTY_DETAIL)


def shared_detail(detail: Mapping[str, Any] | None) -> Detail:
    """`detail` as a Detail: one shared object for each distinct small one (values str, int, bool
    or None; up to _SHARED_MAX of them), a new one otherwise (floats, lists: they differ per
    result). The same input object as the call before gives the same Detail without a look-up
    (a probe round passes one dict for all its plain results)."""
    global _last_detail
    if not detail:
        return EMPTY_DETAIL
    last = _last_detail                   # one tuple: read and written whole, safe across threads
    if last[0] is detail and last[1] == detail:
        return last[1]
    key = []
    for name, value in detail.items():
        kind = type(value)
        if kind not in _SHAREABLE:
            return Detail(detail)
        key.append((name, kind, value))      # the type too: 1, 1.0 and True are equal but not alike
    found = _SHARED_DETAILS.get(tuple(key))
    if found is None:
        found = Detail(detail)
        if len(_SHARED_DETAILS) < _SHARED_MAX:
            _SHARED_DETAILS[tuple(key)] = found
    _last_detail = (detail, found)
    return found


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe of one host (one ICMP burst of `count` echoes, one TCP connect, ...).

    `alive` is the prober's verdict that the target answered at all. Statistics are None when
    nothing came back. `error` explains a failure ("timeout", "destination host unreachable from
    198.18.0.1", "name does not resolve", "HTTP 503 outside 200-399"). `detail` carries
    probe-specific extras (http_status, tcp_connect_ms, dns_answers, ...): read-only and shared
    between results when equal (see Detail).
    """

    host: str
    address: str
    probe: str
    at: datetime
    alive: bool
    sent: int = 0
    received: int = 0
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    jitter_ms: float | None = None
    stdev_ms: float | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=lambda: EMPTY_DETAIL)

    def __post_init__(self) -> None:
        if type(self.detail) is not Detail:        # built in code with a plain dict: shared as from_rtts does
            object.__setattr__(self, "detail", shared_detail(self.detail))

    @property
    def loss_percent(self) -> float:
        """Share of requests with no reply, 0..100; 100 when nothing could be sent."""
        if self.sent <= 0:
            return 100.0
        return round(100.0 * (self.sent - self.received) / self.sent, 2)

    @classmethod
    def from_rtts(cls, *, host: str, address: str, probe: str, at: datetime, sent: int,
                  rtts_ms: list[float], error: str | None = None,
                  detail: dict[str, Any] | None = None) -> ProbeResult:
        """Build a result from the raw round-trip times (ms) of the replies received.

        Jitter is the mean absolute difference of consecutive RTTs (as icmplib); stdev is the
        population standard deviation (as RouterOS's rtt-stdev). This sits on the probe round's
        hot path (10,000 results per round), so it fills the frozen instance directly instead
        of going through the dataclass __init__ (which checks and sets field by field). Slots:
        the agent keeps the last result of every host (~150 bytes each, ~600 with a __dict__).
        """
        received = len(rtts_ms)
        if received == 0:
            low = avg = high = jitter = stdev = None
            alive, error = False, error or "timeout"
        elif received == 1:
            low = avg = high = round(rtts_ms[0], 3)
            alive, jitter, stdev = True, 0.0, 0.0
        else:
            alive = True
            low, avg, high, jitter, stdev = rtt_summary(rtts_ms)
        return _filled(cls, host, address, probe, at, alive, sent, received, low, avg, high, jitter, stdev, error,
                       shared_detail(detail))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field (`at` as ISO 8601 with milliseconds) plus loss_percent.

        Written out field by field, not with dataclasses.asdict(): `netwatchd probe --json` turns
        10,000 results into JSON, and asdict's recursive deep copy was most of that time.
        """
        sent = self.sent
        return {"host": self.host, "address": self.address, "probe": self.probe,
                "at": self.at.isoformat(timespec="milliseconds"), "alive": self.alive, "sent": sent,
                "received": self.received, "rtt_min_ms": self.rtt_min_ms, "rtt_avg_ms": self.rtt_avg_ms,
                "rtt_max_ms": self.rtt_max_ms, "jitter_ms": self.jitter_ms, "stdev_ms": self.stdev_ms,
                "error": self.error,
                "detail": {key: value.copy() if isinstance(value, (list, dict)) else value
                           for key, value in self.detail.items()},
                "loss_percent": 100.0 if sent <= 0 else round(100.0 * (sent - self.received) / sent, 2)}


def rtt_summary(rtts_ms: list[float]) -> tuple[float, float, float, float, float]:
    """(min, avg, max, jitter, stdev) of two or more round-trip times (ms), each rounded to 3
    decimals: jitter is the mean absolute difference of consecutive RTTs (as icmplib), stdev the
    population standard deviation (as RouterOS's rtt-stdev). Raises ZeroDivisionError for one."""
    received = len(rtts_ms)
    mean = sum(rtts_ms) / received
    return (round(min(rtts_ms), 3), round(mean, 3), round(max(rtts_ms), 3),
            round(sum(abs(b - a) for a, b in pairwise(rtts_ms)) / (received - 1), 3),
            round(math.sqrt(sum((r - mean) ** 2 for r in rtts_ms) / received), 3))


_SET = {name: getattr(ProbeResult, name).__set__ for name in ProbeResult.__slots__}


def _filled(cls: type[ProbeResult], host: str, address: str, probe: str, at: datetime, alive: bool, sent: int,
            received: int, low: float | None, avg: float | None, high: float | None, jitter: float | None,
            stdev: float | None, error: str | None, detail: Detail) -> ProbeResult:
    """A ProbeResult with every field set through its slot, without the frozen __init__'s checks
    (a test keeps this list of fields equal to the dataclass's)."""
    result = object.__new__(cls)
    _SET["host"](result, host)
    _SET["address"](result, address)
    _SET["probe"](result, probe)
    _SET["at"](result, at)
    _SET["alive"](result, alive)
    _SET["sent"](result, sent)
    _SET["received"](result, received)
    _SET["rtt_min_ms"](result, low)
    _SET["rtt_avg_ms"](result, avg)
    _SET["rtt_max_ms"](result, high)
    _SET["jitter_ms"](result, jitter)
    _SET["stdev_ms"](result, stdev)
    _SET["error"](result, error)
    _SET["detail"](result, detail)
    return result


@dataclass(frozen=True)
class Transition:
    """A decided change worth recording (and usually announcing).

    kind:
      "state"           from_state -> to_state for `host`
      "flapping"        host started flapping (one alert instead of one per change)
      "stable"          host stopped flapping; to_state is its settled state
      "reminder"        host is still down (optional repeat)
      "maintenance_end" a mute ended and the state differs from before the mute
      "uplink_lost" / "uplink_back"  the monitoring server itself lost / regained its network
      "startup"         the optional "watching N sites, M down" line
      "reload"          hosts.yaml was reloaded and sites were removed (they are named in `affected`)
      "crosscheck"      a router's own Netwatch has disagreed with netwatchd for a while
      "crosscheck_agree"  ... and agrees again
      "router_health"   a router's own figure crossed a `health:` threshold (to DEGRADED) or is back (to UP);
                        `host` is the router's name, evidence says which figure (cpu, memory, pool:NAME, ...)
      "router_restart"  a router's uptime went backwards: it restarted
    A DOWN confirmed (or not) by the host's `via` router carries evidence["confirm"] (and the via
    router's "diagnosis" lines); a state change to PATH is a DOWN the via router contradicted; an UP
    after a DOWN of a site with `router:` carries evidence["cause"] ("restarted" / "link").
    since: when the previous state began (so a recovery can say how long the outage lasted).
    affected: names of children folded into this message (a parent down -> its unreachable sites).
    evidence: loss_percent, rtt_avg_ms, rtt_max_ms, jitter_ms, failures_in_row, error, probe ...
    """

    host: str
    address: str
    from_state: State
    to_state: State
    at: datetime
    kind: TransitionKind = "state"
    group: str = ""
    since: datetime | None = None
    affected: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    notify: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host, "address": self.address, "group": self.group, "kind": self.kind,
            "from": self.from_state.value, "to": self.to_state.value,
            "at": self.at.isoformat(timespec="milliseconds"),
            "since": self.since.isoformat(timespec="milliseconds") if self.since else None,
            "affected": list(self.affected), "evidence": dict(self.evidence),
            "notify": self.notify,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        return cls(
            host=data["host"], address=data.get("address", ""), group=data.get("group", ""),
            kind=transition_kind(data.get("kind", "state")), from_state=State(data["from"]),
            to_state=State(data["to"]), at=datetime.fromisoformat(data["at"]),
            since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
            affected=tuple(data.get("affected", ())), evidence=dict(data.get("evidence", {})),
            notify=bool(data.get("notify", True)),
        )


CONFIRMED, REACHABLE, NO_ANSWER = "down", "reachable", "no_answer"
"""A router's answer to a confirmation ping: no echo came back, at least one did, no answer in time."""


@dataclass(frozen=True)
class RouterAsk:
    """Something the engine wants a router to tell: ping `address` from `router` ("confirm"), or
    read `router`'s uptime ("cause"). `id` matches the answer to the question (a late answer to an
    older question is ignored)."""

    id: int
    kind: str
    host: str
    address: str
    router: str
    asked_at: datetime


@dataclass(frozen=True)
class RouterAnswer:
    """What a router said (or that it said nothing in time).

    confirm: `result` CONFIRMED (no echo came back), REACHABLE (at least one did) or NO_ANSWER
    (the API did not answer in time, refused, or the session failed: `error` says which);
    `sent`/`received`/`rtt_ms` from the router's ping; `diagnosis`: the via router's evidence
    lines as plain dicts (see netwatchd.router.confirm). cause: `uptime_s` (None = not read).
    `at` is when the router's answer was read.
    """

    id: int
    kind: str
    host: str
    router: str
    at: datetime
    result: str = NO_ANSWER
    sent: int = 0
    received: int = 0
    rtt_ms: float | None = None
    error: str | None = None
    diagnosis: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    uptime_s: float | None = None

    def confirm_evidence(self) -> dict[str, Any]:
        """The `confirm` evidence of the transition it decides (JSON-ready)."""
        found: dict[str, Any] = {"via": self.router, "result": self.result, "sent": self.sent,
                                 "received": self.received}
        if self.rtt_ms is not None:
            found["rtt_ms"] = round(self.rtt_ms, 3)
        if self.error:
            found["error"] = self.error
        return found
