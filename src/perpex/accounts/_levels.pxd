# The order-margin index's C declarations, for modules that call it without Python calls
# (perpex._pretrade). The implementation and its documentation are in _levels.pyx.

from libc.stdint cimport int64_t
from libcpp.map cimport map as cmap

from perpex._records cimport OrderRecord

ctypedef cmap[int64_t, int64_t] Levels


cdef struct Pass:
    int64_t charged
    int64_t premium


cdef class LevelTerms:
    cdef readonly bint inverse
    cdef readonly int64_t value_num, value_den, e8_per_tick, fee_num, fee_den
    cdef int64_t _twice_value_num

    cdef bint value_c(self, int64_t qty, int64_t ticks, int64_t* out) noexcept


cdef class OpenLevels:
    cdef Levels _buys, _sells
    cdef int64_t _nbuy, _nsell
    cdef public Py_ssize_t count
    cdef public Py_ssize_t unpriced

    cdef void _add(self, int side, int64_t price, int64_t n)
    cdef void _remove(self, int side, int64_t price, int64_t n) except *
    cdef int margin_with_c(self, LevelTerms t, int64_t position_qty, int64_t rate_num,
                           int64_t rate_den, int64_t mark_e8, int64_t mark_unit, int64_t best_bid,
                           int side, int64_t price, int64_t n, int old_side, int64_t old_price,
                           int64_t old_n, int64_t* out) except -1
    cdef bint margin_bound_c(self, LevelTerms t, int64_t rn, int64_t rd, int64_t mark_e8,
                             int64_t m1, int64_t best_bid, int xside, int64_t xprice, int64_t xn,
                             int64_t* out) noexcept
    cdef bint _margin(self, LevelTerms t, int64_t pq, int64_t rn, int64_t rd, int64_t mark_e8,
                      int64_t m1, int64_t best_bid, int xside, int64_t xprice, int64_t xn,
                      int64_t* out) noexcept
    cdef int _level(self, LevelTerms t, int64_t p, int64_t n, int64_t* cap, int64_t* at,
                    int64_t lo, int64_t hi, bint beyond, int64_t m1, Pass* acc) noexcept
    cdef bint _buys_pass(self, LevelTerms t, int64_t cap, int64_t lo, int64_t hi,
                         int64_t over, int64_t m1, int64_t xprice, int64_t xn,
                         Pass* acc) noexcept
    cdef bint _sells_pass(self, LevelTerms t, int64_t cap, int64_t lo, int64_t hi,
                          int64_t under, int64_t floor, int64_t m1, int64_t xprice, int64_t xn,
                          Pass* acc) noexcept


cpdef object contract_value(object inst, object terms, object qty, object ticks)
cdef int sync_c(dict index, OrderRecord rec, int64_t reduce_flag, object found,
                bint looked) except -1
cdef int drop_c(dict index, OrderRecord rec) except -1
