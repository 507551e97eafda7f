"""The engine core under :class:`perpex.exchange.Exchange`: sequencing, the loop that applies
native-book events (fills booked as ledger transfers, triggers released one at a time) and the
pre-trade risk helpers. Split from the public command surface only to keep files focused; the
behaviour is described in :mod:`perpex.exchange`."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numbers
from collections import deque
from typing import Any, Callable, Mapping, NamedTuple

from perpex import _native
from perpex._fills import book_trade
from perpex.book import BookView as DepthView
from perpex.accounts.ledger import CurrencyAudit, Ledger
from perpex.accounts.position import Position
from perpex.errors import (
    ArithmeticOverflowError, EngineHaltedError, InvalidInputError, NonMonotonicTimeError,
    UnknownAccountError, UnknownOrderError, UnknownSymbolError)
from perpex.exchange_margin import MarginCore
from perpex.instruments import Instrument
from perpex.orders import (
    CANCEL_TEXTS, CLOSE_CANCELED_OTHER, CLOSE_NO_POSITION, REDUCE_ONLY_CANCELED,
    REDUCE_ONLY_CLIPPED, REDUCE_ONLY_WOULD_INCREASE, OrderRecord, Outcome, execution)
from perpex.risk.limits import RATE_LIMITED, RateLimiter, order_count_reject
from perpex.rounding import INT64_MAX, signed_ticks

# Outcome(...) runs the named tuple's generated __new__ in the bytecode loop (about 4,000
# instructions); the order path, which returns one per command with every field known, builds
# the tuple directly
_new_tuple = tuple.__new__

MAX_ACCOUNT = 2**32 - 1
LIQUIDATION_ACCOUNT = MAX_ACCOUNT  # reserved: the liquidation engine's account
LIQUIDATION_TEXT = "Liquidation"
_BUY, _SELL = _native.BUY, _native.SELL
_CLOSE, _REDUCE = _native.FLAG_CLOSE, _native.FLAG_REDUCE_ONLY
_EV_FILL, _EV_ACCEPTED, _EV_CANCELED = _native.EV_FILL, _native.EV_ACCEPTED, _native.EV_CANCELED
_EV_REJECTED, _EV_AMENDED, _EV_TRIGGERED = _native.EV_REJECTED, _native.EV_AMENDED, _native.EV_TRIGGERED


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
    if type(value) is not int:  # the common case skips the ABC check
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        value = int(value)
    if low is not None and value < low:
        raise InvalidInputError(f"{name}={value} must be >= {low}")
    if high is not None and value > high:
        raise ArithmeticOverflowError(f"{name}={value} exceeds the limit {high}")
    return value


def _fee(exec_cost: int, rate: tuple[int, int]) -> int:
    """``Instrument.fee`` with the rate as its exact (num, den) pair: |exec_cost| x rate, half
    away from zero."""
    num, den = rate
    a = (exec_cost if exec_cost >= 0 else -exec_cost) * num
    if den == 1:
        return a
    q, r = divmod(a if a >= 0 else -a, den)
    if 2 * r >= den:
        q += 1
    return q if a >= 0 else -q


class ExchangeCore(MarginCore, ABC):
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

    def _touch(self, a: int, ccy: str) -> None:
        pass

    def _lot_fill(self, inst: Instrument, rec: OrderRecord, px: int, q: int) -> None:
        pass

    def _overload_reject(self, inst: Instrument, rec: OrderRecord) -> str:
        return ""

    def _leverage_reject(self, inst: Instrument, a: int, leverage: float) -> str:
        return ""

    def _breaker_update(self, inst: Instrument, mark_e8: int) -> None:
        pass

    def _index_print(self, inst: Instrument, t: int, index_e8: int) -> None:
        pass

    def _liquidation_step(self, inst: Instrument, mark_e8: int) -> None:
        pass

    def _queue_reindex(self, keys: Mapping[tuple[int, str], None]) -> None:
        pass

    def _queue_linked(self, sym: str, cross_only: bool) -> None:
        pass

    def _sweep_residual(self, ccy: str) -> None:
        pass

    def _check_caches(self) -> None:
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
        if type(ts) is int and self._ts <= ts <= INT64_MAX:  # every well-formed command: no more checks
            return ts
        ts = _int("ts", ts, 0, INT64_MAX)
        if ts < self._ts:
            raise NonMonotonicTimeError(f"ts={ts} is earlier than the last command's ts={self._ts}")
        return ts

    def _commit(self, ts: int, fn: Callable[..., Outcome], *args: Any) -> Outcome:
        """Runs the mutating part of a validated command, ``fn(*args)`` (arguments rather than
        a closure: the per-order path would build one per call); anything escaping it halts."""
        self._ts = ts
        self._seq += 1
        self._done.clear()
        try:
            # the liquidation index is brought up to date when it is next read (exchange_risk)
            return fn(*args)
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
        if type(account) is int and account in self._accounts and account != LIQUIDATION_ACCOUNT:
            return account  # a known trader: the checks below could not fail
        a = _int("account", account, 0, MAX_ACCOUNT)
        if a == LIQUIDATION_ACCOUNT:
            raise InvalidInputError(f"account={a} is reserved for the liquidation engine")
        if a not in self._accounts:
            raise UnknownAccountError(f"account={a} is unknown (deposit first)")
        return a

    def _own_order(self, account: int, order_id: object) -> OrderRecord:
        oid = order_id if type(order_id) is int and order_id > 0 else _int("order_id", order_id, 1)
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
        self._next_id = oid + 1
        sym, a = inst.symbol, rec.account
        rate = self._rate
        if rate is not None and not rate.take(self._buckets, a, self._ts):
            return self._reject(inst, rec, RATE_LIMITED)
        if sym in self._settled:
            return self._reject(inst, rec, f"Instrument {sym} is settled")
        text = self._overload_reject(inst, rec)
        if text:
            return self._reject(inst, rec, text)
        key = (a, sym)
        live_all = self._live
        live = live_all.get(key)
        n_live = len(live) if live is not None else 0
        cond, ro = rec.conditional, rec.flags & _REDUCE
        if cond or n_live >= self._max_open:
            orders = self._orders
            stops = sum(1 for o in live if orders[o].conditional) if cond and live else 0
            count_text = order_count_reject(n_live, stops, cond,
                                            max_open=self._max_open, max_stop=self._max_stop)
            if count_text:
                return self._reject(inst, rec, count_text)
        if not cond:
            if ro:
                cap = self._capacity(a, sym, rec.side)
                if cap == 0:
                    return self._reject(inst, rec, CLOSE_NO_POSITION if rec.close_all
                                        else REDUCE_ONLY_WOULD_INCREASE)
                q = cap if rec.close_all else min(rec.leaves_qty, cap)
                rec.order_qty = rec.leaves_qty = q
                rec.close_all = False
            else:
                text = self._margin_reject(inst, rec, rec.leaves_qty)
                if text:
                    return self._reject(inst, rec, text)
            if rec.flags & _CLOSE:
                self._close_cancels(inst, rec, rec.leaves_qty)
                live = live_all.get(key)  # the cancels may have emptied the key
        self._orders[oid] = rec
        if live is None:
            live_all[key] = {oid: None}
        else:
            live[oid] = None
        if rec.cl_ord_id:
            self._cl_ids[(a, rec.cl_ord_id)] = oid
        if ro:
            self._reduce_only.setdefault(key, {})[oid] = None
            self._dirty[a] = None
        self._books[sym].add(oid, a, rec.side, rec.price, rec.leaves_qty, rec.ord_type, rec.tif,
                             rec.flags, rec.display_qty, rec.stop_px, rec.peg_offset, rec.feed)
        self._drive(sym)
        return self._order_outcome(rec)

    def _cancel_now(self, rec: OrderRecord) -> Outcome:
        """Cancels ``rec``, a live order of its account (``cancel`` and batch cancel rows)."""
        if not self._take_token(rec.account):
            return self._command_reject(self._inst[rec.symbol], rec.account, RATE_LIMITED, rec)
        self._books[rec.symbol].cancel(rec.order_id, rec.account)
        self._drive(rec.symbol)
        return self._order_outcome(rec)

    def _order_outcome(self, rec: OrderRecord) -> Outcome:
        done = self._done.get(rec.order_id)
        if done is not None:
            status, text, leaves, cum = done
            return _new_tuple(Outcome, (self._seq, status != "Rejected", text, rec.order_id,
                                        status, leaves, cum, 0, 0))
        status = "PartiallyFilled" if rec.cum_qty else "New"
        return _new_tuple(Outcome, (self._seq, True, "", rec.order_id, status, rec.leaves_qty,
                                    rec.cum_qty, 0, 0))

    def _reject(self, inst: Instrument, rec: OrderRecord, text: str) -> Outcome:
        rec.leaves_qty = 0
        if self._emit:
            self._events.append(execution(inst, rec, "Rejected", "Rejected", seq=self._seq,
                                          ts=self._ts, text=text))
        return _new_tuple(Outcome, (self._seq, False, text, rec.order_id or None, "Rejected", 0,
                                    rec.cum_qty, 0, 0))

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
        self._apply(sym, self._books[sym].drain_event_tuples())
        if self._dirty or self._held:
            self._drive_rest(sym)

    def _drive_rest(self, sym: str) -> None:
        """The part of :meth:`_drive` after the book's events are applied."""
        while True:
            if self._dirty:
                dirty = sorted(self._dirty)
                self._dirty.clear()
                ros = self._reduce_only
                for a in dirty:
                    if (a, sym) in ros:  # nothing to enforce without reduce-only orders
                        self._enforce_reduce_only(a, sym)
            if not self._held:
                return
            self._release(sym, self._held.popleft())

    def _apply(self, sym: str, events: list[tuple[int, ...]]) -> None:
        """Applies the book's events (``drain_event_tuples()``) to orders, accounts and output."""
        inst = self._inst[sym]
        orders = self._orders
        for (typ, side, reason, _cmd, oid, mid, acct, macct, px, qty, leaves,
             mleaves) in events:
            if typ == _EV_FILL:
                self._fill(inst, orders[oid], orders[mid], px, qty, leaves, mleaves)
                continue
            rec = orders[oid]
            if typ == _EV_ACCEPTED:
                self._open_sync(rec)
                if self._emit:
                    self._events.append(execution(inst, rec, "New", "New", seq=self._seq, ts=self._ts))
            elif typ == _EV_CANCELED or typ == _EV_REJECTED:
                rec.leaves_qty = 0
                text = self._texts.pop(oid, None) or CANCEL_TEXTS.get(reason, "Canceled")
                status = "Canceled" if typ == _EV_CANCELED else "Rejected"
                self._finish(inst, rec, status, status, text)
            elif typ == _EV_AMENDED:
                rec.leaves_qty = leaves
                if rec.conditional:
                    rec.stop_px = px
                if not (rec.close_all and rec.conditional):
                    rec.order_qty = rec.cum_qty + leaves
                self._open_sync(rec)
                if self._emit:
                    self._events.append(execution(
                        inst, rec, "Replaced", "PartiallyFilled" if rec.cum_qty else "New",
                        seq=self._seq, ts=self._ts, text=self._texts.pop(oid, "")))
            elif typ == _EV_TRIGGERED:
                rec.triggered = True
                rec.stop_px = px
                if self._emit:
                    self._events.append(execution(inst, rec, "Triggered", "New", seq=self._seq, ts=self._ts))
                self._held.append(oid)

    def _finish(self, inst: Instrument, rec: OrderRecord, exec_type: str, status: str,
                text: str, last_qty: int = 0, last_px: int = 0, exec_cost: int = 0,
                exec_comm: int = 0, liquidity: str = "") -> None:
        oid = rec.order_id
        del self._orders[oid]
        self._open_drop(rec)
        key = (rec.account, rec.symbol)
        if self._lots:
            self._lots.pop(oid, None)
        liq = self._liq_orders
        if liq and oid in liq:
            del liq[oid]
            text = text or LIQUIDATION_TEXT
        live_all = self._live
        live = live_all[key]
        del live[oid]
        if not live:
            del live_all[key]
        if rec.flags & _REDUCE:
            ros = self._reduce_only[key]
            del ros[oid]
            if not ros:
                del self._reduce_only[key]
        if rec.cl_ord_id:
            del self._cl_ids[(rec.account, rec.cl_ord_id)]
        self._done[oid] = (status, text, rec.leaves_qty, rec.cum_qty)
        if self._emit:
            ev = execution(inst, rec, exec_type, status, seq=self._seq, ts=self._ts, text=text,
                           last_qty=last_qty, last_px=last_px, exec_cost=exec_cost,
                           exec_comm=exec_comm, liquidity=liquidity)
            self._events.append(ev)
            if exec_type == "Trade":
                self._executions.append(ev)

    def _fill(self, inst: Instrument, taker: OrderRecord, maker: OrderRecord, px: int, q: int,
              leaves: int, mleaves: int) -> None:
        sym, ccy = inst.symbol, inst.settle_currency
        cost = inst.exec_cost(q, px)  # the buyer's; the seller's is -cost
        ta, ma = taker.account, maker.account
        positions = self._positions
        tpos = positions.get((ta, sym)) or self._position(ta, sym)
        mpos = tpos if ma == ta else positions.get((ma, sym)) or self._position(ma, sym)
        mdisp = maker.display_qty
        taker_rate, maker_rate = self._fee_ratios[sym]
        tfee = 0 if ta == LIQUIDATION_ACCOUNT else _fee(cost, taker_rate)
        # a hidden maker, or an iceberg filled beyond its displayed slice, pays the taker rate
        mfee = 0 if ma == LIQUIDATION_ACCOUNT else _fee(
            cost, taker_rate if mdisp == 0 or (mdisp > 0 and mleaves > mdisp) else maker_rate)
        if taker.side == _BUY:
            buyer, seller, bfee, sfee = tpos, mpos, tfee, mfee
        else:
            buyer, seller, bfee, sfee = mpos, tpos, mfee, tfee
        book_trade(self._ledger, ccy, buyer, seller, q, cost, bfee, sfee)
        if ta == LIQUIDATION_ACCOUNT:
            self._lot_fill(inst, taker, px, q)
        if ma == LIQUIDATION_ACCOUNT:
            self._lot_fill(inst, maker, px, q)
        touch = self._touch
        touch(ta, ccy)
        touch(ma, ccy)
        dirty = self._dirty
        dirty[ta] = None
        dirty[ma] = None
        emit = self._emit
        for rec, left, fee, liq in ((taker, leaves, tfee, "RemovedLiquidity"),
                                    (maker, mleaves, mfee, "AddedLiquidity")):
            rec.leaves_qty = left
            rec.cum_qty += q
            rec.px_qty += px * q
            signed = cost if rec.side == _BUY else -cost
            if left == 0:
                self._finish(inst, rec, "Trade", "Filled", "", q, px, signed, fee, liq)
                continue
            self._open_sync(rec)
            if emit:
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
        self._apply(sym, book.drain_event_tuples())
        if oid in self._orders:
            self._open_sync(rec)

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
            self._apply(sym, book.drain_event_tuples())

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
