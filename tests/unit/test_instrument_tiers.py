"""A contract's own tier tables: OKEx tiers (``Instrument.okex_tiers``, MECHANICS §2.3) and
Huobi adjustment factors (``Instrument.huobi_tiers``, §2.4; Huobi tables them per contract). In
their mode they, not the engine's configured tables, size that contract's maintenance
requirement, liquidation trigger, tier cap and (OKEx ``tier_leverage``) leverage caps;
contracts without one keep the configured table."""

from __future__ import annotations

from fractions import Fraction

import pytest

from perpex import presets
from perpex.exchange import Exchange
from perpex.exchange_overload import TIER_CAP_TEXT, TIER_LEVERAGE_TEXT
from perpex.errors import InvalidConfigError
from perpex.instruments import HuobiTier, Tier, TierTable
from perpex.risk.liquidation import (
    LiquidationConfig, RiskMode, RiskPosition, assess, huobi_tiers, okex_tiers)

XBT = 100_000_000
MAKER, TRADER = 1, 2
# a small schedule: 5% MMR up to 99 contracts at 20x, 10% up to 999 at 10x
SMALL = TierTable(tiers=(Tier(1, 0, 99, 0.05, 20.0), Tier(2, 100, 999, 0.10, 10.0)))
OKEX = LiquidationConfig(mode=RiskMode.OKEX)
HUOBI = LiquidationConfig(mode=RiskMode.HUOBI)
# a strict Huobi table: MMR = factor / leverage = 5% at 10x, up to 999 net contracts
STRICT = (HuobiTier(999, {5: 0.3, 10: 0.5, 20: 0.8}),)


def test_the_table_is_the_contracts_own_else_the_configured_one() -> None:
    own, plain = presets.XBTUSD(okex_tiers=SMALL), presets.XBTUSD()
    assert okex_tiers(own, OKEX) is SMALL
    assert okex_tiers(plain, OKEX) is OKEX.tiers


def test_assess_requires_the_mmr_of_the_contracts_own_tier() -> None:
    # 99 contracts long at 10,000 on 10% collateral; equity / value at 9,400 is about 3.8%
    cost = -99 * XBT // 10_000  # inverse: a long's cost is negative (XBt)
    collateral = -cost // 10
    mark_e8 = 9_400 * 10**8
    fee = Fraction(75, 100_000)
    own = assess(RiskPosition(presets.XBTUSD(okex_tiers=SMALL), 99, cost, collateral, 10.0), mark_e8, OKEX)
    assert own.requirement == Fraction(5, 100) + fee and own.current_tier == 1
    assert own.liquidate
    plain = assess(RiskPosition(presets.XBTUSD(), 99, cost, collateral, 10.0), mark_e8, OKEX)
    assert plain.requirement == Fraction(5, 1000) + fee and not plain.liquidate


def exchange(*insts: object, config: LiquidationConfig = OKEX) -> Exchange:
    ex = Exchange(list(insts), risk_mode=config, insurance_fund={"XBt": 10 * XBT})
    for inst in insts:
        sym = inst.symbol  # type: ignore[attr-defined]
        ex.set_mark(sym, 10_000)
    ex.deposit(MAKER, 100 * XBT, ts=0)
    ex.deposit(TRADER, 10 * XBT, ts=0)
    return ex


@pytest.mark.parametrize("config,own", [(OKEX, {"okex_tiers": SMALL}), (HUOBI, {"huobi_tiers": STRICT})],
                         ids=["okex", "huobi"])
def test_a_mark_move_liquidates_by_the_contracts_own_table(config: LiquidationConfig,
                                                           own: dict[str, object]) -> None:
    outcomes = {}
    for name, inst in (("own", presets.XBTUSD(**own)), ("plain", presets.XBTUSD())):
        ex = exchange(inst, config=config)
        ex.set_leverage(TRADER, "XBTUSD", 10)
        ex.place(MAKER, "XBTUSD", "Sell", 99, 10_000)
        assert ex.place(TRADER, "XBTUSD", "Buy", 99, 10_000).cum_qty == 99
        ex.place(MAKER, "XBTUSD", "Buy", 1_000, 9_000)
        ex.set_mark("XBTUSD", 9_400)
        outcomes[name] = (ex.position(TRADER, "XBTUSD")["currentQty"], ex.liquidation_stats()["takeovers"])
        ex.check_invariants()
        assert all(v == 0 for v in ex.audit().ledger_sum.values())
    assert outcomes == {"own": (0, 1), "plain": (99, 0)}


def test_orders_past_the_contracts_last_tier_are_refused_at_its_cap() -> None:
    ex = exchange(presets.XBTUSD(okex_tiers=SMALL), presets.XBTZ())
    ex.set_leverage(TRADER, "XBTUSD", 10)  # isolated: tiered alone, not with the XBTZ expiry
    ex.place(MAKER, "XBTUSD", "Sell", 5_000, 10_000)
    ex.place(MAKER, "XBTZ", "Sell", 5_000, 10_000)
    out = ex.place(TRADER, "XBTUSD", "Buy", 1_000, 10_000)
    assert not out.accepted and out.text == f"{TIER_CAP_TEXT} of 999 contracts"
    assert ex.place(TRADER, "XBTUSD", "Buy", 999, 10_000).accepted
    assert ex.place(TRADER, "XBTZ", "Buy", 1_000, 10_000).accepted  # the configured table: far larger


def test_tier_leverage_caps_by_the_contracts_own_table() -> None:
    config = LiquidationConfig(mode=RiskMode.OKEX, tier_leverage=True)
    ex = exchange(presets.XBTUSD(okex_tiers=SMALL), presets.XBTZ(), config=config)
    ex.place(MAKER, "XBTUSD", "Sell", 5_000, 10_000)
    ex.place(MAKER, "XBTZ", "Sell", 5_000, 10_000)
    ex.set_leverage(TRADER, "XBTUSD", 20)
    ex.set_leverage(TRADER, "XBTZ", 20)
    assert ex.place(TRADER, "XBTUSD", "Buy", 99, 10_000).accepted
    out = ex.place(TRADER, "XBTUSD", "Buy", 1, 10_000)
    assert not out.accepted and out.text.startswith(TIER_LEVERAGE_TEXT) and "tier 2 allows 10x" in out.text
    assert ex.place(TRADER, "XBTZ", "Buy", 999, 10_000).accepted  # configured tier 1: 0-999 at 100x
    refused = ex.set_leverage(TRADER, "XBTUSD", 25)
    assert not refused.accepted and "tier 1 allows 20x" in refused.text


def test_an_instrument_refuses_a_tier_table_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match="okex_tiers"):
        presets.XBTUSD(okex_tiers=((0, 99, 0.05, 20.0),))


# ---------------------------------------------------------------- Huobi
def test_the_huobi_table_is_the_contracts_own_else_the_configured_one() -> None:
    own, plain = presets.XBTUSD(huobi_tiers=list(STRICT)), presets.XBTUSD()
    assert own.huobi_tiers == STRICT and huobi_tiers(own, HUOBI) == STRICT
    assert huobi_tiers(plain, HUOBI) is HUOBI.huobi_tiers
    # an instrument with a table hashes, and its table is part of its identity
    assert hash(own) == hash(presets.XBTUSD(huobi_tiers=STRICT)) and own != plain


def test_assess_uses_the_factor_of_the_contracts_own_huobi_table() -> None:
    # 99 contracts long at 10,000, isolated at 10x; equity / value at 9,400 is about 3.8%
    cost = -99 * XBT // 10_000
    collateral = -cost // 10
    mark_e8 = 9_400 * 10**8
    own = assess(RiskPosition(presets.XBTUSD(huobi_tiers=STRICT), 99, cost, collateral, 10.0),
                 mark_e8, HUOBI)
    plain = assess(RiskPosition(presets.XBTUSD(), 99, cost, collateral, 10.0), mark_e8, HUOBI)
    assert own.liquidate and not plain.liquidate
    value = 99 * round(XBT / 9_400)  # inverse: valued per contract
    assert own.maintenance == -(-value * 5 // 100)


def test_huobi_orders_past_the_contracts_last_tier_are_refused_at_its_cap() -> None:
    ex = exchange(presets.XBTUSD(huobi_tiers=STRICT), presets.ETHUSD(), config=HUOBI)
    assert not ex.place(MAKER, "XBTUSD", "Sell", 1_000, 10_000).accepted  # the maker's cap too
    ex.place(MAKER, "XBTUSD", "Sell", 999, 10_000)
    out = ex.place(TRADER, "XBTUSD", "Buy", 1_000, 10_000)
    assert not out.accepted and out.text == f"{TIER_CAP_TEXT} of 999 contracts"
    assert ex.place(TRADER, "XBTUSD", "Buy", 999, 10_000).cum_qty == 999
    # ETHUSD (another underlying) keeps the configured table
    ex.place(MAKER, "ETHUSD", "Sell", 5_000, 10_000)
    assert ex.place(TRADER, "ETHUSD", "Buy", 5_000, 10_000).cum_qty == 5_000


@pytest.mark.parametrize("tiers", [
    (),
    (HuobiTier(500, {10: 0.08}), HuobiTier(400, {10: 0.1})),
    (HuobiTier(500, {10: 0.08}), HuobiTier(900, {10: 0.05})),
    (HuobiTier(500, {10: 0.08}), HuobiTier(900, {20: 0.1})),
    ({10: 0.08},),
    "tiers",
    5,
], ids=["empty", "descending", "factor-falls", "other-leverages", "not-a-tier", "str", "int"])
def test_a_bad_huobi_table_is_an_invalid_config(tiers: object) -> None:
    with pytest.raises(InvalidConfigError):
        presets.XBTUSD(huobi_tiers=tiers)
    with pytest.raises(InvalidConfigError):
        LiquidationConfig(mode=RiskMode.HUOBI, huobi_tiers=tiers)  # type: ignore[arg-type]
