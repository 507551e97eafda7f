# cython: language_level=3
"""The ledger's tables as typed fields: the C base of :class:`perpex.accounts.ledger.Ledger`,
which documents them and does all the bookkeeping. The native steps that read and write
balances in place (perpex._fills: a fill's transfers, a wallet read per pre-trade check, a lot's
fund transfers) reach them here without an attribute lookup each, about 140 instructions a
read in the compiled build, several reads a fill."""

cimport cython
from libc.stdint cimport int64_t


# a Ledger pickles as its __getstate__ says (the plain {currency: {key: balance}} it always was)
@cython.auto_pickle(False)
cdef class LedgerTables:
    # (fields in _ledger.pxd)

    @property
    def _counts(self):
        """currency -> transfers made (Ledger documents it)."""
        self._fold()
        return self._counts_d

    @_counts.setter
    def _counts(self, dict value):
        self._fold()
        self._counts_d = value

    cdef int _fold(self) except -1:
        """Adds the transfers the native steps made in ``_hot_ccy`` to the table."""
        cdef int64_t n = self._hot_pending
        if n:
            self._hot_pending = 0
            self._counts_d[self._hot_ccy] += n
        return 0
