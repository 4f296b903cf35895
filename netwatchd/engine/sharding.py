"""Splitting one hosts.yaml across N agents (`netwatchd run --shard K/N`).

Each host belongs to exactly one shard, chosen by a stable hash (SHA-1) of the name of its
top-most parent, so a site always stays with the router it hangs behind: dependency suppression
("unreachable because the parent is down") keeps working inside each agent. The split does not
depend on the order of the file or on the Python process (no hash randomisation), so every agent
computes the same split from the same file. Adding a host moves no other host.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from netwatchd.config.model import HostSpec
from netwatchd.errors import UsageError

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' -> (2, 3). Raises UsageError unless 1 <= K <= N."""
    match = _SHARD.fullmatch(text or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UsageError(f"--shard {text!r} is not K/N with 1 <= K <= N: e.g. --shard 1/3 on the "
                         "first of three agents, 2/3 on the second, 3/3 on the third")
    return int(match.group(1)), int(match.group(2))


def shard_root(host: HostSpec, by_name: dict[str, HostSpec]) -> str:
    """The name of the host's top-most ancestor among the hosts (a router name ends the chain)."""
    seen = {host.name.lower()}
    current = host
    while current.parent:
        parent_key = current.parent.lower()
        nxt = by_name.get(parent_key)
        if nxt is None or parent_key in seen:
            return current.parent.lower()
        seen.add(parent_key)
        current = nxt
    return current.name.lower()


def shard_of(key: str, n: int) -> int:
    """1-based shard of a name (stable across runs and machines)."""
    digest = hashlib.sha1(key.lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def shard_hosts(hosts: Sequence[HostSpec], k: int, n: int) -> list[HostSpec]:
    """The hosts agent K of N watches, in their original order. Raises UsageError for a bad K/N."""
    if not 1 <= k <= n:
        raise UsageError(f"shard {k}/{n} is not K/N with 1 <= K <= N")
    by_name = {h.name.lower(): h for h in hosts}
    return [h for h in hosts if shard_of(shard_root(h, by_name), n) == k]
