# Checked 64-bit integer arithmetic for the Cython modules (_levels, _fills), on the GCC and
# Clang overflow builtins: each returns true when the result does not fit in int64 (``out`` is
# then not to be used) and false when it was written to ``out``. Declarations only: a module
# that cimports them compiles the C below into itself, and nothing is imported at run time.

from libc.stdint cimport int64_t

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
       quotient does not fit in 63 bits */
    static inline bool perpex_ceil_mul_div(int64_t a, int64_t num, int64_t den, int64_t *out) {
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
