from libc.stdint cimport int64_t, uint32_t, uint64_t

# record framing (perpex.journal): magic, then <I length, <Q seq, <q ts (the checksummed
# header fields), <I crc32c(payload, crc32c(those 20 bytes)), then the payload
cdef enum:
    HEADER = 28

# payload values (perpex.exchange_codec): tag bytes, the place payload's head, the cancel
# payload, and the code of no order type
cdef enum:
    TAG_NONE = 0
    TAG_INT = 1
    TAG_FLOAT = 2
    K_PLACE = 3
    PLACE_HEAD = 9      # kind u8, account u32, symbol, side, ord_type, tif (u8 each)
    K_CANCEL = 5
    CANCEL_SIZE = 13    # kind u8, account u32, order id i64
    NO_CODE = 255


# The payload of record ``i`` of a walked image (walk_records' columns: offset ``a``, payload
# length ``n``) in the ``size`` bytes at ``data``, checked to lie within them.
cdef inline const char* record_payload(const unsigned char* data, Py_ssize_t size,
                                       Py_ssize_t i, int64_t a, int64_t n) except NULL:
    if a < 0 or n < 0 or a > size - HEADER or n > size - HEADER - a:
        raise ValueError(f"record {i} at offset {a} with {n} bytes is beyond the image")
    return <const char*>data + a + HEADER

# The codec's first step for a place command, for the journaled exchange's order call to
# call in C (perpex._journaled). The class and its documentation are in _wal.pyx.

cdef enum:
    NAMES_SCANNED = 8  # the keys of a name table compared by address before its lookup

cdef class _Names:
    cdef dict table
    cdef tuple keys
    cdef unsigned char codes[NAMES_SCANNED]
    cdef Py_ssize_t n

    cdef int code(self, object name) except -2

cdef class PlainPlaces:
    cdef _Names _symbols, _sides, _ord_types, _tifs
    cdef int _no_code

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


# What every append to a journal touches, for the journaled exchange's order calls to append
# in C (perpex._journaled): append_c is JournalTail.append_next. The class and its
# documentation are in _wal.pyx.
cdef class JournalTail:
    cdef public bytearray _buf
    cdef public uint64_t _last_seq, _buf_last, _committed_seq, _durable_seq
    cdef public object _failed
    cdef public str mode
    cdef public Py_ssize_t group_commit

    cdef int _put(self, uint64_t seq, int64_t ts, bytes payload) except -1
    cdef int append_c(self, int64_t ts, bytes payload) except -1
