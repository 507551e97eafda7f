# The codec's first step for a place command, for the journaled exchange's order call to
# call in C (perpex._journaled). The class and its documentation are in _wal.pyx.

cdef class PlainPlaces:
    cdef dict _symbols, _sides, _ord_types, _tifs
    cdef object _no_code

    cdef object payload(self, account, symbol, side, qty, price, ord_type, time_in_force,
                        exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value,
                        cl_ord_id)
