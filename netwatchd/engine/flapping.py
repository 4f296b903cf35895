"""Nagios-style flap detection: the weighted percent of state changes over the last N results.

A host keeps, per probe result, one bit: 1 when this result's class (failed / degraded / ok)
differs from the previous result's class. With a window of N results there are N-1 such bits
(21 results -> 20 changes, as Nagios). Newer changes weigh more: weights rise linearly from 0.8
(oldest slot) to 1.2 (newest slot), so the percent is `100 * sum(weight_i * bit_i) / (N-1)` and
20 changes out of 20 give exactly 100 %. The bits live in one int (bit 0 = newest), and the sum
is read from precomputed 8-bit chunk tables, so judging a result costs a few lookups, not a loop.
"""

from __future__ import annotations

from functools import lru_cache

OLDEST_WEIGHT = 0.8
NEWEST_WEIGHT = 1.2
_CHUNK = 8


def slots_for(window: int) -> int:
    """How many change bits a window of `window` results holds (at least 1)."""
    return max(1, window - 1)


def _weight(slot: int, slots: int) -> float:
    """Weight of change bit `slot` (0 = newest) among `slots` bits."""
    if slots == 1:
        return 1.0
    return NEWEST_WEIGHT - (NEWEST_WEIGHT - OLDEST_WEIGHT) * slot / (slots - 1)


@lru_cache(maxsize=16)
def _tables(slots: int) -> tuple[tuple[float, ...], ...]:
    """For each 8-bit chunk of the mask, the weighted sum of every possible chunk value."""
    tables = []
    for start in range(0, slots, _CHUNK):
        width = min(_CHUNK, slots - start)
        table = []
        for value in range(1 << width):
            table.append(sum(_weight(start + bit, slots) for bit in range(width) if value >> bit & 1))
        tables.append(tuple(table))
    return tuple(tables)


def change_percent(mask: int, slots: int) -> float:
    """Weighted percent (0..100) of state changes recorded in `mask` (bit 0 = newest change slot)."""
    if not mask:
        return 0.0
    total = 0.0
    for table in _tables(slots):
        total += table[mask & 0xFF]
        mask >>= _CHUNK
    return round(100.0 * total / slots, 3)
