"""The book's per-call order methods (add, add_limit, add_market, cancel, amend) bind their own
arguments (csrc/bindings/fast_calls.cpp): positional and keyword calls, defaults, and every
malformed call, which raises TypeError and changes nothing."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
import pytest

from perpex import errors
from tests.model import as_tuples

native = pytest.importorskip("perpex._native")
BUY, SELL = native.BUY, native.SELL


def _seeded() -> Any:
    book = native.OrderBook()
    book.add_limit(1, 7, BUY, 100, 5)
    book.add(2, 7, SELL, 0, 4, ord_type=native.STOP, stop_px=80)
    book.drain_events()
    return book


def test_keywords_in_any_order_match_positional_calls() -> None:
    a, b = native.OrderBook(), native.OrderBook()
    assert a.add_limit(1, 7, BUY, 100, 5) == b.add_limit(qty=5, price=100, side=BUY, account=7, order_id=1) == 5
    assert a.add(2, 8, SELL, 101, 3, native.LIMIT, native.GTC, 0, 1) == \
        b.add(2, 8, SELL, 101, 3, display_qty=1) == 3
    assert a.add_market(3, 9, SELL, 2) == b.add_market(3, 9, SELL, qty=2, protect_price=0) == 0
    assert a.amend(1, 2) == b.amend(order_id=1, qty=2) == 2
    assert a.cancel(2, 8) == b.cancel(2, account=8) == 3
    assert as_tuples(a.drain_events()) == as_tuples(b.drain_events())
    assert a.state_hash() == b.state_hash()


def test_defaults_are_those_of_a_plain_limit_order() -> None:
    a, b = native.OrderBook(), native.OrderBook()
    a.add(1, 7, BUY, 100, 5)
    b.add(1, 7, BUY, 100, 5, ord_type=native.LIMIT, tif=native.GTC, flags=0, display_qty=-1,
          stop_px=0, peg_offset=0, trigger=native.FEED_MARK)
    assert a.state_hash() == b.state_hash()
    assert a.order(1) == b.order(1)


def test_none_means_absent_for_optional_arguments() -> None:
    book = _seeded()
    assert book.amend(1, qty=3, price=None, account=None) == 3
    assert book.order(1)["price"] == 100
    assert book.cancel(1, None) == 3


def test_numpy_integers_pass_where_an_id_or_small_enum_is_expected() -> None:
    book = native.OrderBook()
    assert book.add_limit(np.uint64(1), np.uint32(7), np.int8(BUY), 100, 5) == 5
    assert book.cancel(np.int64(1), account=np.int64(7)) == 5


def test_signatures_are_introspectable() -> None:
    sig = inspect.signature(native.OrderBook.add)
    assert list(sig.parameters)[1:6] == ["order_id", "account", "side", "price", "qty"]
    assert sig.parameters["display_qty"].default == -1
    assert sig.parameters["trigger"].default == native.FEED_MARK
    assert list(inspect.signature(native.OrderBook.cancel).parameters) == ["self", "order_id", "account"]


MALFORMED: list[tuple[str, Callable[[Any], object], str]] = [
    ("missing argument", lambda b: b.add_limit(10, 7, BUY, 100), "missing required argument 'qty'"),
    ("too many", lambda b: b.add_limit(10, 7, BUY, 100, 1, 2), "at most 5 arguments"),
    ("unknown keyword", lambda b: b.add_limit(10, 7, BUY, 100, 1, tif=1), "unexpected keyword"),
    ("given twice", lambda b: b.cancel(1, order_id=1), "multiple values for argument 'order_id'"),
    ("bool qty", lambda b: b.add_limit(10, 7, BUY, 100, True), "qty must be an int"),
    ("bool account", lambda b: b.add_limit(10, True, BUY, 100, 1), "account must be an int"),
    ("float price", lambda b: b.add_limit(10, 7, BUY, 100.0, 1), "price must be an int"),
    ("numpy price", lambda b: b.add_limit(10, 7, BUY, np.int64(100), 1), "price must be an int"),
    ("str id", lambda b: b.add_limit("10", 7, BUY, 100, 1), "order_id must be an int"),
    ("None qty", lambda b: b.add_limit(10, 7, BUY, 100, None), "qty must be an int"),
    ("None amend id", lambda b: b.amend(None, qty=1), "order_id must be an int"),
    ("negative id", lambda b: b.cancel(-1), r"order_id must be an int in \[0, 2\*\*64\)"),
    ("id beyond uint64", lambda b: b.cancel(2**64), r"order_id must be an int in \[0, 2\*\*64\)"),
    ("account beyond uint32", lambda b: b.cancel(1, account=2**32), r"\[0, 2\*\*32\)"),
    ("price beyond int64", lambda b: b.add_limit(10, 7, BUY, 2**63, 1), "price must fit in int64"),
    ("side beyond int64", lambda b: b.add(10, 7, 2**63, 100, 1), "side must fit in int64"),
    ("float stop", lambda b: b.amend(2, stop_px=79.5), "stop_px must be an int"),
    ("float protection", lambda b: b.add_market(10, 7, BUY, 1, 1.0), "protect_price must be an int"),
]


@pytest.mark.parametrize(("call", "match"), [(c, m) for _, c, m in MALFORMED],
                         ids=[n for n, _, _ in MALFORMED])
def test_malformed_call_raises_type_error_and_changes_nothing(call: Callable[[Any], object],
                                                               match: str) -> None:
    book = _seeded()
    h = book.state_hash()
    with pytest.raises(TypeError, match=match):
        call(book)
    assert book.state_hash() == h and as_tuples(book.drain_events()) == []
    assert book.add_limit(10, 7, SELL, 200, 1) == 1  # the id was not consumed


def test_out_of_range_enums_still_reach_the_book_validators() -> None:
    book = _seeded()
    h = book.state_hash()
    with pytest.raises(errors.InvalidInputError, match="side="):
        book.add(10, 7, 300, 100, 1)
    with pytest.raises(errors.InvalidInputError, match="tif="):
        book.add(10, 7, BUY, 100, 1, tif=-1)
    assert book.state_hash() == h


def test_methods_refuse_a_foreign_self() -> None:
    with pytest.raises(TypeError, match="doesn't apply"):
        native.OrderBook.add_limit(object(), 1, 7, BUY, 100, 5)


def test_a_subclass_uses_the_same_methods() -> None:
    class Sub(native.OrderBook):  # type: ignore[misc]
        pass

    book = Sub(capacity=16)
    assert book.add_limit(1, 7, BUY, 100, 5) == 5
    assert book.cancel(order_id=1, account=7) == 5
    assert book.order_count == 0


def _twin_books() -> tuple[Any, Any]:
    """Two books given the same commands: fills, an iceberg, a stop that fires, cancels, and
    ids and prices beyond 32 bits."""
    books = native.OrderBook(), native.OrderBook()
    big = 2**40
    for b in books:
        b.add_limit(big, 2**32 - 1, SELL, 3 * 10**12, 50)
        b.add(big + 1, 7, SELL, 3 * 10**12, 40, display_qty=10)
        b.add(big + 2, 8, BUY, 0, 5, ord_type=native.STOP, stop_px=3 * 10**12, trigger=native.FEED_LAST)
        b.add_market(big + 3, 9, BUY, 70)
        b.amend(big + 1, qty=5)
        b.cancel(big + 1)
    return books


def test_drain_event_tuples_is_drain_events_as_a_list() -> None:
    a, b = _twin_books()
    tuples = a.drain_event_tuples()
    assert tuples == b.drain_events().tolist()
    assert len(tuples) >= 8 and {t[0] for t in tuples} >= {native.EV_ACCEPTED, native.EV_FILL,
                                                           native.EV_TRIGGERED, native.EV_CANCELED}
    assert all(type(x) is int for t in tuples for x in t)
    assert a.drain_event_tuples() == [] and a.pending_events == 0
    assert a.state_hash() == b.state_hash()
