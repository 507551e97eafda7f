"""The Python facade over the native order book: BitMEX spellings and human prices in, integer
ticks to the core.

`Book` converts prices once (a price off the tick grid is an error, never rounded), checks types
(``bool`` is not a quantity), and maps BitMEX enum spellings (``Buy``, ``StopLimit``,
``ParticipateDoNotInitiate``, ``ImmediateOrCancel`` ...) to the core's codes. Hot loops that
already hold ticks call the native methods directly: `Book.native` is the `perpex._native.OrderBook`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Optional

import numpy as np

from perpex import _native
from perpex.errors import InvalidInputError, InvalidQuantityError, ArithmeticOverflowError
from perpex.rounding import INT64_MAX, price_to_ticks, signed_ticks, ticks_to_price

SIDES = {"Buy": _native.BUY, "Sell": _native.SELL}
ORD_TYPES = {
    "Limit": _native.LIMIT,
    "Market": _native.MARKET,
    "Stop": _native.STOP,
    "StopLimit": _native.STOP_LIMIT,
    "MarketIfTouched": _native.MARKET_IF_TOUCHED,
    "LimitIfTouched": _native.LIMIT_IF_TOUCHED,
}
TIFS = {"GoodTillCancel": _native.GTC, "ImmediateOrCancel": _native.IOC, "FillOrKill": _native.FOK}
FEEDS = {"LastPrice": _native.FEED_LAST, "MarkPrice": _native.FEED_MARK, "IndexPrice": _native.FEED_INDEX}
EXEC_FLAGS = {
    "ParticipateDoNotInitiate": _native.FLAG_POST_ONLY,
    "ReduceOnly": _native.FLAG_REDUCE_ONLY,
    "Close": _native.FLAG_CLOSE | _native.FLAG_REDUCE_ONLY,
}
_CONDITIONAL = {"Stop", "StopLimit", "MarketIfTouched", "LimitIfTouched"}
_NEEDS_PRICE = {"Limit", "StopLimit", "LimitIfTouched"}

EVENT_NAMES = {
    _native.EV_ACCEPTED: "Accepted",
    _native.EV_FILL: "Fill",
    _native.EV_CANCELED: "Canceled",
    _native.EV_AMENDED: "Amended",
    _native.EV_TRIGGERED: "Triggered",
    _native.EV_REJECTED: "Rejected",
}


def _choice(name: str, value: object, table: dict) -> int:
    code = table.get(value) if isinstance(value, str) else None
    if code is None:
        raise InvalidInputError(f"{name}={value!r} must be one of {', '.join(table)}")
    return code  # type: ignore[no-any-return]


def check_qty(qty: object, lot_size: int = 1, name: str = "qty") -> int:
    """An integer contract count > 0 on the lot grid; bool and float are type errors."""
    if isinstance(qty, bool) or not isinstance(qty, numbers.Integral):
        raise TypeError(f"{name} must be an int number of contracts, got {type(qty).__name__} {qty!r}")
    qty = int(qty)
    if qty <= 0:
        raise InvalidQuantityError(f"{name}={qty} must be > 0")
    if qty > _native.MAX_QTY:
        raise ArithmeticOverflowError(f"{name}={qty} exceeds the maximum {_native.MAX_QTY} contracts")
    if qty % lot_size:
        raise InvalidQuantityError(f"{name}={qty} is not a multiple of the lot size {lot_size}")
    return qty


@dataclass(frozen=True)
class PlaceResult:
    order_id: int
    leaves: int          # quantity resting (or waiting as a conditional order) after the call
    events: np.ndarray   # the EVENT_DTYPE rows this call produced


class BookView:
    """Read-only queries of a native book in human prices."""

    def __init__(self, native: _native.OrderBook, tick_size: Decimal) -> None:
        self.native, self.tick_size = native, tick_size

    def to_price(self, ticks: int) -> Decimal:
        return ticks_to_price(ticks, self.tick_size)

    def best_bid(self) -> Decimal | None:
        t = self.native.best_bid()
        return self.to_price(t) if t else None

    def best_ask(self) -> Decimal | None:
        t = self.native.best_ask()
        return self.to_price(t) if t else None

    def depth(self, n: int = 10) -> tuple[list[tuple[Decimal, int]], list[tuple[Decimal, int]]]:
        bids, asks = self.native.depth(n)
        return ([(self.to_price(p), q) for p, q in bids], [(self.to_price(p), q) for p, q in asks])

    def order(self, order_id: int) -> dict | None:
        return self.native.order(order_id)

    def state_hash(self) -> int:
        return self.native.state_hash()


class Book(BookView):
    """One instrument's order book, in human prices."""

    def __init__(self, tick_size: Decimal | str | int = "0.5", lot_size: int = 1, *,
                 max_price: Decimal | str | int | None = None, hold_triggered: bool = False,
                 capacity: int = 1024) -> None:
        tick = Decimal(tick_size)
        if not tick.is_finite() or tick <= 0:
            raise InvalidInputError(f"tick_size={tick_size!r} must be a positive finite number")
        self.lot_size = check_qty(lot_size, 1, "lot_size")
        self.max_ticks = _native.MAX_TICKS if max_price is None else \
            price_to_ticks(Decimal(max_price), tick, "max_price")
        super().__init__(_native.OrderBook(hold_triggered, capacity), tick)
        self._next_id = 1

    # ---- conversions
    def to_ticks(self, price: object, name: str = "price") -> int:
        ticks = price_to_ticks(price, self.tick_size, name)  # type: ignore[arg-type]
        if ticks > self.max_ticks:
            raise ArithmeticOverflowError(
                f"{name}={price} is {ticks} ticks, above the maximum {self.max_ticks}")
        return ticks

    def _take_id(self, order_id: Optional[int]) -> int:
        if order_id is None:
            return self._next_id
        if isinstance(order_id, bool) or not isinstance(order_id, numbers.Integral):
            raise TypeError(f"order_id must be an int, got {type(order_id).__name__}")
        return int(order_id)

    # ---- commands
    def place(self, side: str, qty: int, price: object = None, *, ord_type: str | None = None,
              time_in_force: str = "GoodTillCancel", exec_inst: Iterable[str] = (),
              display_qty: int | None = None, stop_px: object = None,
              peg_price_type: str | None = None, peg_offset_value: object = None,
              account: int = 0, order_id: int | None = None) -> PlaceResult:
        """Places an order with BitMEX semantics. The order type defaults as BitMEX does: Limit
        with a price, Stop with a stopPx, StopLimit with both, else Market."""
        s = _choice("side", side, SIDES)
        if ord_type is None:
            ord_type = ("StopLimit" if price is not None else "Stop") if (
                stop_px is not None or peg_price_type) else ("Limit" if price is not None else "Market")
        t = _choice("ord_type", ord_type, ORD_TYPES)
        tif = _choice("time_in_force", time_in_force, TIFS)
        q = check_qty(qty, self.lot_size)
        if isinstance(exec_inst, str):
            exec_inst = [x for x in exec_inst.split(",") if x]
        flags, feed = 0, _native.FEED_MARK
        for inst in exec_inst:
            if inst in FEEDS:
                feed = FEEDS[inst]
            else:
                flags |= _choice("exec_inst", inst, EXEC_FLAGS)
        if ord_type in _NEEDS_PRICE:
            if price is None:
                raise InvalidInputError(f"price is required for ord_type={ord_type}")
            p = self.to_ticks(price)
        elif price is not None:
            raise InvalidInputError(f"ord_type={ord_type} takes no price")
        else:
            p = 0
        stop = peg = 0
        if peg_price_type is not None:
            if peg_price_type != "TrailingStopPeg" or ord_type not in _CONDITIONAL:
                raise InvalidInputError(
                    f"peg_price_type={peg_price_type!r}: only TrailingStopPeg on a stop or if-touched order")
            flags |= _native.FLAG_TRAILING
            peg = self._signed_ticks(peg_offset_value, "peg_offset_value")
        elif ord_type in _CONDITIONAL:
            if stop_px is None:
                raise InvalidInputError(f"stop_px is required for ord_type={ord_type}")
            stop = self.to_ticks(stop_px, "stop_px")
        elif stop_px is not None:
            raise InvalidInputError(f"ord_type={ord_type} takes no stop_px")
        if display_qty is None:
            disp = -1
        else:
            if isinstance(display_qty, bool) or not isinstance(display_qty, numbers.Integral) or display_qty < 0:
                raise InvalidQuantityError(f"display_qty={display_qty!r} must be an int >= 0")
            disp = int(display_qty)
        if max(p, stop) * q > INT64_MAX:
            raise ArithmeticOverflowError(f"notional {max(p, stop)} ticks x {q} overflows int64")
        oid = self._take_id(order_id)
        leaves = self.native.add(oid, account, s, p, q, t, tif, flags, disp, stop, peg, feed)
        self._next_id = oid + 1
        return PlaceResult(oid, leaves, self.native.drain_events())

    def _signed_ticks(self, value: object, name: str) -> int:
        if value is None:
            raise InvalidInputError(f"{name} is required")
        return signed_ticks(value, self.to_ticks, name)

    def amend(self, order_id: int, *, leaves_qty: int | None = None, price: object = None,
              stop_px: object = None, peg_offset_value: object = None,
              account: int | None = None) -> np.ndarray:
        q = None if leaves_qty is None else check_qty(leaves_qty, self.lot_size, "leaves_qty")
        p = None if price is None else self.to_ticks(price)
        s = None if stop_px is None else self.to_ticks(stop_px, "stop_px")
        g = None if peg_offset_value is None else self._signed_ticks(peg_offset_value, "peg_offset_value")
        self.native.amend(order_id, q, p, s, g, account)
        return self.native.drain_events()

    def cancel(self, order_id: int, account: int | None = None) -> np.ndarray:
        self.native.cancel(order_id, account)
        return self.native.drain_events()

    def cancel_all(self, account: int) -> np.ndarray:
        self.native.cancel_all(account)
        return self.native.drain_events()

    def set_price(self, feed: str, price: object) -> np.ndarray:
        """Pushes a mark, index or last price (any precision: it is bracketed by ticks)."""
        f = _choice("feed", feed, FEEDS)
        lo, hi = self.bracket(price)
        self.native.set_trigger_price(f, lo, hi)
        return self.native.drain_events()

    def bracket(self, price: object) -> tuple[int, int]:
        """(floor, ceil) of a price in ticks; equal when the price is on the grid."""
        if isinstance(price, bool) or not isinstance(price, (int, float, Decimal)):
            raise TypeError(f"price must be a number, got {type(price).__name__}")
        d = Decimal(repr(price)) if isinstance(price, float) else Decimal(price)
        if not d.is_finite() or d <= 0:
            raise InvalidInputError(f"price={price} must be finite and > 0")
        lo = int(d // self.tick_size)
        hi = lo if lo * self.tick_size == d else lo + 1
        if lo <= 0 or hi > self.max_ticks:
            raise InvalidInputError(f"price={price} is outside (0, {self.max_ticks}] ticks")
        return lo, hi

    # ---- checks
    def check_invariants(self) -> None:
        self.native.check_invariants()


def describe(events: np.ndarray) -> list[dict]:
    """EVENT_DTYPE rows as plain dicts with names, for reading and tests."""
    out = []
    for e in events:
        d = {name: e[name].item() for name in events.dtype.names or ()}
        d["type"] = EVENT_NAMES.get(d["type"], d["type"])
        d["side"] = "Buy" if d["side"] == _native.BUY else "Sell"
        out.append(d)
    return out
