"""Bankruptcy and liquidation prices (MECHANICS §3), for every contract type and margin mode.

All functions take the position as integers (signed ``qty``, signed ``cost`` in the convention
of :mod:`perpex.instruments`) and its **collateral**: the money that absorbs losses before the
position is bankrupt.

- isolated: ``collateral = posInit = ceil(|cost| / leverage) + extra_margin``
  (:func:`perpex.accounts.margin.position_init_margin`);
- cross: ``collateral = posInit + available balance`` of the account (S22: ``Q/E +
  availableBalance``; WE-20: wallet 10,000 USDT -> bankruptcy 500).

Prices are solved exactly (``Fraction`` in quote-currency units) against the unrounded value
formula, then rounded to the tick **towards the entry side** (§3.3): long up, short down.
``None`` means the price is unreachable (a 1x inverse short never goes bankrupt; a linear long
whose collateral covers its whole value never does either).

Variants (:class:`LiquidationVariant`, "Decisions" 3), with ``F`` the funding rate, ``t`` the
taker fee, ``m`` the MM rate and ``1/L = collateral / |cost|``:

- RECOMMENDED (default): ``posInit + UPnL(Liq) = m|cost| + fundingReserve(Liq)``; the exit fee
  sits on both sides and cancels; the funding reserve counts only for the paying side.
  Bankruptcy: ``posInit + UPnL(Bk) = 0``.
- V1: ``posInit + UPnL(Liq) = m|cost| + (t + F)|value(Bk)|`` (F as given, unsigned by side).
- V2 (S23 literal, inverse): ``IM = 1/L + 2t``, ``MM = m + t + F``; long ``E/(1 + IM - MM)``,
  short ``E/(1 - IM + MM)``; linear/quanto analogue ``E(1 -/+ (IM - MM))``.
- V3 (uxs.fintls): ``IM = 1/L - 2t``; inverse ``Bk = E/(1 +/- IM)``, linear ``E(1 -/+ IM)``;
  ``Liq = Bk + E(m - t + F)`` long, ``Bk - E(m - t - F)`` short.
V1 and V2 use the recommended bankruptcy price; V3 its own.
"""

from __future__ import annotations

from enum import Enum
from fractions import Fraction
from typing import NamedTuple

from perpex.errors import InvalidInputError
from perpex.instruments import Instrument
from perpex.rounding import Rounding, apply_rate, div_ceil, div_floor, exact_rate

__all__ = [
    "LiquidationVariant",
    "RiskPrices",
    "bankruptcy_price",
    "bankruptcy_ticks",
    "liquidation_price",
    "liquidation_ticks",
    "risk_prices",
    "round_toward_entry",
]


class LiquidationVariant(Enum):
    RECOMMENDED = "recommended"
    V1 = "v1"
    V2 = "v2"
    V3 = "v3"


# the members as globals, here and for the modules that test the variant: an enum class
# attribute costs several times a global (see perpex.rounding)
_V1, _V2, _V3, _RECOMMENDED = (
    LiquidationVariant.V1, LiquidationVariant.V2, LiquidationVariant.V3, LiquidationVariant.RECOMMENDED)


class RiskPrices(NamedTuple):
    """Exact prices (quote units) and their tick-rounded forms; None = unreachable."""

    bankruptcy: Fraction | None
    liquidation: Fraction | None
    bankruptcy_ticks: int | None
    liquidation_ticks: int | None


def _rate(value: float, name: str) -> Fraction:
    num, den = exact_rate(value, name)
    return Fraction(num, den)


def _check_position(qty: int, cost: int, collateral: int) -> None:
    for name, value in (("qty", qty), ("cost", cost), ("collateral", collateral)):
        if type(value) is not int:
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if qty == 0 or cost == 0:
        raise InvalidInputError(f"qty={qty} and cost={cost} must describe an open position")
    if collateral < 0:
        raise InvalidInputError(f"collateral={collateral} must be >= 0")


def _price_for_value(instrument: Instrument, qty: int, target: Fraction) -> Fraction | None:
    """The price P > 0 at which the unrounded signed value of ``qty`` equals ``target``."""
    if instrument.is_inverse:
        if target == 0:
            return None
        price = Fraction(instrument.multiplier * qty) / target
    else:
        price = target / (instrument.multiplier * qty)
    return price if price > 0 else None


def _mm_amount(cost: int, maint_rate: float) -> int:
    return apply_rate(abs(cost), maint_rate, Rounding.CEIL)


def round_toward_entry(instrument: Instrument, qty: int, price: Fraction | None) -> int | None:
    """Round a bankruptcy/liquidation price to ticks towards the entry side: long up, short
    down (conservative for the exchange, §3.3). A short rounding to 0 ticks is unreachable."""
    if price is None:
        return None
    tick_num, tick_den = instrument.tick_size.as_integer_ratio()
    ticks = price * tick_den / tick_num
    if qty > 0:
        return div_ceil(ticks.numerator, ticks.denominator)
    rounded = div_floor(ticks.numerator, ticks.denominator)
    return rounded if rounded > 0 else None


def _factor_price(instrument: Instrument, qty: int, entry: Fraction, k: Fraction) -> Fraction | None:
    """Price at relative loss ``k`` from entry: inverse ``E/(1 + k)``, linear ``E(1 - k)``
    for a long (signs mirrored for a short)."""
    s = 1 if qty > 0 else -1
    if instrument.is_inverse:
        denom = 1 + s * k
        return entry / denom if denom > 0 else None
    price = entry * (1 - s * k)
    return price if price > 0 else None


def bankruptcy_price(instrument: Instrument, qty: int, cost: int, collateral: int, *,
                     variant: LiquidationVariant = LiquidationVariant.RECOMMENDED,
                     taker_fee: float | None = None) -> Fraction | None:
    """Exact bankruptcy price: where ``collateral + UPnL`` reaches 0 (V3: its own formula)."""
    _check_position(qty, cost, collateral)
    if variant is _V3:
        t = _rate(instrument.taker_fee if taker_fee is None else taker_fee, "taker_fee")
        im = Fraction(collateral, abs(cost)) - 2 * t
        return _factor_price(instrument, qty, instrument.exact_entry_price(qty, cost), im)
    return _price_for_value(instrument, qty, Fraction(cost - collateral))


def liquidation_price(instrument: Instrument, qty: int, cost: int, collateral: int,
                      maint_rate: float, *, funding_rate: float = 0.0,
                      taker_fee: float | None = None,
                      variant: LiquidationVariant = LiquidationVariant.RECOMMENDED) -> Fraction | None:
    """Exact mark price at which the position reaches its maintenance requirement."""
    _check_position(qty, cost, collateral)
    if not isinstance(variant, LiquidationVariant):
        raise TypeError(f"variant must be a LiquidationVariant, got {variant!r}")
    f = _rate(funding_rate, "funding_rate")
    t = _rate(instrument.taker_fee if taker_fee is None else taker_fee, "taker_fee")
    m = _rate(maint_rate, "maint_rate")
    if m < 0:
        raise InvalidInputError(f"maint_rate={maint_rate} must be >= 0")
    s = 1 if cost > 0 else -1  # sign of the position's value at any price
    if variant is _RECOMMENDED:
        paying = max(Fraction(0), f if qty > 0 else -f)
        # value(P) - cost + collateral = MM + paying * |value(P)|, |value(P)| = s * value(P)
        denom = 1 - paying * s
        if denom <= 0:
            return None
        target = Fraction(cost - collateral + _mm_amount(cost, maint_rate)) / denom
        return _price_for_value(instrument, qty, target)
    if variant is _V1:
        bk_value = abs(cost - collateral)
        target = Fraction(cost - collateral + _mm_amount(cost, maint_rate)) + (t + f) * bk_value
        return _price_for_value(instrument, qty, target)
    entry = instrument.exact_entry_price(qty, cost)
    inv_leverage = Fraction(collateral, abs(cost))
    if variant is _V2:
        return _factor_price(instrument, qty, entry, (inv_leverage + 2 * t) - (m + t + f))
    bk = bankruptcy_price(instrument, qty, cost, collateral, variant=variant, taker_fee=taker_fee)
    if bk is None:
        return None
    price = bk + entry * (m - t + f) if qty > 0 else bk - entry * (m - t - f)
    return price if price > 0 else None


def risk_prices(instrument: Instrument, qty: int, cost: int, collateral: int,
                maint_rate: float, *, funding_rate: float = 0.0, taker_fee: float | None = None,
                variant: LiquidationVariant = LiquidationVariant.RECOMMENDED) -> RiskPrices:
    """Both prices, exact and rounded to the tick towards the entry side."""
    bk = bankruptcy_price(instrument, qty, cost, collateral, variant=variant, taker_fee=taker_fee)
    liq = liquidation_price(instrument, qty, cost, collateral, maint_rate,
                            funding_rate=funding_rate, taker_fee=taker_fee, variant=variant)
    return RiskPrices(bk, liq, round_toward_entry(instrument, qty, bk),
                      round_toward_entry(instrument, qty, liq))


def liquidation_ticks(instrument: Instrument, qty: int, cost: int, collateral: int,
                      maint_rate: float, *, funding_rate: float = 0.0) -> int | None:
    """The RECOMMENDED variant's liquidation price in ticks (rounded towards the entry side),
    in plain integer arithmetic: equal to ``risk_prices(...).liquidation_ticks`` but without
    Fraction objects, because the Exchange recomputes it for every position a fill, a funding
    payment or a margin change touches."""
    _check_position(qty, cost, collateral)
    fn, fd = exact_rate(funding_rate, "funding_rate")
    if maint_rate < 0:
        raise InvalidInputError(f"maint_rate={maint_rate} must be >= 0")
    pn = max(0, fn if qty > 0 else -fn)  # the paying side's reserve rate is pn / fd
    s = 1 if cost > 0 else -1
    denom = fd - pn * s  # (1 - paying * s) * fd
    if denom <= 0:
        return None
    return _value_ticks(instrument, qty, cost - collateral + _mm_amount(cost, maint_rate), fd, denom)


def bankruptcy_ticks(instrument: Instrument, qty: int, cost: int, collateral: int) -> int | None:
    """The RECOMMENDED (V1, V2) bankruptcy price in ticks, rounded towards the entry side, in
    plain integer arithmetic: equal to ``round_toward_entry(bankruptcy_price(...))``."""
    _check_position(qty, cost, collateral)
    return _value_ticks(instrument, qty, cost - collateral, 1, 1)


def _value_ticks(instrument: Instrument, qty: int, t: int, fd: int, denom: int) -> int | None:
    """Ticks (rounded towards the entry side) of the price P at which the unrounded signed
    value of ``qty`` equals ``t * fd / denom`` (``denom`` > 0); None when unreachable."""
    m = instrument.multiplier
    if instrument.is_inverse:
        if t == 0:
            return None
        num, den = m * qty * denom, t * fd  # price = m * qty / target
    else:
        num, den = t * fd, denom * m * qty  # price = target / (m * qty)
    if den < 0:
        num, den = -num, -den
    if num <= 0:
        return None
    num, den = num * instrument._tick_den, den * instrument._tick_num
    if qty > 0:
        return -((-num) // den)
    rounded = num // den
    return rounded if rounded > 0 else None
