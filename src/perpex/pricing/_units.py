"""Checked conversions shared by the price pipeline.

Prices inside the pipeline are Python ints in units of 1e-8 of the quote currency ("e8
prices": 10000.75 USD is ``1_000_075_000_000``). Human numbers are converted exactly once,
here, by ``to_e8``. Times are integer milliseconds of simulated time. Ratios that drive
protection rules (25%, 12.5%, 2% ...) are kept as exact ``Fraction``s so that a comparison
such as "25.87% >= 25%" never depends on binary rounding. As everywhere in perpex
(``perpex.rounding``), a float is read by its shortest repr: ``0.0001`` is exactly 1/10000.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Union

from perpex.errors import (
    ArithmeticOverflowError,
    InvalidConfigError,
    InvalidInputError,
    InvalidPriceError,
    NonMonotonicTimeError,
)
from perpex.rounding import INT64_MAX, Rounding, div_round, exact_rate

Number = Union[int, float, Decimal, Fraction]

E8 = 10**8


def round_half_even(x: Fraction) -> int:
    """Rounds an exact rational to the nearest integer, ties to even.

    Used for prices only (index, mark, TWAP): no money changes hands on a price, so the
    sub-1e-8 remainder is simply dropped; half-even keeps the dropped parts unbiased.
    """
    return div_round(x.numerator, x.denominator, Rounding.HALF_EVEN)


def _exact_pair(value: object, what: str, err: type[InvalidInputError]) -> tuple[int, int]:
    """The exact value of an int/float/Decimal/Fraction as (numerator, denominator > 0);
    rejects everything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, Fraction)):
        raise err(f"{what}={value!r} must be a number (int, float or Decimal), "
                  f"got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise err(f"{what}={value!r} must be finite")
    if isinstance(value, Decimal) and not value.is_finite():
        raise err(f"{what}={value!r} must be finite")
    return exact_rate(value, what)


def _exact(value: object, what: str, err: type[InvalidInputError]) -> Fraction:
    """The exact rational value of an int/float/Decimal/Fraction; rejects everything else."""
    return Fraction(*_exact_pair(value, what, err))


def exact_number(value: object, what: str) -> Fraction:
    """The exact value of a finite int/float/Decimal/Fraction (not bool), else
    ``InvalidInputError`` naming the parameter."""
    return _exact(value, what, InvalidInputError)


def to_e8(value: object, what: str = "price") -> int:
    """Converts a human price to e8 units, rounding half-even to the nearest 1e-8.

    A float is read by its shortest repr (``10000.75`` is exactly 1_000_075_000_000).
    Raises ``InvalidPriceError`` for bool, str, None, NaN, inf and anything <= 0 after
    conversion, and ``ArithmeticOverflowError`` above the int64 range.
    """
    # integer arithmetic on the exact pair: every quote of every feed comes through here, and
    # a Fraction would normalise by a gcd at each step for the same rounded result
    num, den = _exact_pair(value, what, InvalidPriceError)
    if num <= 0:
        raise InvalidPriceError(f"{what}={value!r} must be > 0")
    e8 = div_round(num * E8, den, Rounding.HALF_EVEN)
    if e8 <= 0:
        raise InvalidPriceError(f"{what}={value!r} must be > 0 after rounding to 1e-8")
    if e8 > INT64_MAX:
        raise ArithmeticOverflowError(f"{what}={value!r} exceeds the e8 limit {INT64_MAX}")
    return e8


def check_e8(value: object, what: str = "price_e8") -> int:
    """Validates a price already in e8 units (a positive int64, not bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPriceError(f"{what}={value!r} must be an int in 1e-8 units, "
                                f"got {type(value).__name__}")
    if value <= 0:
        raise InvalidPriceError(f"{what}={value} must be > 0")
    if value > INT64_MAX:
        raise ArithmeticOverflowError(f"{what}={value} exceeds the int64 limit {INT64_MAX}")
    return value


def check_ts(value: object, what: str = "ts_ms") -> int:
    """Validates a simulated timestamp: a non-negative int64 of milliseconds, not bool."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what}={value!r} must be an int of milliseconds, "
                                f"got {type(value).__name__}")
    if value < 0 or value > INT64_MAX:
        raise InvalidInputError(f"{what}={value} must be in [0, {INT64_MAX}]")
    return value


def check_duration(value: object, what: str, *, allow_zero: bool = False) -> int:
    """Validates a configured duration in milliseconds (> 0, or >= 0 when allowed)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidConfigError(f"{what}={value!r} must be an int of milliseconds")
    if value < 0 or (value == 0 and not allow_zero) or value > INT64_MAX:
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidConfigError(f"{what}={value} must be {bound} and fit in int64")
    return value


def check_rate(value: object, what: str = "rate") -> float:
    """Validates a rate (funding, premium, interest, basis): a finite number, not bool."""
    return float(_exact(value, what, InvalidInputError))


def rate_fraction(value: object, what: str = "rate") -> Fraction:
    """A validated rate as the exact rational it prints as (``0.0001`` -> 1/10000)."""
    return _exact(value, what, InvalidInputError)


def config_fraction(value: object, what: str, *, low: Fraction = Fraction(0),
                    high: Fraction | None = None, low_open: bool = True) -> Fraction:
    """An exact config ratio: a float is read as the decimal it prints as (0.02 -> 1/50)."""
    try:
        exact = _exact(value, what, InvalidConfigError)
    except InvalidInputError as exc:
        raise InvalidConfigError(str(exc)) from None
    if exact < low or (low_open and exact == low) or (high is not None and exact > high):
        op = ">" if low_open else ">="
        limit = f" and <= {high}" if high is not None else ""
        raise InvalidConfigError(f"{what}={value!r} must be {op} {low}{limit}")
    return exact


def check_monotonic(ts_ms: int, last_ms: int | None, what: str = "ts_ms") -> None:
    """Rejects a timestamp earlier than the last one the component has seen."""
    if last_ms is not None and ts_ms < last_ms:
        raise NonMonotonicTimeError(f"{what}={ts_ms} is earlier than the last timestamp "
                                    f"{last_ms}")


def fraction_state(x: Fraction) -> list[int]:
    """A Fraction as a deterministic [numerator, denominator] pair for state export."""
    return [x.numerator, x.denominator]
