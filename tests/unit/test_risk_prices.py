"""Bankruptcy and liquidation prices: WE-17, WE-20, every contract type, variants V1-V3."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.errors import InvalidInputError
from perpex.instruments import ContractType, Instrument
from perpex.risk.prices import (
    LiquidationVariant,
    bankruptcy_price,
    liquidation_price,
    risk_prices,
    round_toward_entry,
)

V = LiquidationVariant


def value_exact(inst: Instrument, qty: int, price: Fraction) -> Fraction:
    if inst.contract_type is ContractType.INVERSE:
        return Fraction(inst.multiplier * qty) / price
    return inst.multiplier * qty * price


def isolated(inst: Instrument, qty: int, price: object, leverage: int) -> tuple[int, int]:
    cost = inst.exec_cost(qty, inst.price_to_ticks(price))  # type: ignore[arg-type]
    return cost, -(-abs(cost) // leverage)


@pytest.mark.parametrize(("qty", "bk", "liq", "bk_exact", "liq_exact"), [
    (100, "9901.0", "9950.5", Fraction(10**6, 101), Fraction(2 * 10**6, 201)),
    (-100, "10101.0", "10050.0", Fraction(10**6, 99), Fraction(2 * 10**6, 199)),
])
def test_we17_inverse_isolated_100x_prices_round_toward_the_entry(qty, bk, liq, bk_exact, liq_exact):
    inst = presets.XBTUSD()
    cost, collateral = isolated(inst, qty, 10_000, 100)
    prices = risk_prices(inst, qty, cost, collateral, 0.005)
    assert (prices.bankruptcy, prices.liquidation) == (bk_exact, liq_exact)
    assert inst.ticks_to_price(prices.bankruptcy_ticks) == Decimal(bk)
    assert inst.ticks_to_price(prices.liquidation_ticks) == Decimal(liq)


def test_a_1x_inverse_short_never_goes_bankrupt():
    inst = presets.XBTUSD()
    cost, collateral = isolated(inst, -100, 10_000, 1)
    assert bankruptcy_price(inst, -100, cost, collateral) is None
    # §3.1: Liq = E*L / (L*(1+m) - 1) = 10,000 / 0.005 even though it is never bankrupt
    assert liquidation_price(inst, -100, cost, collateral, 0.005) == 2_000_000


def test_a_fully_collateralised_linear_long_never_goes_bankrupt():
    inst = presets.XBTUSDT()
    cost = inst.exec_cost(1_000, inst.price_to_ticks(10_000))
    assert bankruptcy_price(inst, 1_000, cost, cost) is None
    assert bankruptcy_price(inst, 1_000, cost, cost - 1) == Fraction(1, 1_000)


@pytest.mark.parametrize(("name", "qty", "price", "leverage"), [
    ("XBTUSD", 1_000, 10_000, 25), ("XBTUSD", -1_000, 10_000, 25),
    ("ETHUSD", 500, 200, 10), ("ETHUSD", -500, 200, 10),
    ("XBTUSDT", 5_000, 9_000, 50), ("XBTUSDT", -5_000, 9_000, 50),
])
def test_derived_isolated_prices_solve_their_defining_equations_on_every_contract_type(name, qty, price, leverage):
    inst = getattr(presets, name)()
    cost, collateral = isolated(inst, qty, price, leverage)
    mm = inst.maint_rate(0)
    mm_amount = -(-abs(cost) * Fraction(repr(mm)) // 1)
    prices = risk_prices(inst, qty, cost, collateral, mm)
    assert collateral + value_exact(inst, qty, prices.bankruptcy) - cost == 0
    assert collateral + value_exact(inst, qty, prices.liquidation) - cost == mm_amount
    entry = inst.exact_entry_price(qty, cost)
    side = 1 if qty > 0 else -1
    assert side * (entry - prices.liquidation) > 0 and side * (prices.liquidation - prices.bankruptcy) > 0
    assert round_toward_entry(inst, qty, prices.liquidation) == prices.liquidation_ticks


@pytest.mark.parametrize(("name", "qty", "price"), [
    ("XBTUSD", 1_000, 10_000), ("XBTUSD", -1_000, 10_000), ("ETHUSD", 500, 200),
    ("ETHUSD", -500, 200), ("XBTUSDT", 5_000, 9_000), ("XBTUSDT", -5_000, 9_000),
])
def test_cross_collateral_is_position_margin_plus_available_balance(name, qty, price):
    inst = getattr(presets, name)()
    cost, init = isolated(inst, qty, price, 100)
    available = abs(cost) // 5  # the rest of the wallet backs the position in cross
    cross = risk_prices(inst, qty, cost, init + available, inst.maint_rate(0))
    iso = risk_prices(inst, qty, cost, init, inst.maint_rate(0))
    side = 1 if qty > 0 else -1
    assert side * (iso.liquidation - cross.liquidation) > 0  # more collateral -> further away
    assert init + available + value_exact(inst, qty, cross.bankruptcy) - cost == 0


def test_recommended_rule_reserves_funding_only_for_the_paying_side():
    inst = presets.XBTUSD()
    cost, collateral = isolated(inst, 100, 10_000, 100)
    plain = liquidation_price(inst, 100, cost, collateral, 0.005)
    paying = liquidation_price(inst, 100, cost, collateral, 0.005, funding_rate=0.0001)
    receiving = liquidation_price(inst, 100, cost, collateral, 0.005, funding_rate=-0.0001)
    assert receiving == plain < paying
    f = Fraction(1, 10_000)
    v = value_exact(inst, 100, paying)
    assert collateral + v - cost == 5_000 + f * abs(v)
    short_cost, short_coll = isolated(inst, -100, 10_000, 100)
    assert liquidation_price(inst, -100, short_cost, short_coll, 0.005, funding_rate=-0.0001) < \
        liquidation_price(inst, -100, short_cost, short_coll, 0.005)


def test_v1_adds_the_exit_fee_to_maintenance_only_so_a_long_liquidates_earlier():
    inst = presets.XBTUSD()
    cost, collateral = isolated(inst, 100, 10_000, 100)
    rec = liquidation_price(inst, 100, cost, collateral, 0.005)
    v1 = liquidation_price(inst, 100, cost, collateral, 0.005, variant=V.V1)
    # MM 5,000 plus the unrounded exit fee 0.075% x 1,010,000 = 757.5 at the bankruptcy price
    assert v1 == Fraction(10**10) / (1_005_000 - Fraction(1515, 2))
    assert v1 > rec


def test_v2_uses_the_staff_formula_with_both_fees_and_funding():
    inst = presets.XBTUSD()
    cost, collateral = isolated(inst, 100, 10_000, 100)
    f = 0.0001
    im = Fraction(1, 100) + 2 * Fraction(75, 100_000)
    mm = Fraction(5, 1000) + Fraction(75, 100_000) + Fraction(1, 10_000)
    assert liquidation_price(inst, 100, cost, collateral, 0.005, funding_rate=f, variant=V.V2) == \
        10_000 / (1 + im - mm)
    assert liquidation_price(inst, -100, -cost, collateral, 0.005, funding_rate=f, variant=V.V2) == \
        10_000 / (1 - im + mm)
    assert inst.ticks_to_price(risk_prices(inst, 100, cost, collateral, 0.005, funding_rate=f,
                                           variant=V.V2).liquidation_ticks) == Decimal("9944.0")


def test_v3_has_its_own_bankruptcy_price_and_an_additive_liquidation_offset():
    inst = presets.XBTUSD()
    cost, collateral = isolated(inst, 100, 10_000, 100)
    im = Fraction(1, 100) - 2 * Fraction(75, 100_000)
    bk = Fraction(10_000) / (1 + im)
    prices = risk_prices(inst, 100, cost, collateral, 0.005, funding_rate=0.0001, variant=V.V3)
    assert prices.bankruptcy == bk
    assert prices.liquidation == bk + 10_000 * (Fraction(5, 1000) - Fraction(75, 100_000) + Fraction(1, 10_000))
    assert inst.ticks_to_price(prices.bankruptcy_ticks) == Decimal("9916.0")
    short = risk_prices(inst, -100, -cost, collateral, 0.005, funding_rate=0.0001, variant=V.V3)
    assert short.bankruptcy == Fraction(10_000) / (1 - im)
    assert short.liquidation == short.bankruptcy - 10_000 * (Fraction(5, 1000) - Fraction(75, 100_000) - Fraction(1, 10_000))


@pytest.mark.parametrize("variant", list(V))
def test_every_variant_works_on_linear_contracts(variant):
    inst = presets.XBTUSDT()
    cost, collateral = isolated(inst, 5_000, 9_000, 20)
    long = risk_prices(inst, 5_000, cost, collateral, 0.005, variant=variant)
    short = risk_prices(inst, -5_000, -cost, collateral, 0.005, variant=variant)
    assert long.bankruptcy < long.liquidation < 9_000 < short.liquidation < short.bankruptcy
    assert long.liquidation_ticks is not None and short.liquidation_ticks is not None


def test_invalid_positions_are_rejected():
    inst = presets.XBTUSD()
    with pytest.raises(InvalidInputError, match="qty"):
        risk_prices(inst, 0, 0, 1, 0.005)
    with pytest.raises(InvalidInputError, match="collateral"):
        risk_prices(inst, 1, -10_000, -1, 0.005)
    with pytest.raises(TypeError, match="collateral"):
        risk_prices(inst, 1, -10_000, 1.0, 0.005)
    with pytest.raises(TypeError, match="variant"):
        liquidation_price(inst, 1, -10_000, 100, 0.005, variant="v1")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["XBTUSD", "ETHUSD", "XBTUSDT"]), st.integers(1, 10**6),
       st.booleans(), st.integers(200, 200_000), st.integers(1, 100))
def test_rounded_prices_are_never_beyond_the_exact_ones_away_from_entry(name, n, is_long, price_ticks, lev):
    inst = getattr(presets, name)(lot_size=1)
    qty = n if is_long else -n
    cost = inst.exec_cost(qty, price_ticks)
    collateral = -(-abs(cost) // lev)
    prices = risk_prices(inst, qty, cost, collateral, inst.maint_rate(0))
    tick = Fraction(inst.tick_size)
    for exact, ticks in ((prices.bankruptcy, prices.bankruptcy_ticks), (prices.liquidation, prices.liquidation_ticks)):
        if exact is None or ticks is None:
            continue
        rounded = ticks * tick
        assert abs(rounded - exact) < tick
        assert (rounded >= exact) if is_long else (rounded <= exact)
