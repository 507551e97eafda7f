"""A 30% crash across many leveraged accounts, in every risk mode: money conserved to the
unit, no wallet below zero, the fund moving by exactly the liquidation surpluses."""

from __future__ import annotations

import time

import pytest

from perpex import presets
from perpex.exchange import Exchange
from perpex.orders import LIQUIDATION_EXPIRED
from perpex.risk.liquidation import LiquidationConfig, RiskMode

XBT = 100_000_000


def crash(mode: str, n: int, fund: int) -> Exchange:
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": fund}, risk_mode=mode)
    ex.deposit(1, 10_000 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    ex.place(1, "XBTUSD", "Sell", 100 * n, 10_000)
    for a in range(2, n + 2):
        ex.deposit(a, XBT // 10, ts=0)
        if a % 2:
            ex.set_leverage(a, "XBTUSD", (5, 10, 20)[a % 3])  # isolated; even accounts cross
        ex.place(a, "XBTUSD", "Buy", 100, 10_000)
    for a in range(2, n + 2, 7):
        ex.place(a, "XBTUSD", "Buy", 50, 9_000)  # some depth under the market
    fund0 = ex.insurance_fund()
    for step in range(1, 31):
        ex.set_mark("XBTUSD", 10_000 - 100 * step)
    audit = ex.audit()
    assert audit.ledger_sum == {"XBt": 0} and audit.net_position == {"XBTUSD": 0}
    assert min(ex.wallet_balances().values()) >= 0
    stats = ex.liquidation_stats()
    assert stats["takeovers"] > 0
    assert ex.insurance_fund() - fund0 == stats["surplus"] + stats["residual"]
    if fund > 10 * XBT:
        # ADL only once the book has no bid left for the fund to pay into
        assert stats["deleveraged"] == 0 or ex.book("XBTUSD").best_bid() is None
    ex.check_invariants()
    return ex


@pytest.mark.parametrize("mode", ["BitMEX", "OKEx", "Huobi"])
def test_a_thirty_percent_crash_conserves_money_in_each_mode(mode: str) -> None:
    crash(mode, 300, 1_000 * XBT)
    crash(mode, 300, 0)


@pytest.mark.stress
@pytest.mark.parametrize("mode", ["BitMEX", "OKEx", "Huobi"])
def test_a_thirty_percent_crash_over_ten_thousand_accounts(mode: str) -> None:
    t = time.perf_counter()
    ex = crash(mode, 10_000, 0)
    print(mode, ex.liquidation_stats(), time.perf_counter() - t)


def crash_okex_cycle(n: int, fund: int) -> tuple[Exchange, int]:
    """The crash at tier 4 (20,000 contracts each) in OKEx mode with resting partial orders
    (repost_after_ms): the mark falls 100 a minute, so each step ends the waits of the last
    (a position whose order is unfilled and which is not yet past partial repair gets a new
    one), and a buyer now and then takes some of the resting orders. Returns the exchange and
    the number of orders canceled when their time was up."""
    cfg = LiquidationConfig(mode=RiskMode.OKEX, repost_after_ms=60_000)
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": fund}, risk_mode=cfg)
    ex.set_mark("XBTUSD", 10_000, ts=0)
    makers = [10**7 + m for m in range(n // 50 + 1)]  # each within the last OKEx tier
    for m in makers:
        ex.deposit(m, 100_000 * XBT, ts=0)
        ex.place(m, "XBTUSD", "Sell", 20_000 * 50, 10_000, ts=0)
    for a in range(2, n + 2):
        ex.deposit(a, XBT * 11 // 10 * (1 + a % 3), ts=0)
        if a % 2:
            ex.set_leverage(a, "XBTUSD", (5, 10, 20)[a % 3], ts=0)  # isolated; even accounts cross
        assert ex.place(a, "XBTUSD", "Buy", 20_000, 10_000, ts=0).cum_qty == 20_000
    for a in range(2, n + 2, 5):
        ex.place(a, "XBTUSD", "Buy", 3_000, 9_000 - a, ts=0)
    fund0 = ex.insurance_fund()
    ex.drain_events()
    expired = 0
    for step in range(1, 31):
        t = 60_000 * step
        ex.set_mark("XBTUSD", 10_000 - 100 * step, ts=t)
        if step % 4 == 0:
            ex.place(makers[0], "XBTUSD", "Buy", 500 * n + 1, 10_200 - 100 * step, ts=t)
        expired += sum(e.get("text") == LIQUIDATION_EXPIRED for e in ex.drain_events())
        audit = ex.audit()
        assert audit.ledger_sum == {"XBt": 0} and audit.net_position == {"XBTUSD": 0}
    assert min(ex.wallet_balances().values()) >= 0
    stats = ex.liquidation_stats()
    assert stats["partials"] > 0 and expired > 0
    assert ex.insurance_fund() - fund0 == stats["surplus"] + stats["residual"]
    ex.check_invariants()
    return ex, expired


def test_okex_resting_partial_orders_through_a_crash_conserve_money() -> None:
    crash_okex_cycle(100, 1_000 * XBT)
    crash_okex_cycle(100, 0)


@pytest.mark.stress
def test_okex_resting_partial_orders_through_a_crash_over_five_thousand_accounts() -> None:
    ex, expired = crash_okex_cycle(5_000, 0)
    print(ex.liquidation_stats(), expired)
