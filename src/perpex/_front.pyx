# cython: language_level=3
"""The order commands' argument checks, in C: ``Exchange.place`` and ``Exchange.cancel`` are
thin wrappers of :func:`place` and :func:`cancel` here.

A per-call order paid more for its checks, as Python method calls and attribute lookups on the
engine, than the engine loop paid for the order itself. Here the engine's fields are read in C
and each common check (a known account, a listed symbol, a side, a quantity on the lot grid, a
price seen before) is a lookup or a comparison; anything that check does not pass goes to the
engine's own helper for that argument (``_account``, ``_instrument``, ``check_qty``,
``price_to_ticks`` ...), which accepts it or raises its error, so every message has one source.
"""

from cpython.float cimport PyFloat_AS_DOUBLE
from libc.stdint cimport INT64_MAX, int64_t, uint64_t
from libc.string cimport memcpy

from perpex._checked cimport as_int64, perpex_mul
from perpex._core cimport Contract, EngineCore, Result, known_account
from perpex._idtable cimport table_find
from perpex._records cimport OrderRecord, new_order

from decimal import Decimal

from perpex import _native
from perpex.book import EXEC_FLAGS, FEEDS, ORD_TYPES, SIDES, TIFS, _choice
from perpex.errors import (
    ArithmeticOverflowError, DuplicateOrderIdError, InvalidInputError, InvalidPriceError,
    InvalidQuantityError)
from perpex._core import LIQUIDATION_ACCOUNT
from perpex.exchange_core import _CLOSE, _int
from perpex.orders import CONDITIONAL_TYPES, MARKET_TYPES

cdef int64_t _LIQ = LIQUIDATION_ACCOUNT
cdef int64_t _CLOSE_FLAG = _CLOSE
cdef int _BUY = _native.BUY, _SELL = _native.SELL
cdef int _GTC = _native.GTC
cdef int _STOP = _native.STOP, _STOP_LIMIT = _native.STOP_LIMIT
cdef int64_t _POST_ONLY = _native.FLAG_POST_ONLY, _TRAILING = _native.FLAG_TRAILING
cdef int _FEED_MARK = _native.FEED_MARK
cdef dict _SIDES = SIDES, _ORD_TYPES = ORD_TYPES, _TIFS = TIFS, _FEEDS = FEEDS
cdef int _LIMIT_CODE = ORD_TYPES["Limit"], _MARKET_CODE = ORD_TYPES["Market"]
cdef dict _EXEC_OR_FEED = {**EXEC_FLAGS, **FEEDS}
cdef uint64_t _code_bits(codes) except? 0:
    cdef uint64_t out = 0
    cdef int code
    for code in codes:
        if not 0 <= code < 64:
            raise ValueError(f"code {code} is not below 64")
        out |= (<uint64_t>1) << code
    return out


cdef uint64_t _TIF_CODES = _code_bits(TIFS.values())  # a bit per time-in-force code
# CONDITIONAL_TYPES and MARKET_TYPES as flags by order type code (the codes are small ints)
cdef enum:
    _IS_CONDITIONAL = 1
    _IS_MARKET = 2
cdef unsigned char _KIND[256]
for _ot in ORD_TYPES.values():
    _KIND[_ot] = (_IS_CONDITIONAL if _ot in CONDITIONAL_TYPES else 0) | (
        _IS_MARKET if _ot in MARKET_TYPES else 0)
del _ot


cdef inline int _code(str name, value, dict table) except -1:
    """``_choice(name, value, table)``: the lookup here, its error there."""
    found = table.get(value) if type(value) is str else None
    return <int>found if found is not None else _choice(name, value, table)


cdef inline int64_t _ts(EngineCore core, ts) except -1:
    """The command's ``ts`` (``_check_ts``), on an engine that has not halted
    (``_check_live``)."""
    if core._halted is not None:
        (<object>core)._check_live()
    if ts is None:
        return core._ts
    cdef int64_t t
    if as_int64(ts, &t) and t >= core._ts:
        return t
    return (<object>core)._check_ts(ts)


cdef inline int64_t _ts_at(EngineCore core, int64_t t) except -1:
    """``_ts`` of a journal record's ts (an int64 already)."""
    if core._halted is not None:
        (<object>core)._check_live()
    return t if t >= core._ts else (<object>core)._check_ts(t)


cdef inline object _trader(EngineCore core, account):
    """A trader's account (``_account``)."""
    cdef object ex = core
    cdef int64_t a
    if as_int64(account, &a) and a != _LIQ \
            and known_account(core._known_bits(), core._accounts, a):
        return account
    return ex._account(account)


cdef inline int64_t _ticks(Contract c, price, str name) except? -1:
    """``c.inst.price_to_ticks(price, name)``, reading its caches of conversions first."""
    cdef double d
    cdef uint64_t bits
    cdef Py_ssize_t h
    cdef int64_t t
    kind = type(price)
    if kind is float:  # (only a conversion that succeeded enters the table)
        d = PyFloat_AS_DOUBLE(price)
        memcpy(&bits, &d, 8)
        h = <Py_ssize_t>((bits * <uint64_t>0x9E3779B97F4A7C15) >> 56)  # (8 bits: 256)
        if c.f_bits[h] == bits and c.f_ticks[h] > 0:
            return c.f_ticks[h]
        t = _ticks_dict(c, price, name)
        c.f_bits[h], c.f_ticks[h] = bits, t
        return t
    return _ticks_dict(c, price, name)


cdef int64_t _ticks_dict(Contract c, price, str name) except? -1:
    kind = type(price)
    if kind is int or kind is float or kind is Decimal:
        try:
            found = c.ticks.get(price)
        except TypeError:  # a signalling NaN has no hash: the conversion says what is wrong
            found = None
        if found is not None:
            return found
    return c.inst.price_to_ticks(price, name)


def place(EngineCore core not None, account, symbol, side, qty, price, ord_type, time_in_force,
          exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id, ts):
    """The checks and the commit of ``Exchange.place`` (documented there)."""
    return place_c(core, account, symbol, side, qty, price, ord_type, time_in_force, exec_inst,
                   display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id, ts)


cdef object place_c(EngineCore core, account, symbol, side, qty, price, ord_type, time_in_force,
                    exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id,
                    ts):
    cdef int64_t t = _ts(core, ts)
    a = _trader(core, account)
    cdef Contract c = _listed_c(core, symbol)
    inst = c.inst
    cdef int s = _code("side", side, _SIDES)
    if ord_type is None:
        cond = stop_px is not None or peg_price_type is not None
        ord_type = ("StopLimit" if price is not None else "Stop") if cond else (
            "Limit" if price is not None else "Market")
    cdef int ot = _code("ord_type", ord_type, _ORD_TYPES)
    cdef int tif = _code("time_in_force", time_in_force, _TIFS)
    rec = _order(core, a, c, s, ord_type, ot, tif, exec_inst, qty, price, display_qty,
                 stop_px, peg_price_type, peg_offset_value, cl_ord_id)
    return core._commit_c(t, inst, rec)


def replay_place(EngineCore core not None, account, str symbol, int side, str ord_type,
                 int time_in_force, qty, price, ts):
    """``place`` of a journaled plain order (no exec_inst, display_qty, stop, peg or
    cl_ord_id; ``side`` and ``time_in_force`` as the engine's codes, ``ord_type`` None for the
    default): the same checks and commit, without the outcome a recovery would drop. Returns
    None."""
    cdef int64_t t = _ts(core, ts)
    replay_place_at(core, account, _listed_c(core, symbol), side, ord_type, time_in_force, qty,
                    price, t)


cdef Contract listed_contract(EngineCore core, symbol):
    return _listed_c(core, symbol)


cdef int replay_place_at(EngineCore core, account, Contract c, int side, str ord_type,
                         int time_in_force, qty, price, int64_t ts) except -1:
    cdef int64_t t = _ts_at(core, ts)
    a = _trader(core, account)
    inst = c.inst
    cdef int ot
    if ord_type is None:  # (the default's code without the lookup)
        ord_type, ot = ("Limit", _LIMIT_CODE) if price is not None else ("Market", _MARKET_CODE)
    else:
        ot = _code("ord_type", ord_type, _ORD_TYPES)
    if side != _BUY and side != _SELL:
        raise InvalidInputError(f"side code {side} is not a side")
    if not (0 <= time_in_force < 64 and (_TIF_CODES >> time_in_force) & 1):
        raise InvalidInputError(f"time_in_force code {time_in_force} is not a time in force")
    rec = _order(core, a, c, side, ord_type, ot, time_in_force, (), qty, price, None, None,
                 None, None, None)
    cdef Result res
    return core._commit_place(t, c, inst, rec, &res)


cdef int replay_cancel_at(EngineCore core, account, order_id, int64_t ts) except -1:
    """``cancel`` of a journaled cancel, without its outcome."""
    cdef int64_t t = _ts_at(core, ts)
    a = _trader(core, account)
    found = table_find(core._orders, order_id)
    cdef OrderRecord rec
    if found is not None and (<OrderRecord>found).account == a:
        rec = <OrderRecord>found
    else:
        rec = (<object>core)._own_order(a, order_id)
    cdef Result res
    return core._commit_cancel(t, core._contract(rec.symbol), rec, &res)


cdef inline Contract _listed_c(EngineCore core, symbol):
    """The contract of the listed instrument ``symbol`` (``_instrument``), from the engine's
    table of contracts by symbol once it is built (one lookup for the instrument's)."""
    if type(symbol) is str and core._contracts is not None:
        found = core._contracts.get(symbol)
        if found is not None:
            return <Contract>found
    return core._contract((<object>core)._instrument(symbol).symbol)


cdef OrderRecord _order(EngineCore core, a, Contract c, int s, str ord_type, int ot, int tif,
                        exec_inst, qty, price, display_qty, stop_px, peg_price_type,
                        peg_offset_value, cl_ord_id):
    """The checked record of a new order of trader ``a`` in contract ``c`` (side ``s``, order
    type ``ot`` named ``ord_type``, ``tif``), from the rest of ``place``'s arguments."""
    cdef object ex = core
    inst = c.inst
    cdef bint conditional = _KIND[ot] & _IS_CONDITIONAL
    cdef bint market = _KIND[ot] & _IS_MARKET
    if isinstance(exec_inst, str):
        exec_inst = [x.strip() for x in exec_inst.split(",") if x.strip()]
    cdef int64_t flags = 0
    cdef int feed = _FEED_MARK
    for inst_name in exec_inst:
        if inst_name in _FEEDS:
            if not conditional:
                raise InvalidInputError(f"exec_inst {inst_name} applies only to conditional orders")
            feed = _FEEDS[inst_name]
        else:
            flags |= _code("exec_inst", inst_name, _EXEC_OR_FEED)
    cdef bint close_all = False
    cdef int64_t q
    if qty is None:
        if not flags & _CLOSE_FLAG:
            raise TypeError(
                "qty must be an int number of contracts (None only with exec_inst Close)")
        close_all = True
        q = c.max_qty - c.max_qty % c.lot
    elif not (as_int64(qty, &q) and 0 < q <= c.max_qty and q % c.lot == 0):
        q = inst.check_qty(qty, "qty")
    cdef int64_t p = 0, stop = 0, peg = 0
    if market:
        if price is not None:
            raise InvalidInputError(f"ord_type={ord_type} takes no price")
    else:
        if price is None:
            raise TypeError(f"price is required for ord_type={ord_type}, got None")
        p = _ticks(c, price, "price")
    if peg_price_type is not None:
        if peg_price_type != "TrailingStopPeg" or not conditional:
            raise InvalidInputError(f"peg_price_type={peg_price_type!r}: only TrailingStopPeg "
                                    "on a stop or if-touched order")
        if stop_px is not None:
            raise InvalidInputError("a trailing stop takes peg_offset_value, not stop_px")
        peg = ex._signed_ticks(inst, peg_offset_value, "peg_offset_value")
        rises = (s == _BUY) == (ot == _STOP or ot == _STOP_LIMIT)
        if (peg > 0) != rises:
            raise InvalidPriceError(f"peg_offset_value={peg_offset_value} must be "
                                    f"{'> 0' if rises else '< 0'} for this trailing order")
        flags |= _TRAILING
        ref = c.book.last_price(feed)
        if ref and ref + peg <= 0:
            raise InvalidPriceError(
                f"peg_offset_value={peg_offset_value} puts the stop at or below 0")
    elif conditional:
        if stop_px is None:
            raise TypeError(f"stop_px is required for ord_type={ord_type}, got None")
        stop = _ticks(c, stop_px, "stop_px")
    elif stop_px is not None:
        raise InvalidInputError(f"ord_type={ord_type} takes no stop_px")
    if flags & _POST_ONLY and (market or tif != _GTC):
        raise InvalidInputError(
            "exec_inst ParticipateDoNotInitiate needs a GoodTillCancel limit order")
    cdef int64_t disp = -1
    if display_qty is not None:
        disp = _int("display_qty", display_qty, 0)
        if market:
            raise InvalidQuantityError(
                f"display_qty={disp}: market-type orders cannot hide quantity")
    cdef int64_t notional
    if perpex_mul(p if p > stop else stop, q, &notional):
        raise ArithmeticOverflowError(
            f"notional {p if p > stop else stop} ticks x qty={q} overflows int64")
    cl = ""
    if cl_ord_id is not None:
        if not isinstance(cl_ord_id, str) or not cl_ord_id or len(cl_ord_id) > 36:
            raise InvalidInputError(f"cl_ord_id={cl_ord_id!r} must be a str of 1-36 characters")
        if (a, cl_ord_id) in core._cl_ids:
            raise DuplicateOrderIdError(f"cl_ord_id={cl_ord_id!r} is already used by a live "
                                        f"order of account {a}")
        cl = cl_ord_id
    return new_order(0, a, c.symbol, s, ot, tif, flags, feed, p, stop, peg, disp, q, cl,
                     close_all, conditional)


def cancel(EngineCore core not None, account, order_id, ts):
    """The checks and the commit of ``Exchange.cancel``."""
    cdef int64_t t = _ts(core, ts)
    a = _trader(core, account)
    # (the lookup written out here: an unknown order's error, common in a client's flow,
    # would pay for a traceback entry of each C function it passed through)
    found = table_find(core._orders, order_id) if type(order_id) is int else None
    cdef OrderRecord rec
    if found is not None and (<OrderRecord>found).account == a:
        rec = <OrderRecord>found
    else:
        rec = (<object>core)._own_order(a, order_id)
    return core._commit_c(t, None, rec)
