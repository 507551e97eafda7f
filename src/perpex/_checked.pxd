# Checked 64-bit integer arithmetic for the Cython modules (_levels, _fills, _core), on the GCC
# and Clang overflow builtins: each returns true when the result does not fit in int64 (``out``
# is then not to be used) and false when it was written to ``out``; and ``as_int64``, a Python
# int into int64. Declarations and inline functions only: a module that cimports them compiles
# them into itself, and nothing is imported at run time.

from cpython.long cimport PyLong_AsLongLongAndOverflow
from libc.stdint cimport INT64_MIN, int64_t


cdef inline bint as_int64(object x, int64_t* out):
    """``x`` (a Python int) into ``out``; False when it is not an int or not above INT64_MIN
    (so its negation fits too)."""
    cdef int overflow = 0
    cdef long long v
    if type(x) is not int:
        return False
    v = PyLong_AsLongLongAndOverflow(x, &overflow)
    if overflow or v == INT64_MIN:
        return False
    out[0] = v
    return True


cdef inline bint div_half_away(int64_t a, int64_t b, int64_t* out):
    """rounding.div_round_half_away in int64 (b != 0 and above INT64_MIN); False when ``a``
    is INT64_MIN, whose magnitude int64 cannot hold."""
    if a == INT64_MIN:
        return False
    cdef int64_t ua = -a if a < 0 else a
    cdef int64_t ub = -b if b < 0 else b
    cdef int64_t q = ua // ub
    cdef int64_t r = ua - q * ub
    if r >= ub - r:  # 2r >= |b| without doubling r
        q += 1
    out[0] = q if (a >= 0) == (b > 0) else -q
    return True


cdef extern from *:
    """
    #include <cstdint>
    static inline bool perpex_mul(int64_t a, int64_t b, int64_t *out) {
        return __builtin_mul_overflow(a, b, out);
    }
    static inline bool perpex_add(int64_t a, int64_t b, int64_t *out) {
        return __builtin_add_overflow(a, b, out);
    }
    static inline bool perpex_sub(int64_t a, int64_t b, int64_t *out) {
        return __builtin_sub_overflow(a, b, out);
    }
    /* ceil(a * num / den) for a, num >= 0 and den > 0, through 128 bits; true when the
       quotient does not fit in 63 bits. A product that fits in 64 bits (every order's margin
       and fee at the presets' sizes) is divided in 64: the 128-bit division is a library
       call several times as long. */
    static inline bool perpex_ceil_mul_div(int64_t a, int64_t num, int64_t den, int64_t *out) {
        int64_t p64;
        if (!__builtin_mul_overflow(a, num, &p64)) {
            *out = p64 / den + (p64 % den != 0);
            return false;
        }
        __int128 p = (__int128)a * num;
        __int128 q = (p + den - 1) / den;
        if (q > INT64_MAX) return true;
        *out = (int64_t)q;
        return false;
    }
    """
    bint perpex_mul(int64_t a, int64_t b, int64_t *out) nogil
    bint perpex_add(int64_t a, int64_t b, int64_t *out) nogil
    bint perpex_sub(int64_t a, int64_t b, int64_t *out) nogil
    bint perpex_ceil_mul_div(int64_t a, int64_t num, int64_t den, int64_t *out) nogil
