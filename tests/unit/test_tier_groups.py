"""Tiers counted over the expiries of one underlying (MECHANICS §2.3, §2.4): an OKEx cross
position, and every Huobi position, takes its tier from the account's contracts in all the
expiries of its underlying; an OKEx isolated position is tiered alone; BitMEX has no tiers of
this kind. The worked examples are O1's (1,000 + 500 + 500 + 500 = 2,500 contracts: tier 2)
and H2's (|-3,000| + |3,000| + |5,000| = 11,000 net contracts: at 20x, factor 28%)."""

from __future__ import annotations

import pytest

from perpex import presets
from perpex.exchange import Exchange
from perpex.exchange_overload import TIER_CAP_TEXT
from perpex.instruments import Tier, TierTable
from perpex.risk.liquidation import HuobiTier, LiquidationConfig, RiskMode, assess

XBT = 100_000_000
MAKER, TRADER, OTHER = 1, 2, 3  # OTHER: a maker without positions elsewhere in the group
OKEX = LiquidationConfig(mode=RiskMode.OKEX)
# H1/H2's figures: 10x with 800 net contracts 8%, with 1,800 net 10%; 20x with 11,000 net 28%
HUOBI = LiquidationConfig(mode=RiskMode.HUOBI, huobi_tiers=(
    HuobiTier(1_000, {10: 0.08, 20: 0.15}), HuobiTier(10_000, {10: 0.10, 20: 0.20}),
    HuobiTier(20_000, {10: 0.15, 20: 0.28})))
SMALL = TierTable(tiers=(Tier(1, 0, 99, 0.05, 20.0), Tier(2, 100, 999, 0.10, 10.0)))


def expiries(**xbtusd: object) -> list[object]:
    """XBTUSD and three quarterly expiries of the same underlying, and ETHUSD (another one)."""
    return [presets.XBTUSD(**xbtusd), presets.XBTZ(),
            presets.XBTZ(symbol="XBTH", expiry_ms=1_585_296_000_000),
            presets.XBTZ(symbol="XBTM", expiry_ms=1_593_158_400_000), presets.ETHUSD()]


def exchange(config: LiquidationConfig, insts: list[object] | None = None,
             trader: int = 10 * XBT) -> Exchange:
    insts = insts if insts is not None else expiries()
    ex = Exchange(insts, risk_mode=config, insurance_fund={"XBt": 10 * XBT})  # type: ignore[arg-type]
    for inst in insts:
        ex.set_mark(inst.symbol, 10_000 if inst.symbol != "ETHUSD" else 200)  # type: ignore[attr-defined]
    ex.deposit(MAKER, 1_000 * XBT, ts=0)
    ex.deposit(TRADER, trader, ts=0)
    ex.deposit(OTHER, 1_000 * XBT, ts=0)
    return ex


def hold(ex: Exchange, sym: str, qty: int, price: int = 10_000) -> None:
    """TRADER's position in ``sym`` moves by ``qty`` (> 0 buys) against MAKER at ``price``."""
    side, other = ("Buy", "Sell") if qty > 0 else ("Sell", "Buy")
    ex.place(MAKER, sym, other, abs(qty), price)
    assert ex.place(TRADER, sym, side, abs(qty), price).cum_qty == abs(qty)


def tiering(ex: Exchange, sym: str) -> tuple[int | None, int]:
    """(tier_contracts, tier) of TRADER's position in ``sym`` as the liquidation engine sees it."""
    inst = ex._inst[sym]
    rp = ex._risk_position(inst, ex._positions[(TRADER, sym)])
    return rp.tier_contracts, assess(rp, ex._marks[sym], ex.risk_config).current_tier


def test_okex_o1_cross_positions_over_four_expiries_make_tier_2() -> None:
    ex = exchange(OKEX)
    for sym, qty in (("XBTUSD", 1_000), ("XBTZ", 500), ("XBTH", 500), ("XBTM", -500)):
        hold(ex, sym, qty)
    hold(ex, "ETHUSD", 800, 200)  # another underlying: its own tier, and not counted
    for sym in ("XBTUSD", "XBTZ", "XBTH", "XBTM"):
        assert tiering(ex, sym) == (2_500, 2)
    assert tiering(ex, "ETHUSD") == (None, 1)
    # an isolated expiry is tiered alone, and leaves the cross ones' sum
    ex.set_leverage(TRADER, "XBTM", 10)
    assert tiering(ex, "XBTM") == (None, 1)
    assert tiering(ex, "XBTZ") == (2_000, 2)
    ex.check_invariants()


def test_bitmex_mode_tiers_nothing_over_expiries() -> None:
    ex = exchange(LiquidationConfig())
    hold(ex, "XBTUSD", 1_000)
    hold(ex, "XBTZ", 500)
    assert ex._risk_position(ex._inst["XBTZ"], ex._positions[(TRADER, "XBTZ")]).tier_contracts is None


def test_huobi_h2_net_positions_summed_over_expiries_give_the_28_percent_factor() -> None:
    ex = exchange(HUOBI, trader=100 * XBT)
    for sym in ("XBTUSD", "XBTZ", "XBTH"):
        ex.set_leverage(TRADER, sym, 20)
    for sym, qty in (("XBTUSD", -3_000), ("XBTZ", 3_000), ("XBTH", 5_000)):
        hold(ex, sym, qty)
    for sym in ("XBTUSD", "XBTZ", "XBTH"):
        assert tiering(ex, sym) == (11_000, 3)
    # the requirement is the factor / leverage of value (H2: MMR = factor / leverage)
    rp = ex._risk_position(ex._inst["XBTH"], ex._positions[(TRADER, "XBTH")])
    verdict = assess(rp, ex._marks["XBTH"], ex.risk_config)
    value = 5_000 * XBT // 10_000
    assert verdict.maintenance == -(-value * 28 // (100 * 20))
    # alone, 5,000 contracts would be tier 2 (factor 20%)
    alone = assess(type(rp)(rp.instrument, rp.qty, rp.cost, rp.collateral, rp.leverage),
                   ex._marks["XBTH"], ex.risk_config)
    assert alone.current_tier == 2 and alone.maintenance < verdict.maintenance
    ex.check_invariants()


def test_okex_a_mark_move_liquidates_by_the_tier_the_expiries_make() -> None:
    """XBTZ alone (500 contracts) would be tier 1 (MMR 0.5%); with 1,000 XBTUSD beside it in
    cross it is tier 2 (1.0%): at a mark between the two triggers the engine takes it over."""
    ex = exchange(OKEX, trader=XBT // 50)
    hold(ex, "XBTUSD", 1_000)
    hold(ex, "XBTZ", 500)
    ex.place(MAKER, "XBTZ", "Buy", 5_000, 5_000)  # far below: the takeover's lot rests
    inst, pos = ex._inst["XBTZ"], ex._positions[(TRADER, "XBTZ")]
    grouped = ex._risk_position(inst, pos)
    assert grouped.tier_contracts == 1_500
    alone = type(grouped)(inst, grouped.qty, grouped.cost, grouped.collateral, grouped.leverage)
    mark = next(m for m in range(10_000, 5_000, -10)
                if assess(grouped, m * 10**8, OKEX).liquidate)
    assert not assess(alone, mark * 10**8, OKEX).liquidate
    ex.set_mark("XBTZ", mark)
    assert ex.position(TRADER, "XBTZ")["currentQty"] == 0
    assert ex.liquidation_stats()["takeovers"] >= 1
    ex.check_invariants()
    assert all(v == 0 for v in ex.audit().ledger_sum.values())


def test_a_fill_in_one_expiry_reindexes_the_others_trigger() -> None:
    ex = exchange(OKEX, trader=XBT // 20)
    hold(ex, "XBTZ", 500)
    ex._risk_flush()
    before = ex._liq_key[(TRADER, "XBTZ")]
    hold(ex, "XBTUSD", 1_000)
    ex._risk_flush()
    after = ex._liq_key[(TRADER, "XBTZ")]
    assert after == ex._index_ticks(TRADER, "XBTZ")  # as computed afresh, with the new tier
    assert after[1] > before[1]  # tier 2 and less collateral: the long's trigger rises
    # the same position with XBTUSD isolated is indexed without it in its tier
    ex.set_leverage(TRADER, "XBTUSD", 25)
    ex._risk_flush()
    assert ex._liq_key[(TRADER, "XBTZ")] == ex._index_ticks(TRADER, "XBTZ")
    assert tiering(ex, "XBTZ") == (None, 1)
    ex.check_invariants()


def test_huobi_isolated_trigger_moves_with_another_expiry_alone() -> None:
    """An isolated position's collateral, size and rates stay as they were when the account
    trades another expiry; only the tier they share moves its trigger."""
    ex = exchange(HUOBI, trader=100 * XBT)
    for sym in ("XBTUSD", "XBTZ"):
        ex.set_leverage(TRADER, sym, 10)
    hold(ex, "XBTZ", 900)
    ex._risk_flush()
    before = ex._liq_key[(TRADER, "XBTZ")]
    assert tiering(ex, "XBTZ") == (None, 1)
    hold(ex, "XBTUSD", -200)  # 1,100 net contracts: tier 2, factor 10% instead of 8%
    ex._risk_flush()
    after = ex._liq_key[(TRADER, "XBTZ")]
    assert tiering(ex, "XBTZ") == (1_100, 2)
    assert after == ex._index_ticks(TRADER, "XBTZ") and after[1] > before[1]
    ex.check_invariants()


def test_okex_cross_expiries_are_capped_by_the_smallest_table_of_the_group() -> None:
    ex = exchange(OKEX, expiries(okex_tiers=SMALL))
    hold(ex, "XBTUSD", 999)
    # MAKER is short 999 XBTUSD in cross: its XBTZ sell would pass the cap as well
    out = ex.place(MAKER, "XBTZ", "Sell", 5_000, 10_000)
    assert not out.accepted and out.text == f"{TIER_CAP_TEXT} of 999 contracts"
    ex.place(OTHER, "XBTZ", "Sell", 5_000, 10_000)
    out = ex.place(TRADER, "XBTZ", "Buy", 1, 10_000)
    assert not out.accepted and out.text == f"{TIER_CAP_TEXT} of 999 contracts"
    ex.set_leverage(TRADER, "XBTUSD", 10)  # isolated: its table no longer caps XBTZ
    assert ex.place(TRADER, "XBTZ", "Buy", 1_000, 10_000).cum_qty == 1_000
    out = ex.set_leverage(TRADER, "XBTUSD", 0)  # back to cross: 1,999 contracts in the group
    assert not out.accepted and out.text == f"{TIER_CAP_TEXT} of 999 contracts"
    assert ex.position(TRADER, "XBTUSD")["leverage"] == 10
    assert tiering(ex, "XBTZ") == (None, 2) and tiering(ex, "XBTUSD") == (None, 2)
    ex.check_invariants()


def test_huobi_caps_the_net_position_summed_over_expiries() -> None:
    ex = exchange(HUOBI, trader=100 * XBT)
    for sym in ("XBTUSD", "XBTZ"):
        ex.set_leverage(TRADER, sym, 10)
    hold(ex, "XBTUSD", -15_000)
    ex.place(OTHER, "XBTZ", "Sell", 10_000, 10_000)
    out = ex.place(TRADER, "XBTZ", "Buy", 6_000, 10_000)
    assert not out.accepted and out.text == f"{TIER_CAP_TEXT} of 20000 contracts"
    assert ex.place(TRADER, "XBTZ", "Buy", 5_000, 10_000).cum_qty == 5_000
    assert tiering(ex, "XBTZ") == (20_000, 3)
    # reduce-only orders never count against the cap
    assert ex.place(TRADER, "XBTUSD", "Buy", 1_000, 10_000, exec_inst=("ReduceOnly",)).accepted


@pytest.mark.parametrize("config", [OKEX, HUOBI], ids=["okex", "huobi"])
def test_another_underlying_or_contract_kind_is_never_in_the_group(config: LiquidationConfig) -> None:
    ex = exchange(config, expiries() + [presets.XBTUSDT()], trader=100 * XBT)
    groups = ex._tier_groups
    assert groups["XBTUSD"] == ("XBTH", "XBTM", "XBTZ")
    assert groups["XBTZ"] == ("XBTH", "XBTM", "XBTUSD")
    assert groups["ETHUSD"] == () and groups["XBTUSDT"] == ()
