"""Perpetual funding (MECHANICS §6.1, Decision 7).

Per interval (8 h by default, 2 h as the emergency option):

- a premium and an interest sample are taken every ``sample_ms`` (one minute) on the grid;
  the sample taken at a funding instant belongs to the interval that starts there;
- at the funding instant the equal-weight TWAPs give
  ``F = P + clamp(I - P, -0.05%, +0.05%)``, capped to ``|F| <= rate_cap`` and
  ``|F - F_prev| <= max_change``;
- that F is *fixed* for the next instant (BitMEX ``fundingRate``); the rate paid now is the
  one fixed one interval earlier. ``indicative_funding_rate`` is the rate the current
  samples would fix.

Funding instants are ``anchor + k * interval`` (04:00, 12:00, 20:00 UTC for 8 h).

Money: ``funding_payments`` turns per-position values into integer payments with one named
rounding (half away from zero); the residual is swept to the insurance fund.

Rates are floats; TWAPs and the clamp are computed exactly on the floats' binary values and
rounded to float once, so the clamp law (F == I when |I - P| <= 0.05%) holds exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping

import numpy as np
import numpy.typing as npt

from perpex.errors import ArithmeticOverflowError, InvalidConfigError, InvalidInputError
from perpex.pricing._units import (
    check_duration,
    check_e8,
    check_monotonic,
    check_rate,
    check_ts,
    config_fraction,
    rate_fraction,
)
from perpex.rounding import INT64_MAX, Rounding, div_round, exact_rate, exact_sum

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


# --------------------------------------------------------------------------- formulas
def interest_rate(quote_daily: float, base_daily: float, intervals_per_day: int) -> float:
    """I = (quote interest - base interest) / funding intervals per day."""
    q = rate_fraction(quote_daily, "quote_daily")
    b = rate_fraction(base_daily, "base_daily")
    if isinstance(intervals_per_day, bool) or not isinstance(intervals_per_day, int) \
            or intervals_per_day <= 0:
        raise InvalidInputError(f"intervals_per_day={intervals_per_day!r} must be an int > 0")
    return float((q - b) / intervals_per_day)


def premium_index(impact_bid_e8: int | None, impact_ask_e8: int | None, mark_e8: int,
                  spot_e8: int, fair_basis: float = 0.0) -> float:
    """P = [max(0, impactBid - mark) - max(0, mark - impactAsk)] / spot + fair basis.

    A side whose book is too thin (None) contributes nothing: an absent book is no
    evidence of a premium.
    """
    mark = check_e8(mark_e8, "mark_e8")
    spot = check_e8(spot_e8, "spot_e8")
    basis = rate_fraction(fair_basis, "fair_basis")
    up = 0 if impact_bid_e8 is None else max(0, check_e8(impact_bid_e8, "impact_bid_e8") - mark)
    down = 0 if impact_ask_e8 is None else max(0, mark - check_e8(impact_ask_e8, "impact_ask_e8"))
    return float(Fraction(up - down, spot) + basis)


def _clamped(premium: Fraction, interest: Fraction, clamp: Fraction) -> Fraction:
    diff = interest - premium
    if abs(diff) <= clamp:
        return interest
    return premium + (clamp if diff > 0 else -clamp)


def _capped(rate: Fraction, prev: Fraction | None, cap: Fraction,
            max_change: Fraction | None) -> Fraction:
    lo, hi = -cap, cap
    if prev is not None and max_change is not None:
        lo, hi = max(lo, prev - max_change), min(hi, prev + max_change)
    return min(max(rate, lo), hi)


def clamped_rate(premium: float, interest: float, clamp: float = 0.0005) -> float:
    """F = P + clamp(I - P, -clamp, +clamp); exactly I whenever |I - P| <= clamp."""
    return float(_clamped(rate_fraction(premium, "premium"),
                          rate_fraction(interest, "interest"),
                          rate_fraction(clamp, "clamp")))


def capped_rate(rate: float, prev_rate: float | None, cap: float,
                max_change: float | None = None) -> float:
    """Clamps F to [-cap, cap] and, when a previous rate is given, to prev +/- max_change."""
    prev = None if prev_rate is None else rate_fraction(prev_rate, "prev_rate")
    change = None if max_change is None else rate_fraction(max_change, "max_change")
    return float(_capped(rate_fraction(rate, "rate"), prev,
                         rate_fraction(cap, "cap"), change))


def twap(samples: Iterable[float]) -> float:
    """Equal-weight time average of minute samples (exact sum, one rounding)."""
    values = [rate_fraction(s, f"samples[{i}]") for i, s in enumerate(samples)]
    if not values:
        raise InvalidInputError("samples must not be empty")
    return float(sum(values, Fraction(0)) / len(values))


def next_funding_time(ts_ms: int, interval_ms: int = 8 * HOUR_MS,
                      anchor_ms: int = 4 * HOUR_MS) -> int:
    """The first funding instant strictly after ``ts_ms``."""
    ts_ms = check_ts(ts_ms)
    interval_ms = check_duration(interval_ms, "interval_ms")
    anchor = check_duration(anchor_ms, "anchor_ms", allow_zero=True) % interval_ms
    return ts_ms + interval_ms - (ts_ms - anchor) % interval_ms


def funding_times(start_ms: int, end_ms: int, interval_ms: int = 8 * HOUR_MS,
                  anchor_ms: int = 4 * HOUR_MS) -> list[int]:
    """Funding instants t with start_ms < t <= end_ms, in order."""
    end_ms = check_ts(end_ms, "end_ms")
    t = next_funding_time(start_ms, interval_ms, anchor_ms)
    out = []
    while t <= end_ms:
        out.append(t)
        t += interval_ms
    return out


# ------------------------------------------------------------------------------ payments
_EXACT_LIMIT = 2**53


def _as_int64_vector(values: object, what: str) -> npt.NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(f"{what} must be 1-D, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise InvalidInputError(f"{what} must hold integers (minor units), got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > INT64_MAX:
        raise ArithmeticOverflowError(f"{what} has a value above the int64 limit {INT64_MAX}")
    return arr.astype(np.int64, copy=False)


def mul_rate_half_away(values: object, rate: float,
                       what: str = "values") -> npt.NDArray[np.int64]:
    """``round(value x rate)`` per element, ties away from zero, exact.

    The rate is the exact rational it prints as (``perpex.rounding.exact_rate``). A float
    product decides every row except those within its error bound of a .5 tie (or beyond
    2**52); those rows are recomputed exactly with Python ints, so every result equals exact
    rational rounding. Raises ``ArithmeticOverflowError`` when a result does not fit in
    int64. Callers state who receives the sub-unit remainder of each row.
    """
    arr = _as_int64_vector(values, what)
    r = check_rate(rate, "rate")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(over="ignore", invalid="ignore"):
        product = arr.astype(np.float64) * r
        whole = np.trunc(product)
        frac = product - whole
        abs_product = np.abs(product)
        # |product - exact| <= ~2**-52 |product| (repr vs binary rate, then the multiply)
        suspect = ((arr > _EXACT_LIMIT) | (arr < -_EXACT_LIMIT)
                   | ~(abs_product < 2.0**52)
                   | (np.abs(np.abs(frac) - 0.5) <= abs_product * 2.0**-49))
        rounded = whole + np.where(np.abs(frac) >= 0.5, np.sign(product), 0.0)
        rounded[suspect] = 0.0
    out = rounded.astype(np.int64)
    if suspect.any():
        num, den = exact_rate(r)
        for i in np.flatnonzero(suspect).tolist():
            value = div_round(int(arr[i]) * num, den, Rounding.HALF_AWAY)
            if not -INT64_MAX <= value <= INT64_MAX:
                raise ArithmeticOverflowError(
                    f"{what}[{i}]={int(arr[i])} x rate={r!r} exceeds the int64 limit")
            out[i] = value
    return out


def funding_payments(values: object, rate: float) -> tuple[npt.NDArray[np.int64], int]:
    """Funding payment of every position, and the rounding residual.

    ``values`` are signed position values at the mark, in minor units of the settle
    currency, positive for longs (for an inverse contract, whose BitMEX ``markValue`` is
    negative for a long, pass ``-markValue``). ``payments[i] = round(values[i] x rate)``,
    half away from zero: positive means the holder pays into the contract's funding clearing
    ledger, negative means it receives (F > 0: longs pay shorts).

    The residual is ``sum(payments)``: what the clearing ledger holds after every payment is
    booked. It goes to the **insurance fund** (a negative residual is paid by the insurance
    fund), so the clearing ledger ends at exactly zero. With balanced positions
    ``|residual| <= len(values) / 2``.
    """
    payments = mul_rate_half_away(values, rate)
    return payments, exact_sum(payments)


# ------------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class FundingConfig:
    """Funding parameters; defaults are XBTUSD's (8 h at 04/12/20 UTC, cap 0.375%)."""

    interval_ms: int = 8 * HOUR_MS
    anchor_ms: int = 4 * HOUR_MS
    sample_ms: int = MINUTE_MS
    premium_clamp: float = 0.0005
    rate_cap: float = 0.00375
    max_change: float | None = 0.00375
    initial_rate: float = 0.0

    def __post_init__(self) -> None:
        interval = check_duration(self.interval_ms, "interval_ms")
        sample = check_duration(self.sample_ms, "sample_ms")
        check_duration(self.anchor_ms, "anchor_ms", allow_zero=True)
        if interval % sample or DAY_MS % interval:
            raise InvalidConfigError(f"interval_ms={interval} must be a multiple of "
                                     f"sample_ms={sample} and divide a day ({DAY_MS} ms)")
        object.__setattr__(self, "anchor_ms", self.anchor_ms % interval)
        for name in ("premium_clamp", "rate_cap", "max_change", "initial_rate"):
            value = getattr(self, name)
            if value is None and name == "max_change":
                continue
            try:
                value = check_rate(value, name)
            except InvalidInputError as exc:
                raise InvalidConfigError(str(exc)) from None
            object.__setattr__(self, name, value)
        if self.premium_clamp < 0 or self.rate_cap <= 0 or (
                self.max_change is not None and self.max_change <= 0):
            raise InvalidConfigError(
                f"premium_clamp={self.premium_clamp} must be >= 0, rate_cap={self.rate_cap} "
                f"and max_change={self.max_change} must be > 0")
        if abs(self.initial_rate) > self.rate_cap:
            raise InvalidConfigError(f"initial_rate={self.initial_rate} must be within "
                                     f"+/- rate_cap={self.rate_cap}")

    @classmethod
    def from_margins(cls, init_margin: float, maint_margin: float,
                     **kwargs: Any) -> FundingConfig:
        """Caps from margins: rate_cap = 75% (IM - MM), max_change = 75% MM."""
        im = config_fraction(init_margin, "init_margin", high=Fraction(1))
        mm = config_fraction(maint_margin, "maint_margin", high=im)
        if mm == im:
            raise InvalidConfigError(f"maint_margin={maint_margin} must be < "
                                     f"init_margin={init_margin}")
        cap = Fraction(3, 4)
        return cls(rate_cap=float(cap * (im - mm)), max_change=float(cap * mm), **kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class FundingFixing:
    """What happened at one funding instant."""

    ts_ms: int
    rate: float                 # paid now (fixed one interval earlier)
    next_rate: float            # fixed now, paid at next_funding_ms
    next_funding_ms: int
    premium_twap: float | None  # None when the interval had no samples
    interest_twap: float | None
    samples: int


class Funding:
    """Samples, TWAPs and the one-interval-ahead rate of one perpetual.

    The caller drives it in time order: ``sample`` on each grid minute before the next
    funding instant, then ``settle`` exactly at the instant (before sampling that minute).
    An interval without samples carries the current rate forward.
    """

    def __init__(self, config: FundingConfig | None = None, *, start_ms: int = 0) -> None:
        self._cfg = config if config is not None else FundingConfig()
        start_ms = check_ts(start_ms, "start_ms")
        self._next_ms = next_funding_time(start_ms, self._cfg.interval_ms, self._cfg.anchor_ms)
        self._rate = self._cfg.initial_rate
        self._premium_sum = Fraction(0)
        self._interest_sum = Fraction(0)
        self._n = 0
        self._last_sample_ms: int | None = None
        self._last_ts = start_ms

    # ------------------------------------------------------------------ queries
    @property
    def config(self) -> FundingConfig:
        return self._cfg

    @property
    def next_funding_ms(self) -> int:
        return self._next_ms

    @property
    def next_sample_ms(self) -> int:
        """The earliest grid instant that may be sampled next (it may be the funding
        instant itself, which must be settled first)."""
        step = self._cfg.sample_ms
        earliest = self._last_ts
        if self._last_sample_ms is not None:
            earliest = max(earliest, self._last_sample_ms + step)
        return -(-earliest // step) * step

    @property
    def funding_rate(self) -> float:
        """The rate fixed for ``next_funding_ms`` (BitMEX ``fundingRate``)."""
        return self._rate

    @property
    def indicative_funding_rate(self) -> float:
        """The rate the current interval's samples would fix (``indicativeFundingRate``)."""
        return self._indicative()

    @property
    def samples(self) -> int:
        return self._n

    def time_to_funding(self, ts_ms: int) -> int:
        ts_ms = check_ts(ts_ms)
        if ts_ms > self._next_ms:
            raise InvalidInputError(f"ts_ms={ts_ms} is after the unsettled funding instant "
                                    f"{self._next_ms}")
        return self._next_ms - ts_ms

    # ----------------------------------------------------------------- commands
    def sample(self, ts_ms: int, premium: float, interest: float) -> None:
        """Adds one minute's premium and interest samples (rates per interval)."""
        ts_ms = check_ts(ts_ms)
        check_monotonic(ts_ms, self._last_ts)
        p = rate_fraction(premium, "premium")
        i = rate_fraction(interest, "interest")
        self._take_minute(ts_ms)
        self._premium_sum += p
        self._interest_sum += i
        self._n += 1

    def skip(self, ts_ms: int) -> None:
        """The grid minute ``ts_ms`` passes without a sample (there is no index or mark to
        sample yet): the TWAPs stay as they are and the next sample is due a minute later.
        ``last_sample_ms`` is the last minute taken, sampled or skipped."""
        ts_ms = check_ts(ts_ms)
        check_monotonic(ts_ms, self._last_ts)
        self._take_minute(ts_ms)

    def _take_minute(self, ts_ms: int) -> None:
        """Checks that ``ts_ms`` is the next grid minute a sample may take, then takes it."""
        step = self._cfg.sample_ms
        if ts_ms % step:
            raise InvalidInputError(f"ts_ms={ts_ms} must be on the {step} ms sampling grid")
        if self._last_sample_ms is not None and ts_ms <= self._last_sample_ms:
            raise InvalidInputError(f"ts_ms={ts_ms} was already sampled (last sample "
                                    f"{self._last_sample_ms})")
        if ts_ms >= self._next_ms:
            raise InvalidInputError(f"ts_ms={ts_ms} is at or after the funding instant "
                                    f"{self._next_ms}: settle it first")
        self._last_sample_ms = ts_ms
        self._last_ts = ts_ms

    def settle(self, ts_ms: int) -> FundingFixing:
        """Funding instant: returns the rate to pay now and fixes the next one."""
        ts_ms = check_ts(ts_ms)
        check_monotonic(ts_ms, self._last_ts)
        if ts_ms != self._next_ms:
            raise InvalidInputError(f"ts_ms={ts_ms} is not the due funding instant "
                                    f"{self._next_ms}")
        paid = self._rate
        fixed = self._indicative()
        n = self._n
        fixing = FundingFixing(
            ts_ms=ts_ms, rate=paid, next_rate=fixed,
            next_funding_ms=ts_ms + self._cfg.interval_ms,
            premium_twap=float(self._premium_sum / n) if n else None,
            interest_twap=float(self._interest_sum / n) if n else None,
            samples=n)
        self._rate = fixed
        self._premium_sum = Fraction(0)
        self._interest_sum = Fraction(0)
        self._n = 0
        self._next_ms = fixing.next_funding_ms
        self._last_ts = ts_ms
        return fixing

    # ------------------------------------------------------------------- state
    def export_state(self) -> dict[str, Any]:
        return {
            "config": self._cfg.as_dict(), "next_funding_ms": self._next_ms,
            "rate": self._rate,
            "premium_sum": [self._premium_sum.numerator, self._premium_sum.denominator],
            "interest_sum": [self._interest_sum.numerator, self._interest_sum.denominator],
            "samples": self._n, "last_sample_ms": self._last_sample_ms,
            "last_ts": self._last_ts,
        }

    state = export_state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Funding:
        funding = cls(FundingConfig(**state["config"]))
        funding._next_ms = state["next_funding_ms"]
        funding._rate = state["rate"]
        funding._premium_sum = Fraction(*state["premium_sum"])
        funding._interest_sum = Fraction(*state["interest_sum"])
        funding._n = state["samples"]
        funding._last_sample_ms = state["last_sample_ms"]
        funding._last_ts = state["last_ts"]
        return funding

    # --------------------------------------------------------------- internals
    def _indicative(self) -> float:
        if self._n == 0:
            return self._rate
        cfg = self._cfg
        premium = self._premium_sum / self._n
        interest = self._interest_sum / self._n
        raw = _clamped(premium, interest, rate_fraction(cfg.premium_clamp))
        change = None if cfg.max_change is None else rate_fraction(cfg.max_change)
        return float(_capped(raw, rate_fraction(self._rate), rate_fraction(cfg.rate_cap),
                             change))
