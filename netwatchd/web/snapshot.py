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
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from netwatchd.clock import utc_ms
from netwatchd.config.model import Config, HostSpec
from netwatchd.models import ProbeResult, State

# path: failing from here, alive from its via router: not an outage of the site, not fine either
COLOURS = {"up": "green", "degraded": "amber", "path": "amber", "down": "red", "unreachable": "grey",
           "unknown": "grey"}
SPARKLINE_POINTS = 30


_iso = lru_cache(maxsize=65536)(utc_ms)   # a page of many sites repeats the same probe-round moments


def _state_name(value: Any) -> str:
    if isinstance(value, State):
        return value.value
    state = getattr(value, "state", value)
    return state.value if isinstance(state, State) else str(state or "unknown")


def colour_for(state: str, muted: bool) -> str:
    """Tile colour: green up, amber degraded or path, red down, grey unreachable/unknown or muted."""
    return "grey" if muted else COLOURS.get(state, "grey")


def _site(host: HostSpec, held: Any, result: ProbeResult | None, history: Sequence[float | None]) -> dict[str, Any]:
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


def _count(summary: dict[str, int], site: dict[str, Any]) -> None:
    state = site["state"]
    summary["total"] += 1
    summary[state if state in summary else "unknown"] += 1
    summary["muted"] += site["muted"]


def _empty_summary() -> dict[str, int]:
    return {"total": 0, "up": 0, "degraded": 0, "path": 0, "down": 0, "unreachable": 0, "unknown": 0, "muted": 0}


def build_snapshot(config: Config, states: Mapping[str, Any], latest_results: Mapping[str, ProbeResult],
                   rtt_history: Mapping[str, Sequence[float | None]], outbox_depth: int,
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
    """

    def __init__(self) -> None:
        self._sites: dict[str, tuple[Any, ...]] = {}

    def encode(self, config: Config, states: Mapping[str, Any], latest_results: Mapping[str, ProbeResult],
               rtt_history: Mapping[str, Sequence[float | None]], outbox_depth: int,
               now: datetime | None = None) -> bytes:
        summary = _empty_summary()
        fragments: list[bytes] = []
        fresh: dict[str, tuple[Any, ...]] = {}
        dumps = json.dumps
        for host in config.hosts:
            if host.disabled:
                continue
            name = host.name
            held, result = states.get(name), latest_results.get(name)
            history = rtt_history.get(name) or ()
            marks = (len(history), history[-1] if history else None)
            entry = self._sites.get(name)
            if (entry is None or entry[0] is not host or entry[1] is not held or entry[2] is not result
                    or entry[3] != marks):
                site = _site(host, held, result, history)
                entry = (host, held, result, marks, site["state"], site["muted"],
                         dumps(site, separators=(",", ":"), allow_nan=False).encode())
            fresh[name] = entry
            summary["total"] += 1
            summary[entry[4] if entry[4] in summary else "unknown"] += 1
            summary["muted"] += entry[5]
            fragments.append(entry[6])
        self._sites = fresh
        head = dumps({"generated_at": _iso(now or datetime.now(timezone.utc)), "timezone": config.timezone,
                      "outbox_depth": int(outbox_depth), "summary": summary}, separators=(",", ":"))
        return head[:-1].encode() + b',"sites":[' + b",".join(fragments) + b"]}"
