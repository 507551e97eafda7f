"""A 30% crash across many leveraged accounts, in every risk mode: money conserved to the
unit, no wallet below zero, the fund moving by exactly the liquidation surpluses."""

from __future__ import annotations

import time

import pytest

from perpex import presets
from perpex.exchange import Exchange

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
