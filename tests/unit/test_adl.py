"""ADL ranking, percentile and plan (§8.2, WE-39, RELIABILITY P3)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.errors import InvalidInputError
from perpex.risk.adl import AdlCandidate, AdlFill, adl_queue, deleverage_percentile, plan_adl, rank_scores

WE39_SCORES = {1: 3, 2: 6, 3: 1, 4: 4, 5: 5, 6: 2}


def test_we39_queue_is_ordered_highest_score_first():
    assert rank_scores(WE39_SCORES) == [2, 5, 4, 1, 6, 3]


def test_we39_quintiles_by_position_in_the_queue():
    # 20 x ceil(5 i / 6): i = 1..6 -> 0.83, 1.67, 2.5, 3.33, 4.17, 5 -> 1, 2, 3, 4, 5, 5
    assert [deleverage_percentile(i, 6) for i in range(1, 7)] == [20, 40, 60, 80, 100, 100]
    assert [deleverage_percentile(i, 5) for i in range(1, 6)] == [20, 40, 60, 80, 100]


def test_we39_liquidated_short_of_20_at_650_is_filled_by_acc2_then_acc5():
    price = presets.XBTUSD().price_to_ticks(650)
    queue = [(2, 10), (5, 20), (4, 7), (1, 3), (6, 9), (3, 1)]
    assert plan_adl("Short", 20, price, queue) == [AdlFill(2, 10, price), AdlFill(5, 10, price)]


def test_equal_scores_are_broken_by_account_id_ascending():
    assert rank_scores({9: Fraction(1, 3), 4: Fraction(2, 6), 7: Fraction(1, 2)}) == [7, 4, 9]


def test_a_profitable_leveraged_long_outranks_a_profitable_unleveraged_one_and_losers_come_last():
    inst = presets.XBTUSD()
    cost = inst.exec_cost(1_000, inst.price_to_ticks(8_000))
    loser_cost = inst.exec_cost(1_000, inst.price_to_ticks(12_000))
    candidates = [AdlCandidate(1, 1_000, cost, abs(cost)), AdlCandidate(2, 1_000, cost, abs(cost) // 20),
                  AdlCandidate(3, 1_000, loser_cost, abs(loser_cost)), AdlCandidate(4, -500, 5_000_000, 5_000_000)]
    queue = adl_queue(inst, candidates, 10_000 * 10**8, "Long")
    assert [c.account for c in queue] == [2, 1, 3]


def test_adl_rejects_counterparties_on_the_wrong_side_and_bankrupt_candidates():
    with pytest.raises(InvalidInputError):
        plan_adl("Short", 20, 1300, [(2, -10)])
    inst = presets.XBTUSD()
    cost = inst.exec_cost(100, inst.price_to_ticks(10_000))
    with pytest.raises(InvalidInputError):
        adl_queue(inst, [AdlCandidate(1, 100, cost, 0)], 9_000 * 10**8, "Long")


def direct_score(inst, qty, cost, collateral, mark_e8):
    # the §8.2 text, term by term
    mark_value = inst.mark_value(qty, mark_e8)
    bankrupt_value = cost - collateral
    avg_entry_value = cost
    effective_leverage = Fraction(abs(mark_value)) / (mark_value - bankrupt_value)
    pnl_pct = Fraction(mark_value - avg_entry_value) / abs(avg_entry_value)
    return pnl_pct * effective_leverage if pnl_pct > 0 else pnl_pct / effective_leverage


positions = st.lists(st.tuples(st.integers(1, 5_000), st.integers(5_000, 15_000), st.integers(1, 100)),
                     min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(positions=positions, side=st.sampled_from([1, -1]), mark=st.integers(7_000, 13_000))
def test_queue_order_equals_a_direct_implementation_of_the_formula(positions, side, mark):
    inst = presets.XBTUSD()
    mark_e8 = mark * 10**8
    candidates = []
    for account, (qty, entry, leverage) in enumerate(positions):
        cost = inst.exec_cost(side * qty, inst.price_to_ticks(entry))
        collateral = abs(cost) // leverage + 3 * abs(cost)  # ample margin: nobody is bankrupt
        candidates.append(AdlCandidate(account, side * qty, cost, collateral))
    queue = adl_queue(inst, candidates, mark_e8, "Long" if side > 0 else "Short")
    expected = sorted(candidates, key=lambda c: (-direct_score(inst, c.qty, c.cost, c.collateral, mark_e8),
                                                 c.account))
    assert queue == expected


@settings(max_examples=200, deadline=None)
@given(qty=st.integers(1, 500), held=st.lists(st.integers(1, 100), max_size=10))
def test_adl_plan_sums_to_the_liquidated_qty_or_to_everything_available(qty, held):
    queue = [(i, h) for i, h in enumerate(held)]
    fills = plan_adl("Long", qty, 1000, [(a, -h) for a, h in queue])
    assert sum(f.qty for f in fills) == min(qty, sum(held))
    assert [f.account for f in fills] == [a for a, _ in queue][:len(fills)]
    assert all(f.price_ticks == 1000 and 0 < f.qty for f in fills)
    assert all(f.qty == h for f, (_, h) in zip(fills[:-1], queue))
