"""How words from a router become text: UTF-8, and cp1252 for a word that is not valid UTF-8.

RouterOS stores names and comments as the bytes it was given and has no notion of an encoding
(librouteros issue #30: "MikroTik just stores bytes"): WinBox writes in the Windows PC's ANSI code
page (cp1252 in Indonesia and Western Europe, librouteros #123), scripts and API clients usually
write UTF-8, and one router may hold both. librouteros decodes every word
with the connection's `encoding` and `errors="ignore"` (4.x; older versions raised
UnicodeDecodeError), so with plain "utf-8" a comment like b"Kecamatan Porong \x96 fiber" silently
lost its dash, and "Kec. Tanggulangin (gedung \xe9)" its letter.

`wire_encoding(name)` gives the codec name to hand to librouteros: for UTF-8 (the default of
routers[].encoding) the codec registered here, which decodes each word as UTF-8 and falls back to
cp1252 for that word alone; any other configured encoding (cp1251, cp1250, latin-1, ...) is used
as it is. Encoding (what netwatchd sends) stays strict UTF-8.
"""

from __future__ import annotations

import codecs
from typing import Any

WIRE_CODEC = "netwatchd-utf8-cp1252"
_LOOKUP_NAME = "netwatchd_utf8_cp1252"     # what codecs passes to search functions (lower, "_")
_C1_ERRORS = "netwatchd-cp1252-c1"


def decode_word(data: bytes | bytearray | memoryview) -> str:
    """One RouterOS word as text: UTF-8 if it is valid UTF-8, else cp1252 (the five bytes cp1252
    leaves undefined become the C1 control of the same number, as Windows does). Never raises."""
    raw = bytes(data)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors=_C1_ERRORS)


def _c1_controls(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        undefined = exc.object[exc.start:exc.end]
        return "".join(chr(byte) for byte in undefined), exc.end
    raise exc


def _decode(data: Any, errors: str = "strict", /) -> tuple[str, int]:
    # `errors` is ignored on purpose: librouteros asks for "ignore", and nothing is dropped here
    raw = bytes(data)
    return decode_word(raw), len(raw)


def _encode(text: str, errors: str = "strict", /) -> tuple[bytes, int]:
    return codecs.utf_8_encode(text, errors)


_INFO = codecs.CodecInfo(_encode, _decode, name=WIRE_CODEC)


def _search(name: str) -> codecs.CodecInfo | None:
    return _INFO if name.replace("-", "_") == _LOOKUP_NAME else None


codecs.register_error(_C1_ERRORS, _c1_controls)
codecs.register(_search)


def wire_encoding(configured: str) -> str:
    """The codec name librouteros should use for routers[].encoding `configured`: the UTF-8 with
    per-word cp1252 fallback for any spelling of UTF-8, the configured name otherwise. Raises
    LookupError for an unknown encoding (the config loader has refused it already)."""
    return WIRE_CODEC if codecs.lookup(configured).name == "utf-8" else configured
