# cython: language_level=3, boundscheck=False, wraparound=False
"""Hot loops over event data: the fill tape digest used to compare runs, and the stamping of
many event records from one template."""

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


def stamp_records(dict template, tuple keys, list a, list b, list c):
    """One copy of ``template`` per row with ``keys`` (three of its keys) set to the row's
    values from ``a``, ``b`` and ``c``: the per-position event records of a funding instant.
    Copies keep the template's key order; nothing else is shared between them."""
    cdef Py_ssize_t i, n = len(a)
    if len(b) != n or len(c) != n:
        raise ValueError("stamp_records needs three columns of one length")
    k0, k1, k2 = keys  # anything but three keys raises ValueError here
    cdef list out = [None] * n
    cdef dict d
    for i in range(n):
        d = template.copy()
        d[k0] = a[i]
        d[k1] = b[i]
        d[k2] = c[i]
        out[i] = d
    return out
