"""Random-flow stress of the native book (RELIABILITY.md B2.5).

The default run pushes ~50,000 generated commands through the native book and RefBook and
compares every event and the final state hash. The ``stress`` run pushes 1,000,000 commands
through submit_batch, checks invariants every 50,000 rows, and audits quantities: every fill is
booked once for its taker and once for its maker, event leaves follow from the fills, and for
every order filled + leaves + canceled equals its quantity (as last amended).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.model import (
    EV_ACCEPTED, EV_AMENDED, EV_CANCELED, EV_FILL, EV_REJECTED, EV_TRIGGERED, as_tuples,
)
from tests.model.ref_book import RefBook
from tests.stress.gen import generate

native = pytest.importorskip("perpex._native")


class QuantityAudit:
    """Follows every order's quantity through the event stream (RELIABILITY O2)."""

    def __init__(self) -> None:
        self.base: dict[int, int] = {}
        self.leaves: dict[int, int] = {}
        self.filled: dict[int, int] = {}
        self.canceled: dict[int, int] = {}
        self.taker_total = 0
        self.maker_total = 0

    def feed(self, events: list[tuple[int, ...]]) -> None:
        for e in events:
            etype, oid, mid, qty, leaves, mleaves = e[0], e[4], e[5], e[9], e[10], e[11]
            if etype in (EV_ACCEPTED, EV_REJECTED):
                assert oid not in self.base, f"order {oid} accepted twice"
                self.base[oid], self.filled[oid], self.canceled[oid] = qty, 0, 0
                self.leaves[oid] = leaves
                if etype == EV_REJECTED:
                    self.canceled[oid] = qty
            elif etype == EV_FILL:
                assert qty > 0, e
                self.taker_total += qty
                self.maker_total += qty
                for who, after in ((oid, leaves), (mid, mleaves)):
                    self.filled[who] += qty
                    self.leaves[who] -= qty
                    assert self.leaves[who] == after, f"order {who}: leaves {after} after {e}"
            elif etype == EV_CANCELED:
                assert qty == self.leaves[oid], f"order {oid} canceled {qty} of {self.leaves[oid]}"
                self.canceled[oid] += qty
                self.leaves[oid] = 0
            elif etype == EV_AMENDED:
                self.base[oid] += qty - self.leaves[oid]
                self.leaves[oid] = qty
            elif etype == EV_TRIGGERED:
                assert qty == self.leaves[oid], e
            else:
                raise AssertionError(f"unknown event {e}")

    def check(self, book: Any) -> None:
        assert self.taker_total == self.maker_total
        assert sum(self.filled.values()) == 2 * self.taker_total
        for oid, base in self.base.items():
            assert self.filled[oid] + self.leaves[oid] + self.canceled[oid] == base, oid
            live = book.order(oid)
            assert (live["leaves"] if live else 0) == self.leaves[oid], oid


def _compare_with_model(n: int, seed: int, hold: bool) -> None:
    cmds = generate(n, seed, hold_triggered=hold)
    nat, ref = native.OrderBook(hold_triggered=hold), RefBook(hold_triggered=hold)
    got, got_status = nat.submit_batch(cmds)
    exp, exp_status = ref.submit_batch(cmds)
    bad_rows = np.flatnonzero(got_status != exp_status)
    if bad_rows.size:
        row = bad_rows[0]
        raise AssertionError(f"row {row}: status {got_status[row]} != model {exp_status[row]}")
    got_t = as_tuples(got)
    for k, (g, e) in enumerate(zip(got_t, exp)):
        assert g == e, f"event {k} (row {e[3]}): native {g} != model {e}"
    assert len(got_t) == len(exp)
    nat.check_invariants()
    ref.check_invariants()
    assert nat.depth(50) == ref.depth(50)
    assert nat.state_hash() == ref.state_hash()
    audit = QuantityAudit()
    audit.feed(got_t)
    audit.check(nat)


@pytest.mark.parametrize(("seed", "hold"), [(1, False), (2, True)])
def test_random_flow_of_25k_commands_matches_the_reference_model(seed: int, hold: bool) -> None:
    _compare_with_model(25_000, seed, hold)


@pytest.mark.stress
@pytest.mark.parametrize("seed", [101, 102, 103])
def test_random_flow_of_100k_commands_matches_the_reference_model(seed: int) -> None:
    _compare_with_model(100_000, seed, hold=seed % 2 == 0)


@pytest.mark.stress
def test_one_million_commands_keep_invariants_and_conserve_quantity() -> None:
    cmds = generate(1_000_000, seed=7)
    book = native.OrderBook(capacity=4096)
    audit = QuantityAudit()
    applied = 0
    for start in range(0, len(cmds), 50_000):
        events, status = book.submit_batch(cmds[start:start + 50_000])
        applied += int((status == 0).sum())
        audit.feed(as_tuples(events))
        book.check_invariants()
    book.check_invariants()
    audit.check(book)
    assert applied > 500_000 and audit.taker_total > 0
    assert book.order_count > 0 and book.level_count(0) > 0 and book.level_count(1) > 0
