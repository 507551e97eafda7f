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

import math
from collections import deque
from decimal import Decimal
from typing import Any, Iterable, Mapping

from perpex import _native
# the order commands' checks and commit, in C (a module attribute read would cost each order a
# lookup)
from perpex._front import cancel as _front_cancel, place as _front_place
from perpex._idtable import LiveOrders, OrderTable
from perpex.accounts.ledger import EXTERNAL, Ledger, wallet
from perpex.accounts.position import Position
from perpex.errors import (
    ArithmeticOverflowError, InsufficientFundsError, InvalidInputError, InvalidLeverageError,
    InvalidPriceError, InvalidQuantityError, InvariantViolation, UnknownAccountError)
from perpex.exchange_batch import (
    MAX_BATCH, OP_CANCEL, OP_LIMIT, OP_MARKET, ORDER_DTYPE, RESULT_DTYPE, STATUS_OK,
    STATUS_OVERLOADED, STATUS_REJECTED, STATUS_UNKNOWN_ORDER, BatchMixin)
from perpex.exchange_core import MAX_ACCOUNT, Audit, BookView, _int
from perpex.exchange_prices import PricingMixin
from perpex.exchange_queries import STATE_VERSION, QueriesMixin
from perpex.exchange_overload import OverloadConfig
from perpex.exchange_risk import LIQUIDATION_ACCOUNT, RiskMixin
from perpex.instruments import Instrument
from perpex.orders import IN_LIQUIDATION, MARKET_TYPES, OrderRecord, Outcome, insufficient_text
from perpex.pricing import FundingConfig, Index, to_e8
from perpex.pricing._units import Number
from perpex.risk.limits import RATE_LIMITED, RateLimiter
from perpex.risk.liquidation import LiquidationConfig
from perpex.rounding import INT64_MAX

__all__ = ["Audit", "BookView", "Exchange", "LIQUIDATION_ACCOUNT", "MAX_BATCH", "OverloadConfig", "OP_CANCEL", "OP_LIMIT", "OP_MARKET",
           "ORDER_DTYPE", "RESULT_DTYPE", "STATE_VERSION", "STATUS_OK", "STATUS_OVERLOADED",
           "STATUS_REJECTED", "STATUS_UNKNOWN_ORDER"]


class Exchange(RiskMixin, PricingMixin, QueriesMixin, BatchMixin):
    """BitMEX-style exchange over one native book per instrument (see the module docstring)."""

    def __init__(self, instruments: Iterable[Instrument], *,
                 rate_limit: tuple[int, float] | None = None, max_open_orders: int = 200,
                 max_stop_orders: int = 10, max_executions: int = 100_000,
                 index_constituents: Mapping[str, Index | Mapping[str, object]] | None = None,
                 funding: Mapping[str, FundingConfig] | None = None, interest_8h: float = 0.0001,
                 impact_notional: Mapping[str, Number] | None = None,
                 risk_mode: str | LiquidationConfig = "BitMEX",
                 insurance_fund: Mapping[str, int] | None = None,
                 overload: OverloadConfig | None = None) -> None:
        """``index_constituents``: per symbol, constituent weights or an :class:`Index`
        (default: equal weights over Bitstamp, Coinbase and Kraken); ``funding``: per
        perpetual, a :class:`FundingConfig` (default: the instrument's schedule with caps from
        its margins); ``interest_8h``: the interest rate per 8 hours sampled into funding;
        ``impact_notional``: per symbol, the impact notional (see
        :mod:`perpex.exchange_prices`); ``risk_mode``: "BitMEX", "OKEx", "Huobi" or a
        :class:`LiquidationConfig` (see :mod:`perpex.exchange_risk`); ``insurance_fund``:
        the fund's opening balance per currency, transferred in from the external ledger;
        ``overload``: price bands, position limits and a circuit breaker (all off by default;
        see :mod:`perpex.exchange_overload`)."""
        insts = list(instruments)
        if not insts or not all(isinstance(i, Instrument) for i in insts):
            raise TypeError("instruments must be a non-empty iterable of Instrument")
        self._inst = {i.symbol: i for i in sorted(insts, key=lambda i: i.symbol)}
        if len(self._inst) != len(insts):
            raise InvalidInputError("instrument symbols must be unique")
        self._symbols = list(self._inst)
        self._by_ccy = {}
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
        self._orders = OrderTable()
        self._live: dict[tuple[int, str], LiveOrders] = {}  # in the order they went live
        # the reduce-only subset of _live, so fills need not scan every open order
        self._reduce_only: dict[tuple[int, str], dict[int, None]] = {}
        self._cl_ids: dict[tuple[int, str], int] = {}
        self._marks = {}
        self._buckets: dict[int, list[int]] = {}
        self._tx: dict[object, tuple] = {}
        self._seq = 0
        self._ts = 0
        self._next_id = 1
        self._halted: str | None = None
        # ---- output and per-command scratch (not state)
        self._events: list[Mapping[str, Any]] = []
        self._executions: deque[Mapping[str, Any]] = deque(maxlen=self._max_exec or None)
        self._emit = True
        self._held: deque[int] = deque()
        self._dirty: dict[int, None] = {}
        self._texts: dict[int, str] = {}
        self._init_margin()
        self._init_pricing(index_constituents, funding, interest_8h, impact_notional)
        self._init_risk(risk_mode, insurance_fund, overload)

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
        if a == LIQUIDATION_ACCOUNT:
            raise InvalidInputError(f"account={a} is reserved for the liquidation engine")
        n = _int("amount", amount, None, INT64_MAX)
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
            self._touch(a, currency)  # type: ignore[arg-type]
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
        Stop with a stopPx (or a trailing peg), StopLimit with both, else Market. Every
        argument is checked (perpex._front) before anything changes."""
        return _front_place(self, account, symbol, side, qty, price, ord_type, time_in_force,
                            exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value,
                            cl_ord_id, ts)

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
        if max(new_price or rec.price, new_stop or rec.stop_px) * lv > INT64_MAX:
            raise ArithmeticOverflowError(f"notional of qty={lv} overflows int64")

        return self._commit(t, self._amend_now, inst, rec, lv, new_leaves, new_price, new_stop)

    def _amend_now(self, inst: Instrument, rec: OrderRecord, lv: int, new_leaves: int | None,
                   new_price: int | None, new_stop: int | None) -> Outcome:
        """The mutating part of a validated :meth:`amend` (``lv``: the leaves after it)."""
        a = rec.account
        if rec.order_id in self._liq_orders:  # resting for the trader (OKEx cycle), as cancel
            return self._command_reject(inst, a, IN_LIQUIDATION, rec)
        if not self._take_token(a):
            return self._command_reject(inst, a, RATE_LIMITED, rec)
        if not rec.conditional:
            text = self._closing_reject(inst, rec, lv, new_price)
            if not text and not rec.reduce_only:
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

    def cancel(self, account: int, order_id: int, *, ts: int | None = None) -> Outcome:
        return _front_cancel(self, account, order_id, ts)

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
                # a frozen position's one order is its liquidation order, not the trader's
                if self._live.get((a, sym)) and (a, sym) not in self._liq_holds:
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
        return self._commit(t, self._reconfigure, inst, a, lev, None)

    def set_risk_limit(self, account: int, symbol: str, risk_limit: int, *,
                       ts: int | None = None) -> Outcome:
        self._check_live()
        t = self._check_ts(ts)
        a = self._account(account)
        inst = self._instrument(symbol)
        steps = inst.steps_for_risk_limit(_int("risk_limit", risk_limit, 1))
        if inst.init_rate(steps) > 1:
            raise InvalidInputError(f"risk_limit={risk_limit} needs an initial margin above 100%")
        return self._commit(t, self._reconfigure, inst, a, None, int(risk_limit))

    def _reconfigure(self, inst: Instrument, a: int, lev: float | None,
                     risk_limit: int | None) -> Outcome:
        if not self._take_token(a):
            return self._command_reject(inst, a, RATE_LIMITED)
        if (a, inst.symbol) in self._liq_holds:
            return self._command_reject(inst, a, IN_LIQUIDATION)
        pos = self._position(a, inst.symbol)
        if risk_limit is not None and abs(pos.cost) > risk_limit:
            return self._command_reject(inst, a, f"Position value {abs(pos.cost)} exceeds the requested "
                                                 f"risk limit {risk_limit}")
        if lev is not None:
            text = self._leverage_reject(inst, a, lev)
            if text:
                return self._command_reject(inst, a, text)
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
        self._touch(a, ccy)
        return Outcome(self._seq)

    def transfer_margin(self, account: int, symbol: str, amount: int, *,
                        ts: int | None = None) -> Outcome:
        """Adds (> 0) or removes (< 0) margin of an isolated position."""
        self._check_live()
        t = self._check_ts(ts)
        a = self._account(account)
        inst = self._instrument(symbol)
        n = _int("amount", amount, None, INT64_MAX)
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
            if (a, inst.symbol) in self._liq_holds:
                return self._command_reject(inst, a, IN_LIQUIDATION)
            pos.extra_margin += n
            self._touch(a, inst.settle_currency)
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
            self._push_mark(inst, mark_e8)
            return Outcome(self._seq)
        return self._commit(t, run)

    # ================================================================ invariants
    def _check_caches(self) -> None:
        """The derived caches of this layer against fresh computations: the liquidation index
        and its trigger cache (see :mod:`perpex.exchange_risk`), the cached margin rates and
        the instruments' cached price conversions."""
        self._check_liquidation_index()
        bad = self._check_rate_caches()
        for sym in self._symbols:
            bad += self._inst[sym].cache_errors()
        if bad:
            raise InvariantViolation("; ".join(bad))
