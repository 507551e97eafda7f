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
"""

from __future__ import annotations

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
    round_half_even,
    to_e8,
)

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
    price_e8: int | None = None
    last_update_ms: int | None = None
    last_change_ms: int | None = None
    excluded: bool = False
    readmit_since_ms: int | None = None
    status: ConstituentStatus = field(default=ConstituentStatus.PENDING)


def _px(c: _Constituent) -> int:
    """The price of a constituent known to have one (the callers filter on it)."""
    assert c.price_e8 is not None
    return c.price_e8


def _median(values: list[int]) -> Fraction:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return Fraction(ordered[mid])
    return Fraction(ordered[mid - 1] + ordered[mid], 2)


def _deviates(price: int | Fraction, ref: Fraction, limit: Fraction) -> bool:
    """|price - ref| / ref >= limit, exactly."""
    return abs(price - ref) >= limit * ref


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
        self._constituents: dict[str, _Constituent] = {}
        for name, weight in weights.items():
            if not isinstance(name, str) or not name:
                raise InvalidConfigError(f"constituent name={name!r} must be a non-empty str")
            self._constituents[name] = _Constituent(
                name, config_fraction(weight, f"weight[{name!r}]"))
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
        return c.weight / sum(x.weight for x in active)

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

    def _hold(self, t: int, active: list[_Constituent]) -> IndexPrint:
        prev = self._last.price_e8 if self._last is not None else None
        return IndexPrint(t, prev, True, tuple(c.name for c in active))

    def _evaluate_bitmex(self, t: int) -> IndexPrint:
        cfg = self._config
        available: list[_Constituent] = []
        for c in self._constituents.values():
            if c.price_e8 is None:
                c.status = ConstituentStatus.PENDING
            elif c.last_change_ms is not None and t - c.last_change_ms >= cfg.stale_ms:
                c.status = ConstituentStatus.STALE        # rule 2
                c.readmit_since_ms = None
            else:
                available.append(c)
        if len(available) >= 3:                           # rule 3a
            median = _median([_px(c) for c in available])
            for c in available:
                if not c.excluded and _deviates(_px(c), median, cfg.exclude_deviation):
                    c.excluded = True
                    c.readmit_since_ms = None
        active = [c for c in available if not c.excluded]
        self._readmit(t, available, active)
        active = [c for c in available if not c.excluded]
        for c in available:
            c.status = ConstituentStatus.EXCLUDED if c.excluded else ConstituentStatus.ACTIVE
        names = tuple(c.name for c in active)
        prev = self._last.price_e8 if self._last is not None else None
        if not active:
            return self._hold(t, active)
        if len(active) == 2:                              # rule 3b
            median = _median([_px(c) for c in active])
            if any(_deviates(_px(c), median, cfg.pair_deviation) for c in active):
                return self._hold(t, active)
        if len(active) == 1 and prev is not None:         # rule 3c
            if _deviates(_px(active[0]), Fraction(prev), cfg.single_deviation):
                return self._hold(t, active)
        total = sum((c.weight for c in active), Fraction(0))
        value = sum((c.weight * _px(c) for c in active), Fraction(0)) / total
        return IndexPrint(t, round_half_even(value), False, names)

    def _readmit(self, t: int, available: list[_Constituent],
                 active: list[_Constituent]) -> None:
        """Rule 4: the re-admission clock of each excluded constituent."""
        cfg = self._config
        if len(active) >= 2:
            ref: Fraction | None = _median([_px(c) for c in active])
            limit = cfg.readmit_deviation
        else:
            prev = self._last.price_e8 if self._last is not None else None
            ref = Fraction(prev) if prev is not None else None
            limit = cfg.readmit_single_deviation
        for c in available:
            if not c.excluded:
                continue
            if ref is None or _deviates(_px(c), ref, limit):
                c.readmit_since_ms = None
                continue
            if c.readmit_since_ms is None:
                c.readmit_since_ms = t
            if t - c.readmit_since_ms >= cfg.readmit_ms:
                c.excluded = False
                c.readmit_since_ms = None

    def _evaluate_okex(self, t: int) -> IndexPrint:
        cfg = self._config
        valid: list[_Constituent] = []
        for c in self._constituents.values():
            if c.price_e8 is None:
                c.status = ConstituentStatus.PENDING
            elif c.last_update_ms is None or t - c.last_update_ms >= cfg.okex_stale_ms:
                c.status = ConstituentStatus.STALE
            else:
                c.status = ConstituentStatus.ACTIVE
                valid.append(c)
        if not valid:
            return self._hold(t, valid)
        prices: list[Fraction] = [Fraction(_px(c)) for c in valid]
        if len(valid) >= 3:
            median = _median([_px(c) for c in valid])
            lo = median * (1 - cfg.okex_clamp)
            hi = median * (1 + cfg.okex_clamp)
            prices = [min(max(p, lo), hi) for p in prices]
        value = sum(prices, Fraction(0)) / len(prices)
        return IndexPrint(t, round_half_even(value), False, tuple(c.name for c in valid))
