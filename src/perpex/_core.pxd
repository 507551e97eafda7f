# The engine's typed state and its C methods, for the native modules that read the engine
# without attribute lookups (perpex._pretrade). The class and its documentation are in
# _core.pyx.

cimport cython
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from perpex._idtable cimport LiveOrders, OrderTable
from perpex._records cimport OrderRecord
from perpex.accounts._levels cimport OpenLevels
from perpex.accounts._position cimport Position


cdef extern from "perpex_book_capi.h":
    # the native order book's C interface (csrc/capi/perpex_book_capi.h)
    ctypedef struct PerpexEvent:
        uint8_t type, side
        uint16_t reason
        uint32_t cmd
        uint64_t order_id, maker_id
        uint32_t account, maker_account
        int64_t price, qty, leaves, maker_leaves
    ctypedef struct PerpexAdd:
        uint64_t order_id
        uint32_t account
        int64_t side, ord_type, tif, flags, trigger
        int64_t price, qty, display_qty, stop_px, peg_offset
    ctypedef struct PerpexBookCAPI:
        int version
        int (*add)(PyObject*, const PerpexAdd*, int64_t*) noexcept
        int (*cancel)(PyObject*, uint64_t, uint32_t, int64_t*) noexcept
        int (*events)(PyObject*, const PerpexEvent**, Py_ssize_t*) noexcept
        int (*clear_events)(PyObject*) noexcept
        int (*best)(PyObject*, int, int64_t*) noexcept
        int (*depth)(PyObject*, int, Py_ssize_t, int64_t*, int64_t*, Py_ssize_t*) noexcept
        int (*sweep)(PyObject*, int, int64_t, Py_ssize_t, int64_t*, int64_t*) noexcept
        int (*take_events)(PyObject*, PerpexEvent*, Py_ssize_t, Py_ssize_t*) noexcept
    const char* PERPEX_BOOK_CAPI_NAME
    int PERPEX_BOOK_CAPI_VERSION


# The batch path's rows and results (perpex.exchange_batch.ORDER_DTYPE and RESULT_DTYPE,
# field for field; a mismatch is a buffer format error when a batch starts).
cdef packed struct Row:
    int64_t ts
    uint32_t account
    uint8_t symbol, op, side, pad
    int64_t qty, price
    uint64_t order_id

cdef packed struct Result:
    uint64_t seq, order_id
    uint8_t status
    int64_t leaves, cum


cdef class Contract:
    # one listed contract's constants and native book, as the engine loop reads them
    cdef readonly str symbol, currency
    cdef readonly object inst, book, cv, terms
    cdef readonly bint inverse
    cdef readonly dict prices  # the instrument's price cache (its _prices)
    cdef readonly dict ticks  # and its cache of conversions the other way (its _ticks)
    # the float prices last converted, direct-mapped by a hash of their bits (perpex._front):
    # a float's bits and its ticks (0: an empty entry), ahead of the dict lookup above, which
    # hashes and compares a float object (256 entries: a price ladder of a hundred or so
    # ticks around the mid mostly fits without two prices sharing an entry)
    cdef uint64_t f_bits[256]
    cdef int64_t f_ticks[256]
    # its lot size, max order quantity and max price (ticks)
    cdef readonly int64_t lot, max_qty, max_px
    cdef readonly tuple taker_rate, maker_rate
    # True when a fill's value and fees can be taken in int64: ``terms`` value it (an
    # Instrument's own) and the fee rates are int64 ratios, here as (tk_num, tk_den) and
    # (mk_num, mk_den)
    cdef readonly bint native_fills
    cdef int64_t tk_num, tk_den, mk_num, mk_den
    cdef readonly list peers  # the contracts settled in ``currency`` (itself too), in order
    cdef readonly dict linked  # the engine's _linked[currency]
    cdef readonly dict rates  # cross IM% as (num, den) by risk limit, as _cross_c found it
    cdef object rate_limit  # the risk limit _cross_c last answered for (None: none yet)
    cdef tuple rate_last  # and its answer
    # that answer in int64 for the native steps (_cross_n): True when it fits, with
    # rate_num >= 0 and rate_den > 0
    cdef bint rate_ok
    cdef int64_t rate_num, rate_den
    # derived caches of the engine loop, never state: the positions in this contract by account
    # (from the positions table ``held_of``; positions are never removed from it), those of
    # accounts below _SEATS_MAX in ``seats`` (indexed by account: NULL, or a new reference,
    # for ``n_seats`` accounts) and the others in ``held``; and the mark last asked of
    # ``cv.mark_unit`` with its answer
    cdef PyObject** seats
    cdef Py_ssize_t n_seats
    cdef dict held
    cdef object held_of
    # the engine's mark for this contract (None: none) as read from its table ``marks_tab``
    # when the engine's count of mark writes was ``marks_ver`` (contract_mark), and in int64
    # for the native steps: ``mark_st`` 0 without a mark (None or 0), 1 with it in ``mark_e8``,
    # -1 beyond int64; its per-contract value (cv.mark_unit, asked by perpex._pretrade._mark_n)
    # in ``unit_c`` when ``unit_st`` is 1 (0: None or beyond int64, -1: not asked yet)
    cdef object mark, marks_tab
    cdef int64_t marks_ver, mark_e8, unit_c
    cdef int mark_st, unit_st
    # the closing rule's native step (perpex._pretrade._closing_clear): whether the engine's
    # trigger is BitMEX's in the variant that step reproduces, the risk-limit grid (base and
    # step), MM% as (num, den) by steps as MarginCore found it, and the funding rate last read
    # with its exact ratio
    cdef readonly bint liq_native
    cdef int64_t rl_base, rl_step
    cdef readonly dict mm_rates
    cdef int64_t mm_steps, mm_num, mm_den  # (the last one asked: -1 for none)
    cdef object fund_rate
    cdef int64_t fund_num, fund_den


cdef enum:
    _KNOWN_BITS = 1 << 20  # the accounts the validation finds in a bitmap (128 KiB), not a dict


cdef class EngineCore:
    cdef dict _contracts  # derived from the tables below (EngineCore._contract)
    # a bit per account below _KNOWN_BITS, set for those in the table ``_known_of`` (the
    # _accounts it was built from) when it held ``_known_n`` of them (derived, for the batch
    # path's validation)
    cdef bytearray _known
    cdef object _known_of
    cdef Py_ssize_t _known_n
    cdef public dict _inst, _books, _positions, _live, _reduce_only, _cl_ids
    cdef public OrderTable _orders  # the live orders by id
    cdef public dict _accounts  # the accounts that have deposited (keys; values None)
    cdef public dict _open, _fee_ratios, _settled, _lots, _liq_orders
    cdef public dict _texts, _dirty, _buckets
    cdef public dict _marks, _cv, _cross_rates, _by_ccy, _risk_dirty, _linked
    cdef public object _rate, _ledger, _held, _executions, _halted
    cdef public list _events
    cdef public int64_t _max_open, _max_stop
    cdef public bint _emit, _checks_off
    cdef public int64_t _seq, _ts, _next_id
    # each account id below _SEATS_MAX the steps have boxed, by id (None: not yet): the
    # object they pass for it (derived, see account_obj)
    cdef list _boxes
    cdef public int64_t _marks_ver  # mark writes so far (derived: each bumps it)

    cdef Contract _contract(self, str sym)
    cdef object _box(self, int64_t a)
    cdef const unsigned char* _known_bits(self) except NULL
    cdef tuple _cross_c(self, Contract c, object limit)
    cdef bint _cross_n(self, Contract c, object limit, int64_t* num, int64_t* den) except -1
    cdef int _index(self, Contract c, OrderRecord rec) except -1
    cdef bint _token(self, account) except -1
    cdef object _commit_c(self, int64_t ts, inst, OrderRecord rec)
    cdef int _begin(self, int64_t ts) except -1
    cdef object _halt(self, exc)
    cdef int _commit_cancel(self, int64_t ts, Contract c, OrderRecord rec, Result* res) except -1
    cdef int _commit_place(self, int64_t ts, Contract c, inst, OrderRecord rec,
                           Result* res) except -1
    cdef int _record_result(self, OrderRecord rec, Result* res) except -1
    cdef object _place_c(self, inst, OrderRecord rec)
    cdef object _place_n(self, Contract c, inst, OrderRecord rec)
    cdef object _estimate(self, Contract c, int side, int64_t qty)
    cdef object _closing_c(self, Contract c, inst, OrderRecord rec, object a, Position pos,
                           int64_t qty, int64_t px)
    cdef int _go_live(self, OrderRecord rec, tuple key, object live, Position pos) except -1
    cdef int _book_add(self, Contract c, OrderRecord rec) except -1
    cdef OrderRecord _engine_add_c(self, inst, int64_t a, int side, int64_t qty, int64_t price,
                                   int tif)
    cdef object _cancel_c(self, OrderRecord rec)
    cdef object _cancel_pre(self, OrderRecord rec)
    cdef int _cancel_book(self, OrderRecord rec) except -1
    cdef int _cancel_in(self, Contract c, OrderRecord rec) except -1
    cdef int _touch_c(self, a, Contract c, Position known=*) except -1
    cdef int _touch_at(self, int64_t v, a, Contract c, Position known) except -1
    cdef object _outcome_c(self, OrderRecord rec)
    cdef int _reject_n(self, OrderRecord rec, str text) except -1
    cdef object _reject_c(self, OrderRecord rec, str text)
    cdef int _drive_c(self, Contract c, OrderRecord own=*) except -1
    cdef int _apply_pending(self, Contract c, OrderRecord own=*) except -1
    cdef int _apply_c(self, Contract c, const PerpexEvent* evs, Py_ssize_t n,
                      OrderRecord own) except -1
    cdef int _finish_c(self, Contract c, OrderRecord rec, str exec_type, str status, str text,
                       int64_t last_qty, int64_t last_px, exec_cost, exec_comm,
                       str liquidity) except -1
    cdef int _fill_c(self, Contract c, OrderRecord taker, OrderRecord maker, int64_t px,
                     int64_t q, int64_t leaves, int64_t mleaves) except -1
    cdef int _fill_side(self, Contract c, OrderRecord rec, int64_t left, fee, str liq,
                        int64_t px, int64_t q, cost) except -1


# The best bid (side 0) or ask (side 1) of a native book in ticks, 0 for an empty side.
cdef int64_t book_best(object book, int side) except? -1


# One side of a native book's displayed levels, as its depth() lists them, for a walk that
# stops early: the levels are copied out at once and made (price, contracts) tuples one at a
# time, as they are iterated.
cdef enum:
    BOOK_LEVELS_MAX = 64

@cython.final
@cython.no_gc
cdef class BookLevels:
    cdef int64_t _px[BOOK_LEVELS_MAX]
    cdef int64_t _qty[BOOK_LEVELS_MAX]
    cdef Py_ssize_t _n, _i

cdef BookLevels book_levels(object book, int side)


# The pre-trade margin check's common case (perpex._pretrade._fits), which that module plugs
# into the loop when it is imported: it cimports this module, which cannot cimport it back.
ctypedef object (*FitsFn)(EngineCore, object, Contract, int, int64_t, int64_t, int, int64_t,
                          int64_t, tuple, object, object)
cdef void set_order_fits(FitsFn fn) noexcept
# and, the same way, the common case of the closing rule (perpex._pretrade._closing_clear)
ctypedef int (*ClearFn)(EngineCore, object, Contract, Position, int, int64_t) except -1
cdef void set_closing_clear(ClearFn fn) noexcept


# (a, sym) as the engine's tables are keyed by it: its position ``pos``'s own key tuple when
# there is one (a lookup with that very object finds its entry without comparing tuples), else
# a new tuple
cdef inline tuple table_key(object a, str sym, object pos):
    return (a, sym) if pos is None else (<Position>pos).key

# ``positions.get((a, c.symbol))`` by way of ``c``'s positions by account (see _core.pyx),
# for the account ``a`` held as its object (held_pos) or also as its int64 ``v`` (held_find,
# and held_at, which looks in its seat inline first)
cdef object held_pos(Contract c, dict positions, object a)
cdef object held_find(Contract c, dict positions, int64_t v, object a)

# Account ``v``'s position in ``c`` when the seat array holds it, else None without a lookup
# (for the steps that only read its caches: the liquidation engine's account, with no
# position, would pay a lookup each time).
cdef inline Position seated_pos(Contract c, dict positions, int64_t v):
    if c.held_of is positions and 0 <= v < c.n_seats and c.seats[v] != NULL:
        return <Position>c.seats[v]
    return None

cdef inline object held_at(Contract c, dict positions, int64_t v, object a):
    pos = seated_pos(c, positions, v)
    return held_find(c, positions, v, a) if pos is None else pos


# The account ``a`` (a record's int64) as the object the engine's steps take: boxed once per
# account, not once per step that needs it.
cdef inline object account_obj(EngineCore e, int64_t a):
    cdef list boxes = e._boxes
    if boxes is not None and 0 <= a < len(boxes):
        x = boxes[a]
        if x is not None:
            return x
    return e._box(a)


# ``a in accounts`` for an engine's _accounts, whose accounts below _KNOWN_BITS are the bits of
# ``bits`` (EngineCore._known_bits): the bit, not a dict test that compares an int the caller
# made with the table's key by value
cdef inline bint known_account(const unsigned char* bits, dict accounts, int64_t a) except -1:
    if 0 <= a < _KNOWN_BITS:
        return (bits[a >> 3] >> (a & 7)) & 1
    return a in accounts


# ``e._marks.get(c.symbol)`` without the lookup while no mark was written since ``c`` read it
# (read_mark, which also sets its int64 fields).
cdef int read_mark(EngineCore e, Contract c) except -1

cdef inline object contract_mark(EngineCore e, Contract c):
    if c.marks_ver != e._marks_ver or c.marks_tab is not e._marks:
        read_mark(e, c)
    return c.mark


# A key's entry in the engine's live orders (its _live[key]) and in its order-margin index (its
# _open[key]), each None without one: from the cache of ``pos`` (the key's position, or None)
# when it holds the entry, else from the table, and remembered there (see Position.live; an
# entry is remembered together with its table, so a matching table means one is there).
cdef inline object key_live(EngineCore e, Position pos, tuple key):
    cdef dict table = e._live
    if pos is not None and pos.live_tab is table and (<LiveOrders>pos.live).count:
        return pos.live
    found = table.get(key)
    if found is not None and pos is not None:
        pos.live, pos.live_tab = found, table
    return found

cdef inline object key_levels(EngineCore e, Position pos, tuple key):
    cdef dict table = e._open
    if pos is not None and pos.levels_tab is table and (<OpenLevels>pos.levels).count > 0:
        return pos.levels
    found = table.get(key)
    if found is not None and pos is not None:
        pos.levels, pos.levels_tab = found, table
    return found
