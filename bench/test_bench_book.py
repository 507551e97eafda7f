"""pytest-benchmark suites for the native order book.

Run with ``pytest bench/ --benchmark-only`` (see bench/README.md). Every benchmark asserts the
answer it timed; mutating cases build a fresh book per round with ``benchmark.pedantic``'s
``setup`` so each round measures the same operation on the same state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from baseline_sorted import SortedBook, replay_rows
from commands import BUY, LIMIT, OP_ADD, SELL, cmd_dtype, decode, replay
from tape import tape_digest, tape_digest_columns

native = pytest.importorskip("perpex._native")

LEVELS = 40
PER_LEVEL = 30
LOT = 10
BID0 = 40_000
ASK0 = 40_001
ROUNDS = 200


def _base_book_cmds() -> np.ndarray[Any, Any]:
    """~2,400 resting orders: LEVELS levels a side, PER_LEVEL orders of LOT contracts each."""
    cmds = np.zeros(2 * LEVELS * PER_LEVEL, dtype=cmd_dtype())
    cmds["op"] = OP_ADD
    cmds["ord_type"] = LIMIT
    cmds["display_qty"] = -1
    cmds["qty"] = LOT
    cmds["order_id"] = np.arange(1, len(cmds) + 1)
    cmds["account"] = (np.arange(len(cmds)) % 97) + 1
    half = LEVELS * PER_LEVEL
    level = np.arange(half) // PER_LEVEL
    cmds["side"][:half] = BUY
    cmds["price"][:half] = BID0 - level
    cmds["side"][half:] = SELL
    cmds["price"][half:] = ASK0 + level
    return cmds


BASE = _base_book_cmds()
BASE_ORDERS = len(BASE)
NEXT_ID = BASE_ORDERS + 1
# an order in the middle of the queue at the fifth ask level
MID_ORDER = LEVELS * PER_LEVEL + 4 * PER_LEVEL + PER_LEVEL // 2 + 1


class _Fresh:
    """pedantic setup that builds the base book and remembers it for the assertions."""

    def __init__(self) -> None:
        self.book: Any = None

    def __call__(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        book = native.OrderBook(capacity=8192)
        _, status = book.submit_batch(BASE)
        assert not status.any()
        book.drain_events()
        self.book = book
        return (book,), {}


def test_adding_a_passive_limit_order_rests_it(benchmark: Any) -> None:
    fresh = _Fresh()
    leaves = benchmark.pedantic(lambda b: b.add_limit(NEXT_ID, 7, BUY, BID0 - 3, 25),
                                setup=fresh, rounds=ROUNDS, iterations=1)
    assert leaves == 25
    assert fresh.book.order_count == BASE_ORDERS + 1
    assert fresh.book.level_orders(BUY, BID0 - 3)[-1] == (NEXT_ID, 7, 25, 25)


def test_canceling_an_order_mid_queue_removes_only_it(benchmark: Any) -> None:
    fresh = _Fresh()
    canceled = benchmark.pedantic(lambda b: b.cancel(MID_ORDER), setup=fresh, rounds=ROUNDS,
                                  iterations=1)
    assert canceled == LOT
    assert fresh.book.order(MID_ORDER) is None
    assert fresh.book.order_count == BASE_ORDERS - 1
    queue = [o[0] for o in fresh.book.level_orders(SELL, ASK0 + 4)]
    assert len(queue) == PER_LEVEL - 1 and MID_ORDER not in queue


def test_amending_quantity_down_keeps_queue_position(benchmark: Any) -> None:
    fresh = _Fresh()
    leaves = benchmark.pedantic(lambda b: b.amend(MID_ORDER, 4), setup=fresh, rounds=ROUNDS,
                                iterations=1)
    assert leaves == 4
    queue = fresh.book.level_orders(SELL, ASK0 + 4)
    assert queue[PER_LEVEL // 2] == (MID_ORDER, fresh.book.order(MID_ORDER)["account"], 4, 4)


def test_a_market_order_sweeping_three_levels_fills_every_order(benchmark: Any) -> None:
    fresh = _Fresh()
    qty = 3 * PER_LEVEL * LOT
    leaves = benchmark.pedantic(lambda b: b.add_market(NEXT_ID, 7, BUY, qty), setup=fresh,
                                rounds=ROUNDS, iterations=1)
    assert leaves == 0
    events = fresh.book.drain_events()
    fills = events[events["type"] == native.EV_FILL]
    assert len(fills) == 3 * PER_LEVEL
    assert fills["maker_id"].tolist() == list(range(LEVELS * PER_LEVEL + 1,
                                                    LEVELS * PER_LEVEL + 3 * PER_LEVEL + 1))
    assert fresh.book.best_ask() == ASK0 + 3


def test_batch_replay_of_the_flow_matches_the_baseline_tape(
    benchmark: Any, flow_cmds: np.ndarray[Any, Any], flow_expected: tuple[int, str, int, int]
) -> None:
    holder: dict[str, Any] = {}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        holder["book"] = native.OrderBook(capacity=8192)
        return (holder["book"], flow_cmds), {}

    events, status = benchmark.pedantic(lambda b, c: b.submit_batch(c), setup=setup, rounds=10,
                                        iterations=1)
    assert not status.any()
    fills = events[events["type"] == native.EV_FILL]
    digest = tape_digest_columns(fills["maker_id"], fills["order_id"], fills["price"], fills["qty"])
    book = holder["book"]
    assert (len(fills), digest, book.best_bid(), book.best_ask()) == flow_expected


def test_per_call_replay_of_the_flow_matches_the_baseline_tape(
    benchmark: Any, flow_cmds: np.ndarray[Any, Any], flow_expected: tuple[int, str, int, int]
) -> None:
    rows = decode(flow_cmds)
    holder: dict[str, Any] = {}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        holder["book"] = native.OrderBook(capacity=8192)
        return (holder["book"],), {}

    def per_call(book: Any) -> np.ndarray[Any, Any]:
        replay(rows, book.add_limit, book.add_market, book.cancel, book.amend)
        return book.drain_events()  # type: ignore[no-any-return]

    events = benchmark.pedantic(per_call, setup=setup, rounds=3, iterations=1)
    fills = events[events["type"] == native.EV_FILL]
    digest = tape_digest_columns(fills["maker_id"], fills["order_id"], fills["price"], fills["qty"])
    book = holder["book"]
    assert (len(fills), digest, book.best_bid(), book.best_ask()) == flow_expected


def test_sortedcontainers_baseline_replay_of_the_flow(
    benchmark: Any, flow_cmds: np.ndarray[Any, Any], flow_expected: tuple[int, str, int, int]
) -> None:
    rows = decode(flow_cmds)
    holder: dict[str, SortedBook] = {}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        holder["book"] = SortedBook()
        return (holder["book"], rows), {}

    benchmark.pedantic(replay_rows, setup=setup, rounds=3, iterations=1)
    book = holder["book"]
    assert (len(book.fills), tape_digest(book.fills), book.best_bid(), book.best_ask()) == (
        flow_expected
    )
