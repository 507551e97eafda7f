"""Funding: formulas (WE-2, WE-29, WE-31, WE-32), schedule, fixing ahead, payments."""

from __future__ import annotations

import calendar
import copy
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex.errors import (
    ArithmeticOverflowError,
    InvalidConfigError,
    InvalidInputError,
    NonMonotonicTimeError,
)
from perpex.pricing import (
    Funding,
    FundingConfig,
    capped_rate,
    clamped_rate,
    funding_payments,
    funding_times,
    interest_rate,
    next_funding_time,
    perpetual_fair_price,
    premium_index,
    to_e8,
    twap,
)
from perpex.rounding import Rounding, div_round, exact_rate

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
E = to_e8
T0 = calendar.timegm((2019, 7, 1, 4, 0, 0)) * 1000      # a 04:00 UTC funding instant


# ------------------------------------------------------------------------------- formulas
def test_we2_interest_rate_is_0_25_percent_per_8_hours():
    assert interest_rate(0.01, 0.0025, 3) == 0.0025


def test_a_2_hour_interval_takes_a_quarter_of_the_8_hour_interest():
    assert interest_rate(0.01, 0.0025, 12) == 0.000625 == interest_rate(0.01, 0.0025, 3) / 4


@pytest.mark.parametrize(("premium", "funding"), [
    (0.0003, 0.0001), (0.0010, 0.0005), (-0.0008, -0.0003), (0.0050, 0.00375)])
def test_we29_funding_clamp_and_cap_with_interest_0_01_percent(premium, funding):
    rate = capped_rate(clamped_rate(premium, 0.0001), None, cap=0.00375)
    assert rate == funding


def test_we29_uncapped_rate_is_0_45_percent():
    assert clamped_rate(0.005, 0.0001) == 0.0045


@pytest.mark.parametrize(("bid", "ask", "premium"), [
    (10_020, 10_030, 0.002), (9_960, 9_970, -0.003), (9_990, 10_010, 0.0)])
def test_we31_premium_index_from_impact_prices(bid, ask, premium):
    assert premium_index(E(bid), E(ask), E(10_000), E(10_000)) == premium


def test_premium_index_adds_the_fair_basis_and_ignores_a_thin_side():
    assert premium_index(None, E(9_970), E(10_000), E(10_000), 0.0001) == -0.0029
    assert premium_index(None, None, E(10_000), E(10_000)) == 0.0


@settings(max_examples=300, deadline=None)
@given(interest=st.floats(-0.01, 0.01), delta=st.floats(-0.0005, 0.0005))
def test_clamp_law_rate_equals_interest_whenever_the_gap_is_within_0_05_percent(interest,
                                                                                  delta):
    premium = interest + delta
    i, p = Fraction(*exact_rate(interest)), Fraction(*exact_rate(premium))
    if abs(i - p) <= Fraction(5, 10_000):
        assert clamped_rate(premium, interest) == interest


def test_rate_change_is_capped_against_the_previous_rate():
    assert capped_rate(0.003, 0.0001, cap=0.00375, max_change=0.001) == 0.0011
    assert capped_rate(-0.003, 0.0001, cap=0.00375, max_change=0.001) == -0.0009


def test_twap_is_an_equal_weight_mean_of_the_minute_samples():
    assert twap([0.0001, 0.0002, 0.0006]) == 0.0003
    with pytest.raises(InvalidInputError, match="empty"):
        twap([])


# ------------------------------------------------------------------------------ schedule
def test_8_hour_funding_instants_are_04_12_and_20_utc():
    day = calendar.timegm((2020, 3, 1, 0, 0, 0)) * 1000
    assert funding_times(day, day + DAY) == [day + 4 * HOUR, day + 12 * HOUR, day + 20 * HOUR]
    assert next_funding_time(day + 4 * HOUR) == day + 12 * HOUR
    assert next_funding_time(day + 4 * HOUR - 1) == day + 4 * HOUR


def test_2_hour_interval_funds_every_two_hours_including_04_12_20():
    day = calendar.timegm((2020, 3, 1, 0, 0, 0)) * 1000
    times = funding_times(day, day + DAY, interval_ms=2 * HOUR)
    assert times == [day + h * HOUR for h in range(2, 25, 2)]


@pytest.mark.parametrize("kwargs", [
    {"interval_ms": 7 * HOUR}, {"interval_ms": 0}, {"interval_ms": 90_000},
    {"rate_cap": 0.0}, {"premium_clamp": -0.1}, {"initial_rate": 0.01},
    {"max_change": float("nan")}])
def test_impossible_funding_configuration_is_rejected(kwargs):
    with pytest.raises(InvalidConfigError):
        FundingConfig(**kwargs)


def test_caps_derive_from_margins_as_75_percent_of_im_minus_mm_and_of_mm():
    cfg = FundingConfig.from_margins(0.01, 0.005)
    assert cfg.rate_cap == 0.00375 and cfg.max_change == 0.00375


# --------------------------------------------------------------- the rate is fixed ahead
def _sample_interval(funding, start, premium, interest, minutes=480):
    for m in range(minutes):
        funding.sample(start + m * MIN, premium, interest)


def test_rate_paid_at_an_instant_is_the_one_fixed_one_interval_earlier():
    funding = Funding(FundingConfig(initial_rate=0.0001), start_ms=T0)
    assert funding.next_funding_ms == T0 + 8 * HOUR
    _sample_interval(funding, T0, 0.0010, 0.0001)
    assert funding.funding_rate == 0.0001
    assert funding.indicative_funding_rate == 0.0005
    first = funding.settle(T0 + 8 * HOUR)
    assert (first.rate, first.next_rate, first.samples) == (0.0001, 0.0005, 480)
    assert first.premium_twap == 0.001 and first.interest_twap == 0.0001
    assert funding.funding_rate == 0.0005
    _sample_interval(funding, T0 + 8 * HOUR, 0.0003, 0.0001)
    second = funding.settle(T0 + 16 * HOUR)
    assert (second.rate, second.next_rate) == (0.0005, 0.0001)
    assert funding.next_funding_ms == T0 + 24 * HOUR


def test_indicative_rate_uses_an_equal_weight_twap_of_the_samples_so_far():
    funding = Funding(start_ms=T0)
    funding.sample(T0, 0.0002, 0.0001)
    funding.sample(T0 + MIN, 0.0004, 0.0001)
    funding.sample(T0 + 5 * MIN, 0.0012, 0.0001)          # premium TWAP 0.06%
    assert funding.indicative_funding_rate == 0.0001       # |I - P| = 0.05%: F = I
    funding.sample(T0 + 6 * MIN, 0.0030, 0.0001)           # TWAP 0.12%
    assert funding.indicative_funding_rate == 0.0007


def test_an_interval_without_samples_carries_the_rate_forward():
    funding = Funding(FundingConfig(initial_rate=0.0002), start_ms=T0)
    fixing = funding.settle(T0 + 8 * HOUR)
    assert fixing.next_rate == 0.0002 and fixing.premium_twap is None


def test_a_skipped_minute_moves_the_sampling_grid_on_and_leaves_the_twap_alone():
    funding = Funding(FundingConfig(initial_rate=0.0002), start_ms=T0)
    funding.sample(T0 + MIN, 0.0030, 0.0001)
    assert funding.next_sample_ms == T0 + 2 * MIN
    assert funding.indicative_funding_rate == 0.0025  # 0.30% + clamp(0.01% - 0.30%)
    funding.skip(T0 + 2 * MIN)
    assert funding.next_sample_ms == T0 + 3 * MIN and funding.samples == 1
    assert funding.indicative_funding_rate == 0.0025  # the TWAP of the one sample still
    with pytest.raises(InvalidInputError, match="already sampled"):
        funding.sample(T0 + 2 * MIN, 0.0, 0.0001)
    with pytest.raises(InvalidInputError, match="sampling grid"):
        funding.skip(T0 + 3 * MIN + 1)


def test_fixed_rate_respects_the_change_cap_against_the_previous_rate():
    funding = Funding(FundingConfig(rate_cap=0.00375, max_change=0.001), start_ms=T0)
    _sample_interval(funding, T0, 0.05, 0.0001, minutes=3)
    assert funding.settle(T0 + 8 * HOUR).next_rate == 0.001
    _sample_interval(funding, T0 + 8 * HOUR, 0.05, 0.0001, minutes=3)
    assert funding.settle(T0 + 16 * HOUR).next_rate == 0.002


def test_mark_basis_decays_to_zero_at_the_instant_then_restarts_with_the_new_rate():
    funding = Funding(FundingConfig(initial_rate=0.0001), start_ms=T0)
    interval = funding.config.interval_ms
    at = lambda ts: perpetual_fair_price(  # noqa: E731
        E(10_000), funding.funding_rate, funding.time_to_funding(ts), interval)
    assert at(T0 + 2 * HOUR) == E(Decimal("10000.75"))
    assert at(T0 + 8 * HOUR) == E(10_000)
    _sample_interval(funding, T0, 0.0, 0.0002, minutes=1)
    funding.settle(T0 + 8 * HOUR)
    assert at(T0 + 8 * HOUR) == E(10_002)


@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda f: f.sample(T0 + 90_000, 0.0, 0.0), InvalidInputError, "grid"),
    (lambda f: f.sample(T0 + MIN, 0.0, 0.0), InvalidInputError, "already sampled"),
    (lambda f: f.sample(T0 + 8 * HOUR, 0.0, 0.0), InvalidInputError, "settle it first"),
    (lambda f: f.sample(T0 + 2 * MIN, float("nan"), 0.0), InvalidInputError, "premium"),
    (lambda f: f.sample(T0 + 2 * MIN, 0.0, True), InvalidInputError, "interest"),
    (lambda f: f.sample(T0, 0.0, 0.0), NonMonotonicTimeError, "earlier"),
    (lambda f: f.settle(T0 + 4 * HOUR), InvalidInputError, "not the due funding instant"),
])
def test_bad_funding_commands_raise_and_change_nothing(call, exc, match):
    funding = Funding(start_ms=T0)
    funding.sample(T0 + MIN, 0.0003, 0.0001)
    before = copy.deepcopy(funding.export_state())
    with pytest.raises(exc, match=match):
        call(funding)
    assert funding.export_state() == before


def test_exported_funding_state_rebuilds_an_identical_schedule():
    funding = Funding(start_ms=T0)
    _sample_interval(funding, T0, 0.0007, 0.0001, minutes=10)
    clone = Funding.from_state(copy.deepcopy(funding.export_state()))
    assert clone.export_state() == funding.export_state()
    assert clone.settle(T0 + 8 * HOUR) == funding.settle(T0 + 8 * HOUR)
    assert clone.next_sample_ms == funding.next_sample_ms == T0 + 8 * HOUR


# ------------------------------------------------------------------------------ payments
def test_we32_long_10000_xbtusd_at_10000_pays_10000_satoshis_at_0_01_percent():
    payments, residual = funding_payments(np.array([10**8, -10**8]), 0.0001)
    assert payments.tolist() == [10_000, -10_000] and residual == 0


def test_we32_pnl_guide_100_xbt_at_1_percent_pays_1_xbt():
    payments, residual = funding_payments([100 * 10**8, -100 * 10**8], 0.01)
    assert payments.tolist() == [10**8, -10**8] and residual == 0


def test_payments_round_half_away_from_zero_and_the_residual_is_their_sum():
    payments, residual = funding_payments([1, -1, 3, -3, 5, 2], 0.5)
    assert payments.tolist() == [1, -1, 2, -2, 3, 1]
    assert residual == 4
    assert funding_payments([5, -5], 0.1)[0].tolist() == [1, -1]   # 0.1 is exactly 1/10


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(-2**62, 2**62), max_size=40),
       rate=st.floats(-0.01, 0.01))
def test_vectorised_payments_equal_exact_rounding_and_conserve_money(values, rate):
    payments, residual = funding_payments(np.array(values, dtype=np.int64), rate)
    num, den = exact_rate(rate)
    assert payments.tolist() == [div_round(v * num, den, Rounding.HALF_AWAY) for v in values]
    assert int(sum(payments.tolist())) - residual == 0
    exact_total = Fraction(sum(values) * num, den)
    assert abs(residual - exact_total) <= Fraction(len(values), 2)


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.integers(1, 10**10), min_size=1, max_size=30),
       rate=st.floats(-0.00375, 0.00375))
def test_balanced_positions_leave_at_most_half_a_unit_per_position_to_insurance(sizes, rate):
    values = np.array(sizes + [-sum(sizes)], dtype=np.int64)
    _, residual = funding_payments(values, rate)
    assert 2 * abs(residual) <= len(values)


@pytest.mark.parametrize(("values", "rate", "exc"), [
    (np.array([1.5]), 0.0001, InvalidInputError), (np.zeros((2, 2), np.int64), 0.1,
                                                   InvalidInputError),
    (np.array([1]), float("nan"), InvalidInputError), (np.array([1]), True, InvalidInputError),
    (np.array([2**62]), 4.0, ArithmeticOverflowError),
    (np.array([2**64 - 1], dtype=np.uint64), 0.1, ArithmeticOverflowError),
])
def test_bad_payment_input_raises(values, rate, exc):
    with pytest.raises(exc):
        funding_payments(values, rate)


def test_empty_position_list_pays_nothing():
    payments, residual = funding_payments(np.zeros(0, dtype=np.int64), 0.0001)
    assert payments.size == 0 and residual == 0
