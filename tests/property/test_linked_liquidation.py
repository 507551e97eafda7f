"""RELIABILITY P2 across contracts that share a settle currency: a cross position's collateral
counts the unrealised losses of the account's other cross positions, so a mark move in one
contract can put a position in another below maintenance. After every mark move, every
position of every contract (not only the moved one) must be above maintenance unless the
liquidation engine holds it.

Traders hold XBTUSD and XBTZ (both inverse, both XBt-settled), each leg cross or isolated at a
random leverage, against a market maker that leaves depth on both sides; then the two marks
move in turn."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.exchange import LIQUIDATION_ACCOUNT, Exchange
from perpex.risk.liquidation import assess

XBT = 100_000_000
MAKER = 1
SYMBOLS = ("XBTUSD", "XBTZ")
MARK = 10_000

leg = st.fixed_dictionaries({
    "leverage": st.one_of(st.just(0), st.just(0), st.integers(1, 100)),  # cross half the time
    "size": st.integers(1, 40),             # thousands of contracts
    "long": st.booleans(),
})
trader = st.fixed_dictionaries({
    "wallet_pct": st.integers(1, 100),      # percent of one XBT
    "legs": st.tuples(leg, leg),
})
scenario = st.fixed_dictionaries({
    "traders": st.lists(trader, min_size=1, max_size=6),
    "fund_pct": st.integers(0, 100),
    "moves": st.lists(st.tuples(st.sampled_from([0, 1]), st.integers(-200, 200)),
                      min_size=1, max_size=4),  # (contract, per mille of its mark)
    "mode": st.sampled_from(["BitMEX", "OKEx", "Huobi"]),
})


def build(s: dict) -> Exchange:
    ex = Exchange([presets.XBTUSD(), presets.XBTZ()], risk_mode=s["mode"],
                  insurance_fund={"XBt": s["fund_pct"] * XBT // 100})
    ex.deposit(MAKER, 10_000 * XBT, ts=0)
    for sym in SYMBOLS:
        ex.set_mark(sym, MARK)
    for k, t in enumerate(s["traders"]):
        a = MAKER + 1 + k
        ex.deposit(a, t["wallet_pct"] * XBT // 100, ts=0)
        for sym, lg in zip(SYMBOLS, t["legs"]):
            if lg["leverage"]:
                ex.set_leverage(a, sym, lg["leverage"])
            qty = lg["size"] * 1_000
            side, other = ("Buy", "Sell") if lg["long"] else ("Sell", "Buy")
            if ex.place(a, sym, side, qty, MARK).accepted:
                ex.place(MAKER, sym, other, qty, MARK)
            ex.cancel_all(a)
            ex.cancel_all(MAKER)
    for sym in SYMBOLS:
        for level in range(1, 6):
            ex.place(MAKER, sym, "Buy", 20_000, MARK - level * 50)
            ex.place(MAKER, sym, "Sell", 20_000, MARK + level * 50)
    return ex


def below_maintenance(ex: Exchange) -> list[tuple[int, str]]:
    cfg = ex.risk_config
    out = []
    for (a, sym), pos in sorted(ex._positions.items()):
        if a == LIQUIDATION_ACCOUNT or not pos.qty:
            continue
        if assess(ex._risk_position(ex._inst[sym], pos), ex._marks[sym], cfg).liquidate:
            out.append((a, sym))
    return out


def run(s: dict) -> None:
    ex = build(s)
    marks = {sym: MARK for sym in SYMBOLS}
    for which, move in s["moves"]:
        sym = SYMBOLS[which]
        marks[sym] += marks[sym] * move // 1000
        ex.set_mark(sym, max(marks[sym], 1))
        assert below_maintenance(ex) == []
        assert all(v == 0 for v in ex.audit().ledger_sum.values())
        assert all(w >= 0 for a, w in ex.wallet_balances("XBt").items() if a != LIQUIDATION_ACCOUNT)
        assert ex.insurance_fund("XBt") >= 0
        ex.check_invariants()


def _cross(size: int, leverage: int = 0) -> dict:
    return {"leverage": leverage, "size": size, "long": False}


# Found by the long run: after the XBTUSD step, the XBTZ step partly liquidates account 4's
# XBTZ short (OKEx mode), and the loss that realises leaves the same account's cross XBTUSD
# short below maintenance; the contracts are now stepped again until a pass does nothing.
LIQUIDATION_IN_ANOTHER_CONTRACT = {
    "traders": [{"wallet_pct": 1, "legs": (_cross(1), _cross(1))},
                {"wallet_pct": 1, "legs": (_cross(1), _cross(1))},
                {"wallet_pct": 5, "legs": (_cross(10), _cross(26))},
                {"wallet_pct": 4, "legs": (_cross(1), _cross(25, 68))},
                {"wallet_pct": 4, "legs": (_cross(1), _cross(25, 68))}],
    "fund_pct": 0, "moves": [(0, 0)], "mode": "OKEx"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
@example(LIQUIDATION_IN_ANOTHER_CONTRACT)
def test_a_mark_move_in_one_contract_leaves_no_position_in_another_below_maintenance(s):
    run(s)


@pytest.mark.slow
@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_a_mark_move_in_one_contract_leaves_no_position_in_another_below_maintenance_at_length(s):
    run(s)
