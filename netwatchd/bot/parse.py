"""Reading a Telegram command: `/Interface@core`, `/ping waru 5 router`, `/mute Krian 2h`.

Pure: text + the bot's username + the config in, a `ParsedCommand` (or a `CommandInputError`
naming the mistake) out. Nothing here talks to a router.

The `@suffix` rule. Telegram clients append `@<bot username>` to commands tapped in groups, and
the study's admins select a router the same way (`/interface@core`). A suffix is therefore read as:
  1. the bot's own username (case-insensitive)      -> ignored;
  2. else a configured router name (case-insensitive) -> that router;
  3. else a name ending in "bot" (every Telegram bot username does) -> the command is meant for
     another bot in the same group: `parse_command` returns None and the update is ignored;
  4. else -> CommandInputError "unknown router".
Both can be given (`/interface@core@netwatch_bot`). A router named exactly like the bot cannot be
selected with @ (rule 1 wins): rename the router in hosts.yaml.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from netwatchd.config import durations as config_durations
from netwatchd.config.model import Config, HostSpec

MAX_PING_COUNT = 20
MIN_MUTE_SECONDS = 60.0
MAX_MUTE_SECONDS = 30 * 86400.0

_COMMAND = re.compile(r"^/([A-Za-z][A-Za-z0-9_]{0,31})((?:@[A-Za-z0-9_.\-]+)*)$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_INTERFACE = re.compile(r"^[\w.\-/:+<>]{1,64}$")

# Commands and whether they ask a router (so @router makes sense for them).
ROUTER_COMMANDS = frozenset({"dhcp", "address", "pool", "traffic", "interface", "dns", "neighbor",
                             "resource", "crosscheck"})
LOCAL_COMMANDS = frozenset({"menu", "start", "help", "monitor", "ping", "status", "history", "mute",
                            "unmute", "report", "ack", "snooze", "diagnose"})
PROBE_COMMANDS = frozenset({"ping", "diagnose"})     # they send echoes: the ping worker pool
ALL_COMMANDS = ROUTER_COMMANDS | LOCAL_COMMANDS


class CommandInputError(Exception):
    """The admin typed something we cannot run. `key`/`params` select the localized text."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class ParsedCommand:
    """A recognized command. `args` are the raw words after it; `router` the @-selected router."""

    name: str
    args: tuple[str, ...] = ()
    router: str | None = None
    text: str = ""


@dataclass(frozen=True)
class PingRequest:
    """What /ping should do: probe `host` `count` times, from the agent or from `via_router`."""

    host: HostSpec
    count: int
    from_router: bool = False
    site: str | None = None     # the configured site name when the target was one


@dataclass(frozen=True)
class MuteRequest:
    target: str                 # a site name or group name as written in the config
    seconds: float
    reason: str = ""
    is_group: bool = False


@dataclass(frozen=True)
class Target:
    """A site or group named by the admin, resolved against the config."""

    name: str
    is_group: bool
    hosts: tuple[HostSpec, ...] = field(default=())


def parse_command(text: str, *, bot_username: str | None, router_names: tuple[str, ...]) -> ParsedCommand | None:
    """Parse one message. None when it is not a command for this bot (plain text, or
    `/cmd@otherbot`). Raises CommandInputError for an unknown command or router."""
    words = text.strip().split()
    if not words or not words[0].startswith("/"):
        return None
    match = _COMMAND.match(words[0])
    if not match:
        raise CommandInputError("unknown_command", command=words[0][:40])
    name = match.group(1).lower()
    router: str | None = None
    for suffix in filter(None, match.group(2).split("@")):
        lowered = suffix.lower()
        if bot_username and lowered == bot_username.lower():
            continue
        known = next((r for r in router_names if r.lower() == lowered), None)
        if known is not None:
            router = known
        elif lowered.endswith("bot"):
            return None
        else:
            raise CommandInputError("unknown_router", router=suffix[:40],
                                    known=", ".join(router_names) or "-")
    if name not in ALL_COMMANDS:
        raise CommandInputError("unknown_command", command="/" + name)
    if router is not None and name not in ROUTER_COMMANDS and name not in PROBE_COMMANDS:
        raise CommandInputError("no_router_here", command="/" + name)
    return ParsedCommand(name=name, args=tuple(words[1:]), router=router, text=text.strip()[:500])


def is_valid_address(value: str) -> bool:
    """A literal IPv4/IPv6 address or a syntactically valid host name."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", value):
        return False  # digits and dots that are not an address (e.g. 10.0.0.300)
    return bool(_HOSTNAME.match(value))


def parse_count(word: str) -> int:
    """'5' -> 5. Raises CommandInputError outside 1..MAX_PING_COUNT."""
    if not word.isdigit() or not 1 <= int(word) <= MAX_PING_COUNT:
        raise CommandInputError("bad_count", value=word[:20], max=MAX_PING_COUNT)
    return int(word)


def parse_duration(word: str) -> float:
    """'90m', '2h', '1d12h' -> seconds (the same grammar as hosts.yaml durations).

    Raises CommandInputError when malformed or out of bounds.
    """
    try:
        total = config_durations.parse_duration(word.strip())
    except ValueError:
        raise CommandInputError("bad_duration", value=word[:20]) from None
    if not MIN_MUTE_SECONDS <= total <= MAX_MUTE_SECONDS:
        raise CommandInputError("duration_range", value=word[:20])
    return float(total)


def resolve_target(word: str, config: Config, *, allow_group: bool) -> Target:
    """A site name (case-insensitive) or, when allowed, a group name. Raises CommandInputError."""
    host = config.host(word)
    if host is not None:
        return Target(name=host.name, is_group=False, hosts=(host,))
    if allow_group:
        members = tuple(h for h in config.hosts if h.group and h.group.lower() == word.lower())
        if members:
            return Target(name=members[0].group, is_group=True, hosts=members)
    raise CommandInputError("unknown_site", value=word[:40], example=_example_sites(config))


def parse_ping(args: tuple[str, ...], config: Config) -> PingRequest:
    """`/ping <site|address> [count] [router]` -> PingRequest. Raises CommandInputError."""
    if not args:
        raise CommandInputError("usage", usage="/ping <site|address> [1-20] [router]")
    target, rest = args[0], [a.lower() for a in args[1:]]
    from_router = "router" in rest
    rest = [a for a in rest if a != "router"]
    if len(rest) > 1:
        raise CommandInputError("usage", usage="/ping <site|address> [1-20] [router]")
    count = parse_count(rest[0]) if rest else 3
    site = config.host(target)
    if site is not None:
        host = HostSpec(name=site.name, address=site.address, probe="icmp", count=count,
                        packet_interval=0.2, timeout=1.0, group=site.group, parent=site.parent)
        return PingRequest(host=host, count=count, from_router=from_router, site=site.name)
    if not is_valid_address(target):
        raise CommandInputError("bad_target", value=target[:60], example=_example_sites(config))
    host = HostSpec(name=target, address=target, probe="icmp", count=count, packet_interval=0.2,
                    timeout=1.0)
    return PingRequest(host=host, count=count, from_router=from_router)


def parse_mute(args: tuple[str, ...], config: Config) -> MuteRequest:
    """`/mute <site|group> <duration> [reason...]`. Raises CommandInputError."""
    if len(args) < 2:
        raise CommandInputError("usage", usage="/mute <site|group> <30m|2h|1d> [reason]")
    target = resolve_target(args[0], config, allow_group=True)
    seconds = parse_duration(args[1])
    return MuteRequest(target=target.name, seconds=seconds, reason=" ".join(args[2:])[:200],
                       is_group=target.is_group)


@dataclass(frozen=True)
class SnoozeRequest:
    site: str                   # the configured site name
    seconds: float


def parse_snooze(args: tuple[str, ...], config: Config) -> SnoozeRequest:
    """`/snooze <site> <duration>` (1m to 30d). Raises CommandInputError."""
    if len(args) != 2:
        raise CommandInputError("usage", usage="/snooze <site> <30m|2h|1d>")
    site = resolve_target(args[0], config, allow_group=False).name
    return SnoozeRequest(site=site, seconds=parse_duration(args[1]))


def parse_interface(args: tuple[str, ...]) -> str | None:
    """`/traffic [interface]`: the interface name or None. Raises CommandInputError."""
    if not args:
        return None
    if len(args) > 1 or not _INTERFACE.match(args[0]):
        raise CommandInputError("bad_interface", value=" ".join(args)[:64])
    return args[0]


def _example_sites(config: Config) -> str:
    names = [h.name for h in config.hosts[:3]]
    return ", ".join(names) if names else "-"
