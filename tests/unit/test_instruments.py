"""Contract specs: value, exec cost, PnL, average entry, fees, risk-limit steps, tiers, presets."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.errors import (
    ArithmeticOverflowError,
    InvalidConfigError,
    InvalidInputError,
    InvalidPriceError,
    InvalidQuantityError,
)
from perpex.instruments import E8, ContractType, Instrument
from perpex.rounding import Rounding, apply_rate

XBT = 100_000_000


@pytest.fixture
def xbtusd() -> Instrument:
    return presets.XBTUSD()


def ticks(inst: Instrument, price: object) -> int:
    return inst.price_to_ticks(price)  # type: ignore[arg-type]


# ---- WE-1, WE-3: inverse value with per-contract satoshi rounding ----------------------

def test_we1_buying_15000_xbtusd_at_750_costs_20_xbt_textbook_and_per_contract_rounded(xbtusd):
    cost = xbtusd.exec_cost(15_000, ticks(xbtusd, 750))
    assert cost == -1_999_995_000  # WE-3: round(1e8/750) = 133,333 per contract
    assert abs(cost - (-20 * XBT)) == 5_000  # WE-1's 20 XBT before satoshi rounding


def test_we3_closing_at_800_realises_124_995_000_satoshi_not_the_textbook_1_25_xbt(xbtusd):
    entry = xbtusd.exec_cost(15_000, ticks(xbtusd, 750))
    assert xbtusd.value(15_000, ticks(xbtusd, 800)) == -1_875_000_000
    assert xbtusd.pnl(15_000, entry, ticks(xbtusd, 800)) == 124_995_000


def test_we2_funding_of_a_quarter_percent_on_20_xbt_is_0_05_xbt(xbtusd):
    # WE-2: the long pays 20 XBT x 0.25% = 0.05 XBT (funding = mark value x rate).
    value = xbtusd.mark_value(15_000, 750 * E8)
    assert value == -1_999_995_000
    assert apply_rate(abs(value), 0.0025, Rounding.HALF_AWAY) == 4_999_988  # 4,999,987.5
    assert apply_rate(20 * XBT, 0.0025, Rounding.HALF_AWAY) == 5_000_000


def test_deleverage_evidence_2000_at_1160_72_gives_exec_cost_172_306_000_and_comm_43_077():
    inst = presets.XBTUSD(tick_size=Decimal("0.01"))
    exec_cost = inst.exec_cost(-2_000, ticks(inst, Decimal("1160.72")))
    assert exec_cost == 172_306_000  # per-contract rounding; whole-order would give 172,306,844
    assert inst.fee(exec_cost, inst.maker_fee) == -43_077


def test_inverse_long_value_is_negative_and_short_positive(xbtusd):
    assert xbtusd.value(1, ticks(xbtusd, 10_000)) == -10_000
    assert xbtusd.value(-1, ticks(xbtusd, 10_000)) == 10_000


# ---- WE-4, WE-5: UPnL on mark, RPnL on fills -------------------------------------------

def test_we4_unrealised_pnl_uses_mark_and_realised_uses_the_fill_price(xbtusd):
    cost = xbtusd.exec_cost(1_000, ticks(xbtusd, 1_000))
    assert cost == -100_000_000
    assert xbtusd.unrealised_pnl(1_000, cost, 1_250 * E8) == 20_000_000  # 0.20 XBT at mark
    half = cost // 2
    assert xbtusd.pnl(500, half, ticks(xbtusd, 1_500)) == 16_666_500  # 0.16667 XBT (per-contract)
    assert xbtusd.pnl(500, half, ticks(xbtusd, 1_250)) == 10_000_000  # 0.10 XBT at 1,250


def test_we5_seed_long_1000_at_9000_marked_at_10000_gains_0_0111111_xbt_not_100_btc(xbtusd):
    cost = xbtusd.exec_cost(1_000, ticks(xbtusd, 9_000))
    assert cost == -11_111_000
    assert xbtusd.mark_value(1_000, 10_000 * E8) == -10_000_000  # contract value 0.1 XBT
    assert xbtusd.unrealised_pnl(1_000, cost, 10_000 * E8) == 1_111_000


# ---- WE-6: average entry price ---------------------------------------------------------

def test_we6_average_entry_of_two_longs_floors_the_satoshi_price_to_9762(xbtusd):
    c1 = xbtusd.exec_cost(100, ticks(xbtusd, 10_000))
    c2 = xbtusd.exec_cost(100, ticks(xbtusd, 10_500))
    assert (c1, c2) == (-1_000_000, -952_400)
    avg = xbtusd.avg_entry_price(200, c1 + c2)
    assert avg.unit_cost == 9_762
    assert avg.price == Decimal("10243.8025")


def test_average_entry_floors_for_longs_and_rounds_for_shorts(xbtusd):
    # 1,000,001 satoshi over 2 contracts = 500,000.5 per contract
    assert xbtusd.avg_entry_price(2, -1_000_001).unit_cost == 500_000
    assert xbtusd.avg_entry_price(-2, 1_000_001).unit_cost == 500_001
    assert xbtusd.avg_entry_price(-2, 1_000_001).price == Decimal("199.9996")


def test_average_entry_of_linear_and_quanto_is_the_arithmetic_mean():
    eth = presets.ETHUSD()
    cost = eth.exec_cost(10, ticks(eth, 500)) + eth.exec_cost(30, ticks(eth, Decimal("600.05")))
    assert eth.avg_entry_price(40, cost).price == Decimal("575.0375")
    usdt = presets.XBTUSDT()
    assert usdt.avg_entry_price(-2_000, usdt.exec_cost(-2_000, ticks(usdt, 10_000.5))).price == Decimal("10000.5")


def test_average_entry_rejects_a_cost_of_the_wrong_sign(xbtusd):
    with pytest.raises(InvalidInputError, match="sign"):
        xbtusd.avg_entry_price(10, 1_000)
    with pytest.raises(InvalidQuantityError):
        xbtusd.avg_entry_price(0, 1_000)


# ---- WE-8: quanto ----------------------------------------------------------------------

def test_we8_quanto_short_100000_ethusd_at_500_is_minus_50_xbt_and_loses_25_xbt_at_750():
    eth = presets.ETHUSD()
    cost = eth.exec_cost(-100_000, ticks(eth, 500))
    assert cost == -50 * XBT
    assert eth.pnl(-100_000, cost, ticks(eth, 750)) == -25 * XBT
    assert eth.unrealised_pnl(-100_000, cost, 750 * E8) == -25 * XBT


def test_linear_usdt_value_is_contracts_times_multiplier_times_price():
    usdt = presets.XBTUSDT()
    assert usdt.exec_cost(1_000, ticks(usdt, 10_000.5)) == 10_000_500  # 0.001 XBT = 10.0005 USDT
    assert usdt.value(-3_000, ticks(usdt, 20_000)) == -60_000_000


def test_linear_value_rounds_the_whole_fill_half_away_and_symmetrically():
    inst = presets.XBTUSDT(lot_size=1)
    assert inst.value(1, ticks(inst, 10_000.5)) == 10_001  # 10,000.5 USDt -> half away
    assert inst.value(-1, ticks(inst, 10_000.5)) == -10_001
    assert inst.value(3, ticks(inst, 10_000.5)) == 30_002  # 30,001.5 -> 30,002, not 3 x 10,001


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=10**7), st.integers(min_value=1, max_value=2_000_000),
       st.sampled_from(["XBTUSD", "ETHUSD", "XBTUSDT"]))
def test_buyer_and_seller_exec_costs_are_exact_negatives(qty, price_ticks, name):
    inst = getattr(presets, name)(lot_size=1)
    price_ticks = min(price_ticks, inst.max_price_ticks)
    assert inst.exec_cost(qty, price_ticks) == -inst.exec_cost(-qty, price_ticks)
    assert inst.mark_value(qty, inst.ticks_to_e8(price_ticks)) == inst.value(qty, price_ticks)


# ---- e8 prices -------------------------------------------------------------------------

def test_ticks_and_e8_prices_convert_with_floor_and_ceil(xbtusd):
    assert xbtusd.ticks_to_e8(20_001) == 1_000_050_000_000
    assert xbtusd.e8_to_ticks_floor(1_000_075_000_000) == 20_001  # 10000.75 -> 10000.5
    assert xbtusd.e8_to_ticks_ceil(1_000_075_000_000) == 20_002  # -> 10001.0
    assert xbtusd.e8_to_ticks_ceil(1_000_050_000_000) == 20_001
    assert presets.ETHUSD().e8_per_tick == 5_000_000


# ---- fees (§9.5) -----------------------------------------------------------------------

def test_fee_is_absolute_exec_cost_times_rate_and_a_rebate_is_negative(xbtusd):
    assert xbtusd.fee(-1_999_995_000, xbtusd.taker_fee) == 1_499_996  # 1,499,996.25
    assert xbtusd.fee(1_999_995_000, xbtusd.maker_fee) == -499_999  # -499,998.75
    assert xbtusd.fee(0, xbtusd.taker_fee) == 0


# ---- WE-14: risk-limit steps -----------------------------------------------------------

@pytest.mark.parametrize(("steps", "mm", "im", "lev"), [
    (0, 0.005, 0.01, 100.0), (1, 0.01, 0.015, 200 / 3), (2, 0.015, 0.02, 50.0), (3, 0.02, 0.025, 40.0),
])
def test_we14_risk_limit_table_steps_mm_and_im_by_half_a_percent(xbtusd, steps, mm, im, lev):
    assert xbtusd.maint_rate(steps) == mm
    assert xbtusd.init_rate(steps) == im
    assert xbtusd.max_leverage(steps) == pytest.approx(lev, rel=1e-15)


def test_we14_a_300_xbt_position_needs_one_step_and_3_xbt_maintenance(xbtusd):
    steps = xbtusd.risk_steps(300 * XBT)
    assert steps == 1
    assert apply_rate(300 * XBT, xbtusd.maint_rate(steps), Rounding.CEIL) == 3 * XBT


def test_risk_steps_start_one_satoshi_above_the_base_limit(xbtusd):
    assert xbtusd.risk_steps(200 * XBT) == 0
    assert xbtusd.risk_steps(-(200 * XBT)) == 0
    assert xbtusd.risk_steps(200 * XBT + 1) == 1
    assert xbtusd.risk_steps(0) == 0
    assert xbtusd.risk_steps(400 * XBT + 1) == 3


def test_risk_limit_and_steps_convert_both_ways(xbtusd):
    assert xbtusd.risk_limit_for_steps(2) == 400 * XBT
    assert xbtusd.steps_for_risk_limit(400 * XBT) == 2
    with pytest.raises(InvalidInputError, match="risk_limit"):
        xbtusd.steps_for_risk_limit(250 * XBT)
    with pytest.raises(InvalidInputError, match="steps"):
        xbtusd.maint_rate(-1)
    with pytest.raises(TypeError):
        xbtusd.maint_rate(True)


def test_funding_cap_is_three_quarters_of_im_minus_mm(xbtusd):
    assert xbtusd.funding_rate_cap == 0.00375


# ---- price / qty validation on the instrument -------------------------------------------

def test_price_above_max_price_raises_overflow_naming_the_limit(xbtusd):
    assert xbtusd.price_to_ticks(1_000_000) == 2_000_000
    with pytest.raises(ArithmeticOverflowError, match="1000000"):
        xbtusd.price_to_ticks(1_000_000.5)


def test_check_qty_enforces_type_sign_lot_and_maximum():
    usdt = presets.XBTUSDT()
    assert usdt.check_qty(2_000) == 2_000
    with pytest.raises(InvalidQuantityError, match="lot"):
        usdt.check_qty(1_500)
    with pytest.raises(InvalidQuantityError, match="qty"):
        usdt.check_qty(0)
    with pytest.raises(TypeError, match="qty"):
        usdt.check_qty(True)
    with pytest.raises(TypeError, match="qty"):
        usdt.check_qty(1000.0)
    with pytest.raises(ArithmeticOverflowError, match="notional"):
        usdt.check_qty(usdt.max_order_qty + 1_000)


def test_value_rejects_non_positive_prices(xbtusd):
    with pytest.raises(InvalidPriceError):
        xbtusd.value(1, 0)
    with pytest.raises(InvalidPriceError):
        xbtusd.mark_value(1, -5)


# ---- presets and config validation -----------------------------------------------------

def test_presets_match_decisions_2():
    x = presets.XBTUSD()
    assert (x.contract_type, x.multiplier, x.tick_size, x.lot_size) == (
        ContractType.INVERSE, -100_000_000, Decimal("0.5"), 1)
    assert (x.init_margin, x.maint_margin, x.risk_limit, x.risk_step) == (0.01, 0.005, 200 * XBT, 100 * XBT)
    assert (x.maker_fee, x.taker_fee, x.funding_interval_ms, x.funding_offset_ms) == (
        -0.00025, 0.00075, 8 * 3_600_000, 4 * 3_600_000)
    assert x.is_perpetual and x.price_scale == 1
    e = presets.ETHUSD()
    assert (e.contract_type, e.multiplier, e.tick_size, e.settle_currency) == (
        ContractType.QUANTO, 100, Decimal("0.05"), "XBt")
    u = presets.XBTUSDT()
    assert (u.contract_type, u.settle_currency, u.multiplier) == (ContractType.LINEAR, "USDt", 1)
    z = presets.XBTZ()
    assert not z.is_perpetual and z.funding_interval_ms is None
    assert (z.settlement_fee, z.expiry_ms, z.settlement_window_ms) == (0.0005, 1_577_448_000_000, 1_800_000)
    assert presets.XBTZ(expiry_ms=123).expiry_ms == 123


def test_presets_return_fresh_objects_and_accept_overrides():
    assert presets.XBTUSD() == presets.XBTUSD()
    assert presets.XBTUSD(maint_margin=0.004).maint_margin == 0.004
    with pytest.raises(TypeError, match="unknown"):
        presets.XBTUSD(tick=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        presets.XBTUSD().symbol = "X"  # type: ignore[misc]


@pytest.mark.parametrize(("override", "match"), [
    ({"multiplier": 100_000_000}, "multiplier"),
    ({"tick_size": Decimal(0)}, "tick_size"),
    ({"tick_size": Decimal("0.000000001")}, "1e-8"),
    ({"max_price": Decimal("1000000.25")}, "max_price"),
    ({"maint_margin": 0.02}, "maint_margin"),
    ({"init_margin": 0.0}, "init_margin"),
    ({"init_margin": float("nan")}, "init_margin"),
    ({"lot_size": 0}, "lot_size"),
    ({"risk_step": 0}, "risk_step"),
    ({"maker_fee": -0.001}, "maker_fee"),
    ({"funding_interval_ms": None}, "funding_interval_ms"),
    ({"funding_offset_ms": 8 * 3_600_000}, "funding_offset_ms"),
    ({"max_order_qty": 10**12}, "overflows"),
    ({"symbol": ""}, "symbol"),
])
def test_impossible_instrument_specs_raise_invalid_config_error(override, match):
    with pytest.raises(InvalidConfigError, match=match):
        presets.XBTUSD(**override)


def test_dated_future_must_not_have_a_funding_interval():
    with pytest.raises(InvalidConfigError, match="funding_interval_ms"):
        presets.XBTZ(funding_interval_ms=1000)


def test_wrong_field_types_raise_type_error():
    with pytest.raises(TypeError, match="multiplier"):
        presets.XBTUSD(multiplier=-1e8)
    with pytest.raises(TypeError, match="lot_size"):
        presets.XBTUSD(lot_size=True)
    with pytest.raises(TypeError, match="contract_type"):
        presets.XBTUSD(contract_type="inverse")


# ---- OKEx tiers (§2.3) -----------------------------------------------------------------

@pytest.mark.parametrize(("contracts", "number", "mmr", "lev"), [
    (0, 1, 0.005, 100.0), (999, 1, 0.005, 100.0), (1_000, 2, 0.01, 50.0), (9_999, 2, 0.01, 50.0),
    (15_000, 4, 0.02, 20.0), (50_000, 6, 0.03, 10.0), (-99_999, 7, 0.035, 9.0),
    (100_000, 8, 0.04, 9.0), (1_890_000, 187, 0.935, 1.0), (1_899_999, 187, 0.935, 1.0),
])
def test_okex_btc_swap_tiers_follow_the_o2_schedule(contracts, number, mmr, lev):
    tier = presets.OKEX_BTC_SWAP_TIERS.tier_for(contracts)
    assert (tier.number, tier.mmr, tier.max_leverage) == (number, mmr, lev)
    assert presets.OKEX_BTC_SWAP_TIERS.mmr(contracts) == mmr


def test_okex_tier_boundaries_for_the_partial_liquidation_examples():
    table = presets.OKEX_BTC_SWAP_TIERS
    assert table.tier_for(9_999).max_contracts == 9_999  # WE-36 keeps 9,999 (Lv2 maximum)
    assert table.tier_for(100_000).min_contracts == 100_000
    assert table.tier_for(109_999).max_contracts == 109_999
    with pytest.raises(InvalidQuantityError, match="contracts"):
        table.tier_for(1_900_000)


def test_huobi_adjustment_factor_gives_the_equivalent_mmr():
    factors = presets.HUOBI_BTC_ADJUSTMENT_FACTORS_2019
    assert factors[10] / 10 == pytest.approx(0.008)
    assert sorted(factors) == [5, 10, 20]


def test_ticks_to_price_is_cached_per_instrument_without_accepting_a_bool_for_a_cached_tick() -> None:
    import pickle

    inst = presets.XBTUSD()
    first = inst.ticks_to_price(1)
    assert inst.ticks_to_price(1) is first  # the cached Decimal
    with pytest.raises(TypeError):
        inst.ticks_to_price(True)  # equal to 1 as a key, still refused
    copy = pickle.loads(pickle.dumps(inst))
    assert copy == inst and copy._prices == {}  # snapshots carry the contract, not the cache
    assert copy.ticks_to_price(20_001) == Decimal("10000.5")


def test_price_to_ticks_is_cached_by_value_and_still_refuses_a_bool_or_a_str() -> None:
    """The cache is keyed by the price alone: an int, a float and a Decimal that compare
    equal are one number and share an entry; a bool or a str equal to nothing cached as a
    price is never looked up there, so it raises as without the cache."""
    from perpex import Exchange
    from perpex.errors import InvalidInputError

    inst = presets.XBTUSD()
    assert inst.price_to_ticks(10_000) == 20_000
    assert inst._ticks == {10_000: 20_000}
    assert inst.price_to_ticks(10_000.0) == inst.price_to_ticks(Decimal("10000.00")) == 20_000
    assert len(inst._ticks) == 1
    inst.price_to_ticks(1)
    with pytest.raises(TypeError):
        inst.price_to_ticks(True)  # type: ignore[arg-type]
    with pytest.raises((TypeError, InvalidPriceError)):
        inst.price_to_ticks("1")  # type: ignore[arg-type]
    # the order checks read the same cache first (perpex._front)
    ex = Exchange([presets.XBTUSD()])
    ex.deposit(1, 10**8, ts=1)
    ex.place(1, "XBTUSD", "Buy", 1, 1, ts=1)
    with pytest.raises((TypeError, InvalidInputError)):
        ex.place(1, "XBTUSD", "Buy", 1, True, ts=1)
    assert ex._inst["XBTUSD"]._ticks == {1: 2}
