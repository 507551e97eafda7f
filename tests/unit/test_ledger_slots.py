"""The ledger's array-backed balances: resolved keys for bulk transfers, int64 with an exact
fallback, and the pickled form, which is the plain ``{currency: {key: balance}}`` it always was."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex.accounts.ledger import (
    EXTERNAL, FEES, INSURANCE, KeySlots, Ledger, cost, funding, wallet,
)
from perpex.errors import InvalidInputError

INT64_MAX = 2**63 - 1
DST = funding("XBTUSD")


def balance_types(ledger: Ledger) -> set[type]:
    return {type(v) for _, _, v in ledger.items()}


def test_a_ledger_pickles_as_the_plain_balances_in_the_order_keys_were_first_used():
    ledger = Ledger()
    ledger.transfer("XBt", EXTERNAL, wallet(3), 10**8)
    ledger.transfer("USDt", EXTERNAL, wallet(1), 5)
    ledger.transfer("XBt", cost(1, "XBTUSD"), wallet(1), -7)
    ledger.transfer_many("XBt", [wallet(3), wallet(9)], DST, [4, 0])
    _, _, state = ledger.__reduce_ex__(5)[:3]
    assert state == (None, {
        "_books": {"XBt": {EXTERNAL: -10**8, wallet(3): 10**8 - 4, cost(1, "XBTUSD"): 7,
                           wallet(1): -7, wallet(9): 0, DST: 4},
                   "USDt": {EXTERNAL: -5, wallet(1): 5}},
        "_counts": {"XBt": 4, "USDt": 1}, "_journal": None})
    assert [list(book) for book in state[1]["_books"].values()] == [
        [EXTERNAL, wallet(3), cost(1, "XBTUSD"), wallet(1), wallet(9), DST],
        [EXTERNAL, wallet(1)]]
    copy = pickle.loads(pickle.dumps(ledger, protocol=5))
    assert copy.items() == ledger.items() and copy.audit() == ledger.audit()
    for each in (ledger, copy):
        each.transfer("XBt", wallet(1), FEES, 2)
    assert copy.items() == ledger.items() and pickle.dumps(copy) == pickle.dumps(ledger)


def test_a_balance_past_the_int64_range_stays_exact_before_and_after_a_snapshot():
    ledger = Ledger()
    ledger.transfer("XBt", EXTERNAL, wallet(1), INT64_MAX)
    ledger.transfer("XBt", EXTERNAL, wallet(2), 1)
    assert ledger.balance("XBt", EXTERNAL) == -INT64_MAX - 1  # the int64 minimum
    ledger.transfer("XBt", EXTERNAL, wallet(1), 2)  # wallet(1) and external leave int64
    assert ledger.balance("XBt", wallet(1)) == INT64_MAX + 2
    assert ledger.balance("XBt", EXTERNAL) == -INT64_MAX - 3
    slots = ledger.resolve("XBt", [wallet(1), wallet(2)])
    assert slots is not None
    ledger.transfer_many("XBt", slots, DST, np.array([-INT64_MAX, 5], dtype=np.int64))
    assert ledger.balance("XBt", wallet(1)) == 2 * INT64_MAX + 2
    assert ledger.balance("XBt", DST) == 5 - INT64_MAX
    assert ledger.sum("XBt") == 0 == ledger.audit()["XBt"].total
    assert balance_types(ledger) == {int}
    copy = pickle.loads(pickle.dumps(ledger, protocol=5))
    assert copy.items() == ledger.items()
    copy.transfer("XBt", wallet(1), wallet(2), 2**70)
    assert copy.balance("XBt", wallet(2)) == 2**70 - 4


def test_a_bulk_debit_that_would_leave_int64_is_booked_exactly():
    ledger = Ledger()
    ledger.transfer("XBt", EXTERNAL, wallet(1), -INT64_MAX)
    ledger.transfer("XBt", EXTERNAL, wallet(2), 7)
    slots = ledger.resolve("XBt", [wallet(2), wallet(1)])
    assert slots is not None
    ledger.transfer_many("XBt", slots, DST, np.array([1, INT64_MAX], dtype=np.int64))
    assert ledger.balance("XBt", wallet(1)) == -2 * INT64_MAX
    assert ledger.balance("XBt", wallet(2)) == 6
    assert ledger.balance("XBt", DST) == INT64_MAX + 1
    assert ledger.sum("XBt") == 0 and balance_types(ledger) == {int}


keys = st.one_of(
    st.integers(0, 6).map(wallet),
    st.tuples(st.integers(0, 3), st.sampled_from(["XBTUSD", "ETHUSD"])).map(lambda t: cost(*t)),
    st.sampled_from([INSURANCE, FEES, EXTERNAL]),
)
amounts = st.one_of(st.integers(-100, 100), st.integers(-(2**63), INT64_MAX),
                    st.integers(-(2**66), 2**66))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(keys, keys, amounts), max_size=12),
       st.lists(st.tuples(keys, st.integers(-(2**63) + 1, INT64_MAX)), min_size=1, max_size=20),
       st.integers(1, 3), st.booleans())
def test_transfer_many_from_resolved_keys_equals_one_transfer_per_source(before, rows, rounds,
                                                                        as_array):
    """Resolved keys (distinct or listed twice), int64 arrays or lists of amounts, balances
    crossing the int64 range: the same balances, counts and records as single transfers."""
    one, bulk = Ledger(record=True), Ledger(record=True)
    for ledger in (one, bulk):
        ledger.transfer("XBt", EXTERNAL, DST, 0, "setup")
        for src, to, amount in before:
            if src != to:
                ledger.transfer("XBt", src, to, amount, "setup")
        for src in dict.fromkeys(k for k, _ in rows if k != EXTERNAL):  # all known: resolvable
            ledger.transfer("XBt", EXTERNAL, src, 0, "setup")
    srcs = [k for k, _ in rows]
    pays = [a for _, a in rows]
    slots = bulk.resolve("XBt", srcs)
    assert isinstance(slots, KeySlots) and list(slots) == srcs
    assert slots.distinct == (len(set(srcs)) == len(srcs))
    for _ in range(rounds):
        for src, amount in rows:
            one.transfer("XBt", src, DST, amount, "funding")
        bulk.transfer_many("XBt", slots, DST,
                           np.array(pays, dtype=np.int64) if as_array else pays, "funding")
    assert bulk.items() == one.items()
    assert bulk.audit() == one.audit()
    assert bulk.transfers == one.transfers
    assert balance_types(bulk) == {int} and bulk.sum("XBt") == 0


def test_resolved_keys_are_read_as_plain_keys_by_another_ledger_or_currency():
    first, second = Ledger(record=True), Ledger(record=True)
    for ledger in (first, second):
        ledger.transfer("XBt", EXTERNAL, wallet(2), 9)  # different slots in the two ledgers
    first.transfer("XBt", EXTERNAL, wallet(1), 9)
    second.transfer("XBt", EXTERNAL, wallet(1), 9)
    slots = first.resolve("XBt", [wallet(1), wallet(2)])
    assert slots is not None
    second.transfer_many("XBt", slots, DST, [3, 4])
    second.transfer_many("USDt", slots, DST, [5, 6])  # new keys in a new currency
    assert second.balance("XBt", wallet(1)) == 6 and second.balance("XBt", wallet(2)) == 5
    assert second.balances("USDt") == {DST: 11, wallet(1): -5, wallet(2): -6}
    assert first.balance("XBt", DST) == 0


def test_keys_are_not_resolved_while_one_is_new_to_the_ledger():
    ledger = Ledger()
    assert ledger.resolve("XBt", [wallet(1)]) is None
    ledger.transfer("XBt", EXTERNAL, wallet(1), 1)
    assert ledger.resolve("XBt", [wallet(1), wallet(2)]) is None
    assert ledger.items() == [("XBt", EXTERNAL, -1), ("XBt", wallet(1), 1)]
    slots = ledger.resolve("XBt", [wallet(1), EXTERNAL])
    assert slots is not None and slots.take(np.array([False, True])).keys == [EXTERNAL]


@pytest.mark.parametrize("amounts, exc, match", [
    (np.array([1.0, 2.0]), TypeError, "int64 array"),
    (np.array([[1, 2]], dtype=np.int64), InvalidInputError, "2 sources but 1 amounts"),
    (np.array([1, 2], dtype=np.int32), TypeError, "int64 array"),
])
def test_a_bad_array_of_amounts_raises_and_changes_nothing(amounts, exc, match):
    ledger = Ledger(record=True)
    for a in (1, 2):
        ledger.transfer("XBt", EXTERNAL, wallet(a), 5, "deposit")
    slots = ledger.resolve("XBt", [wallet(1), wallet(2)])
    before = (ledger.items(), ledger.audit(), ledger.transfers)
    with pytest.raises(exc, match=match):
        ledger.transfer_many("XBt", slots, DST, amounts)  # type: ignore[arg-type]
    assert (ledger.items(), ledger.audit(), ledger.transfers) == before


def test_resolved_keys_that_hold_the_destination_are_rejected_before_anything_changes():
    ledger = Ledger(record=True)
    ledger.transfer("XBt", EXTERNAL, wallet(1), 5, "deposit")
    slots = ledger.resolve("XBt", [wallet(1), EXTERNAL])
    before = (ledger.items(), ledger.audit(), ledger.transfers)
    with pytest.raises(InvalidInputError, match="to itself"):
        ledger.transfer_many("XBt", slots, EXTERNAL, np.array([1, 2], dtype=np.int64))
    assert (ledger.items(), ledger.audit(), ledger.transfers) == before
