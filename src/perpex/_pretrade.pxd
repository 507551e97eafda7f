# The pre-trade check's isolated IM% step, for the other native module that needs an isolated
# position's margin (perpex._lots). The function and its documentation are in _pretrade.pyx.

cdef tuple _lev_ratio(object lev)
