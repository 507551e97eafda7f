# A position's C layout, for the modules that read it without attribute lookups (perpex._fills,
# perpex._pretrade, perpex._core). The class and its documentation are in _position.pyx.

cimport cython


@cython.no_gc
cdef class Position:
    cdef readonly object account
    cdef readonly str symbol
    # (account, symbol): the engine keys its tables by this very tuple, so a lookup with it
    # finds the entry without comparing tuples
    cdef readonly tuple key
    # Python ints: a position's amounts may leave int64 (the reference fill math keeps them exact)
    cdef public object risk_limit, qty, cost, realised_pnl, leverage, extra_margin
    # where a ledger keeps this position's cost and its account's wallet: slots of the currency
    # table ``slot_index`` (a Ledger's ``_index[ccy]``; None: none remembered), -1 for a key
    # not found there yet; see _fills.pyx
    cdef object slot_index
    cdef Py_ssize_t cost_slot, wallet_slot
    # True: the position is in the engine's queue for the liquidation index (_risk_dirty) for
    # certain; set with its entry there (perpex._core), cleared as the queue is worked
    # (perpex.exchange_risk). False: perhaps not, and a step queues it again. Never state.
    cdef public bint queued

    cdef _set(self, tuple values)
