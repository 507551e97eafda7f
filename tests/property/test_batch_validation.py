"""The batch path's validation (perpex._core.EngineCore._first_bad_row) against a plain
per-row reference of its rules: the same first bad row, the same exception, and nothing
applied; a batch without a fault runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import errors, presets
from perpex.exchange import OP_CANCEL, OP_LIMIT, OP_MARKET, ORDER_DTYPE, Exchange

XBT = 100_000_000
TS = 1_000


def make() -> Exchange:
    ex = Exchange([presets.XBTUSD(), presets.ETHUSD()])
    for a in (1, 2, 3):
        ex.deposit(a, 10 * XBT, ts=TS)
    return ex


def reference(ex: Exchange, rows: np.ndarray) -> tuple[int, type[Exception]] | None:
    """The first row breaking a rule and the exception it raises, row by row in plain
    Python (the rules of ``submit_orders``'s docstring and RELIABILITY's bad-input table)."""
    insts = [ex.book(s).instrument for s in ex.symbols]
    prev = TS
    for i, (ts, a, sym, op, side, _pad, qty, price, _oid) in enumerate(rows.tolist()):
        if ts < prev:
            return i, errors.NonMonotonicTimeError
        prev = ts
        if op not in (OP_LIMIT, OP_MARKET, OP_CANCEL):
            return i, errors.InvalidInputError
        if sym >= len(insts):
            return i, errors.UnknownSymbolError
        if a not in (1, 2, 3):
            return i, errors.UnknownAccountError
        if op == OP_CANCEL:
            continue
        inst = insts[sym]
        if side > 1:
            return i, errors.InvalidInputError
        if qty <= 0 or qty % inst.lot_size:
            return i, errors.InvalidQuantityError
        if qty > inst.max_order_qty:
            return i, errors.ArithmeticOverflowError
        if op == OP_LIMIT and price <= 0:
            return i, errors.InvalidPriceError
        if op == OP_LIMIT and price > inst.max_price_ticks:
            return i, errors.ArithmeticOverflowError
        if op == OP_MARKET and price != 0:
            return i, errors.InvalidInputError
    return None


# a row: mostly valid values, with each field sometimes off its rule
ROW = st.tuples(
    st.sampled_from([0, 1, 2]),                                  # ts step (0: the same ts)
    st.sampled_from([1, 2, 3, 3, 4]),                            # account (4 never deposited)
    st.sampled_from([0, 0, 1, 2]),                               # symbol index (2 is not listed)
    st.sampled_from([OP_LIMIT, OP_LIMIT, OP_MARKET, OP_CANCEL, 0, 4]),
    st.sampled_from([0, 1, 1, 2]),                               # side
    st.sampled_from([1, 10, 100, 0, -5, 10**12]),                # qty
    st.sampled_from([1, 20_000, 40_000, 0, -1, 10**13]),         # price (ticks)
)


def to_rows(spec: list[tuple[int, ...]], back: int) -> np.ndarray:
    rows = np.zeros(len(spec), ORDER_DTYPE)
    ts = TS
    for i, (step, a, sym, op, side, qty, price) in enumerate(spec):
        ts += step
        market = op == OP_MARKET
        rows[i] = (ts - (back if i == len(spec) // 2 else 0), a, sym, op, side, 0, qty,
                   0 if market and price != 1 else price, 7)
    return rows


@settings(max_examples=300, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=12), st.sampled_from([0, 0, 0, 1, 5000]))
def test_the_first_bad_row_is_the_references(spec, back):
    ex = make()
    rows = to_rows(spec, back)
    want = reference(ex, rows)
    before = (ex.state_hash(), ex.last_seq)
    if want is None:
        ex.submit_orders(rows)
        return
    i, exc = want
    with pytest.raises(exc, match=rf"cmds row {i}: "):
        ex.submit_orders(rows)
    assert (ex.state_hash(), ex.last_seq) == before


@pytest.mark.parametrize("field, value, exc, words", [
    ("ts", TS - 1, errors.NonMonotonicTimeError, "earlier than the last command's ts=1000"),
    ("op", 9, errors.InvalidInputError, "op must be"),
    ("symbol", 2, errors.UnknownSymbolError, "symbol index must be < 2"),
    ("account", 8, errors.UnknownAccountError, "account=8 is unknown"),
    ("side", 3, errors.InvalidInputError, "side must be"),
    ("qty", 0, errors.InvalidQuantityError, "qty must be > 0"),
    ("qty", 10**9, errors.ArithmeticOverflowError, "max_order_qty=10000000"),
    ("price", 0, errors.InvalidPriceError, "price must be > 0 ticks"),
    ("price", 10**12, errors.ArithmeticOverflowError, "price above the maximum"),
])
def test_each_fault_names_its_row_and_rule(field, value, exc, words):
    ex = make()
    rows = np.array([(TS, 1, 0, OP_LIMIT, 0, 0, 10, 20_000, 0)] * 3, ORDER_DTYPE)
    rows[2][field] = value
    with pytest.raises(exc, match=f"cmds row 2: .*{words}"):
        ex.submit_orders(rows)
    assert ex.last_seq == 3  # the deposits only


def test_the_lot_grid_and_a_market_rows_price():
    ex = Exchange([presets.XBTUSDT()])
    ex.deposit(1, 10**12, currency="USDt", ts=TS)
    lot = ex.book("XBTUSDT").instrument.lot_size
    assert lot > 1
    rows = np.array([(TS, 1, 0, OP_LIMIT, 0, 0, lot + 1, 20_000, 0)], ORDER_DTYPE)
    with pytest.raises(errors.InvalidQuantityError, match=f"multiple of the lot size {lot}"):
        ex.submit_orders(rows)
    rows = np.array([(TS, 1, 0, OP_MARKET, 0, 0, lot, 5, 0)], ORDER_DTYPE)
    with pytest.raises(errors.InvalidInputError, match="a market row takes price 0"):
        ex.submit_orders(rows)


def test_accounts_known_after_each_deposit_and_beyond_the_bitmap():
    ex = make()
    row = (TS, 4, 0, OP_LIMIT, 0, 0, 10, 20_000, 0)
    with pytest.raises(errors.UnknownAccountError, match="account=4 is unknown"):
        ex.submit_orders(np.array([row], ORDER_DTYPE))
    ex.deposit(4, XBT, ts=TS)  # a deposit between batches is seen by the next one
    assert ex.submit_orders(np.array([row], ORDER_DTYPE))["status"][0] == 0
    big = 2**32 - 2  # far above the accounts the validation keeps a bitmap of
    with pytest.raises(errors.UnknownAccountError, match=f"account={big} is unknown"):
        ex.submit_orders(np.array([row[:1] + (big,) + row[2:]], ORDER_DTYPE))
    ex.deposit(big, XBT, ts=TS)
    assert ex.submit_orders(np.array([row[:1] + (big,) + row[2:]], ORDER_DTYPE))["status"][0] == 0
    with pytest.raises(errors.UnknownAccountError, match=f"account={big - 1} is unknown"):
        ex.submit_orders(np.array([row[:1] + (big - 1,) + row[2:]], ORDER_DTYPE))
