"""submit_batch: same results as the per-call API, per-row status, and malformed arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from perpex import errors
from tests.model import (
    BUY, CMD_DTYPE, EV_ACCEPTED, EV_CANCELED, EV_FILL, FEED_MARK, FLAG_TRAILING, MARKET,
    MASK_ACCOUNT, MASK_PRICE, MASK_QTY, OP_ACTIVATE, OP_ADD, OP_AMEND, OP_CANCEL, OP_CANCEL_ALL,
    OP_SET_PRICE, REASON_DUPLICATE_ORDER_ID, REASON_INVALID_OP, REASON_INVALID_PRICE,
    REASON_INVALID_QTY, REASON_NOT_HELD, REASON_UNKNOWN_ORDER, SELL, STOP, Cmd, as_tuples,
    call_per_cmd, cmd_array, cmd_from_row,
)
from tests.model.ref_book import RefBook
from tests.stress.gen import generate

native = pytest.importorskip("perpex._native")

SCRIPT = [
    Cmd(OP_ADD, side=SELL, account=1, order_id=1, price=101, qty=5),
    Cmd(OP_ADD, side=SELL, account=2, order_id=2, price=102, qty=5, display_qty=1),
    Cmd(OP_ADD, side=BUY, account=3, order_id=3, price=99, qty=4, display_qty=0),
    Cmd(OP_ADD, side=BUY, account=3, order_id=4, ord_type=STOP, stop_px=101, qty=3),
    Cmd(OP_ADD, side=BUY, account=4, order_id=5, price=101, qty=2),
    Cmd(OP_AMEND, order_id=1, mask=MASK_QTY, qty=2),
    Cmd(OP_SET_PRICE, trigger=FEED_MARK, price=101),
    Cmd(OP_ADD, side=SELL, account=1, order_id=6, ord_type=STOP, flags=FLAG_TRAILING,
        peg_offset=-2, qty=1),
    Cmd(OP_AMEND, order_id=3, mask=MASK_PRICE | MASK_ACCOUNT, account=3, price=100),
    Cmd(OP_ADD, side=SELL, account=2, order_id=7, ord_type=MARKET, qty=3),
    Cmd(OP_CANCEL, order_id=2),
    Cmd(OP_CANCEL_ALL, account=1),
]


def run_per_call(book: Any, cmds: list[Cmd]) -> list[tuple[int, ...]]:
    for c in cmds:
        call_per_cmd(book, c)
    return as_tuples(book.drain_events())


@pytest.mark.parametrize("hold", [False, True])
def test_batch_and_per_call_give_the_same_events_and_state(hold: bool) -> None:
    per_call = native.OrderBook(hold_triggered=hold)
    expected = run_per_call(per_call, SCRIPT)
    batch = native.OrderBook(hold_triggered=hold)
    events, status = batch.submit_batch(cmd_array(SCRIPT))
    assert status.tolist() == [0] * len(SCRIPT)
    assert as_tuples(events) == expected
    assert batch.state_hash() == per_call.state_hash()
    assert {e[0] for e in expected} >= {EV_ACCEPTED, EV_FILL, EV_CANCELED}
    model_events, model_status = RefBook(hold_triggered=hold).submit_batch(cmd_array(SCRIPT))
    assert model_events == expected and model_status.tolist() == status.tolist()


def test_generated_flow_through_batch_matches_per_call_row_by_row() -> None:
    cmds = generate(3_000, seed=11)
    batch = native.OrderBook()
    events, status = batch.submit_batch(cmds)
    per_call = native.OrderBook()
    per_events: list[tuple[int, ...]] = []
    for i, row in enumerate(cmds.tolist()):
        try:
            call_per_cmd(per_call, cmd_from_row(row))
        except errors.EngineError:
            assert status[i] != 0, f"row {i} raised per call but was applied in the batch"
            continue
        assert status[i] == 0, f"row {i} applied per call but got status {status[i]}"
        # Per-call events are tagged with the call counter; the batch tags them with the row.
        per_events += [e[:3] + (i,) + e[4:] for e in as_tuples(per_call.drain_events())]
    assert as_tuples(events) == per_events
    assert batch.state_hash() == per_call.state_hash()


def test_malformed_rows_get_their_status_and_change_nothing_while_others_apply() -> None:
    cmds = [
        Cmd(OP_ADD, side=SELL, account=1, order_id=1, price=101, qty=5),
        Cmd(OP_ADD, side=BUY, account=2, order_id=2, price=0, qty=5),
        Cmd(OP_ADD, side=BUY, account=2, order_id=1, price=101, qty=5),
        Cmd(9),
        Cmd(OP_CANCEL, order_id=42),
        Cmd(OP_AMEND, order_id=1, mask=MASK_QTY, qty=-1),
        Cmd(OP_ACTIVATE, order_id=1, qty=1),
        Cmd(OP_CANCEL, order_id=1, account=2, mask=MASK_ACCOUNT),
        Cmd(OP_ADD, side=BUY, account=2, order_id=3, price=101, qty=2),
    ]
    book = native.OrderBook()
    events, status = book.submit_batch(cmd_array(cmds))
    assert status.dtype == np.uint16
    assert status.tolist() == [0, REASON_INVALID_PRICE, REASON_DUPLICATE_ORDER_ID,
                               REASON_INVALID_OP, REASON_UNKNOWN_ORDER, REASON_INVALID_QTY,
                               REASON_NOT_HELD, REASON_UNKNOWN_ORDER, 0]
    assert [(e[0], e[3], e[4]) for e in as_tuples(events)] == [
        (EV_ACCEPTED, 0, 1), (EV_ACCEPTED, 8, 3), (EV_FILL, 8, 3)]
    assert book.level_orders(SELL, 101) == [(1, 1, 3, 3)]
    assert RefBook().submit_batch(cmd_array(cmds))[1].tolist() == status.tolist()


def bad_arrays() -> list[tuple[str, Any, type[Exception]]]:
    good = cmd_array(SCRIPT)
    wrong = np.zeros(3, dtype=[("op", "u1"), ("qty", "<i8")])
    two_d = np.zeros((2, 3), dtype=CMD_DTYPE)
    strided = np.zeros(6, dtype=CMD_DTYPE)[::2]
    return [("wrong dtype", wrong, TypeError), ("raw bytes dtype", good.view(np.uint8), TypeError),
            ("2-D", two_d, ValueError), ("non-contiguous", strided, ValueError)]


@pytest.mark.parametrize(("arr", "exc"), [(a, e) for _, a, e in bad_arrays()],
                         ids=[n for n, _, _ in bad_arrays()])
def test_malformed_batch_array_raises_and_applies_nothing(arr: Any, exc: type[Exception]) -> None:
    for book in (native.OrderBook(), RefBook()):
        book.add(1, 1, SELL, 101, 5)
        book.drain_events()
        h = book.state_hash()
        with pytest.raises(exc):
            book.submit_batch(arr)
        assert book.state_hash() == h and len(book.drain_events()) == 0


def test_empty_batch_is_a_no_op() -> None:
    book = native.OrderBook()
    events, status = book.submit_batch(np.zeros(0, dtype=CMD_DTYPE))
    assert len(events) == 0 and len(status) == 0
    assert book.state_hash() == RefBook().state_hash()
