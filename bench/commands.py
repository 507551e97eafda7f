"""The command record shared by the flow generator and every peer.

The layout mirrors ``perpex._native.CMD_DTYPE`` field for field, so a flow can be generated
(and replayed through the pure-Python peers) before the native module is built. When the
native module is importable, :func:`cmd_dtype` checks that the two declarations agree.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

CMD_DTYPE_LOCAL = np.dtype(
    [
        ("op", "u1"),
        ("side", "u1"),
        ("ord_type", "u1"),
        ("tif", "u1"),
        ("flags", "u1"),
        ("trigger", "u1"),
        ("mask", "u1"),
        ("_pad0", "u1"),
        ("account", "<u4"),
        ("_pad1", "<u4"),
        ("order_id", "<u8"),
        ("price", "<i8"),
        ("qty", "<i8"),
        ("display_qty", "<i8"),
        ("stop_px", "<i8"),
        ("peg_offset", "<i8"),
    ]
)
assert CMD_DTYPE_LOCAL.itemsize == 64

# Values from the native module's contract; :func:`check_constants` compares them.
BUY = 0
SELL = 1
LIMIT = 0
MARKET = 1
GTC = 0
OP_ADD = 1
OP_CANCEL = 2
OP_AMEND = 3
MASK_QTY = 1
NO_DISPLAY = -1
EV_FILL = 2

_CONSTANTS = {
    "BUY": BUY,
    "SELL": SELL,
    "LIMIT": LIMIT,
    "MARKET": MARKET,
    "GTC": GTC,
    "OP_ADD": OP_ADD,
    "OP_CANCEL": OP_CANCEL,
    "OP_AMEND": OP_AMEND,
    "MASK_QTY": MASK_QTY,
    "EV_FILL": EV_FILL,
}


def load_native() -> ModuleType | None:
    """``perpex._native`` if it has been built, else ``None``."""
    try:
        from perpex import _native
    except ImportError:
        return None
    return _native


def check_constants(native: Any) -> None:
    """Fail loudly if the native module numbers its sides, ops or events differently."""
    for name, value in _CONSTANTS.items():
        got = getattr(native, name)
        if got != value:
            raise AssertionError(f"perpex._native.{name} is {got}, the flow assumes {value}")


def cmd_dtype() -> np.dtype[Any]:
    """The command dtype: the native one when built (checked against ours), else ours."""
    native = load_native()
    if native is None:
        return CMD_DTYPE_LOCAL
    if native.CMD_DTYPE != CMD_DTYPE_LOCAL:
        raise AssertionError(
            f"perpex._native.CMD_DTYPE {native.CMD_DTYPE} differs from the flow's {CMD_DTYPE_LOCAL}"
        )
    check_constants(native)
    return native.CMD_DTYPE  # type: ignore[no-any-return]


def decode(cmds: np.ndarray) -> list[tuple[int, int, int, int, int, int, int]]:
    """Rows as Python tuples (op, side, ord_type, account, order_id, price, qty).

    Per-call peers are timed on the same pre-decoded tuples, so NumPy scalar unboxing is
    charged to none of them.
    """
    return list(
        zip(
            cmds["op"].tolist(),
            cmds["side"].tolist(),
            cmds["ord_type"].tolist(),
            cmds["account"].tolist(),
            cmds["order_id"].tolist(),
            cmds["price"].tolist(),
            cmds["qty"].tolist(),
        )
    )


def replay(rows: list[tuple[int, int, int, int, int, int, int]], add_limit: Any, add_market: Any,
           cancel: Any, amend: Any = None) -> None:
    """The per-call replay every peer's timed loop uses: one call per message, the same
    dispatch for all of them, so their timings differ only by the calls themselves."""
    for op, side, ord_type, account, order_id, price, qty in rows:
        if op == OP_ADD:
            if ord_type == LIMIT:
                add_limit(order_id, account, side, price, qty)
            else:
                add_market(order_id, account, side, qty)
        elif op == OP_CANCEL:
            cancel(order_id)
        elif op == OP_AMEND and amend is not None:
            amend(order_id, qty)
        else:
            raise ValueError(f"op={op} is not supported by this replay")
