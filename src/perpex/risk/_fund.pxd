# The insurance fund's arithmetic, for the engine's steps in C (perpex._lots). The
# implementation and its documentation are in _fund.pyx.

cpdef object surplus(inst, position_qty, fill_price, bankruptcy_price, terms=*)
cpdef tuple affordable(budget, fill_price, bankruptcy_price, inst, int sign, available,
                       terms=*)
cpdef tuple walk(budget, levels, bankruptcy_price, inst, int sign, wanted, terms=*)
