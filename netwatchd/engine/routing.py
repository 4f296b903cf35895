"""Where an announced transition goes: `telegram.routes` (first match wins), else `telegram.chat_ids`.

Pure: the config and a transition in, destinations (a chat and, for a forum, its topic) out.

* A site's alerts go to the chats of the first route whose `match` names the site or its group;
  a site no route matches goes to telegram.chat_ids.
* A parent's message that folds in its unreachable sites (`Transition.affected`) goes where the
  parent's own alerts go AND wherever each folded site's alerts go: a district's chat hears that
  its site is unreachable because the core is down.
* The server's own uplink messages concern every site: they go to telegram.chat_ids and every route.
  Its other messages (startup, reload) go to telegram.chat_ids only.
* Without a bot token every message goes to the console.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from netwatchd.config.model import Config, Route
from netwatchd.engine.engine import SELF_HOST
from netwatchd.models import Transition

CONSOLE = "console"
EVERYWHERE_KINDS = ("uplink_lost", "uplink_back")


@dataclass(frozen=True, order=True)
class Destination:
    """A chat (its id as text, or "console") and a forum topic in it (0: none)."""

    chat_id: str
    thread_id: int = 0


def default_destinations(config: Config) -> list[Destination]:
    """telegram.chat_ids, or the console without a token (or without any chat)."""
    telegram = config.telegram
    if telegram.enabled and telegram.chat_ids:
        return [Destination(str(chat)) for chat in telegram.chat_ids]
    return [Destination(CONSOLE)]


class Router:
    """The routes of one config with its sites indexed by name, for many lookups (a core's DOWN may
    fold in thousands of sites). Build one per config."""

    def __init__(self, config: Config) -> None:
        self.config = config
        groups: dict[str, str] = {}       # one string per group, and the name itself when it is lower-case
        # (only routes read a site's group: without any, no table of 10,000 entries)
        self._groups = {h.name if h.name.islower() else h.name.lower():
                        groups.setdefault(h.group, h.group.lower())
                        for h in config.hosts if h.group} if config.telegram.routes else {}
        self._cache: dict[str, tuple[Destination, ...]] = {}

    def route_for(self, host: str) -> Route | None:
        """The first route matching `host` (by name or by its group, without regard to case)."""
        name = host.lower()
        group = self._groups.get(name)
        for route in self.config.telegram.routes:
            for selector in route.match:
                if selector.host is not None and selector.host.lower() == name:
                    return route
                if selector.group is not None and group is not None and selector.group.lower() == group:
                    return route
        return None

    def site_destinations(self, host: str) -> tuple[Destination, ...]:
        """Where `host`'s own alerts go."""
        found = self._cache.get(host)
        if found is None:
            route = self.route_for(host) if self.config.telegram.routes else None
            found = tuple(_of_route(route) if route is not None else default_destinations(self.config))
            self._cache[host] = found
        return found

    def destinations(self, transition: Transition) -> list[Destination]:
        """Every destination of one announced transition, in a stable order without repeats."""
        config = self.config
        if not config.telegram.enabled or not config.telegram.chat_ids:
            return [Destination(CONSOLE)]
        found: list[Destination] = []
        if transition.host == SELF_HOST:
            found += default_destinations(config)
            if transition.kind in EVERYWHERE_KINDS:
                for route in config.telegram.routes:
                    found += _of_route(route)
            return _unique(found)
        found += self.site_destinations(transition.host)
        for child in transition.affected:
            found += self.site_destinations(child)
        return _unique(found)

    def known(self) -> list[Destination]:
        """Every chat and topic this config may send to (for waking delivery lanes)."""
        found = default_destinations(self.config)
        for route in self.config.telegram.routes:
            found += _of_route(route)
        for level in self.config.telegram.escalate:
            found += [Destination(str(chat)) for chat in level.chat_ids]
        return _unique(found)


def destinations(config: Config, transition: Transition) -> list[Destination]:
    """Router(config).destinations(transition), for one lookup."""
    return Router(config).destinations(transition)


def _of_route(route: Route) -> list[Destination]:
    return [Destination(str(chat), route.thread_id or 0) for chat in route.chat_ids]


def _unique(items: Iterable[Destination]) -> list[Destination]:
    return list(dict.fromkeys(items))
