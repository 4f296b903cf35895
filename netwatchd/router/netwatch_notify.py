"""The settings the netwatch-notify script (eworm-de/routeros-scripts) keeps in a Netwatch comment.

netwatch-notify reads entries whose comment is a key-value store with `notify` set:
`comment="notify, name=gateway, parent=internet, no-down-notification"` — comma-separated
`key=value` items, a bare key meaning true (its ParseKeyValueStore; since 2024 a comment starting
with `{` may be JSON instead). Older versions called the name `hostname=`. Keys it knows (doc/
netwatch-notify.md): name, parent, count (checks before a DOWN notification, default 5),
no-down-notification, resolve (a DNS name the host address follows), note, link, up-hook, down-hook,
pre-down-hook, no-resolve-fail, silent, origin, disabled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

HOOK_KEYS = ("up-hook", "down-hook", "pre-down-hook")
_MAPPED = {"notify", "name", "hostname", "parent", "count", "no-down-notification", "resolve", "note", *HOOK_KEYS}
OTHER_KEYS = ("link", "silent", "origin", "disabled", "no-resolve-fail")


@dataclass(frozen=True)
class NotifySettings:
    """What netwatch-notify would do with one entry ('' = not set)."""

    name: str = ""
    parent: str = ""
    no_down_notification: bool = False
    count: str = ""
    resolve: str = ""
    note: str = ""
    hooks: dict[str, str] = field(default_factory=dict)    # up-hook / down-hook / pre-down-hook -> command
    other: dict[str, str] = field(default_factory=dict)    # its other keys: link, silent, origin, ...
    foreign: tuple[str, ...] = ()                           # items it does not know (other scripts' flags)


def _truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes")


def _store(comment: str) -> dict[str, object]:
    """The comment as netwatch-notify's ParseKeyValueStore reads it."""
    text = comment.strip()
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            return {str(key): value for key, value in loaded.items()}
    store: dict[str, object] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, has_value, value = item.partition("=")
        if not has_value:
            store[item] = True
        else:
            store[key.strip()] = True if value == "true" else False if value == "false" else value
    return store


def parse_notify(comment: str) -> NotifySettings | None:
    """netwatch-notify's settings in `comment`, or None when the comment is not one of its stores
    (no `notify` key set to true)."""
    store = _store(comment)
    if not _truthy(store.get("notify", False)):
        return None

    def text(key: str) -> str:
        value = store.get(key, "")
        return "" if value is True or value is False or value is None else str(value).strip()

    return NotifySettings(
        name=text("name") or text("hostname"), parent=text("parent"),
        no_down_notification=_truthy(store.get("no-down-notification", False)),
        count=text("count"), resolve=text("resolve"), note=text("note"),
        hooks={key: text(key) or "yes" for key in HOOK_KEYS if key in store},
        other={key: "yes" if value is True else str(value) for key, value in store.items() if key in OTHER_KEYS},
        foreign=tuple(key for key in store if key not in _MAPPED and key not in OTHER_KEYS))
