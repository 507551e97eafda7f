"""CRC-32C (Castagnoli) for the journal and snapshots: one buffer at a time, or many records at once.

:func:`crc32c` is the native one the journal writer frames its records with
(:mod:`perpex._wal`: the SSE4.2 instruction where the CPU has it, a byte table otherwise); the
table-driven Python loop here is its reference in the tests.

:func:`crc32c_rows` frames a block of equal-length records (``Journal.append_many``) with a few
NumPy operations per byte position instead of a call per record. It rests on CRC linearity: with
the register starting at zero, the CRC of a message is the XOR of each byte's contribution, and
that contribution depends only on the byte's value and how many bytes follow it. One 256-entry
table per distance from the end (built on first use) turns a column of equal-length messages into
one gather and one XOR per byte position; the ``0xFFFFFFFF`` pre- and post-conditioning then adds
a constant that depends only on the length (the CRC of that many zero bytes).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from perpex._wal import crc32c as _native_crc32c

__all__ = ["crc32c", "crc32c_rows"]

_POLY = 0x82F63B78  # CRC-32C, bit-reflected


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()
_NP_TABLE = np.array(_TABLE, dtype=np.uint32)


def _crc32c_pure(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    table = _TABLE
    crc ^= 0xFFFFFFFF
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c: Callable[..., int] = _native_crc32c


# ------------------------------------------------------------------ position tables

_pos_tables = np.empty((0, 256), dtype=np.uint32)   # row k: a byte followed by k zero bytes
_zero_crc: dict[int, np.uint32] = {}


def _positions(n: int) -> np.ndarray:
    """The first ``n`` rows of the per-distance tables (grown on demand)."""
    global _pos_tables
    have = _pos_tables.shape[0]
    if have < n:
        grown = np.empty((max(n, 2 * have, 64), 256), dtype=np.uint32)
        grown[:have] = _pos_tables
        row = _NP_TABLE.copy() if have == 0 else _pos_tables[have - 1]
        start = have
        if have == 0:
            grown[0] = row
            start = 1
        for k in range(start, grown.shape[0]):
            row = _NP_TABLE[row & 0xFF] ^ (row >> 8)   # one more zero byte after it
            grown[k] = row
        _pos_tables = grown
    return _pos_tables


def _zeros_crc(n: int) -> np.uint32:
    c = _zero_crc.get(n)
    if c is None:
        c = _zero_crc[n] = np.uint32(crc32c(bytes(n)))
    return c


def crc32c_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-32C of every row of a 2-D uint8 array at once."""
    k, width = rows.shape
    if width == 0:
        return np.zeros(k, dtype=np.uint32)
    tables = _positions(width)
    crc = np.zeros(k, dtype=np.uint32)
    for j in range(width):
        crc ^= tables[width - 1 - j][rows[:, j]]
    return crc ^ _zeros_crc(width)
