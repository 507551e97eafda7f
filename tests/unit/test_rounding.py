"""Named rounding helpers: exact integer division, rate application, price <-> ticks."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex.errors import ArithmeticOverflowError, InvalidInputError, InvalidPriceError
from perpex.rounding import (
    Rounding,
    apply_rate,
    div_by_rate,
    div_ceil,
    div_floor,
    div_round,
    div_round_half_away,
    div_trunc,
    price_to_ticks,
    ticks_to_price,
)

ints = st.integers(min_value=-(2**80), max_value=2**80)
nonzero = ints.filter(lambda b: b != 0)


@pytest.mark.parametrize(("a", "b", "floor", "ceil", "trunc", "half_away"), [
    (7, 2, 3, 4, 3, 4),
    (-7, 2, -4, -3, -3, -4),
    (7, -2, -4, -3, -3, -4),
    (-7, -2, 3, 4, 3, 4),
    (6, 3, 2, 2, 2, 2),
    (5, 3, 1, 2, 1, 2),
    (-5, 3, -2, -1, -1, -2),
    (4, 3, 1, 2, 1, 1),
    (0, 5, 0, 0, 0, 0),
])
def test_directional_division_matches_the_table_for_negative_operands(a, b, floor, ceil, trunc, half_away):
    assert div_floor(a, b) == floor
    assert div_ceil(a, b) == ceil
    assert div_trunc(a, b) == trunc
    assert div_round_half_away(a, b) == half_away


def test_half_even_rounds_ties_to_the_even_neighbour():
    assert [div_round(x, 2, Rounding.HALF_EVEN) for x in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    assert div_round(7, 4, Rounding.HALF_EVEN) == 2


def test_division_by_zero_raises_zero_division_error():
    with pytest.raises(ZeroDivisionError):
        div_round_half_away(1, 0)
    with pytest.raises(ZeroDivisionError):
        div_floor(1, 0)


@pytest.mark.parametrize("bad", [1.5, True, "3", None])
def test_division_helpers_reject_non_int_operands(bad):
    with pytest.raises(TypeError):
        div_floor(bad, 2)
    with pytest.raises(TypeError):
        div_round_half_away(2, bad)


@settings(max_examples=300, deadline=None)
@given(ints, nonzero)
def test_div_floor_times_divisor_plus_remainder_is_the_dividend(a, b):
    q = div_floor(a, b)
    rem = a - q * b
    assert q * b + rem == a
    assert rem == 0 or (rem > 0) == (b > 0)
    assert abs(rem) < abs(b)


@settings(max_examples=300, deadline=None)
@given(ints, nonzero)
def test_every_mode_is_within_one_unit_of_the_exact_quotient(a, b):
    exact = Fraction(a, b)
    for mode in Rounding:
        assert abs(div_round(a, b, mode) - exact) < 1
    assert div_ceil(a, b) >= exact >= div_floor(a, b)
    assert abs(div_round_half_away(a, b) - exact) <= Fraction(1, 2)
    assert div_round_half_away(-a, b) == -div_round_half_away(a, b)


def test_apply_rate_reads_the_float_by_its_repr_so_the_commission_evidence_holds():
    # MECHANICS §9.5: -0.00025 x 172,306,000 = -43,076.5 -> execComm -43,077
    assert apply_rate(172_306_000, -0.00025, Rounding.HALF_AWAY) == -43_077
    assert apply_rate(172_306_000, 0.00025, Rounding.HALF_AWAY) == 43_077
    assert apply_rate(172_306_000, -0.00025, Rounding.TOWARD_ZERO) == -43_076
    assert apply_rate(172_306_000, -0.00025, Rounding.FLOOR) == -43_077
    assert apply_rate(172_306_000, -0.00025, Rounding.CEIL) == -43_076


def test_apply_rate_is_exact_where_binary_floats_are_not():
    # 0.00075 is not exact in binary; read as 75/100000, 2,000,000 x rate is exactly 1,500.
    assert apply_rate(2_000_000, 0.00075, Rounding.FLOOR) == 1_500
    assert apply_rate(2_000_000, 0.00075, Rounding.CEIL) == 1_500
    assert apply_rate(10, 0.1, Rounding.FLOOR) == 1
    assert apply_rate(3, 0.5, Rounding.HALF_EVEN) == 2
    assert apply_rate(5, 0.5, Rounding.HALF_EVEN) == 2


def test_apply_rate_accepts_decimal_fraction_and_int_rates():
    assert apply_rate(1000, Decimal("0.0025"), Rounding.FLOOR) == 2
    assert apply_rate(1000, Fraction(1, 3), Rounding.CEIL) == 334
    assert apply_rate(1000, 2, Rounding.FLOOR) == 2000


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), Decimal("NaN")])
def test_apply_rate_rejects_non_finite_rates(rate):
    with pytest.raises(InvalidInputError, match="rate"):
        apply_rate(100, rate, Rounding.FLOOR)


@pytest.mark.parametrize(("amount", "rate"), [(1.0, 0.1), (True, 0.1), (100, "0.1"), (100, True)])
def test_apply_rate_rejects_wrong_types(amount, rate):
    with pytest.raises(TypeError):
        apply_rate(amount, rate, Rounding.FLOOR)


def test_div_by_rate_divides_by_leverage_exactly():
    assert div_by_rate(1_000_000, 100, Rounding.CEIL) == 10_000
    assert div_by_rate(1_000_001, 100.0, Rounding.CEIL) == 10_001
    assert div_by_rate(1_000_000, 2.5, Rounding.FLOOR) == 400_000
    assert div_by_rate(1_000_000, 3, Rounding.FLOOR) == 333_333
    with pytest.raises(InvalidInputError, match="divisor"):
        div_by_rate(1, 0.0, Rounding.FLOOR)


HALF = Decimal("0.5")


@pytest.mark.parametrize(("price", "ticks"), [
    (10000.5, 20001), (10000, 20000), (Decimal("10000.5"), 20001), (Decimal("0.5"), 1),
    (1e6, 2_000_000),
])
def test_price_to_ticks_converts_on_grid_prices_exactly(price, ticks):
    assert price_to_ticks(price, HALF) == ticks


def test_price_to_ticks_reads_floats_by_repr_on_a_decimal_grid():
    assert price_to_ticks(0.1, Decimal("0.05")) == 2
    assert price_to_ticks(1160.72, Decimal("0.01")) == 116_072
    assert price_to_ticks(0.3, Decimal("0.1")) == 3


@pytest.mark.parametrize(("price", "match"), [
    (float("nan"), "price=nan"), (Decimal("NaN"), "nan"), (float("inf"), "price"),
    (float("-inf"), "price"), (Decimal("Infinity"), "price"), (0, "> 0"), (-1, "> 0"),
    (0.0, "> 0"), (Decimal("-0.5"), "> 0"), (Decimal("100.25"), "tick"), (100.25, "tick"),
])
def test_price_to_ticks_rejects_unusable_prices_with_invalid_price_error(price, match):
    with pytest.raises(InvalidPriceError, match=match) as info:
        price_to_ticks(price, HALF)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("price", ["100", None, True, False, b"1", [1]])
def test_price_to_ticks_rejects_non_numbers_with_type_error(price):
    with pytest.raises(TypeError, match="price"):
        price_to_ticks(price, HALF)


def test_price_to_ticks_raises_overflow_beyond_int64_ticks():
    with pytest.raises(ArithmeticOverflowError, match="price"):
        price_to_ticks(2**63, Decimal(1))
    assert price_to_ticks(2**63 - 1, Decimal(1)) == 2**63 - 1


def test_tick_size_must_be_a_positive_decimal():
    with pytest.raises(TypeError, match="tick_size"):
        price_to_ticks(1, 0.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="tick_size"):
        price_to_ticks(1, Decimal(0))


def test_ticks_to_price_is_exact_and_keeps_the_tick_precision():
    assert ticks_to_price(20001, HALF) == Decimal("10000.5")
    assert str(ticks_to_price(20001, HALF)) == "10000.5"
    assert ticks_to_price(116_072, Decimal("0.01")) == Decimal("1160.72")
    assert ticks_to_price(2**63 - 1, Decimal("0.00000001")) == Decimal(2**63 - 1) / 10**8


tick_sizes = st.sampled_from([Decimal("0.5"), Decimal("0.05"), Decimal("0.01"), Decimal(1),
                              Decimal("0.00000001"), Decimal(25), Decimal("0.3")])


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=2**63 - 1), tick_sizes)
def test_ticks_to_price_to_ticks_round_trips(ticks, tick):
    price = ticks_to_price(ticks, tick)
    assert price_to_ticks(price, tick) == ticks


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=2**40), tick_sizes)
def test_float_prices_round_trip_when_their_repr_is_on_grid(ticks, tick):
    price = ticks_to_price(ticks, tick)
    as_float = float(price)
    if Decimal(repr(as_float)) == price:
        assert price_to_ticks(as_float, tick) == ticks


@pytest.mark.parametrize(("ticks", "tick", "text"), [
    (20001, "0.5", "10000.5"), (20001, "0.50", "10000.50"), (0, "0.5", "0.0"),
    (-3, "0.01", "-0.03"), (7, "1E+1", "7E+1"), (10**18 + 1, "0.5", "500000000000000000.5"),
])
def test_ticks_to_price_keeps_the_tick_sizes_own_notation_whatever_was_seen_before(
        ticks: int, tick: str, text: str) -> None:
    ticks_to_price(1, Decimal("0.5"))  # a value-equal tick size seen first must not leak in
    assert str(ticks_to_price(ticks, Decimal(tick))) == text
