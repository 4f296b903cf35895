"""Value kinds of hosts.yaml: each reads one located YAML value (netwatchd.config.reader.Value) and
returns the Python value, or raises `Invalid(what is wrong, what is allowed)`. Also the one reader and
writer of RouterOS durations (`parse_duration`, `format_duration`: hosts.yaml, the bot, the router API,
import-netwatch) and address checks.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import zoneinfo
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

# re-exported: the loader, the bot, the router client and the docs know them as config.kinds.*_duration
from netwatchd.config.durations import format_duration as format_duration
from netwatchd.config.durations import parse_duration as parse_duration
from netwatchd.config.reader import Value


class Invalid(Exception):
    """One value is wrong: `what` is wrong, `allowed` says what would be right."""

    def __init__(self, what: str, allowed: str) -> None:
        super().__init__(what)
        self.what = what
        self.allowed = allowed


def shown(value: Value, limit: int = 40) -> str:
    """A user's scalar quoted for a message, shortened."""
    text = value.text if value.kind == "scalar" else value.describe()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


# ---------------------------------------------------------------- value kinds


class Kind:
    """How one YAML value is read. `type_name` is the docs' Type column; `allowed()` the hint."""

    type_name = "value"

    def allowed(self) -> str:
        return self.type_name

    def parse(self, value: Value) -> Any:
        raise NotImplementedError

    def show(self, default: Any) -> str:
        """The docs' Default column for a dataclass default."""
        if default is None:
            return "—"
        if isinstance(default, bool):
            return "true" if default else "false"
        if isinstance(default, (tuple, list)):
            return "[" + ", ".join(str(d) for d in default) + "]" if default else "[]"
        if isinstance(default, float) and default.is_integer():
            return str(int(default))
        return str(default) if default != "" else '""'

    def scalar(self, value: Value) -> Value:
        if value.kind != "scalar":
            raise Invalid(f"must be a single value, not {value.describe()}", self.allowed())
        return value


class Text(Kind):
    type_name = "text"

    def __init__(self, max_len: int = 200, *, empty_ok: bool = False, secret: bool = False,
                 pattern: str | None = None, pattern_help: str = "", pattern_what: str = "") -> None:
        self.max_len, self.empty_ok, self.secret = max_len, empty_ok, secret
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_help, self.pattern_what = pattern_help, pattern_what

    def allowed(self) -> str:
        return self.pattern_help or f"text of at most {self.max_len} characters"

    def parse(self, value: Value) -> str:
        self.scalar(value)
        if value.typed is None and not value.from_env and value.text in ("", "~", "null", "Null", "NULL"):
            if self.empty_ok:
                return ""
            raise Invalid("is empty", self.allowed())
        text = value.text if self.secret else value.text.strip()
        if not text and not self.empty_ok:
            raise Invalid("is empty", self.allowed())
        if len(text) > self.max_len:
            raise Invalid(f"is {len(text)} characters long", f"at most {self.max_len}")
        if self.pattern and text and not self.pattern.fullmatch(text):
            what = "is not in the expected form" if self.secret else f"{shown(value)} is not in the expected form"
            what = self.pattern_what or what
            raise Invalid(what, self.pattern_help)
        return text


class Name(Text):
    """A site, router or group name: shown in alerts and typed in bot commands."""

    type_name = "name"

    def __init__(self) -> None:
        super().__init__(64, pattern=r"[^\x00-\x1f\x7f/,]*[^\x00-\x1f\x7f/,\s]",
                         pattern_help="1-64 characters without '/', ',' or control characters")


class Choice(Kind):
    def __init__(self, *options: str, noun: str = "value") -> None:
        self.options, self.noun = options, noun
        self.type_name = " \\| ".join(options)

    def allowed(self) -> str:
        return "one of: " + ", ".join(self.options)

    def parse(self, value: Value) -> str:
        self.scalar(value)
        text = value.text.strip().lower()
        for option in self.options:
            if text == option.lower():
                return option
        hint = did_you_mean(text, self.options)
        allowed = self.allowed() + (f"; did you mean '{hint}'?" if hint else "")
        raise Invalid(f"unknown {self.noun} {shown(value)}", allowed)


class Flag(Kind):
    type_name = "true \\| false"
    _WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}

    def allowed(self) -> str:
        return "true or false"

    def parse(self, value: Value) -> bool:
        self.scalar(value)
        if isinstance(value.typed, bool):
            return value.typed
        if value.text.strip().lower() in self._WORDS:
            return self._WORDS[value.text.strip().lower()]
        raise Invalid(f"{shown(value)} is not true or false", "write true or false")


class Integer(Kind):
    type_name = "integer"

    def __init__(self, lo: int | None = None, hi: int | None = None, *, nonzero: bool = False) -> None:
        self.lo, self.hi, self.nonzero = lo, hi, nonzero

    def allowed(self) -> str:
        if self.lo is None:
            return "a whole number" + (", not 0" if self.nonzero else "")
        if self.hi is None:
            return f"a whole number of at least {self.lo}"
        return f"a whole number from {self.lo} to {self.hi}"

    def parse(self, value: Value) -> int:
        self.scalar(value)
        number: int
        if isinstance(value.typed, int) and not isinstance(value.typed, bool):
            number = value.typed
        elif re.fullmatch(r"\s*[-+]?\d{1,30}\s*", value.text) and isinstance(value.typed, str):
            number = int(value.text)
        else:
            raise Invalid(f"{shown(value)} is not a whole number", self.allowed())
        if self.nonzero and number == 0:
            raise Invalid("0 is not allowed", self.allowed())
        if (self.lo is not None and number < self.lo) or (self.hi is not None and number > self.hi):
            raise Invalid(f"{shown(value, 24)} is out of range", self.allowed())
        return number


class Number(Kind):
    """A finite real number, optionally written with a unit suffix (`%`)."""

    type_name = "number"

    def __init__(self, lo: float, hi: float, *, lo_open: bool = False, suffix: str = "",
                 off_ok: bool = False) -> None:
        self.lo, self.hi, self.lo_open, self.suffix, self.off_ok = lo, hi, lo_open, suffix, off_ok

    def _fmt(self, number: float) -> str:
        return f"{number:g}{self.suffix}"

    def allowed(self) -> str:
        low = f"above {self._fmt(self.lo)}" if self.lo_open else f"from {self._fmt(self.lo)}"
        return f"a number {low} to {self._fmt(self.hi)}" + (", or off" if self.off_ok else "")

    def is_off(self, value: Value) -> bool:
        """`off`, `none`, `false` or null where the key may be switched off."""
        return self.off_ok and value.kind == "scalar" and (
            value.typed is None or value.typed is False or value.text.strip().lower() in ("off", "none"))

    def number(self, value: Value) -> float:
        self.scalar(value)
        if isinstance(value.typed, (int, float)) and not isinstance(value.typed, bool):
            try:
                return float(value.typed)
            except OverflowError:
                raise Invalid(f"{shown(value, 24)} is out of range", self.allowed()) from None
        text = value.text.strip()
        if self.suffix and text.endswith(self.suffix):
            text = text[: -len(self.suffix)].strip()
        if re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)", text):
            return float(text)
        raise Invalid(f"{shown(value)} is not a number", self.allowed())

    def parse(self, value: Value) -> float | None:
        if self.is_off(value):
            return None
        number = self.number(value)
        if not math.isfinite(number) or number > self.hi or number < self.lo or (self.lo_open and number == self.lo):
            raise Invalid(f"{shown(value, 24)} is out of range", self.allowed())
        return number

    def show(self, default: Any) -> str:
        return ("off" if self.off_ok else "—") if default is None else f"{default:g}{self.suffix}"


class Percent(Number):
    type_name = "percentage"

    def __init__(self, lo: float = 0, hi: float = 100, *, lo_open: bool = False, off_ok: bool = False) -> None:
        super().__init__(lo, hi, lo_open=lo_open, suffix="%", off_ok=off_ok)

    def allowed(self) -> str:
        off = ", or off" if self.off_ok else ""
        if self.lo_open:
            return f"a percentage above {self.lo:g}% and up to {self.hi:g}%, like 50%{off}"
        return f"a percentage from {self.lo:g}% to {self.hi:g}%, like 50%{off}"

    def show(self, default: Any) -> str:
        return ("off" if self.off_ok else "—") if default is None else f"{default:g}%"


class Duration(Kind):
    """Seconds, written RouterOS style. `off` (or null) gives None where `off_ok`."""

    type_name = "duration"

    def __init__(self, lo: float, hi: float, *, off_ok: bool = False, scale: float = 1.0,
                 unit_help: str = "plain seconds") -> None:
        self.lo, self.hi, self.off_ok, self.scale, self.unit_help = lo, hi, off_ok, scale, unit_help

    def allowed(self) -> str:
        text = (f"a duration like 500ms, 10s, 1m, 1h30m or {self.unit_help}, "
                f"{format_duration(self.lo)} to {format_duration(self.hi)}")
        return text + (", or off" if self.off_ok else "")

    def show(self, default: Any) -> str:
        if default is None:
            return "off" if self.off_ok else "—"
        if self.scale == 86400.0:
            return f"{default:g} days"
        if self.scale == 0.001:
            return f"{default:g}ms"
        return format_duration(default * self.scale)

    def parse(self, value: Value) -> float | None:
        self.scalar(value)
        if self.off_ok and (value.typed is None or value.typed is False
                            or value.text.strip().lower() in ("off", "none", "false", "no")):
            return None
        typed = value.typed
        try:
            if isinstance(typed, (int, float)) and not isinstance(typed, bool):
                seconds = float(typed) * self.scale
            elif re.fullmatch(r"\s*\d+(\.\d+)?\s*", value.text):
                seconds = float(value.text) * self.scale
            else:
                seconds = parse_duration(value.text)
        except (ValueError, OverflowError):
            raise Invalid(f"{shown(value)} is not a duration", self.allowed()) from None
        if not math.isfinite(seconds) or seconds < self.lo or seconds > self.hi:
            raise Invalid(f"{shown(value, 24)} is out of range", self.allowed())
        if self.scale == 1.0:
            return seconds
        return float(Decimal(repr(seconds)) / Decimal(repr(self.scale)))


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_address(text: str) -> str:
    """`text` as a probe target: an IPv4/IPv6 address or an RFC 1123 host name. Raises Invalid."""
    allowed = "an IPv4 address, an IPv6 address or a host name like kec-waru.sidoarjo.local"
    if not text:
        raise Invalid("is empty", allowed)
    if "://" in text:
        raise Invalid(f"'{text}' is a URL, not an address", "put the host here and the URL under url:")
    if "/" in text:
        raise Invalid(f"'{text}' is a network, not an address", "write the host's own address, without /prefix")
    if re.fullmatch(r"[\d.]+:\d+", text) or re.fullmatch(r"\[[0-9A-Fa-f:.]+\]:\d+", text):
        raise Invalid(f"'{text}' includes a port", "put the port under port:")
    if ":" in text:
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            raise Invalid(f"'{text}' is not a valid IPv6 address", allowed) from None
        if address.is_unspecified or address.is_multicast:
            raise Invalid(f"'{text}' cannot be probed", "a unicast address")
        return text
    if re.fullmatch(r"[\d.]+", text):
        try:
            address4 = ipaddress.IPv4Address(text)
        except ValueError:
            raise Invalid(f"'{text}' is not a valid IPv4 address", "four numbers 0-255 like 172.16.200.117") from None
        if address4.is_unspecified or address4.is_multicast or address4 == ipaddress.IPv4Address("255.255.255.255"):
            raise Invalid(f"'{text}' cannot be probed", "a unicast address")
        return text
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise Invalid(f"'{text}' is not a valid host name",
                      "RFC 1123: letters, digits and '-' in dot-separated labels of 1-63 characters")
    return text


class Address(Kind):
    type_name = "address"

    def allowed(self) -> str:
        return "an IPv4 address, an IPv6 address or a host name"

    def parse(self, value: Value) -> str:
        self.scalar(value)
        if value.typed is None and not value.from_env:
            raise Invalid("is empty", self.allowed())
        return check_address(value.text.strip())


class Url(Kind):
    type_name = "URL"

    def __init__(self, *schemes: str) -> None:
        self.schemes = schemes

    def allowed(self) -> str:
        return "a URL starting with " + " or ".join(f"{s}://" for s in self.schemes)

    def parse(self, value: Value) -> str:
        self.scalar(value)
        text = value.text.strip()
        try:
            parts = urlsplit(text)
        except ValueError:
            raise Invalid(f"{shown(value)} is not a valid URL", self.allowed()) from None
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number 0-65535
        except ValueError:
            raise Invalid(f"{shown(value)} has an invalid port",
                          "a port from 1 to 65535, like https://host:8443/") from None
        if parts.scheme.lower() not in self.schemes or not parts.hostname:
            raise Invalid(f"{shown(value)} is not a {'/'.join(self.schemes)} URL", self.allowed())
        try:
            check_address(parts.hostname)
        except Invalid as exc:
            raise Invalid(f"{shown(value)}: {exc.what}", exc.allowed) from None
        return text


@lru_cache(maxsize=1)
def _time_zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


class TimeZone(Kind):
    type_name = "time zone"

    def allowed(self) -> str:
        return "an IANA time zone like Asia/Jakarta, Asia/Makassar or UTC"

    def parse(self, value: Value) -> str:
        self.scalar(value)
        text = value.text.strip()
        try:
            if not text or text.startswith(("/", ".")) or ".." in text:
                raise ValueError(text)
            zoneinfo.ZoneInfo(text)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            hint = did_you_mean(text, _time_zones())
            raise Invalid(f"unknown time zone {shown(value)}",
                          self.allowed() + (f"; did you mean '{hint}'?" if hint else "")) from None
        return text


class TimeOfDay(Kind):
    type_name = "HH:MM"

    def allowed(self) -> str:
        return "a time of day HH:MM from 00:00 to 24:00"

    def parse(self, value: Value) -> str:
        self.scalar(value)
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.text.strip())
        if not match or int(match.group(2)) > 59 or int(match.group(1)) > 24 \
                or (int(match.group(1)) == 24 and match.group(2) != "00"):
            raise Invalid(f"{shown(value)} is not a time of day", self.allowed())
        return f"{int(match.group(1)):02d}:{match.group(2)}"


class Timestamp(Kind):
    type_name = "date-time"

    def allowed(self) -> str:
        return "an ISO 8601 date-time like 2026-12-01T22:00 (local time) or 2026-12-01T15:00Z"

    def parse(self, value: Value) -> datetime:
        self.scalar(value)
        text = value.text.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            raise Invalid(f"{shown(value)} is not a date-time", self.allowed()) from None


_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
         "sen": 0, "sel": 1, "rab": 2, "kam": 3, "jum": 4, "sab": 5, "min": 6}


class Weekday(Kind):
    type_name = "weekday"

    def allowed(self) -> str:
        return "mon..sun, senin..minggu, or 0=Monday..6=Sunday"

    def parse(self, value: Value) -> int:
        self.scalar(value)
        text = value.text.strip().lower()
        if re.fullmatch(r"[0-6]", text):
            return int(text)
        if len(text) >= 3 and text[:3] in _DAYS:
            return _DAYS[text[:3]]
        raise Invalid(f"{shown(value)} is not a day of the week", self.allowed())


class ListOf(Kind):
    """A YAML list (or a single value, taken as a list of one) of `item` values, no repeats."""

    def __init__(self, item: Kind, *, max_items: int = 1000) -> None:
        self.item, self.max_items = item, max_items
        self.type_name = f"list of {item.type_name}"

    def allowed(self) -> str:
        return f"a list of {self.item.allowed()}"

    def elements(self, value: Value) -> list[Value]:
        if value.kind == "map":
            raise Invalid("must be a list, not a mapping", self.allowed())
        if value.kind == "scalar":
            return [] if value.typed is None and not value.from_env else [value]
        if len(value.elements) > self.max_items:
            raise Invalid(f"has {len(value.elements)} entries", f"at most {self.max_items}")
        return value.elements


class Templates(Kind):
    type_name = "mapping of text"

    def allowed(self) -> str:
        return "a mapping of message kind to template text"

    def show(self, default: Any) -> str:
        return "{}"

    def parse(self, value: Value) -> dict[str, str]:
        if value.kind == "scalar" and value.typed is None:
            return {}
        if value.kind != "map":
            raise Invalid(f"must be a mapping, not {value.describe()}", self.allowed())
        result = {}
        for key, entry in value.items.items():
            if entry.value.kind != "scalar" or entry.value.typed is None:
                raise Invalid(f"template '{key}' must be text", self.allowed())
            result[key] = entry.value.text
        return result


class Listen(Kind):
    type_name = "host:port"

    def allowed(self) -> str:
        return "host:port like 127.0.0.1:8080, [::1]:8080 or :8080 for every interface"

    def parse(self, value: Value) -> tuple[str, int]:
        self.scalar(value)
        text = value.text.strip()
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]*):(\d{1,5})", text)
        if not match:
            raise Invalid(f"{shown(value)} is not host:port", self.allowed())
        host, port = match.group(1).strip("[]"), int(match.group(2))
        if port > 65535:
            raise Invalid(f"port {port} is out of range", "0 to 65535 (0 = any free port)")
        host = host or "0.0.0.0"
        try:
            ipaddress.ip_address(host)
        except ValueError:
            try:
                check_address(host)
            except Invalid as exc:
                raise Invalid(f"{shown(value)}: {exc.what}", self.allowed()) from None
        return host, port


class Argv(Kind):
    """A command as a list of words (argv, run without a shell): the first word is the program."""

    type_name = "list of text (argv)"

    def __init__(self, max_items: int = 64, max_len: int = 4096) -> None:
        self.max_items, self.max_len = max_items, max_len

    def allowed(self) -> str:
        return 'a list of words, the program first: ["/usr/local/bin/open-ticket", "--site"] (no shell)'

    def parse(self, value: Value) -> tuple[str, ...]:
        if value.kind == "scalar":
            raise Invalid(f"{shown(value)} is one text, not a list of words",
                          self.allowed() + "; a shell line needs [\"/bin/sh\", \"-c\", \"...\"]")
        if value.kind != "seq" or not value.elements:
            raise Invalid("must be a non-empty list", self.allowed())
        if len(value.elements) > self.max_items:
            raise Invalid(f"has {len(value.elements)} words", f"at most {self.max_items}")
        words: list[str] = []
        for element in value.elements:
            if element.kind != "scalar" or (element.typed is None and not element.from_env):
                raise Invalid("every word must be a text", self.allowed())
            text = element.text
            if "\x00" in text or len(text) > self.max_len:
                raise Invalid(f"word {shown(element)} is not usable", f"at most {self.max_len} characters, no NUL")
            words.append(text)
        if not words[0].strip():
            raise Invalid("the program (first word) is empty", self.allowed())
        return tuple(words)


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")


class Headers(Kind):
    """HTTP headers: a mapping of name to text. A value that came from `${VAR}` is a secret: it is
    registered for redaction (never logged) as soon as it is read."""

    type_name = "mapping of text"

    def allowed(self) -> str:
        return 'a mapping of header name to value, e.g. {Authorization: "Bearer ${HOOK_TOKEN}"}'

    def show(self, default: Any) -> str:
        return "{}"

    def parse(self, value: Value) -> dict[str, str]:
        if value.kind == "scalar" and value.typed is None and not value.from_env:
            return {}
        if value.kind != "map":
            raise Invalid(f"must be a mapping, not {value.describe()}", self.allowed())
        result: dict[str, str] = {}
        for name, entry in value.items.items():
            if not _HEADER_NAME.fullmatch(name):
                raise Invalid(f"{name!r} is not an HTTP header name", "letters, digits and - (like X-Api-Key)")
            if name.lower() in ("content-length", "host", "transfer-encoding", "connection"):
                raise Invalid(f"header {name} is set by netwatchd", "leave it out")
            item = entry.value
            if item.kind != "scalar" or (item.typed is None and not item.from_env):
                raise Invalid(f"header {name} must be a text", self.allowed())
            if re.search(r"[\r\n\x00]", item.text):
                raise Invalid(f"header {name} has a line break", "one line of text")
            if item.from_env:
                from netwatchd.logs import add_secret

                add_secret(item.text)
                for secret in item.env_values:      # the token alone, too (a receiver may echo it)
                    add_secret(secret)
            result[name] = item.text
        return result


class Selectors(Kind):
    """A route's `match`: `{group: NAME}`, `{host: NAME}`, or a list of those (any of them).

    Returns a tuple of (key, name) pairs; the loader checks the names against the hosts."""

    type_name = "mapping or list"
    KEYS = ("host", "group")

    def allowed(self) -> str:
        return "{group: NAME} or {host: NAME}, or a list of them"

    def show(self, default: Any) -> str:
        return "required"

    def parse(self, value: Value) -> tuple[tuple[str, str], ...]:
        if value.kind == "map":
            entries = [value]
        elif value.kind == "seq" and value.elements:
            entries = value.elements
        else:
            raise Invalid(f"must be a mapping or a list of mappings, not {value.describe()}", self.allowed())
        found: list[tuple[str, str]] = []
        for entry in entries:
            if entry.kind != "map" or len(entry.items) != 1:
                what = (f"{entry.describe()} is not a selector" if entry.kind != "map"
                        else "a selector names exactly one of host or group")
                raise Invalid(what, self.allowed())
            (key, item), = entry.items.items()
            if key not in self.KEYS:
                hint = did_you_mean(key, self.KEYS)
                raise Invalid(f"unknown selector '{key}'", f"did you mean '{hint}'?" if hint else self.allowed())
            name = Name().parse(item.value)
            if (key, name.lower()) in {(k, n.lower()) for k, n in found}:
                raise Invalid(f"{key} '{name}' is listed twice", "list each once")
            found.append((key, name))
        return tuple(found)
