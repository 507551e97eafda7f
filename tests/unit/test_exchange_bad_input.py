"""RELIABILITY B2.8 for the Exchange: each malformed command raises a clear exception from
perpex.errors (also an instance of the builtin base) and leaves state_hash() and last_seq
unchanged."""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

import numpy as np
import pytest

from perpex import errors, presets
from perpex.exchange import ORDER_DTYPE, OP_LIMIT, Exchange

XBT = 100_000_000


def make() -> Exchange:
    ex = Exchange([presets.XBTUSD()])
    ex.deposit(1, XBT, ts=100)
    ex.deposit(2, XBT, ts=100)
    ex.place(1, "XBTUSD", "Buy", 10, 9_000, cl_ord_id="mine", ts=100)
    ex.place(1, "XBTUSD", "Sell", 5, 11_000, ts=100)
    ex.place(2, "XBTUSD", "Buy", 5, 11_000, ts=100)  # fills order 2 completely
    return ex


def place(**kw) -> Callable[[Exchange], object]:
    args = dict(account=1, symbol="XBTUSD", side="Buy", qty=10, price=9_000)
    args.update(kw)
    return lambda ex: ex.place(**args)


ROWS = [
    ("1 nan price", place(price=float("nan")), errors.InvalidPriceError, ValueError, "price.*nan"),
    ("2 inf price", place(price=float("inf")), errors.InvalidPriceError, ValueError, "price"),
    ("2 -inf price", place(price=float("-inf")), errors.InvalidPriceError, ValueError, "price"),
    ("3 zero price", place(price=0), errors.InvalidPriceError, ValueError, "> 0"),
    ("3 negative price", place(price=-1), errors.InvalidPriceError, ValueError, "> 0"),
    ("4 off tick", place(price=Decimal("100.25")), errors.InvalidPriceError, ValueError, "tick"),
    ("5 above max price", place(price=2_000_000), errors.ArithmeticOverflowError, OverflowError,
     "price.*1000000"),
    ("5 2**63 ticks", place(price=2**63), errors.ArithmeticOverflowError, OverflowError, "price"),
    ("6 zero qty", place(qty=0), errors.InvalidQuantityError, ValueError, "qty"),
    ("6 negative qty", place(qty=-5), errors.InvalidQuantityError, ValueError, "qty"),
    ("8 qty 2**63", place(qty=2**63), errors.ArithmeticOverflowError, OverflowError, "notional"),
    ("9 str price", place(price="100"), TypeError, TypeError, "price"),
    ("9 float qty", place(qty=1.5), TypeError, TypeError, "qty"),
    ("9 bool qty", place(qty=True), TypeError, TypeError, "qty"),
    ("9 None price on a limit", place(ord_type="Limit", price=None), TypeError, TypeError, "price"),
    ("10 unknown side", place(side="X"), errors.InvalidInputError, ValueError, "Buy, Sell"),
    ("10 int side", place(side=3), errors.InvalidInputError, ValueError, "side"),
    ("10 unknown ord_type", place(ord_type="Iceberg"), errors.InvalidInputError, ValueError, "Limit"),
    ("10 unknown tif", place(time_in_force="Day"), errors.InvalidInputError, ValueError, "GoodTillCancel"),
    ("10 post-only IOC", place(exec_inst="ParticipateDoNotInitiate", time_in_force="ImmediateOrCancel"),
     errors.InvalidInputError, ValueError, "ParticipateDoNotInitiate"),
    ("11 unknown account", place(account=99), errors.UnknownAccountError, KeyError, "account=99"),
    ("11 bool account", place(account=True), TypeError, TypeError, "account"),
    ("12 cancel unknown order", lambda ex: ex.cancel(1, 777), errors.UnknownOrderError, KeyError, "777"),
    ("12 cancel a filled order", lambda ex: ex.cancel(1, 2), errors.UnknownOrderError, KeyError,
     "order_id=2"),
    ("12 amend unknown order", lambda ex: ex.amend(1, 777, qty=5), errors.UnknownOrderError, KeyError, "777"),
    ("13 cancel another account's order", lambda ex: ex.cancel(2, 1), errors.UnknownOrderError,
     KeyError, "order_id=1"),
    ("14 duplicate live clOrdID", place(cl_ord_id="mine"), errors.DuplicateOrderIdError, ValueError, "mine"),
    ("15 unknown symbol", place(symbol="DOGEUSD"), errors.UnknownSymbolError, KeyError, "DOGEUSD"),
    ("16 negative leverage", lambda ex: ex.set_leverage(1, "XBTUSD", -1), errors.InvalidLeverageError,
     ValueError, r"\(0, 100\]"),
    ("16 leverage above the maximum", lambda ex: ex.set_leverage(1, "XBTUSD", 101),
     errors.InvalidLeverageError, ValueError, r"\(0, 100\]"),
    ("17 withdraw above available", lambda ex: ex.withdraw(1, XBT), errors.InsufficientFundsError,
     ValueError, "available"),
    ("17 negative deposit", lambda ex: ex.deposit(1, -5), errors.InvalidInputError, ValueError, "amount"),
    ("19 time going back", place(ts=99), errors.NonMonotonicTimeError, ValueError, "ts=99.*ts=100"),
    ("20 nan mark", lambda ex: ex.set_mark("XBTUSD", float("nan")), errors.InvalidInputError,
     ValueError, "mark"),
    ("20 zero mark", lambda ex: ex.set_mark("XBTUSD", 0), errors.InvalidPriceError, ValueError, "mark"),
    ("20 mark above max", lambda ex: ex.set_mark("XBTUSD", 5_000_000), errors.InvalidPriceError,
     ValueError, "mark"),
    ("21 batch of the wrong dtype", lambda ex: ex.submit_orders(np.zeros(3, "i8")), TypeError,
     TypeError, "dtype"),
    ("21 2-D batch", lambda ex: ex.submit_orders(np.zeros((2, 2), ORDER_DTYPE)),
     errors.InvalidInputError, ValueError, "1-D"),
    ("21 non-contiguous batch", lambda ex: ex.submit_orders(np.zeros(4, ORDER_DTYPE)[::2]),
     errors.InvalidInputError, ValueError, "contiguous"),
    # what the order commands' checks in C (perpex._front) do not pass goes on to the general
    # check of that argument: each of these is one the C check sees and hands over
    ("1 signalling nan price", place(price=Decimal("sNaN")), errors.InvalidPriceError, ValueError,
     "price=nan"),
    ("1 signalling nan stop", place(ord_type="StopLimit", stop_px=Decimal("sNaN")),
     errors.InvalidPriceError, ValueError, "stop_px=nan"),
    ("8 qty above max_order_qty", place(qty=10_000_001), errors.ArithmeticOverflowError,
     OverflowError, "max_order_qty"),
    ("9 bool price", place(price=True), TypeError, TypeError, "price"),
    ("9 None qty without Close", place(qty=None), TypeError, TypeError, "Close"),
    ("11 the liquidation engine's account", place(account=2**32 - 1), errors.InvalidInputError,
     ValueError, "reserved"),
    ("12 cancel by a bool order id", lambda ex: ex.cancel(1, True), TypeError, TypeError,
     "order_id"),
    ("12 cancel by a negative order id", lambda ex: ex.cancel(1, -1), errors.InvalidInputError,
     ValueError, "order_id=-1"),
    ("12 cancel as the liquidation engine", lambda ex: ex.cancel(2**32 - 1, 1),
     errors.InvalidInputError, ValueError, "reserved"),
    ("19 bool ts", place(ts=True), TypeError, TypeError, "ts"),
    ("19 ts past int64", place(ts=2**63), errors.ArithmeticOverflowError, OverflowError, "ts="),
    ("22 batch with one bad price row",
     lambda ex: ex.submit_orders(np.array([(100, 1, 0, OP_LIMIT, 0, 0, 1, 18_000, 0),
                                           (100, 1, 0, OP_LIMIT, 0, 0, 1, -3, 0)], ORDER_DTYPE)),
     errors.InvalidPriceError, ValueError, "row 1"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_malformed_command_raises_and_leaves_state_unchanged(row):
    _, call, exc, base, words = row
    ex = make()
    before = (ex.state_hash(), ex.last_seq)
    with pytest.raises(exc, match=words) as info:
        call(ex)
    assert isinstance(info.value, base)
    assert (ex.state_hash(), ex.last_seq) == before


def test_row_7_qty_off_the_lot_grid_raises():
    ex = Exchange([presets.XBTUSDT()])
    ex.deposit(1, 10**12, currency="USDt")
    before = (ex.state_hash(), ex.last_seq)
    with pytest.raises(errors.InvalidQuantityError, match="lot"):
        ex.place(1, "XBTUSDT", "Buy", 1_500, 10_000)
    assert (ex.state_hash(), ex.last_seq) == before


def test_row_18_margin_breach_is_a_reject_outcome_not_an_exception():
    ex = make()
    book = ex.export_state()["books"]
    out = ex.place(1, "XBTUSD", "Buy", 5_000_000, 10_000)
    assert out.rejected and "insufficient Available Balance" in out.text
    assert ex.export_state()["books"] == book


def test_row_23_every_command_after_a_violation_raises_engine_halted():
    ex = make()
    ex._ledger.transfer("XBt", ("fees",), ("insurance",), 0)
    ex._positions[(1, "XBTUSD")].qty += 3
    with pytest.raises(errors.InvariantViolation):
        ex.check_invariants()
    for call in (place(), lambda e: e.cancel(1, 1), lambda e: e.deposit(1, 5),
                 lambda e: e.set_mark("XBTUSD", 10_000)):
        with pytest.raises(errors.EngineHaltedError, match="sum to 3") as info:
            call(ex)
        assert isinstance(info.value, RuntimeError)
