"""perpex._front.replay_place, a recovery's plain order: the same checks and commit as
Exchange.place, without the outcome. On twin exchanges every order (accepted, filled,
rejected for margin, or refused as bad input) leaves the same state hash and seq."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import _native, errors, presets
from perpex._front import replay_place
from perpex.exchange import Exchange

XBT = 100_000_000
SIDE = {"Buy": _native.BUY, "Sell": _native.SELL}
TIF = {"GoodTillCancel": _native.GTC, "ImmediateOrCancel": _native.IOC,
       "FillOrKill": _native.FOK}


def make() -> Exchange:
    ex = Exchange([presets.XBTUSD(), presets.XBTUSDT()])
    ex.deposit(1, XBT, ts=10)
    ex.deposit(2, 10 * XBT, ts=10)
    ex.deposit(2, 10**12, currency="USDt", ts=10)
    ex.set_mark("XBTUSD", 20_000, ts=10)
    return ex


ORDER = st.tuples(
    st.sampled_from([1, 2, 2, 3]),                                       # account (3: unknown)
    st.sampled_from(["XBTUSD", "XBTUSD", "XBTUSDT"]),
    st.sampled_from(["Buy", "Sell"]),
    st.sampled_from([None, "Limit", "Market"]),
    st.sampled_from(list(TIF)),
    st.sampled_from([1, 100, 1_000, 50_000, 0, 1.5]),                    # qty
    st.sampled_from([None, 19_999.5, 20_000, Decimal("20001.5"), 20_000.25, 1.5, -1]),
    st.integers(0, 2),                                                   # ts step
)


@settings(max_examples=200, deadline=None)
@given(st.lists(ORDER, min_size=1, max_size=25))
def test_replay_place_leaves_what_place_leaves(orders):
    ex, twin = make(), make()
    ts = 10
    for a, sym, side, ot, tif, qty, price, step in orders:
        ts += step
        try:
            ex.place(a, sym, side, qty, price, ot, tif, ts=ts)
            raised = None
        except (errors.EngineError, TypeError, ValueError, ArithmeticError) as exc:
            raised = type(exc)
        if raised is None:
            assert replay_place(twin, a, sym, SIDE[side], ot, TIF[tif], qty, price, ts) is None
        else:
            with pytest.raises(raised):
                replay_place(twin, a, sym, SIDE[side], ot, TIF[tif], qty, price, ts)
        assert (twin.state_hash(), twin.last_seq) == (ex.state_hash(), ex.last_seq)
    twin.check_invariants()


def test_replay_place_refuses_codes_that_are_not_the_engines():
    ex = make()
    before = (ex.state_hash(), ex.last_seq)
    with pytest.raises(errors.InvalidInputError, match="side code 7"):
        replay_place(ex, 2, "XBTUSD", 7, None, _native.GTC, 10, 20_000, 11)
    with pytest.raises(errors.InvalidInputError, match="time_in_force code 9"):
        replay_place(ex, 2, "XBTUSD", _native.BUY, None, 9, 10, 20_000, 11)
    assert (ex.state_hash(), ex.last_seq) == before


def test_a_journaled_plain_order_is_written_as_the_codec_writes_it(tmp_path) -> None:
    """JournaledExchange.place writes a plain order's payload itself (perpex._journaled), in
    the codec's first step: the bytes are Codec.place's, for every kind of plain order and
    for one that is not plain (a display quantity, an exec_inst), which the codec writes."""
    from perpex.exchange_journal import JournaledExchange
    from perpex.journal import read_journal

    jx = JournaledExchange(make(), tmp_path / "j", fsync="never")
    orders = [(2, "XBTUSD", "Buy", 100, 19_999.5, None, "GoodTillCancel", (), None),
              (2, "XBTUSD", "Sell", 100, Decimal("20001.5"), "Limit", "GoodTillCancel", (), None),
              (2, "XBTUSDT", "Buy", 1_000, 20_000, None, "ImmediateOrCancel", (), None),
              (2, "XBTUSD", "Buy", 50, None, "Market", "ImmediateOrCancel", (), None),
              (2, "XBTUSD", "Buy", 100, 19_000, None, "GoodTillCancel", (), 0),
              (2, "XBTUSD", "Sell", 100, 21_000, None, "GoodTillCancel", "ParticipateDoNotInitiate", None)]
    for a, sym, side, qty, px, ot, tif, ei, disp in orders:
        jx.place(a, sym, side, qty, px, ot, tif, ei, disp, ts=11)
    jx.sync()
    want = [jx._codec.place(a, sym, side, qty, px, ot, tif, ei, disp, None, None, None, None)
            for a, sym, side, qty, px, ot, tif, ei, disp in orders]
    got = [r.payload for r in read_journal(tmp_path / "j")][-len(orders):]
    assert got == want
    jx.close()
