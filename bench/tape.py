"""The fill tape digest every peer is judged by.

Kept free of any perpex import so that the out-of-process peer runner (a different
interpreter with its own virtual environment) computes byte-for-byte the same digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: One fill on the tape: (maker_id, taker_id, price_ticks, qty_contracts).
Fill = tuple[int, int, int, int]


def tape_digest_columns(
    maker: npt.ArrayLike, taker: npt.ArrayLike, price: npt.ArrayLike, qty: npt.ArrayLike
) -> str:
    """blake2b-128 over the little-endian int64 rows (maker, taker, price, qty), in fill order."""
    rows = np.empty((len(np.asarray(maker)), 4), dtype="<i8")
    rows[:, 0] = maker
    rows[:, 1] = taker
    rows[:, 2] = price
    rows[:, 3] = qty
    return hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest()


def tape_digest(fills: Sequence[Fill]) -> str:
    """The same digest as :func:`tape_digest_columns`, from a list of fill tuples."""
    rows = np.array(fills, dtype="<i8").reshape(-1, 4)
    return tape_digest_columns(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])


def tape_totals(fills: Sequence[Fill]) -> tuple[int, int]:
    """(trade count, traded quantity) of a fill list."""
    return len(fills), sum(f[3] for f in fills)
