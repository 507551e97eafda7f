# cython: language_level=3, boundscheck=False, wraparound=False
"""A fill's money in one call: both positions and every ledger transfer it makes.

:func:`book_trade` is how the exchange books a fill (its book fills, takeovers and ADL
fills): :func:`perpex.accounts.position.book_fill`, then
:func:`~perpex.accounts.position.book_fee` for each side whose fee is not 0 (MECHANICS §1.2,
§9.5). Those two stay the rule; they take up to five ledger transfers, each validating its
keys and amount and converting Python ints through a memoryview. The common case is taken
here instead (:func:`try_book_trade`): the same steps in 64-bit arithmetic, the results
written once.

The native step books everything or changes nothing, and it declines two positions of one
account, a ledger key or currency the ledger has not seen yet (the reference creates it), a
ledger that records its transfers or has left int64, and any step that would overflow 64
bits; :func:`book_trade` then runs the reference functions. Its tests compare the two over
random fills."""

from cpython.memoryview cimport PyMemoryView_GET_BUFFER
from libc.stdint cimport INT64_MIN, int64_t

from perpex._checked cimport as_int64, div_half_away, perpex_add, perpex_mul, perpex_sub
from perpex.accounts._ledger cimport LedgerTables
from perpex.accounts._position cimport Position
from perpex.accounts.ledger import FEES

cdef bint _apply(int64_t old_qty, int64_t old_cost, int64_t qty, int64_t ec,
                 int64_t* new_qty, int64_t* new_cost, int64_t* realised):
    """position.apply_fill on (qty, cost) values; False on a 64-bit overflow."""
    cdef int64_t close_qty, close_cost, open_qty = 0, open_cost = 0, kept_qty, kept_cost, t
    if old_qty == 0 or (old_qty > 0) == (qty > 0):
        realised[0] = 0
        return not (perpex_add(old_qty, qty, new_qty) or perpex_add(old_cost, ec, new_cost))
    # (every argument is above INT64_MIN: book_trade's as_int64 refuses it, and negates only those)
    if (qty if qty > 0 else -qty) <= (old_qty if old_qty > 0 else -old_qty):
        close_qty, close_cost = qty, ec
    else:
        close_qty, open_qty = -old_qty, qty + old_qty
        # the opening share is rounded; the closing share takes the exact remainder
        if perpex_mul(ec, open_qty, &t) or not div_half_away(t, qty, &open_cost):
            return False
        close_cost = ec - open_cost
    kept_qty = old_qty + close_qty
    if perpex_mul(old_cost, kept_qty, &t) or not div_half_away(t, old_qty, &kept_cost):
        return False
    # realised = -close_cost - (old_cost - kept_cost)
    if (perpex_sub(kept_cost, old_cost, &t) or perpex_sub(t, close_cost, realised)
            or perpex_add(kept_qty, open_qty, new_qty)
            or perpex_add(kept_cost, open_cost, new_cost)):
        return False
    return True


cdef inline Py_ssize_t _slot(dict index, object key):
    v = index.get(key)
    return -1 if v is None else <Py_ssize_t>v


# A position remembers the slots of its cost and its account's wallet in one currency table
# (a Ledger's ``_index[ccy]``, which only ever grows): each is looked up once per table, and
# a position asked about another table forgets them.

cdef inline void _point(Position p, dict index) noexcept:
    if p.slot_index is not index:
        p.slot_index = index
        p.cost_slot = p.wallet_slot = -1


cdef inline tuple _cost_key(Position p):  # (perpex.accounts.ledger.cost, without a call)
    return ("cost", p.account, p.symbol)


cdef inline Py_ssize_t _cost_slot(Position p, dict index):
    _point(p, index)
    if p.cost_slot < 0:
        p.cost_slot = _slot(index, _cost_key(p))
    return p.cost_slot


cdef inline Py_ssize_t _wallet_slot(Position p, dict index):
    _point(p, index)
    if p.wallet_slot < 0:
        p.wallet_slot = _slot(index, ("wallet", p.account))
    return p.wallet_slot


cdef LedgerTables _tables(object ledger, str ccy):
    """``ledger`` (a LedgerTables: TypeError otherwise) with its cache (_ledger.pxd) pointed at
    the tables of ``ccy``: looked up only when the currency is another than last time or a
    table has been replaced since (about 300 instructions a fill and a pre-trade check)."""
    cdef LedgerTables t = <LedgerTables?>ledger
    cdef Py_buffer* view
    if t._hot_gen == t._gen and t._hot_ccy is not None \
            and (t._hot_ccy is ccy or t._hot_ccy == ccy):
        return t
    t._fold()  # (the pending count is the last currency's)
    index = t._index.get(ccy)
    t._hot_index, t._hot_view, t._hot_fees = index, None, -1
    t._hot_cells = NULL
    if index is not None:
        table = t._cells.get(ccy)
        if type(table) is memoryview:
            view = PyMemoryView_GET_BUFFER(table)
            if view.itemsize == 8 and not view.readonly:
                t._hot_view = table
                t._hot_cells = <int64_t*>view.buf
    t._hot_ccy, t._hot_gen = ccy, t._gen
    return t


cdef object wallet_c(object ledger, str ccy, object a, object pos):
    """``ledger.balance(ccy, wallet(a))`` read from its tables, as the step below reads them,
    without the method call (the pre-trade check reads a wallet per order). ``pos`` is one of
    the account's positions in ``ccy`` (its slot is remembered there), or None."""
    cdef LedgerTables t = _tables(ledger, ccy)
    if t._hot_index is None:
        return 0
    return _cell(t, ccy, _wallet_of(t, a, pos))


cdef inline Py_ssize_t _wallet_of(LedgerTables t, object a, object pos):
    # the slot of ``a``'s wallet in the table ``t``'s cache points at (a known currency), by
    # way of its position ``pos`` when it has one
    if pos is None:
        return _slot(t._hot_index, ("wallet", a))
    return _wallet_slot(<Position>pos, t._hot_index)


cdef bint wallet_n(object ledger, str ccy, object a, object pos, int64_t* out) except -1:
    """``wallet_c`` into ``out`` without making a Python int: True when read so (the table
    holds int64 cells, or the ledger does not know the currency: 0), False when the caller
    is to read ``wallet_c`` instead (Python-int cells, or a balance at INT64_MIN, which
    as_int64 refuses)."""
    cdef LedgerTables t = _tables(ledger, ccy)
    cdef Py_ssize_t slot
    if t._hot_index is None:
        out[0] = 0
        return True
    if t._hot_cells == NULL:
        return False
    slot = _wallet_of(t, a, pos)
    out[0] = 0 if slot < 0 else t._hot_cells[slot]
    return out[0] != INT64_MIN


cdef object balance_c(object ledger, str ccy, object key):
    """``ledger.balance(ccy, key)`` read from its tables (the liquidation engine reads the
    insurance fund per lot)."""
    cdef LedgerTables t = _tables(ledger, ccy)
    return 0 if t._hot_index is None else _cell(t, ccy, _slot(t._hot_index, key))


cdef inline object _cell(LedgerTables t, str ccy, Py_ssize_t slot):
    # (``t``'s cache points at ``ccy``, a currency it knows)
    if slot < 0:
        return 0
    if t._hot_cells != NULL:
        return t._hot_cells[slot]
    return t._cells[ccy][slot]  # Python ints (dtype object)


cdef int transfer_c(object ledger, str ccy, object src, object dst, object amount,
                    str reason) except -1:
    """``ledger.transfer(ccy, src, dst, amount, reason)``, written in place when both keys are
    in the currency's int64 table, the ledger records no transfers and neither balance leaves
    64 bits; through the method otherwise (which validates, creates keys and widens)."""
    cdef int64_t v, a, b
    cdef Py_ssize_t s, d
    cdef int64_t* cells = _writable(ledger, ccy)
    cdef LedgerTables t = <LedgerTables>ledger  # (_writable checked the type)
    if cells != NULL and type(amount) is int and as_int64(amount, &v):
        s, d = _slot(t._hot_index, src), _slot(t._hot_index, dst)
        if s >= 0 and d >= 0 and s != d \
                and not (perpex_sub(cells[s], v, &a) or perpex_add(cells[d], v, &b)):
            cells[s], cells[d] = a, b
            t._hot_pending += 1  # (_writable pointed the cache at ccy)
            return 0
    ledger.transfer(ccy, src, dst, amount, reason)
    return 0


cdef int64_t* _writable(object ledger, str ccy) except? NULL:
    """The currency's balances as int64 cells to write in place, or NULL when the ledger
    records its transfers, does not know the currency or holds it as Python ints (dtype
    object): the ledger's own methods then do the work. (Not NULL: the ledger's cache
    points at the currency, whose slot index is ``_hot_index``.)"""
    cdef LedgerTables t = _tables(ledger, ccy)
    if t._journal is not None:
        return NULL
    return t._hot_cells


def book_trade(object ledger, str ccy, object buyer, object seller, object qty, object cost,
               object buyer_fee=0, object seller_fee=0):
    """``book_fill(ledger, ccy, buyer, seller, qty, cost)``, then ``book_fee`` of each
    non-zero fee on its side: natively when it can be, else through those functions."""
    if not _book(ledger, ccy, buyer, seller, qty, cost, buyer_fee, seller_fee):
        book_reference(ledger, ccy, buyer, seller, qty, cost, buyer_fee, seller_fee)


cdef int book_reference(object ledger, str ccy, object buyer, object seller, object qty,
                        object cost, object buyer_fee, object seller_fee) except -1:
    """:func:`book_trade` through the reference functions alone, for a caller whose native
    step has declined the fill already."""
    # (imported here: perpex.accounts.position imports this module)
    from perpex.accounts.position import book_fee, book_fill
    book_fill(ledger, ccy, buyer, seller, qty, cost)
    if buyer_fee:
        book_fee(ledger, ccy, buyer, buyer_fee)
    if seller_fee:
        book_fee(ledger, ccy, seller, seller_fee)
    return 0


def try_book_trade(object ledger, str ccy, object buyer, object seller, object qty, object cost,
                   object buyer_fee, object seller_fee):
    """:func:`book_trade`'s native step alone: True when booked, False (nothing changed) when
    the reference functions must book it instead."""
    return _book(ledger, ccy, buyer, seller, qty, cost, buyer_fee, seller_fee)


cdef int _book(object ledger, str ccy, Position buyer, Position seller, object qty,
               object cost, object buyer_fee, object seller_fee) except -1:
    cdef int64_t q, ec, bfee, sfee
    if not (as_int64(qty, &q) and as_int64(cost, &ec) and as_int64(buyer_fee, &bfee)
            and as_int64(seller_fee, &sfee)):
        return False
    return _book_n(ledger, ccy, buyer, seller, q, ec, bfee, sfee)


cdef int _book_n(object ledger, str ccy, Position buyer, Position seller, int64_t q,
                 int64_t ec, int64_t bfee, int64_t sfee) except -1:
    # _book on amounts already in int64 (each above INT64_MIN)
    cdef int64_t bq, bc, br, sq, sc, sr, nbq, nbc, rb, nsq, nsc, rs
    cdef int64_t v_bc, v_sc, v_bw, v_sw, v_f, nbr, nsr
    cdef Py_ssize_t s_bw = 0, s_sw = 0, s_f = 0
    cdef int64_t* cells
    cdef bint new_b, new_s  # a position's first fill: its cost key is not in the table yet
    if buyer is seller or q <= 0:
        return False
    if buyer.account == seller.account or buyer.symbol != seller.symbol:
        return False
    if buyer.wide is not None or seller.wide is not None:
        return False
    bq, bc, br, sq, sc, sr = buyer.q, buyer.c, buyer.r, seller.q, seller.c, seller.r
    if not (_apply(bq, bc, q, ec, &nbq, &nbc, &rb) and _apply(sq, sc, -q, -ec, &nsq, &nsc, &rs)):
        return False
    if perpex_sub(br, bfee, &nbr) or perpex_add(nbr, rb, &nbr) or perpex_sub(sr, sfee, &nsr) \
            or perpex_add(nsr, rs, &nsr):
        return False
    if INT64_MIN in (nbq, nbc, nbr, nsq, nsc, nsr):  # (a narrow amount is above it)
        return False
    cells = _writable(ledger, ccy)
    if cells == NULL:
        return False
    index = (<LedgerTables>ledger)._hot_index  # (_writable checked the type and set it)
    # a wallet or the fee ledger is written only when an amount moves to or from it (an
    # engine position opening without a fee leaves its wallet alone); slot 0 stands in for
    # one that is not written. A wallet or fee key not in the table yet is the reference's to
    # create; a position's cost key, at its first fill, is created here once the fill is
    # sure to be booked (a cost not in the table yet is read as 0)
    new_b, new_s = _cost_slot(buyer, <dict>index) < 0, _cost_slot(seller, <dict>index) < 0
    if rb or bfee:
        s_bw = _wallet_slot(buyer, <dict>index)
    if rs or sfee:
        s_sw = _wallet_slot(seller, <dict>index)
    if bfee or sfee:
        s_f = (<LedgerTables>ledger)._hot_fees
        if s_f < 0:
            s_f = (<LedgerTables>ledger)._hot_fees = _slot(<dict>index, FEES)
    if s_bw < 0 or s_sw < 0 or s_f < 0:
        return False
    v_bc = 0 if new_b else cells[buyer.cost_slot]
    v_sc = 0 if new_s else cells[seller.cost_slot]
    v_bw, v_sw, v_f = cells[s_bw], cells[s_sw], cells[s_f]
    # the reference's transfers in its order: the fill, each realised PnL, each fee
    if (perpex_sub(v_bc, ec, &v_bc) or perpex_add(v_sc, ec, &v_sc)
            or perpex_sub(v_bc, rb, &v_bc) or perpex_add(v_bw, rb, &v_bw)
            or perpex_sub(v_sc, rs, &v_sc) or perpex_add(v_sw, rs, &v_sw)
            or perpex_sub(v_bw, bfee, &v_bw) or perpex_add(v_f, bfee, &v_f)
            or perpex_sub(v_sw, sfee, &v_sw) or perpex_add(v_f, sfee, &v_f)):
        return False
    if new_b or new_s:
        # in the reference's order (its transfer of the fill enters the buyer's first); a key
        # may grow the table, whose cells are then elsewhere
        if new_b:
            buyer.cost_slot = ledger._add_key(ccy, _cost_key(buyer))
        if new_s:
            seller.cost_slot = ledger._add_key(ccy, _cost_key(seller))
        cells = _writable(ledger, ccy)
        if cells == NULL:
            raise RuntimeError("a new cost key took the ledger's table out of int64")
    cells[buyer.cost_slot], cells[seller.cost_slot] = v_bc, v_sc
    if rb or bfee:
        cells[s_bw] = v_bw
    if rs or sfee:
        cells[s_sw] = v_sw
    if bfee or sfee:
        cells[s_f] = v_f
    (<LedgerTables>ledger)._hot_pending += 1 + (rb != 0) + (rs != 0) + (bfee != 0) + (sfee != 0)
    buyer.q, buyer.c, buyer.r = nbq, nbc, nbr
    seller.q, seller.c, seller.r = nsq, nsc, nsr
    return True
