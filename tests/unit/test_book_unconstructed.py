"""An OrderBook made by ``OrderBook.__new__`` alone (as unpickling makes it, before
``__setstate__``) has no book yet: every method, property and C-interface call on it is a
TypeError, never a read of uninitialised memory, and a constructed book is unaffected."""

from __future__ import annotations

import ctypes
import pickle
import re
from typing import Any, Callable

import numpy as np
import pytest

from perpex import errors

native = pytest.importorskip("perpex._native")
from perpex._core import levels  # noqa: E402
from tests.unit.test_book_capi import API, Add, Event  # noqa: E402

BUY = native.BUY
NOT_BUILT = re.escape("OrderBook.__init__() has not been called")

CALLS: dict[str, Callable[[Any], object]] = {
    "add": lambda b: b.add(2, 7, BUY, 100, 5),
    "add_limit": lambda b: b.add_limit(2, 7, BUY, 100, 5),
    "add_market": lambda b: b.add_market(2, 7, BUY, 5),
    "amend": lambda b: b.amend(1, 7, 4),
    "cancel": lambda b: b.cancel(1, 7),
    "cancel_all": lambda b: b.cancel_all(7),
    "activate": lambda b: b.activate(1, 5),
    "set_trigger_price": lambda b: b.set_trigger_price(native.FEED_MARK, 100),
    "noop": lambda b: b.noop(1, 7, 0, 100, 5),
    "noop_fast": lambda b: b.noop_fast(1, 7, 0, 100, 5),
    "submit_batch": lambda b: b.submit_batch(np.zeros(1, dtype=native.CMD_DTYPE)),
    "drain_events": lambda b: b.drain_events(),
    "drain_event_tuples": lambda b: b.drain_event_tuples(),
    "pending_events": lambda b: b.pending_events,
    "best_bid": lambda b: b.best_bid(),
    "best_ask": lambda b: b.best_ask(),
    "last_price": lambda b: b.last_price(0),
    "depth": lambda b: b.depth(5),
    "sweep": lambda b: b.sweep(BUY, 5),
    "level_orders": lambda b: b.level_orders(BUY, 100),
    "order": lambda b: b.order(1),
    "account_orders": lambda b: b.account_orders(7),
    "order_count": lambda b: b.order_count,
    "conditional_count": lambda b: b.conditional_count,
    "hold_triggered": lambda b: b.hold_triggered,
    "level_count": lambda b: b.level_count(BUY),
    "account_order_count": lambda b: b.account_order_count(7),
    "state_hash": lambda b: b.state_hash(),
    "dump": lambda b: b.dump(),
    "check_invariants": lambda b: b.check_invariants(),
    "__getstate__": lambda b: b.__getstate__(),
    "capi add": lambda b: API.add(b, ctypes.byref(Add(2, 7, BUY, 0, 0, 0, 1, 100, 5, -1, 0, 0)),
                                  ctypes.byref(ctypes.c_int64())),
    "capi cancel": lambda b: API.cancel(b, 1, 7, ctypes.byref(ctypes.c_int64())),
    "capi events": lambda b: API.events(b, ctypes.byref(ctypes.POINTER(Event)()),
                                        ctypes.byref(ctypes.c_ssize_t())),
    "capi clear_events": lambda b: API.clear_events(b),
    "capi best": lambda b: API.best(b, BUY, ctypes.byref(ctypes.c_int64())),
    "capi depth": lambda b: API.depth(b, BUY, 1, (ctypes.c_int64 * 1)(), (ctypes.c_int64 * 1)(),
                                      ctypes.byref(ctypes.c_ssize_t())),
    "core levels": lambda b: levels(b, BUY),
}


def test_every_public_method_is_covered() -> None:
    public = {n for n in dir(native.OrderBook) if not n.startswith("_")} - {"load"}
    assert public <= set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_book_without_init_raises_type_error(name: str) -> None:
    call = CALLS[name]
    built = native.OrderBook()
    built.add_limit(1, 7, BUY, 100, 5)
    if name == "activate":  # order 1 is not a held triggered order: the book's own refusal
        with pytest.raises(errors.InvalidInputError):
            call(built)
    else:
        call(built)  # the same call is valid on a constructed book (holding order 1)
    with pytest.raises(TypeError, match=NOT_BUILT):
        call(native.OrderBook.__new__(native.OrderBook))


def test_unpickling_still_builds_the_book_after_new() -> None:
    book = native.OrderBook()
    book.add_limit(1, 7, BUY, 100, 5)
    back = pickle.loads(pickle.dumps(book))
    assert back.state_hash() == book.state_hash() and back.order_count == 1
