# The engine's typed state and its C methods, for the native modules that read the engine
# without attribute lookups (perpex._pretrade). The class and its documentation are in
# _core.pyx.

from libc.stdint cimport int64_t

from perpex._records cimport OrderRecord


cdef class EngineCore:
    cdef public dict _inst, _books, _positions, _orders, _live, _reduce_only, _cl_ids
    cdef public dict _open, _open_seen, _fee_ratios, _settled, _lots, _liq_orders
    cdef public dict _done, _texts, _dirty, _buckets
    cdef public dict _marks, _cv, _cross_rates, _by_ccy, _risk_dirty, _linked
    cdef public object _rate, _ledger, _held, _executions, _halted
    cdef public list _events
    cdef public int64_t _max_open, _max_stop
    cdef public bint _emit, _checks_off
    cdef public int64_t _seq, _ts, _next_id

    cdef bint _token(self, account) except -1
    cdef int _begin(self, int64_t ts) except -1
    cdef object _commit_c(self, int64_t ts, inst, OrderRecord rec, bint cancel)
    cdef object _place_c(self, inst, OrderRecord rec)
    cdef object _cancel_c(self, OrderRecord rec)
    cdef int _touch_c(self, a, str ccy) except -1
    cdef object _outcome_c(self, OrderRecord rec)
    cdef object _reject_c(self, inst, OrderRecord rec, str text)
    cdef int _drive_c(self, sym) except -1
    cdef int _apply_c(self, sym, list events) except -1
    cdef int _finish_c(self, inst, OrderRecord rec, str exec_type, str status, str text,
                       last_qty, last_px, exec_cost, exec_comm, str liquidity) except -1
    cdef int _fill_c(self, inst, OrderRecord taker, OrderRecord maker, px, q, leaves,
                     mleaves) except -1
    cdef int _fill_side(self, inst, OrderRecord rec, left, fee, str liq, px, q,
                        cost) except -1


# The pre-trade margin check's common case (perpex._pretrade._fits), which that module plugs
# into the loop when it is imported: it cimports this module, which cannot cimport it back.
ctypedef object (*FitsFn)(EngineCore, object, str, str, int, int64_t, int64_t, tuple)
cdef void set_order_fits(FitsFn fn) noexcept
