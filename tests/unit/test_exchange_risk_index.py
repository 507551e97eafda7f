"""The liquidation index: bulk re-indexing after a funding instant, the queue worked when the
index is read, the trigger cache, and check_invariants catching any drift of the caches."""

from __future__ import annotations

import pytest

from perpex import presets
from perpex.errors import InvariantViolation
from perpex.exchange import Exchange

XBT = 100_000_000
H = 3_600_000


def test_bulk_reindex_after_funding_matches_recomputing_each_position() -> None:
    t0 = 4 * H
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": 10 * XBT})
    ex.update_index(t0, {"Bitstamp": 10000, "Coinbase": 10000, "Kraken": 10000})
    ex.deposit(1, 10_000 * XBT, ts=t0)
    n = 400  # above the bulk threshold
    ex.place(1, "XBTUSD", "Sell", 10 * n, 10000, ts=t0)
    for a in range(2, n + 2):
        ex.deposit(a, XBT // 10, ts=t0)
        if a % 2:
            ex.set_leverage(a, "XBTUSD", (5, 10, 25)[a % 3], ts=t0)
        ex.place(a, "XBTUSD", "Buy", 10, 10000, ts=t0)
    ex.advance(t0 + 8 * H)            # fixes the first rate
    ex._risk_flush()                  # the index is brought up to date when it is read
    before = dict(ex._liq_key)
    ex.advance(t0 + 16 * H)           # pays it: every position's margin moves
    ex._risk_flush()
    paid = [e for e in ex.drain_events() if e.get("execType") == "Funding"]
    assert len(paid) == n + 1
    index = ex._liq_key
    assert index != before
    for (a, sym) in index:
        assert index[(a, sym)] == ex._index_ticks(a, sym)
    longs = ex._liq_long["XBTUSD"]
    assert longs == sorted(longs) and len(longs) == n
    ex.check_invariants()


def test_bulk_reindex_after_a_cascade_drops_the_closed_positions() -> None:
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": 100 * XBT})
    ex.deposit(1, 10_000 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    n = 600  # half of them liquidated in one step: above the bulk threshold
    ex.place(1, "XBTUSD", "Sell", 100 * n, 10_000)
    for a in range(2, n + 2):
        ex.deposit(a, XBT // 10, ts=0)
        ex.set_leverage(a, "XBTUSD", 50 if a % 2 else 10)
        ex.place(a, "XBTUSD", "Buy", 100, 10_000)
    ex.place(1, "XBTUSD", "Buy", 100 * n, 9_000)
    ex.set_mark("XBTUSD", 9_995)
    ex.set_mark("XBTUSD", 9_700)
    keys = [(a, "XBTUSD") for a in range(2, n + 2)]
    closed = [k for k in keys if ex._positions[k].qty == 0]
    assert closed == [k for k in keys if k[0] % 2]
    assert not any(k in ex._liq_key or k in ex._liq_inputs for k in closed)
    assert all(ex._liq_key[k] == ex._index_ticks(*k) for k in keys if k not in closed)
    assert len(ex._liq_long["XBTUSD"]) == n // 2
    ex.check_invariants()


def _two_contracts() -> Exchange:
    ex = Exchange([presets.XBTUSD(), presets.ETHUSD()], insurance_fund={"XBt": 10 * XBT})
    for a in (1, 2, 3):
        ex.deposit(a, 10 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    ex.set_mark("ETHUSD", 300)
    ex.set_leverage(1, "ETHUSD", 10)           # isolated: its collateral is its own margin
    ex.place(2, "ETHUSD", "Sell", 100, 300)
    ex.place(1, "ETHUSD", "Buy", 100, 300)
    return ex


def test_a_position_whose_trigger_inputs_did_not_change_is_not_recomputed() -> None:
    ex = _two_contracts()
    ex._risk_flush()
    entry = ex._liq_key[(1, "ETHUSD")]
    seen: list[str] = []
    plain = ex._trigger_ticks
    ex._trigger_ticks = lambda inst, pos, collateral=None, others=None: (
        seen.append(inst.symbol) or plain(inst, pos, collateral, others))
    ex.place(3, "XBTUSD", "Sell", 1_000, 10_000)
    ex.place(1, "XBTUSD", "Buy", 1_000, 10_000)  # a fill and a fee: account 1 is touched
    ex._risk_flush()
    assert seen.count("XBTUSD") == 2 and "ETHUSD" not in seen
    assert ex._liq_key[(1, "ETHUSD")] == entry == ex._index_ticks(1, "ETHUSD")
    ex.check_invariants()


def long_at_100x_market() -> Exchange:
    """Account 1 at 100x and account 2 offering 10,000 contracts at the mark, 10,000."""
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": 10 * XBT})
    for a in (1, 2):
        ex.deposit(a, 10 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    ex.set_leverage(1, "XBTUSD", 100)
    ex.place(2, "XBTUSD", "Sell", 10_000, 10_000)
    return ex


def test_positions_traded_between_two_marks_are_indexed_once_and_still_liquidated() -> None:
    ex = long_at_100x_market()
    for _ in range(10):
        ex.place(1, "XBTUSD", "Buy", 1_000, 10_000)
    assert (1, "XBTUSD") in ex._risk_dirty and (1, "XBTUSD") not in ex._liq_key
    ex.set_mark("XBTUSD", 9_900)                  # past the 100x long's liquidation price
    assert ex.position(1, "XBTUSD")["currentQty"] == 0
    assert any(e["execType"] == "Liquidation" for e in ex.drain_events())
    ex.check_invariants()


def test_check_invariants_catches_a_cached_trigger_that_drifted_from_its_inputs() -> None:
    ex = _two_contracts()
    ex._risk_flush()
    key = (1, "ETHUSD")
    inputs, (side, ticks) = ex._liq_inputs[key]
    ex._liq_inputs[key] = (inputs, (side, ticks + 1))
    ex._liq_key[key] = (side, ticks + 1)
    with pytest.raises(InvariantViolation, match="liquidation index|cached trigger"):
        ex.check_invariants()
    assert ex._halted is not None


def test_check_invariants_catches_a_cached_trigger_computed_from_wrong_inputs() -> None:
    ex = _two_contracts()
    ex._risk_flush()
    key = (1, "ETHUSD")
    inputs, entry = ex._liq_inputs[key]
    side, ticks = entry
    wrong = (side, ticks + 7)
    ex._liq_inputs[key] = (inputs, wrong)
    ex._liq_key[key] = wrong
    lst = ex._liq_long["ETHUSD"]
    lst.remove((ticks, 1))
    lst.append((ticks + 7, 1))
    lst.sort()
    with pytest.raises(InvariantViolation, match=r"cached trigger of \(1, 'ETHUSD'\)"):
        ex.check_invariants()


def test_check_invariants_catches_a_drifted_margin_rate_or_price_cache() -> None:
    ex = _two_contracts()
    ex.check_invariants()
    inst = next(i for i in ex._inst.values() if any(k[0] == "init" for k in i._rates))
    key = next(k for k in inst._rates if k[0] == "init")
    inst._rates[key] += 0.001
    with pytest.raises(InvariantViolation, match="initial margin rate"):
        ex.check_invariants()
    for cache in ("engine", "contract view"):
        ex = _two_contracts()
        ex.place(1, "XBTUSD", "Buy", 100, 9_000)  # (a cross order: its rate is cached twice)
        limit = ex.book("XBTUSD").instrument.risk_limit
        view = ex._contract_view("XBTUSD")
        assert ex._cross_rates[("XBTUSD", limit)] == view.rates[limit]
        if cache == "engine":
            ex._cross_rates[("XBTUSD", limit)] = (1, 3)
        else:
            view.rates[limit] = (1, 3)
        with pytest.raises(InvariantViolation, match=f"cross rate of XBTUSD at risk limit {limit}"):
            ex.check_invariants()
    ex = _two_contracts()
    ex._inst["ETHUSD"]._ticks[300] += 1
    with pytest.raises(InvariantViolation, match="cached ticks of price 300"):
        ex.check_invariants()


def test_a_position_is_queued_again_after_each_working_of_the_queue() -> None:
    """A position is written into the queue once however often it trades, marked as queued
    until the queue is worked; the next trade queues it again, and it is still liquidated
    at the mark after it. check_invariants catches a mark left without its entry."""
    ex = long_at_100x_market()
    ex.place(1, "XBTUSD", "Buy", 1_000, 10_000)
    pos = ex._positions[(1, "XBTUSD")]
    assert pos.queued and (1, "XBTUSD") in ex._risk_dirty
    ex._risk_flush()
    assert not pos.queued and not ex._risk_dirty
    ex.place(1, "XBTUSD", "Buy", 1_000, 10_000)   # traded after the working: queued again
    assert pos.queued and (1, "XBTUSD") in ex._risk_dirty
    ex.check_invariants()
    ex.set_mark("XBTUSD", 9_900)                  # past the 100x long's liquidation price
    assert ex.position(1, "XBTUSD")["currentQty"] == 0
    ex.check_invariants()
    ex.place(1, "XBTUSD", "Buy", 100, 10_000)
    ex.place(2, "XBTUSD", "Sell", 100, 10_000)    # a trade after the working: both queued
    queued = [k for k, p in ex._positions.items() if p.queued]
    assert queued and all(k in ex._risk_dirty for k in queued)
    ex._risk_dirty.pop(queued[0])                 # the entry lost, the mark kept: a defect
    with pytest.raises(InvariantViolation, match="marked as queued"):
        ex.check_invariants()
