"""OKEx clawback through the Exchange (MECHANICS §8.3; Decision 11): a loss the insurance fund
cannot pay is recovered from the accounts in profit in that contract, in proportion."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.book import SIDES
from perpex.exchange import LIQUIDATION_ACCOUNT, Exchange
from perpex.risk.liquidation import LiquidationConfig, RiskMode

XBT = 100_000_000


def okex(fund: int, clawback: bool = True, short3: int = 2_000, bid: int = 9_000,
         bid_px: int = 9_700) -> Exchange:
    """Account 1: 100x long 9,000 at 10,000 (bankruptcy 9,901). Shorts: account 2 9,000 and
    account 3 ``short3`` at 10,000; account 4 holds the other side and bids ``bid`` at ``bid_px``."""
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": fund},
                  risk_mode=LiquidationConfig(mode=RiskMode.OKEX, clawback=clawback))
    for a in (1, 2, 3, 4):
        ex.deposit(a, 10 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    ex.set_leverage(1, "XBTUSD", 100)
    ex.place(2, "XBTUSD", "Sell", 9_000, 10_000)
    ex.place(1, "XBTUSD", "Buy", 9_000, 10_000)
    ex.place(3, "XBTUSD", "Sell", short3, 10_000)
    ex.place(4, "XBTUSD", "Buy", short3, 10_000)
    ex.place(4, "XBTUSD", "Buy", bid, bid_px)
    ex.drain_events()
    return ex


def wallets(ex: Exchange) -> dict[int, int]:
    return {a: ex.margin(a)["walletBalance"] for a in (1, 2, 3, 4)}


def test_the_deficit_beyond_the_fund_is_clawed_back_from_profits_pro_rata_with_the_unit_to_the_largest_remainder():
    ex = okex(fund=1_000_000)
    assert ex.position(1, "XBTUSD")["bankruptPrice"] == 9901
    before = wallets(ex)
    ex.set_mark("XBTUSD", 9_750)
    # By hand. One contract is worth round(1e8 / P) satoshi: 10,100 at the bankruptcy price
    # 9,901 and 10,309 at the 9,700 bid, so selling the 9,000-contract lot there loses
    # 9,000 x 209 = 1,881,000; the fund pays 1,000,000 and 881,000 is left.
    # Profits at the mark 9,750 (10,256 a contract vs 10,000 at entry): account 2
    # 9,000 x 256 = 2,304,000, account 3 2,000 x 256 = 512,000; total 2,816,000.
    # Shares: 2,304,000 x 881,000 / 2,816,000 = 720,818.18 -> 720,818;
    #         512,000 x 881,000 / 2,816,000 = 160,181.82 -> 160,181 (+1, the larger remainder).
    claws = [e for e in ex.drain_events() if e["execType"] == "Clawback"]
    assert [(e["account"], e["amount"], e["text"]) for e in claws] == \
        [(2, -720_818, "Clawback"), (3, -160_182, "Clawback")]
    after = wallets(ex)
    assert after[2] - before[2] == -720_818 and after[3] - before[3] == -160_182
    assert ex.insurance_fund() == 0
    stats = ex.liquidation_stats()
    assert stats["surplus"] == -1_881_000 and stats["clawback"] == 881_000
    assert stats["deleveraged"] == 0
    assert ex.position(2, "XBTUSD")["currentQty"] == -9_000  # clawback, not ADL: positions stay
    assert ex.position(LIQUIDATION_ACCOUNT, "XBTUSD")["currentQty"] == 0
    ex.check_invariants()


def test_without_clawback_the_same_loss_goes_to_adl_instead():
    ex = okex(fund=1_000_000, clawback=False)
    ex.set_mark("XBTUSD", 9_750)
    events = ex.drain_events()
    assert not [e for e in events if e["execType"] == "Clawback"]
    assert ex.liquidation_stats()["deleveraged"] > 0 and ex.liquidation_stats()["clawback"] == 0
    ex.check_invariants()


def test_a_fund_that_covers_the_loss_claws_nothing_back():
    ex = okex(fund=2_000_000)
    ex.set_mark("XBTUSD", 9_750)
    assert not [e for e in ex.drain_events() if e["execType"] == "Clawback"]
    assert ex.insurance_fund() == 2_000_000 - 1_881_000
    ex.check_invariants()


def test_the_engine_sells_only_what_the_fund_and_the_profits_can_pay_for_and_rests_the_rest():
    # a 9,000 bid: 11,111 a contract vs 10,100 at bankruptcy, a loss of 1,011 each. Profits at
    # 9,750: 2,304,000 + 1,000 x 256 = 2,560,000; with an empty fund the engine sells
    # 2,560,000 // 1,011 = 2,532 contracts and claws back their loss, 2,532 x 1,011.
    ex = okex(fund=0, short3=1_000, bid_px=9_000)
    ex.set_mark("XBTUSD", 9_750)
    assert ex.position(LIQUIDATION_ACCOUNT, "XBTUSD")["currentQty"] == 9_000 - 2_532
    assert ex.liquidation_stats()["clawback"] == 2_532 * 1_011
    lots = [ex._orders[oid] for oid in ex._lots]
    assert [(r.side, r.leaves_qty, r.price) for r in lots] == [(SIDES["Sell"], 6_468, 19_802)]
    assert ex.insurance_fund() == 0 and ex.liquidation_stats()["deleveraged"] == 0
    ex.check_invariants()


def test_what_a_thin_book_cannot_take_rests_at_the_bankruptcy_price_instead_of_deleveraging():
    ex = okex(fund=0, short3=1_000, bid=5_000)
    ex.set_mark("XBTUSD", 9_750)
    assert ex.position(LIQUIDATION_ACCOUNT, "XBTUSD")["currentQty"] == 4_000
    lots = [ex._orders[oid] for oid in ex._lots]
    assert [(r.side, r.leaves_qty, r.price) for r in lots] == [(SIDES["Sell"], 4_000, 19_802)]
    assert ex.liquidation_stats()["clawback"] == 5_000 * 209
    assert ex.insurance_fund() == 0
    ex.check_invariants()


@settings(max_examples=25, deadline=None)
@given(fund=st.integers(0, 3_000_000), short3=st.integers(1, 40).map(lambda k: 100 * k),
       bid=st.integers(1, 90).map(lambda k: 100 * k), bid_px=st.integers(17_000, 19_600),
       mark=st.sampled_from([9_750, 9_720, 9_800]))
def test_a_clawback_conserves_money_to_the_unit_and_leaves_no_wallet_or_fund_negative(
        fund, short3, bid, bid_px, mark):
    ex = okex(fund=fund, short3=short3, bid=bid, bid_px=bid_px / 2)
    ex.set_mark("XBTUSD", mark)
    claws = [e for e in ex.drain_events() if e["execType"] == "Clawback"]
    assert -sum(e["amount"] for e in claws) == ex.liquidation_stats()["clawback"]
    assert ex.insurance_fund() >= 0
    assert sum(ex.audit().ledger_sum.values()) == 0
    assert all(ex.margin(a)["walletBalance"] >= 0 for a in (1, 2, 3, 4))
    if claws:
        assert ex.insurance_fund() == 0  # exactly the deficit was recovered
    ex.check_invariants()
