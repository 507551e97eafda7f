"""Contract specifications and the integer value / PnL / fee / risk-limit math of MECHANICS §1-2.

Units: prices on the book are integer **ticks**; mark and index prices, which need finer
resolution than the tick grid, are integer **e8 prices** (units of 1e-8 of the quote currency:
10000.75 USD is ``1_000_075_000_000``); quantities are signed integer contracts (long > 0);
money is integer minor units of the settle currency (XBt, USDt).

Sign convention (BitMEX, MECHANICS §0): a position's signed value is ``multiplier``-signed.
``multiplier < 0`` for inverse contracts, so a long inverse position has a *negative* value and
cost; linear and quanto contracts have ``multiplier > 0`` and a long has a *positive* value.
With that convention ``PnL = value_at_exit - cost`` for longs and shorts alike.

Rounding: inverse values round **per contract** (``round(|multiplier| / price)`` times qty,
§1.3, confirmed by 2000 @ 1160.72 -> 172,306,000 XBt); linear and quanto values round the whole
product once. Both use half-away-from-zero, which is odd-symmetric, so the buyer's and the
seller's exec cost of one fill are exact negatives of each other and money is conserved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from math import gcd
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from perpex.errors import (
    ArithmeticOverflowError,
    InvalidConfigError,
    InvalidInputError,
    InvalidPriceError,
    InvalidQuantityError,
)
from perpex.rounding import (
    INT64_MAX,
    Rounding,
    apply_rate,
    check_int,
    div_ceil,
    div_floor,
    div_round_half_away,
    exact_rate,
    price_to_ticks,
    ticks_to_price,
)

__all__ = [
    "E8",
    "AvgEntry",
    "ContractType",
    "Instrument",
    "Tier",
    "TierTable",
]

E8 = 100_000_000
"""Scale of e8 prices: an e8 price is ``round(price * E8)`` in quote-currency units."""
_PRICE_CACHE_SIZE = 1 << 16


class ContractType(Enum):
    INVERSE = "inverse"
    LINEAR = "linear"
    QUANTO = "quanto"


class AvgEntry(NamedTuple):
    """Average entry price (§1.3).

    ``price``: quote-currency price to 4 decimal places (BitMEX API precision).
    ``unit_cost``: the average per-contract cost in minor settle units; for inverse contracts this
    is BitMEX's "average satoshi price" (floored for longs, rounded for shorts).
    """

    price: Decimal
    unit_cost: int


def _rate_value(rate: float) -> Decimal:
    num, den = exact_rate(rate)
    return Decimal(num) / Decimal(den)


def _to_decimal(name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float)):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__} {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidConfigError(f"{name}={value!r} must be finite")
        return Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidConfigError(f"{name}={value!r} must be finite")
    return Decimal(value)


def _check_int(name: str, value: object, minimum: int) -> int:
    return check_int(name, value, minimum, InvalidConfigError)


def _check_rate(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (float, int)):
        raise TypeError(f"{name} must be a float rate, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidConfigError(f"{name}={value!r} must be within [{low}, {high}]")
    return value


@dataclass(frozen=True)
class Instrument:
    """One listed contract, BitMEX field for field (MECHANICS §0, §1.4).

    ``multiplier``: minor settle units per contract per unit of price (linear, quanto) or per
    unit of 1/price (inverse, negative). XBTUSD: -100_000_000 (1 contract = 1 USD);
    ETHUSD quanto: 100 XBt per USD; XBTUSDT linear: 1 USDt per USD (1 contract = 0.000001 XBT).
    ``risk_limit`` / ``risk_step``: minor settle units. Rates are floats.
    ``funding_offset_ms``: funding timestamps are the times t with
    ``t % funding_interval_ms == funding_offset_ms`` (XBTUSD: 04/12/20 UTC -> offset 4h).
    ``settlement_window_ms``: TWAP window of the settlement price of a dated future.
    ``okex_tiers``: this contract's OKEx tiered maintenance schedule (MECHANICS §2.3), used in
    OKEx risk mode; None: the engine's configured table (``LiquidationConfig.tiers``).
    ``huobi_tiers``: this contract's Huobi adjustment-factor table (§2.4: the exchange tables
    them per contract), used in Huobi risk mode; None: ``LiquidationConfig.huobi_tiers``.
    """

    symbol: str
    contract_type: ContractType
    underlying: str
    quote_currency: str
    settle_currency: str
    multiplier: int
    tick_size: Decimal
    lot_size: int
    max_order_qty: int
    max_price: Decimal
    init_margin: float
    maint_margin: float
    risk_limit: int
    risk_step: int
    maker_fee: float
    taker_fee: float
    settlement_fee: float = 0.0
    funding_interval_ms: int | None = 28_800_000
    funding_offset_ms: int = 0
    expiry_ms: int | None = None
    settlement_window_ms: int | None = None
    okex_tiers: TierTable | None = None
    huobi_tiers: tuple[HuobiTier, ...] | None = None

    _tick_num: int = field(init=False, repr=False, compare=False)
    _tick_den: int = field(init=False, repr=False, compare=False)
    _e8_per_tick: int = field(init=False, repr=False, compare=False)
    _max_price_ticks: int = field(init=False, repr=False, compare=False)
    _value_num: int = field(init=False, repr=False, compare=False)
    _value_den: int = field(init=False, repr=False, compare=False)
    # contract_type is INVERSE: the test every value and price conversion makes, and a class
    # attribute of an enum costs several times an instance attribute
    _inverse: bool = field(init=False, repr=False, compare=False)
    # derived, bounded caches of the two exact conversions: human prices of recently used ticks
    # (every event shows some; Decimals are immutable) and ticks of recently quoted prices
    _prices: dict[int, Decimal] = field(init=False, repr=False, compare=False)
    _ticks: dict[int | float | Decimal, int] = field(init=False, repr=False, compare=False)
    # margin rates per (kind, risk steps): each takes Decimal arithmetic, and every margin
    # check, trigger and liquidation needs one
    _rates: dict[tuple[str, int], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "_prices", {})
        put(self, "_ticks", {})
        put(self, "_rates", {})
        for name in ("symbol", "underlying", "quote_currency", "settle_currency"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
            if not value:
                raise InvalidConfigError(f"{name} must be a non-empty string")
        if not isinstance(self.contract_type, ContractType):
            raise TypeError(f"contract_type must be a ContractType, got {self.contract_type!r}")
        if type(self.multiplier) is not int:
            raise TypeError(f"multiplier must be an int, got {type(self.multiplier).__name__}")
        if self.contract_type is ContractType.INVERSE and self.multiplier >= 0:
            raise InvalidConfigError(f"multiplier={self.multiplier} of inverse {self.symbol} must be < 0")
        if self.contract_type is not ContractType.INVERSE and self.multiplier <= 0:
            raise InvalidConfigError(f"multiplier={self.multiplier} of {self.symbol} must be > 0")
        tick = _to_decimal("tick_size", self.tick_size)
        if tick <= 0:
            raise InvalidConfigError(f"tick_size={tick} must be > 0")
        e8_num, e8_den = (tick * E8).as_integer_ratio()
        if e8_den != 1:
            raise InvalidConfigError(f"tick_size={tick} must be a multiple of 1e-8")
        put(self, "tick_size", tick)
        _check_int("lot_size", self.lot_size, 1)
        _check_int("max_order_qty", self.max_order_qty, self.lot_size)
        max_price = _to_decimal("max_price", self.max_price)
        try:
            max_ticks = price_to_ticks(max_price, tick, "max_price")
        except (InvalidPriceError, ArithmeticOverflowError) as exc:
            raise InvalidConfigError(str(exc)) from None
        put(self, "max_price", max_price)
        _check_rate("init_margin", self.init_margin, 0.0, 1.0)
        if self.init_margin <= 0.0:
            raise InvalidConfigError(f"init_margin={self.init_margin} must be > 0")
        _check_rate("maint_margin", self.maint_margin, 0.0, self.init_margin)
        if self.maint_margin <= 0.0:
            raise InvalidConfigError(f"maint_margin={self.maint_margin} must be > 0")
        _check_int("risk_limit", self.risk_limit, 1)
        _check_int("risk_step", self.risk_step, 1)
        for name in ("maker_fee", "taker_fee", "settlement_fee"):
            _check_rate(name, getattr(self, name), -0.1, 0.1)
        if self.okex_tiers is not None and not isinstance(self.okex_tiers, TierTable):
            raise TypeError(f"okex_tiers must be a TierTable or None, got {self.okex_tiers!r}")
        if self.huobi_tiers is not None:
            put(self, "huobi_tiers", huobi_table(self.huobi_tiers))
        if self.maker_fee + self.taker_fee < 0:
            raise InvalidConfigError(
                f"maker_fee={self.maker_fee} + taker_fee={self.taker_fee} must be >= 0: "
                "a rebate larger than the taker fee would mint money on every trade")
        if self.expiry_ms is None:
            if self.funding_interval_ms is None:
                raise InvalidConfigError(f"perpetual {self.symbol} needs funding_interval_ms")
            _check_int("funding_interval_ms", self.funding_interval_ms, 1)
            _check_int("funding_offset_ms", self.funding_offset_ms, 0)
            if self.funding_offset_ms >= self.funding_interval_ms:
                raise InvalidConfigError(
                    f"funding_offset_ms={self.funding_offset_ms} must be < "
                    f"funding_interval_ms={self.funding_interval_ms}")
            if self.settlement_window_ms is not None:
                raise InvalidConfigError(f"perpetual {self.symbol} has no settlement_window_ms")
        else:
            _check_int("expiry_ms", self.expiry_ms, 0)
            if self.funding_interval_ms is not None:
                raise InvalidConfigError(
                    f"dated future {self.symbol} must have funding_interval_ms=None")
            if self.settlement_window_ms is not None:
                _check_int("settlement_window_ms", self.settlement_window_ms, 1)

        tn, td = tick.as_integer_ratio()
        put(self, "_tick_num", tn)
        put(self, "_tick_den", td)
        put(self, "_e8_per_tick", e8_num)
        put(self, "_max_price_ticks", max_ticks)
        put(self, "_inverse", self.contract_type is ContractType.INVERSE)
        if self._inverse:
            # per-contract value at `ticks` = |m| * td / (ticks * tn)
            put(self, "_value_num", -self.multiplier * td)
            put(self, "_value_den", tn)
            worst = self.unit_value(1)
        else:
            num, den = self.multiplier * tn, td
            g = gcd(num, den)
            put(self, "_value_num", num // g)
            put(self, "_value_den", den // g)
            worst = self.unit_value(max_ticks)
        if worst * self.max_order_qty > INT64_MAX:
            raise InvalidConfigError(
                f"max_order_qty={self.max_order_qty} x {worst} per contract overflows int64 notional")

    # ---- properties ---------------------------------------------------------------------
    @property
    def is_perpetual(self) -> bool:
        return self.expiry_ms is None

    @property
    def is_inverse(self) -> bool:
        return self._inverse

    @property
    def price_scale(self) -> int:
        """Decimal places of the tick size (0.5 -> 1, 0.05 -> 2): the display precision."""
        return max(0, -self.tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]

    @property
    def e8_per_tick(self) -> int:
        return self._e8_per_tick

    @property
    def max_price_ticks(self) -> int:
        return self._max_price_ticks

    @property
    def funding_rate_cap(self) -> float:
        """|F| cap of §6.1: 75% x (initMargin - maintMargin); XBTUSD 0.375%."""
        return float(Decimal("0.75") * (_rate_value(self.init_margin) - _rate_value(self.maint_margin)))

    # ---- price and quantity conversions --------------------------------------------------
    def price_to_ticks(self, price: int | float | Decimal, name: str = "price") -> int:
        """Human price -> ticks; off-grid, NaN, inf or <= 0 raise InvalidPriceError, a price
        above ``max_price`` raises ArithmeticOverflowError naming the limit.

        Successful conversions of ints, floats and non-NaN Decimals are remembered (a client
        quotes the same few prices again and again), keyed by the price alone: only those
        three exact types are looked up (a bool or a str never is, and still raises), and two
        of them that compare equal are the same number, so the same ticks. (The order checks
        of perpex._front look a price up in this cache, by the same key, before they call
        here.)"""
        kind = type(price)
        cacheable = kind is int or kind is float or (kind is Decimal and not price.is_nan())  # type: ignore[union-attr]
        if cacheable:
            ticks = self._ticks.get(price)
            if ticks is not None:
                return ticks
        ticks = price_to_ticks(price, self.tick_size, name)
        if ticks > self._max_price_ticks:
            raise ArithmeticOverflowError(
                f"{name}={price} is above the maximum price {self.max_price} of {self.symbol}")
        if cacheable:
            if len(self._ticks) >= _PRICE_CACHE_SIZE:
                self._ticks.clear()  # bounded; a miss only costs a recomputation
            self._ticks[price] = ticks
        return ticks

    def ticks_to_price(self, ticks: int) -> Decimal:
        cache = self._prices
        price = cache.get(ticks) if type(ticks) is int else None
        if price is None:
            price = ticks_to_price(ticks, self.tick_size)
            if len(cache) >= _PRICE_CACHE_SIZE:
                cache.clear()
            cache[ticks] = price
        return price

    def cache_errors(self) -> list[str]:
        """Every cached conversion that a fresh computation disagrees with, described."""
        bad = [f"the cached ticks of price {p!r} in {self.symbol} are {t}"
               for p, t in self._ticks.items()
               if price_to_ticks(p, self.tick_size) != t]  # type: ignore[arg-type]
        bad += [f"the cached price of {t} ticks in {self.symbol} is {p}"
                for t, p in self._prices.items()
                if ticks_to_price(t, self.tick_size).as_tuple() != p.as_tuple()]
        fresh = {"maint": self._maint_rate, "init": self._init_rate}
        names = {"maint": "maintenance", "init": "initial"}
        bad += [f"the cached {names[kind]} margin rate of {self.symbol} at {steps} steps is {rate}"
                for (kind, steps), rate in self._rates.items() if fresh[kind](steps) != rate]
        return bad

    def __getstate__(self) -> dict[str, Any]:
        # the conversion caches are derived: snapshots carry the contract, not its recent prices
        return {**self.__dict__, "_prices": {}, "_ticks": {}, "_rates": {}}

    def check_qty(self, qty: int, name: str = "qty") -> int:
        """Validate an order quantity: int, > 0, a lot multiple, at most ``max_order_qty``."""
        if type(qty) is not int:
            raise TypeError(f"{name} must be an int, got {type(qty).__name__} {qty!r}")
        if qty <= 0:
            raise InvalidQuantityError(f"{name}={qty} must be > 0")
        if qty % self.lot_size:
            raise InvalidQuantityError(f"{name}={qty} is not a multiple of the lot size {self.lot_size}")
        if qty > self.max_order_qty:
            raise ArithmeticOverflowError(
                f"{name}={qty} is above max_order_qty={self.max_order_qty}: notional limit")
        return qty

    def ticks_to_e8(self, ticks: int) -> int:
        return ticks * self._e8_per_tick

    def e8_to_ticks_floor(self, e8: int) -> int:
        return div_floor(e8, self._e8_per_tick)

    def e8_to_ticks_ceil(self, e8: int) -> int:
        return div_ceil(e8, self._e8_per_tick)

    # ---- value, cost, PnL ----------------------------------------------------------------
    def unit_value(self, price_ticks: int) -> int:
        """Unsigned value of one contract at ``price_ticks`` in minor settle units (inverse:
        ``round(|m| / price)``, the per-contract satoshi rounding of §1.3)."""
        if price_ticks <= 0:
            raise InvalidPriceError(f"price_ticks={price_ticks} must be > 0")
        if self._inverse:
            return div_round_half_away(self._value_num, price_ticks * self._value_den)
        return div_round_half_away(price_ticks * self._value_num, self._value_den)

    def value_per_tick(self) -> Fraction:
        """The exact (unrounded) value of one linear or quanto contract per price tick, in
        minor settle units: ``value(q, p)`` is ``q * p`` times it, rounded once."""
        if self._inverse:
            raise InvalidInputError(f"{self.symbol} is inverse: its value is not linear in price")
        return Fraction(self._value_num, self._value_den)

    def value(self, qty: int, price_ticks: int) -> int:
        """Signed value of ``qty`` contracts at ``price_ticks`` (long inverse < 0, long linear > 0)."""
        if price_ticks <= 0:
            raise InvalidPriceError(f"price_ticks={price_ticks} must be > 0")
        if self._inverse:
            return -qty * div_round_half_away(self._value_num, price_ticks * self._value_den)
        if self._value_den == 1:
            return qty * price_ticks * self._value_num
        return div_round_half_away(qty * price_ticks * self._value_num, self._value_den)

    def exec_cost(self, qty: int, price_ticks: int) -> int:
        """BitMEX ``execCost`` of a fill of signed ``qty`` (buy > 0) at ``price_ticks``: computed
        once per fill; the buyer's cost moves by it and the seller's by its exact negative."""
        return self.value(qty, price_ticks)

    def mark_value(self, qty: int, mark_e8: int) -> int:
        """Signed value of ``qty`` contracts at an e8 price (mark or index), rounded like
        :meth:`value` so that a mark equal to the fill price gives zero unrealised PnL."""
        if mark_e8 <= 0:
            raise InvalidPriceError(f"mark_e8={mark_e8} must be > 0")
        if self._inverse:
            return qty * div_round_half_away(self.multiplier * E8, mark_e8)
        return div_round_half_away(qty * self.multiplier * mark_e8, E8)

    def pnl(self, qty: int, entry_cost: int, exit_price_ticks: int) -> int:
        """PnL of closing a position of signed ``qty`` with ``entry_cost`` at ``exit_price_ticks``."""
        return self.value(qty, exit_price_ticks) - entry_cost

    def unrealised_pnl(self, qty: int, cost: int, mark_e8: int) -> int:
        return self.mark_value(qty, mark_e8) - cost if qty else -cost

    def avg_entry_price(self, qty: int, cost: int) -> AvgEntry:
        """Average entry of a position (§1.3). Inverse: average satoshi price |cost|/|qty|,
        floored for longs and rounded (half away) for shorts, then price = |m| / that.
        Linear/quanto: price = cost / (qty x m). Prices are rounded half away to 4 dp."""
        if type(qty) is not int or qty == 0:
            raise InvalidQuantityError(f"qty={qty!r} must be a non-zero int")
        if (cost > 0) != ((qty > 0) != self.is_inverse) and cost != 0:
            raise InvalidInputError(f"cost={cost} has the wrong sign for qty={qty} on {self.symbol}")
        n = abs(qty)
        c = abs(cost)
        m = abs(self.multiplier)
        if self._inverse:
            unit = c // n if qty > 0 else div_round_half_away(c, n)
            if unit <= 0:
                raise InvalidInputError(f"cost={cost} is too small for qty={qty}")
            return AvgEntry(Decimal(f"{div_round_half_away(m * 10_000, unit)}E-4"), unit)
        unit = div_round_half_away(c, n)
        return AvgEntry(Decimal(f"{div_round_half_away(c * 10_000, n * m)}E-4"), unit)

    def exact_entry_price(self, qty: int, cost: int) -> Fraction:
        """Unrounded entry price implied by integer cost (used by the liquidation formulas)."""
        if qty == 0 or cost == 0:
            raise InvalidInputError(f"qty={qty} and cost={cost} must be non-zero")
        if self._inverse:
            return Fraction(self.multiplier * qty, cost)
        return Fraction(cost, qty * self.multiplier)

    # ---- fees ----------------------------------------------------------------------------
    def fee(self, exec_cost: int, rate: float) -> int:
        """Commission ``|exec_cost| x rate`` (§9.5), half away from zero; a maker rebate
        (rate < 0) is negative. Evidence: -0.00025 x 172,306,000 -> -43,077."""
        return apply_rate(abs(exec_cost), rate, Rounding.HALF_AWAY)

    # ---- risk limits (§2.2) --------------------------------------------------------------
    def risk_steps(self, gross_value: int) -> int:
        """Steps above the base risk limit needed for ``|gross_value|`` (minor units)."""
        return max(0, div_ceil(abs(gross_value) - self.risk_limit, self.risk_step))

    def maint_rate(self, steps: int = 0) -> float:
        """MM%(steps) = base MM x (1 + steps)."""
        rate = self._rates.get(("maint", steps)) if type(steps) is int else None
        if rate is None:
            self._check_steps(steps)
            rate = self._remember_rate("maint", steps, self._maint_rate(steps))
        return rate

    def init_rate(self, steps: int = 0) -> float:
        """IM%(steps) = base IM + steps x base MM."""
        rate = self._rates.get(("init", steps)) if type(steps) is int else None
        if rate is None:
            self._check_steps(steps)
            rate = self._remember_rate("init", steps, self._init_rate(steps))
        return rate

    def _maint_rate(self, steps: int) -> float:
        return float(_rate_value(self.maint_margin) * (1 + steps))

    def _init_rate(self, steps: int) -> float:
        return float(_rate_value(self.init_margin) + steps * _rate_value(self.maint_margin))

    def _remember_rate(self, kind: str, steps: int, rate: float) -> float:
        if len(self._rates) >= _PRICE_CACHE_SIZE:
            self._rates.clear()  # bounded; a miss only costs a recomputation
        self._rates[(kind, steps)] = rate
        return rate

    def max_leverage(self, steps: int = 0) -> float:
        """1 / IM%(steps): XBTUSD 100x at the base limit, 66.67x one step up."""
        self._check_steps(steps)
        return float(1 / (_rate_value(self.init_margin) + steps * _rate_value(self.maint_margin)))

    def risk_limit_for_steps(self, steps: int) -> int:
        self._check_steps(steps)
        return self.risk_limit + steps * self.risk_step

    def steps_for_risk_limit(self, risk_limit: int) -> int:
        """Inverse of :meth:`risk_limit_for_steps`; the limit must sit on the step grid."""
        if type(risk_limit) is not int:
            raise TypeError(f"risk_limit must be an int, got {type(risk_limit).__name__}")
        steps, rem = divmod(risk_limit - self.risk_limit, self.risk_step)
        if steps < 0 or rem:
            raise InvalidInputError(
                f"risk_limit={risk_limit} must be {self.risk_limit} + k x {self.risk_step}, k >= 0")
        return steps

    @staticmethod
    def _check_steps(steps: int) -> None:
        if type(steps) is not int:
            raise TypeError(f"steps must be an int, got {type(steps).__name__} {steps!r}")
        if steps < 0:
            raise InvalidInputError(f"steps={steps} must be >= 0")


# ---- tiered maintenance margin (OKEx §2.3) and adjustment factors (Huobi §2.4) ----------

@dataclass(frozen=True)
class Tier:
    """One tier: positions of ``min_contracts..max_contracts`` (inclusive) contracts."""

    number: int
    min_contracts: int
    max_contracts: int
    mmr: float
    max_leverage: float


@dataclass(frozen=True)
class TierTable:
    """A tiered MMR schedule: explicit tiers, then optionally a regular extension where each
    further tier adds ``extension_contracts`` contracts and ``extension_mmr_step`` to the MMR,
    up to ``extension_last_max`` contracts.

    Max leverage of extension tiers: the source says only "varies" and ends at 1x; perpex uses
    ``min(last explicit max leverage, floor(1 / MMR))``, which is non-increasing and ends at 1x.
    """

    tiers: tuple[Tier, ...]
    extension_contracts: int = 0
    extension_mmr_step: float = 0.0
    extension_last_max: int = 0

    def __post_init__(self) -> None:
        if not self.tiers:
            raise InvalidConfigError("tiers must not be empty")
        expected_min = 0
        for i, tier in enumerate(self.tiers, start=1):
            if tier.number != i or tier.min_contracts != expected_min or tier.max_contracts < tier.min_contracts:
                raise InvalidConfigError(f"tier {tier} must be number {i} starting at {expected_min}")
            if not 0 < tier.mmr < 1 or tier.max_leverage < 1:
                raise InvalidConfigError(f"tier {i}: mmr={tier.mmr} / max_leverage={tier.max_leverage} impossible")
            expected_min = tier.max_contracts + 1
        if self.extension_contracts < 0 or (self.extension_contracts and (
                self.extension_mmr_step <= 0 or self.extension_last_max <= self.tiers[-1].max_contracts)):
            raise InvalidConfigError("extension must add contracts, MMR and end above the last tier")

    @property
    def max_contracts(self) -> int:
        return self.extension_last_max if self.extension_contracts else self.tiers[-1].max_contracts

    def tier_for(self, contracts: int) -> Tier:
        """The tier of a position of ``|contracts|`` contracts; beyond the table raises."""
        if type(contracts) is not int:
            raise TypeError(f"contracts must be an int, got {type(contracts).__name__}")
        n = abs(contracts)
        for tier in self.tiers:
            if n <= tier.max_contracts:
                return tier
        if n > self.max_contracts:
            raise InvalidQuantityError(f"contracts={contracts} above the tier table maximum {self.max_contracts}")
        last = self.tiers[-1]
        k = (n - last.max_contracts - 1) // self.extension_contracts + 1
        mmr = float(_rate_value(last.mmr) + k * _rate_value(self.extension_mmr_step))
        lo = last.max_contracts + 1 + (k - 1) * self.extension_contracts
        return Tier(last.number + k, lo, lo + self.extension_contracts - 1, mmr,
                    float(min(last.max_leverage, max(1, math.floor(1 / mmr)))))

    def mmr(self, contracts: int) -> float:
        return self.tier_for(contracts).mmr

    def max_leverage(self, contracts: int) -> float:
        return self.tier_for(contracts).max_leverage


@dataclass(frozen=True)
class HuobiTier:
    """One Huobi tier: positions up to ``max_net_contracts`` net contracts (inclusive), with
    the adjustment factor for each allowed leverage (MECHANICS §2.4)."""

    max_net_contracts: int
    factors: Mapping[int, float]

    def __post_init__(self) -> None:
        if type(self.max_net_contracts) is not int or self.max_net_contracts < 1:
            raise InvalidConfigError(f"max_net_contracts={self.max_net_contracts!r} must be an int >= 1")
        if not self.factors:
            raise InvalidConfigError("factors must name at least one leverage")
        frozen = {}
        for lev, factor in sorted(self.factors.items()):
            if type(lev) is not int or lev < 1:
                raise InvalidConfigError(f"leverage={lev!r} in factors must be an int >= 1")
            if isinstance(factor, bool):
                raise TypeError(f"adjustment factor must be a float rate, got bool {factor!r}")
            num, den = exact_rate(factor, "adjustment factor")
            if not 0 < num < den:
                raise InvalidConfigError(f"adjustment factor={factor!r} at {lev}x must be within (0, 1)")
            frozen[lev] = factor
        object.__setattr__(self, "factors", MappingProxyType(frozen))

    def __hash__(self) -> int:
        # (the factors are a read-only mapping, which does not hash; an Instrument holding a
        # table of these must)
        return hash((self.max_net_contracts, tuple(self.factors.items())))


def huobi_table(tiers: Any, name: str = "huobi_tiers") -> tuple[HuobiTier, ...]:
    """``tiers`` as a checked Huobi table: ascending net-position limits, the same leverages in
    every tier, and no factor falling in a higher tier (a larger position would be safer)."""
    if isinstance(tiers, (str, bytes, Mapping)):
        raise InvalidConfigError(f"{name} must be a non-empty sequence of HuobiTier")
    try:
        table = tuple(tiers)
    except TypeError:
        raise InvalidConfigError(f"{name} must be a non-empty sequence of HuobiTier") from None
    if not table or not all(isinstance(t, HuobiTier) for t in table):
        raise InvalidConfigError(f"{name} must be a non-empty sequence of HuobiTier")
    for lower, upper in zip(table, table[1:]):
        if upper.max_net_contracts <= lower.max_net_contracts:
            raise InvalidConfigError(
                f"{name} limits must ascend: {upper.max_net_contracts} after {lower.max_net_contracts}")
        if set(upper.factors) != set(lower.factors):
            raise InvalidConfigError(f"every tier of {name} must list the same leverages")
        for lev in lower.factors:
            if upper.factors[lev] < lower.factors[lev]:
                raise InvalidConfigError(
                    f"adjustment factor at {lev}x falls from {lower.factors[lev]} to "
                    f"{upper.factors[lev]} in a higher tier: a larger position would be safer")
    return table
