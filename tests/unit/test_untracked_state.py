"""The engine's most numerous long-lived objects, order records and positions, refer to nothing
that refers back to them, so they are left to reference counting: the cyclic collector never
tracks or traverses them, however many orders rest, and they are freed when the engine drops
them (also after a snapshot's round trip)."""

from __future__ import annotations

import gc
import sys

from perpex import presets
from perpex.accounts.position import Position
from perpex.exchange import Exchange
from perpex.exchange_journal import dump_exchange, load_exchange
from perpex.orders import OrderRecord

XBT = 100_000_000


def _tracked(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def test_records_and_positions_are_left_to_reference_counting() -> None:
    ex = Exchange([presets.XBTUSD()])
    for a in (1, 2):
        ex.deposit(a, 10 * XBT, ts=0)
    ex.set_mark("XBTUSD", 20_000, ts=0)
    ids = [ex.place(1, "XBTUSD", "Buy", 10, 19_990 - i, ts=1).order_id for i in range(50)]
    ex.place(2, "XBTUSD", "Sell", 10, 19_990, ts=1)  # a fill: both accounts hold a position
    back = load_exchange(dump_exchange(ex))
    for engine in (ex, back):
        recs, positions = list(engine._orders.values()), list(engine._positions.values())
        assert len(recs) == 49 and len(positions) == 2
        assert not any(gc.is_tracked(o) for o in recs + positions)
    assert _tracked(OrderRecord) == 0 and _tracked(Position) == 0
    rec = ex._orders[ids[-1]]
    held = sys.getrefcount(rec)
    ex.cancel(1, ids[-1], ts=2)
    assert sys.getrefcount(rec) < held  # the engine's references went with the order
