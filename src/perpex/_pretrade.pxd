# The pre-trade check's IM% step, for the other native module that needs a position's margin
# (perpex._lots). The function and its documentation are in _pretrade.pyx.

from perpex._core cimport Contract, EngineCore

cdef tuple _init_ratio(EngineCore e, Contract c, object pos, object lev)
