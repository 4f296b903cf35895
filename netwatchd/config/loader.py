"""Validate hosts.yaml and build the frozen dataclasses of netwatchd.config.

Every problem in the file is collected (not just the first) as a `Problem`, printed as
`FILE:LINE: key.path: what is wrong (what is allowed)`. The keys, kinds and ranges come from
netwatchd.config.schema; the rules that involve several keys (timeout < interval, tcp needs a
port, parents exist and do not loop, ...) live here. Secrets are registered with
netwatchd.logs.add_secret as soon as they are read, so no later output can show them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from netwatchd.config.kinds import Invalid, ListOf, Name, did_you_mean, format_duration, parse_duration
from netwatchd.config.model import (
    DEFAULT_TIMEZONE,
    Config,
    EscalationLevel,
    FlapPolicy,
    HealthSpec,
    HookSpec,
    HostSpec,
    MaintenanceWindow,
    RateLimitSpec,
    ReportSchedule,
    RetentionSpec,
    Route,
    RouteMatch,
    RouterSpec,
    SelfCheck,
    TelegramSpec,
    Thresholds,
    WebSpec,
    compacted,
    time_zone,
)
from netwatchd.config.reader import BAD_REFERENCE, Entry, Value, YamlProblem, parse, read_text
from netwatchd.config.schema import (
    DEFAULTS,
    ESCALATE,
    FLAPPING,
    HOOKS,
    HOST,
    HOST_SETTINGS,
    MAINTENANCE,
    REPORTS,
    RETENTION,
    ROUTE,
    ROUTER,
    SELF_CHECK,
    SITE_ONLY,
    TELEGRAM,
    TOP,
    WEB,
    Key,
    Section,
)
from netwatchd.config.templates import check_templates
from netwatchd.errors import ConfigError
from netwatchd.logs import MIN_SECRET_LENGTH, add_secret, redact

__all__ = ["Problem", "LoadResult", "InvalidConfig", "analyze", "load", "parse_duration", "format_duration"]


@dataclass(frozen=True)
class Problem:
    """One located finding. `line` 0 means the whole file (it could not be read)."""

    file: str
    line: int
    path: str
    what: str
    allowed: str = ""
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:" if self.line else f"{self.file}:"
        parts = [where] + (["warning:"] if self.warning else []) + ([f"{self.path}:"] if self.path else [])
        parts.append(f"{self.what} ({self.allowed})" if self.allowed else self.what)
        return _one_line(redact(" ".join(parts)))

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": _one_line(redact(self.what)),
                "allowed": _one_line(redact(self.allowed)), "text": str(self)}


class InvalidConfig(ConfigError):
    """hosts.yaml has problems; `details` holds them as Problem objects, `problems` as lines."""

    def __init__(self, details: list[Problem]) -> None:
        super().__init__([str(p) for p in details])
        self.details = details


@dataclass
class LoadResult:
    """What `analyze` found: the config (None when there are errors), errors and warnings, and the
    environment variables of secret keys that were not set (check mode only)."""

    config: Config | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    unset_secrets: dict[str, str] = field(default_factory=dict)   # key path -> unset variable name


_Parsed = dict[str, tuple[Any, int]]   # key -> (parsed value, line of the key)
_MISSING = object()


class _Loader:
    def __init__(self, path: Path, environ: Mapping[str, str], secrets_may_be_unset: bool) -> None:
        self.path = path
        self.file = str(path)
        self.environ = environ
        self.secrets_may_be_unset = secrets_may_be_unset
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.unset_secrets: dict[str, str] = {}
        self.zone = time_zone(DEFAULT_TIMEZONE)   # the file's timezone once read (maintenance times)

    # ------------------------------------------------------------ reporting

    def error(self, line: int, path: str, what: str, allowed: str = "") -> None:
        self.problems.append(Problem(self.file, line, path, what, allowed))

    def warn(self, line: int, path: str, what: str, allowed: str = "") -> None:
        self.warnings.append(Problem(self.file, line, path, what, allowed, warning=True))

    # ------------------------------------------------------------ generic walking

    def _env_ok(self, value: Value, key: Key, path: str) -> bool:
        """False (after reporting) when `value` uses an unset environment variable."""
        missing = [(v.line, name) for v in _scalars(value) for name in v.missing_env]
        for line, name in missing:
            if name == BAD_REFERENCE:
                continue
            if key.secret and self.secrets_may_be_unset:
                self.unset_secrets[path] = name
                self.warn(line, path, f"environment variable {name} is not set",
                          "netwatchd run will refuse to start until it is")
            else:
                self.error(line, path, f"environment variable {name} is not set",
                           f"export {name}=... in the agent's environment, or write the value here")
        return not missing

    def section(self, value: Value | None, section: Section, path: str) -> _Parsed:
        """Parse a mapping of `section`'s keys; unknown keys and bad values are reported."""
        parsed: _Parsed = {}
        if value is None or (value.kind == "scalar" and value.typed is None and not value.from_env):
            return parsed
        if value.kind != "map":
            names = [k.name for k in section.keys]
            self.error(value.line, path, f"must be a mapping of keys, not {value.describe()}",
                       "keys like " + ", ".join(names[:6]) + (", ..." if len(names) > 6 else ""))
            return parsed
        for name, entry in value.items.items():
            key_path = f"{path}.{name}" if path else name
            key = section.key(name)
            if key is None:
                self._unknown_key(name, entry, section, key_path)
                continue
            result = self.value(entry, key, key_path, section)
            if result is not _MISSING:
                parsed[name] = (result, entry.key_line)
        return parsed

    def _unknown_key(self, name: str, entry: Entry, section: Section, key_path: str) -> None:
        if section is DEFAULTS and name in ("name", "address", *(key.name for key in SITE_ONLY)):
            self.error(entry.key_line, key_path, "is set per host, not under defaults", "move it to each host")
            return
        hint = did_you_mean(name, [k.name for k in section.keys])
        if section is TOP and hint is None and HOST.key(name) is not None:
            allowed = f"host settings go under defaults: or on a host, e.g. defaults.{name}"
        elif hint:
            allowed = f"did you mean '{hint}'?"
        else:
            allowed = "known keys: " + ", ".join(k.name for k in section.keys)
        self.error(entry.key_line, key_path, "unknown key", allowed)

    def value(self, entry: Entry, key: Key, path: str, section: Section) -> Any:
        value = entry.value
        if not self._env_ok(value, key, path):
            return "" if key.secret and self.secrets_may_be_unset else _MISSING
        if value.kind == "scalar" and value.typed is None and not value.from_env and section.defaults_to_none(key):
            return None   # `parent: null` on a host undoes `defaults: {parent: core}`
        if key.secret and value.kind == "scalar":
            add_secret(value.text)    # even a malformed secret is a secret: mask it before judging it
        kind = key.kind
        if isinstance(kind, Section):
            if kind.shape == "map_or_bool" and value.kind == "scalar" and isinstance(value.typed, bool):
                return value.typed      # `health: true` / `health: false`
            return self.section(value, kind, path)
        if isinstance(kind, ListOf):
            return self.list_of(value, kind, path)
        try:
            result = kind.parse(value)
        except Invalid as exc:
            self.error(value.line, path, exc.what, exc.allowed)
            return _MISSING
        if key.secret and isinstance(result, str):
            add_secret(result)
            if 0 < len(result) < MIN_SECRET_LENGTH:
                self.warn(value.line, path, f"is only {len(result)} character(s) long",
                          f"use a longer secret: one under {MIN_SECRET_LENGTH} characters cannot be masked in logs")
        return result

    def list_of(self, value: Value, kind: ListOf, path: str) -> Any:
        try:
            elements = kind.elements(value)
        except Invalid as exc:
            self.error(value.line, path, exc.what, exc.allowed)
            return _MISSING
        result: list[Any] = []
        seen: dict[Any, int] = {}
        ok = True
        for index, element in enumerate(elements):
            try:
                item = kind.item.parse(element)
            except Invalid as exc:
                self.error(element.line, f"{path}[{index}]", exc.what, exc.allowed)
                ok = False
                continue
            marker = item.lower() if isinstance(item, str) else item
            if marker in seen:
                self.error(element.line, f"{path}[{index}]", f"'{item}' is listed twice",
                           f"already entry [{seen[marker]}]; list each once")
                ok = False
                continue
            seen[marker] = index
            result.append(item)
        return tuple(result) if ok else _MISSING

    def list_section(self, value: Value | None, section: Section, path: str
                     ) -> list[tuple[Value, str, _Parsed]]:
        """Each mapping of a list section with a readable path (`hosts[Waru]`) and its parsed keys."""
        if value is None or (value.kind == "scalar" and value.typed is None):
            return []
        if value.kind != "seq":
            self.error(value.line, path, f"must be a list, not {value.describe()}",
                       "a list of mappings, one per entry: - {name: ..., address: ...}")
            return []
        out = []
        for index, element in enumerate(value.elements):
            label = f"{path}[{index}]"
            name_entry = element.items.get("name") if element.kind == "map" else None
            if name_entry is not None:
                try:
                    label = f"{path}[{Name().parse(name_entry.value)}]"
                except Invalid:
                    pass
            if element.kind != "map":
                self.error(element.line, label, f"must be a mapping, not {element.describe()}",
                           "- {name: ..., address: ...}")
                continue
            parsed = self.section(element, section, label)
            for key in section.keys:
                if key.required and key.name not in parsed and key.name not in element.items \
                        and not (section is HOST and key.name == "address"):
                    self.error(element.line, label, f"{key.name} is missing", f"add {key.name}: ...")
            out.append((element, label, parsed))
        return out

    # ------------------------------------------------------------ the file

    def run(self) -> Config | None:
        try:
            text = read_text(self.path)
            document = parse(text, self.environ)
        except YamlProblem as problem:
            self.error(problem.line, "", problem.message)
            return None
        for line, path, what, allowed in document.problems:
            self.error(line, path, what, allowed)
        root = document.root
        if root is None:
            self.error(1, "", "the file is empty", "it needs at least a hosts: list; see the shipped hosts.yaml")
            return None
        if root.kind != "map":
            self.error(root.line, "", f"the file is {root.describe()}, not a mapping of keys",
                       "top-level keys like defaults:, telegram:, routers:, hosts:")
            return None
        items = root.items
        top = self.section(_without(root, ("defaults", "hosts", "routers", "telegram", "web", "maintenance",
                                           "self_check", "flapping", "retention", "reports", "hooks")), TOP, "")
        timezone_name = top.get("timezone", (DEFAULT_TIMEZONE, 0))[0]
        self.zone = time_zone(timezone_name)     # a valid name: TimeZone has checked it
        routers = self.routers(_get(items, "routers"))
        hosts = self.hosts(_get(items, "defaults"), _get(items, "hosts"), routers)
        if not hosts and not self.problems:
            self.warn(items["hosts"].key_line if "hosts" in items else 1, "hosts", "no hosts to watch",
                      "add a hosts: list, e.g. - {name: Waru, address: 172.16.200.117}")
        telegram = self.telegram(_get(items, "telegram"), hosts)
        web = self.web(_get(items, "web"))
        maintenance = self.maintenance(_get(items, "maintenance"), hosts)
        self_check = SelfCheck(**_fields(self.section(_val(_get(items, "self_check")), SELF_CHECK, "self_check")))
        flapping = self.flapping(_get(items, "flapping"))
        retention = self.retention(_get(items, "retention"))
        reports = self.reports(_get(items, "reports"), telegram)
        hooks = self.hooks(_get(items, "hooks"))
        if top.get("crosscheck_every", (None, 0))[0] is not None and not routers:
            self.warn(top["crosscheck_every"][1], "crosscheck_every", "there are no routers to cross-check",
                      "add the router under routers:, or remove crosscheck_every")
        if self.problems:
            return None
        data_dir = Path(os.path.expanduser(top.get("data_dir", ("./netwatchd-data", 0))[0]))
        if not data_dir.is_absolute():
            data_dir = self.path.parent / data_dir
        return Config(path=self.path, data_dir=data_dir.resolve(), timezone=timezone_name, hosts=tuple(hosts),
                      routers=tuple(routers), telegram=telegram, web=web, maintenance=tuple(maintenance),
                      self_check=self_check, flapping=flapping, retention=retention,
                      announce_startup=top.get("announce_startup", (False, 0))[0],
                      crosscheck_every=top.get("crosscheck_every", (None, 0))[0],
                      reports=tuple(reports), hooks=tuple(hooks))

    # ------------------------------------------------------------ hosts

    def hosts(self, defaults_value: Entry | None, hosts_value: Entry | None,
              routers: list[RouterSpec]) -> list[HostSpec]:
        defaults = self.section(_val(defaults_value), DEFAULTS, "defaults")
        base = {key.name: DEFAULTS.default(key) for key in HOST_SETTINGS}
        base_thresholds = _fields(defaults.get("thresholds", ({}, 0))[0])
        defaults_merged = {**base, **{k: v for k, (v, _) in defaults.items()}}
        shared: dict[Thresholds, Thresholds] = {}     # equal thresholds share one object (10,000 sites: 1 MB)

        def thresholds_of(value: Thresholds) -> Thresholds:
            return shared.setdefault(value, value)

        defaults_merged["thresholds"] = thresholds_of(Thresholds(**base_thresholds))
        defaults_written = set(defaults_value.value.items) if defaults_value else set()
        self.host_rules(defaults_merged, defaults, defaults_written, "defaults",
                        defaults_value.key_line if defaults_value else 1, at_defaults=True)

        built: list[tuple[HostSpec, int, str, int | None]] = []   # host, line, label, parent line
        self._written: dict[str, dict[str, tuple[int, bool]]] = {}   # host label -> key -> (line, on the host?)
        seen: dict[str, int] = {}
        for element, label, own in self.list_section(_val(hosts_value), HOST, "hosts"):
            merged = {**defaults_merged, **{k: v for k, (v, _) in own.items()}}
            merged["thresholds"] = thresholds_of(Thresholds(**{**base_thresholds,
                                                              **_fields(own.get("thresholds", ({}, 0))[0])}))
            url_was_wrong = "url" in element.items and "url" not in own
            if "address" not in own and "address" not in element.items and not url_was_wrong:
                url = merged.get("url")
                if url and merged["probe"] in ("http", "https"):
                    merged["address"] = urlsplit(url).hostname
                else:
                    self.error(element.line, label, "address is missing",
                               "add address: an IP address or host name, or url: for an http/https probe")
            self.host_rules(merged, own, set(element.items), label, element.line, at_defaults=False)
            name = own.get("name", (None, 0))[0]
            if name is not None:
                line = own["name"][1]
                if name.lower() in seen:
                    self.error(line, f"{label}.name", f"duplicate host name '{name}'",
                               f"already used on line {seen[name.lower()]}; names are compared without case")
                else:
                    seen[name.lower()] = line
            # where each confirmation key was written: (line, on the host itself?)
            self._written[label] = {key: (own[key][1], True) if key in own else (defaults[key][1], False)
                                    for key in ("via", "confirm", "router") if key in own or key in defaults}
            if name is not None:   # built even when wrong, so that its children do not get "unknown parent"
                merged.setdefault("address", "")
                spec = HostSpec(**{k: v for k, v in merged.items() if k in _HOST_FIELDS})
                built.append((spec, element.line, label, own["parent"][1] if "parent" in own else None))
        return self.resolve_parents(built, routers, defaults)

    def host_rules(self, merged: dict[str, Any], own: _Parsed, written: set[str], path: str, line: int, *,
                   at_defaults: bool) -> None:
        """Rules over several keys of a host (or of defaults), on the merged values.

        Reported at the first involved key set here; a rule none of whose keys is set on a host was
        already judged (and reported) at `defaults`, except per-host rules (tcp needs a port, ...),
        which a host without its own keys breaks on its own line. A rule involving a key whose
        value was wrong (and reported) is skipped.
        """

        def report(keys: tuple[str, ...], what: str, allowed: str, *, per_host: bool = False) -> None:
            if any(key in written and key not in own for key in keys):
                return
            for key in keys:
                if key in own:
                    self.error(own[key][1], f"{path}.{key}", what, allowed)
                    return
            if per_host and not at_defaults:
                self.error(line, path, what, allowed)

        probe = merged["probe"]
        interval, timeout = merged["interval"], merged["timeout"]
        if timeout >= interval:
            report(("timeout", "interval"), f"timeout {format_duration(timeout)} is not shorter than "
                   f"interval {format_duration(interval)}", "make timeout shorter than interval")
        elif probe == "icmp":
            needed = (merged["count"] - 1) * merged["packet_interval"] + timeout
            if needed >= interval:
                report(("count", "packet_interval", "timeout", "interval", "probe"),
                       f"an ICMP probe of {merged['count']} echoes {format_duration(merged['packet_interval'])} "
                       f"apart plus timeout {format_duration(timeout)} takes {format_duration(needed)}, "
                       f"not shorter than interval {format_duration(interval)}",
                       "lower count or packet_interval, or raise interval")
        if probe == "tcp" and merged.get("port") is None:
            report(("probe", "port"), "a tcp probe needs a port", "add port: 1-65535", per_host=True)
        if probe == "dns" and not merged.get("dns_name"):
            report(("probe", "dns_name"), "a dns probe needs dns_name, the name to resolve",
                   "add dns_name: e.g. sidoarjokab.go.id; address is the DNS server", per_host=True)
        url = merged.get("url")
        if url:
            scheme = urlsplit(url).scheme.lower()
            if probe not in ("http", "https"):
                report(("url", "probe"), f"url is only used by http/https probes, but probe is {probe}",
                       f"add probe: {scheme}, or remove url")
            elif scheme != probe:
                report(("url", "probe"), f"url starts with {scheme}:// but probe is {probe}",
                       f"use probe: {scheme}")
        if merged["alert_on_down"] is False and merged["reminder_every"] is not None:
            mine = [key for key in ("alert_on_down", "reminder_every") if key in own]
            if mine:   # both from defaults: warned there already
                self.warn(own[mine[0]][1], f"{path}.{mine[0]}", "reminder_every has no effect while alert_on_down "
                          "is false (a DOWN that is not announced is not reminded either)",
                          "remove reminder_every, or set alert_on_down: true")
        if merged["http_code_min"] > merged["http_code_max"]:
            report(("http_code_min", "http_code_max"), f"http_code_min {merged['http_code_min']} is above "
                   f"http_code_max {merged['http_code_max']}", "http_code_min <= http_code_max")

    def resolve_parents(self, built: list[tuple[HostSpec, int, str, int | None]], routers: list[RouterSpec],
                        defaults: _Parsed) -> list[HostSpec]:
        """Check every parent names a host or router; canonical spelling; no loops."""
        hosts = {spec.name.lower(): spec for spec, *_ in built}
        router_names = {r.name.lower(): r for r in routers}
        for name, router in router_names.items():
            host = hosts.get(name)
            if host is not None and host.address != router.address:
                line = next(at for s, at, *_ in built if s is host)
                self.error(line, f"hosts[{host.name}].name", f"'{host.name}' is also a router's name, with a "
                           f"different address, {router.address}",
                           "give the host and the router different names, or the same address")
        result: list[HostSpec] = []
        parent_of: dict[str, str] = {}
        for spec, line, label, parent_line in built:
            if spec.parent is None:
                result.append(spec)
                continue
            target = hosts.get(spec.parent.lower()) or router_names.get(spec.parent.lower())
            where = parent_line if parent_line is not None else defaults.get("parent", (None, line))[1]
            path = f"{label}.parent" if parent_line is not None else "defaults.parent"
            if target is None:
                hint = did_you_mean(spec.parent, [s.name for s, *_ in built] + [r.name for r in routers])
                self.error(where, path, f"unknown parent '{spec.parent}'",
                           f"did you mean '{hint}'?" if hint else "the name of a host or a router in this file")
                result.append(dataclasses.replace(spec, parent=None))   # still a known name for maintenance
                continue
            if target is spec:
                self.error(where, path, f"'{spec.name}' cannot be its own parent", "name another host or a router")
                result.append(dataclasses.replace(spec, parent=None))
                continue
            if spec.parent.lower() in hosts:
                parent_of[spec.name.lower()] = spec.parent.lower()
            result.append(dataclasses.replace(spec, parent=target.name))
        self._report_loops(parent_of, {s.name.lower(): (s.name, line, label, pl) for s, line, label, pl in built})
        self._warn_unwatched_router_parents(built, hosts, router_names)
        labels = {spec.name: (line, label) for spec, line, label, _ in built}
        return self.resolve_confirmation(result, routers, labels)

    def resolve_confirmation(self, hosts: list[HostSpec], routers: list[RouterSpec],
                             labels: dict[str, tuple[int, str]]) -> list[HostSpec]:
        """Check `via` and `router` name routers, and settle each host's `via` and `confirm`.

        `via` defaults to the parent when the parent is a router (listed under routers:, or a host
        whose `router:` is one); `confirm` defaults to true when there is a via router and the probe
        is icmp (the router answers a ping, not a TCP port or a web page).
        """
        router_names = {r.name.lower(): r.name for r in routers}
        own_router = {h.name.lower(): h.router for h in hosts}
        resolved: list[HostSpec] = []
        reported: set[tuple[int, str]] = set()
        for spec in hosts:
            line, label = labels.get(spec.name, (1, f"hosts[{spec.name}]"))
            written = self._written.get(label, {})
            values: dict[str, Any] = {}
            for key in ("via", "router"):
                name = getattr(spec, key)
                if name is None:
                    continue
                if name.lower() not in router_names:
                    where, on_host = written.get(key, (line, True))
                    if (where, key) not in reported:     # a wrong defaults.via is told once
                        reported.add((where, key))
                        hint = did_you_mean(name, list(router_names.values()))
                        what = "the router asked to confirm a DOWN" if key == "via" else "the site's own router"
                        self.error(where, f"{label if on_host else 'defaults'}.{key}",
                                   f"unknown router '{name}' ({what})",
                                   f"did you mean '{hint}'?" if hint else
                                   "the name of a router under routers: (add it there with its API address)")
                    values[key] = None
                else:
                    values[key] = router_names[name.lower()]
            via = values.get("via", spec.via)
            if via is None and "via" not in written and spec.parent is not None:
                parent = spec.parent.lower()
                via = router_names.get(parent) or (own_router.get(parent) if own_router.get(parent) else None)
                if via is not None:
                    via = router_names.get(via.lower(), via)
            confirm_on_host = written.get("confirm", (0, False))[1]   # a default applies where it can
            if spec.confirm and confirm_on_host and spec.probe != "icmp":
                self.error(written["confirm"][0], f"{label}.confirm", f"a {spec.probe} probe cannot be confirmed",
                           "the via router confirms with a ping, which says nothing about a port or a web page: "
                           "use confirm only on icmp hosts")
            elif spec.confirm and confirm_on_host and via is None and "via" not in values:
                self.error(written["confirm"][0], f"{label}.confirm", "there is no router to ask",
                           "set via: <a router under routers:>, or give the host a parent that is a router")
            values["via"] = via
            values["confirm"] = bool(spec.confirm and via is not None and spec.probe == "icmp")
            resolved.append(dataclasses.replace(spec, **values))
        return resolved

    def _warn_unwatched_router_parents(self, built: list[tuple[HostSpec, int, str, int | None]],
                                       hosts: dict[str, HostSpec], router_names: dict[str, RouterSpec]) -> None:
        """A parent that is only a router is never probed, so its outage cannot be told apart from its
        children's: each child would get its own DOWN. Warn once per such router, at its first child."""
        warned: set[str] = set()
        for spec, line, label, parent_line in built:
            name = (spec.parent or "").lower()
            if name in router_names and name not in hosts and name not in warned:
                warned.add(name)
                router = router_names[name]
                self.warn(parent_line or line, f"{label}.parent",
                          f"'{router.name}' is a router but not a watched host, so when it dies each of its sites "
                          "sends its own DOWN instead of one message",
                          f"add it under hosts: too, e.g. - {{name: {router.name}, address: {router.address}}}")

    def _report_loops(self, parent_of: dict[str, str], info: dict[str, tuple[str, int, str, int | None]]) -> None:
        """Report each parent loop once, at its member that comes first in the file. Linear time."""
        finished: set[str] = set()
        for start in parent_of:
            path: dict[str, int] = {}          # node -> position on the current walk
            node = start
            while node in parent_of and node not in finished and node not in path:
                path[node] = len(path)
                node = parent_of[node]
            if node in path:                   # walked into itself: a loop
                walk = list(path)
                loop = walk[path[node]:]
                first = min(loop, key=lambda n: info[n][1])
                ordered = loop[loop.index(first):] + loop[:loop.index(first)] + [first]
                name, line, label, parent_line = info[first]
                names = [info[n][0] for n in ordered]
                if len(names) > 8:
                    names = names[:4] + [f"... {len(loop) - 6} more ..."] + names[-3:]
                self.error(parent_line or line, f"{label}.parent", "parents loop: " + " -> ".join(names),
                           "parents must form a tree")
            finished.update(path)

    # ------------------------------------------------------------ other sections

    def routers(self, entry: Entry | None) -> list[RouterSpec]:
        routers: list[RouterSpec] = []
        seen: dict[str, int] = {}
        for _element, label, own in self.list_section(_val(entry), ROUTER, "routers"):
            values = _fields(own)
            name = values.get("name")
            if name is not None:
                if name.lower() in seen:
                    self.error(own["name"][1], f"{label}.name", f"duplicate router name '{name}'",
                               f"already used on line {seen[name.lower()]}")
                    continue
                seen[name.lower()] = own["name"][1]
            tls = values.get("tls", False)
            if "port" not in values:
                values["port"] = 8729 if tls else 8728
            elif tls and values["port"] == 8728:
                self.error(own["port"][1], f"{label}.port", "port 8728 is RouterOS's plain API port but tls is true",
                           "use port 8729 for api-ssl, or tls: false")
            elif not tls and values["port"] == 8729:
                self.error(own["port"][1], f"{label}.port", "port 8729 is RouterOS's api-ssl port but tls is false",
                           "use tls: true, or port 8728")
            if values.get("ca_file") is not None:
                ca_path = Path(os.path.expanduser(values["ca_file"]))
                ca_path = ca_path if ca_path.is_absolute() else self.path.parent / ca_path
                if not ca_path.is_file():
                    self.error(own["ca_file"][1], f"{label}.ca_file", f"no such file: {ca_path}",
                               "the path of a PEM certificate file, relative to this config's folder")
                    continue
                values["ca_file"] = str(ca_path.resolve())
            if not tls and (values.get("ca_file") is not None or "tls_verify" in values):
                key = "ca_file" if values.get("ca_file") is not None else "tls_verify"
                self.warn(own[key][1], f"{label}.{key}", "is only used with tls: true", "add tls: true or remove it")
            if "encoding" in values:
                import codecs
                try:
                    codecs.lookup(values["encoding"])
                except LookupError:
                    self.error(own["encoding"][1], f"{label}.encoding", f"unknown encoding '{values['encoding']}'",
                               "utf-8, latin-1, cp1252, ...")
                    continue
            if "health" in values:
                health = values.pop("health")
                if health is True:
                    values["health"] = HealthSpec()
                elif isinstance(health, dict):
                    values["health"] = HealthSpec(**_fields(health))
            if {"name", "address"} <= values.keys():
                routers.append(RouterSpec(**values))
        return routers

    def telegram(self, entry: Entry | None, hosts: list[HostSpec]) -> TelegramSpec:
        value = _val(entry)
        lists = ("escalate", "routes")
        plain = _without(value, lists) if value is not None and value.kind == "map" else value
        own = self.section(plain, TELEGRAM, "telegram")
        values = _fields(own)
        if value is not None and value.kind == "map":
            if "escalate" in value.items:
                values["escalate"] = self.escalate(value.items["escalate"])
            if "routes" in value.items:
                values["routes"] = self.routes(value.items["routes"], hosts)
        chat_ids_written = value is not None and value.kind == "map" and "chat_ids" in value.items
        if "api_url" in values:
            values["api_url"] = values["api_url"].rstrip("/")
        if "templates" in own and value is not None:
            self._check_templates(value.items["templates"].value)
        if "rate_limit" in values:
            values["rate_limit"] = RateLimitSpec(**_fields(values["rate_limit"]))
        spec = TelegramSpec(**values)
        if "token" in own and not spec.token and "telegram.token" not in self.unset_secrets:
            self.warn(own["token"][1], "telegram.token", "is empty, so alerts go to the console",
                      "set the bot token from @BotFather to send them to Telegram")
        if spec.token and not spec.chat_ids and ("chat_ids" in own or not chat_ids_written):
            line = own["chat_ids"][1] if "chat_ids" in own else own["token"][1]
            self.error(line, "telegram.chat_ids", "a token is set but no chat receives the alerts",
                       "add chat_ids: [the admins' group chat id]")
        elif spec.token and not spec.admins:
            self.warn(own["token"][1], "telegram.admins", "nobody may command the bot",
                      "add the admins' Telegram user ids under admins:")
        both = [user for user in spec.viewers if user in spec.admins]
        if both and "viewers" in own:
            self.warn(own["viewers"][1], "telegram.viewers", f"{', '.join(map(str, both))} "
                      f"{'is' if len(both) == 1 else 'are'} also in admins, who may read anyway",
                      "list each person once: admins act and read, viewers only read")
        if not spec.token and (spec.escalate or spec.routes) and value is not None:
            key = "escalate" if spec.escalate else "routes"
            self.warn(value.items[key].key_line, f"telegram.{key}", "has no effect without a bot token "
                      "(alerts go to the console)", "set telegram.token")
        return spec

    def escalate(self, entry: Entry) -> tuple[EscalationLevel, ...]:
        """telegram.escalate: levels in the order they are sent, each later than the one before."""
        levels: list[EscalationLevel] = []
        previous: tuple[float, int] | None = None
        for _element, label, own in self.list_section(entry.value, ESCALATE, "telegram.escalate"):
            values = _fields(own)
            if not {"after", "chat_ids"} <= values.keys():
                continue
            if not values["chat_ids"]:
                self.error(own["chat_ids"][1], f"{label}.chat_ids", "names no chat",
                           "at least one chat id, e.g. [-1002222]")
                continue
            after = values["after"]
            if previous is not None and after <= previous[0]:
                self.error(own["after"][1], f"{label}.after", f"{format_duration(after)} is not later than "
                           f"the level before ({format_duration(previous[0])}, line {previous[1]})",
                           "list the levels in the order they are sent, each after the one before")
                continue
            previous = (after, own["after"][1])
            levels.append(EscalationLevel(after=after, chat_ids=values["chat_ids"]))
        return tuple(levels)

    def routes(self, entry: Entry, hosts: list[HostSpec]) -> tuple[Route, ...]:
        """telegram.routes: every selector names a site or a group of this file."""
        names = {h.name.lower(): h.name for h in hosts}
        groups = {h.group.lower(): h.group for h in hosts if h.group}
        found: list[Route] = []
        for _element, label, own in self.list_section(entry.value, ROUTE, "telegram.routes"):
            values = _fields(own)
            if not {"match", "chat_ids"} <= values.keys():
                continue
            before = len(self.problems)
            selectors: list[RouteMatch] = []
            for index, (key, name) in enumerate(values["match"]):
                known = names if key == "host" else groups
                canonical = known.get(name.lower())
                if canonical is None:
                    hint = did_you_mean(name, list(known.values()))
                    noun = "site" if key == "host" else "group"
                    self.error(own["match"][1], f"{label}.match[{index}].{key}", f"unknown {noun} '{name}'",
                               f"did you mean '{hint}'?" if hint else f"the name of a {noun} in hosts:")
                    continue
                selectors.append(RouteMatch(host=canonical) if key == "host" else RouteMatch(group=canonical))
            if not values["chat_ids"]:
                self.error(own["chat_ids"][1], f"{label}.chat_ids", "names no chat",
                           "at least one chat id, e.g. [-1004444]")
            thread = values.get("thread_id")
            if thread is not None:
                plain_groups = [c for c in values["chat_ids"] if not str(c).startswith("-100")]
                if plain_groups:
                    self.warn(own["thread_id"][1], f"{label}.thread_id", f"chat {plain_groups[0]} is not a "
                              "supergroup, and only forum supergroups have topics",
                              "forum chat ids start with -100; or remove thread_id")
            if len(self.problems) == before:
                found.append(Route(match=tuple(selectors), chat_ids=values["chat_ids"], thread_id=thread))
        return tuple(found)

    def _check_templates(self, templates: Value) -> None:
        for key, entry in templates.items.items():
            for message in check_templates({key: entry.value.text}):
                path, _, what = message.partition(": ")
                allowed = "" if what.endswith(")") else "fix it, or remove the key to use the built-in text"
                self.error(entry.key_line, path, what, allowed)

    def web(self, entry: Entry | None) -> WebSpec:
        value = _val(entry)
        if value is not None and value.kind == "scalar" and isinstance(value.typed, bool):
            return WebSpec(enabled=value.typed)
        own = self.section(value, WEB, "web")
        values = _fields(own)
        host, port = values.pop("listen", (WebSpec.host, WebSpec.port))
        spec = WebSpec(host=host, port=port, **values)
        if (spec.username is None) != (spec.password is None):
            missing = "password" if spec.password is None else "username"
            line = own["username" if missing == "password" else "password"][1]
            present = "username" if missing == "password" else "password"
            self.error(line, "web", f"{present} is set but {missing} is missing",
                       "set both username and password, or neither")
        elif spec.enabled and spec.password is None and host not in ("127.0.0.1", "::1", "localhost"):
            line = own["listen"][1] if "listen" in own else (entry.key_line if entry else 1)
            self.warn(line, "web.listen", f"the status page on {host} is open to the network without a password",
                      "add web.username and web.password, or listen on 127.0.0.1")
        return spec

    def maintenance(self, entry: Entry | None, hosts: list[HostSpec]) -> list[MaintenanceWindow]:
        names = {h.name.lower(): h.name for h in hosts}
        groups = {h.group.lower(): h.group for h in hosts if h.group}
        windows = []
        for element, label, own in self.list_section(_val(entry), MAINTENANCE, "maintenance"):
            before = len(self.problems)
            values = _fields(own)
            targets = []
            for index, target in enumerate(values.get("targets", ())):
                canonical = names.get(target.lower()) or groups.get(target.lower())
                if canonical is None:
                    hint = did_you_mean(target, list(names.values()) + list(groups.values()))
                    self.error(own["targets"][1], f"{label}.targets[{index}]", f"unknown host or group '{target}'",
                               f"did you mean '{hint}'?" if hint else "a host name or a group name from this file")
                targets.append(canonical or target)
            values["targets"] = tuple(targets)
            written = {key for key in element.items if not (key in values and values[key] is None)}
            self._window_times(values, own, written, label, element.line)
            if len(self.problems) == before:
                windows.append(MaintenanceWindow(**{k: v for k, v in values.items() if k != "duration"}))
        return windows

    def _window_times(self, values: dict[str, Any], own: _Parsed, written: set[str], label: str,
                      line: int) -> None:
        one_off = {"start", "end", "duration"} & written
        weekly = {"days", "daily_start", "daily_end"} & written
        if (written & _WINDOW_KEYS - {"days"}) - values.keys():
            return  # a time key is wrong and reported already; the combination cannot be judged
        if one_off and weekly:
            self.error(line, label, "mixes start/end with days/daily_start/daily_end",
                       "a one-off window and a weekly one are two entries")
            return
        if weekly:
            if not {"daily_start", "daily_end"} <= written:
                self.error(line, label, "a weekly window needs daily_start and daily_end", "e.g. 22:00 and 23:30")
            elif values["daily_start"] >= values["daily_end"]:
                self.error(own["daily_end"][1], f"{label}.daily_end",
                           f"{values['daily_end']} is not after daily_start {values['daily_start']}",
                           "for a window across midnight write two: …-24:00 and 00:00-…")
            if "days" in values:
                values["days"] = tuple(sorted(values["days"]))
            return
        if "start" not in written or not ({"end", "duration"} & written):
            self.error(line, label, "a window needs start and end, start and duration, or daily_start and "
                       "daily_end", "e.g. start: 2026-12-01T22:00, duration: 2h")
            return
        if "end" in values and "duration" in values:
            self.error(own["duration"][1], f"{label}.duration", "both end and duration are set", "keep one")
            return
        start = self._utc(values["start"])
        end = start + timedelta(seconds=values["duration"]) if "duration" in values else self._utc(values["end"])
        if end <= start:
            self.error(own["end"][1], f"{label}.end", "end is not after start", "end must be later than start")
        values["start"], values["end"] = start.isoformat(), end.isoformat()

    def _utc(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.astimezone(timezone.utc)

    def flapping(self, entry: Entry | None) -> FlapPolicy:
        value = _val(entry)
        if value is not None and value.kind == "scalar" and isinstance(value.typed, bool):
            return FlapPolicy(enabled=value.typed)
        own = self.section(value, FLAPPING, "flapping")
        spec = FlapPolicy(**_fields(own))
        if spec.low_percent >= spec.high_percent:
            key = "low_percent" if "low_percent" in own else "high_percent"
            line = own[key][1] if key in own else (entry.key_line if entry else 1)
            self.error(line, f"flapping.{key}", f"low_percent {spec.low_percent:g}% is not below high_percent "
                       f"{spec.high_percent:g}%", "low_percent < high_percent, e.g. 25% and 50%")
        if spec.early_outages == 1:
            self.error(own["early_outages"][1], "flapping.early_outages", "1 would call every outage flapping",
                       "2 or more, like the default 2: a second outage soon after the first; 0 turns the "
                       "early rule off")
        return spec

    def reports(self, entry: Entry | None, telegram: TelegramSpec) -> list[ReportSchedule]:
        found: list[ReportSchedule] = []
        for element, label, own in self.list_section(_val(entry), REPORTS, "reports"):
            values = _fields(own)
            if "every" not in values:
                continue            # reported: missing or wrong
            if values.get("at") == "24:00":
                self.error(own["at"][1], f"{label}.at", "24:00 is not a time to send at", "00:00 to 23:59")
                continue
            if not values.get("chat_ids"):
                if not telegram.chat_ids:
                    self.error(element.line, f"{label}.chat_ids", "no chat would receive this report",
                               "add chat_ids: [...] here or under telegram:")
                    continue
                values["chat_ids"] = telegram.chat_ids
            values["language"] = values.get("language") or telegram.language
            spec = ReportSchedule(**values)
            if spec.format == "pdf" and importlib.util.find_spec("weasyprint") is None:
                self.warn(own["format"][1] if "format" in own else element.line, f"{label}.format",
                          "pdf needs WeasyPrint, which is not installed here",
                          "pip install 'netwatchd[pdf]' (and Debian's libpango-1.0-0 libpangoft2-1.0-0), "
                          "or format: html")
            if not telegram.token and "telegram.token" not in self.unset_secrets:
                self.warn(element.line, label, "there is no telegram.token: the report waits in the store "
                          "until one is set", "set telegram.token")
            found.append(spec)
        return found

    def hooks(self, entry: Entry | None) -> list[HookSpec]:
        found: list[HookSpec] = []
        names: dict[str, int] = {}
        for index, (element, label, own) in enumerate(self.list_section(_val(entry), HOOKS, "hooks")):
            values = _fields(own)
            if ("command" in element.items) == ("url" in element.items):
                what = ("has both command and url" if "command" in element.items
                        else "needs a command or a url")
                self.error(element.line, label, what, 'one of them: command: ["/usr/local/bin/open-ticket"] '
                           "or url: https://gateway.example/hook")
                continue
            if "headers" in element.items and "command" in element.items:
                self.error(own["headers"][1] if "headers" in own else element.line, f"{label}.headers",
                           "headers are for a webhook (url:)", "remove them, or use url:")
                continue
            if not isinstance(values.get("headers", {}), dict):
                values["headers"] = {}      # its ${VAR} is not set (a warning for check, an error for run)
            values["name"] = values.get("name") or f"hook{index + 1}"
            key = values["name"].lower()
            if key in names:
                self.error(own["name"][1] if "name" in own else element.line, f"{label}.name",
                           f"hook name '{values['name']}' is used twice", f"already hook [{names[key]}]; "
                           "give each hook its own name")
                continue
            names[key] = index
            if "on" in values and not values["on"]:
                self.error(own["on"][1], f"{label}.on", "is empty, so the hook never runs",
                           "list events, e.g. [down, up]")
                continue
            command = values.get("command")
            if command:
                program = command[0]
                path = shutil.which(program) if "/" not in program else (program if os.access(program, os.X_OK)
                                                                        else None)
                if path is None:
                    self.warn(own["command"][1], f"{label}.command", f"{program} is not an executable file here",
                              "write its full path; it is looked up when the hook runs")
            found.append(HookSpec(**values))
        return found

    def retention(self, entry: Entry | None) -> RetentionSpec:
        own = self.section(_val(entry), RETENTION, "retention")
        spec = RetentionSpec(**_fields(own))
        order = ("raw_days", "rollup_5m_days", "rollup_days")
        for shorter, longer in pairwise(order):
            if getattr(spec, shorter) > getattr(spec, longer):
                key = longer if longer in own else shorter
                line = own[key][1] if key in own else (entry.key_line if entry else 1)
                self.error(line, f"retention.{key}", f"{shorter} ({getattr(spec, shorter):g} days) is longer than "
                           f"{longer} ({getattr(spec, longer):g} days)", "raw_days <= rollup_5m_days <= rollup_days")
        return spec


_HOST_FIELDS = {f.name for f in dataclasses.fields(HostSpec)}
_WINDOW_KEYS = {"start", "end", "duration", "days", "daily_start", "daily_end"}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    """Control characters a user's value may carry (a newline in a quoted scalar) as escapes."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _scalars(value: Value) -> Iterable[Value]:
    if value.kind == "scalar":
        yield value
    for element in value.elements:
        yield from _scalars(element)
    for entry in value.items.values():
        yield from _scalars(entry.value)


def _get(items: dict[str, Entry], key: str) -> Entry | None:
    return items.get(key)


def _val(entry: Entry | None) -> Value | None:
    return entry.value if entry is not None else None


def _without(root: Value, keys: tuple[str, ...]) -> Value:
    return Value("map", root.line, items={k: e for k, e in root.items.items() if k not in keys})


def _fields(parsed: _Parsed) -> dict[str, Any]:
    """Parsed keys -> dataclass keyword arguments (YAML keys are the dataclass field names)."""
    return {name: value for name, (value, _line) in parsed.items()}


def analyze(path: str | Path, environ: Mapping[str, str] | None = None, *,
            secrets_may_be_unset: bool = False) -> LoadResult:
    """Validate a config file and report everything found; never raises for bad input.

    With secrets_may_be_unset (what `netwatchd check` uses), an unset `${VAR}` in a secret key
    (telegram.token, routers[].password, web.password) is a warning and the secret is left empty.
    """
    loader = _Loader(Path(path), os.environ if environ is None else environ, secrets_may_be_unset)
    config = loader.run()
    problems = sorted(loader.problems, key=lambda p: p.line)
    return LoadResult(config if not problems else None, problems, sorted(loader.warnings, key=lambda p: p.line),
                      loader.unset_secrets)


def load(path: Path, environ: Mapping[str, str] | None = None, *, secrets_may_be_unset: bool = False,
         secrets_needed: Sequence[str] = ()) -> Config:
    """Parse and validate hosts.yaml into a Config.

    Every `${VAR}` must be set, unless secrets_may_be_unset: then an unset variable in a secret key
    leaves that secret empty (for commands that need no secret: status, report, probe --from-file).
    secrets_needed lists key-path prefixes ("telegram.token", "routers[") of the only secrets a command
    uses: an unset variable there is still an error, any other secret may be unset (test-notify needs
    no router password, crosscheck no bot token).
    Raises InvalidConfig (a ConfigError, exit 2) listing every problem.
    """
    result = analyze(path, environ, secrets_may_be_unset=secrets_may_be_unset or bool(secrets_needed))
    needed = {key: name for key, name in result.unset_secrets.items() if key.startswith(tuple(secrets_needed))}
    problems = list(result.problems) + [
        Problem(w.file, w.line, w.path, f"environment variable {needed[w.path]} is not set",
                f"export {needed[w.path]}=... in the agent's environment, or write the value here")
        for w in result.warnings
        if w.path in needed and w.what == f"environment variable {needed[w.path]} is not set"]
    if problems or result.config is None:
        raise InvalidConfig(sorted(problems, key=lambda p: p.line))
    return result.config


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Parse and validate hosts.yaml with every secret required (what `run` needs).

    Raises InvalidConfig (a ConfigError) listing every problem found (never a traceback for bad input).
    The specs are made again once the reader's tree is gone (see model.compacted): a long-running
    agent keeps them, and equal strings of different sites (a group's name) are one object.
    """
    config = load(Path(path), environ)
    return dataclasses.replace(config, hosts=compacted(config.hosts))
