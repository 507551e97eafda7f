"""The engine core under :class:`perpex.exchange.Exchange`: sequencing, the loop that applies
native-book events (fills booked as ledger transfers, triggers released one at a time) and the
pre-trade risk helpers. Split from the public command surface only to keep files focused; the
behaviour is described in :mod:`perpex.exchange`."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numbers
from collections import deque
from fractions import Fraction
from typing import Any, Callable, NamedTuple

import numpy as np

from perpex import _native
from perpex.book import BookView as DepthView
from perpex.accounts.ledger import CurrencyAudit, Ledger
from perpex.accounts.margin import OpenOrder, order_margin, position_init_margin
from perpex.accounts.position import Position, book_fee, book_fill
from perpex.errors import (
    ArithmeticOverflowError, EngineHaltedError, InvalidInputError, NonMonotonicTimeError,
    UnknownAccountError, UnknownOrderError, UnknownSymbolError)
from perpex.instruments import Instrument
from perpex.orders import (
    CANCEL_TEXTS, CLOSE_CANCELED_OTHER, CLOSE_NO_POSITION, MARKET_TYPES, REDUCE_ONLY_CANCELED,
    REDUCE_ONLY_CLIPPED, REDUCE_ONLY_WOULD_INCREASE, OrderRecord, Outcome, execution,
    insufficient_text)
from perpex.risk.limits import RATE_LIMITED, RateLimiter, order_count_reject
from perpex.rounding import exact_rate, signed_ticks

MAX_ACCOUNT = 2**32 - 1
LIQUIDATION_ACCOUNT = MAX_ACCOUNT  # reserved: the liquidation engine's account
LIQUIDATION_TEXT = "Liquidation"
_BUY, _SELL = _native.BUY, _native.SELL
_CLOSE, _REDUCE = _native.FLAG_CLOSE, _native.FLAG_REDUCE_ONLY


class Audit(NamedTuple):
    """Cheap totals (RELIABILITY B2.2). ``ledger_sum`` must be 0 for every currency and
    ``net_position`` 0 for every contract."""

    ledger_sum: dict[str, int]
    net_position: dict[str, int]
    open_interest: dict[str, int]
    insurance_fund: dict[str, int]
    fees: dict[str, int]
    funding: dict[str, int]
    ledgers: dict[str, CurrencyAudit]


class BookView(DepthView):
    """Read-only view of one contract's book in human prices, with its instrument."""

    def __init__(self, instrument: Instrument, native: Any) -> None:
        super().__init__(native, instrument.tick_size)
        self.instrument = instrument


def _int(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise InvalidInputError(f"{name}={value} must be >= {low}")
    if high is not None and value > high:
        raise ArithmeticOverflowError(f"{name}={value} exceeds the limit {high}")
    return value


def _choice(name: str, value: object, table: dict[str, int]) -> int:
    if not isinstance(value, str) or value not in table:
        raise InvalidInputError(f"{name}={value!r} must be one of {', '.join(table)}")
    return table[value]


class ExchangeCore(ABC):
    """State holder and engine loop shared by the command, query, batch and pricing parts."""

    _inst: dict[str, Instrument]
    _symbols: list[str]
    _by_ccy: dict[str, list[str]]
    _books: dict[str, Any]
    _rate: RateLimiter | None
    _max_open: int
    _max_stop: int
    _ledger: Ledger
    _accounts: dict[int, None]
    _positions: dict[tuple[int, str], Position]
    _orders: dict[int, OrderRecord]
    _live: dict[tuple[int, str], dict[int, None]]
    _reduce_only: dict[tuple[int, str], dict[int, None]]
    _cl_ids: dict[tuple[int, str], int]
    _marks: dict[str, int]
    _buckets: dict[int, list[int]]
    _tx: dict[object, tuple]
    _seq: int
    _ts: int
    _next_id: int
    _halted: str | None
    _events: list[dict[str, Any]]
    _executions: deque[dict[str, Any]]
    _emit: bool
    _held: deque[int]
    _dirty: dict[int, None]
    _texts: dict[int, str]
    _done: dict[int, tuple[str, str, int, int]]
    _settled: dict[str, int]
    _liq_orders: dict[int, None]
    _lots: dict[int, int]

    def _risk_flush(self) -> None:
        pass

    def _touch(self, a: int, ccy: str) -> None:
        pass

    def _lot_fill(self, inst: Instrument, rec: OrderRecord, px: int, q: int) -> None:
        pass

    def _overload_reject(self, inst: Instrument, rec: OrderRecord) -> str:
        return ""

    def _breaker_update(self, inst: Instrument, mark_e8: int) -> None:
        pass

    def _liquidation_step(self, inst: Instrument, mark_e8: int) -> None:
        pass

    def _reindex_symbol(self, sym: str) -> None:
        pass

    def _sweep_residual(self, ccy: str) -> None:
        pass

    def _risk_state(self) -> dict[str, Any]:
        return {}

    def _risk_fields(self, inst: Instrument, pos: Position) -> dict[str, Any]:
        return {}

    def _pricing_state(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def _push_mark(self, inst: Instrument, mark_e8: int) -> None:
        """Every mark change goes through here (the pricing layer implements it)."""

    # ================================================================ sequencing
    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def _check_live(self) -> None:
        if self._halted is not None:
            raise EngineHaltedError(f"the exchange halted after: {self._halted}")

    def _check_ts(self, ts: object) -> int:
        if ts is None:
            return self._ts
        ts = _int("ts", ts, 0, 2**63 - 1)
        if ts < self._ts:
            raise NonMonotonicTimeError(f"ts={ts} is earlier than the last command's ts={self._ts}")
        return ts

    def _commit(self, ts: int, fn: Callable[[], Outcome]) -> Outcome:
        """Runs the mutating part of a validated command; anything escaping it halts."""
        self._ts = ts
        self._seq += 1
        self._done.clear()
        try:
            out = fn()
            self._risk_flush()
            return out
        except BaseException as exc:
            self._halted = f"{type(exc).__name__} in command seq={self._seq}: {exc}"
            raise EngineHaltedError(self._halted) from exc

    def _instrument(self, symbol: object) -> Instrument:
        inst = self._inst.get(symbol) if isinstance(symbol, str) else None
        if inst is None:
            if not isinstance(symbol, str):
                raise TypeError(f"symbol must be a str, got {type(symbol).__name__} {symbol!r}")
            raise UnknownSymbolError(f"symbol={symbol!r} is not listed ({', '.join(self._symbols)})")
        return inst

    def _account(self, account: object) -> int:
        a = _int("account", account, 0, MAX_ACCOUNT)
        if a == LIQUIDATION_ACCOUNT:
            raise InvalidInputError(f"account={a} is reserved for the liquidation engine")
        if a not in self._accounts:
            raise UnknownAccountError(f"account={a} is unknown (deposit first)")
        return a

    def _own_order(self, account: int, order_id: object) -> OrderRecord:
        oid = _int("order_id", order_id, 1)
        rec = self._orders.get(oid)
        if rec is None or rec.account != account:
            raise UnknownOrderError(f"order_id={oid} is not a live order of account {account}")
        return rec

    def _take_token(self, account: int) -> bool:
        return self._rate is None or self._rate.take(self._buckets, account, self._ts)

    @staticmethod
    def _signed_ticks(inst: Instrument, value: object, name: str) -> int:
        if value is None:
            raise TypeError(f"{name} is required for a TrailingStopPeg order")
        return signed_ticks(value, inst.price_to_ticks, name)  # type: ignore[arg-type]

    def _place(self, inst: Instrument, rec: OrderRecord) -> Outcome:
        rec.order_id = oid = self._next_id
        self._next_id += 1
        sym, a = inst.symbol, rec.account
        if not self._take_token(a):
            return self._reject(inst, rec, RATE_LIMITED)
        if sym in self._settled:
            return self._reject(inst, rec, f"Instrument {sym} is settled")
        text = self._overload_reject(inst, rec)
        if text:
            return self._reject(inst, rec, text)
        live = self._live.get((a, sym), {})
        stops = sum(1 for o in live if self._orders[o].conditional) if rec.conditional else 0
        text = order_count_reject(len(live), stops, rec.conditional,
                                  max_open=self._max_open, max_stop=self._max_stop)
        if text:
            return self._reject(inst, rec, text)
        if rec.reduce_only and not rec.conditional:
            cap = self._capacity(a, sym, rec.side)
            if cap == 0:
                return self._reject(inst, rec, CLOSE_NO_POSITION if rec.close_all else REDUCE_ONLY_WOULD_INCREASE)
            q = cap if rec.close_all else min(rec.leaves_qty, cap)
            rec.order_qty = rec.leaves_qty = q
            rec.close_all = False
        elif not rec.reduce_only and not rec.conditional:
            text = self._margin_reject(inst, rec, rec.leaves_qty)
            if text:
                return self._reject(inst, rec, text)
        if rec.flags & _CLOSE and not rec.conditional:
            self._close_cancels(inst, rec, rec.leaves_qty)
        self._orders[oid] = rec
        self._live.setdefault((a, sym), {})[oid] = None
        if rec.cl_ord_id:
            self._cl_ids[(a, rec.cl_ord_id)] = oid
        if rec.reduce_only:
            self._reduce_only.setdefault((a, sym), {})[oid] = None
            self._dirty[a] = None
        self._books[sym].add(oid, a, rec.side, rec.price, rec.leaves_qty, rec.ord_type, rec.tif,
                             rec.flags, rec.display_qty, rec.stop_px, rec.peg_offset, rec.feed)
        self._drive(sym)
        return self._order_outcome(rec)

    def _order_outcome(self, rec: OrderRecord) -> Outcome:
        done = self._done.get(rec.order_id)
        if done is not None:
            status, text, leaves, cum = done
            return Outcome(self._seq, status != "Rejected", text, rec.order_id, status, leaves, cum)
        status = "PartiallyFilled" if rec.cum_qty else "New"
        return Outcome(self._seq, True, "", rec.order_id, status, rec.leaves_qty, rec.cum_qty)

    def _reject(self, inst: Instrument, rec: OrderRecord, text: str) -> Outcome:
        rec.leaves_qty = 0
        if self._emit:
            self._events.append(execution(inst, rec, "Rejected", "Rejected", seq=self._seq,
                                          ts=self._ts, text=text))
        return Outcome(self._seq, False, text, rec.order_id or None, "Rejected", 0, rec.cum_qty)

    def _command_reject(self, inst: Instrument | None, account: int, text: str,
                        rec: OrderRecord | None = None) -> Outcome:
        """A rejected non-order command (cancel, amend, leverage ...): an execution with
        execType Rejected that leaves any order as it was."""
        if self._emit:
            if rec is not None and inst is not None:
                ev = execution(inst, rec, "Rejected", "PartiallyFilled" if rec.cum_qty else "New",
                               seq=self._seq, ts=self._ts, text=text)
            else:
                ev = {"seq": self._seq, "transactTime": self._ts, "execType": "Rejected",
                      "account": account, "symbol": inst.symbol if inst else None, "text": text}
            self._events.append(ev)
        return Outcome(self._seq, False, text, rec.order_id if rec else None)

    # ================================================================ the engine loop
    def _drive(self, sym: str) -> None:
        """Applies the book's pending events, then keeps the reduce-only rule and releases
        held triggered orders one at a time, each against the position of that moment."""
        book = self._books[sym]
        self._apply(sym, book.drain_events())
        while True:
            if self._dirty:
                dirty = sorted(self._dirty)
                self._dirty.clear()
                for a in dirty:
                    self._enforce_reduce_only(a, sym)
            if not self._held:
                return
            self._release(sym, self._held.popleft())

    def _apply(self, sym: str, events: np.ndarray) -> None:
        inst = self._inst[sym]
        orders = self._orders
        for (typ, side, reason, _cmd, oid, mid, acct, macct, px, qty, leaves,
             mleaves) in events.tolist():
            if typ == _native.EV_FILL:
                self._fill(inst, orders[oid], orders[mid], px, qty, leaves, mleaves)
                continue
            rec = orders[oid]
            if typ == _native.EV_ACCEPTED:
                if self._emit:
                    self._events.append(execution(inst, rec, "New", "New", seq=self._seq, ts=self._ts))
            elif typ == _native.EV_CANCELED or typ == _native.EV_REJECTED:
                rec.leaves_qty = 0
                text = self._texts.pop(oid, None) or CANCEL_TEXTS.get(reason, "Canceled")
                self._finish(inst, rec, "Canceled" if typ == _native.EV_CANCELED else "Rejected",
                             "Canceled" if typ == _native.EV_CANCELED else "Rejected", text)
            elif typ == _native.EV_AMENDED:
                rec.leaves_qty = leaves
                if rec.conditional:
                    rec.stop_px = px
                if not (rec.close_all and rec.conditional):
                    rec.order_qty = rec.cum_qty + leaves
                if self._emit:
                    self._events.append(execution(
                        inst, rec, "Replaced", "PartiallyFilled" if rec.cum_qty else "New",
                        seq=self._seq, ts=self._ts, text=self._texts.pop(oid, "")))
            elif typ == _native.EV_TRIGGERED:
                rec.triggered = True
                rec.stop_px = px
                if self._emit:
                    self._events.append(execution(inst, rec, "Triggered", "New", seq=self._seq, ts=self._ts))
                self._held.append(oid)

    def _finish(self, inst: Instrument, rec: OrderRecord, exec_type: str, status: str,
                text: str, **fill: Any) -> None:
        oid = rec.order_id
        del self._orders[oid]
        self._lots.pop(oid, None)
        if oid in self._liq_orders:
            del self._liq_orders[oid]
            text = text or LIQUIDATION_TEXT
        key = (rec.account, rec.symbol)
        live = self._live[key]
        del live[oid]
        if not live:
            del self._live[key]
        if rec.reduce_only:
            ros = self._reduce_only[key]
            del ros[oid]
            if not ros:
                del self._reduce_only[key]
        if rec.cl_ord_id:
            del self._cl_ids[(rec.account, rec.cl_ord_id)]
        self._done[oid] = (status, text, rec.leaves_qty, rec.cum_qty)
        if self._emit:
            ev = execution(inst, rec, exec_type, status, seq=self._seq, ts=self._ts, text=text, **fill)
            self._events.append(ev)
            if exec_type == "Trade":
                self._executions.append(ev)

    def _fill(self, inst: Instrument, taker: OrderRecord, maker: OrderRecord, px: int, q: int,
              leaves: int, mleaves: int) -> None:
        cost = inst.exec_cost(q, px)  # the buyer's; the seller's is -cost
        sym, ccy = inst.symbol, inst.settle_currency
        tpos = self._position(taker.account, sym)
        mpos = tpos if maker.account == taker.account else self._position(maker.account, sym)
        if taker.side == _BUY:
            book_fill(self._ledger, ccy, tpos, mpos, q, cost)
        else:
            book_fill(self._ledger, ccy, mpos, tpos, q, cost)
        hidden = maker.display_qty == 0 or (maker.display_qty > 0 and mleaves > maker.display_qty)
        tfee = 0 if taker.account == LIQUIDATION_ACCOUNT else inst.fee(cost, inst.taker_fee)
        mfee = 0 if maker.account == LIQUIDATION_ACCOUNT else \
            inst.fee(cost, inst.taker_fee if hidden else inst.maker_fee)
        if taker.account == LIQUIDATION_ACCOUNT:
            self._lot_fill(inst, taker, px, q)
        if maker.account == LIQUIDATION_ACCOUNT:
            self._lot_fill(inst, maker, px, q)
        self._touch(taker.account, ccy)
        self._touch(maker.account, ccy)
        if tfee:
            book_fee(self._ledger, ccy, tpos, tfee)
        if mfee:
            book_fee(self._ledger, ccy, mpos, mfee)
        self._dirty[taker.account] = None
        self._dirty[maker.account] = None
        for rec, left, fee, liq in ((taker, leaves, tfee, "RemovedLiquidity"),
                                    (maker, mleaves, mfee, "AddedLiquidity")):
            rec.leaves_qty = left
            rec.cum_qty += q
            rec.px_qty += px * q
            signed = cost if rec.side == _BUY else -cost
            if left == 0:
                self._finish(inst, rec, "Trade", "Filled", "", last_qty=q, last_px=px,
                             exec_cost=signed, exec_comm=fee, liquidity=liq)
            elif self._emit:
                ev = execution(inst, rec, "Trade", "PartiallyFilled", seq=self._seq, ts=self._ts,
                               text=LIQUIDATION_TEXT if rec.order_id in self._liq_orders else "",
                               last_qty=q, last_px=px, exec_cost=signed, exec_comm=fee, liquidity=liq)
                self._events.append(ev)
                self._executions.append(ev)

    def _release(self, sym: str, oid: int) -> None:
        """A held triggered order: re-check it against the position now, then activate it
        (clipped for ReduceOnly/Close) or cancel it with the reason."""
        rec = self._orders.get(oid)
        if rec is None:
            return
        inst, book = self._inst[sym], self._books[sym]
        qty = rec.leaves_qty
        text = ""
        if rec.reduce_only:
            cap = self._capacity(rec.account, sym, rec.side)
            qty = cap if rec.close_all else min(qty, cap)
            if qty == 0:
                text = "Canceled: " + (CLOSE_NO_POSITION if rec.close_all else REDUCE_ONLY_WOULD_INCREASE)
        else:
            text = self._margin_reject(inst, rec, qty)
            if text:
                text = "Canceled: " + text
        if text:
            self._texts[oid] = text
            book.cancel(oid)
        else:
            if rec.flags & _CLOSE:
                self._close_cancels(inst, rec, qty)
            rec.conditional = False
            rec.close_all = False
            book.activate(oid, qty)
        self._apply(sym, book.drain_events())

    # ================================================================ risk helpers
    def _position(self, a: int, sym: str) -> Position:
        pos = self._positions.get((a, sym))
        if pos is None:
            pos = self._positions[(a, sym)] = Position(a, sym, self._inst[sym].risk_limit)
        return pos

    def _capacity(self, a: int, sym: str, side: int) -> int:
        """Contracts an order on ``side`` can close (0 when it would open or increase)."""
        pos = self._positions.get((a, sym))
        p = pos.qty if pos else 0
        return -p if side == _BUY and p < 0 else (p if side == _SELL and p > 0 else 0)

    def _resting(self, a: int, sym: str) -> list[OrderRecord]:
        return [self._orders[o] for o in self._live.get((a, sym), ()) if not self._orders[o].conditional]

    def _shrink(self, sym: str, victims: list[OrderRecord], excess: int, cancel_text: str,
                amend_text: str | None) -> None:
        """Cuts ``excess`` contracts off ``victims`` (already least aggressive first)."""
        book = self._books[sym]
        for rec in victims:
            if excess <= 0:
                return
            cut = min(excess, rec.leaves_qty)
            excess -= cut
            if cut == rec.leaves_qty or amend_text is None:
                self._texts[rec.order_id] = cancel_text
                book.cancel(rec.order_id)
            else:
                self._texts[rec.order_id] = amend_text
                book.amend(rec.order_id, rec.leaves_qty - cut)
            self._apply(sym, book.drain_events())

    @staticmethod
    def _least_aggressive(recs: list[OrderRecord]) -> list[OrderRecord]:
        return sorted(recs, key=lambda r: (r.sign * r.price, -r.order_id))

    def _enforce_reduce_only(self, a: int, sym: str) -> None:
        ros = [r for r in map(self._orders.__getitem__, self._reduce_only.get((a, sym), ()))
               if not r.conditional]
        if not ros:
            return
        pos = self._positions.get((a, sym))
        p = pos.qty if pos else 0
        closing = _SELL if p > 0 else _BUY
        wrong = [r for r in ros if p == 0 or r.side != closing]
        self._shrink(sym, wrong, sum(r.leaves_qty for r in wrong), REDUCE_ONLY_CANCELED, None)
        right = [r for r in ros if p != 0 and r.side == closing]
        excess = sum(r.leaves_qty for r in right) - abs(p)
        self._shrink(sym, self._least_aggressive(right), excess, REDUCE_ONLY_CANCELED, REDUCE_ONLY_CLIPPED)

    def _close_cancels(self, inst: Instrument, rec: OrderRecord, qty: int) -> None:
        """Close: other same-side resting orders are canceled, least aggressive first, while
        the side's open quantity exceeds the position."""
        others = [r for r in self._resting(rec.account, inst.symbol)
                  if r.side == rec.side and r.order_id != rec.order_id]
        excess = qty + sum(r.leaves_qty for r in others) - self._capacity(rec.account, inst.symbol, rec.side)
        self._shrink(inst.symbol, self._least_aggressive(others), excess, CLOSE_CANCELED_OTHER, None)

    def _init_rate(self, inst: Instrument, pos: Position | None) -> Fraction | float:
        if pos is not None and pos.leverage > 0:
            num, den = exact_rate(pos.leverage, "leverage")
            return Fraction(den, num)
        return inst.init_rate(inst.steps_for_risk_limit(pos.risk_limit) if pos else 0)

    def _order_margin(self, a: int, sym: str, extra: OpenOrder | None = None,
                      replace_id: int = 0) -> int:
        inst = self._inst[sym]
        orders = [OpenOrder(r.sign * r.leaves_qty, r.price, r.reduce_only)
                  for r in self._resting(a, sym) if r.order_id != replace_id]
        if extra is not None:
            orders.append(extra)
        if not orders:
            return 0
        pos = self._positions.get((a, sym))
        bid = self._books[sym].best_bid()
        return order_margin(inst, pos.qty if pos else 0, orders, self._init_rate(inst, pos),
                            mark_e8=self._marks.get(sym), best_bid_ticks=bid or None).total

    def _position_margin(self, inst: Instrument, pos: Position) -> int:
        if pos.qty == 0 and pos.extra_margin == 0:
            return 0
        rate = inst.init_rate(inst.steps_for_risk_limit(pos.risk_limit))
        return position_init_margin(pos.cost, leverage=pos.leverage, init_rate=rate,
                                    extra_margin=pos.extra_margin)

    def _upnl(self, inst: Instrument, pos: Position) -> int:
        mark = self._marks.get(inst.symbol)
        return inst.unrealised_pnl(pos.qty, pos.cost, mark) if mark and pos.qty else 0

    def _available(self, a: int, ccy: str, known: tuple[str, int] | None = None) -> int:
        """Wallet - position margins - order margins + cross unrealised losses (§1.2, §2.1).
        ``known`` = (symbol, its order margin) when the caller has just computed it."""
        total = self._ledger.balance(ccy, ("wallet", a))
        for sym in self._by_ccy[ccy]:
            inst = self._inst[sym]
            pos = self._positions.get((a, sym))
            if pos is not None:
                total -= self._position_margin(inst, pos)
                if pos.leverage == 0:
                    total += min(0, self._upnl(inst, pos))
            if known is not None and known[0] == sym:
                total -= known[1]
            elif (a, sym) in self._live:
                total -= self._order_margin(a, sym)
        return total

    def _price_estimate(self, inst: Instrument, side: int, qty: int) -> int:
        """The displayed price at which a market order of ``qty`` would complete."""
        book = self._books[inst.symbol]
        bids, asks = book.depth(32)
        price, need = 0, qty
        for price, level in (asks if side == _BUY else bids):
            need -= level
            if need <= 0:
                return price
        mark = self._marks.get(inst.symbol)
        if mark:
            m = inst.e8_to_ticks_ceil(mark) if side == _BUY else max(1, inst.e8_to_ticks_floor(mark))
            return max(price, m) if side == _BUY else (min(price, m) if price else m)
        return price

    def _margin_reject(self, inst: Instrument, rec: OrderRecord, qty: int, price: int | None = None,
                       replace: bool = False) -> str:
        """The BitMEX reject text when the order's extra order margin exceeds the available
        balance, else ''. Reduce-only orders never get here (they carry no margin)."""
        if price is None:
            price = rec.price if rec.ord_type not in MARKET_TYPES else \
                self._price_estimate(inst, rec.side, qty)
        if price <= 0:
            return ""
        a, sym = rec.account, inst.symbol
        before = self._order_margin(a, sym)
        after = self._order_margin(a, sym, OpenOrder(rec.sign * qty, price),
                                   rec.order_id if replace else 0)
        required = after - before
        if required > 0 and required > self._available(a, inst.settle_currency, (sym, before)):
            return insufficient_text(required, inst.settle_currency)
        return ""
