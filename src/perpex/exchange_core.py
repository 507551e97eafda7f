"""The engine core under :class:`perpex.exchange.Exchange`: command validation helpers, the
engine loop's less frequent steps (triggers released one at a time, the reduce-only rule,
Close) and the pre-trade risk helpers, over :class:`perpex._core.EngineCore`, which holds the
state every command touches and runs the steps every order takes (sequencing, placing,
applying the book's events: fills booked as ledger transfers). Split from the public command
surface only to keep files focused; the behaviour is described in :mod:`perpex.exchange`."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numbers
from typing import Any, Mapping, NamedTuple

from perpex import _native
# LIQUIDATION_TEXT is re-exported: the risk modules import the engine's constants from here
from perpex._core import LIQUIDATION_ACCOUNT, LIQUIDATION_TEXT, MAX_ACCOUNT  # noqa: F401
from perpex.book import BookView as DepthView
from perpex.accounts.ledger import CurrencyAudit
from perpex.accounts.position import Position
from perpex.errors import (
    ArithmeticOverflowError, EngineHaltedError, InvalidInputError, NonMonotonicTimeError,
    UnknownAccountError, UnknownOrderError, UnknownSymbolError)
from perpex.exchange_margin import MarginCore
from perpex.instruments import Instrument
from perpex.orders import (
    CLOSE_CANCELED_OTHER, CLOSE_NO_POSITION, REDUCE_ONLY_CANCELED,
    REDUCE_ONLY_CLIPPED, REDUCE_ONLY_WOULD_INCREASE, OrderRecord, Outcome, execution)
from perpex.rounding import INT64_MAX, signed_ticks

_BUY, _SELL = _native.BUY, _native.SELL
_CLOSE = _native.FLAG_CLOSE


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


class ExchangeCore(MarginCore, ABC):
    """State holder and engine loop shared by the command, query, batch and pricing parts."""

    _symbols: list[str]
    _accounts: dict[int, None]
    _tx: dict[object, tuple]
    # (account, contract) -> (resting liquidation order, ts its wait ends): exchange_risk
    _liq_holds: dict[tuple[int, str], tuple[int, int]]
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

    def _run_due_holds(self) -> None:
        pass

    def _next_hold_ms(self) -> int | None:
        return None

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

    @staticmethod
    def _signed_ticks(inst: Instrument, value: object, name: str) -> int:
        if value is None:
            raise TypeError(f"{name} is required for a TrailingStopPeg order")
        return signed_ticks(value, inst.price_to_ticks, name)  # type: ignore[arg-type]

    def _command_reject(self, inst: Instrument | None, account: int, text: str,
                        rec: OrderRecord | None = None) -> Outcome:
        """A rejected non-order command (cancel, amend, leverage ...): an execution with
        execType Rejected that leaves any order as it was."""
        if self._emit:
            if rec is not None and inst is not None:
                status = "PartiallyFilled" if rec.cum_qty else "New"
                ev: Mapping[str, Any] = execution(inst, rec, "Rejected", status, seq=self._seq,
                                                  ts=self._ts, text=text)
            else:
                ev = {"seq": self._seq, "transactTime": self._ts, "execType": "Rejected",
                      "account": account, "symbol": inst.symbol if inst else None, "text": text}
            self._events.append(ev)
        return Outcome(self._seq, False, text, rec.order_id if rec else None)

    # ================================================================ the engine loop
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
                text = CLOSE_NO_POSITION if rec.close_all else REDUCE_ONLY_WOULD_INCREASE
        else:
            text = self._margin_reject(inst, rec, qty)
        text = text or self._closing_reject(inst, rec, qty)
        if text:
            self._texts[oid] = "Canceled: " + text
            book.cancel(oid)
        else:
            if rec.flags & _CLOSE:
                self._close_cancels(inst, rec, qty)
            rec.conditional = False
            rec.close_all = False
            book.activate(oid, qty)
        self._apply_events(sym)
        if oid in self._orders:
            self._open_sync(rec)

    # ================================================================ risk helpers
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
            self._apply_events(sym)

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
