"""The execution report as a read-only mapping: what it compares equal to, what it refuses, and
that a report read long after it was made says what its order was when it was made."""

from __future__ import annotations

import gc
import json
import pickle
from collections.abc import Mapping
from decimal import Decimal

import pytest

import perpex
from perpex import presets
from perpex._events import Execution
from perpex.exchange import Exchange
from perpex.orders import OrderRecord, execution

XBT = 100_000_000


def record() -> OrderRecord:
    return OrderRecord(5, 2, "XBTUSD", 0, 0, 0, 0, 0, 20_000, 0, 0, -1, 10, 10, cl_ord_id="c")


def report(rec: OrderRecord, **kw: object) -> Execution:
    ev = execution(presets.XBTUSD(), rec, "New", "New", seq=3, ts=4, **kw)  # type: ignore[arg-type]
    assert type(ev) is Execution
    return ev


def test_a_report_compares_equal_to_its_fields_as_a_dict_from_either_side():
    assert perpex.Execution is Execution
    ev = report(record())
    d = ev.to_dict()
    assert type(d) is dict
    assert ev == d and d == ev and not ev != d
    assert ev == report(record())
    assert ev != {**d, "leavesQty": 9} and {**d, "leavesQty": 9} != ev
    assert ev != [1] and ev != None  # noqa: E711 (the comparison itself is under test)
    assert dict(ev) == d and {**ev} == d


def test_a_report_reads_as_a_mapping_in_bitmex_key_order():
    ev = report(record())
    assert isinstance(ev, Mapping) and not isinstance(ev, dict)
    keys = list(ev)
    assert keys[:4] == ["seq", "transactTime", "execType", "ordStatus"] and keys[-1] == "text"
    assert list(ev.keys()) == keys and len(ev) == len(keys) == 27
    assert list(ev.values()) == [ev[k] for k in keys] and list(ev.items()) == list(zip(keys, ev.values()))
    assert ev["price"] == Decimal("10000.0") and ev["clOrdID"] == "c" and ev["leavesQty"] == 10
    assert "avgPx" in ev and "nope" not in ev
    assert ev.get("nope") is None and ev.get("nope", 7) == 7 and ev.get("orderID") == 5
    with pytest.raises(KeyError):
        ev["nope"]


def test_a_report_refuses_change_and_hashing_and_its_copies_are_its_readers_own():
    ev = report(record())
    with pytest.raises(TypeError):
        ev["leavesQty"] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(ev)
    with pytest.raises(TypeError):
        Execution()
    d = ev.to_dict()
    d["leavesQty"] = 0
    assert ev["leavesQty"] == 10 and ev.to_dict() is not d
    assert json.loads(json.dumps(ev.to_dict(), default=str))["price"] == "10000.0"
    assert repr(ev).startswith("Execution({'seq': 3,")


def test_a_report_survives_pickling_and_is_left_to_reference_counting():
    ev = report(record(), last_qty=4, last_px=20_001, exec_cost=-400, exec_comm=1)
    back = pickle.loads(pickle.dumps(ev))
    assert type(back) is Execution and back == ev and list(back) == list(ev)
    assert not gc.is_tracked(ev) and not gc.is_tracked(back)


def test_a_report_says_what_its_order_was_when_it_was_made_whenever_it_is_read():
    rec = record()
    early = report(rec)
    want = report(record()).to_dict()  # made and read at once
    rec.leaves_qty, rec.cum_qty, rec.px_qty = 4, 6, 120_000
    rec.triggered, rec.price, rec.display_qty, rec.flags = True, 20_002, 0, 1
    assert early == want
    late = report(rec)
    assert late["leavesQty"] == 4 and late["cumQty"] == 6 and late["avgPx"] == Decimal("10000.00000000")
    assert late["displayQty"] == 0 and late["triggered"] == "StopOrderTriggered"


def test_the_reports_an_exchange_emits_keep_each_orders_state_of_their_own_command():
    ex = Exchange([presets.XBTUSD()])
    for a in (1, 2):
        ex.deposit(a, 10 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    ex.drain_events()
    ex.place(1, "XBTUSD", "Sell", 100, 10_000)
    ex.place(2, "XBTUSD", "Buy", 30, 10_000)
    ex.place(2, "XBTUSD", "Buy", 70, 10_000)
    rows = [(e["seq"], e["execType"], e["account"], e["leavesQty"], e["cumQty"], e["avgPx"])
            for e in ex.drain_events()]
    px = Decimal("10000.00000000")
    # read only now, after the maker has filled: its New still says 100 left
    assert rows == [(4, "New", 1, 100, 0, None),
                    (5, "New", 2, 30, 0, None), (5, "Trade", 2, 0, 30, px),
                    (5, "Trade", 1, 70, 30, px),
                    (6, "New", 2, 70, 0, None), (6, "Trade", 2, 0, 70, px),
                    (6, "Trade", 1, 0, 100, px)]
    assert [e["lastQty"] for e in ex.executions(1)] == [30, 70]


@pytest.mark.parametrize("start", [0, 2**63 - 10**12, 2**63 - 1, 2**64])
def test_the_fills_price_sum_is_exact_across_int64(start: int) -> None:
    # the record keeps px_qty as int64 while it fits and as a Python int beyond; a fill
    # adds price x contracts either way, and the report's avgPx reads the same sum
    ex = Exchange([presets.XBTUSD()])
    for a in (1, 2):
        ex.deposit(a, 10**8, ts=1)
    oid = ex.place(1, "XBTUSD", "Buy", 100, 10_000, ts=2).order_id
    rec = ex._orders[oid]
    rec.px_qty = start
    assert rec.px_qty == start and type(rec.px_qty) is int
    ticks = rec.price
    ex.place(2, "XBTUSD", "Sell", 40, 10_000, ts=3)
    assert rec.px_qty == start + ticks * 40
    ex.place(2, "XBTUSD", "Sell", 60, 10_000, ts=4)
    assert rec.px_qty == start + ticks * 100 and rec.cum_qty == 100
