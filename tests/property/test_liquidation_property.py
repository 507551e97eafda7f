"""RELIABILITY P2 as a property: after the liquidation step no account is below maintenance at
the current mark unless the liquidation engine holds its position (or, in OKEx mode with
resting partial-liquidation orders, the position is frozen while its order rests); the ledgers
sum to zero and no wallet (nor the insurance fund) is negative.

Random traders on XBTUSD (inverse, XBt) and XBTUSDT (linear, USDt), each isolated at a random
leverage or cross, trade against a market maker that also leaves depth on both sides; then the
marks move by a random fraction and the step runs for each contract."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.exchange import LIQUIDATION_ACCOUNT, Exchange
from perpex.risk.liquidation import LiquidationConfig, RiskMode, assess

XBT = 100_000_000
USDT = 1_000_000
MAKER = 1
# (symbol, currency, wallet unit, contracts per unit of size, mark at the start); sizes stay
# inside the OKEx tier table, which counts contracts whatever they are worth
CONTRACTS = (("XBTUSD", "XBt", XBT, 1_000, 10_000), ("XBTUSDT", "USDt", 500 * USDT, 50_000, 10_000))

trader = st.fixed_dictionaries({
    "leverage": st.one_of(st.just(0), st.integers(1, 100)),
    "wallet_pct": st.integers(1, 100),       # percent of one wallet unit
    "size": st.integers(1, 20),               # lots of ``contracts per unit of size``
    "long": st.booleans(),
    "symbol": st.sampled_from([0, 1]),
})
scenario = st.fixed_dictionaries({
    "traders": st.lists(trader, min_size=1, max_size=8),
    "fund_pct": st.integers(0, 100),
    "moves": st.tuples(st.integers(-150, 150), st.integers(-150, 150)),  # per mille of the mark
    "depth_gap": st.integers(1, 300),         # ticks between the maker's depth levels
    "mode": st.sampled_from(["BitMEX", "OKEx", "Huobi", "OKEx-repost"]),
    "clock": st.booleans(),                   # OKEx-repost: waits end by advance, not a mark
})


WAIT = 60_000  # OKEx-repost: the resting order's wait, ms


def build(s: dict) -> Exchange:
    mode = s["mode"] if s["mode"] != "OKEx-repost" else \
        LiquidationConfig(mode=RiskMode.OKEX, repost_after_ms=WAIT)
    ex = Exchange([presets.XBTUSD(), presets.XBTUSDT()], risk_mode=mode,
                  insurance_fund={"XBt": s["fund_pct"] * XBT // 100,
                                  "USDt": s["fund_pct"] * 500 * USDT // 100})
    ex.deposit(MAKER, 1_000 * XBT, ts=0)
    ex.deposit(MAKER, 10_000_000 * USDT, currency="USDt", ts=0)
    for sym, _, _, _, mark in CONTRACTS:
        ex.set_mark(sym, mark)
    for k, t in enumerate(s["traders"]):
        a = MAKER + 1 + k
        sym, ccy, unit, per, mark = CONTRACTS[t["symbol"]]
        ex.deposit(a, t["wallet_pct"] * unit // 100, currency=ccy, ts=0)
        if t["leverage"]:
            ex.set_leverage(a, sym, t["leverage"])
        qty = t["size"] * per
        side, other = ("Buy", "Sell") if t["long"] else ("Sell", "Buy")
        if ex.place(a, sym, side, qty, mark).accepted:
            ex.place(MAKER, sym, other, qty, mark)
        ex.cancel_all(a)
        ex.cancel_all(MAKER)
    for sym, _, _, per, mark in CONTRACTS:
        tick = presets.XBTUSD().tick_size if sym == "XBTUSD" else presets.XBTUSDT().tick_size
        for level in range(1, 6):
            gap = level * s["depth_gap"] * tick
            ex.place(MAKER, sym, "Buy", 20 * per, mark - gap)
            ex.place(MAKER, sym, "Sell", 20 * per, mark + gap)
    return ex


def check_p2(ex: Exchange, symbol: str) -> None:
    """P2 for the contract whose liquidation step just ran (the step runs on a mark change of
    that contract; the other contract is checked after its own)."""
    cfg = ex.risk_config
    for (a, sym), pos in sorted(ex._positions.items()):
        if a == LIQUIDATION_ACCOUNT or sym != symbol or not pos.qty or (a, sym) in ex._liq_holds:
            continue
        inst = ex._inst[sym]
        verdict = assess(ex._risk_position(inst, pos), ex._marks[sym], cfg)
        assert not verdict.liquidate, (a, sym, pos, verdict)
    audit = ex.audit()
    assert all(v == 0 for v in audit.ledger_sum.values())
    for ccy in ("XBt", "USDt"):
        assert all(w >= 0 for a, w in ex.wallet_balances(ccy).items() if a != LIQUIDATION_ACCOUNT)
        assert ex.insurance_fund(ccy) >= 0
    ex.check_invariants()


def run(s: dict) -> None:
    ex = build(s)
    for (sym, _, _, _, mark), move in zip(CONTRACTS, s["moves"]):
        ex.set_mark(sym, mark + mark * move // 1000)  # whole prices: on both 0.5 grids
        check_p2(ex, sym)
        if ex._liq_holds:
            # the waits end at the next step after their time, or as the clock passes it:
            # each frozen position is freed or given a new order (a new hold)
            before = dict(ex._liq_holds)
            if s["clock"]:
                ex.advance(ex._ts + WAIT)
            else:
                ex.set_mark(sym, mark + mark * move // 1000, ts=ex._ts + WAIT)
            assert all(ex._liq_holds.get(k) != v for k, v in before.items() if k[1] == sym)
            check_p2(ex, sym)


# Partial liquidations are rare in random draws (OKEx cuts only tier 3 and up, and only in a
# narrow band of margin ratios), so a resting order's wait would seldom be exercised: this draw
# (found by search) leaves a 99x short of 10,000 XBTUSD in that band at the first step.
HELD = {"traders": [{"leverage": 0, "wallet_pct": 1, "size": 1, "long": False, "symbol": 0},
                    {"leverage": 99, "wallet_pct": 2, "size": 10, "long": False, "symbol": 0}],
        "fund_pct": 0, "moves": (0, 0), "depth_gap": 204, "mode": "OKEx-repost"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example({**HELD, "clock": False})
@example({**HELD, "clock": True})
@given(scenario)
def test_after_every_mark_move_no_account_is_left_below_maintenance(s):
    run(s)


def test_the_pinned_draw_does_leave_a_position_waiting():
    ex = build({**HELD, "clock": False})
    ex.set_mark("XBTUSD", 10_000)
    assert ex._liq_holds


@pytest.mark.slow
@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_after_every_mark_move_no_account_is_left_below_maintenance_at_length(s):
    run(s)
