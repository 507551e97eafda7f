"""The fast steps of the liquidation engine against their references: the direct step of
perpex._lots.liquidate (a BitMEX position at the lowest risk limit with no open orders, settled
without building an assessment) against assessing every liquidated position, its collateral
and bankruptcy price against the engine's and the policy's, and the native takeover, lot
working and lot-fill surplus (perpex._lots) against their Python methods. On a cascade of mixed
positions (isolated and cross, every contract type, with and without open orders, above the
base risk limit), in each risk mode, both give the same events, in the same order, and the
same state hash after every mark."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.exchange import Exchange
from perpex.exchange_risk import RiskMixin

XBT = 100_000_000
USDT = 1_000_000
MAKER = 1
# symbol -> (mark at the start in ticks, contracts of one position)
START = {"XBTUSD": (20_000, 100), "ETHUSD": (4_000, 100), "XBTUSDT": (20_000, 20_000), "XBTZ": (20_000, 100)}
LEVERAGE = {"BitMEX": (50, 30), "OKEx": (50, 25), "Huobi": (20, 10)}  # 30: a margin rounded up


def price(ex: Exchange, sym: str, ticks: int) -> Any:
    return ex._inst[sym].ticks_to_price(ticks)


def cascade(mode: str, direct: bool, traders: list[tuple[int, int, bool, bool, bool]],
            moves: list[int]) -> tuple[list[list[dict[str, Any]]], list[int], Exchange]:
    """``direct``: the fast steps, else their references. ``traders``: (contract index, kind,
    long, with an open order, above the base risk limit) with kind 0 isolated at the mode's
    high leverage, 1 isolated lower (with margin added when without an order), 2 cross.
    ``moves``: per-mille mark moves applied to every contract in turn. Returns the events
    and state hash after each move."""
    syms = list(START)
    ex = Exchange([presets.XBTUSD(), presets.ETHUSD(), presets.XBTUSDT(), presets.XBTZ()],
                  risk_mode=mode, insurance_fund={"XBt": XBT // 20, "USDt": 0})
    ex._direct_liquidation = direct  # type: ignore[attr-defined]
    ex._native_lots = direct  # type: ignore[attr-defined]
    ex.deposit(MAKER, 10_000 * XBT, ts=0)
    ex.deposit(MAKER, 10**9 * USDT, currency="USDt", ts=0)
    for sym, (mark, _) in START.items():
        ex.set_mark(sym, price(ex, sym, mark))
    for k, (c, kind, long, with_order, high_limit) in enumerate(traders):
        a = MAKER + 1 + k
        sym = syms[c]
        inst = ex._inst[sym]
        mark, qty = START[sym]
        value = abs(inst.value(qty, mark))
        ex.deposit(a, value // (8 if kind == 1 else 15), currency=inst.settle_currency, ts=0)
        if kind < 2:
            ex.set_leverage(a, sym, LEVERAGE[mode][kind])
        if high_limit and mode == "BitMEX":
            ex.set_risk_limit(a, sym, inst.risk_limit + inst.risk_step)
        side, other = ("Buy", "Sell") if long else ("Sell", "Buy")
        ex.place(MAKER, sym, other, qty, price(ex, sym, mark))
        assert ex.place(a, sym, side, qty, price(ex, sym, mark)).accepted
        if kind == 1 and not with_order:
            ex.transfer_margin(a, sym, value // 100)  # isolated margin beyond the leverage's
        if with_order:
            gap = -20 if long else 20
            ex.place(a, sym, side, inst.lot_size, price(ex, sym, mark + gap))
    for sym, (mark, qty) in START.items():
        for level in range(1, 4):  # some depth on each side for the lots to sell into
            ex.place(MAKER, sym, "Buy", qty, price(ex, sym, mark - 150 * level))
            ex.place(MAKER, sym, "Sell", qty, price(ex, sym, mark + 150 * level))
    ex.drain_events()
    events, hashes = [], []
    for move in moves:
        for sym, (mark, _) in START.items():
            ex.set_mark(sym, price(ex, sym, mark + mark * move // 1000))
            events.append(ex.drain_events())
            hashes.append(ex.state_hash())
    ex.check_invariants()
    assert all(v == 0 for v in ex.audit().ledger_sum.values())
    return events, hashes, ex


def mixed() -> list[tuple[int, int, bool, bool, bool]]:
    """Every contract x isolated high / isolated low / cross x with and without an open order,
    longs and shorts, some above the base risk limit."""
    out = []
    for c in range(4):
        for kind in range(3):
            for with_order in (False, True):
                for long in (True, False):
                    out.append((c, kind, long, with_order, kind == 1 and with_order))
    return out


def count_assessed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the positions the liquidation step assessed (the rest the direct step settled)."""
    calls = [0]
    real = RiskMixin._liquidate_assessed

    def counted(self: RiskMixin, *args: Any) -> None:
        calls[0] += 1
        real(self, *args)

    monkeypatch.setattr(RiskMixin, "_liquidate_assessed", counted)
    return calls


@pytest.mark.parametrize("mode", ["BitMEX", "OKEx", "Huobi"])
def test_the_direct_takeover_gives_the_events_and_state_of_the_assessed_path(
        mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    moves = [-15, -30, -45, 0, 15, 30, 45, 60]
    assessed = count_assessed(monkeypatch)
    ref_events, ref_hashes, ref = cascade(mode, False, mixed(), moves)
    all_assessed, assessed[0] = assessed[0], 0
    events, hashes, ex = cascade(mode, True, mixed(), moves)
    assert hashes == ref_hashes
    assert events == ref_events
    # key for key in order too (a report's JSON reads the same)
    assert [list(e) for batch in events for e in batch] == \
        [list(e) for batch in ref_events for e in batch]
    stats = ex.liquidation_stats("XBt")
    assert stats == ref.liquidation_stats("XBt") and stats["takeovers"] >= 12
    assert ex.liquidation_stats("USDt")["takeovers"] >= 4
    if mode == "BitMEX":
        # the cascade went through the direct step (positions safe or taken over) ...
        assert all_assessed - assessed[0] >= 16 and assessed[0] > 0
        kinds = {e["execType"] for batch in events for e in batch}
        assert {"Liquidation", "Canceled", "Trade"} <= kinds  # ... beside orders and partial fills
    else:
        assert assessed[0] == all_assessed  # OKEx and Huobi always assess


trader = st.tuples(st.integers(0, 3), st.integers(0, 2), st.booleans(), st.booleans(), st.booleans())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trader, min_size=1, max_size=12), st.lists(st.integers(-80, 80), min_size=1, max_size=4),
       st.sampled_from(["BitMEX", "OKEx", "Huobi"]))
def test_random_cascades_end_in_the_same_state_on_either_path(traders, moves, mode) -> None:
    ref_events, ref_hashes, _ = cascade(mode, False, traders, moves)
    events, hashes, _ = cascade(mode, True, traders, moves)
    assert hashes == ref_hashes
    assert events == ref_events


@pytest.mark.parametrize("sym", ["XBTUSD", "XBTUSDT"])
@pytest.mark.parametrize("long", [True, False])
def test_a_takeover_price_past_the_wallet_moves_towards_the_mark_on_either_path(
        sym: str, long: bool) -> None:
    # Taken over at the worst price there is, the position would leave its wallet below zero:
    # the takeover moves to the price nearest that one at which the wallet ends >= 0.
    from perpex.accounts.ledger import wallet

    runs = []
    for native in (True, False):
        ex = Exchange([presets.XBTUSD(), presets.XBTUSDT()], insurance_fund={"XBt": XBT})
        ex._native_lots = native  # type: ignore[attr-defined]
        inst = ex._inst[sym]
        mark, qty = START[sym]
        ccy = inst.settle_currency
        ex.deposit(MAKER, 10_000 * XBT if ccy == "XBt" else 10**9 * USDT, currency=ccy, ts=0)
        ex.deposit(2, abs(inst.value(qty, mark)) // 5, currency=ccy, ts=0)
        ex.set_mark(sym, price(ex, sym, mark))
        ex.set_leverage(2, sym, 10)
        ex.place(MAKER, sym, "Sell" if long else "Buy", qty, price(ex, sym, mark))
        assert ex.place(2, sym, "Buy" if long else "Sell", qty, price(ex, sym, mark)).accepted
        ex.drain_events()
        pos = ex._positions[(2, sym)]
        worst = 1 if long else inst.max_price_ticks
        ex._takeover(inst, pos, worst)
        events = ex.drain_events()
        taken = [e for e in events if e["execType"] == "Liquidation"]
        assert len(taken) == 1 and pos.qty == 0
        left = ex._ledger.balance(ccy, wallet(2))
        runs.append((events, ex.state_hash(), left, taken[0]["lastPx"]))
    assert runs[0] == runs[1]
    left, px = runs[0][2], runs[0][3]
    assert 0 <= left < abs(inst.value(qty, mark)) // 1000  # the wallet ends at (about) zero
    assert px != price(ex, sym, worst)


# ---- the direct step's own arithmetic against the engine's (perpex._lots.collateral, bankruptcy)

LEVERAGES = st.one_of(st.integers(1, 100), st.sampled_from([2.5, 12.5, 33.3, 66.6, 0.5]))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(START)), st.integers(1, 10**6), st.booleans(), st.integers(1, 10**9),
       st.one_of(st.just(0), LEVERAGES), st.integers(0, 10**7), st.integers(0, 10**9))
def test_the_direct_steps_collateral_is_the_engines(sym: str, qty: int, long: bool, cost: int,
                                                    leverage: float, extra: int, wal: int) -> None:
    # an isolated position's own margin (rounded up, with the margin added) as far as its
    # wallet holds it; a cross one's by the engine's method
    from perpex import _lots

    ex = Exchange([presets.XBTUSD(), presets.ETHUSD(), presets.XBTUSDT(), presets.XBTZ()])
    inst = ex._inst[sym]
    if wal:
        ex.deposit(2, wal, currency=inst.settle_currency, ts=0)
    pos = ex._position(2, sym)
    pos.qty = qty if long else -qty
    pos.cost = cost if (pos.qty > 0) != inst.is_inverse else -cost
    pos.leverage, pos.extra_margin = leverage, extra if leverage else 0
    assert _lots.collateral(ex, inst, pos) == ex._collateral(inst, pos)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(START)), st.one_of(st.integers(1, 10**7), st.integers(1, 10**30)),
       st.booleans(), st.one_of(st.integers(1, 10**12), st.integers(1, 10**40)),
       st.one_of(st.integers(0, 10**12), st.integers(0, 10**40)))
def test_the_direct_steps_bankruptcy_price_is_the_policys(sym: str, qty: int, long: bool, cost: int,
                                                          collateral: int) -> None:
    # in int64 where it fits, else through the policy's function (every variant but V3)
    from perpex import _lots
    from perpex.risk.prices import bankruptcy_ticks

    inst = {"XBTUSD": presets.XBTUSD, "ETHUSD": presets.ETHUSD, "XBTUSDT": presets.XBTUSDT,
            "XBTZ": presets.XBTZ}[sym]()
    q = qty if long else -qty
    signed = cost if (q > 0) != inst.is_inverse else -cost
    assert _lots.bankruptcy(inst, q, signed, collateral) == bankruptcy_ticks(inst, q, signed, collateral)
