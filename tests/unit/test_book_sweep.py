"""OrderBook.sweep, the price at which a market order would complete (the margin check's
estimate for it): the displayed levels depth() lists, walked until the quantity is covered."""

from __future__ import annotations

import random
from typing import Any

import pytest

from perpex import errors

native = pytest.importorskip("perpex._native")
BUY, SELL = native.BUY, native.SELL


def _sweep_by_depth(book: Any, side: int, qty: int, levels: int) -> tuple[int, int]:
    bids, asks = book.depth(levels)
    price, left = 0, qty
    for price, shown in (bids if side == BUY else asks):
        left -= shown
        if left <= 0:
            break
    return price, left


@pytest.mark.parametrize("seed", range(6))
def test_sweep_walks_the_displayed_levels_as_depth_lists_them(seed: int) -> None:
    rng = random.Random(seed)
    book = native.OrderBook()
    for oid in range(1, 120):
        side = rng.choice((BUY, SELL))
        price = rng.randrange(90, 100) if side == BUY else rng.randrange(101, 111)
        # hidden (0) and iceberg (2) orders show less than they hold, or nothing
        book.add(oid, rng.randrange(1, 9), side, price, rng.randrange(1, 12),
                 display_qty=rng.choice((-1, -1, 0, 2)))
        for s in (BUY, SELL):
            for levels in (0, 1, 3, 32):
                qty = rng.randrange(1, 80)
                assert book.sweep(s, qty, levels) == _sweep_by_depth(book, s, qty, levels)
    assert book.sweep(SELL, 10**12)[1] > 0 and native.OrderBook().sweep(BUY, 5) == (0, 5)


def test_sweep_refuses_a_bad_side_qty_or_level_count() -> None:
    book = native.OrderBook()
    with pytest.raises(errors.InvalidInputError):
        book.sweep(2, 5)
    with pytest.raises(errors.InvalidQuantityError):
        book.sweep(BUY, 0)
    with pytest.raises(errors.InvalidInputError):
        book.sweep(BUY, 5, -1)
