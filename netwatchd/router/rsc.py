"""Reading `/tool netwatch export` scripts, and the Netwatch lines guides and forums paste.

Understood: `#` comments (a whole line, or from a `#` that starts a word to the end of the line);
the three ways of naming the menu, in any mix — a menu line (`/tool netwatch`, `/ tool netwatch`,
`/tool/netwatch`) followed by commands, a menu and a command on one line (`/tool netwatch add ...`),
and the path form (`/tool/netwatch/add ...`); a console prompt pasted in front of a command
(`[admin@MikroTik] /tool netwatch> add ...`, with the console's `\\...` continuation marks);
`add key=value ...`, `set <selector> key=value ...`, `remove`, `enable` and `disable <selector>`
where the selector is an item number, a `*ID`, `numbers=` or `[ find key=value | key~"regex" |
flag | !flag ... ]`; values quoted with `"..."` and the escapes `\\" \\\\ \\n \\r \\t \\$ \\? \\_ \\a
\\b \\f \\v` and `\\XX` (a byte in hex); `( "text" . "text" )` expressions; `{ ... }` script
bodies; `[ :resolve "name" ]` (becomes the name); `;` between commands; and long lines continued
with a trailing backslash (the next line's indentation is dropped, even inside a quoted string).
Lines for other menus and script commands (`:foreach`, `:local`, ...) are skipped.

An entry that cannot be read (no host, an interval that is not a duration) becomes an
`UnreadableEntry` saying why; only text that cannot be read at all (a quote or bracket never closed,
an unknown escape) raises RscSyntaxError. Values the export leaves out are filled with the
defaults of the RouterOS version that wrote it (`ExportVersion`, see `detect_version`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from netwatchd.config.durations import parse_duration
from netwatchd.errors import UsageError
from netwatchd.router.netwatch import NetwatchEntry, UnreadableEntry

NETWATCH_MENU = ("tool", "netwatch")
VERBS = {"add", "set", "remove", "print", "export", "enable", "disable", "edit", "find", "comment", "unset",
         "get", "reset", "monitor"}
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$", "?": "?", "_": " ",
                   "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_HEX = "0123456789abcdefABCDEF"
# blanks between words: web pages turn spaces into no-break spaces, and editors add zero-width ones
_BLANKS = " \t\u00a0\u2007\u202f\u200b\ufeff"
_CURLY = {"\u201c": "\u201d", "\u201e": "\u201d"}     # “...” and „...” from blogs and word processors
_BOOLEAN = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}
_PROMPT = re.compile(r"[^\s@\[\]]+@[^\[\]]+")                   # [admin@MikroTik]
_HEADER_VERSION = re.compile(r"^#.*\bby RouterOS (\d+)\.(\S+)", re.M)
# keys RouterOS 6 does not know: any of them means the script was written for (or by) RouterOS 7
V7_ONLY_KEYS = ("type", "name", "src-address", "start-delay", "startup-delay", "test-script", "packet-count",
                "packet-interval", "packet-size", "thr-avg", "thr-max", "thr-jitter", "thr-stdev",
                "thr-loss-count", "thr-loss-percent", "thr-tcp-conn-time", "thr-http-time", "http-codes",
                "http-code-min", "http-code-max", "port", "dns-server", "record-type", "ttl",
                "accept-icmp-time-exceeded")


@dataclass(frozen=True)
class ExportVersion:
    """Which RouterOS wrote (or is meant to run) a script, why we think so, and its Netwatch
    defaults for the values an export leaves out (exports omit default values)."""

    major: int                  # 6 or 7
    reason: str                 # e.g. "the export header says RouterOS 6.49.10"
    interval: float             # seconds
    timeout: float

    @classmethod
    def of(cls, major: int, reason: str) -> ExportVersion:
        # v6 (wiki Manual:Tools/Netwatch): interval 1m, timeout 1s; v7 (help.mikrotik.com Netwatch): 10s, 3s
        return cls(6, reason, 60.0, 1.0) if major < 7 else cls(major, reason, 10.0, 3.0)


@dataclass
class Export:
    """What a script defines: the entries in order (readable or not), the version whose defaults
    filled the gaps, and notes about commands that were ignored."""

    entries: list[NetwatchEntry | UnreadableEntry]
    version: ExportVersion
    notes: list[str] = field(default_factory=list)
    commands: int = 0           # Netwatch commands seen (add/set/remove/...)


@dataclass
class _Token:
    text: str
    quoted: bool = False        # part of it was a quoted string, () expression or {} body
    bracket: bool = False       # a [ ... ] expression on its own (text is its inside)
    expr: str | None = None     # key=[ ... ]: the inside of the bracket given as the value

    @property
    def bare(self) -> bool:
        return not (self.quoted or self.bracket or self.expr is not None)


class RscSyntaxError(UsageError):
    """The script cannot be read; the message starts with `line N:`."""


@dataclass
class _Row:
    line: int
    fields: dict[str, str]
    problem: str = ""


class _Lexer:
    """Characters -> logical lines of tokens, honouring quotes, escapes, brackets and continuations."""

    def __init__(self, text: str) -> None:
        self.text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        self.pos = 0
        self.line = 1

    def _continuation(self) -> bool:
        """At a backslash that ends the physical line: skip it, the newline and the next line's
        indent (and the `\\...` a console echo puts there)."""
        if self.text.startswith("\\\n", self.pos):
            self.pos += 2
            self.line += 1
            while self.pos < len(self.text) and self.text[self.pos] in _BLANKS:
                self.pos += 1
            if self.text.startswith("\\...", self.pos):
                self.pos += 4
                while self.pos < len(self.text) and self.text[self.pos] in _BLANKS:
                    self.pos += 1
            return True
        return False

    def lines(self) -> list[tuple[int, list[_Token]]]:
        result: list[tuple[int, list[_Token]]] = []
        tokens: list[_Token] = []
        start_line = self.line
        while self.pos < len(self.text):
            if self._continuation():
                continue
            char = self.text[self.pos]
            if char in "\n;":
                if tokens:
                    result.append((start_line, tokens))
                tokens = []
                self.pos += 1
                if char == "\n":
                    self.line += 1
                start_line = self.line
            elif char in _BLANKS:
                self.pos += 1
            elif char == "#":      # a comment: a whole line, or from a word that starts with '#'
                while self.pos < len(self.text) and self.text[self.pos] != "\n":
                    self.pos += 1
            elif char == "[":
                tokens.append(_Token(self._bracket(), bracket=True))
            else:
                tokens.append(self._word())
        if tokens:
            result.append((start_line, tokens))
        return result

    def _balanced(self, opening: str, closing: str) -> str:
        """The text inside a bracket pair starting at pos (quotes and nesting respected)."""
        start_line, depth, parts = self.line, 0, []
        in_string = False
        while self.pos < len(self.text):
            if self._continuation():
                continue
            char = self.text[self.pos]
            self.pos += 1
            if in_string:
                if char == "\\" and self.pos < len(self.text):
                    parts.append(char + self.text[self.pos])
                    self.pos += 1
                    continue
                in_string = char != '"'
            elif char == '"':
                in_string = True
            elif char == opening:
                depth += 1
                if depth == 1:
                    continue
            elif char == closing:
                depth -= 1
                if depth == 0:
                    return "".join(parts).strip()
            if char == "\n":
                self.line += 1
            parts.append(char)
        raise RscSyntaxError(f"line {start_line}: '{opening}' is never closed with '{closing}'")

    def _bracket(self) -> str:
        return self._balanced("[", "]")

    def _word(self) -> _Token:
        pieces: list[str | bytes] = []
        token = _Token("")
        while self.pos < len(self.text):
            if self._continuation():
                continue
            char = self.text[self.pos]
            if char in _BLANKS or char in "\n;":
                break
            at_value = bool(pieces) and pieces[-1] == "="
            if char == '"':
                token.quoted = True
                self.pos += 1
                self._string(pieces)
                continue
            if char in _CURLY:
                token.quoted = True
                end = self.text.find(_CURLY[char], self.pos + 1)
                if end < 0 or "\n" in self.text[self.pos:end]:
                    raise RscSyntaxError(f"line {self.line}: a quoted string opened with {char} is never closed")
                pieces.append(self.text[self.pos + 1:end])
                self.pos = end + 1
                continue
            if char == "[" and at_value:
                token.expr = self._bracket()
                continue
            if char == "(" and at_value:
                value = self._parenthesis()
                if value is None:
                    token.expr = "(...)"
                else:
                    token.quoted = True
                    pieces.append(value)
                continue
            if char == "{" and at_value:
                token.quoted = True
                pieces.append(self._balanced("{", "}"))
                continue
            pieces.append(char)
            self.pos += 1
        token.text = _join(pieces)
        return token

    def _parenthesis(self) -> str | None:
        """`( "a" . "b" )` -> "ab"; None for any other expression (a variable, a command, ...)."""
        start, start_line = self.pos, self.line
        inner = self._balanced("(", ")")
        words = _Lexer(inner)
        parts: list[str] = []
        while words.pos < len(words.text):
            char = words.text[words.pos]
            if char in _BLANKS or char in "\n.":
                words.pos += 1
            elif char == '"':
                words.pos += 1
                pieces: list[str | bytes] = []
                try:
                    words._string(pieces)
                except RscSyntaxError:
                    raise RscSyntaxError(f"line {start_line}: unreadable text in "
                                         f"{self.text[start:self.pos][:40]!r}") from None
                parts.append(_join(pieces))
            else:
                return None
        return "".join(parts)

    def _string(self, pieces: list[str | bytes]) -> None:
        start_line = self.line
        while self.pos < len(self.text):
            if self._continuation():
                continue
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return
            if char == "\n":
                break
            if char != "\\":
                pieces.append(char)
                continue
            escape = self.text[self.pos:self.pos + 2]
            if len(escape) == 2 and escape[0] in _HEX and escape[1] in _HEX:
                pieces.append(bytes([int(escape, 16)]))
                self.pos += 2
            elif escape[:1] in _SIMPLE_ESCAPES:
                pieces.append(_SIMPLE_ESCAPES[escape[0]])
                self.pos += 1
            else:
                raise RscSyntaxError(f"line {self.line}: unknown escape '\\{escape[:1]}' in a quoted string")
        raise RscSyntaxError(f"line {start_line}: a quoted string is never closed (missing '\"')")


def quote(value: str) -> list[str]:
    """`value` as a RouterOS quoted string, split into the units an export may wrap between
    (an escape is never split). ''.join(quote(v)) is the literal; the inverse of the lexer."""
    units = ['"']
    named = {"\\": "\\\\", '"': '\\"', "$": "\\$", "?": "\\?", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    for char in value:
        if char in named:
            units.append(named[char])
        elif " " <= char <= "~":
            units.append(char)
        else:  # control characters and everything non-ASCII as \XX bytes of UTF-8, like RouterOS
            units.extend(f"\\{byte:02X}" for byte in char.encode("utf-8"))
    units.append('"')
    return units


def _join(pieces: list[str | bytes]) -> str:
    """Characters and escaped bytes -> text; byte runs are UTF-8 (Windows-1252 when not valid UTF-8)."""
    out: list[str] = []
    run = bytearray()
    for piece in pieces + [""]:
        if isinstance(piece, bytes):
            run += piece
            continue
        if run:
            try:
                out.append(run.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(run.decode("cp1252", errors="replace"))
            run = bytearray()
        out.append(piece)
    return "".join(out)


def resolved_name(expression: str) -> str | None:
    """The name in `:resolve "name"` / `:resolve domain-name=name` (server=, type= ignored); None
    for any other expression."""
    lines = _Lexer(expression).lines()
    if len(lines) != 1:
        return None
    words = lines[0][1]
    if not words or words[0].text not in (":resolve", "resolve", "/resolve"):
        return None
    for word in words[1:]:
        key, has_value, value = word.text.partition("=")
        if word.bracket or word.expr is not None:
            return None
        if not has_value or word.text.startswith("="):
            return word.text.lstrip("=") or None
        if key == "domain-name":
            return value or None
    return None


def _value(token: _Token) -> tuple[str, str]:
    """key=value of one argument; a [ :resolve "x" ] value becomes x, other [ ] values stay as text."""
    key, has_value, value = token.text.partition("=")
    if token.expr is not None:
        name = resolved_name(token.expr)
        value = name if name is not None else f"[ {token.expr} ]"
    elif not has_value:
        value = "yes"
    return key, value


def _pairs(tokens: list[_Token]) -> tuple[dict[str, str], str]:
    """The arguments as fields, and what was wrong with them ('' when nothing)."""
    fields: dict[str, str] = {}
    for token in tokens:
        if token.bracket:
            return fields, f"unexpected [ {token.text} ] among the arguments"
        key, value = _value(token)
        if not key:
            return fields, f"an argument without a name: {token.text!r}"
        fields[key] = value
    return fields, ""


def _matches(row: dict[str, str], condition: _Token) -> bool | None:
    """One `find` condition against a row; None when the condition is not understood."""
    text = condition.text
    if condition.bracket or condition.expr is not None:
        return None
    for operator in ("!=", "~", "="):
        key, found, wanted = text.partition(operator)
        if found and key and re.fullmatch(r"!?[a-z0-9.-]+", key):
            have = row.get(key.lstrip("!"), "no" if key.lstrip("!") == "disabled" else "")
            if have in _BOOLEAN and wanted in _BOOLEAN:
                have, wanted = _BOOLEAN[have], _BOOLEAN[wanted]
            if operator == "~":
                try:
                    hit = re.search(wanted, have) is not None
                except re.error:
                    return None
            else:
                hit = have == wanted
            negate = (operator == "!=") != key.startswith("!")
            return hit != negate
    if re.fullmatch(r"!?[a-z-]+", text):          # a flag: disabled, !disabled, dynamic ...
        on = row.get(text.lstrip("!"), "no") in ("yes", "true")
        return on != text.startswith("!")
    return None


def _selector(token: _Token, rows: list[_Row]) -> tuple[list[_Row], str]:
    """The rows a `set`/`remove` selector names, or ([], why not)."""
    if token.bracket:
        inner = _Lexer(token.text).lines()
        words = inner[0][1] if len(inner) == 1 else []
        while words and words[0].bare and (words[0].text.startswith("/") or words[0].text in NETWATCH_MENU) \
                and not words[0].text.endswith("/find"):
            words = words[1:]
        if not words or words[0].text != "find" and not words[0].text.endswith("/find"):
            return [], f"only [ find ... ] selectors are understood, not [ {token.text} ]"
        chosen = []
        for row in rows:
            verdicts = [_matches(row.fields, w) for w in words[1:] if w.text not in ("where", "and")]
            if None in verdicts:
                return [], f"the condition in [ {token.text} ] is not understood"
            if all(verdicts):
                chosen.append(row)
        return chosen, "" if chosen else f"no entry matches [ {token.text} ]"
    text = token.text[len("numbers="):] if token.text.startswith("numbers=") else token.text
    chosen = []
    for part in text.split(","):
        if part.isdigit() and int(part) < len(rows):
            chosen.append(rows[int(part)])
        elif part.startswith("*") and any(row.fields.get(".id") == part for row in rows):
            chosen.extend(row for row in rows if row.fields.get(".id") == part)
        else:
            return [], f"no item {part!r} to change"
    return chosen, ""


def _menu_and_command(tokens: list[_Token]) -> tuple[tuple[str, ...] | None, list[_Token]]:
    """Split a leading menu path off a command line. Returns (the menu or None when the line names
    none, the command tokens). `/tool/netwatch/add`, `/ tool netwatch add` and `/tool netwatch`
    all name ("tool", "netwatch")."""
    if not tokens or not tokens[0].bare or not tokens[0].text.startswith("/"):
        return None, tokens
    parts: list[str] = []
    rest = list(tokens)
    while rest and rest[0].bare and "=" not in rest[0].text and rest[0].text not in VERBS:
        words = [p for p in rest[0].text.split("/") if p]
        verb_at = next((i for i, word in enumerate(words) if word in VERBS and (parts or i)), None)
        if verb_at is not None:
            parts.extend(words[:verb_at])
            rest = [_Token("/".join(words[verb_at:]))] + rest[1:]
            break
        parts.extend(words)
        rest = rest[1:]
        if rest and rest[0].bare and rest[0].text.startswith("/") and parts:
            break              # a second absolute path: not part of this menu
    return tuple(parts), rest


def _strip_prompt(tokens: list[_Token]) -> tuple[tuple[str, ...] | None, list[_Token]]:
    """`[admin@MikroTik] /tool netwatch> add ...` -> (("tool", "netwatch"), [add ...])."""
    if not tokens or not tokens[0].bracket or not _PROMPT.fullmatch(tokens[0].text):
        return None, tokens
    path: list[str] = []
    for index, token in enumerate(tokens[1:], start=1):
        if not token.bare:
            break
        if token.text.endswith(">"):
            path.extend(p for p in token.text[:-1].split("/") if p)
            return tuple(path), tokens[index + 1:]
        path.extend(p for p in token.text.split("/") if p)
    return None, tokens


def detect_version(text: str, rows: list[dict[str, str]]) -> ExportVersion:
    """The version whose defaults apply: the export header (`# ... by RouterOS 6.49.10`) when there is
    one; otherwise RouterOS 7 when any entry uses a key RouterOS 6 does not have (type=, name=,
    thr-..., ...), else RouterOS 6."""
    header = _HEADER_VERSION.search(text.lstrip("\ufeff"))
    if header:
        return ExportVersion.of(int(header.group(1)), f"the export header says RouterOS {header.group(1)}."
                                f"{header.group(2)}")
    for key in V7_ONLY_KEYS:
        if any(key in row for row in rows):
            return ExportVersion.of(7, f"no export header; {key}= is used, which only RouterOS 7 has")
    return ExportVersion.of(6, "no export header and no type= (or other RouterOS 7 key) anywhere")


def _is_script_line(tokens: list[_Token]) -> bool:
    first = tokens[0]
    return first.bare and (first.text.startswith(":") or first.text in ("{", "}", "do={", "else={"))


def read_export(text: str, version: int | None = None) -> Export:
    """The Netwatch entries an export script (or a pasted snippet) defines, in order.

    `version` (6 or 7) overrides the detection of which RouterOS defaults fill absent values.
    Raises RscSyntaxError ('line N: ...') only for text that cannot be read at all.
    """
    menu: tuple[str, ...] = ()
    rows: list[_Row] = []
    notes: list[str] = []
    commands = 0
    unknown_lines: list[int] = []
    for line, tokens in _Lexer(text).lines():
        prompt_menu, tokens = _strip_prompt(tokens)
        if prompt_menu is not None:
            menu = prompt_menu
            if not tokens:
                continue
        named, tokens = _menu_and_command(tokens)
        if named is not None:
            menu = named
            if not tokens:
                continue
        if _is_script_line(tokens):
            if any("netwatch" in t.text for t in tokens):
                notes.append(f"line {line}: a script command ({tokens[0].text} ...) is not run; "
                             "Netwatch entries it would add are not imported")
            continue
        if menu != NETWATCH_MENU:
            continue
        verb, arguments = tokens[0].text, tokens[1:]
        if verb not in VERBS:
            unknown_lines.append(line)
            continue
        commands += 1
        if verb == "add":
            fields, problem = _pairs(arguments)
            if not problem and not fields.get("host"):
                problem = "'add' without host="
            fields.setdefault(".id", f"*{len(rows) + 1:X}")
            rows.append(_Row(line, fields, problem))
        elif verb in ("set", "remove", "enable", "disable", "unset"):
            if not arguments:
                notes.append(f"line {line}: '{verb}' without saying which entry; ignored")
                continue
            selector, values = arguments[0], arguments[1:]
            if selector.bare and "=" in selector.text and not selector.text.startswith("numbers="):
                notes.append(f"line {line}: '{verb} {selector.text}' does not say which entry; ignored")
                continue
            chosen, why = _selector(selector, rows)
            if why:
                notes.append(f"line {line}: {verb}: {why}; ignored")
                continue
            changes, problem = _pairs(values)
            if problem:
                notes.append(f"line {line}: {verb}: {problem}; ignored")
                continue
            for row in chosen:
                if verb == "remove":
                    rows.remove(row)
                elif verb == "set":
                    row.fields.update(changes)
                elif verb == "unset":
                    for key in (changes.get("value-name") or "").split(","):
                        row.fields.pop(key, None)
                else:
                    row.fields["disabled"] = "yes" if verb == "disable" else "no"
    if unknown_lines and not rows:
        notes.append(f"line {unknown_lines[0]}: the Netwatch lines are not commands (is this `print` output? "
                     "use `/tool netwatch export`)")
    chosen_version = (ExportVersion.of(version, f"set with --routeros {version}") if version
                      else detect_version(text, [row.fields for row in rows]))
    entries = [_entry(row, chosen_version) for row in rows]
    return Export(entries=entries, version=chosen_version, notes=notes, commands=commands)


def _entry(row: _Row, version: ExportVersion) -> NetwatchEntry | UnreadableEntry:
    fields = row.fields
    label = fields.get("name") or fields.get("comment") or fields.get("host", "")
    if row.problem:
        return UnreadableEntry(row.line, fields.get("host", ""), label, row.problem)
    for key in ("interval", "timeout"):
        if key in fields:
            try:
                parse_duration(fields[key])
            except ValueError:
                return UnreadableEntry(row.line, fields["host"], label,
                                       f"{key}={fields[key]} is not a RouterOS duration (like 10s, 1m, 00:01:00)")
    complete = {"interval": f"{version.interval:g}s", "timeout": f"{version.timeout:g}s", **fields}
    try:
        return NetwatchEntry.from_fields(complete)
    except ValueError as exc:   # from_fields checks the same; kept for a reason added there later
        return UnreadableEntry(row.line, fields.get("host", ""), label, str(exc))


def parse_rsc(text: str, version: int | None = None) -> list[NetwatchEntry]:
    """The readable Netwatch entries of a script (read_export without the unreadable ones and the
    notes). Raises RscSyntaxError ('line N: ...')."""
    return [entry for entry in read_export(text, version).entries if isinstance(entry, NetwatchEntry)]
