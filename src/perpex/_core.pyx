# cython: language_level=3
"""The engine loop of :class:`perpex.exchange.Exchange` as an extension type.

:class:`EngineCore` is the base of the engine's classes. It holds the state every command
touches as typed fields (the order tables, the per-command scratch, the sequence), and runs the
steps every order takes: sequencing a command (``_commit``), placing a validated order
(``_place``), applying the native book's events to orders and accounts (``_apply_events``: its
fills and finished orders in C) and answering with the order's outcome. Here they read fields
and order records without attribute lookups and call the order-margin index and the execution
report as C functions, as they do the pre-trade margin check's common case, a fill's ledger
transfers (perpex._fills) and the liquidation index's bookkeeping of the accounts a fill
touched (``_touch``). Everything else (margin policy, liquidation, pricing, queries) stays in
the Python modules, which see the same fields as ordinary attributes and which these steps call
back through ordinary method calls, so a subclass's override (``_lot_fill``,
``_margin_reference`` ...) is honoured. Two steps are taken in C instead: a limit or market
order's margin check runs the native common case at its price (a market order's estimated
here, ``_price_estimate``), and ``_margin_reference`` only when that has no answer (other
orders go through ``_margin_reject``); and the batch loop calls ``_place`` and
``_cancel_now`` in C unless the class or the instance replaces them. The behaviour is described
in :mod:`perpex.exchange` and :mod:`perpex.exchange_core`.
"""

cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport Py_SIZE
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.pycapsule cimport PyCapsule_Import
from libc.stdint cimport INT64_MIN, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memset

from perpex._checked cimport as_int64, div_half_away, perpex_add, perpex_mul
from perpex._events cimport Execution, execution_c
from perpex._fills cimport _book, _book_n, book_reference
from perpex._idtable cimport LiveOrders, OrderTable, table_get
from perpex._records cimport new_order, rec_px_qty, record_key
from perpex._tuples cimport PyType_GenericAlloc, tuple_put
from perpex.accounts._levels cimport LevelTerms, contract_value, drop_c, sync_c
from perpex.accounts._position cimport flat_position, pos_open

from perpex import _native
from perpex.errors import EngineHaltedError
from perpex.instruments import Instrument as _Instrument
from perpex.orders import (
    CANCEL_TEXTS, CLOSE_NO_POSITION, IN_LIQUIDATION, MARKET_TYPES, REDUCE_ONLY_WOULD_INCREASE,
    Outcome)
from perpex.risk.limits import RATE_LIMITED, order_count_reject
from perpex.rounding import div_round_half_away

MAX_ACCOUNT = 2**32 - 1
LIQUIDATION_ACCOUNT = MAX_ACCOUNT  # reserved: the liquidation engine's account
LIQUIDATION_TEXT = "Liquidation"

cdef int64_t _MAX_ACCOUNT = MAX_ACCOUNT, _LIQ = LIQUIDATION_ACCOUNT
cdef int _BUY = _native.BUY
cdef int64_t _CLOSE = _native.FLAG_CLOSE, _REDUCE = _native.FLAG_REDUCE_ONLY
cdef int _EV_FILL = _native.EV_FILL, _EV_ACCEPTED = _native.EV_ACCEPTED
cdef int _EV_CANCELED = _native.EV_CANCELED, _EV_REJECTED = _native.EV_REJECTED
cdef int _EV_AMENDED = _native.EV_AMENDED, _EV_TRIGGERED = _native.EV_TRIGGERED
cdef type _OUTCOME = Outcome
cdef dict _CANCEL_TEXTS = CANCEL_TEXTS  # (typed: read without a method lookup)
cdef int _text_reason = -1  # the reason code whose text _cancel_text gave last, and the text
cdef object _text_of_reason = None
cdef int _LIMIT = _native.LIMIT, _MARKET = _native.MARKET, _GTC = _native.GTC
cdef int _FEED_MARK = _native.FEED_MARK
cdef Py_ssize_t _ALL_LEVELS = 1 << 62  # a sweep's level limit that every book is within
cdef uint64_t _MARKET_BITS = 0  # MARKET_TYPES, a bit per order type code (the codes are small)
for _ot in MARKET_TYPES:
    _MARKET_BITS |= (<uint64_t>1) << <int>_ot
del _ot

# The batch rows' ops and the results' statuses (exported by perpex.exchange_batch).
cdef enum:
    _OP_LIMIT = 1
    _OP_MARKET = 2
    _OP_CANCEL = 3
    _STATUS_OK = 0
    _STATUS_REJECTED = 1
    _STATUS_UNKNOWN_ORDER = 2
    _STATUS_OVERLOADED = 3
OP_LIMIT, OP_MARKET, OP_CANCEL = _OP_LIMIT, _OP_MARKET, _OP_CANCEL
# The faults of a malformed row (EngineCore._first_bad_row), numbered in the order a row's
# rules are checked; perpex.exchange_batch words them.
cdef enum:
    _BAD_TS_EARLY = 1  # ts before the engine's
    _BAD_TS_ORDER = 2  # ts before the previous row's
    _BAD_OP = 3
    _BAD_SYMBOL = 4
    _BAD_ACCOUNT = 5  # an account that has not deposited
    _BAD_SIDE = 6  # (this and the rest: limit and market rows only)
    _BAD_QTY = 7  # not > 0
    _BAD_LOT = 8  # off the lot grid
    _BAD_MAX_QTY = 9
    _BAD_PRICE = 10  # a limit row's, not > 0
    _BAD_MAX_PRICE = 11
    _BAD_MARKET_PRICE = 12  # a market row's, not 0
cdef enum:
    _SEATS_MAX = 1 << 20  # the accounts whose positions a contract view finds in an array
BAD_FAULTS = tuple(range(_BAD_TS_EARLY, _BAD_MARKET_PRICE + 1))
BAD_ACCOUNT = _BAD_ACCOUNT
STATUS_OK, STATUS_REJECTED = _STATUS_OK, _STATUS_REJECTED
STATUS_UNKNOWN_ORDER, STATUS_OVERLOADED = _STATUS_UNKNOWN_ORDER, _STATUS_OVERLOADED

# The fields below, in one place, for the snapshot code (which pickles them with the
# instance's __dict__).
CORE_FIELDS = (
    "_inst", "_accounts", "_books", "_positions", "_orders", "_live", "_reduce_only", "_cl_ids",
    "_open", "_fee_ratios", "_settled", "_lots", "_liq_orders", "_texts", "_dirty",
    "_marks", "_cv", "_cross_rates", "_by_ccy", "_risk_dirty", "_linked", "_rate", "_buckets",
    "_ledger", "_held", "_events", "_executions", "_halted", "_max_open", "_max_stop", "_emit",
    "_checks_off", "_seq", "_ts", "_next_id")

# the book's C interface, published by perpex._native (imported above)
cdef const PerpexBookCAPI* _books_api = <const PerpexBookCAPI*>PyCapsule_Import(
    PERPEX_BOOK_CAPI_NAME, 0)
if _books_api.version != PERPEX_BOOK_CAPI_VERSION:
    raise ImportError(f"perpex._native's book interface is version {_books_api.version}, "
                      f"expected {PERPEX_BOOK_CAPI_VERSION}: rebuild perpex")


cdef object _outcome(object seq, object accepted, object text, object order_id, object status,
                     object leaves, object cum):
    """An order command's ``Outcome(seq, accepted, text, order_id, status, leaves, cum)``,
    filled in place (perpex._tuples: about 1k instructions an order less than
    ``tuple.__new__``)."""
    t = PyType_GenericAlloc(_OUTCOME, 9)
    tuple_put(t, 0, seq)
    tuple_put(t, 1, accepted)
    tuple_put(t, 2, text)
    tuple_put(t, 3, order_id)
    tuple_put(t, 4, status)
    tuple_put(t, 5, leaves)
    tuple_put(t, 6, cum)
    tuple_put(t, 7, 0)
    tuple_put(t, 8, 0)
    return t


cdef int _raised() except -1:
    return -1  # propagates the exception a book call set


cdef int64_t book_best(object book, int side) except? -1:
    cdef int64_t px
    if _books_api.best(<PyObject*>book, side, &px) < 0:
        _raised()
    return px


@cython.final
@cython.no_gc
@cython.freelist(4)  # a kilobyte each: reused, not malloc'd per walk
cdef class BookLevels:
    """The best displayed levels of one side of a native book (at most ``BOOK_LEVELS_MAX``),
    best first, iterated as (price ticks, contracts) tuples: those of ``book.depth(n)`` for
    that side. Built by :func:`levels`."""

    def __iter__(self):
        return self

    def __next__(self):
        cdef Py_ssize_t i = self._i
        if i >= self._n:
            raise StopIteration
        self._i = i + 1
        return (self._px[i], self._qty[i])

    def __len__(self):
        return self._n - self._i


cdef BookLevels book_levels(object book, int side):
    cdef BookLevels out = BookLevels.__new__(BookLevels)
    if _books_api.depth(<PyObject*>book, side, BOOK_LEVELS_MAX, out._px, out._qty, &out._n) < 0:
        _raised()
    return out


def levels(book, int side):
    """The best displayed levels of ``book``'s ``side`` (0 bids, 1 asks), at most
    ``BOOK_LEVELS_MAX`` of them, as an iterator of (price ticks, contracts) tuples."""
    return book_levels(book, side)


LEVELS_MAX = BOOK_LEVELS_MAX


cdef tuple _IDLE = (0, 0, 0)  # the pre-trade check's "no order taken out"


cdef inline int64_t _account_n(object a):
    """The account ``a`` in int64, -1 when it is not one (its positions are then found by the
    object alone)."""
    cdef int64_t v
    return v if as_int64(a, &v) else -1


cdef object held_pos(Contract c, dict positions, object a):
    """``held_at`` for an account the caller holds only as its object."""
    return held_find(c, positions, _account_n(a), a)


cdef object held_find(Contract c, dict positions, int64_t v, object a):
    """``positions.get((a, c.symbol))`` for the account ``a``, which is ``v`` in int64 (-1:
    not one), from ``c``'s cache by account when it has it: an array slot for an account
    below _SEATS_MAX, found by ``v`` without reading the object, else an int key (no tuple
    to build, hash and compare either way). (held_at looks in the slot inline first.)"""
    if c.held_of is not positions:  # (a table replaced as a whole: start again)
        _forget_seats(c)
        c.held, c.held_of = {}, positions
    cdef bint seated = 0 <= v < _SEATS_MAX
    if seated:
        if v < c.n_seats and c.seats[v] != NULL:
            return <object>c.seats[v]
    else:
        pos = c.held.get(a)
        if pos is not None:
            return pos
    pos = positions.get((a, c.symbol))
    if pos is not None:
        if seated:
            _seat(c, v, pos)
        else:
            c.held[a] = pos
    return pos


cdef inline Position position_of(Contract c, dict positions, int64_t v, object a):
    """Account ``a``'s position in ``c`` (``held_at``, ``v`` its int64); one without a position
    gets a flat one at the contract's risk limit, entered in ``positions``."""
    pos = held_at(c, positions, v, a)
    if pos is None:
        pos = flat_position(a, c.symbol, c.inst.risk_limit)
        positions[(<Position>pos).key] = pos
    return <Position>pos


cdef inline Position _position_at(EngineCore e, Contract c, int64_t v):
    """``position_of`` for the record account ``v``, boxed only when its seat is empty (a
    resting maker's box is seldom in the cache, and a seated position needs none)."""
    pos = seated_pos(c, e._positions, v)
    return position_of(c, e._positions, v, account_obj(e, v)) if pos is None else pos


cdef inline bint _has_token(EngineCore e, int64_t v, object a) except -1:
    """``e._token`` for the record account ``v`` (``a`` its box, or None: boxed only when the
    engine has a rate limiter), without a call when it has none."""
    return e._rate is None or e._token(account_obj(e, v) if a is None else a)


cdef int _seat(Contract c, int64_t v, object pos) except -1:
    # ``pos`` into the seat of account ``v`` (below _SEATS_MAX), the array grown to hold it
    cdef Py_ssize_t n = c.n_seats, grown
    cdef PyObject** more
    if v >= n:
        grown = max(v + 1, 2 * n, 64)
        grown = min(grown, _SEATS_MAX)
        more = <PyObject**>PyMem_Realloc(c.seats, grown * sizeof(PyObject*))
        if more == NULL:
            raise MemoryError()
        memset(&more[n], 0, (grown - n) * sizeof(PyObject*))
        c.seats, c.n_seats = more, grown
    Py_INCREF(pos)
    Py_XDECREF(c.seats[v])
    c.seats[v] = <PyObject*>pos
    return 0


cdef void _forget_seats(Contract c) noexcept:
    cdef Py_ssize_t i
    cdef PyObject** seats = c.seats
    cdef Py_ssize_t n = c.n_seats
    c.seats = NULL
    c.n_seats = 0
    for i in range(n):
        Py_XDECREF(seats[i])
    PyMem_Free(seats)


cdef inline bint _only_live(LiveOrders live, OrderRecord rec):
    # ``rec`` is the one record of ``live``
    return live.count == 1 and 0 <= rec.live_ix < live._end \
        and live._slots[rec.live_ix] == <PyObject*>rec


cdef inline bint _same_str(str s, str lit) except -1:
    """``s == lit`` for ``s`` a str or None: by identity first (a finished order's status is
    one of the engine's interned literals), then by length and hash; Cython compares two strs
    by their order, a call of about a hundred instructions, only when those agree."""
    if s is lit:
        return True
    if s is None or len(s) != len(lit) or hash(s) != hash(lit):
        return False
    return s == lit


cdef inline bint _emptied(OpenLevels lv):
    # nothing indexed in ``lv`` (as a new entry)
    return lv.count == 0 and lv.unpriced == 0 and lv._nbuy == 0 and lv._nsell == 0 \
        and lv._buys.empty() and lv._sells.empty()


cdef int read_mark(EngineCore e, Contract c) except -1:
    mark = e._marks.get(c.symbol)
    c.mark, c.marks_tab, c.marks_ver = mark, e._marks, e._marks_ver
    c.unit_st = -1  # (asked again for this mark when a step needs it)
    if not mark:  # (None or 0)
        c.mark_st = 0
    else:
        c.mark_st = 1 if as_int64(mark, &c.mark_e8) else -1
    return 0


cdef FitsFn _order_fits = NULL


cdef void set_order_fits(FitsFn fn) noexcept:
    global _order_fits
    _order_fits = fn


cdef ClearFn _closing_clear = NULL


cdef void set_closing_clear(ClearFn fn) noexcept:
    global _closing_clear
    _closing_clear = fn


cdef inline object _cancel_text(int reason):
    """The cancel text of the book's ``reason`` code (CANCEL_TEXTS, "Canceled" for another),
    the last one kept: a flow's cancels share one code, which as a dict key would be a new
    int, hashed and compared by value, for every event."""
    global _text_reason, _text_of_reason
    if reason != _text_reason:
        _text_of_reason = _CANCEL_TEXTS.get(reason, "Canceled")
        _text_reason = reason
    return _text_of_reason


cdef object _check = None


def set_execution_check(fn):
    """Has ``fn(event, instrument, rec, exec_type, ord_status, fields)`` called with every
    execution report the loop builds (``fields``: the report's other arguments by name), or
    stops it with None. The tests compare each report with the reference implementation."""
    global _check
    _check = fn


cdef Execution _report(Contract c, OrderRecord rec, str exec_type, str ord_status,
                       object seq, object ts, str text, object last_qty, object last_px,
                       object exec_cost, object exec_comm, str liquidity, object stop_px):
    ev = execution_c(c.inst, rec, exec_type, ord_status, seq, ts, text, last_qty, last_px,
                     exec_cost, exec_comm, liquidity, stop_px)
    if _check is not None:
        _check(ev, c.inst, rec, exec_type, ord_status, dict(
            seq=seq, ts=ts, text=text, last_qty=last_qty, last_px=last_px, exec_cost=exec_cost,
            exec_comm=exec_comm, liquidity=liquidity, stop_px=stop_px))
    return ev


def fee(exec_cost, tuple rate not None):
    """``Instrument.fee`` with the rate as its exact (num, den) pair: |exec_cost| x rate, half
    away from zero."""
    return _fee(exec_cost, rate)


cdef object _fee(object exec_cost, tuple rate):
    # int64 when the amounts fit (every fill of the presets), Python integers otherwise
    cdef int64_t c, n, d, q
    if as_int64(exec_cost, &c) and _rate_n(rate, &n, &d) and _fee_n(c, n, d, &q):
        return q
    num, den = rate
    return div_round_half_away((exec_cost if exec_cost >= 0 else -exec_cost) * num, den)


cdef inline bint _fee_n(int64_t ec, int64_t num, int64_t den, int64_t* out):
    # _fee's int64 step on int64 rates (den > 0); False when it does not fit
    cdef int64_t a
    return not perpex_mul(ec if ec >= 0 else -ec, num, &a) and div_half_away(a, den, out)


cdef bint _rate_n(tuple rate, int64_t* num, int64_t* den):
    # a fee rate (num, den) into int64 with den > 0; False when it is not one
    return as_int64(rate[0], num) and as_int64(rate[1], den) and den[0] > 0


cdef int _set_result(Result* o, object res) except -1:
    """A batch row's result from the command's Outcome."""
    # read as a plain tuple: indexing a tuple subclass through the C API goes by way of its
    # __getitem__ wrapper, a Python-level call per field
    if not isinstance(res, tuple) or len(<tuple>res) < 7:
        raise TypeError(f"a command returned {type(res).__name__}, not an Outcome")
    o.seq = (<tuple>res)[0]
    o.order_id = (<tuple>res)[3] or 0
    o.leaves, o.cum = (<tuple>res)[5], (<tuple>res)[6]
    if not (<tuple>res)[1]:
        o.status = _STATUS_REJECTED
    return 0


cdef class Contract:
    """One listed contract as the engine loop reads it: its instrument, native book,
    contract-value constants and fee ratios, and the contracts and linked accounts of its
    settle currency, in typed fields, so that a step reads them without a table lookup or an
    attribute lookup each. Derived from the engine's tables (see ``EngineCore._contract``) and
    never part of its state."""

    def __repr__(self):
        return f"Contract({self.symbol!r})"

    def __dealloc__(self):
        _forget_seats(self)


cdef dict _contracts_of(EngineCore e):
    """Every listed contract of ``e`` by symbol, from its tables."""
    cdef dict out = {}
    cdef Contract c
    # (imported here: perpex.risk imports the engine's modules)
    from perpex.risk.liquidation import LiquidationVariant, RiskMode
    cfg = getattr(e, "_risk_cfg", None)
    cdef bint native_trigger = cfg is not None and cfg.mode is RiskMode.BITMEX \
        and cfg.variant is LiquidationVariant.RECOMMENDED
    for sym, inst in e._inst.items():
        c = Contract.__new__(Contract)
        c.symbol, c.currency, c.inst = sym, inst.settle_currency, inst
        c.book, c.cv = e._books[sym], e._cv[sym]
        c.terms, c.inverse = c.cv.terms, c.cv.inverse
        c.prices, c.ticks = inst._prices, inst._ticks
        c.lot, c.max_qty, c.max_px = inst.lot_size, inst.max_order_qty, inst.max_price_ticks
        c.taker_rate, c.maker_rate = <tuple>e._fee_ratios[sym]
        c.native_fills = c.terms is not None and type(inst) is _Instrument \
            and _rate_n(c.taker_rate, &c.tk_num, &c.tk_den) \
            and _rate_n(c.maker_rate, &c.mk_num, &c.mk_den)
        c.linked = e._linked[c.currency]
        c.rates = {}
        c.mm_rates = {}
        c.mm_steps = -1
        try:
            c.rl_base, c.rl_step = inst.risk_limit, inst.risk_step
            c.liq_native = native_trigger and c.rl_step > 0
        except OverflowError:  # (a grid beyond int64: the reference's)
            c.liq_native = False
        out[sym] = c
    for c in out.values():
        c.peers = [out[s] for s in e._by_ccy[c.currency]]
    return out


cdef class EngineCore:
    """Typed state and the per-order steps of the engine (see the module docstring)."""

    # (fields and C methods declared in _core.pxd)

    @cython.final
    cdef object _box(self, int64_t a):
        """``a`` boxed, and remembered in ``_boxes`` when below _SEATS_MAX (account_obj)."""
        obj = a
        if not 0 <= a < _SEATS_MAX:
            return obj
        if self._boxes is None:
            self._boxes = []
        cdef Py_ssize_t n = len(self._boxes)
        if a >= n:
            self._boxes.extend([None] * (max(a + 1, 2 * n) - n))
        self._boxes[a] = obj
        return obj

    @cython.final
    cdef Contract _contract(self, str sym):
        """The listed contract ``sym`` (KeyError for another symbol). The table is built on
        first use, from the engine's own tables, which are fixed once it is set up; a restored
        engine (whose tables are new objects) starts without it and builds it again."""
        if self._contracts is not None:
            found = self._contracts.get(sym)
            if found is not None:
                return <Contract>found
        self._contracts = _contracts_of(self)
        return <Contract>self._contracts[sym]

    @cython.final
    cdef tuple _cross_c(self, Contract c, object limit):
        """``_cross_rate(c.inst, limit)``, remembered on the contract by risk limit (and the
        last one asked by identity: most positions share their instrument's limit object)."""
        if limit is c.rate_limit and limit is not None:
            return c.rate_last
        found = c.rates.get(limit)
        if found is None:
            found = c.rates[limit] = self._cross_rate(c.inst, limit)
        c.rate_limit, c.rate_last = limit, <tuple>found
        c.rate_ok = as_int64((<tuple>found)[0], &c.rate_num) \
            and as_int64((<tuple>found)[1], &c.rate_den) and c.rate_num >= 0 and c.rate_den > 0
        return <tuple>found

    @cython.final
    cdef bint _cross_n(self, Contract c, object limit, int64_t* num, int64_t* den) except -1:
        """``_cross_c(c, limit)`` into ``num`` / ``den``; False when it does not fit in int64
        (or is not a ratio with num >= 0 and den > 0)."""
        if limit is not c.rate_limit or limit is None:
            self._cross_c(c, limit)
        num[0], den[0] = c.rate_num, c.rate_den
        return c.rate_ok

    @cython.final
    cdef int _index(self, Contract c, OrderRecord rec) except -1:
        """``sync_c(self._open, rec, _REDUCE)`` (``c``: the order's contract), the key's levels
        for a record not indexed yet taken from its position's cache."""
        cdef Position p = None if rec.ix_levels is not None else \
            seated_pos(c, self._positions, rec.account)
        if p is None:  # (indexed already: no lookup to spare)
            return sync_c(self._open, rec, _REDUCE, None, False, None)
        key = record_key(rec)
        live = key_live(self, p, key)
        spare = found = None
        if live is None or not _only_live(<LiveOrders>live, rec):
            found = key_levels(self, p, key)
        # (else the key's one live order, not indexed yet: the key has no entry, as the index
        # holds its indexed live orders and drops the entry as it empties; check_invariants)
        if found is None and p.levels_tab is self._open and _emptied(<OpenLevels>p.levels):
            # a key's first order again: the entry its last order emptied (and took out of
            # the table) serves again, as _go_live's live orders do
            spare = p.levels
        sync_c(self._open, rec, _REDUCE, found, True, spare)
        if p.levels is not rec.ix_levels:  # a new entry: remembered too
            p.levels, p.levels_tab = rec.ix_levels, self._open
        return 0

    def _position(self, a, str sym not None):
        """Account ``a``'s position in the listed contract ``sym`` (KeyError for another),
        a flat one entered in the table when it has none."""
        return position_of(self._contract(sym), self._positions, _account_n(a), a)

    def _contract_view(self, str sym not None):
        """The engine loop's view of the listed contract ``sym`` (tests read it)."""
        return self._contract(sym)

    def _core_state(self):
        """The typed fields by name (the snapshot's share of the state)."""
        return {name: getattr(self, name) for name in CORE_FIELDS}

    # ============================================================ the batch path
    @cython.boundscheck(False)  # (``out`` is checked to hold the rows, each symbol below)
    @cython.wraparound(False)
    def _run_rows(self, const Row[::1] rows, Result[::1] out, list contracts, shedder,
                  new_kind, cancel_kind):
        """Runs validated batch rows through ``_commit`` with ``_place`` / ``_cancel_now``
        (looked up once, as methods) and writes each row's result into ``out`` (zeroed): the
        loop of ``BatchMixin.submit_orders``, which validates the batch and documents it.
        ``contracts``: the listed contracts by symbol index."""
        cdef Py_ssize_t i, n = rows.shape[0], n_sym = len(contracts)
        cdef const Row* r
        cdef OrderRecord rec
        cdef object res  # an Outcome (a tuple subclass)
        cdef Result* o
        cdef Contract c
        cdef OrderTable orders = self._orders
        cdef PyObject* found
        if out.shape[0] < n:
            raise ValueError(f"{out.shape[0]} results for {n} rows")
        commit, place, cancel = self._commit, self._place, self._cancel_now
        # the C steps unless a subclass or the instance replaces one of them (the tests do)
        cls, own = type(self), getattr(self, "__dict__", {})
        cdef bint direct = (cls._commit is EngineCore._commit and cls._place is EngineCore._place
                            and cls._cancel_now is EngineCore._cancel_now
                            and not ("_commit" in own or "_place" in own or "_cancel_now" in own))
        for i in range(n):
            r = &rows[i]
            o = &out[i]
            if r.symbol >= n_sym:  # (the validation's rule, kept for a direct caller)
                raise ValueError(f"row {i}: symbol index {r.symbol} of {n_sym}")
            c = <Contract>contracts[r.symbol]
            inst = c.inst
            if r.op == _OP_CANCEL:
                if shedder is not None:
                    shedder.admit(cancel_kind)
                found = orders.find_c(<int64_t>r.order_id)  # (an id beyond int64: none)
                if found == NULL or (<OrderRecord>found).account != r.account:
                    o.order_id, o.status = r.order_id, _STATUS_UNKNOWN_ORDER
                    continue
                rec = <OrderRecord>found  # (held: the cancel takes it out of the table)
                if direct:  # the result from the record, without an Outcome
                    self._commit_cancel(r.ts, c, rec, o)
                    continue
                res = commit(r.ts, cancel, rec)
            elif shedder is not None and shedder.admit(new_kind) is not None:
                o.status = _STATUS_OVERLOADED
                if self._emit:
                    self._events.append(self._shed_event(inst, r.ts, r.account, r.op, r.side,
                                                         r.qty, r.price))
                continue
            else:
                rec = new_order(0, r.account, c.symbol, r.side,
                                _LIMIT if r.op == _OP_LIMIT else _MARKET, _GTC, 0, _FEED_MARK,
                                r.price if r.op == _OP_LIMIT else 0, 0, 0, -1, r.qty, "",
                                False, False)
                if direct:  # the result from the record, without an Outcome
                    self._commit_place(r.ts, c, inst, rec, o)
                    continue
                res = commit(r.ts, place, inst, rec)
            _set_result(o, res)

    @cython.boundscheck(False)  # (a row's symbol is checked before it indexes ``contracts``)
    @cython.wraparound(False)
    @cython.cdivision(True)  # (the lot grid is checked on qty > 0 and lot >= 1)
    def _first_bad_row(self, const Row[::1] rows, list contracts):
        """(index, fault) of the first of ``rows`` that breaks a rule of the batch path, or
        None when every row keeps them: one pass in row order, each row's rules in the order
        of their numbers (BAD_FAULTS). ``contracts``: the listed contracts by symbol index.
        (A pass over the rows in C: whole-column NumPy masks, one per rule, cost a few
        hundred instructions a row.)"""
        cdef Py_ssize_t i, n = rows.shape[0], n_sym = len(contracts)
        cdef const Row* r
        cdef Contract c
        cdef int64_t prev = self._ts, known = -1  # (the last account found)
        cdef dict accounts = self._accounts
        cdef int fault
        cdef const unsigned char* bits = self._known_bits()
        for i in range(n):
            r = &rows[i]
            fault = 0
            if r.ts < self._ts:
                fault = _BAD_TS_EARLY
            elif r.ts < prev:
                fault = _BAD_TS_ORDER
            elif r.op < _OP_LIMIT or r.op > _OP_CANCEL:
                fault = _BAD_OP
            elif r.symbol >= n_sym:
                fault = _BAD_SYMBOL
            elif r.account != known and not known_account(bits, accounts, r.account):
                fault = _BAD_ACCOUNT
            elif r.op != _OP_CANCEL:
                c = <Contract>contracts[r.symbol]
                if r.side > 1:
                    fault = _BAD_SIDE
                elif r.qty <= 0:
                    fault = _BAD_QTY
                elif r.qty % c.lot != 0:
                    fault = _BAD_LOT
                elif r.qty > c.max_qty:
                    fault = _BAD_MAX_QTY
                elif r.op == _OP_LIMIT:
                    if r.price <= 0:
                        fault = _BAD_PRICE
                    elif r.price > c.max_px:
                        fault = _BAD_MAX_PRICE
                elif r.price != 0:
                    fault = _BAD_MARKET_PRICE
            if fault:
                return i, fault
            prev, known = r.ts, r.account
        return None

    @cython.final
    cdef const unsigned char* _known_bits(self) except NULL:
        # the bitmap of _accounts below _KNOWN_BITS, rebuilt when the table is another or
        # holds another count (accounts are only ever added: the same count is the same set)
        cdef Py_ssize_t n = len(self._accounts)
        cdef unsigned char* bits
        cdef int64_t a
        if self._known is None or self._known_of is not self._accounts or self._known_n != n:
            self._known = bytearray(_KNOWN_BITS >> 3)
            bits = self._known
            for acc in self._accounts:
                a = acc
                if a < _KNOWN_BITS:
                    bits[a >> 3] |= 1 << (a & 7)
            self._known_of, self._known_n = self._accounts, n
        return self._known

    # ============================================================ sequencing
    def _take_token(self, account):
        """A rate-limit token for ``account`` at the current ts (always, without a limiter)."""
        return self._token(account)

    @cython.final
    cdef bint _token(self, account) except -1:
        rate = self._rate
        return rate is None or rate.take(self._buckets, account, self._ts)

    def _commit(self, int64_t ts, fn, *args):
        """Runs the mutating part of a validated command, ``fn(*args)`` (arguments rather than
        a closure: the per-order path would build one per call); anything escaping it halts."""
        self._begin(ts)
        try:
            # the liquidation index is brought up to date when it is next read (exchange_risk)
            return fn(*args)
        except BaseException as exc:
            raise self._halt(exc) from exc

    @cython.final
    cdef object _commit_c(self, int64_t ts, inst, OrderRecord rec):
        """``_commit(ts, _place, inst, rec)``, or with ``inst`` None ``_commit(ts, _cancel_now,
        rec)``, in C (perpex._front)."""
        self._begin(ts)
        try:
            return self._cancel_c(rec) if inst is None else self._place_c(inst, rec)
        except BaseException as exc:
            raise self._halt(exc) from exc

    @cython.final
    cdef int _begin(self, int64_t ts) except -1:
        self._ts = ts
        self._seq += 1
        return 0

    @cython.final
    cdef object _halt(self, exc):
        self._halted = f"{type(exc).__name__} in command seq={self._seq}: {exc}"
        return EngineHaltedError(self._halted)

    @cython.final
    cdef int _commit_cancel(self, int64_t ts, Contract c, OrderRecord rec,
                            Result* res) except -1:
        """``_commit(ts, _cancel_now, rec)`` in C (``c`` is the order's contract), its outcome
        written into a batch result."""
        self._begin(ts)
        try:
            out = self._cancel_pre(rec)
            if out is None:
                self._cancel_in(c, rec)
        except BaseException as exc:
            raise self._halt(exc) from exc
        if out is not None:  # a reject: the order stands as it was
            return _set_result(res, out)
        return self._record_result(rec, res)

    @cython.final
    cdef int _commit_place(self, int64_t ts, Contract c, inst, OrderRecord rec,
                           Result* res) except -1:
        """``_commit(ts, _place, inst, rec)`` in C (``c`` is the order's contract), its
        outcome written into a batch result."""
        self._begin(ts)
        try:
            text = self._place_n(c, inst, rec)
            if text is not None:
                self._reject_n(rec, text)
        except BaseException as exc:
            raise self._halt(exc) from exc
        if text is not None:
            res.seq, res.order_id = self._seq, rec.order_id
            res.status, res.leaves, res.cum = _STATUS_REJECTED, 0, rec.cum_qty
            return 0
        return self._record_result(rec, res)

    @cython.final
    cdef int _record_result(self, OrderRecord rec, Result* res) except -1:
        """A batch row's result from the record of the order its command ran on: as the order
        stands, or as it finished in this command."""
        res.seq, res.order_id = self._seq, rec.order_id
        res.leaves, res.cum = rec.leaves_qty, rec.cum_qty
        if _same_str(rec.done_status, "Rejected"):  # (None while the order is live)
            res.status = _STATUS_REJECTED
        return 0

    def _place(self, inst, OrderRecord rec not None):
        return self._place_c(inst, rec)

    @cython.final
    cdef object _place_c(self, inst, OrderRecord rec):
        text = self._place_n(self._contract(rec.symbol), inst, rec)
        return self._outcome_c(rec) if text is None else self._reject_c(rec, text)

    @cython.final
    cdef object _place_n(self, Contract c, inst, OrderRecord rec):
        # None once the order is in the book of ``c`` (its contract) with its events applied,
        # else the reject text with nothing done: the caller rejects it
        cdef int64_t oid = self._next_id
        rec.order_id = oid
        self._next_id = oid + 1
        sym = rec.symbol
        cdef object a = account_obj(self, rec.account)  # (the steps below take an object)
        if not _has_token(self, rec.account, a):
            return RATE_LIMITED
        if self._settled and sym in self._settled:
            return f"Instrument {sym} is settled"
        if not self._checks_off:
            text = self._overload_reject(inst, rec)
            if text:
                return text
        own_pos = held_at(c, self._positions, rec.account, a)  # (the margin check reads it too)
        key = table_key(a, sym, own_pos)
        live = key_live(self, <Position>own_pos, key)
        cdef Py_ssize_t n_live = (<LiveOrders>live).count if live is not None else 0
        cdef bint cond = rec.conditional
        cdef int64_t ro = rec.flags & _REDUCE, px
        if cond or n_live >= self._max_open:
            stops = (<LiveOrders>live).n_conditional() if cond and live is not None else 0
            count_text = order_count_reject(n_live, stops, cond,
                                            max_open=self._max_open, max_stop=self._max_stop)
            if count_text:
                return count_text
        if not cond:
            if ro:
                cap = self._capacity(a, sym, rec.side)
                if cap == 0:
                    return CLOSE_NO_POSITION if rec.close_all else REDUCE_ONLY_WOULD_INCREASE
                q = cap if rec.close_all else min(rec.leaves_qty, cap)
                rec.order_qty = rec.leaves_qty = q
                rec.close_all = False
            if own_pos is not None and (<Position>own_pos).q:
                text = self._closing_c(c, inst, rec, a, <Position>own_pos, rec.leaves_qty,
                                       rec.price)
                if text:
                    return text
            if not ro:
                if _order_fits == NULL or rec.leaves_qty <= 0 \
                        or (rec.ord_type != _LIMIT and rec.ord_type != _MARKET):
                    text = self._margin_reject(inst, rec, rec.leaves_qty)
                    if text:
                        return text
                else:
                    # _margin_reject's steps in C: the native check at the order's price (a
                    # market order's estimated), and the reference when that has no answer
                    px = rec.price if rec.ord_type == _LIMIT else \
                        self._estimate(c, rec.side, rec.leaves_qty)
                    if px > 0:  # (without a price, no order margin)
                        fits = _order_fits(self, a, c, rec.side, px, rec.leaves_qty, 0, 0, 0,
                                           key, own_pos, live)
                        if fits is not True:
                            text = fits if fits is not None else self._margin_reference(
                                inst, rec, rec.leaves_qty, px, False, _IDLE)
                            if text:
                                return text
            if rec.flags & _CLOSE:
                self._close_cancels(inst, rec, rec.leaves_qty)
                live = key_live(self, <Position>own_pos, key)  # (the cancels may have emptied it)
        self._go_live(rec, key, live, <Position>own_pos)
        if rec.cl_ord_id:
            self._cl_ids[(a, rec.cl_ord_id)] = oid
        if ro:
            self._reduce_only.setdefault(key, {})[oid] = None
            self._dirty[a] = None
        self._book_add(c, rec)
        return None

    def _price_estimate(self, inst, int side, int64_t qty):
        """The price at which a market order of ``qty`` > 0 on ``side`` would complete, in
        ticks (MarginCore._margin_reject prices its order margin at it)."""
        return self._estimate(self._contract(inst.symbol), side, qty)

    @cython.final
    cdef object _estimate(self, Contract c, int side, int64_t qty):
        # the displayed level of the other side's best 32 that covers the order; when they do
        # not, the mark's tick bounds the last level walked (0: no level and no mark)
        cdef int64_t px, left
        if _books_api.sweep(<PyObject*>c.book, 1 if side == _BUY else 0, qty, 32, &px,
                            &left) < 0:
            _raised()
        if px and left <= 0:
            return px
        mark = contract_mark(self, c)
        if not mark:
            return px
        if side == _BUY:
            return max(px, c.inst.e8_to_ticks_ceil(mark))
        m = max(1, c.inst.e8_to_ticks_floor(mark))
        return min(px, m) if px else m

    def _closing_reject(self, inst, OrderRecord rec not None, object qty, object price=None):
        """The closing rule (RiskMixin._liquidation_reject) for ``qty`` contracts of the order
        ``rec`` at ``price`` ticks (its own when None), for the steps that have the order
        itself: a triggered order's release and an amend. "" when it passes."""
        pos = self._positions.get((rec.account, rec.symbol))
        if pos is None or not (<Position>pos).q or qty <= 0:
            return ""
        return self._closing_c(self._contract(rec.symbol), inst, rec,
                               account_obj(self, rec.account), <Position>pos, qty,
                               rec.price if price is None else price) or ""

    @cython.final
    cdef object _closing_c(self, Contract c, inst, OrderRecord rec, object a, Position pos,
                           int64_t qty, int64_t px):
        # the closing rule for ``qty`` > 0 contracts of the order ``rec`` of account ``a`` (its
        # object) in ``c`` at ``px`` (a market type: the worst displayed level its sweep
        # reaches) against its position ``pos``: its native step, then the reference when that
        # has no answer; the reject text, or None
        cdef int64_t left, q = pos.q
        if (q > 0) == (rec.side == _BUY) or qty <= 0:
            return None  # it opens or adds
        cdef bint market = rec.ord_type < 64 and (_MARKET_BITS >> rec.ord_type) & 1
        if market and _books_api.sweep(<PyObject*>c.book, 1 if rec.side == _BUY else 0, qty,
                                       _ALL_LEVELS, &px, &left) < 0:
            _raised()
        if px <= 0 or (_closing_clear != NULL
                       and _closing_clear(self, a, c, pos, rec.side, px)):
            return None
        return self._liquidation_reject(inst, pos, rec.side, px, market) or None

    @cython.final
    cdef int _go_live(self, OrderRecord rec, tuple key, object live, Position pos) except -1:
        """Registers ``rec`` as a live order of ``key`` (whose live orders are ``live``, None
        without any; ``pos`` its position, or None)."""
        self._orders.put_c(rec.order_id, rec)
        rec.key = key
        if live is None:
            # (an emptied key's object, which its position remembers, serves again)
            live = pos.live if pos is not None and pos.live_tab is self._live \
                and not (<LiveOrders>pos.live).count else LiveOrders()
            self._live[key] = live
            if pos is not None:
                pos.live, pos.live_tab = live, self._live
        (<LiveOrders>live).add(rec)
        return 0

    @cython.final
    cdef int _book_add(self, Contract c, OrderRecord rec) except -1:
        """Adds the registered order ``rec`` to the book of ``c`` through its C interface,
        then runs the engine loop on what that did."""
        cdef PerpexAdd cmd
        cdef int64_t leaves
        if not 0 <= rec.account <= _MAX_ACCOUNT:  # as OrderBook.add refuses it
            raise TypeError(f"account={rec.account} must be an int in [0, 2**32)")
        cmd.order_id, cmd.account, cmd.side = rec.order_id, rec.account, rec.side
        cmd.ord_type, cmd.tif, cmd.flags, cmd.trigger = rec.ord_type, rec.tif, rec.flags, rec.feed
        cmd.price, cmd.qty, cmd.display_qty = rec.price, rec.leaves_qty, rec.display_qty
        cmd.stop_px, cmd.peg_offset = rec.stop_px, rec.peg_offset
        if _books_api.add(<PyObject*>c.book, &cmd, &leaves) < 0:
            _raised()
        return self._drive_c(c, rec)

    def _engine_add(self, inst, int64_t a, int side, int64_t qty, int64_t price, int tif):
        """An order of the liquidation engine, for account ``a`` (its own or a trader's): a
        plain limit order that takes no rate-limit token and no margin check. Registered
        as live and as a liquidation order (a resting one of the engine's own account as a lot
        at its price), added to the book, and its events applied; returns its record."""
        return self._engine_add_c(inst, a, side, qty, price, tif)

    @cython.final
    cdef OrderRecord _engine_add_c(self, inst, int64_t a, int side, int64_t qty, int64_t price,
                                   int tif):
        cdef int64_t oid = self._next_id
        self._next_id = oid + 1
        sym = inst.symbol
        cdef OrderRecord rec = new_order(oid, a, sym, side, _LIMIT, tif, 0, _FEED_MARK, price,
                                         0, 0, -1, qty, "", False, False)
        self._liq_orders[oid] = None
        if a == _LIQ and tif == _GTC:
            self._lots[oid] = price
        cdef Contract c = self._contract(sym)
        cdef object acc = a  # (boxed once)
        pos = held_at(c, self._positions, a, acc)
        key = table_key(acc, sym, pos)
        self._go_live(rec, key, key_live(self, <Position>pos, key), <Position>pos)
        self._book_add(c, rec)
        return rec

    def _cancel_now(self, OrderRecord rec not None):
        """Cancels ``rec``, a live order of its account (``cancel`` and batch cancel rows)."""
        return self._cancel_c(rec)

    @cython.final
    cdef object _cancel_c(self, OrderRecord rec):
        out = self._cancel_pre(rec)
        if out is not None:
            return out
        self._cancel_book(rec)
        return self._outcome_c(rec)

    @cython.final
    cdef object _cancel_pre(self, OrderRecord rec):
        """None when ``rec`` may be canceled now, else the command's reject (an Outcome)."""
        if self._liq_orders and rec.order_id in self._liq_orders:
            # a liquidation order resting for the trader (OKEx cycle) is not the trader's to cancel
            return self._command_reject(self._inst[rec.symbol], rec.account, IN_LIQUIDATION, rec)
        if not _has_token(self, rec.account, None):
            return self._command_reject(self._inst[rec.symbol], rec.account, RATE_LIMITED, rec)
        return None

    @cython.final
    cdef int _cancel_book(self, OrderRecord rec) except -1:
        return self._cancel_in(self._contract(rec.symbol), rec)

    @cython.final
    cdef int _cancel_in(self, Contract c, OrderRecord rec) except -1:
        # ``c``: the order's contract
        cdef int64_t leaves
        if _books_api.cancel(<PyObject*>c.book, rec.order_id, rec.account, &leaves) < 0:
            _raised()
        return self._drive_c(c, rec)

    def _order_outcome(self, OrderRecord rec not None):
        return self._outcome_c(rec)

    @cython.final
    cdef object _outcome_c(self, OrderRecord rec):
        status = rec.done_status
        if status is not None:  # finished (its leaves and cum as they were then)
            return _outcome(self._seq, status != "Rejected", rec.done_text, rec.order_id, status,
                            rec.leaves_qty, rec.cum_qty)
        status = "PartiallyFilled" if rec.cum_qty else "New"
        return _outcome(self._seq, True, "", rec.order_id, status, rec.leaves_qty, rec.cum_qty)

    @cython.final
    cdef int _reject_n(self, OrderRecord rec, str text) except -1:
        rec.leaves_qty = 0
        if self._emit:
            self._events.append(_report(self._contract(rec.symbol), rec, "Rejected", "Rejected",
                                        self._seq, self._ts, text, 0, 0, 0, 0, "", None))
        return 0

    @cython.final
    cdef object _reject_c(self, OrderRecord rec, str text):
        self._reject_n(rec, text)
        return _outcome(self._seq, False, text, rec.order_id or None, "Rejected", 0, rec.cum_qty)

    # ============================================================ the engine loop
    def _drive(self, sym):
        """Applies the book's pending events, then keeps the reduce-only rule and releases
        held triggered orders one at a time, each against the position of that moment."""
        self._drive_c(self._contract(sym))

    @cython.final
    cdef int _drive_c(self, Contract c, OrderRecord own=None) except -1:
        # ``own``: the record of the order the command just sent to the book, if any
        self._apply_pending(c, own)
        # (``_held`` is a deque: its ob_size is its length, read without a truth-value call)
        if self._dirty or (self._held is not None and Py_SIZE(self._held)):
            self._drive_rest(c.symbol)
        return 0

    def _apply_events(self, sym):
        """Applies the book's pending events to orders, accounts and output (and takes them
        out of the book)."""
        self._apply_pending(self._contract(sym))

    @cython.final
    cdef int _apply_pending(self, Contract c, OrderRecord own=None) except -1:
        cdef Py_ssize_t n
        cdef PerpexEvent local[8]
        cdef PerpexEvent* evs = local
        # taken out of the book first: applying them may run further book commands, whose
        # events the next call takes
        if _books_api.take_events(<PyObject*>c.book, local, 8, &n) < 0:
            _raised()
        if n == 0:
            return 0
        if n > 8:  # (more than a command's usual few: taken again into room for them all)
            evs = <PerpexEvent*>PyMem_Malloc(n * sizeof(PerpexEvent))
            if evs == NULL:
                raise MemoryError()
        try:
            if evs != local and _books_api.take_events(<PyObject*>c.book, evs, n, &n) < 0:
                _raised()
            self._apply_c(c, evs, n, own)
        finally:
            if evs != local:
                PyMem_Free(evs)
        return 0

    @cython.final
    cdef int _apply_c(self, Contract c, const PerpexEvent* evs, Py_ssize_t n,
                      OrderRecord own) except -1:
        cdef OrderTable orders = self._orders
        cdef dict texts = self._texts  # (an id boxed for it only when it holds any)
        cdef OrderRecord rec
        cdef int typ
        cdef const PerpexEvent* ev
        cdef Py_ssize_t i
        # the events of ``own`` (a live order: ids are never reused) take its record without
        # a lookup; the others', and every maker's, from the order table
        cdef uint64_t own_id = 0 if own is None else <uint64_t>own.order_id
        for i in range(n):
            ev = &evs[i]
            typ = ev.type
            if typ == _EV_FILL:
                self._fill_c(c, own if ev.order_id == own_id else
                             table_get(orders, <int64_t>ev.order_id),
                             table_get(orders, <int64_t>ev.maker_id), ev.price, ev.qty, ev.leaves,
                             ev.maker_leaves)
                continue
            rec = own if ev.order_id == own_id else table_get(orders, <int64_t>ev.order_id)
            if typ == _EV_ACCEPTED:
                self._index(c, rec)
                if self._emit:
                    liq = self._liq_orders
                    self._events.append(_report(c, rec, "New", "New", self._seq, self._ts,
                                                LIQUIDATION_TEXT if liq and rec.order_id in liq
                                                else "", 0, 0, 0, 0, "", None))
            elif typ == _EV_CANCELED or typ == _EV_REJECTED:
                rec.leaves_qty = 0
                text = (texts.pop(rec.order_id, None) if texts else None) \
                    or _cancel_text(ev.reason)
                status = "Canceled" if typ == _EV_CANCELED else "Rejected"
                self._finish_c(c, rec, status, status, text, 0, 0, 0, 0, "")
            elif typ == _EV_AMENDED:
                rec.leaves_qty = ev.leaves
                if rec.conditional:
                    rec.stop_px = ev.price
                if not (rec.close_all and rec.conditional):
                    rec.order_qty = rec.cum_qty + rec.leaves_qty
                self._index(c, rec)
                # taken with or without events: a text left behind would become the text of
                # the order's later cancel
                text = texts.pop(rec.order_id, "") if texts else ""
                if self._emit:
                    self._events.append(_report(
                        c, rec, "Replaced", "PartiallyFilled" if rec.cum_qty else "New",
                        self._seq, self._ts, text, 0, 0, 0, 0, "", None))
            elif typ == _EV_TRIGGERED:
                rec.triggered = True
                rec.stop_px = ev.price
                if self._emit:
                    self._events.append(_report(c, rec, "Triggered", "New", self._seq,
                                                self._ts, "", 0, 0, 0, 0, "", None))
                self._held.append(rec.order_id)
        return 0

    @cython.final
    cdef int _finish_c(self, Contract c, OrderRecord rec, str exec_type, str status, str text,
                       int64_t last_qty, int64_t last_px, exec_cost, exec_comm,
                       str liquidity) except -1:
        cdef int64_t oid = rec.order_id
        self._orders.erase_c(oid)
        drop_c(self._open, rec)
        key = record_key(rec)
        if self._lots:
            self._lots.pop(oid, None)
        cdef dict liq = self._liq_orders
        if liq and oid in liq:
            del liq[oid]
            text = text or LIQUIDATION_TEXT
            if rec.account != _LIQ:  # a trader's partial order: its position may wait on it
                holds = self._liq_holds
                if holds and holds.get(key, (None,))[0] == oid:
                    # the position waited for this order (OKEx's cycle): it is free from now on
                    del holds[key]
        cdef dict live_all = self._live
        found = key_live(self, seated_pos(c, self._positions, rec.account), key)
        if found is None:
            raise KeyError(key)  # (a live order always has its key's entry)
        (<LiveOrders>found).remove(rec)
        if not (<LiveOrders>found).count:
            del live_all[key]
        cdef dict ros
        if rec.flags & _REDUCE:
            ros = self._reduce_only[key]
            del ros[oid]
            if not ros:
                del self._reduce_only[key]
        if rec.cl_ord_id:
            del self._cl_ids[(rec.account, rec.cl_ord_id)]
        rec.done_status, rec.done_text = status, text
        if self._emit:
            ev = _report(c, rec, exec_type, status, self._seq, self._ts, text, last_qty,
                         last_px, exec_cost, exec_comm, liquidity, None)
            self._events.append(ev)
            if exec_type == "Trade":
                self._executions.append(ev)
        return 0

    @cython.final
    cdef int _fill_c(self, Contract c, OrderRecord taker, OrderRecord maker, int64_t px,
                     int64_t q, int64_t leaves, int64_t mleaves) except -1:
        inst, ccy = c.inst, c.currency
        tkey, mkey = record_key(taker), record_key(maker)
        tpos = _position_at(self, c, taker.account)
        mpos = tpos if maker.account == taker.account else _position_at(self, c, maker.account)
        cdef bint t_buys = taker.side == _BUY
        if t_buys:
            buyer, seller = tpos, mpos
        else:
            buyer, seller = mpos, tpos
        cdef int64_t mdisp = maker.display_qty, ec = 0, tf = 0, mf = 0
        # a hidden maker, or an iceberg filled beyond its displayed slice, pays the taker rate
        cdef bint m_taker = mdisp == 0 or (mdisp > 0 and mleaves > mdisp)
        # the contract value (inst.exec_cost, the buyer's; the seller's is -cost) and the fees
        # in int64 when they fit, as every fill of the presets does; Python ints otherwise
        cdef bint booked
        if c.native_fills and (<LevelTerms>c.terms).value_c(q, px, &ec) and ec != INT64_MIN \
                and (taker.account == _LIQ or _fee_n(ec, c.tk_num, c.tk_den, &tf)) \
                and (maker.account == _LIQ or _fee_n(ec, c.tk_num if m_taker else c.mk_num,
                                                     c.tk_den if m_taker else c.mk_den, &mf)):
            booked = _book_n(self._ledger, ccy, buyer, seller, q, ec, tf if t_buys else mf,
                             mf if t_buys else tf)
            # the objects, for a report or the reference
            cost = tfee = mfee = None
            if self._emit or not booked:
                cost, tfee, mfee = ec, tf, mf
        else:
            cost = contract_value(inst, c.terms, q, px)
            tfee = 0 if taker.account == _LIQ else _fee(cost, c.taker_rate)
            mfee = 0 if maker.account == _LIQ else _fee(
                cost, c.taker_rate if m_taker else c.maker_rate)
            booked = _book(self._ledger, ccy, buyer, seller, q, cost,
                           tfee if t_buys else mfee, mfee if t_buys else tfee)
        if not booked:
            book_reference(self._ledger, ccy, buyer, seller, q, cost,
                           tfee if t_buys else mfee, mfee if t_buys else tfee)
        if taker.account == _LIQ:
            self._lot_fill(inst, taker, px, q)
        if maker.account == _LIQ:
            self._lot_fill(inst, maker, px, q)
        self._touch_at(taker.account, None, c, tpos)
        self._touch_at(maker.account, None, c, mpos)
        # the reduce-only rule runs (in _drive_rest) for the accounts that have such orders
        # here: the others would be queued only to be skipped there
        cdef dict ros = self._reduce_only
        if ros:
            if tkey in ros:
                self._dirty[account_obj(self, taker.account)] = None
            if mkey in ros:
                self._dirty[account_obj(self, maker.account)] = None
        self._fill_side(c, taker, leaves, tfee, "RemovedLiquidity", px, q, cost)
        self._fill_side(c, maker, mleaves, mfee, "AddedLiquidity", px, q, cost)
        return 0

    def _touch(self, a, str ccy not None):
        """The account's money or position changed: every position it holds in ``ccy`` (cross
        collateral is shared) is queued for re-indexing by the liquidation engine
        (perpex.exchange_risk). The engine's account is never indexed. Also keeps the account's
        place among the ``ccy`` accounts with linked positions."""
        self._touch_c(a, self._contract(self._by_ccy[ccy][0]))

    @cython.final
    cdef int _touch_c(self, a, Contract c, Position known=None) except -1:
        # ``c``: any contract settled in the currency; ``known``: the account's position in
        # one of them, when the caller has it
        return self._touch_at(_account_n(a), a, c, known)

    @cython.final
    cdef int _touch_at(self, int64_t v, a, Contract c, Position known) except -1:
        # ``_touch_c`` for the account ``a`` that is ``v`` in int64 (-1: not one), whose
        # positions are found by their seats; ``a`` None: boxed from ``v`` for another
        # contract's lookup, so by the linked-accounts step unless ``c`` alone settles in the
        # currency (held is then at most 1 and the table stays empty)
        if v == _LIQ:
            return 0
        cdef int held = 0
        cdef dict positions = self._positions, dirty = self._risk_dirty
        cdef Contract p
        for p in c.peers:
            if known is not None and p.symbol == known.symbol:
                pos = known
            else:
                if a is None:
                    a = account_obj(self, v)
                pos = held_at(p, positions, v, a)
            if pos is not None:
                if not (<Position>pos).queued:  # (a dict write with a tuple key spared)
                    dirty[(<Position>pos).key] = None
                    (<Position>pos).queued = True
                if pos_open(<Position>pos):
                    held += 1
        linked = c.linked
        if held > 1:
            linked[a] = None
        elif linked:  # (empty unless the currency settles several contracts)
            linked.pop(a, None)
        return 0

    @cython.final
    cdef int _fill_side(self, Contract c, OrderRecord rec, int64_t left, fee, str liq,
                        int64_t px, int64_t q, cost) except -1:
        # (``fee`` and ``cost``: None when no report is made)
        cdef int64_t pq
        rec.leaves_qty = left
        rec.cum_qty += q
        if rec.pxq_wide is None and not perpex_mul(px, q, &pq) \
                and not perpex_add(rec.pxq, pq, &pq) and pq != INT64_MIN:
            rec.pxq = pq
        else:  # beyond int64: Python's sum
            rec.px_qty = rec_px_qty(rec) + <object>px * q
        signed = (cost if rec.side == _BUY else -cost) if self._emit else 0  # (for a report)
        if left == 0:
            self._finish_c(c, rec, "Trade", "Filled", "", q, px, signed, fee, liq)
            return 0
        self._index(c, rec)
        if self._emit:
            ev = _report(c, rec, "Trade", "PartiallyFilled", self._seq, self._ts,
                         LIQUIDATION_TEXT if rec.order_id in self._liq_orders else "",
                         q, px, signed, fee, liq, None)
            self._events.append(ev)
            self._executions.append(ev)
        return 0
