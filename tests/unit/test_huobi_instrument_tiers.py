"""A contract's own Huobi adjustment-factor table (``Instrument.huobi_tiers``, MECHANICS §2.4:
Huobi tables the factors per contract): in Huobi mode it, not the engine's configured table,
sizes that contract's requirement, trigger and tier cap; contracts without one keep the
configured table."""

from __future__ import annotations

import pytest

from perpex import presets
from perpex.errors import InvalidConfigError
from perpex.exchange import Exchange
from perpex.exchange_overload import TIER_CAP_TEXT
from perpex.instruments import HuobiTier
from perpex.risk.liquidation import LiquidationConfig, RiskMode, RiskPosition, assess, huobi_tiers

XBT = 100_000_000
MAKER, TRADER = 1, 2
HUOBI = LiquidationConfig(mode=RiskMode.HUOBI)
# a strict table: MMR = factor / leverage = 5% at 10x, up to 999 net contracts
STRICT = (HuobiTier(999, {5: 0.3, 10: 0.5, 20: 0.8}),)


def test_the_table_is_the_contracts_own_else_the_configured_one() -> None:
    own, plain = presets.XBTUSD(huobi_tiers=list(STRICT)), presets.XBTUSD()
    assert own.huobi_tiers == STRICT and huobi_tiers(own, HUOBI) == STRICT
    assert huobi_tiers(plain, HUOBI) is HUOBI.huobi_tiers
    # an instrument with a table hashes, and its table is part of its identity
    assert hash(own) == hash(presets.XBTUSD(huobi_tiers=STRICT)) and own != plain


def test_assess_uses_the_factor_of_the_contracts_own_table() -> None:
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


def exchange(*insts: object) -> Exchange:
    ex = Exchange(list(insts), risk_mode=HUOBI, insurance_fund={"XBt": 10 * XBT})  # type: ignore[arg-type]
    for inst in insts:
        ex.set_mark(inst.symbol, 10_000)  # type: ignore[attr-defined]
    ex.deposit(MAKER, 100 * XBT, ts=0)
    ex.deposit(TRADER, 10 * XBT, ts=0)
    return ex


def test_a_mark_move_liquidates_by_the_contracts_own_table() -> None:
    outcomes = {}
    for name, inst in (("own", presets.XBTUSD(huobi_tiers=STRICT)), ("plain", presets.XBTUSD())):
        ex = exchange(inst)
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
    ex = exchange(presets.XBTUSD(huobi_tiers=STRICT), presets.ETHUSD())
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
def test_a_bad_table_is_an_invalid_config(tiers: object) -> None:
    with pytest.raises(InvalidConfigError):
        presets.XBTUSD(huobi_tiers=tiers)
    with pytest.raises(InvalidConfigError):
        LiquidationConfig(mode=RiskMode.HUOBI, huobi_tiers=tiers)  # type: ignore[arg-type]
