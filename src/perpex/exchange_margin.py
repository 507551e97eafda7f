"""Pre-trade margin inside :class:`perpex.exchange.Exchange`: order margin, position margin
and the available balance (MECHANICS §1.2, §2.1), and the order-margin reject.

Every new order needs its account's order margin twice (without and with the order), so the
engine keeps an index of the resting orders that carry margin: per (account, contract) their
open contracts by price on each side (:class:`OpenLevels`), brought in line with an order
whenever the engine accepts, fills, amends, releases or finishes it. For contracts valued per
contract (inverse ones, and linear or quanto ones with a whole contract value per tick; see
:class:`~perpex.accounts.margin.ContractValue`) the margin then comes from the levels, one pass
over a few price levels instead of one object per order: the index is native
(:mod:`perpex.accounts._levels`, :func:`~perpex.accounts.margin.level_order_margin` in checked
64-bit integers), and a calculation that would overflow takes that Python function. Every
other case (another contract, a mark at which the value is not per contract, an order without
a price in flight) walks the orders with
:func:`~perpex.accounts.margin.order_margin`. Both give the same number: ``check_invariants``
rebuilds the index from the live orders and recomputes every account's order margin both ways.

The order-margin reject itself (:meth:`MarginCore._margin_reject`) is the reference; its
common case, on contracts valued per contract, is answered first in one native call
(:func:`perpex._pretrade.order_fits`) that takes the same steps over the same tables.

The index is derived data, not state: ``export_state`` and ``state_hash`` never see it. An
order that reaches the live-order tables without passing the engine loop is caught by the
per-key count of indexed orders, and that key is re-indexed before use.
"""

from __future__ import annotations

from fractions import Fraction

from perpex import _native
from perpex._core import EngineCore
from perpex._pretrade import order_fits
from perpex.accounts._levels import OpenLevels, open_drop, open_sync
from perpex.accounts.margin import (
    ContractValue, OpenOrder, level_order_margin, order_margin)
from perpex.accounts.position import Position
from perpex.instruments import Instrument
from perpex.orders import MARKET_TYPES, OrderRecord, insufficient_text
from perpex.rounding import exact_rate

_BUY = _native.BUY
_REDUCE = _native.FLAG_REDUCE_ONLY
_IDLE = (0, 0, 0)  # an indexed order that carries no order margin
_NO_LEVELS = OpenLevels()  # a key without resting orders, for a margin with one added


def _contribution(rec: OrderRecord) -> tuple[int, int, int]:
    """(side, price ticks, contracts) the order adds to its account's order margin."""
    if rec.conditional or rec.flags & _REDUCE or rec.leaves_qty <= 0:
        return _IDLE
    return rec.side, rec.price, rec.leaves_qty


class MarginCore(EngineCore):
    """Order-margin index, margin helpers and the available balance."""

    def _init_margin(self) -> None:
        # ---- derived (rebuilt from the live orders; not part of the state)
        self._open: dict[tuple[int, str], OpenLevels] = {}  # each live order's entry: its record
        # ---- instrument constants
        self._cv = {sym: ContractValue(inst) for sym, inst in self._inst.items()}
        self._cross_rates = {}
        self._fee_ratios = {sym: (exact_rate(inst.taker_fee, "taker_fee"),
                                  exact_rate(inst.maker_fee, "maker_fee"))
                            for sym, inst in self._inst.items()}

    # ================================================================ the order index
    def _open_sync(self, rec: OrderRecord) -> None:
        """Brings the index in line with ``rec`` (a live order) after it may have changed."""
        open_sync(self._open, rec, _REDUCE)

    def _open_drop(self, rec: OrderRecord) -> None:
        """``rec`` left the live orders."""
        open_drop(self._open, rec)

    def _open_levels(self, a: int, sym: str) -> OpenLevels | None:
        """The key's levels, re-indexed first if a live order was never indexed."""
        key = (a, sym)
        live = self._live.get(key)
        lv = self._open.get(key)
        if (lv.count if lv is not None else 0) != (len(live) if live else 0):
            for oid in live or ():
                self._open_sync(self._orders[oid])
            lv = self._open.get(key)
        return lv

    def _rebuilt_index(self) -> dict[tuple[int, str], tuple[dict[int, int], dict[int, int], int]]:
        """The index recomputed from the live orders (for ``check_invariants``)."""
        out = {}
        for key, live in self._live.items():
            lv = OpenLevels()
            for oid in live:
                side, price, n = _contribution(self._orders[oid])
                if n:
                    lv.add(side, price, n)
            out[key] = lv.levels()
        return out

    # ================================================================ rates and margins
    def _cross_rate(self, inst: Instrument, risk_limit: int) -> tuple[int, int]:
        """IM%(steps of ``risk_limit``) as an exact ratio, cached: it takes Decimal arithmetic."""
        key = (inst.symbol, risk_limit)
        rate = self._cross_rates.get(key)
        if rate is None:
            rate = self._cross_rates[key] = exact_rate(
                inst.init_rate(inst.steps_for_risk_limit(risk_limit)), "init_rate")
        return rate

    def _init_ratio(self, inst: Instrument, pos: Position | None) -> tuple[int, int]:
        """IM% of the position's margin mode (1 / leverage, or the cross rate at its risk
        limit) as an exact (num, den) pair."""
        if pos is not None and pos.leverage > 0:
            num, den = exact_rate(pos.leverage, "leverage")
            return den, num
        return self._cross_rate(inst, pos.risk_limit if pos is not None else inst.risk_limit)

    def _resting(self, a: int, sym: str) -> list[OrderRecord]:
        """The live orders of (a, sym) without the conditional ones (untriggered or held)."""
        return [r for r in map(self._orders.__getitem__, self._live.get((a, sym), ())) if not r.conditional]

    def _order_margin_scan(self, a: int, sym: str, extra: OpenOrder | None = None,
                           replace_id: int = 0) -> int:
        """Order margin walked order by order (any contract, any mark)."""
        inst = self._inst[sym]
        orders = [OpenOrder(r.sign * r.leaves_qty, r.price, r.reduce_only)
                  for r in self._resting(a, sym) if r.order_id != replace_id]
        if extra is not None:
            orders.append(extra)
        if not orders:
            return 0
        pos = self._positions.get((a, sym))
        bid = self._books[sym].best_bid()
        return order_margin(inst, pos.qty if pos else 0, orders,
                            Fraction(*self._init_ratio(inst, pos)),
                            mark_e8=self._marks.get(sym), best_bid_ticks=bid or None).total

    def _levels_usable(self, cv: ContractValue, lv: OpenLevels | None, mark: int | None) -> bool:
        """Whether :func:`level_order_margin` applies to ``lv`` (see the module docstring)."""
        return cv.per_contract and (lv is None or not lv.unpriced) and (
            mark is None or cv.inverse or cv.mark_unit(mark) is not None)

    def _order_margin(self, a: int, sym: str) -> int:
        """Order margin of (a, sym)."""
        cv = self._cv[sym]
        mark = self._marks.get(sym)
        lv = self._open_levels(a, sym)
        if not self._levels_usable(cv, lv, mark):
            return self._order_margin_scan(a, sym)
        return self._levels_margin_with(cv, lv, a, sym, mark, _IDLE, _IDLE)

    def _levels_margin_with(self, cv: ContractValue, lv: OpenLevels | None, a: int, sym: str,
                            mark: int | None, new: tuple[int, int, int],
                            old: tuple[int, int, int]) -> int:
        """The margin with ``new`` (side, price, contracts) added and ``old`` taken out (each
        priced, or ``_IDLE``), the levels left as they were."""
        if lv is None:
            if not new[2]:
                return 0
            lv = _NO_LEVELS  # margin_with leaves it empty again
        elif not new[2] and lv.empty():
            return 0
        pos = self._positions.get((a, sym))
        pq = pos.qty if pos is not None else 0
        rn, rd = self._init_ratio(cv.instrument, pos)
        bid = self._books[sym].best_bid()
        terms = cv.terms
        unit = cv.mark_unit(mark) if mark else 0
        if terms is not None and unit is not None:
            try:
                m = lv.margin_with(terms, pq, rn, rd, mark or 0, unit, bid or 0, new[0], new[1],
                                   new[2], old[0], old[1], old[2])
            except OverflowError:  # a rate or price beyond 64 bits
                m = None
            if m is not None:
                return m
        # the reference calculation in Python integers, on a copy of the levels
        bq, sq, _ = lv.levels()
        for (side, price, n), sign in ((old, -1), (new, 1)):
            if n:
                q = bq if side == _BUY else sq
                q[price] = q.get(price, 0) + sign * n
                if not q[price]:
                    del q[price]
        return level_order_margin(cv, pq, bq, sorted(bq), sq, sorted(sq), (rn, rd), mark_e8=mark,
                                  best_bid_ticks=bid or None)

    def _position_margin(self, inst: Instrument, pos: Position) -> int:
        if pos.qty == 0 and pos.extra_margin == 0:
            return 0
        # position_init_margin's result from the cached exact ratio: it runs per order and per
        # mark, and the isolated case needs neither the risk limit's rate nor Decimal work
        num, den = self._init_ratio(inst, pos)
        m = -((-abs(pos.cost) * num) // den)
        return m + pos.extra_margin if pos.leverage > 0 else m

    def _check_rate_caches(self) -> list[str]:
        """Every cached rate (the engine's, and the copies the engine loop keeps on its
        contract views) against a fresh computation; the disagreements, described."""
        bad = []
        cached = [((sym, limit), ratio, "") for (sym, limit), ratio in self._cross_rates.items()]
        for sym in self._inst:
            cached += [((sym, limit), ratio, " on its contract view")
                       for limit, ratio in self._contract_view(sym).rates.items()]
        for (sym, limit), ratio, where in cached:
            inst = self._inst[sym]
            if ratio != exact_rate(inst.init_rate(inst.steps_for_risk_limit(limit)), "init_rate"):
                bad.append(f"the cached cross rate of {sym} at risk limit {limit}{where} is {ratio}")
        for sym, inst in self._inst.items():  # MM% by steps, for the closing rule's native step
            for steps, ratio in self._contract_view(sym).mm_rates.items():
                if ratio != exact_rate(inst.maint_rate(steps), "maint_rate"):
                    bad.append(f"the cached MM rate of {sym} at {steps} steps on its contract "
                               f"view is {ratio}")
        return bad

    def _upnl(self, inst: Instrument, pos: Position) -> int:
        mark = self._marks.get(inst.symbol)
        if not mark or not pos.qty:
            return 0
        cv = self._cv[inst.symbol]
        if cv.inverse:  # Instrument.mark_value rounds per contract: qty x the mark's unit
            return pos.qty * cv.mark_unit(mark) - pos.cost  # type: ignore[operator]
        return inst.unrealised_pnl(pos.qty, pos.cost, mark)

    def _available(self, a: int, ccy: str, known: tuple[str, int] | None = None) -> int:
        """Wallet - position margins - order margins + cross unrealised losses (§1.2, §2.1).
        ``known`` = (symbol, its order margin) when the caller has just computed it."""
        total = self._ledger.balance(ccy, ("wallet", a))
        positions, live = self._positions, self._live
        for sym in self._by_ccy[ccy]:
            key = (a, sym)
            pos = positions.get(key)
            if pos is not None and (pos.qty or pos.extra_margin):
                inst = self._inst[sym]
                total -= self._position_margin(inst, pos)
                if pos.leverage == 0:
                    total += min(0, self._upnl(inst, pos))
            if known is not None and known[0] == sym:
                total -= known[1]
            elif key in live:
                total -= self._order_margin(a, sym)
        return total

    def _margin_reject(self, inst: Instrument, rec: OrderRecord, qty: int, price: int | None = None,
                       replace: bool = False) -> str:
        """The BitMEX reject text when the order's extra order margin exceeds the available
        balance, else ''. Reduce-only orders never get here (they carry no margin).

        With ``before``/``after`` the contract's order margin without/with the order and
        ``free`` the available balance before any order margin of this contract, the rule
        ``after - before > free - before`` is ``after > free``: the margin without the order
        is needed only for a reject (it must raise the margin, and the text names the amount).
        """
        if price is None:
            price = rec.price if rec.ord_type not in MARKET_TYPES else \
                self._price_estimate(inst, rec.side, qty)
        if price <= 0:
            return ""
        old = rec.indexed_as() if replace else _IDLE
        if qty > 0:  # the common case, decided natively (perpex._pretrade)
            fits = order_fits(self, inst.symbol, rec.account, rec.side, price, qty, old)
            if fits is not None:
                return "" if fits is True else fits
        return self._margin_reference(inst, rec, qty, price, replace, old)

    def _margin_reference(self, inst: Instrument, rec: OrderRecord, qty: int, price: int,
                          replace: bool, old: tuple[int, int, int]) -> str:
        """:meth:`_margin_reject` at a known ``price`` > 0 without its native step (a caller
        that has run that step and had no answer from it); ``old``: the order's indexed entry
        when it replaces one (``replace``), else ``(0, 0, 0)``."""
        a, sym, ccy = rec.account, inst.symbol, inst.settle_currency
        cv = self._cv[sym]
        mark = self._marks.get(sym)
        lv = self._open_levels(a, sym)
        if qty > 0 and self._levels_usable(cv, lv, mark):
            after = self._levels_margin_with(cv, lv, a, sym, mark, (rec.side, price, qty), old)
        else:
            after = self._order_margin_scan(a, sym, OpenOrder(qty if rec.side == _BUY else -qty, price),
                                            rec.order_id if replace else 0)
        if after <= self._available(a, ccy, (sym, 0)):
            return ""
        before = self._order_margin(a, sym)
        return insufficient_text(after - before, ccy) if after > before else ""
