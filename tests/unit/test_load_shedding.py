"""Load shedding on the batch path (MECHANICS §10; OverloadConfig.queue_depth)."""

from __future__ import annotations

import numpy as np
import pytest

from perpex import presets
from perpex.errors import EngineHaltedError, InvalidConfigError
from perpex.exchange import ORDER_DTYPE, Exchange, OverloadConfig
from perpex.exchange_batch import OP_CANCEL, OP_LIMIT, OP_MARKET, STATUS_OK, STATUS_OVERLOADED
from perpex.risk.limits import OVERLOADED

XBT = 100_000_000


def exchange(depth: int | None) -> Exchange:
    ex = Exchange([presets.XBTUSD()], overload=OverloadConfig(queue_depth=depth))
    for a in (1, 2, 3):
        ex.deposit(a, 10 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    return ex


def rows(spec: list[tuple[int, int, int, int, int, int]]) -> np.ndarray:
    """(account, op, side, qty, price ticks, order id) per row, all at ts 1."""
    out = np.zeros(len(spec), ORDER_DTYPE)
    for i, (a, op, side, qty, price, oid) in enumerate(spec):
        out[i] = (1, a, 0, op, side, 0, qty, price, oid)
    return out


def resting(ex: Exchange) -> tuple[int, int]:
    """Two resting orders made before the batch: ids returned for cancels in the batch."""
    a = ex.place(1, "XBTUSD", "Buy", 100, 9_000).order_id
    b = ex.place(2, "XBTUSD", "Sell", 100, 11_000).order_id
    return a, b


def batch(a: int, b: int) -> list[tuple[int, int, int, int, int, int]]:
    return [(1, OP_LIMIT, 0, 100, 19_990, 0),   # 0: admitted
            (2, OP_LIMIT, 1, 50, 19_990, 0),    # 1: admitted, trades 50 with row 0
            (1, OP_CANCEL, 0, 0, 0, a),         # 2: a cancel inside the depth
            (3, OP_LIMIT, 1, 70, 19_990, 0),    # 3: shed
            (2, OP_CANCEL, 0, 0, 0, b),         # 4: a cancel beyond the depth: still applied
            (3, OP_MARKET, 0, 30, 0, 0),        # 5: shed
            (2, OP_LIMIT, 0, 10, 19_000, 0)]    # 6: shed


def test_a_batch_over_the_depth_sheds_exactly_the_new_orders_beyond_it_and_still_applies_cancels():
    ex = exchange(3)
    a, b = resting(ex)
    seq = ex.last_seq
    out = ex.submit_orders(rows(batch(a, b)), events=True)
    assert out["status"].tolist() == [STATUS_OK, STATUS_OK, STATUS_OK, STATUS_OVERLOADED,
                                      STATUS_OK, STATUS_OVERLOADED, STATUS_OVERLOADED]
    assert out["seq"].tolist() == [seq + 1, seq + 2, seq + 3, 0, seq + 4, 0, 0]
    assert out["order_id"][[3, 5, 6]].tolist() == [0, 0, 0]
    assert ex.open_orders(2) == []  # row 4 canceled b
    assert ex.position(2, "XBTUSD")["currentQty"] == -50 and ex.position(3, "XBTUSD")["currentQty"] == 0
    shed = [e for e in ex.drain_events() if e["execType"] == "Rejected"]
    assert [(e["account"], e["orderQty"], e["text"]) for e in shed] == \
        [(3, 70, OVERLOADED), (3, 30, OVERLOADED), (2, 10, OVERLOADED)]
    assert OVERLOADED == "The system is currently overloaded. Please try again later."
    ex.check_invariants()


def test_the_state_after_shedding_equals_a_batch_of_the_admitted_rows_alone():
    full, admitted = exchange(3), exchange(None)
    a, b = resting(full)
    assert resting(admitted) == (a, b)
    spec = batch(a, b)
    full.submit_orders(rows(spec))
    admitted.submit_orders(rows([spec[i] for i in (0, 1, 2, 4)]))
    assert full.state_hash() == admitted.state_hash()
    assert full.last_seq == admitted.last_seq


def test_without_a_depth_nothing_is_shed():
    ex = exchange(None)
    a, b = resting(ex)
    out = ex.submit_orders(rows(batch(a, b)))
    assert STATUS_OVERLOADED not in out["status"].tolist()


def test_shedding_is_per_batch_so_the_next_batch_starts_with_an_empty_queue():
    ex = exchange(1)
    spec = [(1, OP_LIMIT, 0, 100, 19_000, 0), (1, OP_LIMIT, 0, 100, 19_000, 0)]
    assert ex.submit_orders(rows(spec))["status"].tolist() == [STATUS_OK, STATUS_OVERLOADED]
    assert ex.submit_orders(rows(spec))["status"].tolist() == [STATUS_OK, STATUS_OVERLOADED]
    assert len(ex.open_orders(1)) == 2


@pytest.mark.parametrize("depth", [0, -1, 2.0, True])
def test_a_queue_depth_that_is_not_a_positive_int_is_refused(depth):
    with pytest.raises(InvalidConfigError, match="queue_depth"):
        OverloadConfig(queue_depth=depth)


def test_the_overloaded_status_is_exported_by_perpex_exchange_with_the_other_statuses() -> None:
    import perpex.exchange as exchange_module
    import perpex.exchange_batch as batch_module

    for name in ("STATUS_OK", "STATUS_REJECTED", "STATUS_UNKNOWN_ORDER", "STATUS_OVERLOADED"):
        assert name in exchange_module.__all__
        assert getattr(exchange_module, name) == getattr(batch_module, name)
    assert len({exchange_module.STATUS_OK, exchange_module.STATUS_REJECTED,
                exchange_module.STATUS_UNKNOWN_ORDER, exchange_module.STATUS_OVERLOADED}) == 4


def test_an_error_escaping_a_batch_row_halts_the_engine_naming_that_rows_seq() -> None:
    ex = exchange(None)
    seq = ex.last_seq

    def boom(*args: object) -> None:
        raise RuntimeError("book failure")

    ex._place = boom  # type: ignore[method-assign]
    with pytest.raises(EngineHaltedError, match=f"RuntimeError in command seq={seq + 1}: book failure"):
        ex.submit_orders(rows([(1, OP_CANCEL, 0, 0, 0, 99), (1, OP_LIMIT, 0, 100, 20_000, 0),
                               (2, OP_LIMIT, 1, 100, 20_000, 0)]))
    with pytest.raises(EngineHaltedError):
        ex.place(1, "XBTUSD", "Buy", 100, 10_000)
