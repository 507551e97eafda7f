"""OKEx mode with ``tier_leverage``: each tier of the schedule (MECHANICS §2.3) caps the leverage
of a position of its size. An isolated position may not grow into a tier whose cap is below its
leverage, nor may its leverage be raised above its tier's cap; cross positions are not capped
this way, and without the option (the default) nor is anything."""

from __future__ import annotations

import pytest

from perpex import presets
from perpex.exchange import Exchange
from perpex.errors import InvalidConfigError
from perpex.exchange_overload import TIER_LEVERAGE_TEXT
from perpex.risk.liquidation import LiquidationConfig, RiskMode

XBT = 100_000_000
MAKER, TRADER = 1, 2


def book(mode: object = None) -> Exchange:
    if mode is None:
        mode = LiquidationConfig(mode=RiskMode.OKEX, tier_leverage=True)
    ex = Exchange([presets.XBTUSD()], risk_mode=mode)
    ex.set_mark("XBTUSD", 10_000)
    ex.deposit(MAKER, 100 * XBT, ts=0)
    ex.deposit(TRADER, 10 * XBT, ts=0)
    ex.place(MAKER, "XBTUSD", "Sell", 100_000, 10_000)
    return ex


def test_an_isolated_100x_position_fills_within_tier_one_and_is_refused_past_it():
    ex = book()
    ex.set_leverage(TRADER, "XBTUSD", 100)
    assert ex.place(TRADER, "XBTUSD", "Buy", 999, 10_000).accepted  # tier 1: 0-999, 100x
    out = ex.place(TRADER, "XBTUSD", "Buy", 1, 10_000)
    assert not out.accepted
    assert out.text.startswith(TIER_LEVERAGE_TEXT) and "tier 2 allows 50x" in out.text
    assert ex._positions[(TRADER, "XBTUSD")].qty == 999
    ex.check_invariants()


def test_lowering_the_leverage_to_the_tier_cap_lets_the_position_grow():
    ex = book()
    ex.set_leverage(TRADER, "XBTUSD", 50)
    assert ex.place(TRADER, "XBTUSD", "Buy", 9_999, 10_000).accepted  # tier 2 ends at 9,999
    assert not ex.place(TRADER, "XBTUSD", "Buy", 1, 10_000).accepted  # tier 3 allows 30x
    assert ex._positions[(TRADER, "XBTUSD")].qty == 9_999


def test_raising_the_leverage_above_the_positions_tier_cap_is_refused():
    ex = book()
    ex.set_leverage(TRADER, "XBTUSD", 20)
    assert ex.place(TRADER, "XBTUSD", "Buy", 1_500, 10_000).accepted
    out = ex.set_leverage(TRADER, "XBTUSD", 100)
    assert not out.accepted and out.text.startswith(TIER_LEVERAGE_TEXT)
    assert ex._positions[(TRADER, "XBTUSD")].leverage == 20
    assert ex.set_leverage(TRADER, "XBTUSD", 50).accepted


def test_open_orders_count_toward_the_tier_when_raising_leverage():
    ex = book()
    ex.set_leverage(TRADER, "XBTUSD", 10)
    assert ex.place(TRADER, "XBTUSD", "Sell", 2_000, 20_000).accepted  # rests, no position
    assert not ex.set_leverage(TRADER, "XBTUSD", 100).accepted
    assert ex.set_leverage(TRADER, "XBTUSD", 50).accepted


@pytest.mark.parametrize("mode", ["OKEx", "BitMEX", "Huobi"])
def test_without_the_option_no_mode_caps_leverage_by_tier(mode):
    ex = book(mode)
    ex.set_leverage(TRADER, "XBTUSD", 100)
    assert ex.place(TRADER, "XBTUSD", "Buy", 5_000, 10_000).accepted


def test_cross_positions_are_not_capped_by_tier_leverage():
    ex = book()
    assert ex.place(TRADER, "XBTUSD", "Buy", 20_000, 10_000).accepted


def test_the_option_outside_okex_mode_is_an_impossible_configuration():
    with pytest.raises(InvalidConfigError, match="tier_leverage"):
        LiquidationConfig(mode=RiskMode.HUOBI, tier_leverage=True)
    with pytest.raises(InvalidConfigError, match="tier_leverage"):
        LiquidationConfig(mode=RiskMode.OKEX, tier_leverage=1)  # type: ignore[arg-type]
