from libc.stdint cimport uint32_t

# The codec's first step for a place command, for the journaled exchange's order call to
# call in C (perpex._journaled). The class and its documentation are in _wal.pyx.

cdef class PlainPlaces:
    cdef dict _symbols, _sides, _ord_types, _tifs
    cdef object _no_code

    cdef object payload(self, account, symbol, side, qty, price, ord_type, time_in_force,
                        exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value,
                        cl_ord_id)


# A place payload as plain_place writes it, read in place (perpex._replay): its head fields and
# where its tagged qty and price start. read_plain_c is True when the payload is one (and
# fills ``out``); value_at reads a tagged value it found (None, an int or a float).
cdef struct PlainPlace:
    uint32_t account
    unsigned char symbol, side, ord_type, tif
    Py_ssize_t qty_at, price_at

cdef bint read_plain_c(const char* p, Py_ssize_t n, PlainPlace* out) noexcept
cdef object value_at(const char* p, Py_ssize_t at)
