"""Liquidation, insurance fund and ADL through the Exchange (MECHANICS §3, §7, §8)."""

from __future__ import annotations

from decimal import Decimal

from perpex import presets
from perpex.exchange import LIQUIDATION_ACCOUNT, Exchange

XBT = 100_000_000


def setup(fund: int = XBT, mode: str = "BitMEX") -> Exchange:
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": fund}, risk_mode=mode)
    for a in (1, 2, 3, 4):
        ex.deposit(a, 10 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    ex.set_leverage(1, "XBTUSD", 100)
    ex.place(2, "XBTUSD", "Sell", 10_000, 10_000)
    ex.place(1, "XBTUSD", "Buy", 10_000, 10_000)
    return ex


def test_we17_long_at_100x_is_liquidated_at_9950_5_not_9951_and_taken_over_at_9901():
    ex = setup()
    pos = ex.position(1, "XBTUSD")
    assert pos["liqPrice"] == Decimal("9950.5") and pos["bankruptPrice"] == Decimal("9901.0")
    wallet = ex.margin(1)["walletBalance"]
    margin = pos["posMargin"]
    ex.set_mark("XBTUSD", 9_951)
    assert ex.position(1, "XBTUSD")["currentQty"] == 10_000
    ex.drain_events()
    ex.set_mark("XBTUSD", Decimal("9950.5"))
    assert ex.position(1, "XBTUSD")["currentQty"] == 0
    takeover = [e for e in ex.drain_events() if e["execType"] == "Liquidation"]
    assert takeover[0]["lastPx"] == Decimal("9901.0") and takeover[0]["lastQty"] == 10_000
    loss = wallet - ex.margin(1)["walletBalance"]
    assert 0 < loss <= margin and margin - loss < 10_000  # the posted margin, less tick rounding
    assert ex.position(LIQUIDATION_ACCOUNT, "XBTUSD")["currentQty"] == 10_000
    ex.check_invariants()
    assert sum(ex.audit().ledger_sum.values()) == 0


def test_a_close_better_than_bankruptcy_credits_the_fund_by_exactly_the_surplus():
    ex = setup()
    ex.set_mark("XBTUSD", 9_950)
    fund = ex.insurance_fund()
    ex.place(3, "XBTUSD", "Buy", 10_000, 9_950)  # lifts the engine's offer at 9,901
    x = presets.XBTUSD()
    expected = x.value(10_000, x.price_to_ticks(9_901)) - x.value(10_000, x.price_to_ticks(9_901))
    assert expected == 0  # resting engine order fills at its own price: surplus 0
    assert ex.insurance_fund() == fund
    ex2 = setup()
    ex2.place(3, "XBTUSD", "Buy", 10_000, 9_940)  # a bid above bankruptcy, present at takeover
    fund2 = ex2.insurance_fund()
    ex2.set_mark("XBTUSD", 9_950)
    gain = x.value(10_000, x.price_to_ticks(9_940)) - x.value(10_000, x.price_to_ticks(9_901))
    assert gain > 0 and ex2.insurance_fund() - fund2 == gain
    assert ex2.liquidation_stats()["surplus"] == gain
    trade = [e for e in ex2.executions(LIQUIDATION_ACCOUNT) if e["execType"] == "Trade"]
    assert trade and trade[0]["text"] == "Liquidation" and trade[0]["ordType"] == "Limit"
    ex2.check_invariants()


def test_a_close_worse_than_bankruptcy_is_paid_by_the_fund():
    ex = setup()
    ex.place(3, "XBTUSD", "Buy", 10_000, 9_800)
    fund = ex.insurance_fund()
    ex.set_mark("XBTUSD", 9_850)  # past bankruptcy: the fund aggresses the 9,800 bid
    x = presets.XBTUSD()
    loss = x.value(10_000, x.price_to_ticks(9_800)) - x.value(10_000, x.price_to_ticks(9_901))
    assert loss < 0 and ex.insurance_fund() - fund == loss
    assert ex.position(LIQUIDATION_ACCOUNT, "XBTUSD")["currentQty"] == 0
    assert ex.liquidation_stats()["deleveraged"] == 0
    ex.check_invariants()


def test_adl_only_when_the_fund_is_empty_ranks_by_score_and_cancels_counterparty_orders():
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": 0})
    for a in range(1, 6):
        ex.deposit(a, 10 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    ex.set_leverage(1, "XBTUSD", 100)
    ex.set_leverage(2, "XBTUSD", 10)   # short at higher leverage ranks ahead
    ex.set_leverage(3, "XBTUSD", 2)
    ex.place(2, "XBTUSD", "Sell", 5_000, 10_000)
    ex.place(3, "XBTUSD", "Sell", 5_000, 10_000)
    ex.place(1, "XBTUSD", "Buy", 10_000, 10_000)
    ex.place(2, "XBTUSD", "Buy", 100, 5_000)  # a resting order of the first counterparty
    ex.set_mark("XBTUSD", 9_990)  # shorts in profit: the 10x short outranks the 2x one
    assert ex.position(2, "XBTUSD")["deleveragePercentile"] == 60   # front of a queue of 2
    assert ex.position(3, "XBTUSD")["deleveragePercentile"] == 100
    ex.set_mark("XBTUSD", 9_800)  # no bid near: the book cannot absorb, the fund is empty
    assert ex.position(1, "XBTUSD")["currentQty"] == 0
    assert ex.liquidation_stats()["deleveraged"] == 10_000
    assert ex.position(2, "XBTUSD")["currentQty"] == 0 and ex.position(3, "XBTUSD")["currentQty"] == 0
    assert ex.open_orders(2) == []
    ev = [e for e in ex.drain_events() if e["execType"] == "Deleverage" and e["account"] != LIQUIDATION_ACCOUNT]
    assert [e["account"] for e in ev] == [2, 3] and ev[0]["lastPx"] == Decimal("9901.0")
    ex.check_invariants()
    assert ex.insurance_fund() == 0


def test_okex_and_huobi_modes_each_liquidate_a_losing_position():
    for mode in ("OKEx", "Huobi"):
        ex = setup(mode=mode)
        assert ex.position(1, "XBTUSD")["liqPrice"] is not None
        ex.set_mark("XBTUSD", 9_700)
        assert ex.position(1, "XBTUSD")["currentQty"] == 0, mode
        ex.check_invariants()


def test_after_the_liquidation_step_no_account_is_below_maintenance():
    from perpex.risk.liquidation import assess
    ex = setup()
    for mark in (9_990, 9_960, 9_950, 9_900, 9_700):
        ex.set_mark("XBTUSD", mark)
        for a in (1, 2):
            pos = ex._positions.get((a, "XBTUSD"))
            if pos is not None and pos.qty:
                rp = ex._risk_position(ex._inst["XBTUSD"], pos)
                assert not assess(rp, ex._marks["XBTUSD"], ex.risk_config).liquidate


def test_okex_mode_refuses_an_order_that_could_take_a_position_past_the_last_tier():
    ex = setup(mode="OKEx")
    cap = ex.risk_config.tiers.max_contracts
    ex.place(3, "XBTUSD", "Buy", cap - 20_000, 5_000)       # account 3 is flat: inside
    out = ex.place(3, "XBTUSD", "Buy", 20_001, 5_000)       # its own orders count too
    assert out.rejected and out.text == f"Position would exceed the last tier of {cap} contracts"
    assert ex.place(3, "XBTUSD", "Buy", 20_000, 5_000).accepted
    assert ex.place(3, "XBTUSD", "Sell", 10_000, 20_000).accepted  # the other side: no cap
    bitmex = setup()
    assert bitmex.place(3, "XBTUSD", "Buy", cap + 1, 5_000).accepted


def test_the_positions_orders_are_canceled_with_bitmexs_text_when_its_liquidation_starts():
    ex = setup()
    close = ex.place(1, "XBTUSD", "Sell", 5_000, 10_500).order_id
    stop = ex.place(1, "XBTUSD", "Sell", 5_000, stop_px=9_000).order_id
    ex.drain_events()
    ex.set_mark("XBTUSD", Decimal("9950.5"))
    canceled = [(e["orderID"], e["text"]) for e in ex.drain_events()
                if e["execType"] == "Canceled" and e.get("account") == 1]
    assert canceled == [(close, "Canceled: Position in liquidation"),
                        (stop, "Canceled: Position in liquidation")]
    assert ex.position(1, "XBTUSD")["currentQty"] == 0
