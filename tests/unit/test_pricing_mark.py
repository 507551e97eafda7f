"""Mark price: perpetual and futures fair price, impact prices, OKEx MA basis, LPP."""

from __future__ import annotations

import copy
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex.errors import InvalidInputError, InvalidPriceError, NonMonotonicTimeError
from perpex.pricing import (
    FuturesFairBasis,
    LastPriceProtected,
    MovingAverageBasis,
    fair_basis_rate,
    funding_basis,
    futures_fair_price,
    impact_prices,
    perpetual_fair_price,
    to_e8,
)



def E(price: int | str) -> int:
    return to_e8(Decimal(price) if isinstance(price, str) else price)

HOUR = 3_600_000
DAY = 24 * HOUR
EIGHT_HOURS = 8 * HOUR


# ------------------------------------------------------------------------------ WE-27
@pytest.mark.parametrize(("hours_left", "fair"), [
    (8, "10001.00"), (6, "10000.75"), (4, "10000.50"), (2, "10000.25"), (0, "10000.00")])
def test_we27_perpetual_fair_price_decays_to_the_index_at_funding(hours_left, fair):
    assert perpetual_fair_price(E(10_000), 0.0001, hours_left * HOUR, EIGHT_HOURS) == E(fair)


@settings(max_examples=200, deadline=None)
@given(index=st.integers(1, 10**14), rate=st.floats(-0.00375, 0.00375),
       t1=st.integers(0, EIGHT_HOURS), t2=st.integers(0, EIGHT_HOURS))
def test_funding_basis_decays_monotonically_to_zero_at_the_funding_instant(index, rate, t1, t2):
    near, far = sorted((t1, t2))
    p_near = perpetual_fair_price(index, rate, near, EIGHT_HOURS)
    p_far = perpetual_fair_price(index, rate, far, EIGHT_HOURS)
    assert abs(p_near - index) <= abs(p_far - index)
    assert (p_far - index) * rate >= 0                    # the basis has the rate's sign
    assert perpetual_fair_price(index, rate, 0, EIGHT_HOURS) == index
    assert funding_basis(rate, 0, EIGHT_HOURS) == 0.0


def test_perpetual_fair_price_rejects_time_beyond_the_interval_and_bad_index():
    with pytest.raises(InvalidInputError, match="time_to_funding_ms"):
        perpetual_fair_price(E(100), 0.0001, EIGHT_HOURS + 1, EIGHT_HOURS)
    with pytest.raises(InvalidPriceError, match="index_e8"):
        perpetual_fair_price(0, 0.0001, 0, EIGHT_HOURS)
    with pytest.raises(InvalidInputError, match="funding_rate"):
        perpetual_fair_price(E(100), float("nan"), 0, EIGHT_HOURS)


# ------------------------------------------------------------------------------ WE-26
def test_we26_futures_fair_basis_60_83_percent_and_fair_price_105():
    basis = fair_basis_rate(E(105), E(100), 30 * DAY)
    assert round(basis * 100, 2) == 60.83
    assert basis == pytest.approx(0.05 * 365 / 30, rel=1e-15)
    assert futures_fair_price(E(100), basis, 30 * DAY) == E(105)   # fair value 5


def test_futures_basis_is_re_estimated_when_the_impact_spread_is_narrow():
    fb = FuturesFairBasis(expiry_ms=30 * DAY, maint_margin=0.005, tick_e8=E("0.5"))
    # spread 0.2 < 0.5% x 105: narrow
    assert fb.update(0, E(100), E("104.9"), E("105.1"))
    assert fb.fair_price(0, E(100)) == E(105)
    # between estimates the fair price floats with the index and decays with time
    assert fb.fair_price(15 * DAY, E(200)) == E(205)
    assert fb.fair_price(30 * DAY, E(200)) == E(200)


def test_futures_basis_is_kept_when_the_impact_spread_is_wide_or_a_side_is_missing():
    fb = FuturesFairBasis(expiry_ms=30 * DAY, maint_margin=0.005, tick_e8=E("0.5"))
    assert not fb.update(0, E(100), E(104), E(106))        # spread 2 >= 0.525
    assert not fb.update(60_000, E(100), None, E(105))
    assert fb.fair_basis == 0.0 and fb.fair_price(60_000, E(100)) == E(100)


def test_three_ticks_is_the_narrow_spread_floor_and_estimates_wait_for_the_refresh():
    fb = FuturesFairBasis(expiry_ms=30 * DAY, maint_margin=0.0001, tick_e8=E(1),
                          refresh_ms=60_000)
    assert fb.update(0, E(100), E(104), E("106.5"))         # 2.5 < 3 ticks, > 0.01% of 105
    first = fb.fair_basis
    assert not fb.update(59_999, E(100), E(110), E(111))    # too soon
    assert fb.fair_basis == first
    assert not fb.update(60_000, E(100), E(110), E(113))    # 3 ticks is not < 3 ticks
    assert fb.update(60_001, E(100), E(110), E(111))
    assert fb.fair_basis > first


def test_futures_basis_update_rejects_bad_input_and_changes_nothing():
    fb = FuturesFairBasis(expiry_ms=30 * DAY, maint_margin=0.005, tick_e8=E("0.5"))
    fb.update(10, E(100), E(105), E(105))
    before = copy.deepcopy(fb.export_state())
    for args, exc in [((5, E(100), E(105), E(105)), NonMonotonicTimeError),
                      ((20, E(100), E(106), E(105)), InvalidInputError),
                      ((20, 0, E(105), E(105)), InvalidPriceError),
                      ((20, E(100), True, E(105)), InvalidPriceError)]:
        with pytest.raises(exc):
            fb.update(*args)
        assert fb.export_state() == before


# ---------------------------------------------------------------------------- impact prices
BIDS = [(20_000, 3_000), (19_999, 5_000), (19_998, 10_000)]
ASKS = [(20_001, 1_000), (20_002, 4_000), (20_004, 100_000)]


def test_impact_prices_walk_the_book_and_take_the_last_level_partially():
    impact = impact_prices(BIDS, ASKS, 10_000, lambda price, qty: qty)
    assert impact.bid == Fraction(20_000 * 3_000 + 19_999 * 5_000 + 19_998 * 2_000, 10_000)
    assert impact.ask == Fraction(20_001 * 1_000 + 20_002 * 4_000 + 20_004 * 5_000, 10_000)
    bid_e8, ask_e8 = impact.to_e8(E("0.5"))
    assert bid_e8 == E("9999.55") and ask_e8 == E("10001.45")
    assert impact.mid == (impact.bid + impact.ask) / 2


def test_impact_prices_report_a_thin_side_as_none():
    impact = impact_prices(BIDS, [], 18_001, lambda price, qty: qty)
    assert impact.bid is None and impact.ask is None and not impact.complete
    assert impact.mid is None
    assert impact_prices(BIDS, ASKS, 18_000, lambda p, q: q).bid == Fraction(
        20_000 * 3_000 + 19_999 * 5_000 + 19_998 * 10_000, 18_000)


def test_impact_prices_value_linear_contracts_with_the_value_function():
    # a linear contract of 0.001 units; impact notional in quote units, price in ticks of 1
    impact = impact_prices([(100, 150_000)], [(101, 30_000), (102, 100_000)], 10_000,
                           lambda price, qty: Fraction(qty * price, 1000))
    assert impact.bid == 100
    ask_qty_second = Fraction(10_000 - 3_030, 1) * 1000 / 102
    assert impact.ask == (101 * 30_000 + 102 * ask_qty_second) / (30_000 + ask_qty_second)


@pytest.mark.parametrize(("bids", "match"), [
    ([(100, 1), (101, 1)], "best-first"), ([(100, 0)], "qty"), ([(100, True)], "qty"),
    ([(0, 1)], "price_ticks"), ([(100,)], r"\(price_ticks, qty\)"), ([(1.5, 1)], "price_ticks"),
])
def test_impact_prices_reject_malformed_depth(bids, match):
    with pytest.raises(InvalidInputError, match=match):
        impact_prices(bids, [], 1, lambda p, q: q)


@pytest.mark.parametrize("notional", [0, -1, float("nan"), True, "10"])
def test_impact_prices_reject_a_bad_notional(notional):
    with pytest.raises(InvalidInputError, match="notional"):
        impact_prices(BIDS, ASKS, notional, lambda p, q: q)


# ------------------------------------------------------------------------------- OKEx MA
def test_okex_moving_average_basis_marks_index_plus_the_mean_mid_basis():
    ma = MovingAverageBasis(window=3)
    assert ma.mark_price(E(100)) == E(100)
    for ts, (bid, ask, index) in enumerate([(101, 103, 100), (100, 102, 100),
                                            (99, 101, 100), (104, 106, 100)]):
        ma.sample(ts, E(bid), E(ask), E(index))
    # last three mid - index: 1, 0, 5 (the first sample, 2, left the window)
    assert ma.basis == E(2)
    assert ma.mark_price(E(200)) == E(202)
    with pytest.raises(InvalidInputError, match="best_bid_e8"):
        ma.sample(10, E(102), E(101), E(100))
    assert len(ma.export_state()["samples"]) == 3


# --------------------------------------------------------------------- LastPriceProtected
def test_last_price_protected_follows_the_last_price_inside_the_band():
    lpp = LastPriceProtected(maint_margin=0.005)     # band: fair +/- 0.25%
    assert lpp.update(E(10_010), E(10_000)) == E(10_010)
    assert lpp.update(E(10_100), E(10_000)) == E(10_025)
    assert lpp.update(E(9_000), E(10_000)) == E(9_975)


def test_last_price_protected_moves_toward_a_moving_band_but_never_away():
    lpp = LastPriceProtected(maint_margin=0.005)
    assert lpp.update(E(10_025), E(10_000)) == E(10_025)
    # the band drops to [9,875.25, 9,924.75]: the mark is above it and may only come down
    assert lpp.update(E(10_050), E(9_900)) == E(10_025)
    assert lpp.update(E(9_950), E(9_900)) == E(9_950)
    assert lpp.update(E(9_000), E(9_900)) == E("9875.25")
