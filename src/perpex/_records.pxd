# The order record's C layout, for the modules that read it without attribute lookups
# (perpex._events, perpex.accounts._levels). The class and its documentation are in _records.pyx.

cimport cython
from libc.stdint cimport int64_t


@cython.no_gc
cdef class OrderRecord:
    cdef public int64_t order_id, account
    cdef public str symbol
    cdef public int side, ord_type, tif, feed
    cdef public int64_t flags, price, stop_px, peg_offset, display_qty
    cdef public int64_t order_qty, leaves_qty, cum_qty
    # the fills' sum of price x contracts in ticks (the property px_qty): int64 in ``pxq``
    # while ``pxq_wide`` is None, else ``pxq_wide`` (a Python int beyond int64, or whatever
    # was assigned)
    cdef int64_t pxq
    cdef object pxq_wide
    cdef public str cl_ord_id
    cdef public bint close_all, conditional, triggered
    # (account, symbol) as the engine keys the order's tables (its position's ``key`` when the
    # position existed as the order went live, so that lookups find entries by identity);
    # None until then, and in a restored record until a step reads it (record_key)
    cdef readonly tuple key
    # how the order finished (its ordStatus and text), set once as it leaves the live orders;
    # None while it is live. The command that finished it answers with them (perpex._core).
    cdef readonly str done_status, done_text
    # the order-margin index's entry (perpex.accounts._levels): the levels of its (account,
    # contract) the order is counted in (None while it is not indexed), and what it was last
    # indexed as
    cdef readonly int ix_side
    cdef readonly int64_t ix_price, ix_qty
    cdef readonly object ix_levels
    # its slot in its key's live orders (perpex._idtable.LiveOrders) while it is live
    cdef Py_ssize_t live_ix


# A new order's record (cum_qty 0, order_qty = leaves_qty = qty), without the constructor's
# Python call: the engine's steps build one per order.
cdef OrderRecord new_order(int64_t order_id, int64_t account, str symbol, int side, int ord_type,
                           int tif, int64_t flags, int feed, int64_t price, int64_t stop_px,
                           int64_t peg_offset, int64_t display_qty, int64_t qty, str cl_ord_id,
                           bint close_all, bint conditional)


cdef inline object rec_px_qty(OrderRecord rec):
    """``rec.px_qty`` without the property call."""
    return rec.pxq if rec.pxq_wide is None else rec.pxq_wide


cdef inline tuple record_key(OrderRecord rec):
    """``rec.key``; a record restored from a snapshot, which went live without one, is given
    (account, symbol) the first time."""
    if rec.key is None:
        rec.key = (rec.account, rec.symbol)
    return rec.key
