"""The batch path of :class:`perpex.exchange.Exchange`: NumPy rows of simple commands through
the same code path as the per-call API."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from perpex import _native
from perpex._core import Contract
from perpex._core import (  # noqa: F401  (the statuses are exported here, with the dtypes)
    BAD_ACCOUNT, BAD_FAULTS, OP_CANCEL, OP_LIMIT, OP_MARKET, STATUS_OK, STATUS_OVERLOADED,
    STATUS_REJECTED, STATUS_UNKNOWN_ORDER)
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
        contracts = [self._contract_view(s) for s in self._symbols]  # by symbol index
        self._validate_batch(cmds, contracts)
        n = len(cmds)
        depth = self._overload.queue_depth  # type: ignore[attr-defined]
        # the batch is the queue and nothing completes while it runs: a fresh one per batch
        shedder = None if depth is None else LoadShedder(depth)
        out = np.zeros(n, RESULT_DTYPE)
        # events only when asked for and not switched off engine-wide (a recovery's replay)
        saved, self._emit = self._emit, events and self._emit
        try:
            self._run_rows(cmds, out, contracts, shedder, _NEW, _CANCEL)  # perpex._core
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

    def _validate_batch(self, cmds: np.ndarray, contracts: list[Contract]) -> None:
        """Raises for the first malformed row (perpex._core finds it), naming its index.
        ``contracts``: the listed contracts by symbol index."""
        if not len(cmds):
            return
        found = self._first_bad_row(cmds, contracts)
        if found is not None:
            i, fault = found
            exc, what = _FAULTS[fault]
            row = cmds[i]
            inst = contracts[row["symbol"]].inst if fault > BAD_ACCOUNT else None
            raise exc(f"cmds row {i}: {what(self, inst, row)} (row {row})")


# The words and exception of each fault a row can have (perpex._core.BAD_FAULTS, in order), as
# functions of the engine, the row's instrument (for the faults after BAD_ACCOUNT) and the row.
_FAULTS: dict[int, tuple[type[Exception], Callable[[Any, Any, Any], str]]] = dict(zip(BAD_FAULTS, [
    (NonMonotonicTimeError, lambda ex, _, r: f"ts is earlier than the last command's ts={ex._ts}"),
    (NonMonotonicTimeError, lambda ex, _, r: "ts must be non-decreasing"),
    (InvalidInputError, lambda ex, _, r: "op must be 1 (limit), 2 (market) or 3 (cancel)"),
    (UnknownSymbolError, lambda ex, _, r: f"symbol index must be < {len(ex._symbols)}"),
    (UnknownAccountError, lambda ex, _, r: f"account={r['account']} is unknown"),
    (InvalidInputError, lambda ex, _, r: "side must be 0 (Buy) or 1 (Sell)"),
    (InvalidQuantityError, lambda ex, _, r: "qty must be > 0"),
    (InvalidQuantityError, lambda ex, i, r: f"qty must be a multiple of the lot size {i.lot_size}"),
    (ArithmeticOverflowError, lambda ex, i, r: f"qty above max_order_qty={i.max_order_qty}: notional"),
    (InvalidPriceError, lambda ex, _, r: "price must be > 0 ticks"),
    (ArithmeticOverflowError, lambda ex, i, r: f"price above the maximum {i.max_price_ticks} ticks"),
    (InvalidInputError, lambda ex, _, r: "a market row takes price 0"),
]))
