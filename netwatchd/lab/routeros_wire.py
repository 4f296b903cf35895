"""The RouterOS API wire format: length-prefixed words, sentences ended by an empty word.

Pure functions (bytes in, bytes out) shared by the RouterOS stand-in and the tests. The client
itself talks through librouteros; this module exists so the stand-in speaks the protocol exactly,
including the 5-byte prefix (0xF0 + 4 bytes) that librouteros cannot encode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

MAX_WORD_LENGTH = 0xFFFFFFFF


class WireError(ValueError):
    """A malformed length prefix or sentence (the peer does not speak the RouterOS API)."""


def encode_length(length: int) -> bytes:
    """The 1-5 byte prefix for a word of `length` bytes. Raises WireError for a negative or huge length."""
    if length < 0 or length > MAX_WORD_LENGTH:
        raise WireError(f"word length {length} cannot be encoded")
    if length < 0x80:
        return length.to_bytes(1, "big")
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    return b"\xf0" + length.to_bytes(4, "big")


def prefix_size(first_byte: int) -> int:
    """How many bytes the prefix starting with `first_byte` has in total. Raises WireError for 0xF8..0xFF
    (reserved control bytes)."""
    if first_byte < 0x80:
        return 1
    if first_byte < 0xC0:
        return 2
    if first_byte < 0xE0:
        return 3
    if first_byte < 0xF0:
        return 4
    if first_byte == 0xF0:
        return 5
    raise WireError(f"reserved control byte 0x{first_byte:02x} where a word length was expected")


def decode_length(prefix: bytes) -> int:
    """The length encoded by a complete prefix (as sized by prefix_size). Raises WireError."""
    if not prefix or len(prefix) != prefix_size(prefix[0]):
        raise WireError(f"incomplete length prefix {prefix!r}")
    if len(prefix) == 1:
        return prefix[0]
    if len(prefix) == 5:
        return int.from_bytes(prefix[1:], "big")
    masks = {2: 0x8000, 3: 0xC00000, 4: 0xE0000000}
    return int.from_bytes(prefix, "big") ^ masks[len(prefix)]


def encode_word(word: str | bytes, encoding: str = "utf-8") -> bytes:
    data = word.encode(encoding) if isinstance(word, str) else word
    return encode_length(len(data)) + data


def encode_sentence(words: Iterable[str | bytes], encoding: str = "utf-8") -> bytes:
    """Words followed by the empty word that ends a sentence."""
    return b"".join(encode_word(w, encoding) for w in words) + b"\x00"


def read_word(read_exactly: Callable[[int], bytes]) -> bytes:
    """Read one word with `read_exactly(n)` (which must return n bytes or raise). b"" ends a sentence."""
    first = read_exactly(1)
    size = prefix_size(first[0])
    prefix = first + (read_exactly(size - 1) if size > 1 else b"")
    length = decode_length(prefix)
    return read_exactly(length) if length else b""


def read_sentence(read_exactly: Callable[[int], bytes]) -> list[bytes]:
    """Read words up to (not including) the empty word. Raises whatever read_exactly raises, or WireError."""
    words: list[bytes] = []
    while True:
        word = read_word(read_exactly)
        if not word:
            return words
        words.append(word)


def decode_sentence(data: bytes) -> tuple[list[bytes], bytes]:
    """Split one sentence off the front of `data`: (words, rest). Raises WireError if it is incomplete."""
    position = 0

    def take(count: int) -> bytes:
        nonlocal position
        if position + count > len(data):
            raise WireError("sentence is incomplete")
        chunk = data[position:position + count]
        position += count
        return chunk

    words = read_sentence(take)
    return words, data[position:]
