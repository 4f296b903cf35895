"""The periodic cross-check (`crosscheck_every`): alert when the router's Netwatch and netwatchd
disagree about a site for two checks in a row (so for at least one period), once per disagreement.

`run_once()` reads every configured router's Netwatch table, compares it with netwatchd's states
and returns Transition(kind="crosscheck") values for disagreements that have just become lasting;
the caller records and sends them like any other transition (state_repo.save). A router that cannot
be read produces no alert (that is not a disagreement); its one-line error is kept in
`last_errors`. A disagreement that ends is forgotten, so a new one alerts again.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from netwatchd.clock import Clock
from netwatchd.config.model import Config
from netwatchd.errors import RouterError
from netwatchd.models import State, Transition
from netwatchd.router.client import RouterPool
from netwatchd.router.netwatch import Comparison, crosscheck, read_netwatch

log = logging.getLogger(__name__)
KIND = "crosscheck"


class CrossCheckWatcher:
    """Call `run_once()` every config.crosscheck_every seconds (the app's scheduler does)."""

    def __init__(self, config: Config, routers: RouterPool, clock: Clock, *,
                 load_states: Callable[[], Mapping[str, Any]]) -> None:
        self.config = config
        self.routers = routers
        self.clock = clock
        self.load_states = load_states
        self._seen: dict[tuple[str, str], int] = {}      # (router, site) -> checks in a row it disagreed
        self.last_errors: dict[str, str] = {}

    def replace_config(self, config: Config) -> None:
        self.config = config

    def run_once(self) -> list[Transition]:
        """Check every router now; returns the transitions to announce (maybe none). Never raises for a
        router's failure."""
        states = self.load_states()
        announce: list[Transition] = []
        for name in self.routers.names():
            try:
                entries = read_netwatch(self.routers.get(name))
            except RouterError as exc:
                self.last_errors[name] = str(exc)
                log.warning("cross-check skipped: %s", exc)
                continue
            self.last_errors.pop(name, None)
            check = crosscheck(entries, self.config, states, router=name)
            disagreeing = {c.site: c for c in check.disagreements}
            for key in [k for k in self._seen if k[0] == name and k[1] not in disagreeing]:
                del self._seen[key]
            for site, comparison in disagreeing.items():
                count = self._seen.get((name, site), 0) + 1
                self._seen[(name, site)] = count
                if count == 2:
                    announce.append(self._transition(name, comparison))
        return announce

    def _transition(self, router: str, c: Comparison) -> Transition:
        host = self.config.host(c.site)
        return Transition(
            host=c.site, address=c.address, group=host.group if host else "", kind=KIND,
            from_state=State(c.ours_detail) if c.ours_detail in State._value2member_map_ else State.UNKNOWN,
            to_state=State.UP if c.router == "up" else State.DOWN, at=self.clock.now(), since=c.ours_since,
            evidence={"router": router, "router_entry": c.entry, "router_status": c.router,
                      "router_since": c.router_since.isoformat(timespec="seconds") if c.router_since else None,
                      "netwatchd_state": c.ours_detail,
                      "netwatchd_since": c.ours_since.isoformat(timespec="seconds") if c.ours_since else None},
        )
