"""The liquidation engine inside :class:`perpex.exchange.Exchange` (MECHANICS §3, §7, §8;
Decisions 3, 8, 11; RELIABILITY B2.1, M3, M4, P1, P2, P3).

Policy lives in :mod:`perpex.risk`; this module wires it to the book and the ledger. Overload
protection (circuit breakers, tier caps, price bands, position limits) is
:mod:`perpex.exchange_overload`'s; its configuration enters with the risk mode.

After every mark change the liquidation step of that contract runs:

1. positions whose liquidation price the mark crosses are found through a per-contract index
   (longs and shorts kept sorted by their trigger price), so a mark update touches only them.
   Fills, fees and margin changes only queue the touched positions; the queue is worked when
   the index is next read (a liquidation step, ``check_invariants``), so an account that trades
   many times between two mark updates is re-indexed once, and a queued position whose trigger
   inputs (size, cost, collateral, risk limit, leverage, funding rate) are those its entry was
   computed from keeps that entry without recomputing it;
2. each one has its open orders in the contract canceled and is assessed again
   (:func:`perpex.risk.liquidation.assess`); a PARTIAL verdict sends the liquidation order for
   the trader (BitMEX: FillOrKill; OKEx/Huobi: ImmediateOrCancel), then the position is assessed
   again; a FULL verdict, or a partial order that does not fill, moves the whole position to
   the liquidation-engine account at the bankruptcy price (one fill value, booked by
   :func:`perpex._fills.book_trade`), and the engine offers it in the book at that
   price (a "lot": one GoodTillCancel order per takeover);
3. lots whose bankruptcy price the mark has crossed are worked by
   :mod:`perpex.exchange_deleverage`: the insurance fund pays for aggressing the book, and ADL
   (or, in OKEx mode with clawback, the accounts in profit) covers what it cannot.

Money: each fill of a lot books ``surplus(q, X, Bk)`` between the engine's wallet and the
insurance fund, so the fund moves by exactly the sum of surpluses and deficits. The engine's
own realised PnL (from its averaged position cost) then differs from the swept surpluses only
by the averaging, which vanishes when the engine is flat; any remainder (contracts whose value
rounds per fill) is swept to the fund at that moment.

Choices where the documents are silent:
- the takeover price starts at the tick-rounded bankruptcy price and moves towards the mark just
  far enough that the trader's wallet does not end below zero (M3), so the fund never pays a
  trader's shortfall directly;
- collateral for the trigger ignores open orders (they are canceled before liquidating):
  isolated = posInit + extra margin, cross = wallet - other positions' margins + other cross
  positions' unrealised losses; both capped at the wallet;
- the engine account pays no commissions; its funding is booked against the fund;
- in Huobi mode a position is assessed at the largest tabled leverage not above its own (cross:
  its initial-margin leverage), the smallest tabled one when it is below every entry;
- an OKEx cross position, and every Huobi position, takes its tier from the account's contracts
  in all expiries of its underlying (:mod:`perpex.exchange_overload` names them); their count is
  a trigger input, and a fill in one expiry queues the account's positions in the others (every
  fill touches all of an account's positions in the currency).
- the closing rule (:meth:`RiskMixin._liquidation_reject`): BitMEX rejects an order that would
  close a position beyond its liquidation price ("Order price is below the liquidation price of
  current long position"); here the trigger is computed afresh when the order is placed,
  amended or released by its trigger, for a limit price or the worst level a market order's
  sweep reaches, and only for a price beyond the mark (a position not yet liquidated is solvent
  at the mark). Without it a trader could close at any price and lose more than the position's
  margin (M3). A resting order is not checked again: a later fill, funding payment or cross
  loss that moves the trigger past it leaves it in the book, where it fills only if the last
  price reaches it before the mark reaches the trigger (which cancels it and liquidates).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from fractions import Fraction
from typing import Any, Mapping

from perpex import _native
from perpex._fills import book_trade
from perpex._lots import liquidate, take_over
from perpex.accounts._levels import LevelTerms, contract_value
from perpex.accounts.ledger import INSURANCE, wallet
from perpex.accounts.position import Position
from perpex.errors import InvalidConfigError, InvariantViolation
from perpex.exchange_core import LIQUIDATION_ACCOUNT, LIQUIDATION_TEXT, MAX_ACCOUNT
from perpex.exchange_deleverage import DeleverageMixin
from perpex.exchange_overload import OverloadConfig, OverloadMixin
from perpex.instruments import Instrument
from perpex.orders import (
    BEYOND_LIQUIDATION, IMMEDIATE_LIQUIDATION, IN_LIQUIDATION_CANCELED, LIQUIDATION_EXPIRED,
)
from perpex.risk.adl import adl_position, deleverage_percentile
from perpex.risk.liquidation import (
    _BITMEX, _HUOBI, _OKEX, Action, LiquidationConfig, RiskMode, RiskPosition, assess,
    bitmex_liquidation_ticks, huobi_tiers, okex_tiers,
)
from perpex.risk.prices import liquidation_price, round_toward_entry
from perpex.rounding import exact_rate

_BUY = _native.BUY
_BULK_REINDEX = 256  # more dirty positions than this in one contract: rebuild its index by a sort
_MODES = {"bitmex": RiskMode.BITMEX, "okex": RiskMode.OKEX, "huobi": RiskMode.HUOBI}


def _bitmex_steps(inst: Instrument, pos: Position) -> int:
    """The risk-limit steps that set a BitMEX position's MM%: its authorised limit's, or more
    when its cost has already grown past that limit."""
    return max(inst.steps_for_risk_limit(pos.risk_limit), inst.risk_steps(pos.cost))


def _entry(pos: Position, ticks: int | None) -> tuple[int, int] | None:
    """The index entry (side, trigger tick) of ``pos`` (None: no trigger to index)."""
    return None if ticks is None else (1 if pos.qty > 0 else -1, ticks)


class RiskMixin(DeleverageMixin, OverloadMixin):
    """Liquidation step, insurance fund and ADL."""

    # False sends every liquidated position through assess() (the reference path the
    # equivalence tests compare the direct step of perpex._lots.liquidate with)
    _direct_liquidation = True

    def _init_risk(self, risk_mode: str | LiquidationConfig, insurance_fund: Mapping[str, int] | None,
                   overload: OverloadConfig | None) -> None:
        if isinstance(risk_mode, LiquidationConfig):
            cfg = risk_mode
        elif isinstance(risk_mode, str) and risk_mode.lower() in _MODES:
            cfg = LiquidationConfig(mode=_MODES[risk_mode.lower()])
        else:
            raise InvalidConfigError(f"risk_mode={risk_mode!r} must be BitMEX, OKEx or Huobi (any case) "
                                     "or a LiquidationConfig")
        self._risk_cfg = cfg  # (the overload checks read its tier tables)
        self._init_overload(overload)
        funds = dict(insurance_fund or {})
        for ccy, amount in funds.items():
            if ccy not in self._by_ccy:
                raise InvalidConfigError(f"insurance_fund currency={ccy!r} is not settled by any contract")
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                raise InvalidConfigError(f"insurance_fund[{ccy!r}]={amount!r} must be an int >= 0")
        # ---- state: engine lots (order id -> bankruptcy ticks) and fund statistics
        self._lots: dict[int, int] = {}
        self._clawed: dict[str, int] = {}  # currency -> clawed back since start
        self._liq_stats: dict[str, dict[str, int]] = {
            c: {"surplus": 0, "residual": 0, "takeovers": 0, "partials": 0, "deleveraged": 0}
            for c in sorted(self._by_ccy)}
        # ---- derived index (rebuilt from positions; not part of the state)
        self._liq_long: dict[str, list[tuple[int, int]]] = {s: [] for s in self._symbols}
        self._liq_short: dict[str, list[tuple[int, int]]] = {s: [] for s in self._symbols}
        self._liq_key: dict[tuple[int, str], tuple[int, int]] = {}
        # key -> (trigger inputs, the _liq_key entry they gave, None when not indexed)
        self._liq_inputs: dict[tuple[int, str], tuple[tuple[float, ...], tuple[int, int] | None]] = {}
        self._risk_dirty: dict[tuple[int, str], None] = {}
        # currency -> accounts with open positions in two or more of its contracts, whose
        # triggers move with the other contracts' marks (cross) and wallet changes (funding)
        self._linked: dict[str, dict[int, None]] = {c: {} for c in self._by_ccy}
        self._liq_orders: dict[int, None] = {}
        # OKEx with repost_after_ms: (account, contract) -> (its resting partial-liquidation
        # order, the ts from which it is canceled and the position assessed again)
        self._liq_holds: dict[tuple[int, str], tuple[int, int]] = {}
        for ccy in sorted(funds):
            if funds[ccy]:
                self._ledger.transfer(ccy, ("external",), INSURANCE, funds[ccy], "insurance fund")

    # ================================================================ public queries
    @property
    def risk_config(self) -> LiquidationConfig:
        return self._risk_cfg

    def insurance_fund(self, currency: str = "XBt") -> int:
        return self._ledger.balance(currency, INSURANCE)

    def liquidation_stats(self, currency: str = "XBt") -> dict[str, int]:
        """Sums since start: lot surpluses (< 0: deficits paid by the fund), rounding residuals
        swept to the fund, takeovers, partial liquidations, deleveraged contracts, money
        clawed back (OKEx clawback)."""
        return {**self._liq_stats[currency], "clawback": self._clawed.get(currency, 0)}

    # ================================================================ collateral and prices
    def _collateral(self, inst: Instrument, pos: Position) -> int:
        ccy = inst.settle_currency
        a = pos.account
        wal = self._ledger.balance(ccy, wallet(a))
        own = self._position_margin(inst, pos)
        if pos.leverage > 0:
            return max(0, min(own, wal))
        total = wal
        for sym in self._by_ccy[ccy]:
            other = self._positions.get((a, sym))
            if other is None or sym == inst.symbol:
                continue
            total -= self._position_margin(self._inst[sym], other)
            if other.leverage == 0:
                total += min(0, self._upnl(self._inst[sym], other))
        return max(0, min(total, wal))

    def _huobi_leverage(self, inst: Instrument, pos: Position) -> float:
        table = sorted(huobi_tiers(inst, self._risk_cfg)[0].factors)
        lev = pos.leverage
        if lev == 0:
            num, den = self._cross_rate(inst, pos.risk_limit)
            lev = den / num
        fit = [x for x in table if x <= lev]
        return float(fit[-1] if fit else table[0])

    def _funding_rate(self, sym: str) -> float:
        f = self._funding.get(sym) if hasattr(self, "_funding") else None  # type: ignore[attr-defined]
        return f.funding_rate if f is not None else 0.0

    def _risk_position(self, inst: Instrument, pos: Position, collateral: int | None = None,
                       others: int | None = None) -> RiskPosition:
        """The position as the policy sees it; ``collateral`` and ``others``: its
        :meth:`_collateral` and :meth:`_tier_others` when the caller has them."""
        mode = self._risk_cfg.mode
        lev = self._huobi_leverage(inst, pos) if mode is _HUOBI else pos.leverage
        if others is None:
            others = self._tier_others(pos.account, inst.symbol, pos.leverage == 0)
        if collateral is None:
            collateral = self._collateral(inst, pos)
        return RiskPosition(inst, pos.qty, pos.cost, collateral, lev,
                            inst.steps_for_risk_limit(pos.risk_limit), self._funding_rate(inst.symbol),
                            abs(pos.qty) + others if others else None)

    def _trigger_ticks(self, inst: Instrument, pos: Position, collateral: int | None = None,
                       others: int | None = None) -> int | None:
        """The tick at which the mark reaches the position's trigger (conservative: the index
        must never miss a position that :func:`assess` would liquidate). ``collateral`` and
        ``others``: as for :meth:`_risk_position`."""
        cfg = self._risk_cfg
        if cfg.mode is _BITMEX:
            # Built from the position directly: this runs for every position a fill, a funding
            # payment or a margin change touches, so it avoids a validated RiskPosition.
            steps = _bitmex_steps(inst, pos)
            if collateral is None:
                collateral = self._collateral(inst, pos)
            return bitmex_liquidation_ticks(inst, pos.qty, pos.cost, collateral, steps,
                                            self._funding_rate(inst.symbol), cfg.variant)
        rp = self._risk_position(inst, pos, collateral, others)
        contracts = rp.tier_count
        if cfg.mode is _OKEX:
            need = Fraction(*exact_rate(okex_tiers(inst, cfg).tier_for(contracts).mmr)) + \
                Fraction(*exact_rate(cfg.liquidation_fee_rate))
        else:
            tiers = huobi_tiers(inst, cfg)
            tier = next((t for t in tiers if contracts <= t.max_net_contracts), tiers[-1])
            need = Fraction(*exact_rate(tier.factors[int(rp.leverage)])) / int(rp.leverage)
        # equity = need * |value| is the recommended rule with MM 0 and a reserve rate of need
        price = liquidation_price(inst, rp.qty, rp.cost, rp.collateral, 0.0,
                                  funding_rate=float(need if rp.qty > 0 else -need))
        ticks = round_toward_entry(inst, rp.qty, price)
        if ticks is None:
            return None
        return ticks + 1 if rp.qty > 0 else ticks - 1

    def _liquidation_reject(self, inst: Instrument, pos: Position | None, side: int, ticks: int,
                            market: bool = False) -> str:
        """The closing rule (module docstring) for an order closing ``pos`` on ``side`` at
        ``ticks`` (a limit price, or the worst level a market order's sweep reaches; 0: none): ""
        when it does, BitMEX's reject text when the price is beyond both the mark and the
        position's liquidation trigger, computed afresh (the index may be behind). An order
        at or better than the mark passes unasked: a position not yet liquidated is solvent
        there. The engine's own orders never come here."""
        if pos is None or ticks <= 0 or pos.account == LIQUIDATION_ACCOUNT:
            return ""
        q = pos.qty
        if not q or (q > 0) == (side == _BUY):
            return ""  # it opens or adds
        mark = self._marks.get(inst.symbol)
        if mark:
            at = inst.ticks_to_e8(ticks)
            if (at >= mark) if q > 0 else (at <= mark):
                return ""
        trigger = self._trigger_ticks(inst, pos)
        if trigger is None or ((ticks >= trigger) if q > 0 else (ticks <= trigger)):
            return ""
        return IMMEDIATE_LIQUIDATION if market else BEYOND_LIQUIDATION[q < 0]

    # ================================================================ the index
    def _unindex(self, key: tuple[int, str]) -> None:
        old = self._liq_key.pop(key, None)
        if old is not None:
            side, ticks = old
            lst = (self._liq_long if side > 0 else self._liq_short)[key[1]]
            i = bisect_left(lst, (ticks, key[0]))
            del lst[i]

    def _reindex(self, a: int, sym: str) -> None:
        key = (a, sym)
        new = self._cached_ticks(a, sym)
        old = self._liq_key.get(key)
        if new == old:
            return
        self._unindex(key)
        if new is None:
            return
        side, ticks = new
        self._liq_key[key] = new
        insort((self._liq_long if side > 0 else self._liq_short)[sym], (ticks, a))

    def _tier_input(self, inst: Instrument, pos: Position) -> int | None:
        """The contracts of the other expiries in the position's tier, a trigger input in OKEx
        and Huobi modes; None in BitMEX mode, whose risk limit is the position's own."""
        if self._risk_cfg.mode is _BITMEX:
            return None
        return self._tier_others(pos.account, inst.symbol, pos.leverage == 0)

    def _trigger_inputs(self, inst: Instrument, pos: Position, collateral: int,
                        others: int | None) -> tuple[float, ...]:
        """Everything the position's trigger depends on besides constants of the contract and
        the configuration (the mark enters through the cross collateral; ``others``: its
        :meth:`_tier_input`)."""
        inputs = (pos.qty, pos.cost, pos.risk_limit, pos.leverage, collateral,
                  self._funding_rate(inst.symbol))
        return inputs if others is None else inputs + (others,)

    def _cached_ticks(self, a: int, sym: str) -> tuple[int, int] | None:
        """:meth:`_index_ticks`, reusing the last result while the trigger inputs are the same
        and the index still holds what they gave."""
        key = (a, sym)
        pos = self._indexed_position(a, sym)
        if pos is None:
            self._liq_inputs.pop(key, None)
            return None
        inst = self._inst[sym]
        collateral = self._collateral(inst, pos)
        others = self._tier_input(inst, pos)
        inputs = self._trigger_inputs(inst, pos, collateral, others)
        seen = self._liq_inputs.get(key)
        if seen is not None and seen[0] == inputs and self._liq_key.get(key) == seen[1]:
            return seen[1]
        out = _entry(pos, self._trigger_ticks(inst, pos, collateral, others))
        self._liq_inputs[key] = (inputs, out)
        return out

    def _indexed_position(self, a: int, sym: str) -> Position | None:
        """The position when it belongs in the index (open, not the engine's, in a contract
        not settled)."""
        pos = self._positions.get((a, sym))
        if a == LIQUIDATION_ACCOUNT or pos is None or pos.qty == 0 or sym in self._settled:
            return None
        return pos

    def _index_ticks(self, a: int, sym: str) -> tuple[int, int] | None:
        """(side, trigger tick) of the position, or None when it is not to be indexed."""
        pos = self._indexed_position(a, sym)
        return None if pos is None else _entry(pos, self._trigger_ticks(self._inst[sym], pos))

    def _rebuild_index(self, sym: str, accounts: list[int]) -> None:
        """Re-indexes many positions of one contract at once (a funding instant touches all of
        them): one sort instead of a list insertion per position, which would be quadratic."""
        positions, inputs, index = self._positions, self._liq_inputs, self._liq_key
        for a in accounts:
            key = (a, sym)
            pos = positions.get(key)
            if pos is None or not pos.qty:
                # closed (a cascade closes thousands): out of the index, as _cached_ticks would
                inputs.pop(key, None)
                index.pop(key, None)
                continue
            ticks = self._cached_ticks(a, sym)
            if ticks is None:
                index.pop(key, None)
            else:
                index[key] = ticks
        entries = [(side, ticks, a) for (a, s), (side, ticks) in self._liq_key.items() if s == sym]
        self._liq_long[sym] = sorted((t, a) for side, t, a in entries if side > 0)
        self._liq_short[sym] = sorted((t, a) for side, t, a in entries if side < 0)

    def _check_liquidation_index(self) -> None:
        """The index (after working the queue) is sorted and holds exactly its entries, and
        every entry kept for unchanged trigger inputs equals the trigger computed afresh. A
        position in another contract of a cross account keeps the trigger of its last touch
        when a mark alone moves (by design), so only entries whose inputs are current are
        compared. A position marked as queued is in the queue (checked before it is worked)."""
        for key, marked in self._positions.items():
            if marked.queued and key not in self._risk_dirty:
                raise InvariantViolation(f"{key} is marked as queued for the liquidation index "
                                         "but is not in its queue")
        self._risk_flush()
        for sym in self._symbols:
            for side, lst in ((1, self._liq_long[sym]), (-1, self._liq_short[sym])):
                want = sorted((t, a) for (a, s), (sd, t) in self._liq_key.items() if s == sym and sd == side)
                if lst != want:
                    raise InvariantViolation(f"the {sym} liquidation index disagrees with its entries")
        for key, (inputs, entry) in self._liq_inputs.items():
            pos = self._positions.get(key)
            if pos is None or self._liq_key.get(key) != entry:
                raise InvariantViolation(f"the trigger cache of {key} does not match the index")
            inst = self._inst[key[1]]
            if self._trigger_inputs(inst, pos, self._collateral(inst, pos),
                                    self._tier_input(inst, pos)) != inputs:
                continue
            fresh = self._index_ticks(*key)
            if fresh != entry:
                raise InvariantViolation(f"the cached trigger of {key} is {entry}, recomputed {fresh}")
        for key in self._liq_key:
            if key not in self._liq_inputs:
                raise InvariantViolation(f"the liquidation index holds {key} without its inputs")
        held: dict[tuple[str, int], int] = {}
        for (a, s), pos in self._positions.items():
            if pos.qty and a != LIQUIDATION_ACCOUNT:
                k = (self._inst[s].settle_currency, a)
                held[k] = held.get(k, 0) + 1
        for (ccy, a), n in sorted(held.items()):
            if n > 1 and a not in self._linked[ccy]:
                raise InvariantViolation(f"account {a} holds {n} {ccy} positions but is not linked")
        for key, (oid, _) in self._liq_holds.items():
            # a frozen position's only live order is its resting liquidation order
            live = list(self._live.get(key, ()))
            if live != [oid] or oid not in self._liq_orders:
                raise InvariantViolation(f"{key} is frozen on order {oid} but has live orders {live}")

    def _queue_linked(self, sym: str, cross_only: bool) -> None:
        """Queues the other-contract positions of the accounts that also hold ``sym``: after
        its mark moved (``cross_only``: a cross position's collateral counts the other cross
        positions' unrealised losses) or its funding changed their wallets. The cost follows
        the number of such accounts, not the number of positions."""
        inst = self._inst[sym]
        ccy = inst.settle_currency
        linked = self._linked[ccy]
        if not linked:
            return
        others = [s for s in self._by_ccy[ccy] if s != sym]
        positions, dirty = self._positions, self._risk_dirty
        for a in linked:
            pos = positions.get((a, sym))
            if pos is None or not pos.qty or (cross_only and pos.leverage):
                continue
            for s in others:
                other = positions.get((a, s))
                if other is not None and other.qty and not (cross_only and other.leverage):
                    dirty[(a, s)] = None

    def _risk_flush(self) -> None:
        while self._risk_dirty:
            keys = sorted(self._risk_dirty)
            self._risk_dirty.clear()
            positions = self._positions
            for key in keys:  # out of the queue: the next touch queues them again
                pos = positions.get(key)
                if pos is not None:
                    pos.queued = False
            by_sym: dict[str, list[int]] = {}
            for a, sym in keys:
                by_sym.setdefault(sym, []).append(a)
            for sym in sorted(by_sym):
                accounts = by_sym[sym]
                if len(accounts) > _BULK_REINDEX:
                    self._rebuild_index(sym, accounts)
                else:
                    for a in accounts:
                        self._reindex(a, sym)

    def _queue_reindex(self, keys: Mapping[tuple[int, str], None]) -> None:
        """Queues positions for the liquidation index; the queue is worked in sorted order when
        the index is next read, so the order given here does not matter."""
        self._risk_dirty.update(keys)

    # ================================================================ the liquidation step
    def _liquidation_step(self, inst: Instrument, mark_e8: int) -> None:
        """Runs after every mark change of ``inst``: its own step, then the step of every
        other contract of its settle currency in which the move (through cross collateral) or
        anything since that contract's last step (fills and funding elsewhere) has put a
        position beyond its trigger. Finding none costs a search of that contract's index."""
        sym = inst.symbol
        if sym in self._settled:
            return
        ccy = inst.settle_currency
        self._queue_linked(sym, cross_only=True)
        # what the steps have done in ccy so far (each only grows)
        st, clawed = self._liq_stats[ccy], self._clawed
        acted = (st["takeovers"], st["partials"], clawed.get(ccy, 0))
        self._contract_step(inst, mark_e8, always=True)
        skip: str | None = sym
        # A liquidation (or a clawback) moves a wallet, and so the collateral of the account's
        # cross positions in the other contracts, those already stepped included: the steps
        # repeat until a pass changes nothing. Each liquidation closes or cuts a position, so
        # the passes end.
        while True:
            for s in self._by_ccy[ccy]:
                if s != skip and s not in self._settled:
                    mark = self._marks.get(s)
                    if mark is not None:
                        self._contract_step(self._inst[s], mark, always=False)
            now = (st["takeovers"], st["partials"], clawed.get(ccy, 0))
            if now == acted:
                return
            acted, skip = now, None

    def _contract_step(self, inst: Instrument, mark_e8: int, always: bool) -> None:
        """One contract's liquidation step at ``mark_e8``; unless ``always``, only when some
        position is beyond its trigger (the lots are worked at the contract's own marks)."""
        sym = inst.symbol
        if self._liq_holds:
            self._release_holds(sym)
        self._risk_flush()
        lo, hi = inst.e8_to_ticks_floor(mark_e8), inst.e8_to_ticks_ceil(mark_e8)
        longs, shorts = self._liq_long[sym], self._liq_short[sym]
        # most endangered first: highest long trigger, lowest short trigger
        hit = [a for _, a in reversed(longs[bisect_left(longs, (hi, -1)):])]
        hit += [a for _, a in shorts[:bisect_right(shorts, (lo, MAX_ACCOUNT + 1))]]
        if not hit and not always:
            return
        liquidate(self, inst, hit, mark_e8)
        self._work_lots(inst, mark_e8)
        self._sweep_residual(inst.settle_currency)
        self._risk_flush()

    def _liquidate_assessed(self, inst: Instrument, pos: Position, mark_e8: int) -> None:
        """The liquidation step of an open position by its :func:`assess` verdicts (every
        position the direct step of :func:`perpex._lots.liquidate` leaves)."""
        a, sym = pos.account, inst.symbol
        verdict = assess(self._risk_position(inst, pos), mark_e8, self._risk_cfg)
        if not verdict.liquidate:
            self._risk_dirty[(a, sym)] = None
            return
        if (a, sym) in self._liq_holds:
            # the position waits for its resting order, unless it is now past partial repair
            if verdict.action is not Action.FULL:
                return
            self._end_hold((a, sym), IN_LIQUIDATION_CANCELED)
        fresh = True  # the verdict in hand still describes the position
        if (a, sym) in self._live:
            for oid in self._live[(a, sym)]:
                self._texts[oid] = IN_LIQUIDATION_CANCELED
            self._books[sym].cancel_all(a)
            self._drive(sym)
            fresh = False
        repost = self._risk_cfg.repost_after_ms
        for _ in range(8):
            if pos.qty == 0:
                break
            if not fresh:
                verdict = assess(self._risk_position(inst, pos), mark_e8, self._risk_cfg)
            fresh = False
            if not verdict.liquidate:
                break
            order = verdict.order
            assert order is not None
            if verdict.action is Action.PARTIAL:
                if repost is not None:
                    # OKEx's cycle in simulated time: the order rests, the position waits
                    rec = self._engine_order(inst, a, order.side, order.qty, order.price_ticks,
                                             "GoodTillCancel")
                    self._liq_stats[inst.settle_currency]["partials"] += 1
                    if rec.leaves_qty:
                        self._liq_holds[(a, sym)] = (rec.order_id, self._ts + repost)
                        break
                    continue
                tif = "FillOrKill" if self._risk_cfg.mode is _BITMEX else "ImmediateOrCancel"
                rec = self._engine_order(inst, a, order.side, order.qty, order.price_ticks, tif)
                self._liq_stats[inst.settle_currency]["partials"] += 1
                if rec.cum_qty:
                    continue
            self._takeover(inst, pos, order.price_ticks)
            break
        else:
            if pos.qty and assess(self._risk_position(inst, pos), mark_e8, self._risk_cfg).liquidate:
                self._takeover(inst, pos, self._risk_position_bk(inst, pos))
        self._touch(a, inst.settle_currency)

    def _release_holds(self, sym: str) -> None:
        """Ends the holds of ``sym`` whose time is up, in account order: what is left of the
        order is canceled (a hold whose order ended went with it, in the engine loop). The
        position's index entry is current (a hold leaves it in the index, and whatever changed
        the position since queued it), so the step that follows finds it again if it still
        needs liquidating (the re-post)."""
        for key in sorted(k for k in self._due_holds() if k[1] == sym):
            self._end_hold(key, LIQUIDATION_EXPIRED)

    def _due_holds(self) -> list[tuple[int, str]]:
        """The holds whose time is up now (``_ts``: inside a clock command, its instant)."""
        now = self._ts
        return [k for k, (_, until) in self._liq_holds.items() if now >= until]

    def _next_hold_ms(self) -> int | None:
        """When the first wait ends (a clock instant), None without waits."""
        return min((until for _, until in self._liq_holds.values()), default=None)

    def _run_due_holds(self) -> None:
        """The OKEx cycle's timer, run by the clock at the instant a wait ends (after that
        instant's prints, funding and settlement) and not only at mark updates: every contract
        with a wait that is over runs its liquidation step at its current mark, which ends the
        wait and re-posts what the position still needs."""
        due = {k[1] for k in self._due_holds()}
        for sym in self._symbols:
            if sym in due:
                self._liquidation_step(self._inst[sym], self._marks[sym])

    def _end_hold(self, key: tuple[int, str], text: str) -> None:
        """Cancels the hold's order (live: a hold ends with its order in the engine loop)."""
        oid, _ = self._liq_holds.pop(key)
        self._texts[oid] = text
        self._books[key[1]].cancel(oid, key[0])
        self._drive(key[1])

    def _risk_position_bk(self, inst: Instrument, pos: Position) -> int:
        verdict = assess(self._risk_position(inst, pos), self._marks[inst.symbol], self._risk_cfg)
        assert verdict.bankruptcy_ticks is not None
        return verdict.bankruptcy_ticks

    def _takeover(self, inst: Instrument, pos: Position, bk: int) -> None:
        """The whole position moves to the engine at ``bk`` (moved towards the mark only as
        far as needed to keep the trader's wallet >= 0), and the engine offers it there."""
        if self._native_lots:
            take_over(self, inst, pos, bk)
            return
        sym, ccy, q = inst.symbol, inst.settle_currency, pos.qty
        wal = self._ledger.balance(ccy, wallet(pos.account))
        terms = self._cv[sym].terms
        bk = self._solvent_ticks(inst, pos, bk, wal, terms)
        n = abs(q)
        engine = self._position(LIQUIDATION_ACCOUNT, sym)
        cost = contract_value(inst, terms, n, bk)  # inst.exec_cost
        buyer, seller = (engine, pos) if q > 0 else (pos, engine)
        book_trade(self._ledger, ccy, buyer, seller, n, cost)
        self._liq_stats[ccy]["takeovers"] += 1
        side = "Sell" if q > 0 else "Buy"
        if self._emit:
            self._events.append({
                "seq": self._seq, "transactTime": self._ts, "execType": "Liquidation",
                "account": pos.account, "symbol": sym, "side": side, "lastQty": n,
                "lastPx": inst.ticks_to_price(bk), "execCost": -cost if q > 0 else cost,
                "text": LIQUIDATION_TEXT})
        self._engine_order(inst, LIQUIDATION_ACCOUNT, side, n, bk, "GoodTillCancel")

    def _solvent_ticks(self, inst: Instrument, pos: Position, bk: int, wal: int,
                       terms: LevelTerms | None) -> int:
        """The takeover price of ``pos`` from its bankruptcy ticks ``bk``: moved towards the
        mark just far enough that its account's wallet ``wal`` does not end below zero."""
        q = pos.qty
        if wal + contract_value(inst, terms, q, bk) - pos.cost >= 0:
            return bk
        # realised = value(q, p) - cost grows as p moves away from the entry side
        step = 1 if q > 0 else -1
        lo, hi = bk, inst.max_price_ticks if q > 0 else 1
        while lo != hi:
            mid = (lo + hi) // 2 if q > 0 else -((-lo - hi) // 2)
            if wal + contract_value(inst, terms, q, mid) - pos.cost >= 0:
                hi = mid
            else:
                lo = mid + step
        return lo

    # ================================================================ queries
    def _risk_fields(self, inst: Instrument, pos: Position) -> dict[str, Any]:
        out: dict[str, Any] = {"liqPrice": None, "bankruptPrice": None, "deleveragePercentile": None}
        if not pos.qty or not pos.cost or pos.account == LIQUIDATION_ACCOUNT:
            return out
        rp = self._risk_position(inst, pos)
        mark = self._marks.get(inst.symbol)
        liq = self._trigger_ticks(inst, pos)
        if self._risk_cfg.mode is not _BITMEX and liq is not None:
            liq = liq - 1 if pos.qty > 0 else liq + 1
        out["liqPrice"] = inst.ticks_to_price(liq) if liq else None
        v = assess(rp, mark or inst.ticks_to_e8(max(1, (liq or 1))), self._risk_cfg)
        out["bankruptPrice"] = inst.ticks_to_price(v.bankruptcy_ticks) if v.bankruptcy_ticks else None
        if mark:
            side = 1 if pos.qty > 0 else -1
            place = adl_position(inst, self._adl_candidates(inst, side, mark), mark,
                                 "Long" if side > 0 else "Short", pos.account)
            if place is not None:
                out["deleveragePercentile"] = deleverage_percentile(*place)
        return out

    def _risk_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "lots": sorted(self._lots.items()),
            "stats": sorted((c, sorted(v.items())) for c, v in self._liq_stats.items()),
            "breakers": self._breaker_state()}
        if self._risk_cfg.clawback:  # only then, so that other configurations hash as before
            state["clawback"] = sorted(self._clawed.items())
        if self._risk_cfg.repost_after_ms is not None:  # likewise
            state["holds"] = sorted(self._liq_holds.items())
        state.update(self._band_state())
        return state
