"""Show a Telegram HTML message in a terminal the way the chat would display it. Pure functions.

Telegram renders `<b>`, `<i>`, `<u>`, `<s>`, `<code>`, `<pre>`, `<a>`, `<blockquote>` and the
entities `&lt; &gt; &amp; &quot;`. Here bold becomes ANSI bold, italics ANSI italics, code and
pre ANSI dim, a link its text; every other tag is dropped. Without `ansi` only the text remains.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_STYLES = {"b": "1", "strong": "1", "i": "3", "em": "3", "u": "4", "ins": "4", "s": "9",
           "strike": "9", "del": "9", "code": "2", "pre": "2"}
RESET = "\x1b[0m"


class _Renderer(HTMLParser):
    def __init__(self, ansi: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.ansi = ansi
        self.out: list[str] = []
        self.stack: list[str] = []

    def _apply(self) -> None:
        if not self.ansi:
            return
        codes = [_STYLES[tag] for tag in self.stack if tag in _STYLES]
        self.out.append(RESET + (f"\x1b[{';'.join(codes)}m" if codes else ""))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _STYLES:
            self.stack.append(tag)
            self._apply()

    def handle_endtag(self, tag: str) -> None:
        if tag in _STYLES and tag in self.stack:
            index = len(self.stack) - 1 - self.stack[::-1].index(tag)
            del self.stack[index]
            self._apply()

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def render_chat_html(text: str, *, ansi: bool) -> str:
    """Telegram HTML -> terminal text (ANSI styles when `ansi`)."""
    renderer = _Renderer(ansi)
    renderer.feed(text)
    renderer.close()
    rendered = "".join(renderer.out)
    if ansi and renderer.stack:
        rendered += RESET
    return rendered


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def bubble(text: str, *, ansi: bool, title: str = "") -> str:
    """A message as a chat bubble: a title line and every text line behind a bar."""
    bar = "\x1b[36m│\x1b[0m " if ansi else "| "
    lines = [f"{bar}{title}"] if title else []
    lines += [f"{bar}{line}" for line in render_chat_html(text, ansi=ansi).splitlines()]
    return "\n".join(lines)


def plain(text: str) -> str:
    """Telegram HTML -> the plain text a reader sees."""
    return render_chat_html(text, ansi=False)
