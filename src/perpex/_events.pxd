# The execution report's C entry point, for the engine loop (perpex._core). The function and
# its documentation are in _events.pyx; _price is here, whole, for the modules that cimport it.

from perpex._records cimport OrderRecord


cdef dict execution_c(object instrument, str currency, dict prices, OrderRecord rec,
                      str exec_type, str ord_status, object seq, object ts, str text,
                      object last_qty, object last_px, object exec_cost, object exec_comm,
                      str liquidity, object stop_px)


cdef inline object _price(object instrument, dict cache, object ticks):
    """Instrument.ticks_to_price through its own cache (``instrument._prices``), calling it
    only on a miss."""
    p = cache.get(ticks)
    return instrument.ticks_to_price(ticks) if p is None else p
