# cython: language_level=3, boundscheck=False, wraparound=False
"""Fast summaries of EVENT_DTYPE arrays: the fill tape digest used to compare runs."""

import numpy as np

cdef unsigned long long FNV_OFFSET = 0xcbf29ce484222325ULL
cdef unsigned long long FNV_PRIME = 0x100000001b3ULL


cdef inline unsigned long long _mix(unsigned long long h, unsigned long long v) nogil:
    cdef int i
    for i in range(8):
        h ^= (v >> (8 * i)) & 0xFF
        h *= FNV_PRIME
    return h


def fill_digest(events, unsigned long long seed=FNV_OFFSET):
    """Returns (fills, traded_qty, digest) over the EV_FILL rows of an event array.

    The digest is FNV-1a over (maker_id, taker_id, price, qty) of each fill in order, chained
    from `seed` so a replay can be digested chunk by chunk.
    """
    cdef const unsigned char[:] types = np.ascontiguousarray(events["type"])
    cdef const unsigned long long[:] takers = np.ascontiguousarray(events["order_id"])
    cdef const unsigned long long[:] makers = np.ascontiguousarray(events["maker_id"])
    cdef const long long[:] prices = np.ascontiguousarray(events["price"])
    cdef const long long[:] qtys = np.ascontiguousarray(events["qty"])
    cdef Py_ssize_t i, n = types.shape[0]
    cdef unsigned long long h = seed
    cdef long long fills = 0, traded = 0
    with nogil:
        for i in range(n):
            if types[i] == 2:
                h = _mix(h, makers[i])
                h = _mix(h, takers[i])
                h = _mix(h, <unsigned long long>prices[i])
                h = _mix(h, <unsigned long long>qtys[i])
                fills += 1
                traded += qtys[i]
    return fills, traded, h
