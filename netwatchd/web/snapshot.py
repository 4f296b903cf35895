"""What the status page shows: `build_snapshot()` turns the agent's live data into one JSON-able dict.

The app calls it with AlertEngine.states(), the latest ProbeResult per host, a short rtt history per
host and the outbox depth; StatusServer serves it as /api/status and the page polls it.

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

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Mapping, Sequence

from netwatchd.config import Config
from netwatchd.models import ProbeResult, State

COLOURS = {"up": "green", "degraded": "amber", "down": "red", "unreachable": "grey", "unknown": "grey"}
SPARKLINE_POINTS = 30


@lru_cache(maxsize=65536)
def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _state_name(value: Any) -> str:
    if isinstance(value, State):
        return value.value
    state = getattr(value, "state", value)
    return state.value if isinstance(state, State) else str(state or "unknown")


def colour_for(state: str, muted: bool) -> str:
    """Tile colour: green up, amber degraded, red down, grey unreachable/unknown or muted."""
    return "grey" if muted else COLOURS.get(state, "grey")


def build_snapshot(config: Config, states: Mapping[str, Any], latest_results: Mapping[str, ProbeResult],
                   rtt_history: Mapping[str, Sequence[float | None]], outbox_depth: int,
                   now: datetime | None = None) -> dict[str, Any]:
    """The page's data for every configured (enabled) site. `states` maps host -> HostState
    (or a State / state name); hosts missing from it are "unknown". Never raises for missing data."""
    summary = {"total": 0, "up": 0, "degraded": 0, "down": 0, "unreachable": 0, "unknown": 0, "muted": 0}
    sites = []
    for host in config.hosts:
        if host.disabled:
            continue
        held = states.get(host.name)
        state = _state_name(held) if held is not None else "unknown"
        muted = bool(getattr(held, "muted", False))
        since = getattr(held, "since", None)
        result = latest_results.get(host.name)
        history = rtt_history.get(host.name) or ()
        summary["total"] += 1
        summary[state if state in summary else "unknown"] += 1
        summary["muted"] += muted
        sites.append({
            "name": host.name, "address": host.address, "group": host.group, "parent": host.parent,
            "state": state, "muted": muted, "flapping": bool(getattr(held, "flapping", False)),
            "colour": colour_for(state, muted),
            "since": _iso(since) if since else None,
            "rtt_ms": result.rtt_avg_ms if result else None,
            "loss_percent": result.loss_percent if result else None,
            "last_probe": _iso(result.at) if result else None,
            "error": result.error if result else None,
            "rtt_history": [None if v is None else round(v, 1) for v in list(history)[-SPARKLINE_POINTS:]],
        })
    return {
        "generated_at": _iso(now or datetime.now(timezone.utc)),
        "timezone": config.timezone,
        "outbox_depth": int(outbox_depth),
        "summary": summary,
        "sites": sites,
    }
