"""The liquidation index after a funding instant re-indexes every position in bulk."""

from __future__ import annotations

from perpex import presets
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
    before = dict(ex._liq_key)
    ex.advance(t0 + 16 * H)           # pays it: every position's margin moves
    paid = [e for e in ex.drain_events() if e.get("execType") == "Funding"]
    assert len(paid) == n + 1
    index = ex._liq_key
    assert index != before
    for (a, sym) in index:
        assert index[(a, sym)] == ex._index_ticks(a, sym)
    longs = ex._liq_long["XBTUSD"]
    assert longs == sorted(longs) and len(longs) == n
    ex.check_invariants()
