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

from datetime import datetime

from netwatchd.models import CONFIRMED, NO_ANSWER, REACHABLE, RouterAnswer, RouterAsk

__all__ = ["CAUSE_GIVE_UP_S", "CONFIRM_GIVE_UP_S", "PATH_RECHECK_S", "RESTART_SLACK_S", "CONFIRMED", "NO_ANSWER",
           "REACHABLE", "RESTARTED", "LINK_RESTORED", "CAUSE_UNKNOWN", "RouterAnswer", "RouterAsk", "recovery_cause"]

CONFIRM_GIVE_UP_S = 3.0
"""A confirmation the app has not answered after this long is taken as "no answer" (the app's own
deadline is about 1 s; this only guards against a lost answer)."""
CAUSE_GIVE_UP_S = 3.0
"""An UP held for its cause is released without one after this long."""
PATH_RECHECK_S = 60.0
"""While a site is in PATH, its via router is asked again this often (it may go down for real)."""
RESTART_SLACK_S = 2.0
"""A router counts as restarted during the outage when it booted after the outage began (the last
good probe), give or take this much (the time the read took, rounding of its uptime)."""

RESTARTED, LINK_RESTORED, CAUSE_UNKNOWN = "restarted", "link", "unknown"


def recovery_cause(uptime_s: float | None, read_at: datetime, outage_from: datetime | None) -> str:
    """RESTARTED when the router booted after the outage began (its uptime is shorter than the
    time since then), LINK_RESTORED when it was running all along, CAUSE_UNKNOWN without an uptime."""
    if uptime_s is None or outage_from is None:
        return CAUSE_UNKNOWN
    outage_s = (read_at - outage_from).total_seconds()
    return RESTARTED if uptime_s < outage_s + RESTART_SLACK_S else LINK_RESTORED
