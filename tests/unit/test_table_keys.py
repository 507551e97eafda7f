"""The engine keys an (account, contract)'s tables by its position's own key tuple once the
position exists, so the loop's lookups find entries by identity; records restored from a
snapshot carry no key until a step builds the tuple for them, with the same behaviour."""

from __future__ import annotations

import copy

from perpex import presets
from perpex.exchange import Exchange
from perpex.exchange_journal import dump_exchange, load_exchange

XBT = 100_000_000


def stored_key(table: dict, key: tuple) -> tuple:
    return next(k for k in table if k == key)


def traded() -> Exchange:
    ex = Exchange([presets.XBTUSD()])
    for a in (1, 2):
        ex.deposit(a, XBT, ts=1)
    ex.set_mark("XBTUSD", 10_000, ts=1)
    ex.place(1, "XBTUSD", "Buy", 100, 10_000, ts=2)
    ex.place(2, "XBTUSD", "Sell", 100, 10_000, ts=2)  # both now hold a position
    return ex


def test_a_record_placed_before_the_position_carries_a_tuple_of_its_own():
    ex = Exchange([presets.XBTUSD()])
    ex.deposit(1, XBT, ts=1)
    oid = ex.place(1, "XBTUSD", "Buy", 100, 9_000, ts=2).order_id
    rec = ex._orders[oid]
    assert ("XBTUSD" not in {s for _, s in ex._positions}) and rec.key == (1, "XBTUSD")
    assert stored_key(ex._live, rec.key) is rec.key


def test_orders_after_a_fill_use_the_position_key_in_every_table():
    ex = traded()
    pos = ex._positions[(1, "XBTUSD")]
    buy = ex._orders[ex.place(1, "XBTUSD", "Buy", 50, 9_990, ts=3).order_id]
    ro = ex._orders[ex.place(1, "XBTUSD", "Sell", 30, 10_100, exec_inst="ReduceOnly", ts=3).order_id]
    assert buy.key is pos.key and ro.key is pos.key
    assert stored_key(ex._live, pos.key) is pos.key
    assert stored_key(ex._open, pos.key) is pos.key
    assert stored_key(ex._reduce_only, pos.key) is pos.key
    # the entries go when the orders do, found by that key
    ex.cancel(1, buy.order_id, ts=4)
    ex.cancel(1, ro.order_id, ts=4)
    assert (1, "XBTUSD") not in ex._live and (1, "XBTUSD") not in ex._open
    assert (1, "XBTUSD") not in ex._reduce_only
    ex.check_invariants()


def test_restored_records_have_no_key_and_behave_alike():
    ex = traded()
    ex.place(1, "XBTUSD", "Buy", 50, 9_990, ts=3)
    ex.place(2, "XBTUSD", "Buy", 40, 9_995, ts=3)
    back = load_exchange(dump_exchange(ex))
    assert all(r.key is None for r in back._orders.values())
    for e in (ex, back):
        e.place(2, "XBTUSD", "Sell", 90, 9_990, ts=5)  # fills both resting bids
        e.place(1, "XBTUSD", "Buy", 10, 9_000, ts=6)
        e.check_invariants()
    assert back.state_hash() == ex.state_hash()
    assert (2, "XBTUSD") not in back._live and (1, "XBTUSD") in back._live


def test_a_key_emptied_and_filled_again_gets_new_entries_that_every_step_finds():
    # the position remembers its key's live orders and levels; once they empty, the engine
    # deletes them, and what it remembered must not stand in for the new entries
    ex = traded()
    key = ex._positions[(1, "XBTUSD")].key
    for ts in (3, 5, 7):
        first = ex.place(1, "XBTUSD", "Buy", 50, 9_990, ts=ts).order_id
        live, levels = ex._live[key], ex._open[key]
        second = ex.place(1, "XBTUSD", "Buy", 20, 9_980, ts=ts)
        assert ex._live[key] is live and list(live) == [first, second.order_id]
        assert ex._open[key] is levels and levels.count == 2
        ex.cancel(1, first, ts=ts + 1)
        ex.cancel(1, second.order_id, ts=ts + 1)
        assert key not in ex._live and key not in ex._open
        ex.check_invariants()
    # a fill that empties the key takes the same path
    ex.place(1, "XBTUSD", "Sell", 10, 10_050, ts=9)
    ex.place(2, "XBTUSD", "Buy", 10, 10_050, ts=9)
    assert key not in ex._live and key not in ex._open
    ex.check_invariants()


def test_tables_replaced_as_a_whole_are_the_ones_read_and_written():
    ex = traded()
    key = ex._positions[(1, "XBTUSD")].key
    oid = ex.place(1, "XBTUSD", "Buy", 50, 9_990, ts=3).order_id
    old_live, old_open = ex._live, ex._open
    for rec in ex._orders.values():  # every record indexed again, into a new index
        ex._open_drop(rec)
    ex._live, ex._open = {k: copy.copy(v) for k, v in old_live.items()}, {}
    for rec in ex._orders.values():
        ex._open_sync(rec)
    new = ex.place(1, "XBTUSD", "Buy", 20, 9_980, ts=4).order_id
    assert list(ex._live[key]) == [oid, new] and ex._open[key].count == 2
    assert list(old_live[key]) == [oid]  # the replaced table is left alone
    ex.cancel(1, oid, ts=5)
    ex.cancel(1, new, ts=5)
    assert key not in ex._live and key not in ex._open
    assert list(old_live[key]) == [oid] and not old_open
    ex.check_invariants()
