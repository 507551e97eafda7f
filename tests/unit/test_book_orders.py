"""Order types, time in force, exec instructions, amend/cancel rules and triggers of the book.

Every test runs against the native book and the reference model (tests/model/ref_book.py), so
the model is held to the same worked examples as the engine.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from perpex import errors
from tests.model import (
    BUY, EV_ACCEPTED, EV_AMENDED, EV_CANCELED, EV_FILL, EV_REJECTED, EV_TRIGGERED, FEED_INDEX,
    FEED_LAST, FEED_MARK, FLAG_POST_ONLY, FLAG_TRAILING, FOK, IOC, LIMIT_IF_TOUCHED, MARKET,
    MARKET_IF_TOUCHED, REASON_CANCEL_ALL, REASON_FOK, REASON_IOC, REASON_NO_LIQUIDITY,
    REASON_NO_REFERENCE_PRICE, REASON_POST_ONLY, REASON_PROTECTION_PRICE, REASON_UNTRIGGERED,
    REASON_USER_CANCEL, SELL, STOP, STOP_LIMIT, as_tuples,
)
from tests.model.ref_book import RefBook

Book = Any


def _native_factory() -> Callable[..., Book]:
    native = pytest.importorskip("perpex._native")
    return native.OrderBook  # type: ignore[no-any-return]


@pytest.fixture(params=["native", "model"])
def make(request: pytest.FixtureRequest) -> Callable[..., Book]:
    return _native_factory() if request.param == "native" else RefBook


@pytest.fixture
def book(make: Callable[..., Book]) -> Book:
    return make()


def events(b: Book) -> list[tuple[int, ...]]:
    return as_tuples(b.drain_events())


def brief(b: Book) -> list[tuple[int, int, int, int, int]]:
    """(type, reason, order_id, maker_id, qty) of each pending event."""
    return [(e[0], e[2], e[4], e[5], e[9]) for e in events(b)]


def fill(taker: int, maker: int, px: int, qty: int, leaves: int, maker_leaves: int, side: int,
         cmd: int, acct: int = 2, maker_acct: int = 1) -> tuple[int, ...]:
    return (EV_FILL, side, 0, cmd, taker, maker, acct, maker_acct, px, qty, leaves, maker_leaves)


# ------------------------------------------------------------------------------- plain limits
def test_native_constants_and_record_layouts_match_the_model() -> None:
    native = pytest.importorskip("perpex._native")
    import tests.model as model
    for name in dir(model):
        if name.isupper() and hasattr(native, name) and name not in ("CMD_DTYPE", "EVENT_DTYPE"):
            assert getattr(native, name) == getattr(model, name), name
    assert native.CMD_DTYPE == model.CMD_DTYPE and native.CMD_DTYPE.itemsize == 64
    assert native.EVENT_DTYPE == model.EVENT_DTYPE and native.EVENT_DTYPE.itemsize == 64


def test_limit_order_rests_and_shows_in_depth(book: Book) -> None:
    assert book.add_limit(1, 1, BUY, 100, 5) == 5
    assert events(book) == [(EV_ACCEPTED, BUY, 0, 0, 1, 0, 1, 0, 100, 5, 5, 0)]
    assert book.depth(5) == ([(100, 5)], [])
    assert (book.best_bid(), book.best_ask(), book.order_count) == (100, 0, 1)


def test_crossing_limit_fills_at_maker_prices_in_price_time_priority(book: Book) -> None:
    book.add_limit(1, 1, SELL, 101, 2)
    book.add_limit(2, 1, SELL, 100, 3)
    book.add_limit(3, 3, SELL, 100, 4)
    events(book)
    assert book.add_limit(4, 2, BUY, 101, 8) == 0
    assert events(book) == [
        (EV_ACCEPTED, BUY, 0, 3, 4, 0, 2, 0, 101, 8, 8, 0),
        fill(4, 2, 100, 3, 5, 0, BUY, 3),
        fill(4, 3, 100, 4, 1, 0, BUY, 3, maker_acct=3),
        fill(4, 1, 101, 1, 0, 1, BUY, 3),
    ]
    assert book.depth(5) == ([], [(101, 1)])
    assert book.last_price(FEED_LAST) == 101


def test_limit_remainder_rests_after_sweeping_the_levels_it_crosses(book: Book) -> None:
    book.add_limit(1, 1, SELL, 100, 2)
    book.add_limit(2, 2, BUY, 102, 5)
    assert book.depth(5) == ([(102, 3)], [])
    assert book.level_orders(BUY, 102) == [(2, 2, 3, 3)]


def test_self_trade_is_allowed(book: Book) -> None:
    book.add_limit(1, 7, SELL, 100, 2)
    book.add_limit(2, 7, BUY, 100, 2)
    assert brief(book)[-1] == (EV_FILL, 0, 2, 1, 2)


def test_ioc_remainder_is_canceled_with_reason_ioc(book: Book) -> None:
    book.add_limit(1, 1, SELL, 100, 2)
    assert book.add(2, 2, BUY, 100, 5, tif=IOC) == 0
    ev = events(book)
    assert ev[-1] == (EV_CANCELED, BUY, REASON_IOC, 1, 2, 0, 2, 0, 100, 3, 0, 0)
    assert book.depth(5) == ([], [])


def test_fok_that_cannot_fill_is_canceled_before_touching_the_book(book: Book) -> None:
    book.add_limit(1, 1, SELL, 100, 2)
    book.add_limit(2, 1, SELL, 102, 5)
    before = (book.depth(5), book.level_orders(SELL, 100))
    book.add(3, 2, BUY, 101, 3, tif=FOK)
    assert brief(book)[-2:] == [(EV_ACCEPTED, 0, 3, 0, 3), (EV_CANCELED, REASON_FOK, 3, 0, 3)]
    assert (book.depth(5), book.level_orders(SELL, 100)) == before


def test_fok_counts_hidden_quantity_and_self_trades(book: Book) -> None:
    book.add(1, 2, SELL, 100, 2, display_qty=0)
    book.add_limit(2, 2, SELL, 101, 2)
    events(book)
    book.add(3, 2, BUY, 101, 4, tif=FOK)
    assert [e[:2] for e in brief(book)] == [(EV_ACCEPTED, 0), (EV_FILL, 0), (EV_FILL, 0)]
    assert book.order_count == 0


def test_we44_post_only_that_would_cross_is_canceled_without_a_fill(book: Book) -> None:
    book.add_limit(1, 1, SELL, 101, 10)
    events(book)
    assert book.add(2, 2, BUY, 102, 10, flags=FLAG_POST_ONLY) == 0
    assert brief(book) == [(EV_ACCEPTED, 0, 2, 0, 10), (EV_CANCELED, REASON_POST_ONLY, 2, 0, 10)]
    assert book.depth(5) == ([], [(101, 10)])


def test_we44_post_only_below_the_ask_rests_as_a_maker_bid(book: Book) -> None:
    book.add_limit(1, 1, SELL, 103, 10)
    assert book.add(2, 2, BUY, 102, 10, flags=FLAG_POST_ONLY) == 10
    assert book.depth(5) == ([(102, 10)], [(103, 10)])


# ------------------------------------------------------------------------------- market orders
def test_market_order_walks_the_book_and_cancels_the_rest_for_no_liquidity(book: Book) -> None:
    book.add_limit(1, 1, SELL, 100, 2)
    book.add_limit(2, 1, SELL, 105, 2)
    events(book)
    assert book.add_market(3, 2, BUY, 6) == 0
    assert events(book) == [
        (EV_ACCEPTED, BUY, 0, 2, 3, 0, 2, 0, 0, 6, 6, 0),
        fill(3, 1, 100, 2, 4, 0, BUY, 2),
        fill(3, 2, 105, 2, 2, 0, BUY, 2),
        (EV_CANCELED, BUY, REASON_NO_LIQUIDITY, 2, 3, 0, 2, 0, 0, 2, 0, 0),
    ]


def test_market_order_stops_at_its_protection_price(book: Book) -> None:
    book.add_limit(1, 1, BUY, 100, 2)
    book.add_limit(2, 1, BUY, 95, 2)
    events(book)
    book.add_market(3, 2, SELL, 5, protect_price=98)
    assert brief(book) == [(EV_ACCEPTED, 0, 3, 0, 5), (EV_FILL, 0, 3, 1, 2),
                           (EV_CANCELED, REASON_PROTECTION_PRICE, 3, 0, 3)]
    assert book.depth(5) == ([(95, 2)], [])


def test_market_order_into_an_empty_book_is_canceled_for_no_liquidity(book: Book) -> None:
    book.add_market(1, 1, BUY, 5)
    assert brief(book)[-1] == (EV_CANCELED, REASON_NO_LIQUIDITY, 1, 0, 5)


# ------------------------------------------------------------------------------- hidden / iceberg
def test_hidden_order_never_shows_in_depth_but_sets_the_best_bid(book: Book) -> None:
    book.add(1, 1, BUY, 100, 5, display_qty=0)
    book.add_limit(2, 1, BUY, 99, 1)
    assert book.depth(5) == ([(99, 1)], [])
    assert book.best_bid() == 100
    assert book.level_orders(BUY, 100) == [(1, 1, 5, 0)]


def test_displayed_quantity_matches_before_earlier_hidden_quantity(book: Book) -> None:
    book.add(1, 1, SELL, 100, 5, display_qty=0)
    book.add_limit(2, 3, SELL, 100, 2)
    book.add(3, 4, SELL, 100, 5, display_qty=0)
    events(book)
    book.add_limit(4, 2, BUY, 100, 8)
    assert [(e[2], e[3], e[4]) for e in brief(book)[1:]] == [(4, 2, 2), (4, 1, 5), (4, 3, 1)]


def test_we43_iceberg_fills_three_and_keeps_seven_with_one_displayed(book: Book) -> None:
    book.add(1, 1, BUY, 100, 10, display_qty=1)
    assert book.depth(5) == ([(100, 1)], [])
    events(book)
    book.add_limit(2, 2, SELL, 100, 3)
    assert [e for e in events(book) if e[0] == EV_FILL] == [
        fill(2, 1, 100, 1, 2, 9, SELL, 1), fill(2, 1, 100, 1, 1, 8, SELL, 1),
        fill(2, 1, 100, 1, 0, 7, SELL, 1)]
    assert book.level_orders(BUY, 100) == [(1, 1, 7, 1)]
    assert book.depth(5) == ([(100, 1)], [])


def test_refreshed_iceberg_slice_goes_to_the_back_of_the_displayed_queue(book: Book) -> None:
    book.add(1, 1, SELL, 100, 10, display_qty=2)
    book.add_limit(2, 3, SELL, 100, 4)
    book.add(3, 4, SELL, 100, 4, display_qty=0)
    events(book)
    book.add_limit(4, 2, BUY, 100, 3)
    assert [(e[3], e[4]) for e in brief(book)[1:]] == [(1, 2), (2, 1)]
    assert book.level_orders(SELL, 100) == [(2, 3, 3, 3), (1, 1, 8, 2), (3, 4, 4, 0)]


# ------------------------------------------------------------------------------- amend
def test_amend_reducing_leaves_keeps_time_priority(book: Book) -> None:
    book.add_limit(1, 1, BUY, 100, 5)
    book.add_limit(2, 2, BUY, 100, 5)
    events(book)
    assert book.amend(1, qty=3) == 3
    assert events(book) == [(EV_AMENDED, BUY, 0, 2, 1, 0, 1, 0, 100, 3, 3, 0)]
    assert [o[0] for o in book.level_orders(BUY, 100)] == [1, 2]


def test_amend_increasing_leaves_sends_the_order_to_the_back(book: Book) -> None:
    book.add_limit(1, 1, BUY, 100, 5)
    book.add_limit(2, 2, BUY, 100, 5)
    book.amend(1, qty=6)
    assert book.level_orders(BUY, 100) == [(2, 2, 5, 5), (1, 1, 6, 6)]


def test_amend_price_moves_the_order_to_the_back_of_its_new_level(book: Book) -> None:
    book.add_limit(1, 1, BUY, 100, 5)
    book.add_limit(2, 2, BUY, 99, 5)
    book.amend(1, price=99)
    assert book.level_orders(BUY, 99) == [(2, 2, 5, 5), (1, 1, 5, 5)]
    assert book.level_count(BUY) == 1


def test_amend_to_a_crossing_price_executes_as_taker_after_the_amended_event(book: Book) -> None:
    book.add_limit(1, 1, SELL, 101, 3)
    book.add_limit(2, 2, BUY, 100, 5)
    events(book)
    assert book.amend(2, price=101) == 2
    assert events(book) == [(EV_AMENDED, BUY, 0, 2, 2, 0, 2, 0, 101, 5, 5, 0),
                            fill(2, 1, 101, 3, 2, 0, BUY, 2)]
    assert book.depth(5) == ([(101, 2)], [])


def test_amend_of_a_post_only_order_to_a_crossing_price_cancels_it(book: Book) -> None:
    book.add_limit(1, 1, SELL, 101, 3)
    book.add(2, 2, BUY, 100, 5, flags=FLAG_POST_ONLY)
    events(book)
    assert book.amend(2, price=101) == 0
    assert brief(book) == [(EV_AMENDED, 0, 2, 0, 5), (EV_CANCELED, REASON_POST_ONLY, 2, 0, 5)]
    assert book.depth(5) == ([], [(101, 3)])


def test_amend_reducing_an_iceberg_below_its_slice_shrinks_the_slice(book: Book) -> None:
    book.add(1, 1, BUY, 100, 10, display_qty=4)
    book.amend(1, qty=3)
    assert book.level_orders(BUY, 100) == [(1, 1, 3, 3)]
    book.amend(1, qty=2)
    assert book.depth(5) == ([(100, 2)], [])


# ------------------------------------------------------------------------------- cancel
def test_cancel_reports_the_canceled_leaves(book: Book) -> None:
    book.add_limit(1, 1, BUY, 100, 5)
    events(book)
    assert book.cancel(1) == 5
    assert events(book) == [(EV_CANCELED, BUY, REASON_USER_CANCEL, 1, 1, 0, 1, 0, 100, 5, 0, 0)]
    assert book.order(1) is None and book.level_count(BUY) == 0


def test_cancel_all_cancels_resting_and_conditional_orders_in_acceptance_order(book: Book) -> None:
    book.add_limit(1, 1, BUY, 100, 5)
    book.add_limit(2, 2, BUY, 100, 5)
    book.add(3, 1, BUY, 0, 4, ord_type=STOP, stop_px=120)
    book.add_limit(4, 1, SELL, 110, 1)
    events(book)
    assert book.cancel_all(1) == 3
    assert [(e[0], e[2], e[4], e[8]) for e in events(book)] == [
        (EV_CANCELED, REASON_CANCEL_ALL, 1, 100), (EV_CANCELED, REASON_CANCEL_ALL, 3, 120),
        (EV_CANCELED, REASON_CANCEL_ALL, 4, 110)]
    assert book.account_orders(2) == [2] and book.account_order_count(1) == 0
    assert book.cancel_all(9) == 0


# ------------------------------------------------------------------------------- triggers
def test_buy_stop_on_last_price_fires_after_the_trade_that_reaches_it(book: Book) -> None:
    book.add_limit(1, 1, SELL, 100, 1)
    book.add_limit(2, 1, SELL, 105, 5)
    assert book.add(3, 2, BUY, 0, 2, ord_type=STOP, stop_px=100, trigger=FEED_LAST) == 2
    assert book.conditional_count == 1
    events(book)
    book.add_limit(4, 3, BUY, 100, 1)
    assert brief(book) == [(EV_ACCEPTED, 0, 4, 0, 1), (EV_FILL, 0, 4, 1, 1),
                           (EV_TRIGGERED, 0, 3, 0, 2), (EV_FILL, 0, 3, 2, 2)]
    assert book.last_price(FEED_LAST) == 105 and book.conditional_count == 0


def test_conditional_order_is_accepted_untriggered_at_its_stop_price(book: Book) -> None:
    book.add(1, 1, SELL, 90, 2, ord_type=STOP_LIMIT, stop_px=95)
    assert events(book) == [(EV_ACCEPTED, SELL, REASON_UNTRIGGERED, 0, 1, 0, 1, 0, 95, 2, 2, 0)]


def test_sell_stop_limit_on_mark_rests_at_its_limit_when_it_cannot_fill(book: Book) -> None:
    book.add(1, 1, SELL, 90, 2, ord_type=STOP_LIMIT, stop_px=95, trigger=FEED_MARK)
    book.set_trigger_price(FEED_MARK, 96)
    assert book.conditional_count == 1
    events(book)
    book.set_trigger_price(FEED_MARK, 95)
    assert brief(book) == [(EV_TRIGGERED, 0, 1, 0, 2)]
    assert book.depth(5) == ([], [(90, 2)]) and book.conditional_count == 0


def test_if_touched_orders_fire_on_the_favourable_move_of_the_index(book: Book) -> None:
    book.add_limit(1, 1, SELL, 100, 10)
    book.add(2, 2, BUY, 0, 3, ord_type=MARKET_IF_TOUCHED, stop_px=90, trigger=FEED_INDEX)
    book.add(3, 2, SELL, 120, 3, ord_type=LIMIT_IF_TOUCHED, stop_px=110, trigger=FEED_INDEX)
    book.set_trigger_price(FEED_INDEX, 95)
    assert book.conditional_count == 2
    events(book)
    book.set_trigger_price(FEED_INDEX, 90)
    assert brief(book) == [(EV_TRIGGERED, 0, 2, 0, 3), (EV_FILL, 0, 2, 1, 3)]
    book.set_trigger_price(FEED_INDEX, 111)
    assert brief(book) == [(EV_TRIGGERED, 0, 3, 0, 3)]
    assert book.depth(5) == ([], [(100, 7), (120, 3)])


def test_rising_price_fires_lowest_stop_first_and_ties_by_order_id(book: Book) -> None:
    book.add(5, 1, BUY, 0, 1, ord_type=STOP, stop_px=103)
    book.add(6, 1, BUY, 0, 1, ord_type=STOP, stop_px=101)
    book.add(7, 1, SELL, 0, 1, ord_type=MARKET_IF_TOUCHED, stop_px=101)
    book.add(8, 1, BUY, 0, 1, ord_type=STOP, stop_px=110)
    events(book)
    book.set_trigger_price(FEED_MARK, 104)
    fired = [e[2] for e in brief(book) if e[0] == EV_TRIGGERED]
    assert fired == [6, 7, 5]


def test_falling_price_fires_highest_stop_first(book: Book) -> None:
    book.add(1, 1, SELL, 0, 1, ord_type=STOP, stop_px=95)
    book.add(2, 1, SELL, 0, 1, ord_type=STOP, stop_px=98)
    book.add(3, 1, BUY, 0, 1, ord_type=MARKET_IF_TOUCHED, stop_px=98)
    events(book)
    book.set_trigger_price(FEED_MARK, 90)
    assert [e[2] for e in brief(book) if e[0] == EV_TRIGGERED] == [2, 3, 1]


def test_triggered_stops_cascade_on_last_price_while_they_trade(book: Book) -> None:
    for oid, px in ((1, 100), (2, 101), (3, 102)):
        book.add_limit(oid, 1, SELL, px, 1)
    book.add(4, 2, BUY, 0, 1, ord_type=STOP, stop_px=100, trigger=FEED_LAST)
    book.add(5, 2, BUY, 0, 1, ord_type=STOP, stop_px=101, trigger=FEED_LAST)
    events(book)
    book.add_market(6, 3, BUY, 1)
    assert [(e[0], e[2], e[3]) for e in brief(book)] == [
        (EV_ACCEPTED, 6, 0), (EV_FILL, 6, 1), (EV_TRIGGERED, 4, 0), (EV_FILL, 4, 2),
        (EV_TRIGGERED, 5, 0), (EV_FILL, 5, 3)]


def test_we45_buy_trailing_stop_follows_the_mark_down_and_fires_at_95(book: Book) -> None:
    book.add_limit(1, 1, SELL, 96, 10)
    book.set_trigger_price(FEED_MARK, 100)
    book.add(2, 2, BUY, 0, 10, ord_type=STOP, flags=FLAG_TRAILING, peg_offset=5)
    assert book.order(2)["stop_px"] == 105
    book.set_trigger_price(FEED_MARK, 90)
    assert book.order(2)["stop_px"] == 95
    book.set_trigger_price(FEED_MARK, 94)
    assert book.order(2)["stop_px"] == 95
    events(book)
    book.set_trigger_price(FEED_MARK, 95)
    assert brief(book) == [(EV_TRIGGERED, 0, 2, 0, 10), (EV_FILL, 0, 2, 1, 10)]


def test_sell_trailing_stop_rises_with_the_price_and_never_falls(book: Book) -> None:
    book.set_trigger_price(FEED_INDEX, 100)
    book.add(1, 1, SELL, 0, 2, ord_type=STOP, flags=FLAG_TRAILING, peg_offset=-5,
             trigger=FEED_INDEX)
    for px, stop in ((110, 105), (107, 105), (120, 115)):
        book.set_trigger_price(FEED_INDEX, px)
        assert book.order(1)["stop_px"] == stop
    events(book)
    book.set_trigger_price(FEED_INDEX, 115)
    assert brief(book) == [(EV_TRIGGERED, 0, 1, 0, 2), (EV_CANCELED, REASON_NO_LIQUIDITY, 1, 0, 2)]


def test_trailing_stop_without_a_reference_price_is_rejected_and_uses_its_id(book: Book) -> None:
    assert book.add(1, 1, SELL, 0, 2, ord_type=STOP, flags=FLAG_TRAILING, peg_offset=-5) == 0
    assert events(book) == [
        (EV_REJECTED, SELL, REASON_NO_REFERENCE_PRICE, 0, 1, 0, 1, 0, 0, 2, 0, 0)]
    with pytest.raises(errors.DuplicateOrderIdError):
        book.add_limit(1, 1, BUY, 100, 1)


def test_held_trigger_waits_for_activate_and_matches_the_activated_qty(
        make: Callable[..., Book]) -> None:
    book = make(hold_triggered=True)
    book.add_limit(1, 1, SELL, 100, 10)
    book.add(2, 2, BUY, 0, 5, ord_type=STOP, stop_px=100)
    book.set_trigger_price(FEED_MARK, 100)
    assert brief(book)[-1] == (EV_TRIGGERED, 0, 2, 0, 5)
    assert book.order(2)["held"] and book.conditional_count == 1
    book.set_trigger_price(FEED_MARK, 101)
    assert events(book) == []
    with pytest.raises(errors.InvalidQuantityError):
        book.activate(2, 6)
    assert book.activate(2, 3) == 0
    assert brief(book) == [(EV_AMENDED, 0, 2, 0, 3), (EV_FILL, 0, 2, 1, 3)]
    assert book.depth(5) == ([], [(100, 7)]) and book.conditional_count == 0


def test_activate_of_an_order_that_is_not_held_raises(make: Callable[..., Book]) -> None:
    book = make(hold_triggered=True)
    book.add(1, 2, BUY, 0, 5, ord_type=STOP, stop_px=100)
    h = book.state_hash()
    with pytest.raises(errors.InvalidInputError, match="order_id=1"):
        book.activate(1, 5)
    with pytest.raises(errors.UnknownOrderError):
        book.activate(9, 5)
    assert book.state_hash() == h


# ------------------------------------------------------------------------------- order ids
def test_order_ids_must_increase_and_canceled_orders_consume_theirs(book: Book) -> None:
    book.add(5, 1, BUY, 100, 1, tif=IOC)
    for oid in (5, 4, 0):
        with pytest.raises(errors.DuplicateOrderIdError):
            book.add_limit(oid, 1, BUY, 100, 1)
    assert book.add_limit(6, 1, BUY, 100, 1) == 1


# ------------------------------------------------------------------------------- bad input
BAD_ADDS: list[tuple[dict[str, int], type[Exception]]] = [
    ({"price": 0}, errors.InvalidPriceError),
    ({"price": -3}, errors.InvalidPriceError),
    ({"price": 2**53 + 1}, errors.InvalidPriceError),
    ({"qty": 0}, errors.InvalidQuantityError),
    ({"qty": -5}, errors.InvalidQuantityError),
    ({"qty": 2**53 + 1}, errors.InvalidQuantityError),
    ({"price": 2**40, "qty": 2**40}, errors.ArithmeticOverflowError),
    ({"side": 2}, errors.InvalidInputError),
    ({"ord_type": 6}, errors.InvalidInputError),
    ({"tif": 3}, errors.InvalidInputError),
    ({"flags": 16}, errors.InvalidInputError),
    ({"flags": FLAG_POST_ONLY, "tif": IOC}, errors.InvalidInputError),
    ({"flags": FLAG_TRAILING}, errors.InvalidInputError),
    ({"display_qty": -2}, errors.InvalidQuantityError),
    ({"ord_type": MARKET, "price": 0, "display_qty": 0}, errors.InvalidQuantityError),
    ({"ord_type": MARKET, "price": 0, "flags": FLAG_POST_ONLY}, errors.InvalidInputError),
    ({"stop_px": 90}, errors.InvalidPriceError),
    ({"peg_offset": 3}, errors.InvalidPriceError),
    ({"ord_type": STOP, "stop_px": 0}, errors.InvalidPriceError),
    ({"ord_type": STOP, "stop_px": 90, "trigger": 3}, errors.InvalidInputError),
    ({"ord_type": STOP, "stop_px": 90, "peg_offset": 2}, errors.InvalidPriceError),
    ({"ord_type": STOP, "flags": FLAG_TRAILING, "peg_offset": -2}, errors.InvalidPriceError),
    ({"ord_type": STOP, "flags": FLAG_TRAILING, "peg_offset": 2, "stop_px": 5},
     errors.InvalidPriceError),
    ({"order_id": 3}, errors.DuplicateOrderIdError),
]


@pytest.mark.parametrize(("override", "exc"), BAD_ADDS, ids=[str(o) for o, _ in BAD_ADDS])
def test_malformed_add_raises_and_leaves_state_unchanged(book: Book, override: dict[str, int],
                                                         exc: type[Exception]) -> None:
    book.add_limit(3, 1, SELL, 120, 4)
    book.add(4, 1, SELL, 0, 4, ord_type=STOP, stop_px=80)
    events(book)
    h = book.state_hash()
    kw: dict[str, int] = {"order_id": 10, "account": 1, "side": BUY, "price": 100, "qty": 5}
    kw.update(override)
    with pytest.raises(exc):
        book.add(**kw)
    assert book.state_hash() == h and events(book) == []
    assert book.add_limit(10, 1, BUY, 100, 5) == 5  # the id was not consumed


BAD_CALLS: list[tuple[str, Callable[[Book], object], type[Exception]]] = [
    ("cancel unknown", lambda b: b.cancel(99), errors.UnknownOrderError),
    ("cancel other account", lambda b: b.cancel(1, account=2), errors.UnknownOrderError),
    ("amend unknown", lambda b: b.amend(99, qty=1), errors.UnknownOrderError),
    ("amend other account", lambda b: b.amend(1, qty=1, account=2), errors.UnknownOrderError),
    ("amend nothing", lambda b: b.amend(1), errors.InvalidInputError),
    ("amend qty 0", lambda b: b.amend(1, qty=0), errors.InvalidQuantityError),
    ("amend price 0", lambda b: b.amend(1, price=0), errors.InvalidPriceError),
    ("amend stop of live", lambda b: b.amend(1, stop_px=90), errors.InvalidInputError),
    ("amend price of stop", lambda b: b.amend(2, price=90), errors.InvalidInputError),
    ("amend stop 0", lambda b: b.amend(2, stop_px=0), errors.InvalidPriceError),
    ("amend peg of plain stop", lambda b: b.amend(2, peg_offset=-1), errors.InvalidInputError),
    ("activate unheld", lambda b: b.activate(2, 1), errors.InvalidInputError),
    ("set price 0", lambda b: b.set_trigger_price(FEED_MARK, 0), errors.InvalidPriceError),
    ("set price feed 3", lambda b: b.set_trigger_price(3, 100), errors.InvalidInputError),
    ("bool qty", lambda b: b.add_limit(10, 1, BUY, 100, True), TypeError),
    ("float price", lambda b: b.add_limit(10, 1, BUY, 100.0, 1), TypeError),
    ("str price", lambda b: b.add_limit(10, 1, BUY, "100", 1), TypeError),
    ("None qty", lambda b: b.add_limit(10, 1, BUY, 100, None), TypeError),
]


@pytest.mark.parametrize(("call", "exc"), [(c, e) for _, c, e in BAD_CALLS],
                         ids=[n for n, _, _ in BAD_CALLS])
def test_malformed_call_raises_and_leaves_state_unchanged(
        book: Book, call: Callable[[Book], object], exc: type[Exception]) -> None:
    book.add_limit(1, 1, BUY, 100, 5)
    book.add(2, 1, SELL, 0, 4, ord_type=STOP, stop_px=80)
    events(book)
    h = book.state_hash()
    with pytest.raises(exc):
        call(book)
    assert book.state_hash() == h and events(book) == []


def test_canceled_order_cannot_be_canceled_again(book: Book) -> None:
    book.add_limit(1, 1, BUY, 100, 5)
    book.cancel(1, account=1)
    with pytest.raises(errors.UnknownOrderError, match="order_id=1"):
        book.cancel(1)
