# The order-margin index's C declarations, for modules that call it without Python calls
# (perpex._pretrade). The implementation and its documentation are in _levels.pyx.

from libc.stdint cimport int64_t

from perpex._records cimport OrderRecord


cdef extern from *:
    """
    #include <algorithm>
    #include <cstdint>
    #include <vector>
    /* One side of a key's order-margin index: contracts per price, ascending, as a sorted
       array. A key rests at a few prices (at most the 200 open orders of a contract) and every
       order adds or takes one level entry, so a binary search and a short move beat a tree's
       node per level; the margin passes walk it from either end. */
    struct PerpexLevels {
        std::vector<std::pair<int64_t, int64_t>> v;
        std::vector<std::pair<int64_t, int64_t>>::iterator at(int64_t price) {
            return std::lower_bound(v.begin(), v.end(), price,
                [](const std::pair<int64_t, int64_t>& l, int64_t p) { return l.first < p; });
        }
        void add(int64_t price, int64_t n) {
            auto it = at(price);
            if (it != v.end() && it->first == price) it->second += n;
            else v.insert(it, {price, n});
        }
        /* false (nothing changed) when fewer than n rest at price */
        bool take(int64_t price, int64_t n) {
            auto it = at(price);
            if (it == v.end() || it->first != price || it->second < n) return false;
            if (it->second == n) v.erase(it);
            else it->second -= n;
            return true;
        }
        bool empty() const { return v.empty(); }
        Py_ssize_t size() const { return (Py_ssize_t)v.size(); }
        int64_t price(Py_ssize_t i) const { return v[i].first; }
        int64_t qty(Py_ssize_t i) const { return v[i].second; }
    };
    """
    cppclass PerpexLevels:
        void add(int64_t price, int64_t n) except +  # (a vector's growth: MemoryError)
        bint take(int64_t price, int64_t n)
        bint empty()
        Py_ssize_t size()
        int64_t price(Py_ssize_t i)
        int64_t qty(Py_ssize_t i)

ctypedef PerpexLevels Levels


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

    cdef int _add(self, int side, int64_t price, int64_t n) except -1
    cdef int _remove(self, int side, int64_t price, int64_t n) except -1
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
                bint looked, object spare) except -1
cdef int drop_c(dict index, OrderRecord rec) except -1
