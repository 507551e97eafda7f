"""Liquidation policy (WE-17, WE-36, §2.4, §7) and insurance-fund accounting (§8.1)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.errors import InsufficientFundsError, InvalidConfigError
from perpex.instruments import Tier, TierTable
from perpex.risk.insurance import InsuranceFund, clawback_ratio, clawback_shares, surplus
from perpex.risk.liquidation import (
    Action,
    HuobiTier,
    LiquidationConfig,
    RiskMode,
    RiskPosition,
    assess,
)
from perpex.risk.prices import LiquidationVariant

E8 = 10**8
BITMEX = LiquidationConfig()


def e8(price: str) -> int:
    return int(Fraction(price) * E8)


def isolated(qty: int, price: int, leverage: int, **kw: object) -> RiskPosition:
    inst = presets.XBTUSD()
    cost = inst.exec_cost(qty, inst.price_to_ticks(price))
    return RiskPosition(inst, qty, cost, -(-abs(cost) // leverage), leverage=float(leverage), **kw)


def table(*rows: tuple[int, int, float]) -> TierTable:
    return TierTable(tuple(Tier(i, lo, hi, mmr, 1 / mmr) for i, (lo, hi, mmr) in enumerate(rows, 1)))


# ---- BitMEX ---------------------------------------------------------------------------------

def test_we17_long_is_liquidated_once_the_mark_reaches_9950_5_and_not_before():
    pos = isolated(100, 10_000, 100)
    assert not assess(pos, e8("9951"), BITMEX).liquidate
    assert not assess(pos, e8("9950.75"), BITMEX).liquidate
    verdict = assess(pos, e8("9950.5"), BITMEX)
    assert verdict.liquidate and verdict.liquidation_ticks == 19_901
    # lowest risk limit: the engine takes the whole position over at the bankruptcy price 9,901.0
    assert verdict.action is Action.FULL
    order = verdict.order
    assert order is not None
    assert (order.side, order.qty, order.price_ticks, order.takeover) == ("Sell", 100, 19_802, True)


def test_we17_short_is_liquidated_at_10050_and_taken_over_at_10101():
    pos = isolated(-100, 10_000, 100)
    assert not assess(pos, e8("10049.5"), BITMEX).liquidate
    verdict = assess(pos, e8("10050"), BITMEX)
    assert verdict.order is not None
    assert (verdict.order.side, verdict.order.qty, verdict.order.price_ticks) == ("Buy", 100, 20_202)


def test_the_funding_reserve_moves_the_paying_longs_trigger_closer_to_the_entry():
    # F = 0.1% reserved on the mark value: the long is liquidated at 9,960 where it was not before
    assert not assess(isolated(100, 10_000, 100), e8("9960"), BITMEX).liquidate
    assert assess(isolated(100, 10_000, 100, funding_rate=0.001), e8("9960"), BITMEX).liquidate
    # the receiving short keeps its fee-free trigger
    assert not assess(isolated(-100, 10_000, 100, funding_rate=0.001), e8("10049.5"), BITMEX).liquidate


def test_variant_v1_liquidates_the_long_earlier_than_the_recommended_rule():
    v1 = LiquidationConfig(variant=LiquidationVariant.V1)
    pos = isolated(100, 10_000, 100)
    assert assess(pos, e8("9955"), v1).liquidate and not assess(pos, e8("9955"), BITMEX).liquidate


def test_bitmex_partial_liquidation_steps_the_risk_limit_down_with_a_fill_or_kill():
    # 3,000,000 contracts @ 10,000 = 300 XBT -> one step above the 200 XBT base (MM 1%);
    # 50x: Liq(MM 1%) = 10,000/1.01 = 9,900.99, Liq(MM 0.5%) = 10,000/1.015 = 9,852.2
    pos = isolated(3_000_000, 10_000, 50)
    assert not assess(pos, e8("9901.5"), BITMEX).liquidate
    verdict = assess(pos, e8("9900"), BITMEX)
    assert (verdict.action, verdict.current_tier, verdict.target_tier) == (Action.PARTIAL, 1, 0)
    assert verdict.keep_qty == 2_000_000
    assert verdict.order is not None
    assert (verdict.order.qty, verdict.order.time_in_force, verdict.order.takeover) == (
        1_000_000, "FillOrKill", False)
    # beyond the base limit's liquidation price too: the whole position is taken over
    assert assess(pos, e8("9850"), BITMEX).action is Action.FULL


@settings(max_examples=150, deadline=None)
@given(qty=st.integers(100_000, 9_000_000), side=st.sampled_from([1, -1]),
       leverage=st.integers(2, 60), move=st.integers(-600, 600))
def test_partial_bitmex_plans_never_leave_the_position_above_the_target_limit(qty, side, leverage, move):
    inst = presets.XBTUSD()
    pos = isolated(side * qty, 10_000, leverage)
    verdict = assess(pos, e8("10000") + move * E8, BITMEX)
    if verdict.action is not Action.PARTIAL:
        return
    assert verdict.target_tier is not None and verdict.target_tier < verdict.current_tier
    kept_cost = abs(pos.cost) * verdict.keep_qty / qty
    assert kept_cost <= inst.risk_limit_for_steps(verdict.target_tier) + 1
    assert verdict.order is not None and verdict.order.qty + verdict.keep_qty == qty
    kept = RiskPosition(inst, side * verdict.keep_qty, round(pos.cost * verdict.keep_qty / qty),
                        pos.collateral * verdict.keep_qty // qty, leverage=pos.leverage,
                        risk_steps=verdict.target_tier)
    assert not assess(kept, e8("10000") + move * E8, BITMEX).liquidate


# ---- OKEx -----------------------------------------------------------------------------------

# WE-36's seed schedule: Lv2 ends at 9,999 and 50,000 contracts sit in Lv4 (MMR 2%)
SEED_TIERS = table((0, 4_999, 0.005), (5_000, 9_999, 0.01), (10_000, 29_999, 0.015),
                   (30_000, 59_999, 0.02))
# O4's swap example: tier 1 ends at 2,000, 15,000 contracts sit in tier 3 (MMR 2%)
O4_TIERS = table((0, 2_000, 0.01), (2_001, 9_999, 0.015), (10_000, 19_999, 0.02))


def okex_long(qty: int, ratio: Fraction) -> RiskPosition:
    inst = presets.XBTUSD()
    cost = inst.exec_cost(qty, inst.price_to_ticks(10_000))
    return RiskPosition(inst, qty, cost, int(abs(cost) * ratio))


def test_we36_okex_cuts_two_tiers_50000_at_lv4_closes_40001_and_keeps_9999():
    config = LiquidationConfig(mode=RiskMode.OKEX, tiers=SEED_TIERS)
    # margin ratio 1.5% at a mark equal to the entry: below 2% + 0.075%, above 1% + 0.075%
    verdict = assess(okex_long(50_000, Fraction(15, 1000)), e8("10000"), config)
    assert verdict.margin_ratio == Fraction(15, 1000)
    assert verdict.requirement == Fraction(2075, 100_000)
    assert (verdict.action, verdict.current_tier, verdict.target_tier) == (Action.PARTIAL, 4, 2)
    assert verdict.order is not None
    assert (verdict.order.qty, verdict.keep_qty) == (40_001, 9_999)
    # priced one tick better than the bankruptcy price: 5e12 / 507,500,000 = 9,852.2 -> 9,852.5
    assert verdict.order.price_ticks == 19_705 + 1


def test_we36_okex_to_tier1_closes_13000_of_15000():
    config = LiquidationConfig(mode=RiskMode.OKEX, tiers=O4_TIERS, to_tier1=True)
    verdict = assess(okex_long(15_000, Fraction(15, 1000)), e8("10000"), config)
    assert verdict.order is not None and (verdict.order.qty, verdict.keep_qty) == (13_000, 2_000)
    seed = LiquidationConfig(mode=RiskMode.OKEX, tiers=SEED_TIERS, to_tier1=True)
    assert assess(okex_long(50_000, Fraction(15, 1000)), e8("10000"), seed).keep_qty == 4_999


def test_okex_takes_over_below_tier1s_requirement_and_leaves_a_healthy_ratio_alone():
    config = LiquidationConfig(mode=RiskMode.OKEX, tiers=SEED_TIERS)
    assert assess(okex_long(50_000, Fraction(5, 1000)), e8("10000"), config).action is Action.FULL
    assert not assess(okex_long(50_000, Fraction(21, 1000)), e8("10000"), config).liquidate
    assert assess(okex_long(9_000, Fraction(1, 100)), e8("10000"), config).action is Action.FULL


@settings(max_examples=150, deadline=None)
@given(qty=st.integers(1, 59_999), permille=st.integers(1, 40), to_tier1=st.booleans())
def test_partial_okex_plans_keep_the_position_inside_a_tier_that_meets_its_requirement(qty, permille, to_tier1):
    config = LiquidationConfig(mode=RiskMode.OKEX, tiers=SEED_TIERS, to_tier1=to_tier1)
    verdict = assess(okex_long(qty, Fraction(permille, 1000)), e8("10000"), config)
    if verdict.action is Action.PARTIAL:
        target = SEED_TIERS.tiers[verdict.target_tier - 1]
        assert verdict.keep_qty <= target.max_contracts
        assert verdict.margin_ratio >= Fraction(repr(target.mmr)) + Fraction(75, 100_000)


# ---- Huobi ----------------------------------------------------------------------------------

HUOBI = LiquidationConfig(mode=RiskMode.HUOBI)


def test_huobi_margin_ratio_subtracts_the_adjustment_factor_and_liquidates_at_zero():
    # 10x with factor 8% (H1): long 1,000 @ 10,000, collateral 0.01 XBT
    pos = isolated(1_000, 10_000, 10)
    assert assess(pos, e8("10000"), HUOBI).margin_ratio == Fraction(92, 100)
    # 9,164: value 1,000 x round(1e8/9164) = 10,912,000; equity 88,000; 88,000 x 10 / 10,912,000 = 8.06%
    assert not assess(pos, e8("9164"), HUOBI).liquidate
    # 9,163: value 10,913,000; equity 87,000 -> 7.97% - 8% < 0
    verdict = assess(pos, e8("9163"), HUOBI)
    assert verdict.liquidate and verdict.action is Action.FULL
    assert verdict.margin_ratio == Fraction(870_000, 10_913_000) - Fraction(8, 100)


def test_huobi_cuts_a_tier2_position_to_the_tier1_net_limit():
    config = LiquidationConfig(mode=RiskMode.HUOBI, huobi_tiers=(
        HuobiTier(500, {10: 0.08}), HuobiTier(2_000, {10: 0.10})))
    verdict = assess(isolated(1_000, 10_000, 10), e8("9164"), config)
    assert (verdict.action, verdict.current_tier, verdict.target_tier) == (Action.PARTIAL, 2, 1)
    assert verdict.order is not None and (verdict.order.qty, verdict.keep_qty) == (500, 500)


# ---- configuration --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(to_tier1=True),
    dict(clawback=True, mode=RiskMode.HUOBI),
    dict(mode=RiskMode.OKEX, variant=LiquidationVariant.V2),
    dict(liquidation_fee_rate=-0.001),
    dict(price_offset_ticks=-1),
    dict(mode="okex"),
    dict(huobi_tiers=()),
    dict(huobi_tiers=(HuobiTier(500, {10: 0.08}), HuobiTier(400, {10: 0.1}))),
    dict(huobi_tiers=(HuobiTier(500, {10: 0.08}), HuobiTier(900, {10: 0.05}))),
])
def test_impossible_liquidation_configs_raise_invalid_config(kwargs):
    with pytest.raises(InvalidConfigError):
        LiquidationConfig(**kwargs)


def test_a_huobi_factor_outside_zero_and_one_is_an_invalid_config():
    with pytest.raises(InvalidConfigError):
        HuobiTier(100, {10: 1.5})


# ---- insurance fund -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "side", "qty", "bk", "fill", "expected"), [
    # inverse long (Sell) bk 9,901: 1e8/9,950 -> 10,050 vs 10,100 per contract
    ("XBTUSD", "Sell", 100, "9901", "9950", 5_000),
    ("XBTUSD", "Sell", 100, "9901", "9850", -5_200),   # 1e8/9,850 -> 10,152
    # inverse short (Buy) bk 10,101: 1e8/10,050 -> 9,950 vs 9,900
    ("XBTUSD", "Buy", 100, "10101", "10050", 5_000),
    ("XBTUSD", "Buy", 100, "10101", "10150", -4_800),  # 1e8/10,150 -> 9,852
    # linear, 1 USDt per contract per USD
    ("XBTUSDT", "Sell", 1_000, "500", "510", 10_000),
    ("XBTUSDT", "Sell", 1_000, "500", "490", -10_000),
    ("XBTUSDT", "Buy", 1_000, "520", "510", 10_000),
    ("XBTUSDT", "Buy", 1_000, "520", "530", -10_000),
])
def test_insurance_surplus_is_positive_only_when_the_fill_beats_the_bankruptcy_price(
        name, side, qty, bk, fill, expected):
    inst = getattr(presets, name)()
    assert surplus(qty, inst.price_to_ticks(int(fill)), inst.price_to_ticks(int(bk)), inst, side) == expected


def test_the_fund_never_goes_negative_and_returns_the_shortfall_for_adl():
    fund = InsuranceFund(10_000)
    assert fund.absorb(2_500) == 0 and fund.balance == 12_500
    assert fund.can_cover(12_500) and not fund.can_cover(12_501)
    assert fund.absorb(-20_000) == 7_500 and fund.balance == 0
    with pytest.raises(InsufficientFundsError):
        fund.debit(1)
    assert fund.export_state() == {"balance": 0}


def test_okex_clawback_splits_the_deficit_exactly_over_profitable_accounts():
    assert clawback_ratio(1_000, 400, 3_000) == Fraction(1, 5)
    assert clawback_ratio(1_000, 1_000, 3_000) == 0
    shares = clawback_shares({3: 1, 1: 1, 2: 1}, 2)
    assert shares == {1: 1, 2: 1, 3: 0} and sum(shares.values()) == 2
