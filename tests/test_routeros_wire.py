"""The RouterOS API wire format: every length-prefix boundary, round trips, and agreement with the
two independent implementations we talk to (librouteros and routeros_api)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from librouteros import protocol as lib_protocol
from routeros_api import base_api

from netwatchd.lab.routeros_wire import (
    WireError,
    decode_length,
    decode_sentence,
    encode_length,
    encode_sentence,
    prefix_size,
    read_sentence,
)

BOUNDARIES = [
    (0, b"\x00"), (1, b"\x01"), (0x7F, b"\x7f"),
    (0x80, b"\x80\x80"), (0x3FFF, b"\xbf\xff"),
    (0x4000, b"\xc0\x40\x00"), (0x1FFFFF, b"\xdf\xff\xff"),
    (0x200000, b"\xe0\x20\x00\x00"), (0xFFFFFFF, b"\xef\xff\xff\xff"),
    (0x10000000, b"\xf0\x10\x00\x00\x00"), (0xFFFFFFFF, b"\xf0\xff\xff\xff\xff"),
]


@pytest.mark.parametrize("length, encoded", BOUNDARIES)
def test_length_prefix_at_every_boundary(length: int, encoded: bytes) -> None:
    assert encode_length(length) == encoded
    assert prefix_size(encoded[0]) == len(encoded)
    assert decode_length(encoded) == length


@pytest.mark.parametrize("length", [n for n, _ in BOUNDARIES if n < 0x10000000])
def test_prefixes_match_librouteros_and_routeros_api(length: int) -> None:
    ours = encode_length(length)
    assert ours == lib_protocol.encode_length(length)
    assert ours == base_api.encode_length(length)
    assert lib_protocol.decode_length(ours) == length


def test_five_byte_prefix_matches_routeros_api() -> None:
    # librouteros cannot encode >= 0x10000000; routeros_api can, and so must the stand-in
    assert encode_length(0x12345678) == base_api.encode_length(0x12345678)
    data = iter(encode_length(0x12345678))
    assert base_api.decode_length(lambda n: bytes([next(data)])) == 0x12345678


@pytest.mark.parametrize("bad", [-1, 0x100000000])
def test_unencodable_lengths_are_refused(bad: int) -> None:
    with pytest.raises(WireError):
        encode_length(bad)


@pytest.mark.parametrize("control", [0xF8, 0xFF])
def test_reserved_control_bytes_are_refused(control: int) -> None:
    with pytest.raises(WireError, match="reserved control byte"):
        prefix_size(control)


def test_incomplete_prefix_is_refused() -> None:
    with pytest.raises(WireError):
        decode_length(b"\xc0\x40")


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_length_round_trip(length: int) -> None:
    encoded = encode_length(length)
    assert decode_length(encoded) == length
    assert len(encoded) == prefix_size(encoded[0])


words_strategy = st.lists(st.text(min_size=1, max_size=300), min_size=0, max_size=8)


@given(words_strategy, st.binary(max_size=20))
def test_sentence_round_trip_keeps_unicode_and_leaves_the_rest(words: list[str], rest: bytes) -> None:
    data = encode_sentence(words) + rest
    decoded, remaining = decode_sentence(data)
    assert [w.decode("utf-8") for w in decoded] == words
    assert remaining == rest


def test_sentence_matches_librouteros_encoding() -> None:
    words = ["/ip/address/print", "=.proplist=address,interface", "?=interface=ether1", ".tag=7"]
    assert encode_sentence(words) == lib_protocol.encode_sentence(*words, encoding="utf-8")


def test_long_word_uses_a_multi_byte_prefix() -> None:
    comment = "=comment=" + "Kantor Kecamatan Waru — " * 800   # > 0x4000 bytes: 3-byte prefix
    data = encode_sentence(["!re", comment])
    assert data[4] >> 5 == 0b110  # after "\x03!re": the 3-byte prefix starts with 110xxxxx
    assert decode_sentence(data)[0][1].decode() == comment


def test_truncated_sentence_is_an_error() -> None:
    data = encode_sentence(["/system/identity/print", "=name=core"])
    with pytest.raises(WireError, match="incomplete"):
        decode_sentence(data[:-3])


def test_read_sentence_reads_exactly_one_sentence() -> None:
    stream = encode_sentence(["!re", "=name=a"]) + encode_sentence(["!done"])
    position = 0

    def read_exactly(count: int) -> bytes:
        nonlocal position
        chunk = stream[position:position + count]
        position += count
        return chunk

    assert read_sentence(read_exactly) == [b"!re", b"=name=a"]
    assert read_sentence(read_exactly) == [b"!done"]
    assert position == len(stream)
