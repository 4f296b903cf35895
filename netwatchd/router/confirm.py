"""Asking the routers what the engine wants to know: the confirmation vote with its evidence, and a
recovered site's uptime (its cause). Every question of one round to one router goes out at once on
that router's WatchSession (tagged: RouterOS runs them simultaneously) and is answered within a
deadline; what the router has not said by then is "no answer", never a wait.

Read-only: `/ping` (the `test` policy), prints of /ip/address, /ip/route, /interface, /ip/arp,
/ipv6/neighbor, /log and /system/resource (the `read` policy). A print the user may not run or the
router does not have (/log unreadable, no IPv6 package) only leaves its evidence line out.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from netwatchd.clock import Clock, iso_ms
from netwatchd.config.durations import parse_duration
from netwatchd.errors import RouterError
from netwatchd.models import NO_ANSWER, RouterAnswer, RouterAsk
from netwatchd.router.diagnosis import interface_item, log_item, neighbor_item, ping_verdict, route_interface
from netwatchd.router.watch_session import Call, WatchSession

log = logging.getLogger(__name__)

CONFIRM_BUDGET_S = 1.0
"""What confirmation may add to a DOWN: the router gets this long from the moment it is asked (3
echoes 200 ms apart take 0.6 s on the router; the rest is the API round trip)."""
PING_COUNT = 3
PING_INTERVAL = "200ms"
CAUSE_BUDGET_S = 2.0
"""A recovered site's router gets this long to say its uptime (it has just come back: its session
is usually new, so a login comes first)."""

EVIDENCE_READS: dict[str, tuple[str, tuple[str, ...]]] = {
    "addresses": ("/ip/address/print", ("address", "network", "interface", "actual-interface", "disabled", "invalid")),
    "routes": ("/ip/route/print", ("dst-address", "gateway", "immediate-gw", "gateway-status", "distance", "active")),
    "interfaces": ("/interface/print", ("name", "type", "running", "disabled", "link-downs", "last-link-down-time",
                                        "comment")),
    "arp": ("/ip/arp/print", ("address", "mac-address", "interface", "status", "complete", "invalid")),
    "neighbors6": ("/ipv6/neighbor/print", ("address", "mac-address", "interface", "status")),
    "log": ("/log/print", ("time", "topics", "message")),
}


class Confirmer:
    """Puts the engine's questions to the routers. Remembers each router's interface link-downs
    from one look to the next (for "went down N times since the last look"). Thread-safe."""

    def __init__(self, clock: Clock, *, budget: float = CONFIRM_BUDGET_S,
                 cause_budget: float = CAUSE_BUDGET_S) -> None:
        self.clock = clock
        self.budget = budget
        self.cause_budget = cause_budget
        self._lock = threading.Lock()
        self._link_downs: dict[tuple[str, str], tuple[int, str]] = {}

    # -- the vote -------------------------------------------------------------------------------

    def confirm(self, session: WatchSession, asks: Sequence[RouterAsk]) -> list[RouterAnswer]:
        """Ping every asked site from `session`'s router, read its evidence tables, all at once;
        answers within `budget` seconds. Never raises: a failure is a NO_ANSWER with its one line."""
        deadline = time.monotonic() + self.budget
        router = session.name
        pings: list[tuple[RouterAsk, Call | None, str | None]] = []
        error: str | None = None
        for ask in asks:
            if error is not None:
                pings.append((ask, None, error))
                continue
            try:
                call = session.start("/ping", address=ask.address, count=PING_COUNT, interval=PING_INTERVAL,
                                     connect_timeout=deadline - time.monotonic())
                pings.append((ask, call, None))
            except RouterError as exc:
                error = str(exc)
                pings.append((ask, None, error))
        reads = self._start_reads(session, asks) if error is None else {}
        for _, ping, _ in pings:
            if ping is not None and not ping.wait(deadline - time.monotonic()):
                session.expired(ping)
        for read in reads.values():
            if not read.wait(deadline - time.monotonic()):
                session.expired(read)
        tables = {name: read.rows for name, read in reads.items() if read.done and read.error is None
                  and read.trap is None}
        for name, read in reads.items():
            if read.trap is not None:
                log.debug("router %s: %s unreadable: %s", router, EVIDENCE_READS[name][0], read.trap)
        now = self.clock.now()
        answers = [self._answer(ask, ping, failed, tables, now) for ask, ping, failed in pings]
        if "interfaces" in tables:
            self.remember(router, tables["interfaces"], now)
        return answers

    def _start_reads(self, session: WatchSession, asks: Sequence[RouterAsk]) -> dict[str, Call]:
        reads: dict[str, Call] = {}
        wants_v6 = any(_version(ask.address) == 6 for ask in asks)
        for name, (command, fields) in EVIDENCE_READS.items():
            if name == "neighbors6" and not wants_v6:
                continue
            where = {"active": True} if name == "routes" else None
            try:
                reads[name] = session.start(command, proplist=fields, where=where)
            except RouterError as exc:
                log.debug("router %s: %s not read: %s", session.name, command, exc)
                break
        return reads

    def _answer(self, ask: RouterAsk, call: Call | None, failed: str | None, tables: dict[str, list[dict[str, Any]]],
                now: datetime) -> RouterAnswer:
        if call is None or call.error is not None or call.trap is not None:
            error = failed if call is None else str(call.error or call.trap)
            return RouterAnswer(ask.id, ask.kind, ask.host, ask.router, now, result=NO_ANSWER, error=error)
        result, sent, received, rtt = ping_verdict(call.rows)
        error = None if result != NO_ANSWER else f"router {ask.router}: no reply to /ping within {self.budget:g} s"
        return RouterAnswer(ask.id, ask.kind, ask.host, ask.router, now, result=result, sent=sent, received=received,
                            rtt_ms=rtt, error=error, diagnosis=tuple(self.diagnosis(ask.router, ask.address, tables)))

    def diagnosis(self, router: str, address: str, tables: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The evidence items the router's tables give about `address` (fewer when a table is missing)."""
        items: list[dict[str, Any]] = []
        interface = None
        if "addresses" in tables:
            interface, gateway = route_interface(address, tables["addresses"], tables.get("routes", []))
            if interface is None:
                items.append({"kind": "route", "router": router, "address": address, "found": False})
        if interface is not None and "interfaces" in tables:
            with self._lock:
                before = self._link_downs.get((router, interface))
            items.append(interface_item(router, interface, tables["interfaces"], before))
        table = "neighbors6" if _version(address) == 6 else "arp"
        if table in tables:
            items.append(neighbor_item(router, address, tables[table]))
        if interface is not None and "log" in tables:
            found = log_item(router, interface, tables["log"])
            if found is not None:
                items.append(found)
        return items

    def remember(self, router: str, interfaces: Sequence[dict[str, Any]], at: datetime) -> None:
        """Keep each interface's link-downs as "the last look" at `router`."""
        with self._lock:
            for row in interfaces:
                try:
                    self._link_downs[(router, str(row["name"]))] = (int(row["link-downs"]), iso_ms(at))
                except (KeyError, TypeError, ValueError):
                    continue

    def look(self, session: WatchSession, timeout: float) -> None:
        """One look at the router's interfaces (the baseline of link-downs; it also opens the session,
        so the first confirmation does not pay for the login). Raises RouterError."""
        call = session.start("/interface/print", proplist=("name", "link-downs"), connect_timeout=timeout)
        if not call.wait(timeout):
            session.expired(call)
            raise RouterError(f"router {session.name}: /interface/print got no reply within {timeout:g} s")
        self.remember(session.name, call.result(), self.clock.now())

    # -- the cause ------------------------------------------------------------------------------

    def uptime(self, session: WatchSession, asks: Sequence[RouterAsk]) -> list[RouterAnswer]:
        """Read the site router's uptime for each "cause" question. Never raises."""
        deadline = time.monotonic() + self.cause_budget
        uptime: float | None = None
        error: str | None = None
        try:
            call = session.start("/system/resource/print", proplist=("uptime",),
                                 connect_timeout=deadline - time.monotonic())
            if not call.wait(deadline - time.monotonic()):
                session.expired(call)
                error = f"router {session.name}: no reply within {self.cause_budget:g} s"
            else:
                rows = call.result()
                uptime = parse_duration(rows[0]["uptime"]) if rows and "uptime" in rows[0] else None
                error = None if uptime is not None else f"router {session.name}: no uptime in /system/resource"
        except (RouterError, ValueError) as exc:
            error = str(exc)
        now = self.clock.now()
        return [RouterAnswer(id=ask.id, kind=ask.kind, host=ask.host, router=ask.router, at=now, uptime_s=uptime,
                             error=error) for ask in asks]


def _version(address: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 4


def ask_routers(asks: Sequence[RouterAsk], sessions: Callable[[str], WatchSession], confirmer: Confirmer,
                clock: Clock) -> list[RouterAnswer]:
    """All of one router's questions (they share one `router`), answered. Never raises."""
    if not asks:
        return []
    router = asks[0].router
    try:
        session = sessions(router)
    except RouterError as exc:
        now = clock.now()
        return [RouterAnswer(id=a.id, kind=a.kind, host=a.host, router=a.router, at=now, error=str(exc)) for a in asks]
    confirms = [a for a in asks if a.kind == "confirm"]
    causes = [a for a in asks if a.kind == "cause"]
    answers: list[RouterAnswer] = []
    if confirms:
        answers += confirmer.confirm(session, confirms)
    if causes:
        answers += confirmer.uptime(session, causes)
    return answers
