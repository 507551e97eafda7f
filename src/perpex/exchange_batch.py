"""The batch path of :class:`perpex.exchange.Exchange`: NumPy rows of simple commands through
the same code path as the per-call API."""

from __future__ import annotations

from typing import Any

import numpy as np

from perpex import _native
from perpex._core import (  # noqa: F401  (the statuses are exported here, with the dtypes)
    OP_CANCEL, OP_LIMIT, OP_MARKET, STATUS_OK, STATUS_OVERLOADED, STATUS_REJECTED,
    STATUS_UNKNOWN_ORDER)
from perpex.errors import (
    ArithmeticOverflowError, InvalidInputError, InvalidPriceError, InvalidQuantityError,
    NonMonotonicTimeError, UnknownAccountError, UnknownSymbolError)
from perpex.exchange_core import ExchangeCore
from perpex.instruments import Instrument
from perpex.risk.bands import LoadShedder, RequestKind
from perpex.risk.limits import OVERLOADED

# Batch path: one row per simple command. op: 1 limit (price in ticks), 2 market, 3 cancel.
# The ops and the result statuses are defined beside the loop that reads them (perpex._core).
ORDER_DTYPE = np.dtype([("ts", "<i8"), ("account", "<u4"), ("symbol", "u1"), ("op", "u1"),
                        ("side", "u1"), ("_pad", "u1"), ("qty", "<i8"), ("price", "<i8"),
                        ("order_id", "<u8")])
RESULT_DTYPE = np.dtype([("seq", "<u8"), ("order_id", "<u8"), ("status", "u1"),
                         ("leaves", "<i8"), ("cum", "<i8")])
MAX_BATCH = 1 << 24
_NEW, _CANCEL = RequestKind.NEW, RequestKind.CANCEL


class BatchMixin(ExchangeCore):
    """``submit_orders`` and its whole-batch validation."""

    def submit_orders(self, cmds: np.ndarray, *, events: bool = False) -> np.ndarray:
        """Applies ORDER_DTYPE rows (limit / market / cancel) in order through the same code
        path as :meth:`place` and :meth:`cancel`, without building event dicts unless
        ``events`` is True. The whole batch is validated first: a malformed row raises naming
        its index and nothing is applied. Per-row results (RESULT_DTYPE): STATUS_OK,
        STATUS_REJECTED (a business reject: it took a seq), or STATUS_UNKNOWN_ORDER (a cancel
        of an order no longer live when its row ran: nothing changed, no seq) or
        STATUS_OVERLOADED (load shedding, below).

        Load shedding (``OverloadConfig.queue_depth``, MECHANICS §10): the batch is the queue
        and every row, cancels included, takes a place in it in order. A limit or market row
        whose place is at or beyond the depth never enters the engine: it takes no seq, no
        order id and no rate-limit token, and changes nothing, so the state afterwards is that
        of a batch of the admitted rows alone. Its result is STATUS_OVERLOADED, and with
        ``events`` an execution with execType Rejected and BitMEX's overload text, stamped
        with the seq of the last command before it. Cancels are exempt and always run."""
        self._check_live()
        if not isinstance(cmds, np.ndarray) or cmds.dtype != ORDER_DTYPE:
            raise TypeError(f"cmds must be a numpy array with dtype ORDER_DTYPE, got "
                            f"{getattr(cmds, 'dtype', type(cmds).__name__)}")
        if cmds.ndim != 1 or not cmds.flags.c_contiguous:
            raise InvalidInputError(f"cmds must be 1-D and C-contiguous, got shape {cmds.shape}")
        if len(cmds) > MAX_BATCH:
            raise InvalidInputError(f"cmds has {len(cmds)} rows, above the batch limit {MAX_BATCH}")
        self._validate_batch(cmds)
        n = len(cmds)
        insts = [self._inst[s] for s in self._symbols]
        depth = self._overload.queue_depth  # type: ignore[attr-defined]
        # the batch is the queue and nothing completes while it runs: a fresh one per batch
        shedder = None if depth is None else LoadShedder(depth)
        out = np.zeros(n, RESULT_DTYPE)
        # events only when asked for and not switched off engine-wide (a recovery's replay)
        saved, self._emit = self._emit, events and self._emit
        try:
            self._run_rows(cmds, out, insts, shedder, _NEW, _CANCEL)  # perpex._core
        finally:
            self._emit = saved
        return out

    def _shed_event(self, inst: Instrument, ts: int, account: int, op: int, side: int, qty: int,
                    price: int) -> dict[str, Any]:
        return {"seq": self._seq, "transactTime": ts, "execType": "Rejected", "ordStatus": "Rejected",
                "orderID": None, "account": account, "symbol": inst.symbol,
                "side": "Buy" if side == _native.BUY else "Sell",
                "ordType": "Limit" if op == OP_LIMIT else "Market", "orderQty": qty,
                "price": inst.ticks_to_price(price) if op == OP_LIMIT else None,
                "leavesQty": 0, "cumQty": 0, "text": OVERLOADED}

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
