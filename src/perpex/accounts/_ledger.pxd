# The ledger's tables, for the native steps that read them in place (perpex._fills). The class
# and its documentation are in _ledger.pyx; Ledger (perpex.accounts.ledger) defines the tables.

from libc.stdint cimport int64_t


cdef class LedgerTables:
    cdef public dict _index, _vals, _cells
    # the transfers made per currency, read and written as ``_counts`` (a property that first
    # folds in ``_hot_pending``: transfers the native steps made in ``_hot_ccy`` and have not
    # added to the table yet, an int64 add per fill instead of a dict update)
    cdef dict _counts_d
    cdef int64_t _hot_pending
    cdef public object _journal  # the transfers recorded, or None
    # bumped whenever a currency's tables are replaced (Ledger._set_vals, __setstate__): the
    # cache below is good while it stands
    cdef public Py_ssize_t _gen
    # the native steps' cache of the tables of the currency they last used (perpex._fills):
    # its slot index (None: a currency the ledger does not know) and, when they are int64
    # cells, a pointer to them (the memoryview is held so that the buffer stays); a key's
    # slot never changes once it has one
    cdef str _hot_ccy
    cdef Py_ssize_t _hot_gen
    cdef dict _hot_index
    cdef object _hot_view
    cdef int64_t* _hot_cells
    cdef Py_ssize_t _hot_fees  # the fee ledger's slot there, once found (-1 before)

    cdef int _fold(self) except -1
