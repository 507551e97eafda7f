# The ledger's tables, for the native steps that read them in place (perpex._fills). The class
# and its documentation are in _ledger.pyx; Ledger (perpex.accounts.ledger) defines the tables.

cdef class LedgerTables:
    cdef public dict _index, _vals, _cells, _counts
    cdef public object _journal  # the transfers recorded, or None
