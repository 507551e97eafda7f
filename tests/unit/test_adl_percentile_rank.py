"""One position's place in its ADL queue, counted without ordering the queue (§8.2): always the
place :func:`adl_queue` gives it, hence the same ``deleveragePercentile``, ties included."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpex import presets
from perpex.errors import InvalidInputError
from perpex.instruments import Instrument
from perpex.risk.adl import AdlCandidate, adl_position, adl_queue, adl_score, deleverage_percentile

INSTRUMENTS = [presets.XBTUSD(), presets.XBTUSDT(), presets.ETHUSD()]
SIDES = ("Long", "Short")

# (contracts, entry ticks, collateral in per mille of |cost|): a handful per example, shared
# by several accounts, so that equal ranking keys are common
templates = st.tuples(st.integers(1, 2_000), st.integers(15_000, 25_000), st.integers(1, 3_000))


@st.composite
def books(draw: Any, solvent: bool = True) -> tuple[Instrument, list[AdlCandidate], int]:
    """An instrument, candidates of both sides and a mark; ``solvent`` drops the positions
    with no equity at the mark, which no queue can rank (as the exchange does)."""
    inst = draw(st.sampled_from(INSTRUMENTS))
    shapes = draw(st.lists(templates, min_size=1, max_size=4))
    # at an entry price PnL is 0: every position opened there scores 0
    mark_ticks = draw(st.one_of(st.integers(15_000, 25_000), st.sampled_from([s[1] for s in shapes])))
    mark_e8 = inst.ticks_to_e8(mark_ticks)
    accounts = draw(st.lists(st.integers(0, 80), max_size=14, unique=True))
    cands = []
    for account in accounts:
        qty, entry, permille = draw(st.sampled_from(shapes))
        # a scaled copy of an inverse position ranks level with it, from other integers
        q = draw(st.sampled_from([1, -1])) * qty * draw(st.sampled_from([1, 1, 2, 3]))
        cost = inst.exec_cost(q, entry)
        cands.append(AdlCandidate(account, q, cost, abs(cost) * permille // 1000))
    if solvent:
        cands = [c for c in cands if inst.mark_value(c.qty, mark_e8) - c.cost + c.collateral > 0]
    return inst, cands, mark_e8


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (InvalidInputError, ZeroDivisionError) as exc:
        return type(exc), str(exc)


def queue_place(inst: Instrument, cands: list[AdlCandidate], mark_e8: int, side: str,
                account: int) -> tuple[int, int] | None:
    """The place the ordered queue gives ``account`` (the computation the count replaces)."""
    queue = adl_queue(inst, cands, mark_e8, side)
    return next(((i + 1, len(queue)) for i, c in enumerate(queue) if c.account == account), None)


@given(book=books())
def test_every_counted_place_and_percentile_is_the_ordered_queues(
        book: tuple[Instrument, list[AdlCandidate], int]) -> None:
    inst, cands, mark_e8 = book
    for side in SIDES:
        queue = adl_queue(inst, cands, mark_e8, side)
        for i, c in enumerate(queue):
            place = adl_position(inst, cands, mark_e8, side, c.account)
            assert place == (i + 1, len(queue))
            assert deleverage_percentile(*place) == deleverage_percentile(i + 1, len(queue))


@given(book=books(), account=st.integers(0, 100))
def test_an_account_with_nothing_on_the_side_has_no_place(
        book: tuple[Instrument, list[AdlCandidate], int], account: int) -> None:
    inst, cands, mark_e8 = book
    for side in SIDES:
        expected = queue_place(inst, cands, mark_e8, side, account)
        assert adl_position(inst, cands, mark_e8, side, account) == expected
        if expected is None:
            sign = 1 if side == "Long" else -1
            assert not any(c.account == account and c.qty * sign > 0 for c in cands)


@given(book=books(solvent=False), duplicate=st.booleans(), side=st.sampled_from([*SIDES, "Flat"]))
def test_candidates_no_queue_can_rank_raise_what_the_ordered_queue_raises(
        book: tuple[Instrument, list[AdlCandidate], int], duplicate: bool, side: str) -> None:
    inst, cands, mark_e8 = book
    if duplicate and cands:
        cands = [*cands, cands[0]]
    for c in cands[:3] or [AdlCandidate(0, 1, 1, 1)]:
        assert outcome(lambda: adl_position(inst, cands, mark_e8, side, c.account)) == \
            outcome(lambda: queue_place(inst, cands, mark_e8, side, c.account))


def test_an_empty_side_has_no_place_and_a_lone_position_is_first_of_one() -> None:
    inst = presets.XBTUSD()
    mark_e8 = inst.ticks_to_e8(20_000)
    cost = inst.exec_cost(100, 20_000)
    lone = [AdlCandidate(7, 100, cost, abs(cost))]
    assert adl_position(inst, [], mark_e8, "Long", 7) is None
    assert adl_position(inst, lone, mark_e8, "Short", 7) is None
    assert adl_position(inst, lone, mark_e8, "Long", 7) == (1, 1)
    # 20 x ceil(5 x 1 / 1): alone, it is also the queue's last fifth
    assert deleverage_percentile(1, 1) == 100


def test_equal_scores_from_different_integers_are_ordered_by_account() -> None:
    inst = presets.XBTUSD()
    mark_e8 = inst.ticks_to_e8(22_000)
    cost = inst.exec_cost(100, 20_000)
    small = AdlCandidate(9, 100, cost, abs(cost) // 4)
    double = AdlCandidate(4, 200, 2 * cost, 2 * (abs(cost) // 4))
    ahead = AdlCandidate(6, 100, cost, abs(cost) // 8)  # more leverage in profit: a higher score
    cands = [small, double, ahead]
    assert adl_score(inst, *small[1:], mark_e8) == adl_score(inst, *double[1:], mark_e8)
    assert [adl_position(inst, cands, mark_e8, "Long", a) for a in (6, 4, 9)] == [(1, 3), (2, 3), (3, 3)]


def test_a_bad_account_is_refused() -> None:
    inst = presets.XBTUSD()
    with pytest.raises(InvalidInputError):
        adl_position(inst, [], inst.ticks_to_e8(20_000), "Long", -1)


def test_a_losing_position_worth_nothing_at_the_mark_ranks_last() -> None:
    # qty x multiplier x mark rounds to 0 units: no effective leverage to divide the loss by,
    # so the score is minus infinity (a bare division used to raise ZeroDivisionError)
    inst = presets.XBTUSDT()
    mark_e8 = 1
    worthless = [AdlCandidate(a, 1, inst.exec_cost(1, 40_000), 30_000) for a in (3, 1)]
    finite = AdlCandidate(8, 10**8, 2, 10)  # worth 1 unit, bought at 2: equity 9
    assert inst.mark_value(1, mark_e8) == 0
    cands = [*worthless, finite]
    assert [c.account for c in adl_queue(inst, cands, mark_e8, "Long")] == [8, 1, 3]
    assert [adl_position(inst, cands, mark_e8, "Long", a) for a in (8, 1, 3)] == \
        [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(InvalidInputError, match="minus infinity"):
        adl_score(inst, *worthless[0][1:], mark_e8)
    assert adl_score(inst, *finite[1:], mark_e8) < 0
