# cython: language_level=3
"""The ledger's tables as typed fields: the C base of :class:`perpex.accounts.ledger.Ledger`,
which documents them and does all the bookkeeping. The native steps that read and write
balances in place (perpex._fills: a fill's transfers, a wallet read per pre-trade check, a lot's
fund transfers) reach them here without an attribute lookup each, about 140 instructions a
read in the compiled build, several reads a fill."""

cimport cython


# a Ledger pickles as its __getstate__ says (the plain {currency: {key: balance}} it always was)
@cython.auto_pickle(False)
cdef class LedgerTables:
    pass  # (fields in _ledger.pxd)
