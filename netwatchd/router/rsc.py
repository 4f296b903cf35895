"""Reading `/tool netwatch export` scripts (RouterOS v6 and v7 syntax).

What exports contain and this module understands: `#` comment lines, menu lines (`/tool netwatch`,
`/tool/netwatch`, or a menu and a command on one line), `add key=value ...`, `set <selector>
key=value ...` and `remove <selector>` where the selector is an item number, a `*ID` or
`[ find key=value ... ]`; values quoted with `"..."` and the escapes `\\" \\\\ \\n \\r \\t \\$ \\? \\_`
and `\\XX` (a byte in hex); `;` between commands; and long lines continued with a trailing
backslash (the next line's indentation is dropped, even inside a quoted string). Lines for other
menus are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from netwatchd.errors import UsageError
from netwatchd.router.netwatch import NetwatchEntry

NETWATCH_MENU = ("tool", "netwatch")
VERBS = {"add", "set", "remove", "print", "export", "enable", "disable", "edit", "find", "comment", "unset"}
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$", "?": "?", "_": " ",
                   "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_HEX = "0123456789abcdefABCDEF"


@dataclass
class _Token:
    text: str
    quoted: bool = False       # part of it was a quoted string
    bracket: bool = False      # a [ ... ] expression (text is its inside)


class RscSyntaxError(UsageError):
    """The script cannot be read; the message starts with `line N:`."""


class _Lexer:
    """Characters -> logical lines of tokens, honouring quotes, escapes, brackets and continuations."""

    def __init__(self, text: str) -> None:
        self.text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        self.pos = 0
        self.line = 1

    def _continuation(self) -> bool:
        """At a backslash that ends the physical line: skip it, the newline and the next line's indent."""
        if self.text.startswith("\\\n", self.pos):
            self.pos += 2
            self.line += 1
            while self.pos < len(self.text) and self.text[self.pos] in " \t":
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
            elif char in " \t":
                self.pos += 1
            elif char == "#" and not tokens:
                while self.pos < len(self.text) and self.text[self.pos] != "\n":
                    self.pos += 1
            elif char == "[":
                tokens.append(self._bracket())
            else:
                tokens.append(self._word())
        if tokens:
            result.append((start_line, tokens))
        return result

    def _bracket(self) -> _Token:
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
            elif char == "[":
                depth += 1
                if depth == 1:
                    continue
            elif char == "]":
                depth -= 1
                if depth == 0:
                    return _Token("".join(parts).strip(), bracket=True)
            elif char == "\n":
                self.line += 1
            parts.append(char)
        raise RscSyntaxError(f"line {start_line}: '[' is never closed with ']'")

    def _word(self) -> _Token:
        pieces: list[str | bytes] = []
        quoted = False
        while self.pos < len(self.text):
            if self._continuation():
                continue
            char = self.text[self.pos]
            if char in " \t\n;":
                break
            if char == '"':
                quoted = True
                self.pos += 1
                self._string(pieces)
                continue
            pieces.append(char)
            self.pos += 1
        return _Token(_join(pieces), quoted=quoted)

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


def _pairs(tokens: list[_Token], line: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    for token in tokens:
        if token.bracket:
            raise RscSyntaxError(f"line {line}: unexpected [ {token.text} ] among the arguments")
        key, has_value, value = token.text.partition("=")
        if not key:
            raise RscSyntaxError(f"line {line}: an argument without a name: {token.text!r}")
        fields[key] = value if has_value else "yes"
    return fields


def _selector(token: _Token, rows: list[dict[str, str]], line: int) -> list[dict[str, str]]:
    """The rows a `set`/`remove` selector names: an item number, *ID, or [ find k=v ... ]."""
    if token.bracket:
        inner = _Lexer(token.text).lines()
        words = inner[0][1] if inner else []
        if not words or words[0].text not in ("find", "/tool/netwatch/find"):
            raise RscSyntaxError(f"line {line}: only [ find key=value ] selectors are understood")
        wanted = _pairs([w for w in words[1:] if w.text != "where"], line)
        return [row for row in rows if all(row.get(k, "") == v for k, v in wanted.items())]
    numbers = []
    for part in token.text.split(","):
        if part.isdigit() and int(part) < len(rows):
            numbers.append(rows[int(part)])
        elif part.startswith("*"):
            numbers.extend(row for row in rows if row.get(".id") == part)
        else:
            raise RscSyntaxError(f"line {line}: no item {part!r} to change")
    return numbers


def parse_rsc(text: str) -> list[NetwatchEntry]:
    """Netwatch entries defined by an export script, in order. Raises RscSyntaxError ('line N: ...')."""
    menu: tuple[str, ...] = ()
    rows: list[dict[str, str]] = []
    for line, tokens in _Lexer(text).lines():
        if tokens[0].text.startswith("/"):
            parts = [p for p in tokens[0].text.split("/") if p]
            tokens = tokens[1:]
            while tokens and not tokens[0].quoted and not tokens[0].bracket and "=" not in tokens[0].text \
                    and tokens[0].text not in VERBS:
                parts.append(tokens[0].text)
                tokens = tokens[1:]
            menu = tuple(parts)
            if not tokens:
                continue
        if menu != NETWATCH_MENU or tokens[0].text.startswith(":"):
            continue
        verb, arguments = tokens[0].text, tokens[1:]
        if verb == "add":
            fields = _pairs(arguments, line)
            if not fields.get("host"):
                raise RscSyntaxError(f"line {line}: 'add' without host=")
            fields.setdefault(".id", f"*{len(rows) + 1:X}")
            rows.append(fields)
        elif verb in ("set", "remove", "enable", "disable"):
            if not arguments:
                raise RscSyntaxError(f"line {line}: '{verb}' without saying which entry")
            chosen = _selector(arguments[0], rows, line)
            for row in chosen:
                if verb == "remove":
                    rows.remove(row)
                elif verb == "set":
                    row.update(_pairs(arguments[1:], line))
                else:
                    row["disabled"] = "yes" if verb == "disable" else "no"
    entries = []
    for number, row in enumerate(rows):
        try:
            entries.append(NetwatchEntry.from_fields({k: v for k, v in row.items()}))
        except ValueError as exc:
            raise RscSyntaxError(f"entry {number + 1} (host={row.get('host', '?')}): {exc}") from None
    return entries
