# A position's C layout, for the modules that read it without attribute lookups (perpex._fills,
# perpex._pretrade, perpex._core). The class and its documentation are in _position.pyx.

cimport cython
from libc.stdint cimport int64_t


@cython.no_gc
cdef class Position:
    cdef readonly object account
    cdef readonly str symbol
    # (account, symbol): the engine keys its tables by this very tuple, so a lookup with it
    # finds the entry without comparing tuples
    cdef readonly tuple key
    cdef public object risk_limit, leverage, extra_margin
    # qty, cost and realised_pnl (properties): int64 in ``q``, ``c`` and ``r`` while ``wide``
    # is None, else the three values in ``wide`` (Python ints beyond int64, which the
    # reference fill math keeps exact, or whatever was assigned). A narrow value is above
    # INT64_MIN, so that its negation fits too. The native steps read and write the int64
    # fields; everything else goes through the properties.
    cdef int64_t q, c, r
    cdef tuple wide
    # where a ledger keeps this position's cost and its account's wallet: slots of the currency
    # table ``slot_index`` (a Ledger's ``_index[ccy]``; None: none remembered), -1 for a key
    # not found there yet; see _fills.pyx
    cdef object slot_index
    cdef Py_ssize_t cost_slot, wallet_slot
    # True: the position is in the engine's queue for the liquidation index (_risk_dirty) for
    # certain; set with its entry there (perpex._core), cleared as the queue is worked
    # (perpex.exchange_risk). False: perhaps not, and a step queues it again. Never state.
    cdef public bint queued
    # this key's entries in the engine's live orders (``live``: its _live[key]) and order-margin
    # index (``levels``: its _open[key]), each with the table it was found in; never state.
    # The engine deletes a key's entry exactly when it empties and makes one only when none is
    # there, so a remembered entry that is not empty is still its table's (perpex._core's
    # key_live and key_levels read them)
    cdef object live, live_tab, levels, levels_tab

    cdef _set(self, tuple values)
    cdef int _amounts(self, object qty, object cost, object realised_pnl) except -1


# ``Position(account, symbol, risk_limit)`` without the constructor's checks, for the engine,
# whose account, symbol and risk limit are its own checked values
cdef Position flat_position(object account, str symbol, object risk_limit)


# The amounts as Python ints (the properties, and the Cython modules without an attribute
# lookup)
cdef inline object pos_qty(Position p):
    return p.q if p.wide is None else p.wide[0]

cdef inline object pos_cost(Position p):
    return p.c if p.wide is None else p.wide[1]

cdef inline object pos_pnl(Position p):
    return p.r if p.wide is None else p.wide[2]

cdef inline bint pos_open(Position p) except -1:  # qty != 0
    if p.wide is None:
        return p.q != 0
    return bool(p.wide[0])
