"""Cutting Telegram HTML into messages Telegram accepts: at most 4,096 UTF-16 code units each, every part valid
HTML on its own. A leaf module (standard library only) shared by the alert formatter and the bot's replies.

Telegram counts a message's length in UTF-16 code units of the text after entity parsing; counting the HTML
source (tags and entities included) is never shorter, so a part that fits here fits there. An emoji outside the
Basic Multilingual Plane is 2 units, which is why `len()` is not the measure (LAN clients name themselves 🔥).
"""

from __future__ import annotations

import re

TELEGRAM_LIMIT = 4096
_ATOM = re.compile(r"<[^<>]*>|&#?[A-Za-z0-9]+;|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")
_Stack = tuple[tuple[str, str], ...]      # (tag name, its opening tag as written) from outermost in


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _after(stack: _Stack, atom: str) -> _Stack:
    """The open-tag stack after `atom` (a tag, an entity or one character)."""
    if not atom.startswith("<") or atom.endswith("/>"):
        return stack
    name_match = _TAG_NAME.match(atom)
    if name_match is None:
        return stack
    name = name_match.group(1).lower()
    if not atom.startswith("</"):
        return (*stack, (name, atom))
    for depth in range(len(stack) - 1, -1, -1):
        if stack[depth][0] == name:
            return stack[:depth] + stack[depth + 1:]
    return stack


def _closers(stack: _Stack) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _openers(stack: _Stack) -> str:
    return "".join(tag for _, tag in stack)


class _Packer:
    """Greedy packing of lines (and, for an over-long line, of atoms) into parts of at most `limit` units."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.stack: _Stack = ()
        self.current = ""
        self.length = 0
        self.has_content = False

    def _start(self) -> None:
        self.current = _openers(self.stack)
        self.length = utf16_len(self.current)
        self.has_content = False

    def flush(self) -> None:
        if self.has_content:
            self.parts.append(self.current + _closers(self.stack))
        self._start()

    def _fits(self, extra: int, stack: _Stack) -> bool:
        return self.length + extra + utf16_len(_closers(stack)) <= self.limit

    def add_line(self, line: str) -> None:
        atoms = _ATOM.findall(line)
        stack = self.stack
        for atom in atoms:
            stack = _after(stack, atom)
        size = utf16_len(line)
        if self.has_content and self._fits(1 + size, stack):
            self.current += "\n" + line
            self.length += 1 + size
            self.stack = stack
            return
        if self.has_content:
            self.flush()
        if self._fits(size, stack):
            self.current += line
            self.length += size
            self.stack, self.has_content = stack, True
            return
        self._cut(atoms)

    def _cut(self, atoms: list[str]) -> None:
        """An over-long line: cut after the last ', ' or space that fits, else at the last atom that fits."""
        start = 0
        while start < len(atoms):
            stack, length, end, best = self.stack, self.length, start, None
            while end < len(atoms):
                after = _after(stack, atoms[end])
                size = utf16_len(atoms[end])
                if length + size + utf16_len(_closers(after)) > self.limit and end > start:
                    break
                stack, length, end = after, length + size, end + 1
                if atoms[end - 1] == " " and end < len(atoms):
                    best = (end, stack, length)
            if end < len(atoms) and best is not None:
                end, stack, length = best
            piece = "".join(atoms[start:end])
            if end < len(atoms):
                piece = piece.rstrip(" ")
            self.current += piece
            self.stack, self.has_content = stack, True
            self.length = utf16_len(self.current)
            start = end
            if start < len(atoms):
                self.flush()


def split_html(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Cut `text` into parts of at most `limit` UTF-16 units, on line boundaries where it can.

    A line longer than a part is cut after its last space (", " stays with the first piece) or, with no
    space, between characters — never inside a tag or an HTML entity. Tags open at a cut (<pre>, <b>, <a …>)
    are closed at the end of one part and reopened at the start of the next. The newline at a line-boundary
    cut is dropped; nothing else is lost or reordered. Never raises; "" gives [""].
    """
    if utf16_len(text) <= limit:
        return [text]
    packer = _Packer(limit)
    packer._start()
    for line in text.split("\n"):
        packer.add_line(line)
    packer.flush()
    return packer.parts or [""]
