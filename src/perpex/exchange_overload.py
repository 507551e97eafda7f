"""Overload protection inside :class:`perpex.exchange.Exchange` (MECHANICS §10, Decision 12).

Every check here is a pre-trade reject: it runs before an order reaches the book and refuses
it with a text, changing nothing else. All of them are off in the default configuration, as
BitMEX has none:

- the circuit breaker (one per contract, :class:`perpex.risk.bands.CircuitBreaker`) sees every
  mark change and, once tripped, refuses new orders (never cancels) until its halt ends;
- OKEx and Huobi tier tables end, so an order that could take a position past the last tier is
  refused (a position whose tier counts other expiries counts their worst case too, and an
  OKEx switch to cross that would join a group past its cap is refused), and with OKEx tier
  leverage an isolated position may neither grow into a tier nor have its leverage raised
  above that tier's cap;
- price bands (OKEx or Huobi formulas around the index and the 10-minute average basis)
  refuse limit orders outside them;
- position limits cap a position's value by its leverage.

Load shedding on the batch path reads :attr:`OverloadConfig.queue_depth` in
:mod:`perpex.exchange_batch`.

Choices where the documents are silent:
- a contract's band starts with its first index print (its opening ten minutes count from
  there); the basis is observed at every index print as the last trade price minus the index,
  a minute's sample is (open + close) / 2 of its observations, and the average is over the
  last ten finished minutes (0 before the first trade);
- a market order's position limit is valued at the mark rounded up to a tick; a cross position
  counts as 1x;
- the expiries of one underlying (MECHANICS §2.3, §2.4: the tier counts them together) are the
  contracts with the same underlying, quote and settle currencies, kind and multiplier, so that
  their contract counts add up. OKEx counts them for a cross position, over the account's
  cross positions in them (an isolated position is tiered alone); Huobi counts them for every
  position (the net position per expiry, summed: one-way positions are net already). A group
  capped by several tables is capped by the smallest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from perpex import _native
from perpex.accounts.position import Position
from perpex.errors import InvalidConfigError
from perpex.exchange_core import ExchangeCore
from perpex.instruments import Instrument
from perpex.orders import IN_LIQUIDATION, SIDE_NAMES, OrderRecord
from perpex.risk.bands import (
    HUOBI_PARAMS, OKEX_PARAMS, BandClock, CircuitBreaker, PositionLimitTable, band_reject,
    huobi_band, okex_band)
from perpex.risk.liquidation import _BITMEX, _HUOBI, _OKEX, LiquidationConfig, huobi_tiers, okex_tiers

HALTED_TEXT = "Trading is halted by the circuit breaker"
TIER_CAP_TEXT = "Position would exceed the last tier"
TIER_LEVERAGE_TEXT = "Leverage above the tier's maximum"


def _same_tier(a: Instrument, b: Instrument) -> bool:
    """Expiries of one underlying: their contract counts add up into one tier."""
    return (a.underlying, a.quote_currency, a.settle_currency, a.contract_type, a.multiplier) == \
        (b.underlying, b.quote_currency, b.settle_currency, b.contract_type, b.multiplier)


# the band formula and its parameters per OverloadConfig.price_bands
_BAND_RULES = {"OKEx": (okex_band, OKEX_PARAMS), "Huobi": (huobi_band, HUOBI_PARAMS)}


@dataclass(frozen=True)
class OverloadConfig:
    """Overload protection (MECHANICS §10), all off by default (BitMEX has none of these).

    ``price_bands``: "OKEx" or "Huobi" dynamic price limits around the index and the
    average basis (see the module docstring); ``position_limits``: a cap on position value by leverage;
    ``circuit_breaker``: ``(max_move, window_ms, halt_ms)``, one breaker per contract that
    halts new orders (not cancels) after the mark moves too far; ``queue_depth``: load
    shedding on the batch path, :meth:`~perpex.exchange.Exchange.submit_orders` queues at most
    this many rows and rejects the new orders beyond it (cancels are exempt)."""

    price_bands: str | None = None
    position_limits: PositionLimitTable | None = None
    circuit_breaker: tuple[float, int, int] | None = None
    queue_depth: int | None = None

    def __post_init__(self) -> None:
        if self.price_bands not in (None, "OKEx", "Huobi"):
            raise InvalidConfigError(f"price_bands={self.price_bands!r} must be None, 'OKEx' or 'Huobi'")
        if self.position_limits is not None and not isinstance(self.position_limits, PositionLimitTable):
            raise InvalidConfigError("position_limits must be a PositionLimitTable")
        if self.circuit_breaker is not None:
            CircuitBreaker(*self.circuit_breaker)  # validates
        if self.queue_depth is not None and (type(self.queue_depth) is not int or self.queue_depth < 1):
            raise InvalidConfigError(f"queue_depth={self.queue_depth!r} must be None or an int >= 1")


class OverloadMixin(ExchangeCore):
    """Circuit breakers, tier caps, price bands and position limits."""

    # the tier tables are the liquidation engine's (perpex.exchange_risk sets it)
    _risk_cfg: LiquidationConfig

    def _init_overload(self, overload: OverloadConfig | None) -> None:
        if overload is not None and not isinstance(overload, OverloadConfig):
            raise InvalidConfigError("overload must be an OverloadConfig")
        self._overload = overload or OverloadConfig()
        self._breakers = {s: CircuitBreaker(*self._overload.circuit_breaker)
                          for s in self._symbols} if self._overload.circuit_breaker else {}
        self._band_clocks = {s: BandClock() for s in self._symbols} \
            if self._overload.price_bands else {}
        # contract -> the other expiries of its underlying, in listing order (not state)
        self._tier_groups: dict[str, tuple[str, ...]] = {
            s: tuple(o for o in self._symbols if o != s and _same_tier(self._inst[o], self._inst[s]))
            for s in self._symbols}
        # the engine loop skips _overload_reject when it has nothing to check (the default)
        self._checks_off = not (self._breakers or self._band_clocks
                                or self._overload.position_limits is not None
                                or self._risk_cfg.mode is not _BITMEX)

    @property
    def overload_config(self) -> OverloadConfig:
        """Price bands, position limits and circuit breaker in force."""
        return self._overload

    def _breaker_state(self) -> list[tuple[str, dict[str, object]]]:
        return sorted((s, b.export_state()) for s, b in self._breakers.items())

    def _band_state(self) -> dict[str, Any]:
        """The band clocks' state, under "bands" only when bands are on (so that every other
        configuration hashes as before)."""
        if not self._band_clocks:
            return {}
        return {"bands": sorted((s, c.export_state()) for s, c in self._band_clocks.items())}

    def _index_print(self, inst: Instrument, t: int, index_e8: int) -> None:
        clock = self._band_clocks.get(inst.symbol)
        if clock is not None:
            last = self._books[inst.symbol].last_price(_native.FEED_LAST)
            clock.observe(t, index_e8, inst.ticks_to_e8(last) if last else None)

    # ================================================================ pre-trade rejects
    def _overload_reject(self, inst: Instrument, rec: OrderRecord) -> str:
        if self._liq_holds and (rec.account, inst.symbol) in self._liq_holds:
            return IN_LIQUIDATION  # frozen while its liquidation order rests (OKEx cycle)
        br = self._breakers.get(inst.symbol)
        if br is not None and br.is_halted(self._ts):
            return HALTED_TEXT
        text = self._tier_cap_reject(inst, rec)
        if text:
            return text
        ov = self._overload
        clock = self._band_clocks.get(inst.symbol)  # present when bands are on
        if clock is not None and rec.price > 0 and not rec.conditional:
            index = self._index.get(inst.symbol)  # type: ignore[attr-defined]
            index_e8 = index.price_e8 if index is not None else None
            if index_e8:
                fn, params = _BAND_RULES[ov.price_bands]  # type: ignore[index]
                band = clock.band(fn, params, index_e8, self._ts)
                if band is not None:
                    outside = band_reject(SIDE_NAMES[rec.side], inst.ticks_to_e8(rec.price), band)
                    if outside:
                        return outside
        if ov.position_limits is not None and not rec.reduce_only:
            pos = self._positions.get((rec.account, inst.symbol))
            qty = (pos.qty if pos else 0) + rec.sign * rec.leaves_qty
            price = rec.price or (inst.e8_to_ticks_ceil(self._marks[inst.symbol])
                                  if inst.symbol in self._marks else 0)
            lev = pos.leverage if pos and pos.leverage else 1
            if qty and price:
                limit_text = ov.position_limits.reject(max(1, int(lev)), inst.value(qty, price))
                if limit_text:
                    return limit_text
        return ""

    def _tier_cap_reject(self, inst: Instrument, rec: OrderRecord) -> str:
        """OKEx and Huobi size the requirement by a tier table that ends: an order that could
        take the position (with the account's other orders on that side, and the worst case of
        the other expiries its tier counts) past its last tier is refused, as the exchanges cap
        position size, instead of halting the engine later."""
        cfg = self._risk_cfg
        if cfg.mode is _BITMEX or rec.reduce_only:
            return ""
        a, sym = rec.account, inst.symbol
        pos = self._positions.get((a, sym))
        worst = self._worst_contracts(a, sym, rec.sign, rec.leaves_qty)
        cap = self._group_cap(inst, worst, a, pos is None or pos.leverage == 0)
        if cap:
            return f"{TIER_CAP_TEXT} of {cap} contracts"
        if pos is not None and cfg.mode is _OKEX and cfg.tier_leverage:
            return self._tier_leverage_text(inst, pos.leverage, worst)
        return ""

    def _tier_cap(self, inst: Instrument) -> int:
        cfg = self._risk_cfg
        return okex_tiers(inst, cfg).max_contracts if cfg.mode is _OKEX \
            else huobi_tiers(inst, cfg)[-1].max_net_contracts

    def _counts_with(self, cross: bool) -> bool:
        """Whether a position counts the other expiries of its underlying into its tier."""
        mode = self._risk_cfg.mode
        return mode is _HUOBI or (mode is _OKEX and cross)

    def _tier_siblings(self, a: int, sym: str, cross: bool) -> Iterator[tuple[str, Position | None]]:
        """The other expiries of ``sym``'s underlying whose contracts count into the tier of the
        account's position there (``cross``: that position is cross margined), with the
        account's position in each (None without one: it would open cross)."""
        if not self._counts_with(cross):
            return
        huobi = self._risk_cfg.mode is _HUOBI
        for s in self._tier_groups[sym]:
            p = self._positions.get((a, s))
            if huobi or p is None or p.leverage == 0:
                yield s, p

    def _tier_others(self, a: int, sym: str, cross: bool) -> int:
        """Contracts the account holds in the other expiries that count into the tier of its
        position in ``sym``."""
        return sum(abs(p.qty) for _, p in self._tier_siblings(a, sym, cross) if p is not None)

    def _group_cap(self, inst: Instrument, worst: int, a: int, cross: bool) -> int:
        """The cap that ``worst`` contracts in ``inst``, with the worst case of the other
        expiries they count with, would exceed; 0 when within every table involved."""
        cap = self._tier_cap(inst)
        total = worst
        for s, _ in self._tier_siblings(a, inst.symbol, cross):
            w = self._worst_either(a, s)
            if w:
                total += w
                cap = min(cap, self._tier_cap(self._inst[s]))
        return cap if total > cap else 0

    def _worst_contracts(self, a: int, sym: str, sign: int, extra: int = 0) -> int:
        """The size of the position if every resting order of the account on the ``sign``
        side filled, and ``extra`` contracts more."""
        pos = self._positions.get((a, sym))
        open_side = sum(o.leaves_qty for o in self._resting(a, sym) if o.sign == sign)
        return abs((pos.qty if pos else 0) + sign * (open_side + extra))

    def _worst_either(self, a: int, sym: str) -> int:
        """The larger :meth:`_worst_contracts` of the two sides, in one pass over the orders."""
        pos = self._positions.get((a, sym))
        qty, buys, sells = (pos.qty if pos else 0), 0, 0
        for o in self._resting(a, sym):
            if o.sign > 0:
                buys += o.leaves_qty
            else:
                sells += o.leaves_qty
        return max(abs(qty + buys), abs(qty - sells))

    def _tier_leverage_text(self, inst: Instrument, leverage: float, contracts: int) -> str:
        """OKEx: each tier caps the leverage of a position of its size, so an isolated
        position may not grow (nor its leverage be raised) into a tier whose cap is below its
        leverage. Cross positions are margined at the contract's initial rate."""
        if not leverage:
            return ""
        tier = okex_tiers(inst, self._risk_cfg).tier_for(contracts)
        if leverage <= tier.max_leverage:
            return ""
        return (f"{TIER_LEVERAGE_TEXT}: {leverage:g}x at {contracts} contracts, "
                f"tier {tier.number} allows {tier.max_leverage:g}x")

    def _leverage_reject(self, inst: Instrument, a: int, leverage: float) -> str:
        cfg = self._risk_cfg
        if cfg.mode is not _OKEX or (leverage and not cfg.tier_leverage):
            return ""
        worst = self._worst_either(a, inst.symbol)
        if not leverage:
            # to cross: the position joins the tier of the account's other cross expiries
            cap = self._group_cap(inst, worst, a, True) if worst else 0
            return f"{TIER_CAP_TEXT} of {cap} contracts" if cap else ""
        table = okex_tiers(inst, cfg)
        return self._tier_leverage_text(inst, leverage, min(worst, table.max_contracts))

    # ================================================================ the circuit breaker
    def _breaker_update(self, inst: Instrument, mark_e8: int) -> None:
        br = self._breakers.get(inst.symbol)
        if br is not None:
            br.update(self._ts, mark_e8)
