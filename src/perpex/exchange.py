"""`Exchange`: the one sequenced entry point. Commands in, BitMEX-shaped events out.

Every command takes a simulated ``ts`` (int ms, non-decreasing) and goes through the same
pipeline (DESIGN.md): validate everything -> take a ``seq`` -> pre-trade risk (rate limit, order
counts, ReduceOnly/Close, order margin) -> native book -> fills booked as ledger transfers ->
held triggers re-checked and released -> events. Malformed input raises a ``perpex.errors``
exception before anything changes; business rejects are outcomes (``Outcome.accepted`` False, an
execution with ``ordStatus`` Rejected) that change nothing but ``seq``, the order-id counter and
the rate-limit bucket.

State is plain Python data (dicts of ints/strs, slot dataclasses, the ledger) plus one native
book per instrument, so ``export_state()`` and ``state_hash()`` cover all of it and every
command is a pure function of (state, command). Events and the execution history are output,
not state. Money moves only through :class:`~perpex.accounts.ledger.Ledger` transfers, so for
every currency the ledgers sum to exactly zero (``audit()``).

Engine choices where the documents are silent:
- a rejected order consumes an order id (BitMEX reports one), and its request consumes a token;
- untriggered conditional orders reserve no margin; it is checked when they trigger, and an
  order that no longer fits is canceled with BitMEX's balance text;
- a market order's margin is estimated at the displayed price that would fill it (the mark when
  the book is too thin); before the first mark of a contract its unrealised PnL counts as 0;
- resting ReduceOnly orders never exceed the position: after every fill they are amended down
  or canceled, least aggressive first (the newest first at equal prices); untriggered ones are
  re-checked only when they trigger;
- a hidden maker pays the taker fee; an iceberg maker pays it while hidden quantity remains.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections import deque
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from perpex import _native
from perpex.accounts.ledger import EXTERNAL, CurrencyAudit, Ledger, wallet
from perpex.accounts.margin import (
    OpenOrder, commission_to_close, maintenance_margin, order_margin, position_init_margin)
from perpex.accounts.position import Position, book_fee, book_fill
from perpex.book import EXEC_FLAGS, FEEDS, ORD_TYPES, SIDES, TIFS
from perpex.errors import (
    ArithmeticOverflowError, DuplicateOrderIdError, EngineHaltedError, InsufficientFundsError,
    InvalidInputError, InvalidLeverageError, InvalidPriceError, InvalidQuantityError,
    InvariantViolation, NonMonotonicTimeError, UnknownAccountError, UnknownOrderError,
    UnknownSymbolError)
from perpex.instruments import Instrument
from perpex.orders import (
    CANCEL_TEXTS, CLOSE_CANCELED_OTHER, CLOSE_NO_POSITION, CONDITIONAL_TYPES, MARKET_TYPES,
    REDUCE_ONLY_CANCELED, REDUCE_ONLY_CLIPPED, REDUCE_ONLY_WOULD_INCREASE, OrderRecord, Outcome,
    execution, insufficient_text, order_view)
from perpex.pricing import to_e8
from perpex.risk.limits import RATE_LIMITED, RateLimiter, order_count_reject
from perpex.risk.prices import bankruptcy_price, round_toward_entry
from perpex.rounding import exact_rate

__all__ = ["Audit", "BookView", "Exchange", "ORDER_DTYPE", "RESULT_DTYPE"]

STATE_VERSION = 1
MAX_ACCOUNT = 2**32 - 1
_BUY, _SELL = _native.BUY, _native.SELL
_CLOSE, _REDUCE = _native.FLAG_CLOSE, _native.FLAG_REDUCE_ONLY

# Batch path: one row per simple command. op: 1 limit (price in ticks), 2 market, 3 cancel.
OP_LIMIT, OP_MARKET, OP_CANCEL = 1, 2, 3
ORDER_DTYPE = np.dtype([("ts", "<i8"), ("account", "<u4"), ("symbol", "u1"), ("op", "u1"),
                        ("side", "u1"), ("_pad", "u1"), ("qty", "<i8"), ("price", "<i8"),
                        ("order_id", "<u8")])
STATUS_OK, STATUS_REJECTED, STATUS_UNKNOWN_ORDER = 0, 1, 2
RESULT_DTYPE = np.dtype([("seq", "<u8"), ("order_id", "<u8"), ("status", "u1"),
                         ("leaves", "<i8"), ("cum", "<i8")])
MAX_BATCH = 1 << 24


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


class BookView:
    """Read-only depth of one contract in human prices."""

    def __init__(self, instrument: Instrument, native: Any) -> None:
        self.instrument, self.native = instrument, native

    def best_bid(self) -> Decimal | None:
        t = self.native.best_bid()
        return self.instrument.ticks_to_price(t) if t else None

    def best_ask(self) -> Decimal | None:
        t = self.native.best_ask()
        return self.instrument.ticks_to_price(t) if t else None

    def depth(self, n: int = 10) -> tuple[list[tuple[Decimal, int]], list[tuple[Decimal, int]]]:
        bids, asks = self.native.depth(n)
        f = self.instrument.ticks_to_price
        return [(f(p), q) for p, q in bids], [(f(p), q) for p, q in asks]


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


class Exchange:
    """BitMEX-style exchange over one native book per instrument (see the module docstring)."""

    def __init__(self, instruments: Iterable[Instrument], *,
                 rate_limit: tuple[int, float] | None = None, max_open_orders: int = 200,
                 max_stop_orders: int = 10, max_executions: int = 100_000) -> None:
        insts = list(instruments)
        if not insts or not all(isinstance(i, Instrument) for i in insts):
            raise TypeError("instruments must be a non-empty iterable of Instrument")
        self._inst = {i.symbol: i for i in sorted(insts, key=lambda i: i.symbol)}
        if len(self._inst) != len(insts):
            raise InvalidInputError("instrument symbols must be unique")
        self._symbols = list(self._inst)
        self._by_ccy: dict[str, list[str]] = {}
        for sym, inst in self._inst.items():
            self._by_ccy.setdefault(inst.settle_currency, []).append(sym)
        self._books = {s: _native.OrderBook(True, 4096) for s in self._symbols}
        self._rate = None if rate_limit is None else RateLimiter(*rate_limit)
        self._max_open = _int("max_open_orders", max_open_orders, 1)
        self._max_stop = _int("max_stop_orders", max_stop_orders, 0)
        self._max_exec = _int("max_executions", max_executions, 0)
        # ---- state (everything below is serialised by export_state / state_hash)
        self._ledger = Ledger()
        self._accounts: dict[int, None] = {}
        self._positions: dict[tuple[int, str], Position] = {}
        self._orders: dict[int, OrderRecord] = {}
        self._live: dict[tuple[int, str], dict[int, None]] = {}
        self._cl_ids: dict[tuple[int, str], int] = {}
        self._marks: dict[str, int] = {}
        self._buckets: dict[int, list[int]] = {}
        self._tx: dict[object, tuple] = {}
        self._seq = 0
        self._ts = 0
        self._next_id = 1
        self._halted: str | None = None
        # ---- output and per-command scratch (not state)
        self._events: list[dict[str, Any]] = []
        self._executions: deque[dict[str, Any]] = deque(maxlen=self._max_exec or None)
        self._emit = True
        self._held: deque[int] = deque()
        self._dirty: dict[int, None] = {}
        self._texts: dict[int, str] = {}
        self._done: dict[int, tuple[str, str, int, int]] = {}

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
            return fn()
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

    # ================================================================ money commands
    def deposit(self, account: int, amount: int, *, currency: str = "XBt",
                tx_id: object = None, ts: int | None = None) -> Outcome:
        return self._money("deposit", account, amount, currency, tx_id, ts)

    def withdraw(self, account: int, amount: int, *, currency: str = "XBt",
                 tx_id: object = None, ts: int | None = None) -> Outcome:
        return self._money("withdraw", account, amount, currency, tx_id, ts)

    def _money(self, kind: str, account: object, amount: object, currency: object,
               tx_id: object, ts: object) -> Outcome:
        self._check_live()
        t = self._check_ts(ts)
        a = _int("account", account, 0, MAX_ACCOUNT)
        n = _int("amount", amount, None, 2**63 - 1)
        if n <= 0:
            raise InvalidInputError(f"{kind} amount={n} must be > 0")
        if currency not in self._by_ccy:
            raise InvalidInputError(f"currency={currency!r} must be one of {', '.join(sorted(self._by_ccy))}")
        if tx_id is not None:
            if isinstance(tx_id, bool) or not isinstance(tx_id, (str, int)):
                raise TypeError(f"tx_id must be a str or int, got {type(tx_id).__name__}")
            key = (type(tx_id).__name__, tx_id)
            seen = self._tx.get(key)
            if seen is not None:
                if seen[:4] != (kind, a, n, currency):
                    raise InvalidInputError(f"tx_id={tx_id!r} was already used for {seen[:4]}")
                return seen[4]
        if kind == "withdraw":
            if a not in self._accounts:
                raise UnknownAccountError(f"account={a} is unknown (deposit first)")
            avail = self._available(a, currency)  # type: ignore[arg-type]
            if n > avail:
                raise InsufficientFundsError(
                    f"withdraw amount={n} exceeds the available balance {max(avail, 0)} {currency}")

        def run() -> Outcome:
            self._accounts[a] = None
            src, dst = (EXTERNAL, wallet(a)) if kind == "deposit" else (wallet(a), EXTERNAL)
            self._ledger.transfer(currency, src, dst, n, kind)  # type: ignore[arg-type]
            out = Outcome(self._seq, amount=n)
            if tx_id is not None:
                self._tx[(type(tx_id).__name__, tx_id)] = (kind, a, n, currency, out)
            return out
        return self._commit(t, run)

    # ================================================================ order commands
    def place(self, account: int, symbol: str, side: str, qty: int | None, price: object = None,
              ord_type: str | None = None, time_in_force: str = "GoodTillCancel",
              exec_inst: Iterable[str] | str = (), display_qty: int | None = None,
              stop_px: object = None, peg_price_type: str | None = None,
              peg_offset_value: object = None, cl_ord_id: str | None = None, *,
              ts: int | None = None) -> Outcome:
        """Places an order with BitMEX semantics; ordType defaults to Limit with a price,
        Stop with a stopPx (or a trailing peg), StopLimit with both, else Market."""
        self._check_live()
        t = self._check_ts(ts)
        a = self._account(account)
        inst = self._instrument(symbol)
        s = _choice("side", side, SIDES)
        if ord_type is None:
            cond = stop_px is not None or peg_price_type is not None
            ord_type = ("StopLimit" if price is not None else "Stop") if cond else (
                "Limit" if price is not None else "Market")
        ot = _choice("ord_type", ord_type, ORD_TYPES)
        tif = _choice("time_in_force", time_in_force, TIFS)
        conditional = ot in CONDITIONAL_TYPES
        market = ot in MARKET_TYPES
        if isinstance(exec_inst, str):
            exec_inst = [x.strip() for x in exec_inst.split(",") if x.strip()]
        flags, feed = 0, _native.FEED_MARK
        for inst_name in exec_inst:
            if inst_name in FEEDS:
                if not conditional:
                    raise InvalidInputError(f"exec_inst {inst_name} applies only to conditional orders")
                feed = FEEDS[inst_name]
            else:
                flags |= _choice("exec_inst", inst_name, {**EXEC_FLAGS, **FEEDS})
        close_all = False
        if qty is None:
            if not flags & _CLOSE:
                raise TypeError("qty must be an int number of contracts (None only with exec_inst Close)")
            close_all = True
            q = inst.max_order_qty - inst.max_order_qty % inst.lot_size
        else:
            q = inst.check_qty(qty, "qty")
        if market:
            if price is not None:
                raise InvalidInputError(f"ord_type={ord_type} takes no price")
            p = 0
        else:
            if price is None:
                raise TypeError(f"price is required for ord_type={ord_type}, got None")
            p = inst.price_to_ticks(price)  # type: ignore[arg-type]
        stop = peg = 0
        if peg_price_type is not None:
            if peg_price_type != "TrailingStopPeg" or not conditional:
                raise InvalidInputError(
                    f"peg_price_type={peg_price_type!r}: only TrailingStopPeg on a stop or if-touched order")
            if stop_px is not None:
                raise InvalidInputError("a trailing stop takes peg_offset_value, not stop_px")
            peg = self._signed_ticks(inst, peg_offset_value, "peg_offset_value")
            rises = (s == _BUY) == (ot in (_native.STOP, _native.STOP_LIMIT))
            if (peg > 0) != rises:
                raise InvalidPriceError(f"peg_offset_value={peg_offset_value} must be "
                                        f"{'> 0' if rises else '< 0'} for this trailing order")
            flags |= _native.FLAG_TRAILING
            ref = self._books[inst.symbol].last_price(feed)
            if ref and ref + peg <= 0:
                raise InvalidPriceError(f"peg_offset_value={peg_offset_value} puts the stop at or below 0")
        elif conditional:
            if stop_px is None:
                raise TypeError(f"stop_px is required for ord_type={ord_type}, got None")
            stop = inst.price_to_ticks(stop_px, "stop_px")  # type: ignore[arg-type]
        elif stop_px is not None:
            raise InvalidInputError(f"ord_type={ord_type} takes no stop_px")
        if flags & _native.FLAG_POST_ONLY and (market or tif != _native.GTC):
            raise InvalidInputError("exec_inst ParticipateDoNotInitiate needs a GoodTillCancel limit order")
        disp = -1
        if display_qty is not None:
            disp = _int("display_qty", display_qty, 0)
            if market:
                raise InvalidQuantityError(f"display_qty={disp}: market-type orders cannot hide quantity")
        if max(p, stop) * q > 2**63 - 1:
            raise ArithmeticOverflowError(f"notional {max(p, stop)} ticks x qty={q} overflows int64")
        cl = ""
        if cl_ord_id is not None:
            if not isinstance(cl_ord_id, str) or not cl_ord_id or len(cl_ord_id) > 36:
                raise InvalidInputError(f"cl_ord_id={cl_ord_id!r} must be a str of 1-36 characters")
            if (a, cl_ord_id) in self._cl_ids:
                raise DuplicateOrderIdError(f"cl_ord_id={cl_ord_id!r} is already used by a live order "
                                            f"of account {a}")
            cl = cl_ord_id
        rec = OrderRecord(0, a, inst.symbol, s, ot, tif, flags, feed, p, stop, peg, disp, q, q,
                          cl_ord_id=cl, close_all=close_all, conditional=conditional)
        return self._commit(t, lambda: self._place(inst, rec))

    @staticmethod
    def _signed_ticks(inst: Instrument, value: object, name: str) -> int:
        if value is None:
            raise TypeError(f"{name} is required for a TrailingStopPeg order")
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) \
                and not (isinstance(value, float) and math.isnan(value)) and value < 0:
            return -inst.price_to_ticks(-value, name)  # type: ignore[operator]
        return inst.price_to_ticks(value, name)  # type: ignore[arg-type]

    def _place(self, inst: Instrument, rec: OrderRecord) -> Outcome:
        rec.order_id = oid = self._next_id
        self._next_id += 1
        sym, a = inst.symbol, rec.account
        if not self._take_token(a):
            return self._reject(inst, rec, RATE_LIMITED)
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

    def amend(self, account: int, order_id: int, qty: int | None = None,
              leaves_qty: int | None = None, price: object = None, stop_px: object = None, *,
              ts: int | None = None) -> Outcome:
        """Amends orderQty (``qty``) or ``leaves_qty``, ``price`` and/or ``stop_px``.
        Reducing quantity keeps priority; anything else sends the order to the back."""
        self._check_live()
        t = self._check_ts(ts)
        a = self._account(account)
        rec = self._own_order(a, order_id)
        inst = self._inst[rec.symbol]
        if qty is not None and leaves_qty is not None:
            raise InvalidInputError("amend takes qty (orderQty) or leaves_qty, not both")
        new_leaves = None
        if qty is not None:
            q = inst.check_qty(qty, "qty")  # type: ignore[arg-type]
            if q <= rec.cum_qty:
                raise InvalidQuantityError(f"qty={q} must exceed the filled cumQty={rec.cum_qty}")
            new_leaves = q - rec.cum_qty
        elif leaves_qty is not None:
            new_leaves = inst.check_qty(leaves_qty, "leaves_qty")  # type: ignore[arg-type]
        new_price = None
        if price is not None:
            if rec.ord_type in MARKET_TYPES:
                raise InvalidInputError(f"order_id={rec.order_id} is a market-type order: no price to amend")
            new_price = inst.price_to_ticks(price)  # type: ignore[arg-type]
        new_stop = None
        if stop_px is not None:
            if not rec.conditional or rec.flags & _native.FLAG_TRAILING:
                raise InvalidInputError(f"order_id={rec.order_id} has no amendable stop_px")
            new_stop = inst.price_to_ticks(stop_px, "stop_px")  # type: ignore[arg-type]
        if new_leaves is None and new_price is None and new_stop is None:
            raise InvalidInputError("amend needs at least one of qty, leaves_qty, price, stop_px")
        lv = rec.leaves_qty if new_leaves is None else new_leaves
        if max(new_price or rec.price, new_stop or rec.stop_px) * lv > 2**63 - 1:
            raise ArithmeticOverflowError(f"notional of qty={lv} overflows int64")

        def run() -> Outcome:
            if not self._take_token(a):
                return self._command_reject(inst, a, RATE_LIMITED, rec)
            if not rec.conditional and not rec.reduce_only:
                text = self._margin_reject(inst, rec, lv, new_price or rec.price, replace=True)
                if text:
                    return self._command_reject(inst, a, text, rec)
            if new_price is not None:
                rec.price = new_price
            if new_stop is not None:
                rec.stop_px = new_stop
            if new_leaves is not None and rec.close_all:
                rec.close_all = False
            if rec.reduce_only:
                self._dirty[a] = None
            self._books[rec.symbol].amend(rec.order_id, new_leaves, new_price, new_stop, None, a)
            self._drive(rec.symbol)
            return self._order_outcome(rec)
        return self._commit(t, run)

    def cancel(self, account: int, order_id: int, *, ts: int | None = None) -> Outcome:
        self._check_live()
        t = self._check_ts(ts)
        a = self._account(account)
        rec = self._own_order(a, order_id)

        def run() -> Outcome:
            if not self._take_token(a):
                return self._command_reject(self._inst[rec.symbol], a, RATE_LIMITED, rec)
            self._books[rec.symbol].cancel(rec.order_id, a)
            self._drive(rec.symbol)
            return self._order_outcome(rec)
        return self._commit(t, run)

    def cancel_all(self, account: int, symbol: str | None = None, *,
                   ts: int | None = None) -> Outcome:
        self._check_live()
        t = self._check_ts(ts)
        a = self._account(account)
        syms = self._symbols if symbol is None else [self._instrument(symbol).symbol]

        def run() -> Outcome:
            if not self._take_token(a):
                return self._command_reject(None, a, RATE_LIMITED)
            count = 0
            for sym in syms:
                if self._live.get((a, sym)):
                    count += len(self._live[(a, sym)])
                    self._books[sym].cancel_all(a)
                    self._drive(sym)
            return Outcome(self._seq, count=count)
        return self._commit(t, run)

    # ================================================================ position commands
    def set_leverage(self, account: int, symbol: str, leverage: float, *,
                     ts: int | None = None) -> Outcome:
        """0 = cross margin; otherwise isolated at ``leverage`` in (0, max for the risk limit]."""
        self._check_live()
        t = self._check_ts(ts)
        a = self._account(account)
        inst = self._instrument(symbol)
        if isinstance(leverage, bool) or not isinstance(leverage, (int, float, Decimal)):
            raise TypeError(f"leverage must be a number, got {type(leverage).__name__} {leverage!r}")
        lev = float(leverage)
        pos = self._positions.get((a, inst.symbol))
        steps = inst.steps_for_risk_limit(pos.risk_limit) if pos else 0
        top = inst.max_leverage(steps)
        if not math.isfinite(lev) or lev < 0 or lev > top:
            raise InvalidLeverageError(
                f"leverage={leverage} must be 0 (cross) or in (0, {top:g}] for the risk limit")
        return self._commit(t, lambda: self._reconfigure(inst, a, lev, None))

    def set_risk_limit(self, account: int, symbol: str, risk_limit: int, *,
                       ts: int | None = None) -> Outcome:
        self._check_live()
        t = self._check_ts(ts)
        a = self._account(account)
        inst = self._instrument(symbol)
        steps = inst.steps_for_risk_limit(_int("risk_limit", risk_limit, 1))
        if inst.init_rate(steps) > 1:
            raise InvalidInputError(f"risk_limit={risk_limit} needs an initial margin above 100%")
        return self._commit(t, lambda: self._reconfigure(inst, a, None, int(risk_limit)))

    def _reconfigure(self, inst: Instrument, a: int, lev: float | None,
                     risk_limit: int | None) -> Outcome:
        if not self._take_token(a):
            return self._command_reject(inst, a, RATE_LIMITED)
        pos = self._position(a, inst.symbol)
        if risk_limit is not None and abs(pos.cost) > risk_limit:
            return self._command_reject(inst, a, f"Position value {abs(pos.cost)} exceeds the requested "
                                                 f"risk limit {risk_limit}")
        ccy = inst.settle_currency
        before = self._available(a, ccy)
        saved = (pos.leverage, pos.extra_margin, pos.risk_limit)
        if lev is not None:
            pos.leverage, pos.extra_margin = lev, 0
        if risk_limit is not None:
            pos.risk_limit = risk_limit
            top = inst.max_leverage(inst.steps_for_risk_limit(risk_limit))
            if pos.leverage > top:
                pos.leverage = top
        after = self._available(a, ccy)
        if after < 0 and after < before:
            pos.leverage, pos.extra_margin, pos.risk_limit = saved
            return self._command_reject(inst, a, insufficient_text(before - after, ccy))
        return Outcome(self._seq)

    def transfer_margin(self, account: int, symbol: str, amount: int, *,
                        ts: int | None = None) -> Outcome:
        """Adds (> 0) or removes (< 0) margin of an isolated position."""
        self._check_live()
        t = self._check_ts(ts)
        a = self._account(account)
        inst = self._instrument(symbol)
        n = _int("amount", amount, None, 2**63 - 1)
        pos = self._positions.get((a, inst.symbol))
        if pos is None or pos.leverage == 0 or pos.qty == 0:
            raise InvalidInputError(f"transfer_margin needs an open isolated position on {inst.symbol}")
        if n == 0:
            raise InvalidInputError("amount=0 must be non-zero")
        if n > 0 and n > self._available(a, inst.settle_currency):
            raise InsufficientFundsError(f"amount={n} exceeds the available balance "
                                         f"{self._available(a, inst.settle_currency)}")
        if n < 0 and -n > pos.extra_margin:
            raise InsufficientFundsError(f"amount={n}: only {pos.extra_margin} of added margin can be removed")

        def run() -> Outcome:
            if not self._take_token(a):
                return self._command_reject(inst, a, RATE_LIMITED)
            pos.extra_margin += n
            return Outcome(self._seq, amount=n)
        return self._commit(t, run)

    # ================================================================ prices
    def set_mark(self, symbol: str, price: object, ts: int | None = None) -> Outcome:
        """A human mark price (int, float or Decimal); see :meth:`set_mark_e8`."""
        self._check_live()
        self._instrument(symbol)
        return self.set_mark_e8(symbol, to_e8(price, "mark price"), ts=ts)

    def set_mark_e8(self, symbol: str, mark_e8: int, *, ts: int | None = None) -> Outcome:
        """The pricing layer's seam: sets the mark (in 1e-8 quote units) and fires the book's
        mark-price triggers with the mark bracketed by its floor and ceiling ticks."""
        self._check_live()
        t = self._check_ts(ts)
        inst = self._instrument(symbol)
        if isinstance(mark_e8, bool) or not isinstance(mark_e8, int):
            raise TypeError(f"mark_e8 must be an int, got {type(mark_e8).__name__}")
        lo, hi = inst.e8_to_ticks_floor(mark_e8), inst.e8_to_ticks_ceil(mark_e8)
        if lo < 1 or hi > inst.max_price_ticks:
            raise InvalidPriceError(f"mark price {mark_e8}e-8 must be within [{inst.tick_size}, "
                                    f"{inst.max_price}] of {inst.symbol}")

        def run() -> Outcome:
            self._marks[inst.symbol] = mark_e8
            self._books[inst.symbol].set_trigger_price(_native.FEED_MARK, lo, hi)
            self._drive(inst.symbol)
            return Outcome(self._seq)
        return self._commit(t, run)

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
        live = self._live[(rec.account, rec.symbol)]
        del live[oid]
        if not live:
            del self._live[(rec.account, rec.symbol)]
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
        tfee = inst.fee(cost, inst.taker_fee)
        mfee = inst.fee(cost, inst.taker_fee if hidden else inst.maker_fee)
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
        ros = [r for r in self._resting(a, sym) if r.reduce_only]
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

    # ================================================================ queries
    def drain_events(self) -> list[dict[str, Any]]:
        out, self._events = self._events, []
        return out

    def executions(self, account: int | None = None, symbol: str | None = None) -> list[dict[str, Any]]:
        """Recent Trade executions (the last ``max_executions``; batch runs without events
        record none), oldest first."""
        return [e for e in self._executions if (account is None or e["account"] == account)
                and (symbol is None or e["symbol"] == symbol)]

    def book(self, symbol: str) -> BookView:
        inst = self._instrument(symbol)
        return BookView(inst, self._books[inst.symbol])

    def mark_price(self, symbol: str) -> Decimal | None:
        mark = self._marks.get(self._instrument(symbol).symbol)
        return None if mark is None else Decimal(mark) / 100_000_000

    def open_orders(self, account: int, symbol: str | None = None) -> list[dict[str, Any]]:
        a = self._account(account)
        syms = self._symbols if symbol is None else [self._instrument(symbol).symbol]
        out = []
        for sym in syms:
            inst = self._inst[sym]
            for oid in self._live.get((a, sym), ()):
                rec = self._orders[oid]
                stop = None
                if rec.conditional:
                    stop = self._books[sym].order(oid)["stop_px"]
                out.append(order_view(inst, rec, "PartiallyFilled" if rec.cum_qty else "New", stop))
        return out

    def position(self, account: int, symbol: str) -> dict[str, Any]:
        a = self._account(account)
        inst = self._instrument(symbol)
        pos = self._positions.get((a, inst.symbol)) or Position(a, inst.symbol, inst.risk_limit)
        steps = inst.steps_for_risk_limit(pos.risk_limit)
        pos_margin = self._position_margin(inst, pos)
        maint = 0
        if pos.qty:
            bk = bankruptcy_price(inst, pos.qty, pos.cost, pos_margin) if pos.cost else None
            comm = commission_to_close(inst, pos.qty, round_toward_entry(inst, pos.qty, bk))
            maint = maintenance_margin(pos.cost, inst.maint_rate(steps), commission=comm)
        return {
            "account": a, "symbol": inst.symbol, "currency": inst.settle_currency,
            "currentQty": pos.qty, "currentCost": pos.cost,
            "avgEntryPrice": inst.avg_entry_price(pos.qty, pos.cost).price if pos.qty and pos.cost else None,
            "realisedPnl": pos.realised_pnl, "unrealisedPnl": self._upnl(inst, pos),
            "markPrice": self.mark_price(inst.symbol), "leverage": pos.leverage,
            "crossMargin": pos.leverage == 0, "riskLimit": pos.risk_limit,
            "posMargin": pos_margin, "extraMargin": pos.extra_margin, "maintMargin": maint,
            "orderMargin": self._order_margin(a, inst.symbol),
        }

    def margin(self, account: int, currency: str = "XBt") -> dict[str, Any]:
        a = self._account(account)
        if currency not in self._by_ccy:
            raise InvalidInputError(f"currency={currency!r} must be one of {', '.join(sorted(self._by_ccy))}")
        wallet_balance = self._ledger.balance(currency, ("wallet", a))
        upnl = pos_m = order_m = maint = rpnl = 0
        for sym in self._by_ccy[currency]:
            p = self.position(a, sym)
            upnl += p["unrealisedPnl"]
            pos_m += p["posMargin"]
            order_m += p["orderMargin"]
            maint += p["maintMargin"]
            rpnl += p["realisedPnl"]
        return {
            "account": a, "currency": currency, "walletBalance": wallet_balance,
            "unrealisedPnl": upnl, "realisedPnl": rpnl, "marginBalance": wallet_balance + upnl,
            "initMargin": order_m, "orderMargin": order_m, "posMargin": pos_m,
            "maintMargin": maint, "availableMargin": self._available(a, currency),
        }

    def audit(self) -> Audit:
        ledgers = self._ledger.audit()
        net = dict.fromkeys(self._symbols, 0)
        oi = dict.fromkeys(self._symbols, 0)
        for (_, sym), pos in self._positions.items():
            net[sym] += pos.qty
            oi[sym] += max(pos.qty, 0)
        return Audit({c: x.total for c, x in ledgers.items()}, net, oi,
                     {c: x.insurance for c, x in ledgers.items()},
                     {c: x.fees for c, x in ledgers.items()},
                     {c: x.funding for c, x in ledgers.items()}, ledgers)

    def wallet_balances(self, currency: str = "XBt") -> dict[int, int]:
        return {k[1]: v for k, v in self._ledger.balances(currency).items() if k[0] == "wallet"}

    def check_invariants(self) -> None:
        """Native book invariants, balanced ledgers, positions summing to zero, and the order
        records matching the books. A failure halts the exchange."""
        try:
            for sym in self._symbols:
                self._books[sym].check_invariants()
            self._ledger.check_balanced()
            audit = self.audit()
            for sym, net in audit.net_position.items():
                if net:
                    raise InvariantViolation(f"positions in {sym} sum to {net}, must be 0")
            counts = dict.fromkeys(self._symbols, 0)
            for oid, rec in self._orders.items():
                counts[rec.symbol] += 1
                info = self._books[rec.symbol].order(oid)
                if info is None or info["leaves"] != rec.leaves_qty or info["account"] != rec.account:
                    raise InvariantViolation(f"order {oid} record disagrees with the {rec.symbol} book")
                if rec.close_all is False and rec.order_qty != rec.cum_qty + rec.leaves_qty:
                    raise InvariantViolation(f"order {oid}: orderQty != cumQty + leavesQty")
            for sym, n in counts.items():
                book = self._books[sym]
                if book.order_count + book.conditional_count != n:
                    raise InvariantViolation(f"{sym} book holds {book.order_count + book.conditional_count}"
                                             f" orders, the exchange records {n}")
        except InvariantViolation as exc:
            if self._halted is None:
                self._halted = str(exc)
            raise

    def export_state(self) -> dict[str, Any]:
        """All state as plain, canonically ordered data (books as their native dumps)."""
        return {
            "version": STATE_VERSION,
            "seq": self._seq, "ts": self._ts, "next_order_id": self._next_id,
            "halted": self._halted,
            "accounts": sorted(self._accounts),
            "ledger": [(c, k, v) for c, k, v in self._ledger.items()],
            "positions": [(a, s, p.qty, p.cost, p.realised_pnl, p.leverage, p.extra_margin,
                           p.risk_limit) for (a, s), p in sorted(self._positions.items())],
            "orders": [self._orders[o].as_tuple() for o in sorted(self._orders)],
            "marks": sorted(self._marks.items()),
            "rate_buckets": sorted((a, tuple(b)) for a, b in self._buckets.items()),
            "tx": sorted((k, v[:4], v[4].seq) for k, v in self._tx.items()),
            "books": {s: self._books[s].dump() for s in self._symbols},
        }

    def state_hash(self) -> int:
        """64-bit BLAKE2b over the canonical Python-side state plus each book's state_hash()."""
        state = self.export_state()
        del state["books"]
        state["book_hashes"] = [self._books[s].state_hash() for s in self._symbols]
        digest = hashlib.blake2b(repr(state).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little")

    # ================================================================ batch path
    def submit_orders(self, cmds: np.ndarray, *, events: bool = False) -> np.ndarray:
        """Applies ORDER_DTYPE rows (limit / market / cancel) in order through the same code
        path as :meth:`place` and :meth:`cancel`, without building event dicts unless
        ``events`` is True. The whole batch is validated first: a malformed row raises naming
        its index and nothing is applied. Per-row results (RESULT_DTYPE): STATUS_OK,
        STATUS_REJECTED (a business reject: it took a seq), or STATUS_UNKNOWN_ORDER (a cancel
        of an order no longer live when its row ran: nothing changed, no seq)."""
        self._check_live()
        if not isinstance(cmds, np.ndarray) or cmds.dtype != ORDER_DTYPE:
            raise TypeError(f"cmds must be a numpy array with dtype ORDER_DTYPE, got "
                            f"{getattr(cmds, 'dtype', type(cmds).__name__)}")
        if cmds.ndim != 1 or not cmds.flags.c_contiguous:
            raise InvalidInputError(f"cmds must be 1-D and C-contiguous, got shape {cmds.shape}")
        if len(cmds) > MAX_BATCH:
            raise InvalidInputError(f"cmds has {len(cmds)} rows, above the batch limit {MAX_BATCH}")
        self._validate_batch(cmds)
        out = np.zeros(len(cmds), RESULT_DTYPE)
        insts = [self._inst[s] for s in self._symbols]
        saved, self._emit = self._emit, events
        try:
            for i, (ts, acct, si, op, side, _p, qty, price, oid) in enumerate(cmds.tolist()):
                inst = insts[si]
                if op == OP_CANCEL:
                    rec = self._orders.get(oid)
                    if rec is None or rec.account != acct:
                        out[i] = (0, oid, STATUS_UNKNOWN_ORDER, 0, 0)
                        continue
                    res = self._commit(ts, lambda: self._cancel_now(rec))
                else:
                    ot = _native.LIMIT if op == OP_LIMIT else _native.MARKET
                    rec = OrderRecord(0, acct, inst.symbol, side, ot, _native.GTC, 0,
                                      _native.FEED_MARK, price if op == OP_LIMIT else 0, 0, 0,
                                      -1, qty, qty)
                    res = self._commit(ts, lambda: self._place(inst, rec))
                out[i] = (res.seq, res.order_id or 0, STATUS_OK if res.accepted else STATUS_REJECTED,
                          res.leaves_qty, res.cum_qty)
        finally:
            self._emit = saved
        return out

    def _cancel_now(self, rec: OrderRecord) -> Outcome:
        if not self._take_token(rec.account):
            return self._command_reject(self._inst[rec.symbol], rec.account, RATE_LIMITED, rec)
        self._books[rec.symbol].cancel(rec.order_id, rec.account)
        self._drive(rec.symbol)
        return self._order_outcome(rec)

    def _validate_batch(self, cmds: np.ndarray) -> None:
        def bad(mask: np.ndarray, what: str, exc: type[Exception] = InvalidInputError) -> None:
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                raise exc(f"cmds row {i}: {what} (row {cmds[i]})")
        if not len(cmds):
            return
        ts, op, si = cmds["ts"], cmds["op"], cmds["symbol"]
        bad(ts < self._ts, f"ts is earlier than the last command's ts={self._ts}", NonMonotonicTimeError)
        bad(np.diff(ts, prepend=ts[0]) < 0, "ts must be non-decreasing", NonMonotonicTimeError)
        bad((op < OP_LIMIT) | (op > OP_CANCEL), "op must be 1 (limit), 2 (market) or 3 (cancel)")
        bad(si >= len(self._symbols), f"symbol index must be < {len(self._symbols)}", UnknownSymbolError)
        for a in np.unique(cmds["account"]).tolist():
            if a not in self._accounts:
                bad(cmds["account"] == a, f"account={a} is unknown", UnknownAccountError)
        orders = op != OP_CANCEL
        bad(orders & (cmds["side"] > 1), "side must be 0 (Buy) or 1 (Sell)")
        for k, sym in enumerate(self._symbols):
            inst = self._inst[sym]
            rows = orders & (si == k)
            q, p = cmds["qty"], cmds["price"]
            bad(rows & (q <= 0), "qty must be > 0", InvalidQuantityError)
            bad(rows & (q % inst.lot_size != 0), f"qty must be a multiple of the lot size {inst.lot_size}",
                InvalidQuantityError)
            bad(rows & (q > inst.max_order_qty), f"qty above max_order_qty={inst.max_order_qty}: notional",
                ArithmeticOverflowError)
            lim = rows & (op == OP_LIMIT)
            bad(lim & (p <= 0), "price must be > 0 ticks", InvalidPriceError)
            bad(lim & (p > inst.max_price_ticks), f"price above the maximum {inst.max_price_ticks} ticks",
                ArithmeticOverflowError)
            bad(rows & (op == OP_MARKET) & (p != 0), "a market row takes price 0")
