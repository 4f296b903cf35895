"""The router's own Netwatch table: read it, compare it with netwatchd's view, import it.

- `read_netwatch(client)` reads `/tool/netwatch/print` (v6 "simple" entries and v7 typed ones).
- `crosscheck(entries, config, states)` (pure) matches entries to configured sites by address (by
  name or comment as a fallback) and lists disagreements, sites only netwatchd watches and entries
  only the router watches.
- `netwatchd.router.rsc.read_export(text)` reads a `/tool netwatch export` script (or what guides
  and forums paste); `netwatchd.router.hosts_yaml.convert(entries)` writes hosts.yaml entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from netwatchd.config.durations import parse_duration
from netwatchd.config.model import Config, HostSpec
from netwatchd.errors import RouterError
from netwatchd.models import State
from netwatchd.router.values import ros_bool, ros_timestamp

if TYPE_CHECKING:   # a type only: `crosscheck --help` and the rsc import need no librouteros
    from netwatchd.router.client import RouterClient

# Fields NetwatchEntry holds itself; everything else RouterOS prints goes to `settings` as text.
_OWN_FIELDS = {".id", "host", "name", "type", "interval", "timeout", "comment", "disabled", "status", "since"}
# Read-only counters and results of the last test: not configuration, never imported.
STATUS_FIELDS = {"done-tests", "failed-tests", "sent-count", "response-count", "loss-count", "loss-percent",
                 "rtt-avg", "rtt-min", "rtt-max", "rtt-jitter", "rtt-stdev", "tcp-connect-time",
                 "http-status-code", "http-resp-time", "dns-answers", "dynamic", "invalid"}


@dataclass(frozen=True)
class NetwatchEntry:
    """One Netwatch entry as the router has it. `settings` keeps every other field as RouterOS wrote it
    (packet-count, thr-avg, port, up-script, src-address, ...)."""

    host: str
    name: str = ""
    type: str = "simple"              # simple (v6 and v7 default) | icmp | tcp-conn | http-get | https-get | dns
    interval: float = 10.0            # seconds
    timeout: float | None = None      # seconds; None when not set (router default)
    comment: str = ""
    disabled: bool = False
    status: str = "unknown"           # up | down | unknown (only from a print)
    since_text: str = ""              # as the router prints it, in its own local time
    id: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    status_fields: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How to name this entry to an administrator."""
        return self.name or self.comment or self.host

    def since(self, router_tz: tzinfo) -> datetime | None:
        return ros_timestamp(self.since_text, router_tz)

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> NetwatchEntry:
        """Build from the fields of a print row or an export line. Raises ValueError for an unreadable
        interval or timeout, or a missing host."""
        text = {key: _as_text(value) for key, value in fields.items()}
        if not text.get("host"):
            raise ValueError("a Netwatch entry without host=")
        timeout = text.get("timeout")
        return cls(
            host=text["host"], name=text.get("name", ""), type=text.get("type") or "simple",
            interval=_seconds("interval", text["interval"]) if text.get("interval") else 10.0,
            timeout=_seconds("timeout", timeout) if timeout else None,
            comment=text.get("comment", ""), disabled=ros_bool(text.get("disabled", "no")),
            status=(text.get("status") or "unknown").lower(), since_text=text.get("since", ""),
            id=text.get(".id", ""),
            settings={k: v for k, v in text.items() if k not in _OWN_FIELDS and k not in STATUS_FIELDS},
            status_fields={k: v for k, v in text.items() if k in STATUS_FIELDS},
        )


@dataclass(frozen=True)
class UnreadableEntry:
    """An entry of an export script that cannot become a NetwatchEntry (no host, an unreadable
    interval, ...): kept so the import can say which one was left out and why."""

    line: int
    host: str
    label: str
    reason: str


def _seconds(key: str, text: str) -> float:
    """A Netwatch duration setting in seconds. Raises ValueError naming the setting."""
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(f"not a RouterOS duration: {key}={text} (like 10s, 1m30s or 00:01:30)") from None


def _as_text(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)


def read_netwatch(client: RouterClient) -> list[NetwatchEntry]:
    """Every entry of the router's /tool/netwatch.

    Raises RouterError when the router cannot be read or prints an entry that makes no sense.
    """
    rows = client.query("/tool/netwatch/print")
    entries = []
    for row in rows:
        try:
            entries.append(NetwatchEntry.from_fields(row))
        except ValueError as exc:
            raise RouterError(f"router {getattr(client, 'name', '?')}: unreadable Netwatch entry "
                              f"{row.get('.id', '')}: {exc}") from None
    return entries


# ----------------------------------------------------------------------------- cross-check

@dataclass(frozen=True)
class Comparison:
    """A site both watch. `agree` is None when one side does not know yet (or the entry is disabled)."""

    site: str
    address: str
    entry: str                         # the router entry's label
    entry_host: str                    # the host the router entry watches
    ours: str                          # up | down | unknown (netwatchd's state folded: degraded=up, unreachable=down)
    ours_detail: str                   # netwatchd's own state name
    ours_since: datetime | None
    router: str                        # up | down | unknown | disabled
    router_since: datetime | None
    matched_by: str                    # address | name
    entry_type: str = ""               # the router entry's type: simple (every v6 entry) | icmp | ...

    @property
    def agree(self) -> bool | None:
        if "unknown" in (self.ours, self.router) or self.router == "disabled":
            return None
        return self.ours == self.router


@dataclass(frozen=True)
class CrossCheck:
    router: str
    both: tuple[Comparison, ...]
    only_netwatchd: tuple[HostSpec, ...]
    only_router: tuple[NetwatchEntry, ...]

    @property
    def disagreements(self) -> list[Comparison]:
        return [c for c in self.both if c.agree is False]

    def to_dict(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat(timespec="seconds") if moment else None

        return {
            "router": self.router,
            "disagree": [self._comparison_dict(c, iso) for c in self.disagreements],
            "both": [self._comparison_dict(c, iso) for c in self.both],
            "only_netwatchd": [{"site": h.name, "address": h.address} for h in self.only_netwatchd],
            "only_router": [{"entry": e.label, "host": e.host, "type": e.type, "status": e.status,
                             "disabled": e.disabled} for e in self.only_router],
        }

    @staticmethod
    def _comparison_dict(c: Comparison, iso: Any) -> dict[str, Any]:
        return {"site": c.site, "address": c.address, "entry": c.entry, "entry_host": c.entry_host,
                "entry_type": c.entry_type, "matched_by": c.matched_by,
                "netwatchd": c.ours_detail, "netwatchd_since": iso(c.ours_since),
                "router": c.router, "router_since": iso(c.router_since), "agree": c.agree}


def _fold_state(state: Any) -> tuple[str, str]:
    """netwatchd's state -> (up|down|unknown, its own name)."""
    value = getattr(state, "value", state)
    name = str(value or "unknown").lower()
    if name in (State.UP.value, State.DEGRADED.value, State.PATH.value):   # PATH: the router reaches it
        return "up", name
    if name in (State.DOWN.value, State.UNREACHABLE.value):
        return "down", name
    return "unknown", name


def _state_of(states: Mapping[str, Any], host: HostSpec) -> tuple[Any, datetime | None]:
    """(state, since) from whatever load_states returned for the host: a HostState, a State or a dict."""
    found = states.get(host.name)
    if found is None:
        return State.UNKNOWN, None
    if isinstance(found, Mapping):
        return found.get("state", State.UNKNOWN), found.get("since")
    if isinstance(found, (State, str)):
        return found, None
    return getattr(found, "state", State.UNKNOWN), getattr(found, "since", None)


def _key(text: str) -> str:
    return text.strip().lower()


def crosscheck(entries: Sequence[NetwatchEntry], config: Config, states: Mapping[str, Any], *,
               router: str = "", router_tz: tzinfo | None = None) -> CrossCheck:
    """Compare the router's Netwatch entries with netwatchd's sites (pure).

    Entries match a site by address first, then by name or comment (case-insensitive). Router
    timestamps are read in `router_tz` (default: the config's time zone).
    """
    tz = router_tz or config.tz
    unmatched = list(entries)
    both: list[Comparison] = []
    only_ours: list[HostSpec] = []
    sites = [h for h in config.hosts if not h.disabled]

    def take(host: HostSpec, matches: Callable[[NetwatchEntry, HostSpec], bool]) -> NetwatchEntry | None:
        candidates = [e for e in unmatched if matches(e, host)]
        if not candidates:
            return None
        best = min(candidates, key=lambda e: (e.disabled, e.type not in ("simple", "icmp")))
        unmatched.remove(best)
        return best

    matches: dict[str, tuple[NetwatchEntry, str]] = {}
    for host in sites:  # addresses first for every site, so a name match never steals an address match
        entry = take(host, lambda e, h: _key(e.host) == _key(h.address))
        if entry is not None:
            matches[host.name] = (entry, "address")
    for host in sites:
        if host.name in matches:
            continue
        entry = take(host, lambda e, h: _key(h.name) in (_key(e.name), _key(e.comment)))
        if entry is not None:
            matches[host.name] = (entry, "name")
    for host in sites:
        if host.name not in matches:
            only_ours.append(host)
            continue
        entry, how = matches[host.name]
        state, since = _state_of(states, host)
        ours, ours_detail = _fold_state(state)
        router_status = ("disabled" if entry.disabled
                         else entry.status if entry.status in ("up", "down") else "unknown")
        both.append(Comparison(site=host.name, address=host.address, entry=entry.label, entry_host=entry.host,
                               ours=ours,
                               ours_detail=ours_detail, ours_since=since, router=router_status,
                               router_since=entry.since(tz), matched_by=how, entry_type=entry.type))
    return CrossCheck(router=router, both=tuple(both), only_netwatchd=tuple(only_ours), only_router=tuple(unmatched))

