"""The integer fast path for liquidation ticks equals the exact Fraction solution."""

from __future__ import annotations

from hypothesis import given, strategies as st

from perpex import presets
from perpex.risk.prices import LiquidationVariant, liquidation_ticks, risk_prices

INSTRUMENTS = [presets.XBTUSD(), presets.ETHUSD(), presets.XBTUSDT()]


@given(inst=st.sampled_from(INSTRUMENTS), qty=st.integers(-10**6, 10**6).filter(bool),
       price_ticks=st.integers(100, 10**6), lev=st.sampled_from([1, 2, 5, 10, 25, 50, 100]),
       extra=st.integers(0, 10**8), mm=st.sampled_from([0.0, 0.004, 0.005, 0.01, 0.035]),
       funding=st.sampled_from([0.0, 0.0001, -0.0001, 0.00375, -0.00375, 0.02]))
def test_integer_liquidation_ticks_equal_the_exact_solution(inst, qty, price_ticks, lev, extra,
                                                              mm, funding) -> None:
    lots = qty * inst.lot_size
    cost = inst.exec_cost(lots, price_ticks)
    if cost == 0:
        return
    collateral = -(-abs(cost) // lev) + extra
    exact = risk_prices(inst, lots, cost, collateral, mm, funding_rate=funding,
                        variant=LiquidationVariant.RECOMMENDED).liquidation_ticks
    assert liquidation_ticks(inst, lots, cost, collateral, mm, funding_rate=funding) == exact


def test_we17_liquidation_ticks_for_the_100x_long_and_short() -> None:
    inst = presets.XBTUSD()
    for qty, expected in ((10_000, 19_901), (-10_000, 20_100)):  # 9,950.5 and 10,050.0
        cost = inst.exec_cost(qty, 20_000)
        collateral = -(-abs(cost) // 100)
        assert liquidation_ticks(inst, qty, cost, collateral, 0.005) == expected
