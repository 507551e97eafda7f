"""Composite index price from constituent exchanges' last prices (MECHANICS §5, Decision 9).

The index is published on a fixed grid of simulated time (every 5 s by default). Each print
is computed from the quotes known at that instant, so a caller may feed quotes at any time:
``update`` first publishes every grid instant strictly before the new quotes' timestamp.

BitMEX mode (default) applies the Index Protection Rules:

1. an unresponsive constituent's previous price is reused (a quote stays until replaced);
2. a constituent whose price has not changed for ``stale_ms`` is removed until it changes;
3a. with three or more available constituents, one at >= 25% from their median is excluded;
3b. with exactly two in the calculation, a deviation >= 12.5% from their median holds the
    last index until the deviation is back under 12.5%;
3c. with one, a deviation >= 25% from the last index holds the last index;
4. an excluded constituent is re-admitted after ``readmit_ms`` continuously within 2% of the
   median of the remaining actives (4a), or within 25% of the index when one or none remain
   (4b).

Weights are renormalised proportionally over the constituents in the calculation.
OKEx mode: sources not updated for ``okex_stale_ms`` are invalid; with three or more valid
sources each price is clamped to [0.97, 1.03] x median and averaged with equal weights; two
are averaged; one is used directly.

Invariant: the index never changes between grid instants, and a failed call changes nothing.

Ratios are exact Fractions in the config and the state, but an evaluation is integer arithmetic
alone: a median is carried doubled (an even count's may end in a half), a deviation test is
cross-multiplied by the limit's denominator, and the weights are integer numerators over one
common denominator fixed at construction. Every print and every exclusion is therefore exactly
what the rational formulas give, without building a Fraction per comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from typing import Any, Mapping

from perpex.errors import InvalidConfigError, UnknownSymbolError
from perpex.pricing._units import (
    Number,
    check_duration,
    check_monotonic,
    check_ts,
    config_fraction,
    fraction_state,
    to_e8,
)
from perpex.rounding import Rounding, div_round

MINUTE_MS = 60_000

METHOD_BITMEX = "bitmex"
METHOD_OKEX = "okex"


@dataclass(frozen=True)
class IndexConfig:
    """Index parameters; the defaults are BitMEX's published rules.

    Ratios accept any number (a float is read as the decimal it prints as) and are stored as
    exact Fractions.
    """

    method: str = METHOD_BITMEX
    publish_interval_ms: int = 5_000
    stale_ms: int = 15 * MINUTE_MS
    exclude_deviation: Fraction = Fraction(1, 4)
    pair_deviation: Fraction = Fraction(1, 8)
    single_deviation: Fraction = Fraction(1, 4)
    readmit_ms: int = 15 * MINUTE_MS
    readmit_deviation: Fraction = Fraction(1, 50)
    readmit_single_deviation: Fraction = Fraction(1, 4)
    okex_clamp: Fraction = Fraction(3, 100)
    okex_stale_ms: int = 30 * MINUTE_MS

    def __post_init__(self) -> None:
        if self.method not in (METHOD_BITMEX, METHOD_OKEX):
            raise InvalidConfigError(f"method={self.method!r} must be one of "
                                     f"{METHOD_BITMEX!r}, {METHOD_OKEX!r}")
        for name in ("publish_interval_ms", "stale_ms", "readmit_ms", "okex_stale_ms"):
            check_duration(getattr(self, name), name)
        for name in ("exclude_deviation", "pair_deviation", "single_deviation",
                     "readmit_deviation", "readmit_single_deviation", "okex_clamp"):
            frac = config_fraction(getattr(self, name), name, high=Fraction(1))
            object.__setattr__(self, name, frac)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = fraction_state(value) if isinstance(value, Fraction) else value
        return out


class ConstituentStatus(str, Enum):
    """Where a constituent stands at the last print."""

    PENDING = "pending"      # no quote received yet
    ACTIVE = "active"        # in the calculation
    EXCLUDED = "excluded"    # rule 3a; waiting for re-admission (rule 4)
    STALE = "stale"          # rule 2 (BitMEX) or not updated recently (OKEx)


@dataclass(frozen=True)
class IndexPrint:
    """One published index value. ``price_e8`` is None only before any index exists."""

    ts_ms: int
    price_e8: int | None
    held: bool
    active: tuple[str, ...]


@dataclass
class _Constituent:
    name: str
    weight: Fraction
    # the weight times the index's common denominator (then over the numerators' gcd): only
    # ratios of weights enter a print, so integers in the same proportion give the same value
    scaled_weight: int
    price_e8: int | None = None
    last_update_ms: int | None = None
    last_change_ms: int | None = None
    excluded: bool = False
    readmit_since_ms: int | None = None
    status: ConstituentStatus = field(default=ConstituentStatus.PENDING)


_Priced = tuple[_Constituent, int]


def _twice_median(values: list[int]) -> int:
    """Twice the median: an even count's median may end in a half; its double is an int."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return 2 * ordered[mid]
    return ordered[mid - 1] + ordered[mid]


def _deviates(price: int, twice_ref: int, limit: Fraction) -> bool:
    """|price - ref| / ref >= limit for ref = twice_ref / 2 > 0, exactly: both sides of
    |price - ref| >= limit x ref multiplied by 2 x the limit's denominator."""
    return abs(2 * price - twice_ref) * limit.denominator >= limit.numerator * twice_ref


def _scaled_weights(weights: list[Fraction]) -> list[int]:
    """Positive integers in the proportions of ``weights``."""
    common = math.lcm(*(w.denominator for w in weights))
    scaled = [w.numerator * (common // w.denominator) for w in weights]
    divisor = math.gcd(*scaled)
    return [w // divisor for w in scaled]


class Index:
    """A composite index with per-constituent protection state.

    ``weights`` maps constituent names to positive weights (any scale; they are used as
    exact ratios). Constituent order is the mapping's order and is part of the state.
    """

    def __init__(self, weights: Mapping[str, Number], config: IndexConfig | None = None,
                 *, start_ms: int = 0) -> None:
        self._config = config if config is not None else IndexConfig()
        if not isinstance(weights, Mapping) or not weights:
            raise InvalidConfigError(f"weights={weights!r} must be a non-empty mapping")
        exact: dict[str, Fraction] = {}
        for name, weight in weights.items():
            if not isinstance(name, str) or not name:
                raise InvalidConfigError(f"constituent name={name!r} must be a non-empty str")
            exact[name] = config_fraction(weight, f"weight[{name!r}]")
        scaled = _scaled_weights(list(exact.values()))
        self._constituents: dict[str, _Constituent] = {
            name: _Constituent(name, weight, n)
            for (name, weight), n in zip(exact.items(), scaled)}
        start_ms = check_ts(start_ms, "start_ms")
        interval = self._config.publish_interval_ms
        # the first print is the first grid instant at or after the start
        self._next_print_ms = -(-start_ms // interval) * interval
        self._last_ts: int | None = None
        self._last: IndexPrint | None = None

    # ------------------------------------------------------------------ queries
    @property
    def config(self) -> IndexConfig:
        return self._config

    @property
    def price_e8(self) -> int | None:
        """The last published index, or None before the first one."""
        return self._last.price_e8 if self._last is not None else None

    @property
    def last_print(self) -> IndexPrint | None:
        return self._last

    @property
    def next_print_ms(self) -> int:
        return self._next_print_ms

    @property
    def constituents(self) -> tuple[str, ...]:
        return tuple(self._constituents)

    def status(self, name: str) -> dict[str, Any]:
        """Status of one constituent as of the last print (plus quotes received since)."""
        c = self._get(name)
        return {
            "status": c.status.value, "price_e8": c.price_e8, "weight": c.weight,
            "effective_weight": self._effective_weight(c),
            "last_update_ms": c.last_update_ms, "last_change_ms": c.last_change_ms,
            "readmit_since_ms": c.readmit_since_ms,
        }

    def statuses(self) -> dict[str, str]:
        return {c.name: c.status.value for c in self._constituents.values()}

    # ----------------------------------------------------------------- commands
    def update(self, ts_ms: int, prices: Mapping[str, Number]) -> list[IndexPrint]:
        """Records constituent quotes at ``ts_ms``.

        Every print due strictly before ``ts_ms`` is published first (with the older
        quotes) and returned. Everything is validated before anything changes.
        """
        ts_ms = check_ts(ts_ms)
        check_monotonic(ts_ms, self._last_ts)
        if not isinstance(prices, Mapping):
            raise UnknownSymbolError(f"prices={prices!r} must be a mapping name -> price")
        converted: list[tuple[_Constituent, int]] = []
        for name, value in prices.items():
            c = self._get(name)
            converted.append((c, to_e8(value, f"price[{name!r}]")))
        prints = self._publish_through(ts_ms - 1)
        for c, price in converted:
            if price != c.price_e8:
                c.last_change_ms = ts_ms
            c.price_e8 = price
            c.last_update_ms = ts_ms
        self._last_ts = ts_ms
        return prints

    def advance(self, ts_ms: int) -> list[IndexPrint]:
        """Publishes every print due at or before ``ts_ms`` and returns them in time order."""
        ts_ms = check_ts(ts_ms)
        check_monotonic(ts_ms, self._last_ts)
        self._last_ts = ts_ms
        return self._publish_through(ts_ms)

    # ------------------------------------------------------------------ state
    def export_state(self) -> dict[str, Any]:
        """Plain, deterministic structure of everything that affects future prints."""
        last = self._last
        return {
            "config": self._config.as_dict(),
            "constituents": [
                {"name": c.name, "weight": fraction_state(c.weight), "price_e8": c.price_e8,
                 "last_update_ms": c.last_update_ms, "last_change_ms": c.last_change_ms,
                 "excluded": c.excluded, "readmit_since_ms": c.readmit_since_ms,
                 "status": c.status.value}
                for c in self._constituents.values()
            ],
            "next_print_ms": self._next_print_ms,
            "last_ts": self._last_ts,
            "last_print": None if last is None else
            {"ts_ms": last.ts_ms, "price_e8": last.price_e8, "held": last.held,
             "active": list(last.active)},
        }

    state = export_state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Index:
        """Rebuilds an index from ``export_state()``; the result exports the same state."""
        cfg: dict[str, Any] = {k: (Fraction(*v) if isinstance(v, list) else v)
               for k, v in state["config"].items()}
        weights = {c["name"]: Fraction(*c["weight"]) for c in state["constituents"]}
        index = cls(weights, IndexConfig(**cfg))
        for c in state["constituents"]:
            target = index._constituents[c["name"]]
            target.price_e8 = c["price_e8"]
            target.last_update_ms = c["last_update_ms"]
            target.last_change_ms = c["last_change_ms"]
            target.excluded = c["excluded"]
            target.readmit_since_ms = c["readmit_since_ms"]
            target.status = ConstituentStatus(c["status"])
        index._next_print_ms = state["next_print_ms"]
        index._last_ts = state["last_ts"]
        last = state["last_print"]
        if last is not None:
            index._last = IndexPrint(last["ts_ms"], last["price_e8"], last["held"],
                                     tuple(last["active"]))
        return index

    # -------------------------------------------------------------- internals
    def _get(self, name: object) -> _Constituent:
        found = self._constituents.get(name) if isinstance(name, str) else None
        if found is None:
            raise UnknownSymbolError(f"constituent={name!r} is not in the index; known: "
                                     f"{', '.join(self._constituents)}")
        return found

    def _effective_weight(self, c: _Constituent) -> Fraction:
        if c.status is not ConstituentStatus.ACTIVE:
            return Fraction(0)
        active = [x for x in self._constituents.values() if x.status is ConstituentStatus.ACTIVE]
        if self._config.method == METHOD_OKEX:
            return Fraction(1, len(active))
        return Fraction(c.scaled_weight, sum(x.scaled_weight for x in active))

    def _publish_through(self, ts_ms: int) -> list[IndexPrint]:
        prints: list[IndexPrint] = []
        interval = self._config.publish_interval_ms
        while self._next_print_ms <= ts_ms:
            t = self._next_print_ms
            if self._config.method == METHOD_OKEX:
                self._last = self._evaluate_okex(t)
            else:
                self._last = self._evaluate_bitmex(t)
            prints.append(self._last)
            self._next_print_ms = t + interval
        return prints

    def _hold(self, t: int, active: list[_Priced]) -> IndexPrint:
        prev = self.price_e8
        return IndexPrint(t, prev, True, tuple(c.name for c, _ in active))

    def _evaluate_bitmex(self, t: int) -> IndexPrint:
        stale_ms = self._config.stale_ms
        available: list[_Priced] = []
        for c in self._constituents.values():
            price = c.price_e8
            if price is None:
                c.status = ConstituentStatus.PENDING
            elif c.last_change_ms is not None and t - c.last_change_ms >= stale_ms:
                c.status = ConstituentStatus.STALE        # rule 2
                c.readmit_since_ms = None
            else:
                available.append((c, price))
        if len(available) >= 3:                           # rule 3a
            median2 = _twice_median([p for _, p in available])
            for c, p in available:
                if not c.excluded and _deviates(p, median2, self._config.exclude_deviation):
                    c.excluded = True
                    c.readmit_since_ms = None
        self._readmit(t, available, [cp for cp in available if not cp[0].excluded])
        active = [cp for cp in available if not cp[0].excluded]
        for c, _ in available:
            c.status = ConstituentStatus.EXCLUDED if c.excluded else ConstituentStatus.ACTIVE
        prev = self.price_e8
        if not active:
            return self._hold(t, active)
        if len(active) == 2:                              # rule 3b
            median2 = _twice_median([p for _, p in active])
            if any(_deviates(p, median2, self._config.pair_deviation) for _, p in active):
                return self._hold(t, active)
        if len(active) == 1 and prev is not None:         # rule 3c
            if _deviates(active[0][1], 2 * prev, self._config.single_deviation):
                return self._hold(t, active)
        total = 0
        weighted = 0
        for c, p in active:
            total += c.scaled_weight
            weighted += c.scaled_weight * p
        return IndexPrint(t, div_round(weighted, total, Rounding.HALF_EVEN), False,
                          tuple(c.name for c, _ in active))

    def _readmit(self, t: int, available: list[_Priced], active: list[_Priced]) -> None:
        """Rule 4: the re-admission clock of each excluded constituent."""
        if len(active) >= 2:
            ref2: int | None = _twice_median([p for _, p in active])
            limit = self._config.readmit_deviation
        else:
            prev = self.price_e8
            ref2 = 2 * prev if prev is not None else None
            limit = self._config.readmit_single_deviation
        readmit_ms = self._config.readmit_ms
        for c, p in available:
            if not c.excluded:
                continue
            if ref2 is None or _deviates(p, ref2, limit):
                c.readmit_since_ms = None
                continue
            if c.readmit_since_ms is None:
                c.readmit_since_ms = t
            if t - c.readmit_since_ms >= readmit_ms:
                c.excluded = False
                c.readmit_since_ms = None

    def _evaluate_okex(self, t: int) -> IndexPrint:
        stale_ms = self._config.okex_stale_ms
        valid: list[_Priced] = []
        for c in self._constituents.values():
            price = c.price_e8
            if price is None:
                c.status = ConstituentStatus.PENDING
            elif c.last_update_ms is None or t - c.last_update_ms >= stale_ms:
                c.status = ConstituentStatus.STALE
            else:
                c.status = ConstituentStatus.ACTIVE
                valid.append((c, price))
        if not valid:
            return self._hold(t, valid)
        names = tuple(c.name for c, _ in valid)
        prices = [p for _, p in valid]
        if len(prices) < 3:  # their plain mean
            unit, total = 1, sum(prices)
        else:
            # in units of 1 / (2 x the clamp's denominator) the band [0.97, 1.03] x median has
            # integer ends: median x (1 -+ num/den) = twice_median x (den -+ num) / (2 den)
            clamp = self._config.okex_clamp
            num, den = clamp.numerator, clamp.denominator
            median2 = _twice_median(prices)
            lo, hi, unit = median2 * (den - num), median2 * (den + num), 2 * den
            total = sum(min(max(unit * p, lo), hi) for p in prices)
        return IndexPrint(t, div_round(total, unit * len(prices), Rounding.HALF_EVEN),
                          False, names)
