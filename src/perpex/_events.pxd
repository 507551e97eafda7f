# The execution report's C entry point, for the engine loop (perpex._core). The function and
# its documentation are in _events.pyx.

from perpex._records cimport OrderRecord


cdef dict execution_c(object instrument, OrderRecord rec, str exec_type, str ord_status,
                      object seq, object ts, str text, object last_qty, object last_px,
                      object exec_cost, object exec_comm, str liquidity, object stop_px)
