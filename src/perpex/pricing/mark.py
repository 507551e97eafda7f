"""Mark price (MECHANICS §4, Decisions 6 and 10) and impact prices.

Default marking is BitMEX fair price marking:

- perpetuals: ``fair = index * (1 + fundingRate * timeUntilFunding / fundingInterval)``; the
  basis decays linearly to exactly 0 at the funding instant;
- dated futures: ``%fairBasis = (impactMid / index - 1) / (timeToExpiry / 365d)``, re-estimated
  only when the impact spread is narrow (``ask - bid < max(maintMargin x mid, 3 ticks)``) and
  at most once per ``refresh_ms``; in between the fair price floats with the index and decays
  with the time to expiry: ``fair = index * (1 + %fairBasis * timeToExpiry / 365d)``.

Options: OKEx's moving-average basis (``index + MA(mid - index)``) and LastPriceProtected
(last price held inside a band of one maintenance margin around the fair price).

All prices are e8 ints; rates are floats read by their shortest repr (as in
``perpex.rounding``), and every price result is rounded half-even to 1e-8 exactly once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Sequence

from perpex.errors import InvalidConfigError, InvalidInputError, InvalidQuantityError
from perpex.pricing._units import (
    Number,
    check_duration,
    check_e8,
    check_monotonic,
    check_rate,
    check_ts,
    exact_number,
    rate_fraction,
    round_half_even,
)

YEAR_MS = 365 * 86_400_000


# ----------------------------------------------------------------------------- impact prices
@dataclass(frozen=True)
class ImpactPrices:
    """Average execution prices, in (fractional) ticks, to trade the impact notional.

    A side is None when the book on that side is too thin to absorb the notional.
    """

    bid: Fraction | None
    ask: Fraction | None

    @property
    def complete(self) -> bool:
        return self.bid is not None and self.ask is not None

    @property
    def mid(self) -> Fraction | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2

    def to_e8(self, tick_e8: int) -> tuple[int | None, int | None]:
        """Both sides in e8 units for a tick of ``tick_e8`` (rounded half-even)."""
        tick_e8 = check_e8(tick_e8, "tick_e8")
        return (None if self.bid is None else round_half_even(self.bid * tick_e8),
                None if self.ask is None else round_half_even(self.ask * tick_e8))


def _walk(levels: Sequence[tuple[int, int]], notional: Fraction,
          value_fn: Callable[[int, int], Number], side: str) -> Fraction | None:
    remaining = notional
    qty_sum = Fraction(0)
    px_qty_sum = Fraction(0)
    prev: int | None = None
    for i, level in enumerate(levels):
        try:
            price, qty = level
        except (TypeError, ValueError):
            raise InvalidInputError(f"{side}[{i}]={level!r} must be (price_ticks, qty)") from None
        for what, v in (("price_ticks", price), ("qty", qty)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                err = InvalidQuantityError if what == "qty" else InvalidInputError
                raise err(f"{side}[{i}] {what}={v!r} must be an int > 0")
        if prev is not None and (price >= prev if side == "bids" else price <= prev):
            raise InvalidInputError(f"{side}[{i}] price_ticks={price} is not best-first "
                                    f"after {prev}")
        prev = price
        level_value = exact_number(value_fn(price, qty), f"value_fn({price}, {qty})")
        if level_value <= 0:
            raise InvalidInputError(f"value_fn({price}, {qty})={level_value} must be > 0")
        if remaining <= 0:
            continue  # keep validating the rest of the input
        # value is linear in quantity, so the last level is taken fractionally
        take = qty if level_value <= remaining else qty * remaining / level_value
        remaining -= min(level_value, remaining)
        qty_sum += take
        px_qty_sum += take * price
    if remaining > 0:
        return None
    return px_qty_sum / qty_sum


def impact_prices(bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]],
                  notional: Number, value_fn: Callable[[int, int], Number]) -> ImpactPrices:
    """Walks each side of the book (best first) until ``notional`` is filled.

    ``value_fn(price_ticks, qty)`` gives the notional of ``qty`` contracts at a price, in
    the unit of ``notional`` (for XBTUSD, where one contract is one USD, ``lambda p, q: q``
    with a USD 10,000 notional). It must be linear in ``qty``. Each side's impact price is
    the contract-weighted average of the prices taken, exact; a side that cannot absorb the
    notional is None.
    """
    exact = exact_number(notional, "notional")
    if exact <= 0:
        raise InvalidInputError(f"notional={notional!r} must be > 0")
    return ImpactPrices(_walk(bids, exact, value_fn, "bids"),
                        _walk(asks, exact, value_fn, "asks"))


# ------------------------------------------------------------------------------ perpetuals
def funding_basis(funding_rate: float, time_to_funding_ms: int, interval_ms: int) -> float:
    """fundingRate x timeUntilFunding / fundingInterval (as a float, for reporting)."""
    return float(_funding_basis(funding_rate, time_to_funding_ms, interval_ms))


def _funding_basis(funding_rate: float, time_to_funding_ms: int,
                   interval_ms: int) -> Fraction:
    rate = rate_fraction(funding_rate, "funding_rate")
    interval_ms = check_duration(interval_ms, "interval_ms")
    t = check_ts(time_to_funding_ms, "time_to_funding_ms")
    if t > interval_ms:
        raise InvalidInputError(f"time_to_funding_ms={t} must be <= interval_ms={interval_ms}")
    return rate * t / interval_ms


def perpetual_fair_price(index_e8: int, funding_rate: float, time_to_funding_ms: int,
                         interval_ms: int) -> int:
    """BitMEX perpetual fair price: ``index * (1 + fundingBasis)``, half-even to 1e-8.

    At ``time_to_funding_ms == 0`` it equals the index exactly.
    """
    index_e8 = check_e8(index_e8, "index_e8")
    basis = _funding_basis(funding_rate, time_to_funding_ms, interval_ms)
    return _positive_price(index_e8 * (1 + basis), "fair price")


def _positive_price(value: Fraction, what: str) -> int:
    price = round_half_even(value)
    if price <= 0:
        raise InvalidInputError(f"{what}={value} e8 is not a positive price")
    return price


# ---------------------------------------------------------------------------------- futures
def fair_basis_rate(impact_mid_e8: int | Fraction, index_e8: int,
                    time_to_expiry_ms: int) -> float:
    """Annualised %fairBasis = (impactMid / index - 1) / (timeToExpiry / 365 days)."""
    index_e8 = check_e8(index_e8, "index_e8")
    t = check_ts(time_to_expiry_ms, "time_to_expiry_ms")
    if t == 0:
        raise InvalidInputError("time_to_expiry_ms=0 must be > 0 to annualise a basis")
    mid = Fraction(impact_mid_e8)
    if mid <= 0:
        raise InvalidInputError(f"impact_mid_e8={impact_mid_e8} must be > 0")
    return float((mid / index_e8 - 1) * YEAR_MS / t)


def futures_fair_price(index_e8: int, fair_basis: float, time_to_expiry_ms: int) -> int:
    """index + fairValue with fairValue = index x %fairBasis x timeToExpiry / 365 days."""
    index_e8 = check_e8(index_e8, "index_e8")
    basis = rate_fraction(fair_basis, "fair_basis")
    t = check_ts(time_to_expiry_ms, "time_to_expiry_ms")
    return _positive_price(index_e8 * (1 + basis * t / YEAR_MS), "fair price")


class FuturesFairBasis:
    """The re-estimated %fairBasis of a dated future and its fair price.

    ``maint_margin`` is the maintenance margin rate; the basis is re-estimated from the
    impact mid only when ``ask - bid < max(maint_margin x mid, min_spread_ticks x tick)``
    and at least ``refresh_ms`` after the previous estimate (BitMEX: 60 s older text,
    30 s newer).
    """

    def __init__(self, expiry_ms: int, maint_margin: float, tick_e8: int, *,
                 refresh_ms: int = 60_000, min_spread_ticks: int = 3,
                 fair_basis: float = 0.0) -> None:
        self._expiry_ms = check_ts(expiry_ms, "expiry_ms")
        mm = check_rate(maint_margin, "maint_margin")
        if not 0 < mm < 1:
            raise InvalidConfigError(f"maint_margin={maint_margin!r} must be in (0, 1)")
        self._mm = mm
        self._tick_e8 = check_e8(tick_e8, "tick_e8")
        self._refresh_ms = check_duration(refresh_ms, "refresh_ms")
        if isinstance(min_spread_ticks, bool) or not isinstance(min_spread_ticks, int) \
                or min_spread_ticks < 0:
            raise InvalidConfigError(f"min_spread_ticks={min_spread_ticks!r} must be an int >= 0")
        self._min_spread_ticks = min_spread_ticks
        self._basis = check_rate(fair_basis, "fair_basis")
        self._estimated_ms: int | None = None
        self._last_ts: int | None = None

    @property
    def fair_basis(self) -> float:
        return self._basis

    @property
    def expiry_ms(self) -> int:
        return self._expiry_ms

    def spread_is_narrow(self, impact_bid_e8: int, impact_ask_e8: int) -> bool:
        spread = impact_ask_e8 - impact_bid_e8
        mid = Fraction(impact_bid_e8 + impact_ask_e8, 2)
        limit = max(rate_fraction(self._mm) * mid, Fraction(self._min_spread_ticks * self._tick_e8))
        return spread < limit

    def update(self, ts_ms: int, index_e8: int, impact_bid_e8: int | None,
               impact_ask_e8: int | None) -> bool:
        """Offers fresh impact prices; returns True when the basis was re-estimated."""
        ts_ms = check_ts(ts_ms)
        check_monotonic(ts_ms, self._last_ts)
        index_e8 = check_e8(index_e8, "index_e8")
        bid = None if impact_bid_e8 is None else check_e8(impact_bid_e8, "impact_bid_e8")
        ask = None if impact_ask_e8 is None else check_e8(impact_ask_e8, "impact_ask_e8")
        if bid is not None and ask is not None and bid > ask:
            raise InvalidInputError(f"impact_bid_e8={bid} must be <= impact_ask_e8={ask}")
        self._last_ts = ts_ms
        if bid is None or ask is None or ts_ms >= self._expiry_ms:
            return False
        if self._estimated_ms is not None and ts_ms - self._estimated_ms < self._refresh_ms:
            return False
        if not self.spread_is_narrow(bid, ask):
            return False
        self._basis = fair_basis_rate(Fraction(bid + ask, 2), index_e8,
                                      self._expiry_ms - ts_ms)
        self._estimated_ms = ts_ms
        return True

    def fair_price(self, ts_ms: int, index_e8: int) -> int:
        """The fair price at ``ts_ms``; equals the index at and after expiry."""
        ts_ms = check_ts(ts_ms)
        return futures_fair_price(index_e8, self._basis, max(0, self._expiry_ms - ts_ms))

    def export_state(self) -> dict[str, Any]:
        return {"expiry_ms": self._expiry_ms, "maint_margin": self._mm,
                "tick_e8": self._tick_e8, "refresh_ms": self._refresh_ms,
                "min_spread_ticks": self._min_spread_ticks, "fair_basis": self._basis,
                "estimated_ms": self._estimated_ms, "last_ts": self._last_ts}

    state = export_state


# ------------------------------------------------------------------------------ OKEx MA basis
class MovingAverageBasis:
    """OKEx marking: ``mark = index + MA(mid - index)`` over the last ``window`` samples."""

    def __init__(self, window: int) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
            raise InvalidConfigError(f"window={window!r} must be an int > 0")
        self._window = window
        self._samples: deque[Fraction] = deque(maxlen=window)
        self._last_ts: int | None = None

    def sample(self, ts_ms: int, best_bid_e8: int, best_ask_e8: int, index_e8: int) -> None:
        ts_ms = check_ts(ts_ms)
        check_monotonic(ts_ms, self._last_ts)
        bid = check_e8(best_bid_e8, "best_bid_e8")
        ask = check_e8(best_ask_e8, "best_ask_e8")
        index_e8 = check_e8(index_e8, "index_e8")
        if bid > ask:
            raise InvalidInputError(f"best_bid_e8={bid} must be <= best_ask_e8={ask}")
        self._samples.append(Fraction(bid + ask, 2) - index_e8)
        self._last_ts = ts_ms

    @property
    def basis(self) -> Fraction:
        """The moving-average basis in e8 units (0 before any sample)."""
        if not self._samples:
            return Fraction(0)
        return sum(self._samples, Fraction(0)) / len(self._samples)

    def mark_price(self, index_e8: int) -> int:
        index_e8 = check_e8(index_e8, "index_e8")
        return _positive_price(index_e8 + self.basis, "mark price")

    def export_state(self) -> dict[str, Any]:
        return {"window": self._window, "last_ts": self._last_ts,
                "samples": [[s.numerator, s.denominator] for s in self._samples]}

    state = export_state


# ---------------------------------------------------------------------- LastPriceProtected
class LastPriceProtected:
    """Last price kept within ``fair x (1 +/- maint_margin / 2)``.

    When the band moves away from the previous mark, the mark may move toward the band but
    never further away from it.
    """

    def __init__(self, maint_margin: float) -> None:
        mm = check_rate(maint_margin, "maint_margin")
        if not 0 < mm < 1:
            raise InvalidConfigError(f"maint_margin={maint_margin!r} must be in (0, 1)")
        self._half_band = rate_fraction(mm) / 2
        self._mm = mm
        self._mark: int | None = None

    @property
    def mark_e8(self) -> int | None:
        return self._mark

    def update(self, last_e8: int, fair_e8: int) -> int:
        last = check_e8(last_e8, "last_e8")
        fair = check_e8(fair_e8, "fair_e8")
        lo = _positive_price(fair * (1 - self._half_band), "band low")
        hi = round_half_even(fair * (1 + self._half_band))
        prev = self._mark
        if prev is not None and prev > hi:
            mark = min(max(last, lo), prev)
        elif prev is not None and prev < lo:
            mark = max(min(last, hi), prev)
        else:
            mark = min(max(last, lo), hi)
        self._mark = mark
        return mark

    def export_state(self) -> dict[str, Any]:
        return {"maint_margin": self._mm, "mark_e8": self._mark}

    state = export_state
