"""Pure-Python reference models used to check the native core, and the constants they share.

The constants and record layouts mirror ``perpex._native`` (tests assert they agree), so the
models and the stress generator work even where the native module is not built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from perpex import errors

BUY, SELL = 0, 1
LIMIT, MARKET, STOP, STOP_LIMIT, MARKET_IF_TOUCHED, LIMIT_IF_TOUCHED = range(6)
GTC, IOC, FOK = 0, 1, 2
FLAG_POST_ONLY, FLAG_REDUCE_ONLY, FLAG_CLOSE, FLAG_TRAILING = 1, 2, 4, 8
FLAG_PUBLIC_MASK = 15
FLAG_CONDITIONAL, FLAG_HELD = 64, 128  # internal bits, visible only in dump()
FEED_LAST, FEED_MARK, FEED_INDEX = 0, 1, 2
OP_ADD, OP_CANCEL, OP_AMEND, OP_CANCEL_ALL, OP_SET_PRICE, OP_ACTIVATE = 1, 2, 3, 4, 5, 6
MASK_QTY, MASK_PRICE, MASK_STOP_PX, MASK_PEG_OFFSET, MASK_ACCOUNT = 1, 2, 4, 8, 16
EV_ACCEPTED, EV_FILL, EV_CANCELED, EV_AMENDED, EV_TRIGGERED, EV_REJECTED = 1, 2, 3, 4, 5, 6

REASON_NONE, REASON_UNTRIGGERED = 0, 1
REASON_INVALID_OP = 1000
REASON_INVALID_SIDE = 1001
REASON_INVALID_ORD_TYPE = 1002
REASON_INVALID_TIF = 1003
REASON_INVALID_PRICE = 1004
REASON_INVALID_QTY = 1005
REASON_INVALID_DISPLAY_QTY = 1006
REASON_DUPLICATE_ORDER_ID = 1007
REASON_UNKNOWN_ORDER = 1008
REASON_OVERFLOW = 1009
REASON_INVALID_FLAGS = 1010
REASON_INVALID_FEED = 1011
REASON_INVALID_STOP_PX = 1012
REASON_INVALID_PEG_OFFSET = 1013
REASON_NOT_AMENDABLE = 1014
REASON_NOTHING_TO_AMEND = 1015
REASON_NOT_HELD = 1016
REASON_USER_CANCEL = 3000
REASON_FOK = 3001
REASON_POST_ONLY = 3002
REASON_IOC = 3003
REASON_NO_LIQUIDITY = 3004
REASON_PROTECTION_PRICE = 3005
REASON_CANCEL_ALL = 3006
REASON_NO_REFERENCE_PRICE = 3007

MAX_TICKS = 1 << 53
MAX_QTY = 1 << 40
INT64_MAX = (1 << 63) - 1

CMD_DTYPE = np.dtype([
    ("op", "u1"), ("side", "u1"), ("ord_type", "u1"), ("tif", "u1"), ("flags", "u1"),
    ("trigger", "u1"), ("mask", "u1"), ("_pad0", "u1"), ("account", "<u4"), ("_pad1", "<u4"),
    ("order_id", "<u8"), ("price", "<i8"), ("qty", "<i8"), ("display_qty", "<i8"),
    ("stop_px", "<i8"), ("peg_offset", "<i8"),
])
EVENT_DTYPE = np.dtype([
    ("type", "u1"), ("side", "u1"), ("reason", "<u2"), ("cmd", "<u4"), ("order_id", "<u8"),
    ("maker_id", "<u8"), ("account", "<u4"), ("maker_account", "<u4"), ("price", "<i8"),
    ("qty", "<i8"), ("leaves", "<i8"), ("maker_leaves", "<i8"),
])

Event = tuple[int, int, int, int, int, int, int, int, int, int, int, int]

# Which exception the per-call API raises for each malformed-input reason.
REASON_ERRORS: dict[int, type[Exception]] = {
    REASON_INVALID_OP: errors.InvalidInputError,
    REASON_INVALID_SIDE: errors.InvalidInputError,
    REASON_INVALID_ORD_TYPE: errors.InvalidInputError,
    REASON_INVALID_TIF: errors.InvalidInputError,
    REASON_INVALID_PRICE: errors.InvalidPriceError,
    REASON_INVALID_QTY: errors.InvalidQuantityError,
    REASON_INVALID_DISPLAY_QTY: errors.InvalidQuantityError,
    REASON_DUPLICATE_ORDER_ID: errors.DuplicateOrderIdError,
    REASON_UNKNOWN_ORDER: errors.UnknownOrderError,
    REASON_OVERFLOW: errors.ArithmeticOverflowError,
    REASON_INVALID_FLAGS: errors.InvalidInputError,
    REASON_INVALID_FEED: errors.InvalidInputError,
    REASON_INVALID_STOP_PX: errors.InvalidPriceError,
    REASON_INVALID_PEG_OFFSET: errors.InvalidPriceError,
    REASON_NOT_AMENDABLE: errors.InvalidInputError,
    REASON_NOTHING_TO_AMEND: errors.InvalidInputError,
    REASON_NOT_HELD: errors.InvalidInputError,
}


class Reject(Exception):
    """Internal: a command failed validation with a 1xxx reason."""

    def __init__(self, reason: int, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def is_conditional_type(ord_type: int) -> bool:
    return ord_type in (STOP, STOP_LIMIT, MARKET_IF_TOUCHED, LIMIT_IF_TOUCHED)


def is_market_type(ord_type: int) -> bool:
    return ord_type in (MARKET, STOP, MARKET_IF_TOUCHED)


def trigger_rises(side: int, ord_type: int) -> bool:
    """Stops fire as the price moves against the holder, if-touched orders as it moves in favour."""
    stop = ord_type in (STOP, STOP_LIMIT)
    return side == BUY if stop else side == SELL


def crosses(taker_side: int, level_price: int, limit: int) -> bool:
    return level_price <= limit if taker_side == BUY else level_price >= limit


@dataclass
class Cmd:
    """One command, with the same fields as a ``CMD_DTYPE`` row."""

    op: int
    side: int = 0
    ord_type: int = 0
    tif: int = 0
    flags: int = 0
    trigger: int = FEED_MARK
    mask: int = 0
    account: int = 0
    order_id: int = 0
    price: int = 0
    qty: int = 0
    display_qty: int = -1
    stop_px: int = 0
    peg_offset: int = 0


def check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be an int, not {type(value).__name__}")
    return int(value)


def as_tuples(events: object) -> list[Event]:
    """Events as plain int tuples in EVENT_DTYPE field order, from a structured array or a list."""
    if isinstance(events, np.ndarray):
        if events.dtype.names != EVENT_DTYPE.names:
            raise TypeError(f"events dtype {events.dtype} is not EVENT_DTYPE")
        return [tuple(int(v) for v in row) for row in events.tolist()]  # type: ignore[misc]
    return [tuple(int(v) for v in ev) for ev in events]  # type: ignore[attr-defined, misc]


def cmd_array(cmds: list[Cmd]) -> np.ndarray:
    """A CMD_DTYPE array with one row per command."""
    out = np.zeros(len(cmds), dtype=CMD_DTYPE)
    for i, c in enumerate(cmds):
        for name, value in vars(c).items():
            out[i][name] = value
    return out


def cmd_from_row(row: tuple) -> Cmd:  # type: ignore[type-arg]
    names = CMD_DTYPE.names
    assert names is not None
    d = dict(zip(names, row))
    return Cmd(d["op"], d["side"], d["ord_type"], d["tif"], d["flags"], d["trigger"], d["mask"],
               d["account"], d["order_id"], d["price"], d["qty"], d["display_qty"], d["stop_px"],
               d["peg_offset"])


def call_per_cmd(book: object, c: Cmd) -> object:
    """Applies one command through the per-call API of `book` (native or model)."""
    b: Any = book
    acct = c.account if c.mask & MASK_ACCOUNT else None
    if c.op == OP_ADD:
        return b.add(c.order_id, c.account, c.side, c.price, c.qty, c.ord_type, c.tif, c.flags,
                     c.display_qty, c.stop_px, c.peg_offset, c.trigger)
    if c.op == OP_CANCEL:
        return b.cancel(c.order_id, account=acct)
    if c.op == OP_AMEND:
        pick = {MASK_QTY: c.qty, MASK_PRICE: c.price, MASK_STOP_PX: c.stop_px,
                MASK_PEG_OFFSET: c.peg_offset}
        kw = {name: (pick[bit] if c.mask & bit else None) for name, bit in
              (("qty", MASK_QTY), ("price", MASK_PRICE), ("stop_px", MASK_STOP_PX),
               ("peg_offset", MASK_PEG_OFFSET))}
        return b.amend(c.order_id, account=acct, **kw)
    if c.op == OP_CANCEL_ALL:
        return b.cancel_all(c.account)
    if c.op == OP_SET_PRICE:
        return b.set_trigger_price(c.trigger, c.price, c.stop_px or None)
    if c.op == OP_ACTIVATE:
        return b.activate(c.order_id, c.qty)
    raise ValueError(f"op={c.op} has no per-call form")
