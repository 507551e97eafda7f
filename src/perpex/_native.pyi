"""Type stubs for the compiled core ``perpex._native`` (C++ via pybind11).

Everything here is in integer units: prices in ticks (> 0), quantities in contracts (> 0),
order ids strictly increasing per book (> 0), account ids uint32.

Semantics (see csrc/core/order_book.hpp for the full contract):
- price-time priority; displayed quantity at a level matches before hidden quantity; an
  iceberg's refreshed slice goes to the back of the displayed queue (MECHANICS Decisions 5);
- amend: reducing quantity keeps priority, increasing it or changing the price loses it
  (Decisions 4); an amended price that crosses executes as a taker;
- FillOrKill is decided before anything is touched; post-only that would take liquidity is
  canceled (REASON_POST_ONLY); IOC/Market remainders are canceled;
- Market orders take an optional protection price (``price``; 0 = none) beyond which the
  remainder is canceled (REASON_PROTECTION_PRICE);
- conditional orders (Stop, StopLimit, MarketIfTouched, LimitIfTouched; trailing with
  FLAG_TRAILING and ``peg_offset``) wait in a trigger book keyed by feed (FEED_LAST, FEED_MARK,
  FEED_INDEX). Last-price triggers fire after each command's trades; mark and index triggers
  fire in ``set_trigger_price``. With ``hold_triggered=True`` a triggered order is not matched:
  it waits (EV_TRIGGERED emitted) until the caller calls ``activate`` or ``cancel``;
- self-trades are allowed;
- malformed input raises a ``perpex.errors`` exception and changes nothing.

Every mutating call appends events to an internal buffer; ``drain_events()`` returns them as a
structured array of ``EVENT_DTYPE`` and clears the buffer.
"""

from typing import Optional
import numpy as np
import numpy.typing as npt

# sides
BUY: int  # 0
SELL: int  # 1
# order types
LIMIT: int  # 0
MARKET: int  # 1
STOP: int  # 2
STOP_LIMIT: int  # 3
MARKET_IF_TOUCHED: int  # 4
LIMIT_IF_TOUCHED: int  # 5
# time in force
GTC: int  # 0
IOC: int  # 1
FOK: int  # 2
# flags (bit mask)
FLAG_POST_ONLY: int  # 1
FLAG_REDUCE_ONLY: int  # 2   (carried for the caller; the book does not know positions)
FLAG_CLOSE: int  # 4         (likewise)
FLAG_TRAILING: int  # 8
# trigger feeds
FEED_LAST: int  # 0
FEED_MARK: int  # 1
FEED_INDEX: int  # 2
# batch ops
OP_ADD: int  # 1
OP_CANCEL: int  # 2
OP_AMEND: int  # 3
OP_CANCEL_ALL: int  # 4
OP_SET_PRICE: int  # 5   (trigger = feed, price = price)
OP_ACTIVATE: int  # 6    (order_id, qty)
# amend / cancel field mask for batch rows
MASK_QTY: int  # 1
MASK_PRICE: int  # 2
MASK_STOP_PX: int  # 4
MASK_PEG_OFFSET: int  # 8
MASK_ACCOUNT: int  # 16  (check that the order belongs to `account`)
# event types
EV_ACCEPTED: int  # 1  (reason == REASON_UNTRIGGERED when it went to the trigger book)
EV_FILL: int  # 2
EV_CANCELED: int  # 3
EV_AMENDED: int  # 4
EV_TRIGGERED: int  # 5
EV_REJECTED: int  # 6
# reasons (uint16). 1xxx: malformed input (batch status codes / exceptions); 3xxx: outcomes
REASON_NONE: int  # 0
REASON_UNTRIGGERED: int  # 1
REASON_USER_CANCEL: int  # 3000
REASON_FOK: int  # 3001
REASON_POST_ONLY: int  # 3002
REASON_IOC: int  # 3003
REASON_NO_LIQUIDITY: int  # 3004 (Market remainder with an empty opposite side)
REASON_PROTECTION_PRICE: int  # 3005
REASON_CANCEL_ALL: int  # 3006
REASON_NO_REFERENCE_PRICE: int  # 3007 (trailing stop placed before its feed has a price)

CMD_DTYPE: np.dtype  # 64-byte command record, fields:
# op u1, side u1, ord_type u1, tif u1, flags u1, trigger u1, mask u1, _pad0 u1,
# account u4, _pad1 u4, order_id u8, price i8, qty i8, display_qty i8 (-1 = none),
# stop_px i8, peg_offset i8
EVENT_DTYPE: np.dtype  # 64-byte event record, fields:
# type u1, side u1, reason u2, cmd u4 (row index in the batch / per-call command counter),
# order_id u8 (taker or subject), maker_id u8, account u4, maker_account u4,
# price i8 (fill: maker price; others: order price, or stop_px for conditional orders),
# qty i8 (fill qty / order qty / canceled qty / new leaves), leaves i8 (taker or subject
# leaves after the event), maker_leaves i8

NODE_BYTES: int  # bytes per resting order node
MAX_TICKS: int  # the largest price in ticks (2**53)
MAX_QTY: int  # the largest quantity in contracts (2**40)

class OrderBook:
    def __init__(self, hold_triggered: bool = False, capacity: int = 1024) -> None: ...
    # --- commands (per call). Each returns the order's resting leaves after the call.
    def add(self, order_id: int, account: int, side: int, price: int, qty: int,
            ord_type: int = 0, tif: int = 0, flags: int = 0, display_qty: int = -1,
            stop_px: int = 0, peg_offset: int = 0, trigger: int = 1) -> int: ...
    def add_limit(self, order_id: int, account: int, side: int, price: int, qty: int) -> int: ...
    def add_market(self, order_id: int, account: int, side: int, qty: int,
                   protect_price: int = 0) -> int: ...
    def cancel(self, order_id: int, account: Optional[int] = None) -> int:
        """Cancels a resting or untriggered order; returns the canceled leaves."""
    def amend(self, order_id: int, qty: Optional[int] = None, price: Optional[int] = None,
              stop_px: Optional[int] = None, peg_offset: Optional[int] = None,
              account: Optional[int] = None) -> int:
        """qty is the new leaves quantity (> 0). Returns the leaves resting after the amend."""
    def cancel_all(self, account: int) -> int:
        """Cancels every live and untriggered order of the account; returns how many."""
    def set_trigger_price(self, feed: int, price: int, price_ceil: Optional[int] = None) -> None: ...
    def noop(self, order_id: int, account: int, side: int, price: int, qty: int) -> int:
        """Does nothing through pybind11's dispatcher: the floor of a pybind11 binding of
        add_limit's shape (benchmarks)."""
    def drain_event_tuples(self) -> list[tuple[int, ...]]:
        """The pending events as tuples in EVENT_DTYPE field order: drain_events().tolist()."""
    def noop_fast(self, order_id: int, account: int, side: int, price: int, qty: int) -> int:
        """add_limit's own fast-call argument handling with nothing run (benchmarks)."""
    def activate(self, order_id: int, qty: int) -> int:
        """Releases a held triggered order with `qty` (<= its leaves) into matching."""
    def submit_batch(self, cmds: npt.NDArray,
                     out: Optional[npt.NDArray] = None) -> tuple[npt.NDArray, npt.NDArray]:
        """Applies CMD_DTYPE rows in order, GIL released. Per-row status (uint16): 0 = applied,
        else the 1xxx reason (that row changed nothing). Returns (events, status).

        With `out`, an EVENT_DTYPE array the caller reuses across batches, the events are
        written into it and returned as a view of its first rows (a new array if they do not
        fit): high-volume loops then touch no fresh memory."""
    def drain_events(self) -> npt.NDArray: ...
    # --- queries
    def best_bid(self) -> int: ...  # 0 when empty; includes hidden quantity
    def best_ask(self) -> int: ...
    def last_price(self, feed: int) -> int: ...  # 0 until known
    def depth(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Displayed quantity per level, best first; levels with nothing displayed are skipped."""
    def sweep(self, side: int, qty: int, levels: int = 32) -> tuple[int, int]:
        """Walks the displayed quantity of side's best ``levels`` displayed levels (as depth()
        lists them) until qty (> 0) is covered: (the price of the level covering it, or of the
        last level walked, 0 without any; the quantity left uncovered)."""
    def level_orders(self, side: int, price: int) -> list[tuple[int, int, int, int]]:
        """(order_id, account, leaves, displayed) in priority order."""
    def order(self, order_id: int) -> Optional[dict]: ...
    def account_orders(self, account: int) -> list[int]: ...
    @property
    def order_count(self) -> int: ...        # resting orders
    @property
    def conditional_count(self) -> int: ...  # untriggered + held orders
    def level_count(self, side: int) -> int: ...
    def account_order_count(self, account: int) -> int: ...  # resting + conditional
    def state_hash(self) -> int: ...
    def dump(self) -> bytes: ...
    @staticmethod
    def load(data: bytes) -> "OrderBook": ...
    def check_invariants(self) -> None: ...


class FsyncThread:
    """Background fsync of one file descriptor, on a native thread that never takes the GIL
    (the journal's group commit, :meth:`perpex.journal.Journal.commit`). One fsync at a time;
    the descriptor must stay open until :meth:`close` returns."""
    def __init__(self, fd: int) -> None: ...
    def start(self, seq: int) -> None:
        """Starts an fsync covering records up to ``seq``; ValueError if one is in flight or
        the thread is closed."""
    def idle(self) -> bool: ...  # no fsync in flight
    def wait(self) -> tuple[int, int]:
        """Waits, releasing the GIL, until no fsync is in flight; (seq, errno) of the last
        completed one (errno 0: success; seq 0 before any)."""
    def close(self) -> None: ...  # finishes the one in flight and joins; idempotent
