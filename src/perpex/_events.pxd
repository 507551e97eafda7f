# The execution report's C entry point, for the engine loop (perpex._core). The function and
# its documentation are in _events.pyx; _price is here, whole, for the modules that cimport it.

cimport cython
from libc.stdint cimport int64_t

from perpex._records cimport OrderRecord


@cython.final
@cython.no_gc
cdef class Execution:
    # what the report is built from, as it stood when the report was made (see _events.pyx)
    cdef object _inst, _seq, _ts, _stop, _px_qty
    cdef object _last_qty, _last_px, _exec_cost, _exec_comm
    cdef dict _d
    cdef str _exec_type, _ord_status, _liquidity, _text, _symbol, _cl
    cdef int64_t _order_id, _account, _flags, _order_qty, _price, _disp, _leaves, _cum
    cdef int _side, _ord_type, _tif, _feed
    cdef bint _triggered

    cdef dict _fields(self)


cdef Execution execution_c(object instrument, OrderRecord rec, str exec_type, str ord_status,
                           object seq, object ts, str text, object last_qty, object last_px,
                           object exec_cost, object exec_comm, str liquidity, object stop_px)


cdef inline object _price(object instrument, dict cache, object ticks):
    """Instrument.ticks_to_price through its own cache (``instrument._prices``), calling it
    only on a miss."""
    p = cache.get(ticks)
    return instrument.ticks_to_price(ticks) if p is None else p
