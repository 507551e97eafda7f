# The native step of perpex._fills.book_trade and its reference, for the engine loop
# (perpex._core) to call in C, a wallet's balance read from the same tables
# (perpex._pretrade), and a balance read and a transfer for the liquidation engine's lots
# (perpex._lots). The functions and their documentation are in _fills.pyx.

from libc.stdint cimport int64_t

from perpex.accounts._position cimport Position

cdef int _book(object ledger, str ccy, Position buyer, Position seller, object qty,
               object cost, object buyer_fee, object seller_fee) except -1
cdef int _book_n(object ledger, str ccy, Position buyer, Position seller, int64_t q,
                 int64_t ec, int64_t bfee, int64_t sfee) except -1
cdef int book_reference(object ledger, str ccy, object buyer, object seller, object qty,
                        object cost, object buyer_fee, object seller_fee) except -1
cdef object wallet_c(object ledger, str ccy, object a, object pos)
cdef bint wallet_n(object ledger, str ccy, object a, object pos, int64_t* out) except -1
cdef object balance_c(object ledger, str ccy, object key)
cdef int transfer_c(object ledger, str ccy, object src, object dst, object amount,
                    str reason) except -1
