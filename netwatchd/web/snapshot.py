"""What the status page shows: `build_snapshot()` turns the agent's live data into one JSON-able dict.

The app calls it with AlertEngine.states(), the latest ProbeResult per host, a short rtt history per
host and the outbox depth; StatusServer serves it as /api/status and the page polls it. For many
sites use `SnapshotEncoder().encode(...)` (same arguments, JSON bytes, only changed sites
re-encoded): StatusServer serves bytes from `snapshot()` as they are.

Shape (every time is ISO 8601 UTC with milliseconds; numbers are plain JSON numbers):

    {
      "generated_at": "2026-11-01T01:00:00.000+00:00",
      "timezone": "Asia/Jakarta",                     # for showing times on the page
      "outbox_depth": 0,
      "summary": {"total": 18, "up": 17, "degraded": 0, "down": 1, "unreachable": 0,
                  "unknown": 0, "muted": 0},
      "sites": [                                      # in config order
        {"name": "kec-a", "address": "198.18.1.2", "group": "north", "parent": null,
         "state": "down",                             # unknown|up|degraded|down|unreachable
         "muted": false, "flapping": false,
         "colour": "red",                             # green|amber|red|grey (muted/unknown/unreachable: grey)
         "since": "2026-11-01T00:58:00.000+00:00",    # when this state began (null if unknown)
         "rtt_ms": 3.2, "loss_percent": 0.0,          # from the last probe (null before the first)
         "last_probe": "2026-11-01T00:59:58.000+00:00", "error": null,
         "rtt_history": [3.1, 3.4, null, 2.9]}        # oldest first, null = no reply; for the sparkline
      ]
    }
"""

from __future__ import annotations

import json
import threading
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any

from netwatchd.clock import utc_ms
from netwatchd.config.model import Config, HostSpec
from netwatchd.models import ProbeResult, State

# path: failing from here, alive from its via router: not an outage of the site, not fine either
COLOURS = {"up": "green", "degraded": "amber", "path": "amber", "down": "red", "unreachable": "grey",
           "unknown": "grey"}
SPARKLINE_POINTS = 30
PART_SITES = 256   # sites per piece of SnapshotEncoder.parts() (~90 KB)


_iso = lru_cache(maxsize=2048)(utc_ms)   # a page of many sites repeats a round's moment (65,536 held ~15 MB)


def _state_name(value: Any) -> str:
    if isinstance(value, State):
        return value.value
    state = getattr(value, "state", value)
    return state.value if isinstance(state, State) else str(state or "unknown")


def colour_for(state: str, muted: bool) -> str:
    """Tile colour: green up, amber degraded or path, red down, grey unreachable/unknown or muted."""
    return "grey" if muted else COLOURS.get(state, "grey")


def _site(host: HostSpec, held: Any, result: ProbeResult | None, history: History) -> dict[str, Any]:
    state = _state_name(held) if held is not None else "unknown"
    muted = bool(getattr(held, "muted", False))
    since = getattr(held, "since", None)
    return {
        "name": host.name, "address": host.address, "group": host.group, "parent": host.parent,
        "state": state, "muted": muted, "flapping": bool(getattr(held, "flapping", False)),
        "colour": colour_for(state, muted),
        "since": _iso(since) if since else None,
        "rtt_ms": result.rtt_avg_ms if result else None,
        "loss_percent": result.loss_percent if result else None,
        "last_probe": _iso(result.at) if result else None,
        "error": result.error if result else None,
        "rtt_history": [None if v is None else round(v, 1) for v in list(history)[-SPARKLINE_POINTS:]],
    }


class RttHistory:
    """A host's last `length` average rtts for the sparkline, oldest first: iterates as floats
    rounded to 0.1 ms (None = no reply). Kept as whole tenths in an int array (~200 bytes a host,
    where a deque of floats took ~1.3 KB), and written as JSON without a float conversion per
    point on every page build."""

    __slots__ = ("_tenths", "_length")

    def __init__(self, length: int = SPARKLINE_POINTS) -> None:
        self._tenths = array("i")
        self._length = length

    @classmethod
    def _of(cls, tenths: array, length: int) -> RttHistory:
        history = cls.__new__(cls)
        history._tenths, history._length = tenths, length
        return history

    def append(self, rtt_ms: float | None) -> None:
        tenths = self._tenths
        tenths.append(_to_tenths(rtt_ms))
        if len(tenths) > self._length:
            del tenths[0]

    def __len__(self) -> int:
        return len(self._tenths)

    def last_tenths(self) -> int | None:
        """The newest point as whole tenths (-1: no reply), None when empty: compared without
        making a float (the page's cache keeps it for every site)."""
        return self._tenths[-1] if self._tenths else None

    def __getitem__(self, index: int) -> float | None:
        value = self._tenths[index]
        return None if value < 0 else value / 10

    def __iter__(self) -> Iterator[float | None]:
        return (None if v < 0 else v / 10 for v in self._tenths)

    def json_points(self, limit: int) -> str:
        """The last `limit` points as a JSON list, e.g. [1.5,null,2.0]."""
        text = _TENTHS_TEXT
        return "[" + ",".join([text.get(v) or _tenths_text(v) for v in self._tenths[-limit:]]) + "]"


def _to_tenths(rtt_ms: float | None) -> int:
    return -1 if rtt_ms is None else min(round(round(rtt_ms, 1) * 10), 2**31 - 1)


class RttHistories:
    """Every host's RttHistory in one ring buffer: `length` int slots a host in one array, no
    object per host (10,000 hosts: 1.2 MB in one block, where an RttHistory and its array each
    were ~250 bytes and 20,000 objects). append_all() from the results thread; get(name) is a
    consistent RttHistory copy (the page reads while rounds append); pop(name) frees the slot."""

    def __init__(self, length: int = SPARKLINE_POINTS) -> None:
        self._length = length
        self._tenths = array("i")     # host k's ring: [k * length, (k + 1) * length)
        self._count = array("q")      # points ever appended to ring k (the next goes to count % length)
        self._slot: dict[str, int] = {}
        self._free: list[int] = []
        self._lock = threading.Lock()

    def append(self, name: str, rtt_ms: float | None) -> None:
        self.append_all(((name, rtt_ms),))

    def append_all(self, points: Iterable[tuple[str, float | None]]) -> None:
        """Append each (host, average rtt in ms or None) - a round's results at once."""
        length, tenths, count, slots = self._length, self._tenths, self._count, self._slot
        with self._lock:
            for name, rtt_ms in points:
                slot = slots.get(name)
                if slot is None:
                    slot = slots[name] = self._allocate()
                appended = count[slot]
                tenths[slot * length + appended % length] = (
                    -1 if rtt_ms is None else min(round(round(rtt_ms, 1) * 10), 2**31 - 1))
                count[slot] = appended + 1

    def _allocate(self) -> int:
        if self._free:
            slot = self._free.pop()
            self._count[slot] = 0
            return slot
        self._tenths.frombytes(bytes(self._tenths.itemsize * self._length))
        self._count.append(0)
        return len(self._count) - 1

    def get(self, name: str, default: RttHistory | None = None) -> RttHistory | None:
        """A copy of the host's history (oldest first), or `default` when it has none."""
        length = self._length
        with self._lock:
            slot = self._slot.get(name)
            if slot is None:
                return default
            base, appended = slot * length, self._count[slot]
            if appended <= length:
                tenths = self._tenths[base:base + appended]
            else:
                start = base + appended % length
                tenths = self._tenths[start:base + length] + self._tenths[base:start]
        return RttHistory._of(tenths, length)

    def pop(self, name: str, default: RttHistory | None = None) -> RttHistory | None:
        """Forget the host's history (a site removed); returns it, or `default`."""
        history = self.get(name, default)
        with self._lock:
            slot = self._slot.pop(name, None)
            if slot is not None:
                self._free.append(slot)
        return history

    def __contains__(self, name: object) -> bool:
        return name in self._slot

    def __len__(self) -> int:
        return len(self._slot)


History = Sequence[float | None] | RttHistory
"""A host's rtt history as the page reads it: oldest first, None for no reply."""
Histories = Mapping[str, History] | RttHistories
"""Every host's: the page only calls .get(name)."""

_TENTHS_TEXT: dict[int, str] = {}


def _tenths_text(value: int) -> str:
    """JSON text of value/10 (as json.dumps writes round(x, 1)), or null for a negative value."""
    text = "null" if value < 0 else f"{value // 10}.{value % 10}"
    if len(_TENTHS_TEXT) < 100_000:   # rtts cluster: a few thousand distinct values at most
        _TENTHS_TEXT[value] = text
    return text


_quote = encode_basestring_ascii   # what json.dumps writes for a str (ensure_ascii)


def _number(value: Any) -> str:
    """A JSON number as json.dumps writes it; ValueError for NaN/infinity (as allow_nan=False)."""
    if value is None:
        return "null"
    if type(value) is float:
        if value - value != 0.0:
            raise ValueError(f"out of range float value for JSON: {value!r}")
        return repr(value)
    return json.dumps(value, allow_nan=False)


_points = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode   # C encoder: a list at once


def _site_head(host: HostSpec) -> str:
    """The part of a site's JSON that only its config decides."""
    return (f'{{"name":{_quote(host.name)},"address":{_quote(host.address)},"group":{_quote(host.group)},'
            f'"parent":{"null" if host.parent is None else _quote(host.parent)},')


def _site_json(head: str, host: HostSpec, held: Any, result: ProbeResult | None,
               history: History) -> tuple[str, bool, bytes]:
    """(state, muted, the site encoded): the bytes of json.dumps(_site(...), separators=(",", ":"),
    allow_nan=False) written directly (a test holds them equal), 4x faster: the page of 10,000
    sites re-encodes about 1,000 of them a second."""
    state = _state_name(held) if held is not None else "unknown"
    muted = bool(getattr(held, "muted", False))
    since = getattr(held, "since", None)
    if isinstance(history, RttHistory):
        points = history.json_points(SPARKLINE_POINTS)
    else:
        points = _points([None if v is None else round(v, 1) for v in list(history)[-SPARKLINE_POINTS:]])
    if result is None:
        tail = '"rtt_ms":null,"loss_percent":null,"last_probe":null,"error":null'
    else:
        error = result.error
        tail = (f'"rtt_ms":{_number(result.rtt_avg_ms)},"loss_percent":{_number(result.loss_percent)},'
                f'"last_probe":{_quote(_iso(result.at))},"error":{"null" if error is None else _quote(error)}')
    text = (f'{head}"state":{_quote(state)},"muted":{"true" if muted else "false"},'
            f'"flapping":{"true" if getattr(held, "flapping", False) else "false"},'
            f'"colour":{_quote(colour_for(state, muted))},"since":{_quote(_iso(since)) if since else "null"},'
            f'{tail},"rtt_history":{points}}}')
    return state, muted, text.encode()


def _count(summary: dict[str, int], site: dict[str, Any]) -> None:
    state = site["state"]
    summary["total"] += 1
    summary[state if state in summary else "unknown"] += 1
    summary["muted"] += site["muted"]


def _empty_summary() -> dict[str, int]:
    return {"total": 0, "up": 0, "degraded": 0, "path": 0, "down": 0, "unreachable": 0, "unknown": 0, "muted": 0}


def build_snapshot(config: Config, states: Mapping[str, Any], latest_results: Mapping[str, ProbeResult],
                   rtt_history: Histories, outbox_depth: int,
                   now: datetime | None = None) -> dict[str, Any]:
    """The page's data for every configured (enabled) site. `states` maps host -> HostState
    (or a State / state name); hosts missing from it are "unknown". Never raises for missing data."""
    summary = _empty_summary()
    sites = []
    for host in config.hosts:
        if host.disabled:
            continue
        site = _site(host, states.get(host.name), latest_results.get(host.name), rtt_history.get(host.name) or ())
        _count(summary, site)
        sites.append(site)
    return {
        "generated_at": _iso(now or datetime.now(timezone.utc)),
        "timezone": config.timezone,
        "outbox_depth": int(outbox_depth),
        "summary": summary,
        "sites": sites,
    }


class SnapshotEncoder:
    """build_snapshot() already encoded as JSON bytes, re-encoding only the sites whose inputs
    changed since the last call (HostState and ProbeResult are immutable values, so "changed" is
    "a different object"; the rtt history is compared by length and last value). With 10,000
    sites probed every 10 s a rebuild each second re-encodes about a tenth of them.
    The bytes equal json.dumps(build_snapshot(...), separators=(",", ":")).

    `changed`: the caller knows which sites' inputs may have changed since its previous call (the
    agent collects the names its rounds touched): only those are looked at, the other 9,000 sites
    are not even visited. The first call, and any call with another `config`, checks every site.
    """

    def __init__(self) -> None:
        self._config: Config | None = None
        # site -> its position on the page; _entries[position] is its cached entry (see _entry), whose
        # last item is the site's encoded bytes (one 10,000-entry dict, not one per table)
        self._position: dict[str, int] = {}
        self._entries: list[tuple[Any, ...]] = []
        self._summary = _empty_summary()

    def encode(self, config: Config, states: Mapping[str, Any], latest_results: Mapping[str, ProbeResult],
               rtt_history: Histories, outbox_depth: int,
               now: datetime | None = None, *, changed: Iterable[str] | None = None) -> bytes:
        """The page as one bytes object (see parts() for the same bytes without it)."""
        return b"".join(self.parts(config, states, latest_results, rtt_history, outbox_depth, now,
                                   changed=changed))

    def parts(self, config: Config, states: Mapping[str, Any], latest_results: Mapping[str, ProbeResult],
              rtt_history: Histories, outbox_depth: int,
              now: datetime | None = None, *, changed: Iterable[str] | None = None) -> Iterator[bytes]:
        """encode()'s bytes in pieces of at most PART_SITES sites (~100 KB), to feed a compressor
        without ever joining the ~4 MB page of 10,000 sites. The sites are re-encoded at once; the
        pieces are read lazily, so consume them before the next call (the server's build lock)."""
        if changed is None or config is not self._config:
            self._encode_all(config, states, latest_results, rtt_history)
        else:
            self._encode_changed(changed, states, latest_results, rtt_history)
        head = json.dumps({"generated_at": _iso(now or datetime.now(timezone.utc)), "timezone": config.timezone,
                           "outbox_depth": int(outbox_depth), "summary": self._summary}, separators=(",", ":"))
        return self._pieces(head[:-1].encode() + b',"sites":[', self._entries)

    @staticmethod
    def _pieces(head: bytes, entries: list[tuple[Any, ...]]) -> Iterator[bytes]:
        yield head
        for start in range(0, len(entries), PART_SITES):
            if start:
                yield b","
            yield b",".join([entry[7] for entry in entries[start:start + PART_SITES]])
        yield b"]}"

    def _entry(self, host: HostSpec, states: Mapping[str, Any], latest_results: Mapping[str, ProbeResult],
               rtt_history: Histories) -> tuple[Any, ...]:
        """(host, held, result, history length, last rtt, state, muted, encoded site): the cached
        one while its inputs hold (one flat tuple a site: the cache is kept for every site)."""
        name = host.name
        held, result = states.get(name), latest_results.get(name)
        history = rtt_history.get(name) or ()
        length = len(history)
        if isinstance(history, RttHistory):
            last: Any = history.last_tenths()     # an int (small ones shared), not a new float
        else:
            last = history[-1] if length else None
        position = self._position.get(name)
        entry = None if position is None else self._entries[position]
        if (entry is None or entry[0] is not host or entry[1] is not held or entry[2] is not result
                or entry[3] != length or entry[4] != last):
            entry = (host, held, result, length, last, *_site_json(_site_head(host), host, held, result, history))
        return entry

    def _encode_all(self, config: Config, states: Mapping[str, Any], latest_results: Mapping[str, ProbeResult],
                    rtt_history: Histories) -> None:
        summary = _empty_summary()
        entries: list[tuple[Any, ...]] = []
        position: dict[str, int] = {}
        for host in config.hosts:
            if host.disabled:
                continue
            entry = self._entry(host, states, latest_results, rtt_history)
            position[host.name] = len(entries)
            entries.append(entry)
            _tally(summary, entry, 1)
        self._entries, self._position, self._summary = entries, position, summary
        self._config = config

    def _encode_changed(self, changed: Iterable[str], states: Mapping[str, Any],
                        latest_results: Mapping[str, ProbeResult],
                        rtt_history: Histories) -> None:
        for name in changed:
            index = self._position.get(name)
            if index is None:  # not a site of the page (an anchor, a host removed meanwhile)
                continue
            old = self._entries[index]
            entry = self._entry(old[0], states, latest_results, rtt_history)
            if entry is not old:
                _tally(self._summary, old, -1)
                _tally(self._summary, entry, 1)
                self._entries[index] = entry


def _tally(summary: dict[str, int], entry: tuple[Any, ...], sign: int) -> None:
    summary["total"] += sign
    summary[entry[5] if entry[5] in summary else "unknown"] += sign
    summary["muted"] += sign * entry[6]
