# cython: language_level=3
"""The live order record of :class:`perpex.exchange.Exchange` as an extension type.

Every command creates, reads or updates a few of these, so the fields are C integers: the
engine's Cython modules read them without an attribute lookup, and building one does not run
a generated ``__init__`` in the bytecode loop. The fields and their meaning are those
:mod:`perpex.orders` documents; quantities and prices are the native book's 64-bit values
(the commands validate them against the instrument's limits before a record exists).
``px_qty``, a sum of products, is one too while it fits, and a Python integer beyond."""

cimport cython
from libc.stdint cimport int64_t

from perpex._checked cimport as_int64

from perpex import _native

cdef int64_t _REDUCE = _native.FLAG_REDUCE_ONLY
cdef int _BUY = _native.BUY

_FIELDS = ("order_id", "account", "symbol", "side", "ord_type", "tif", "flags", "feed", "price",
           "stop_px", "peg_offset", "display_qty", "order_qty", "leaves_qty", "cum_qty",
           "px_qty", "cl_ord_id", "close_all", "conditional", "triggered")


# no_gc: a record refers to strs, ints, its key tuple and its index entry's levels, none of
# which refers back, so it cannot be part of a cycle; untracked, the resting orders cost the
# collector nothing. freelist: every order of a flow is one record, most of them short-lived;
# a dead one's memory serves the next without a trip through the allocator
@cython.no_gc
@cython.freelist(1024)
cdef class OrderRecord:
    """One live order. Prices are ticks (0 = none); ``order_qty = cum_qty + leaves_qty``
    except for a Close order without a quantity (``close_all``), sized when it executes."""

    def __init__(self, int64_t order_id, int64_t account, str symbol not None, int side,
                 int ord_type, int tif, int64_t flags, int feed, int64_t price, int64_t stop_px,
                 int64_t peg_offset, int64_t display_qty, int64_t order_qty, int64_t leaves_qty,
                 int64_t cum_qty=0, px_qty=0, str cl_ord_id not None="", bint close_all=False,
                 bint conditional=False, bint triggered=False):
        self.order_id, self.account, self.symbol, self.side = order_id, account, symbol, side
        self.ord_type, self.tif, self.flags, self.feed = ord_type, tif, flags, feed
        self.price, self.stop_px, self.peg_offset = price, stop_px, peg_offset
        self.display_qty, self.order_qty, self.leaves_qty = display_qty, order_qty, leaves_qty
        self.cum_qty, self.cl_ord_id = cum_qty, cl_ord_id
        self.px_qty = px_qty
        self.close_all, self.conditional, self.triggered = close_all, conditional, triggered

    # (new_order below builds one as this does, without the call)

    @property
    def px_qty(self):
        return rec_px_qty(self)

    @px_qty.setter
    def px_qty(self, value):
        cdef int64_t v
        if as_int64(value, &v):
            self.pxq, self.pxq_wide = v, None
        else:
            self.pxq, self.pxq_wide = 0, value

    @property
    def reduce_only(self):
        return bool(self.flags & _REDUCE)

    @property
    def sign(self):
        return 1 if self.side == _BUY else -1

    def as_tuple(self):
        return (self.order_id, self.account, self.symbol, self.side, self.ord_type, self.tif,
                self.flags, self.feed, self.price, self.stop_px, self.peg_offset,
                self.display_qty, self.order_qty, self.leaves_qty, self.cum_qty, self.px_qty,
                self.cl_ord_id, self.close_all, self.conditional, self.triggered)

    def indexed_as(self):
        """What the order-margin index counts for the order: (side, price, contracts), or
        (0, 0, 0) when it is not indexed or carries no order margin."""
        if self.ix_levels is None:
            return (0, 0, 0)
        return (self.ix_side, self.ix_price, self.ix_qty)

    def __reduce__(self):
        # the index entry travels with the record; its levels are the snapshot's own object
        return (OrderRecord, self.as_tuple(),
                (self.ix_side, self.ix_price, self.ix_qty, self.ix_levels))

    def __setstate__(self, state):
        self.ix_side, self.ix_price, self.ix_qty, self.ix_levels = state

    def __eq__(self, other):
        if not isinstance(other, OrderRecord):
            return NotImplemented
        return self.as_tuple() == (<OrderRecord>other).as_tuple()

    def __repr__(self):
        return "OrderRecord(" + ", ".join(
            f"{k}={v!r}" for k, v in zip(_FIELDS, self.as_tuple())) + ")"


cdef OrderRecord new_order(int64_t order_id, int64_t account, str symbol, int side, int ord_type,
                           int tif, int64_t flags, int feed, int64_t price, int64_t stop_px,
                           int64_t peg_offset, int64_t display_qty, int64_t qty, str cl_ord_id,
                           bint close_all, bint conditional):
    cdef OrderRecord rec = OrderRecord.__new__(OrderRecord)
    rec.order_id, rec.account, rec.symbol, rec.side = order_id, account, symbol, side
    rec.ord_type, rec.tif, rec.flags, rec.feed = ord_type, tif, flags, feed
    rec.price, rec.stop_px, rec.peg_offset = price, stop_px, peg_offset
    rec.display_qty, rec.order_qty, rec.leaves_qty = display_qty, qty, qty
    rec.cl_ord_id = cl_ord_id  # (px_qty: pxq 0, pxq_wide None, as allocated)
    rec.close_all, rec.conditional = close_all, conditional
    return rec
