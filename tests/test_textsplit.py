"""One splitter for alerts and bot replies: Telegram's 4,096 UTF-16 units, valid HTML in every part."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from netwatchd.bot.render import render_dhcp
from netwatchd.lab.telegram_standin import _EntityParser
from netwatchd.textsplit import split_html, utf16_len

_TAG = re.compile(r"</?([a-z]+)[^>]*>")


def _balanced(part: str) -> bool:
    stack: list[str] = []
    for match in _TAG.finditer(part):
        if match.group(0).startswith("</"):
            if not stack or stack.pop() != match.group(1):
                return False
        else:
            stack.append(match.group(1))
    return not stack


def _strip_tags(text: str) -> str:
    return _TAG.sub("", text)


def test_dhcp_leases_named_with_emoji_split_by_utf16_units_not_characters() -> None:
    # LAN clients pick their own host names; each 🔥 is one character but two UTF-16 units.
    leases = [{"address": f"198.18.9.{i % 250}", "mac-address": f"AA:BB:CC:00:{i // 256:02X}:{i % 256:02X}",
               "host-name": "🔥" * 40, "status": "bound", "expires-after": "9m"} for i in range(200)]
    text = render_dhcp(leases, "core", "en")
    assert len(text) < utf16_len(text)
    parts = split_html(text)
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(part) <= 4096 and _balanced(part)
        assert utf16_len(_EntityParser().plain_text(part)) <= 4096      # what the stand-in (Telegram) counts
    assert _strip_tags("\n".join(parts)).count("🔥") == 200 * 40


def test_a_bold_link_cut_mid_sentence_is_closed_and_reopened() -> None:
    text = '<b>down: <a href="https://status.example/x">' + "Waru, " * 2000 + "</a></b>"
    parts = split_html(text, 500)
    assert all(utf16_len(p) <= 500 and _balanced(p) for p in parts)
    assert all(p.startswith('<b><a href="https://status.example/x">') for p in parts[1:])
    assert all(p.rstrip("</ab>").endswith(",") for p in parts[:-1])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "<b>", "<pre>", "<i>"]),
                          st.text(alphabet=st.sampled_from(list("ab ,🔥é&")), max_size=300)), max_size=40),
       st.integers(min_value=40, max_value=600))
def test_every_part_fits_is_balanced_and_nothing_is_lost_or_reordered(chunks, limit) -> None:
    lines = []
    for tag, body in chunks:
        body = body.replace("&", "&amp;")
        lines.append(f"{tag}{body}{tag.replace('<', '</')}" if tag else body)
    text = "\n".join(lines)
    parts = split_html(text, limit)
    assert all(utf16_len(p) <= limit for p in parts)
    assert all(_balanced(p) for p in parts)
    assert all("&" not in re.sub(r"&amp;", "", p) for p in parts)      # never cut inside an entity
    squeeze = re.compile(r"\s+")
    assert squeeze.sub("", _strip_tags("".join(parts))) == squeeze.sub("", _strip_tags(text))
