"""Order margin, position margin, maintenance margin and available balance (MECHANICS §2, §3.2)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpex import presets
from perpex.accounts.margin import (
    OpenOrder,
    available_balance,
    commission_to_close,
    funding_reserve,
    is_liquidatable,
    maintenance_margin,
    order_margin,
    position_init_margin,
)
from perpex.errors import InvalidInputError, InvalidLeverageError, InvalidPriceError
from perpex.instruments import E8, ContractType, Instrument
from perpex.risk.prices import risk_prices

USDT = 1_000_000


def ethusdt(**kw) -> Instrument:
    """1 contract = 1 ETH, USDt-settled, fee-free: the instrument of BitMEX's Karen example."""
    spec = dict(symbol="ETHUSDT", contract_type=ContractType.LINEAR, underlying="ETH",
                quote_currency="USDT", settle_currency="USDt", multiplier=USDT,
                tick_size=Decimal("0.05"), lot_size=1, max_order_qty=1_000_000,
                max_price=Decimal("100000"), init_margin=0.02, maint_margin=0.01,
                risk_limit=10**9 * USDT, risk_step=10**8 * USDT, maker_fee=0.0, taker_fee=0.0)
    return Instrument(**{**spec, **kw})


# ---- WE-20 -----------------------------------------------------------------------------

def test_we20_cross_usdt_long_needs_400_im_200_mm_and_leaves_9600_available():
    inst = ethusdt()
    wallet = 10_000 * USDT
    cost = inst.exec_cost(20, inst.price_to_ticks(1_000))
    assert cost == 20_000 * USDT
    im = position_init_margin(cost, leverage=0.0, init_rate=inst.init_rate(0))
    assert im == 400 * USDT
    assert maintenance_margin(cost, inst.maint_rate(0)) == 200 * USDT
    available = available_balance(wallet, position_margin=im, order_margin=0,
                                  cross_unrealised=[inst.unrealised_pnl(20, cost, 1_000 * E8)])
    assert available == 9_600 * USDT
    prices = risk_prices(inst, 20, cost, im + available, inst.maint_rate(0))
    assert inst.ticks_to_price(prices.bankruptcy_ticks) == Decimal("500")
    assert inst.ticks_to_price(prices.liquidation_ticks) == Decimal("510")


def test_we20_the_liquidation_trigger_fires_at_510_and_not_one_tick_above():
    inst = ethusdt()
    cost = 20_000 * USDT
    maint = maintenance_margin(cost, 0.01)
    collateral = 10_000 * USDT
    at = inst.unrealised_pnl(20, cost, 510 * E8)
    above = inst.unrealised_pnl(20, cost, inst.ticks_to_e8(inst.price_to_ticks(510.05)))
    assert is_liquidatable(collateral, at, maint)
    assert not is_liquidatable(collateral, above, maint)


# ---- order margin (§2.1) ---------------------------------------------------------------

def test_s7_bids_and_offers_net_so_im_is_on_5_net_bids_and_15_offers():
    inst = ethusdt()
    orders = [OpenOrder(20, inst.price_to_ticks(100)), OpenOrder(-15, inst.price_to_ticks(150))]
    margin = order_margin(inst, 0, orders, 0.1)
    assert margin.initial == (5 * 100 + 15 * 150) * USDT // 10
    assert margin.premium == margin.fee_reserve == 0
    assert margin.total == 275 * USDT


def test_reduce_only_orders_and_closing_quantities_carry_no_margin():
    inst = ethusdt()
    p = inst.price_to_ticks(100)
    assert order_margin(inst, 0, [OpenOrder(-10, p, reduce_only=True)], 0.1).total == 0
    assert order_margin(inst, 10, [OpenOrder(-10, p)], 0.1).total == 0
    assert order_margin(inst, 10, [OpenOrder(-15, p)], 0.1).initial == 5 * 100 * USDT // 10
    assert order_margin(inst, -10, [OpenOrder(4, p), OpenOrder(10, p)], 0.1).initial == 4 * 10 * USDT


def test_the_most_aggressive_orders_are_the_ones_that_close_the_position():
    inst = ethusdt()
    orders = [OpenOrder(-10, inst.price_to_ticks(120)), OpenOrder(-10, inst.price_to_ticks(100))]
    # long 10: the sell at 100 fills first and closes; the sell at 120 opens
    assert order_margin(inst, 10, orders, 1.0).initial == 10 * 120 * USDT


def test_the_excess_of_the_larger_side_is_charged_at_its_highest_valued_contracts():
    inst = presets.XBTUSD()
    orders = [OpenOrder(10, inst.price_to_ticks(5_000)), OpenOrder(10, inst.price_to_ticks(10_000)),
              OpenOrder(-5, inst.price_to_ticks(20_000))]
    # 5 offers (5,000 sat each) + 10 bids @ 5,000 (20,000 sat) + 5 bids @ 10,000 (10,000 sat)
    assert order_margin(inst, 0, orders, 1.0, fee_rate=0.0).initial == 275_000


def test_a_buy_above_mark_must_fully_fund_its_premium():
    inst = ethusdt()
    orders = [OpenOrder(10, inst.price_to_ticks(110)), OpenOrder(-10, inst.price_to_ticks(95))]
    margin = order_margin(inst, 0, orders, 0.1, mark_e8=100 * E8)
    assert margin.premium == 10 * 10 * USDT + 10 * 5 * USDT
    assert order_margin(inst, 0, orders[:1], 0.1, mark_e8=120 * E8).premium == 0


def test_offers_are_valued_at_the_best_bid_when_it_is_higher():
    inst = ethusdt()
    orders = [OpenOrder(-10, inst.price_to_ticks(90))]
    assert order_margin(inst, 0, orders, 1.0, best_bid_ticks=inst.price_to_ticks(95)).initial == 950 * USDT
    assert order_margin(inst, 0, orders, 1.0, best_bid_ticks=inst.price_to_ticks(80)).initial == 900 * USDT


def test_order_margin_reserves_the_taker_fee_rounded_up():
    inst = presets.XBTUSD()
    orders = [OpenOrder(100, inst.price_to_ticks(10_500))]  # 952,400 sat
    margin = order_margin(inst, 0, orders, 0.01)
    assert margin.initial == 9_524
    assert margin.fee_reserve == 715  # 714.3
    assert order_margin(inst, 0, orders, 0.01, fee_rate=-0.00025).fee_reserve == 0


def test_order_margin_rejects_bad_orders_and_rates():
    inst = ethusdt()
    with pytest.raises(InvalidInputError, match="qty"):
        order_margin(inst, 0, [OpenOrder(0, 100)], 0.1)
    with pytest.raises(InvalidPriceError, match="price"):
        order_margin(inst, 0, [OpenOrder(1, 0)], 0.1)
    with pytest.raises(InvalidInputError, match="init_rate"):
        order_margin(inst, 0, [], -0.1)
    with pytest.raises(InvalidPriceError, match="mark"):
        order_margin(inst, 0, [], 0.1, mark_e8=0)


# ---- position and maintenance margin ---------------------------------------------------

def test_isolated_position_margin_is_cost_over_leverage_plus_extra_rounded_up():
    assert position_init_margin(-1_000_000, leverage=100.0, init_rate=0.01) == 10_000
    assert position_init_margin(-1_000_001, leverage=100.0, init_rate=0.01) == 10_001
    assert position_init_margin(952_400, leverage=3.0, init_rate=0.01, extra_margin=7) == 317_474
    assert position_init_margin(-1_000_000, leverage=0.0, init_rate=0.015) == 15_000
    with pytest.raises(InvalidLeverageError, match="leverage"):
        position_init_margin(1, leverage=-2.0, init_rate=0.01)


def test_commission_to_close_is_the_taker_fee_at_the_bankruptcy_price():
    inst = presets.XBTUSD()
    assert commission_to_close(inst, 100, inst.price_to_ticks(9_901)) == 758  # 1,010,000 x 0.075%
    assert commission_to_close(inst, -100, None) == 0
    assert commission_to_close(inst, 0, 1) == 0


def test_funding_reserve_applies_only_to_the_paying_side():
    inst = presets.XBTUSD()
    assert funding_reserve(inst, 10_000, 10_000 * E8, 0.0001) == 10_000  # WE-32: 0.0001 XBT
    assert funding_reserve(inst, -10_000, 10_000 * E8, 0.0001) == 0
    assert funding_reserve(inst, -10_000, 10_000 * E8, -0.0001) == 10_000
    assert funding_reserve(inst, 10_000, 10_000 * E8, -0.0001) == 0
    assert funding_reserve(inst, 10_000, 10_000 * E8, 0.0) == 0


def test_maintenance_adds_commission_and_funding_reserve_to_mm_on_entry_value():
    xbt = 100_000_000
    assert maintenance_margin(-300 * xbt, 0.01) == 3 * xbt  # WE-14
    assert maintenance_margin(-1_000_000, 0.005, commission=758, funding=100) == 5_000 + 758 + 100
    assert maintenance_margin(-1_000_001, 0.005) == 5_001


def test_with_the_recommended_rule_the_exit_fee_cancels_out_of_the_trigger():
    inst = presets.XBTUSD()
    cost = inst.exec_cost(100, inst.price_to_ticks(10_000))
    init = position_init_margin(cost, leverage=100.0, init_rate=0.01)
    prices = risk_prices(inst, 100, cost, init, 0.005)
    comm = commission_to_close(inst, 100, prices.bankruptcy_ticks)
    maint = maintenance_margin(cost, 0.005, commission=comm)
    liq_e8 = inst.ticks_to_e8(prices.liquidation_ticks)
    assert is_liquidatable(init + comm, inst.unrealised_pnl(100, cost, liq_e8 - E8 // 2), maint)
    assert not is_liquidatable(init + comm, inst.unrealised_pnl(100, cost, liq_e8 + E8 // 2), maint)


def test_available_balance_ignores_unrealised_profit_and_subtracts_cross_losses():
    assert available_balance(1_000, position_margin=100, order_margin=50, cross_unrealised=[30, -20]) == 830
    assert available_balance(1_000, position_margin=0, order_margin=0) == 1_000
