"""Checks of the flow generator, the baseline book and the peer adapters (no timing)."""

from __future__ import annotations

import numpy as np
import pytest

from baseline_sorted import SortedBook
from commands import BUY, LIMIT, MARKET, OP_ADD, OP_AMEND, OP_CANCEL, SELL, decode
from flow import FlowConfig, generate, generate_with_stats
from peers import PeerUnavailable, run_liquibook, run_nautilus, run_perpex_batch, run_sorted

SHORT = FlowConfig(messages=20_000, seed=7)


@pytest.fixture(scope="module")
def short_flow() -> np.ndarray:
    return generate(SHORT)


def test_the_same_seed_gives_the_identical_flow_and_another_seed_does_not(
    short_flow: np.ndarray,
) -> None:
    assert generate(SHORT).tobytes() == short_flow.tobytes()
    other = generate(FlowConfig(messages=SHORT.messages, seed=8))
    assert other.tobytes() != short_flow.tobytes()


def test_new_order_ids_count_up_from_one(short_flow: np.ndarray) -> None:
    ids = short_flow["order_id"][short_flow["op"] == OP_ADD]
    assert ids.tolist() == list(range(1, len(ids) + 1))


def test_every_cancel_targets_an_order_resting_in_the_simulation(short_flow: np.ndarray) -> None:
    book = SortedBook()
    for op, side, ord_type, account, order_id, price, qty in decode(short_flow):
        if op == OP_CANCEL:
            assert book.is_live(order_id), f"cancel of order {order_id} which is not resting"
            assert book.account_of(order_id) == account
            book.cancel(order_id)
        elif ord_type == LIMIT:
            book.add_limit(order_id, account, side, price, qty)
        else:
            book.add_market(order_id, account, side, qty)


def test_the_message_mix_and_book_size_are_near_the_configured_ones() -> None:
    cmds, stats = generate_with_stats(FlowConfig(messages=60_000, seed=3))
    n = len(cmds)
    assert 0.03 < stats.markets / n < 0.05
    assert 0.30 < stats.cancels / n < 0.42
    assert 0.53 < stats.limit_adds / n < 0.66
    assert 1_500 < stats.final_live < 3_500
    assert 1.0 <= stats.levels_per_market <= 3.0
    limits = cmds[(cmds["op"] == OP_ADD) & (cmds["ord_type"] == LIMIT)]
    assert 39_000 < np.median(limits["price"]) < 41_000
    assert (cmds["qty"][cmds["op"] == OP_ADD] > 0).all()


def test_amends_only_reduce_the_leaves_of_live_orders() -> None:
    cmds, stats = generate_with_stats(FlowConfig(messages=20_000, seed=5, amend_share=0.03))
    assert stats.amends > 300
    book = SortedBook()
    for op, side, ord_type, account, order_id, price, qty in decode(cmds):
        if op == OP_AMEND:
            assert 0 < qty < book.leaves(order_id)
            book.amend_qty(order_id, qty)
        elif op == OP_CANCEL:
            book.cancel(order_id)
        elif ord_type == LIMIT:
            book.add_limit(order_id, account, side, price, qty)
        else:
            book.add_market(order_id, account, side, qty)


def test_the_baseline_fills_at_maker_prices_in_time_priority() -> None:
    book = SortedBook()
    book.add_limit(1, 1, SELL, 101, 5)
    book.add_limit(2, 2, SELL, 100, 3)
    book.add_limit(3, 3, SELL, 100, 4)
    assert book.add_limit(4, 4, BUY, 101, 10) == 0
    assert book.fills == [(2, 4, 100, 3), (3, 4, 100, 4), (1, 4, 101, 3)]
    assert book.add_market(5, 5, BUY, 9) == 0  # remainder canceled, nothing rests
    assert book.fills[-1] == (1, 5, 101, 2)
    assert (book.best_bid(), book.best_ask(), book.order_count) == (0, 0, 0)


def test_a_baseline_amend_down_keeps_priority_and_up_loses_it() -> None:
    book = SortedBook()
    for oid in (1, 2, 3):
        book.add_limit(oid, 1, BUY, 100, 10)
    book.amend_qty(1, 4)
    book.amend_qty(2, 20)
    book.add_market(9, 2, SELL, 14 + 20)
    assert [f[0] for f in book.fills] == [1, 3, 2]


@pytest.mark.parametrize("runner", [run_liquibook, run_nautilus, run_perpex_batch])
def test_each_peer_agrees_with_the_baseline_on_a_short_flow(runner, short_flow) -> None:
    rows = decode(short_flow)
    expected = run_sorted(short_flow, rows)
    try:
        got = runner(short_flow, rows)
    except PeerUnavailable as why:
        pytest.skip(str(why))
    assert got.trades > 1_000
    assert got.outcome() == expected.outcome()


def test_market_rows_carry_no_price(short_flow: np.ndarray) -> None:
    markets = short_flow[(short_flow["op"] == OP_ADD) & (short_flow["ord_type"] == MARKET)]
    assert len(markets) > 0 and (markets["price"] == 0).all()


@pytest.mark.parametrize("reuse_out", [False, True])
@pytest.mark.parametrize("chunk", [None, 997])
def test_perpex_agrees_with_the_baseline_on_a_flow_with_amends(chunk, reuse_out) -> None:
    from peers import run_perpex_call

    cmds = generate(FlowConfig(messages=20_000, seed=11, amend_share=0.05))
    rows = decode(cmds)
    expected = run_sorted(cmds, rows)
    try:
        per_call = run_perpex_call(cmds, rows)
        batch = run_perpex_batch(cmds, rows, chunk=chunk, reuse_out=reuse_out)
    except PeerUnavailable as why:
        pytest.skip(str(why))
    assert per_call.outcome() == expected.outcome() == batch.outcome()
