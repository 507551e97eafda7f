"""Order records and BitMEX-shaped execution events for :class:`perpex.exchange.Exchange`.

An :class:`OrderRecord` (an extension type, :mod:`perpex._records`) is the Python-side view
of one live order (the native book owns its place in the queue). Records hold only ints, strs
and bools so the exchange state serialises as plain data. Events are dicts whose keys are
BitMEX's execution fields (``execType``, ``ordStatus``, ``orderID``, ``lastQty``, ``execCost``
...), with prices as exact ``Decimal``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from perpex import _events, _native
from perpex._records import OrderRecord
from perpex.instruments import Instrument

__all__ = [
    "CANCEL_TEXTS",
    "OrderRecord",
    "Outcome",
    "ORD_TYPE_NAMES",
    "TIF_NAMES",
    "avg_px",
    "exec_inst_text",
    "execution",
    "insufficient_text",
]

ORD_TYPE_NAMES = {
    _native.LIMIT: "Limit", _native.MARKET: "Market", _native.STOP: "Stop",
    _native.STOP_LIMIT: "StopLimit", _native.MARKET_IF_TOUCHED: "MarketIfTouched",
    _native.LIMIT_IF_TOUCHED: "LimitIfTouched",
}
TIF_NAMES = {_native.GTC: "GoodTillCancel", _native.IOC: "ImmediateOrCancel",
             _native.FOK: "FillOrKill"}
FEED_NAMES = {_native.FEED_LAST: "LastPrice", _native.FEED_MARK: "MarkPrice",
              _native.FEED_INDEX: "IndexPrice"}
SIDE_NAMES = ("Buy", "Sell")
CONDITIONAL_TYPES = frozenset({_native.STOP, _native.STOP_LIMIT, _native.MARKET_IF_TOUCHED,
                               _native.LIMIT_IF_TOUCHED})
MARKET_TYPES = frozenset({_native.MARKET, _native.STOP, _native.MARKET_IF_TOUCHED})

CANCEL_TEXTS = {
    _native.REASON_USER_CANCEL: "Canceled: Canceled via API.",
    _native.REASON_CANCEL_ALL: "Canceled: Canceled via API (cancel all).",
    _native.REASON_FOK: "Canceled: Order had timeInForce of FillOrKill and could not fill completely",
    _native.REASON_POST_ONLY: "Canceled: Order had execInst of ParticipateDoNotInitiate",
    _native.REASON_IOC: "Canceled: Order had timeInForce of ImmediateOrCancel",
    _native.REASON_NO_LIQUIDITY: "Canceled: No liquidity for the market order remainder",
    _native.REASON_PROTECTION_PRICE: "Canceled: Market order reached its protection price",
    _native.REASON_NO_REFERENCE_PRICE: "Rejected: no reference price yet for the trailing stop",
}
REDUCE_ONLY_WOULD_INCREASE = "Order had execInst of ReduceOnly and would increase the position"
CLOSE_NO_POSITION = "Order had execInst of Close and there is no position to close"
REDUCE_ONLY_CLIPPED = "Amended: ReduceOnly order reduced to the position size"
REDUCE_ONLY_CANCELED = "Canceled: ReduceOnly order exceeds the position"
CLOSE_CANCELED_OTHER = "Canceled: open orders exceed the position being closed"
# BitMEX's texts for a position's orders canceled when its liquidation starts, and (OKEx's
# resting partial-liquidation cycle, LiquidationConfig.repost_after_ms) a trader's command on a
# position while its liquidation order rests
IN_LIQUIDATION = "Position in liquidation"
IN_LIQUIDATION_CANCELED = "Canceled: " + IN_LIQUIDATION
LIQUIDATION_EXPIRED = "Canceled: Liquidation order not filled in time"
# BitMEX's rejects of an order that would close a position beyond its liquidation price (at its
# limit price, or a market order at the price its sweep would reach; the closing rule of
# perpex.exchange_risk)
BEYOND_LIQUIDATION = ("Order price is below the liquidation price of current long position",
                      "Order price is above the liquidation price of current short position")
IMMEDIATE_LIQUIDATION = "Executing at order price would lead to immediate liquidation"


def insufficient_text(required: int, currency: str) -> str:
    return f"Account has insufficient Available Balance, {required} {currency} required"


def exec_inst_text(flags: int, feed: int, conditional: bool) -> str:
    key = (flags, feed, conditional)
    text = _EXEC_INST_TEXTS.get(key)
    if text is None:
        text = _EXEC_INST_TEXTS[key] = _exec_inst_text(flags, feed, conditional)
    return text


_EXEC_INST_TEXTS: dict[tuple[int, int, bool], str] = {}


def _exec_inst_text(flags: int, feed: int, conditional: bool) -> str:
    parts = []
    if flags & _native.FLAG_POST_ONLY:
        parts.append("ParticipateDoNotInitiate")
    if flags & _native.FLAG_CLOSE:
        parts.append("Close")
    elif flags & _native.FLAG_REDUCE_ONLY:
        parts.append("ReduceOnly")
    if conditional:
        parts.append(FEED_NAMES[feed])
    return ",".join(parts)


class Outcome(NamedTuple):
    """What one command did. ``accepted`` is False for a business reject (``text`` says why);
    order commands fill in the order's state after the command. Immutable; a named tuple
    because every command returns one, and a frozen dataclass costs a guarded attribute set
    per field (about 1 us a command)."""

    seq: int
    accepted: bool = True
    text: str = ""
    order_id: int | None = None
    ord_status: str | None = None
    leaves_qty: int = 0
    cum_qty: int = 0
    count: int = 0  # type: ignore[assignment]  # the field shadows tuple.count, by design
    amount: int = 0

    @property
    def rejected(self) -> bool:
        return not self.accepted


# avgPx is computed natively, beside the execution report that carries it
avg_px = _events.avg_px


# Every event has these keys in this order. Copying a finished dict clones its table in one
# go and filling it in replaces values in place: about two thirds of the cost of a 27-key
# literal, which inserts every key anew. Every accepted, filled or canceled order saves it.
# The values are the common ones (a plain order's, and no fill's): a report replaces only
# what differs, which leaves half the keys of a New or Canceled report untouched.
_EXECUTION: dict[str, Any] = {
    "seq": None, "transactTime": None, "execType": None, "ordStatus": None, "orderID": None,
    "clOrdID": "", "account": None, "symbol": None, "side": None, "ordType": None,
    "timeInForce": None, "execInst": "", "orderQty": None, "price": None, "stopPx": None,
    "displayQty": None, "lastQty": 0, "lastPx": None, "leavesQty": None, "cumQty": None,
    "avgPx": None, "execCost": 0, "execComm": 0, "lastLiquidityInd": "", "triggered": "",
    "currency": None, "text": ""}

_ORDER_VIEW_KEYS = tuple(key for key in _EXECUTION if key not in (
    "seq", "transactTime", "execType", "lastQty", "lastPx", "execCost", "execComm",
    "lastLiquidityInd", "text"))


# The report itself is built natively (perpex._events.execution), from these tables.
_events.configure_execution(_EXECUTION, SIDE_NAMES, ORD_TYPE_NAMES, TIF_NAMES, CONDITIONAL_TYPES,
                            exec_inst_text)
execution = _events.execution
Execution = _events.Execution  # what it returns: a read-only mapping, built on first read


def order_view(instrument: Instrument, rec: OrderRecord, ord_status: str,
               stop_px: int | None = None) -> dict[str, Any]:
    """An open order as BitMEX's ``GET /order`` shows it: the execution fields less the
    fill's own (seq, transactTime, execType, last*, exec*, text)."""
    ev = execution(instrument, rec, "", ord_status, seq=0, ts=0, stop_px=stop_px)
    return {key: ev[key] for key in _ORDER_VIEW_KEYS}
