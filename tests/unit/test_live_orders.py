"""A key's live orders (perpex._idtable.LiveOrders) keep the order the orders went live in
through any run of places, cancels and fills, across the gaps closed up when the slots run out
and across a snapshot, and every step that reads them (cancel-all's events, the order count,
the invariants) sees that order."""

from __future__ import annotations

import copy
import random

import pytest

from perpex import presets
from perpex._idtable import LiveOrders
from perpex.exchange import Exchange
from perpex.exchange_journal import dump_exchange, load_exchange

XBT = 100_000_000
KEY = (1, "XBTUSD")


def fresh() -> Exchange:
    ex = Exchange([presets.XBTUSD()])
    for a in (1, 2):
        ex.deposit(a, 10 * XBT, ts=1)
    ex.set_mark("XBTUSD", 10_000, ts=1)
    return ex


@pytest.mark.parametrize("seed", range(6))
def test_the_order_of_going_live_survives_churn_and_snapshots(seed):
    rng = random.Random(seed)
    ex = fresh()
    model: dict[int, None] = {}  # account 1's live order ids, in the order they went live
    ts = 2
    for step in range(600):
        ts += 1
        r = rng.random()
        if r < 0.5 and len(model) < 150:  # a resting bid, below any offer
            oid = ex.place(1, "XBTUSD", "Buy", 10, 9_000 + rng.randrange(500), ts=ts).order_id
            model[oid] = None
        elif r < 0.85 and model:
            oid = rng.choice(list(model))
            assert ex.cancel(1, oid, ts=ts).accepted
            del model[oid]
        elif r < 0.95 and model:  # account 2 sells into the best bids: fills take them out
            ex.place(2, "XBTUSD", "Sell", 10 * rng.randrange(1, 4), ts=ts)
            model = {o: None for o in model if o in ex._orders}
        else:  # the engine restored from a snapshot carries on
            ex = load_exchange(dump_exchange(ex))
        live = ex._live.get(KEY)
        assert (list(live) if live is not None else []) == list(model), step
        assert (len(live) if live is not None else 0) == len(model)
    ex.check_invariants()
    # cancel-all reports the orders in the order they went live
    ex.drain_events()
    ex.cancel_all(1, ts=ts + 1)
    canceled = [e["orderID"] for e in ex.drain_events() if e.get("ordStatus") == "Canceled"]
    assert canceled == list(model) and KEY not in ex._live


def test_an_emptied_key_starts_again_in_order():
    ex = fresh()
    a = ex.place(1, "XBTUSD", "Buy", 10, 9_000, ts=2).order_id
    ex.cancel(1, a, ts=3)
    assert KEY not in ex._live
    b = ex.place(1, "XBTUSD", "Buy", 10, 9_001, ts=4).order_id
    c = ex.place(1, "XBTUSD", "Buy", 10, 9_002, ts=4).order_id
    assert list(ex._live[KEY]) == [b, c] and b in ex._live[KEY] and a not in ex._live[KEY]


def test_an_emptied_key_indexes_its_order_margin_again_from_nothing():
    """The key's order-margin entry leaves the table when its last order goes and the next
    order starts a new one holding that order alone (the engine reuses the emptied object)."""
    ex = fresh()
    a = ex.place(1, "XBTUSD", "Buy", 10, 9_000, ts=2).order_id
    b = ex.place(1, "XBTUSD", "Sell", 20, 11_000, ts=2).order_id
    assert ex._open[KEY].levels() == ({18_000: 10}, {22_000: 20}, 0)
    ex.cancel(1, a, ts=3)
    ex.cancel(1, b, ts=3)
    assert KEY not in ex._open and KEY not in ex._live
    ex.place(1, "XBTUSD", "Buy", 7, 9_001, ts=4)
    assert ex._open[KEY].levels() == ({18_002: 7}, {}, 0) and ex._open[KEY].count == 1
    ex.check_invariants()
    back = load_exchange(dump_exchange(ex))
    assert back._open[KEY].levels() == ex._open[KEY].levels()
    assert back.state_hash() == ex.state_hash()


def test_a_copy_holds_the_same_orders_and_the_python_view_is_a_copy():
    ex = fresh()
    ids = [ex.place(1, "XBTUSD", "Buy", 10, 9_000 + i, ts=2).order_id for i in range(5)]
    live = ex._live[KEY]
    twin = copy.copy(live)
    assert isinstance(twin, LiveOrders) and twin == live and list(twin) == ids
    assert repr(live) == f"LiveOrders({ids!r})"
    seen = []
    for oid in live:  # iteration runs over a copy: the engine may change the orders meanwhile
        seen.append(oid)
        if len(seen) == 1:
            ex.cancel(1, ids[-1], ts=3)
    assert seen == ids and list(live) == ids[:-1]


def test_a_record_in_two_objects_leaves_either_one_whole():
    ex = fresh()
    ids = [ex.place(1, "XBTUSD", "Buy", 10, 9_000 + i, ts=2).order_id for i in range(3)]
    live = ex._live[KEY]
    with pytest.raises(TypeError):
        live.append(None)
    empty = LiveOrders()
    assert len(empty) == 0 and list(empty) == [] and not empty and ids[0] not in empty
    for oid in reversed(ids):  # a repair's copy: each record's slot is now the copy's
        empty.append(ex._orders[oid])
    ex.cancel(1, ids[1], ts=3)  # the engine's own object still finds it
    assert list(live) == [ids[0], ids[2]] and list(empty) == ids[::-1]
    ex.check_invariants()
