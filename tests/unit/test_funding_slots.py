"""Funding pays from wallets the registry resolved once in the ledger: across instants,
positions going flat and a snapshot restore, the bulk path still equals the per-position loop
of ``test_funding_bulk`` to the unit."""

from __future__ import annotations

from perpex.accounts.ledger import KeySlots
from perpex.exchange import LIQUIDATION_ACCOUNT, Exchange
from perpex.exchange_journal import dump_exchange, load_exchange
from tests.unit.test_funding_bulk import DAY, H, PRICES, assert_same, funding_events, pair


def flatten_some(ex: Exchange, sym: str, every: int) -> int:
    """Every ``every``-th long closes against the next short it can (both may go flat)."""
    held = {k[0]: p.qty for k, p in ex._positions.items()
            if k[1] == sym and p.qty and k[0] != LIQUIDATION_ACCOUNT}
    longs = sorted(a for a, q in held.items() if q > 0)
    shorts = sorted(a for a, q in held.items() if q < 0)
    price = PRICES[sym][0]
    closed = 0
    for long, short in zip(longs[::every], shorts[::every]):
        qty = min(ex._positions[(long, sym)].qty, -ex._positions[(short, sym)].qty)
        ex.place(long, sym, "Sell", qty, price, ts=ex._ts)
        ex.place(short, sym, "Buy", qty, price, ts=ex._ts)
        closed += 1
    return closed


def resolved(ex: Exchange, sym: str) -> KeySlots | None:
    slots = ex._registry[sym]._slots
    return slots if isinstance(slots, KeySlots) and slots.ledger is ex._ledger else None


def test_funding_from_resolved_wallets_equals_the_loop_across_instants_flats_and_a_restore():
    fast, plain = pair(11, accounts=60, trades=200)
    t = DAY + 4 * H
    for _ in range(2):  # the first instant creates the engine's wallet; the second resolves it
        for ex in (fast, plain):
            ex.advance(t)
        assert_same(fast, plain)
        t += 8 * H
    assert all(resolved(fast, sym) is not None for sym in PRICES)
    fast = load_exchange(dump_exchange(fast))
    assert_same(fast, plain)
    for sym in PRICES:
        assert resolved(fast, sym) is not None  # bound to the restored ledger
        assert flatten_some(fast, sym, every=3) == flatten_some(plain, sym, every=3) > 0
    for ex in (fast, plain):
        ex.advance(t)
    events = assert_same(fast, plain)
    paid = {(e["account"], e["symbol"]) for e in funding_events(events)}
    flat = {k for k, p in fast._positions.items() if not p.qty}
    assert paid and flat and not paid & flat
    assert all(resolved(fast, sym) is not None for sym in PRICES)
