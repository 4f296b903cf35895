"""Questions the engine asks the routers, and their answers, as plain values (no I/O here).

The engine stays pure: when a site reaches its DOWN threshold and has a `via` router, it does not
decide at once but asks (`RouterAsk(kind="confirm")`); the app has the router ping the site and
hands the result back (`RouterAnswer`), and only then is the site DOWN (the router cannot reach
it either), PATH (the router can: the path between this server and the router is at fault) or
DOWN "unconfirmed" (the router did not answer in time). When a site that is itself a RouterOS
device (`router:`) comes back from a DOWN, its UP is held until its uptime is read
(`kind="cause"`): a router that booted during the outage "restarted (power cut?)", else the link
came back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CONFIRM_GIVE_UP_S = 3.0
"""A confirmation the app has not answered after this long is taken as "no answer" (the app's own
deadline is CONFIRM_BUDGET_S; this only guards against a lost answer)."""
CAUSE_GIVE_UP_S = 3.0
"""An UP held for its cause is released without one after this long."""
PATH_RECHECK_S = 60.0
"""While a site is in PATH, its via router is asked again this often (it may go down for real)."""
CONFIRM_BUDGET_S = 1.0
"""What confirmation may add to a DOWN: the app gives the router this long (3 echoes 200 ms apart
take 0.6 s on the router, the rest is the API round trip)."""
PING_COUNT = 3
PING_INTERVAL = "200ms"
RESTART_SLACK_S = 5.0
"""A router counts as restarted during the outage when it booted after the last good probe, give
or take this much (clock skew, the time the read took)."""

CONFIRMED, REACHABLE, NO_ANSWER = "down", "reachable", "no_answer"
RESTARTED, LINK_RESTORED, CAUSE_UNKNOWN = "restarted", "link", "unknown"


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


def recovery_cause(uptime_s: float | None, read_at: datetime, outage_from: datetime | None) -> str:
    """RESTARTED when the router booted after the outage began (its uptime is shorter than the
    time since then), LINK_RESTORED when it was running all along, CAUSE_UNKNOWN without an uptime."""
    if uptime_s is None or outage_from is None:
        return CAUSE_UNKNOWN
    booted_s_ago = uptime_s
    outage_s = (read_at - outage_from).total_seconds()
    return RESTARTED if booted_s_ago < outage_s + RESTART_SLACK_S else LINK_RESTORED
