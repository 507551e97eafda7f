"""What happens to a position after the liquidation engine took it over (MECHANICS §7, §8;
Decisions 11; RELIABILITY M3, M4, P3): the engine's lots, the insurance fund, auto-deleveraging
and, in OKEx mode, clawback.

A lot is the GoodTillCancel order the engine rests at the bankruptcy price of a takeover. Once
the mark crosses that price the lot is worked: the insurance fund pays for aggressing the book
as far as its balance covers (walked level by level), and what the book or the fund cannot take
is auto-deleveraged against the opposite side in the :func:`perpex.risk.adl.adl_queue` order, at
the lot's bankruptcy price.

OKEx clawback (``LiquidationConfig(mode=OKEX, clawback=True)``, §8.3) replaces ADL: the engine
keeps aggressing the book beyond the fund's balance, as far as the fund plus the profit of the
accounts in profit in that contract covers, and the deficit the fund is left with is recovered
from those accounts in proportion to their profit (:func:`perpex.risk.insurance.clawback_shares`).
What the book cannot take stays resting at the bankruptcy price.

Choices where the documents are silent (clawback):
- "net profit in the contract" is the unrealised PnL at the mark of the account's open position
  in that contract, when positive, capped at the account's wallet (a clawback never leaves a
  wallet negative, M3); the liquidation engine's own account is never clawed back;
- the profits are taken before the engine's order trades, and the deficit is the insurance
  fund's negative balance after it (so the fund ends the step at zero, never below);
- each share is floored and the leftover units of the deficit go one each to the largest
  remainders, ties to the lower account id, so the shares sum to the deficit exactly;
- the walk charges linear and quanto contracts one unit more than their exact loss per
  contract (their values round per fill), so neither the fund alone nor the fund plus the
  clawable profit can be overdrawn.
"""

from __future__ import annotations

from fractions import Fraction

from perpex import _native
from perpex._fills import book_trade
from perpex._lots import lot_fill, work_lots
from perpex.accounts.ledger import INSURANCE, wallet
from perpex.book import SIDES, TIFS
from perpex.exchange_core import LIQUIDATION_ACCOUNT, LIQUIDATION_TEXT, ExchangeCore
from perpex.instruments import Instrument
from perpex.orders import OrderRecord
from perpex.risk.adl import AdlCandidate, adl_queue, plan_adl
from perpex.risk._fund import surplus, walk
from perpex.risk.insurance import clawback_shares

DELEVERAGE_TEXT = "Deleverage"
CLAWBACK_TEXT = "Clawback"
_SIDE_NAME = {v: k for k, v in SIDES.items()}
_ENGINE_WALLET = wallet(LIQUIDATION_ACCOUNT)  # built once: it is booked on every engine fill


class DeleverageMixin(ExchangeCore):
    """Engine orders, lots, the insurance fund, ADL and clawback."""

    # False runs the Python steps of the lots (takeover, working, fill surplus) that
    # perpex._lots takes in C: the reference the tests compare it with
    _native_lots = True

    _liq_stats: dict[str, dict[str, int]]
    _clawed: dict[str, int]

    def _engine_order(self, inst: Instrument, a: int, side: str, qty: int, price: int,
                      tif: str) -> OrderRecord:
        """An order sent by the liquidation engine (no rate limit, no margin check; the
        steps are ``_engine_add``'s)."""
        return self._engine_add(inst, a, SIDES[side], qty, price, TIFS[tif])

    # ================================================================ fills of engine orders
    def _lot_fill(self, inst: Instrument, rec: OrderRecord, px: int, q: int) -> None:
        if self._native_lots:
            lot_fill(self, inst, rec, px, q)
            return
        bk = self._lots.get(rec.order_id)
        if bk is None:
            return
        s = surplus(inst, q if rec.side != _native.BUY else -q, px, bk,
                    self._cv[inst.symbol].terms)
        if s:
            ccy = inst.settle_currency
            self._ledger.transfer(ccy, _ENGINE_WALLET, INSURANCE, s, "liquidation surplus")
            self._liq_stats[ccy]["surplus"] += s

    def _sweep_residual(self, ccy: str) -> None:
        for sym in self._by_ccy[ccy]:
            pos = self._positions.get((LIQUIDATION_ACCOUNT, sym))
            if pos is not None and pos.qty:
                return
        rest = self._ledger.balance(ccy, _ENGINE_WALLET)
        if rest < 0:
            # a shortfall (per-fill rounding) is the fund's to cover, but never beyond what it
            # holds: what it cannot cover waits on the engine's wallet for a later sweep
            rest = max(rest, -max(0, self._ledger.balance(ccy, INSURANCE)))
        if rest:
            self._ledger.transfer(ccy, _ENGINE_WALLET, INSURANCE, rest, "liquidation residual")
            self._liq_stats[ccy]["residual"] += rest

    # ================================================================ lots past bankruptcy
    def _work_lots(self, inst: Instrument, mark_e8: int) -> None:
        """Works each lot of ``inst`` whose bankruptcy price ``mark_e8`` has reached, in order
        id order: natively (perpex._lots), or through :meth:`_aggress_or_deleverage` (the
        reference, and clawback's)."""
        work_lots(self, inst, mark_e8,
                  self._native_lots and not self._risk_cfg.clawback)  # type: ignore[attr-defined]

    def _aggress_or_deleverage(self, inst: Instrument, rec: OrderRecord, bk: int, mark_e8: int) -> None:
        sym, ccy = inst.symbol, inst.settle_currency
        side = _SIDE_NAME[rec.side]
        left = rec.leaves_qty
        self._texts[rec.order_id] = "Canceled: " + LIQUIDATION_TEXT
        self._books[sym].cancel(rec.order_id)
        self._drive(sym)  # (the canceled lot's finish drops its entry in _lots)
        clawback = self._risk_cfg.clawback  # type: ignore[attr-defined]
        profits = self._clawable(inst, mark_e8) if clawback else {}
        # the fund (and, with clawback, the profitable accounts) pays for walking the book,
        # level by level, as far as its balance covers
        # (affordable_fill bounds the loss however the order splits into fills, so the fund
        # cannot end below zero through per-fill rounding)
        budget: int | Fraction = self._ledger.balance(ccy, INSURANCE) + sum(profits.values())
        bids, asks = self._books[sym].depth(64)
        sign = 1 if side == "Sell" else -1
        take, limit = walk(budget, bids if sign == 1 else asks, bk, inst, sign, left,
                           self._cv[sym].terms)
        if take:
            ioc = self._engine_order_lot(inst, side, take, limit, bk)
            left -= ioc
        if clawback:
            self._clawback(inst, profits)
        elif left:
            left = self._deleverage(inst, side, left, bk, mark_e8)
        if left:
            self._engine_order(inst, LIQUIDATION_ACCOUNT, side, left, bk, "GoodTillCancel")

    def _engine_order_lot(self, inst: Instrument, side: str, qty: int, limit: int, bk: int) -> int:
        """An ImmediateOrCancel of the engine that still books surpluses against ``bk`` (its
        entry in _lots goes with its finish, in the same command)."""
        self._lots[self._next_id] = bk
        rec = self._engine_order(inst, LIQUIDATION_ACCOUNT, side, qty, limit, "ImmediateOrCancel")
        return rec.cum_qty

    # ================================================================ ADL
    def _adl_candidates(self, inst: Instrument, want: int, mark_e8: int) -> list[AdlCandidate]:
        """The positions of side ``want`` (1: longs, -1: shorts) that ADL may close, in account
        order; the engine's own and bankrupt ones (equity <= 0 at ``mark_e8``) are left out,
        as :func:`perpex.risk.adl.adl_score` cannot rank them."""
        cands: list[AdlCandidate] = []
        reg = self._positions_of(inst.symbol)  # type: ignore[attr-defined]
        for a, p in zip(reg.accounts, reg.positions):  # flat ones fail the side test
            if a == LIQUIDATION_ACCOUNT or p.qty * want <= 0 or p.cost == 0:
                continue
            coll = self._collateral(inst, p)  # type: ignore[attr-defined]
            if inst.mark_value(p.qty, mark_e8) - (p.cost - coll) > 0:
                cands.append(AdlCandidate(a, p.qty, p.cost, coll))
        return cands

    def _deleverage(self, inst: Instrument, side: str, qty: int, bk: int, mark_e8: int) -> int:
        """Closes ``qty`` of the engine's lot against the ranked opposite side at ``bk``;
        returns what could not be deleveraged."""
        sym, ccy = inst.symbol, inst.settle_currency
        want = -1 if side == "Sell" else 1  # counterparties of a long lot are shorts
        cands = self._adl_candidates(inst, want, mark_e8)
        if not cands:
            return qty
        queue = adl_queue(inst, cands, mark_e8, "Short" if want < 0 else "Long")
        fills = plan_adl("Long" if side == "Sell" else "Short", qty, bk,
                         [(c.account, c.qty) for c in queue])
        engine = self._position(LIQUIDATION_ACCOUNT, sym)
        for fill in fills:
            a = fill.account
            if (a, sym) in self._live:
                for oid in self._live[(a, sym)]:
                    self._texts[oid] = "Canceled: " + DELEVERAGE_TEXT
                self._books[sym].cancel_all(a)
                self._drive(sym)
            cp = self._positions[(a, sym)]
            cost = inst.exec_cost(fill.qty, bk)
            buyer, seller = (cp, engine) if side == "Sell" else (engine, cp)
            book_trade(self._ledger, ccy, buyer, seller, fill.qty, cost)
            qty -= fill.qty
            self._liq_stats[ccy]["deleveraged"] += fill.qty
            self._touch(a, ccy)
            if self._emit:
                px = inst.ticks_to_price(bk)
                for acct, s_name in ((a, "Buy" if side == "Sell" else "Sell"),
                                     (LIQUIDATION_ACCOUNT, side)):
                    signed = cost if s_name == "Buy" else -cost
                    ev = {"seq": self._seq, "transactTime": self._ts, "execType": "Deleverage",
                          "ordStatus": "Filled", "account": acct, "symbol": sym, "side": s_name,
                          "lastQty": fill.qty, "lastPx": px, "execCost": signed,
                          "text": DELEVERAGE_TEXT}
                    self._events.append(ev)
                    self._executions.append(ev)
        return qty

    # ================================================================ OKEx clawback
    def _clawable(self, inst: Instrument, mark_e8: int) -> dict[int, int]:
        """Account -> profit that a clawback may take (> 0 only), in account order."""
        sym, ccy = inst.symbol, inst.settle_currency
        out: dict[int, int] = {}
        reg = self._positions_of(sym)  # type: ignore[attr-defined]
        for a, p in zip(reg.accounts, reg.positions):
            if a == LIQUIDATION_ACCOUNT or not p.qty:
                continue
            profit = min(inst.unrealised_pnl(p.qty, p.cost, mark_e8),
                         self._ledger.balance(ccy, wallet(a)))
            if profit > 0:
                out[a] = profit
        return out

    def _clawback(self, inst: Instrument, profits: dict[int, int]) -> None:
        """Recovers the insurance fund's deficit from ``profits`` in proportion (§8.3)."""
        sym, ccy = inst.symbol, inst.settle_currency
        deficit = -self._ledger.balance(ccy, INSURANCE)
        if deficit <= 0 or not profits:
            return
        for a, share in clawback_shares(profits, deficit).items():
            if not share:
                continue
            self._ledger.transfer(ccy, wallet(a), INSURANCE, share, "clawback")
            self._clawed[ccy] = self._clawed.get(ccy, 0) + share
            self._touch(a, ccy)
            if self._emit:
                self._events.append({
                    "seq": self._seq, "transactTime": self._ts, "execType": "Clawback",
                    "account": a, "symbol": sym, "currency": ccy, "amount": -share,
                    "text": CLAWBACK_TEXT})
