# cython: language_level=3, boundscheck=False, wraparound=False
"""Hot loops over event data: the fill tape digest used to compare runs, the stamping of
many event records from one template, and the BitMEX-shaped execution report every accepted,
filled or canceled order emits."""

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

import numpy as np

cimport cython
from libc.stdint cimport int64_t

from perpex._checked cimport as_int64, perpex_mul
from perpex._records cimport OrderRecord, rec_px_qty

cdef unsigned long long FNV_OFFSET = 0xcbf29ce484222325ULL
cdef unsigned long long FNV_PRIME = 0x100000001b3ULL


cdef inline unsigned long long _mix(unsigned long long h, unsigned long long v) nogil:
    cdef int i
    for i in range(8):
        h ^= (v >> (8 * i)) & 0xFF
        h *= FNV_PRIME
    return h


def fill_digest(events, unsigned long long seed=FNV_OFFSET):
    """Returns (fills, traded_qty, digest) over the EV_FILL rows of an event array.

    The digest is FNV-1a over (maker_id, taker_id, price, qty) of each fill in order, chained
    from `seed` so a replay can be digested chunk by chunk.
    """
    cdef const unsigned char[:] types = np.ascontiguousarray(events["type"])
    cdef const unsigned long long[:] takers = np.ascontiguousarray(events["order_id"])
    cdef const unsigned long long[:] makers = np.ascontiguousarray(events["maker_id"])
    cdef const long long[:] prices = np.ascontiguousarray(events["price"])
    cdef const long long[:] qtys = np.ascontiguousarray(events["qty"])
    cdef Py_ssize_t i, n = types.shape[0]
    cdef unsigned long long h = seed
    cdef long long fills = 0, traded = 0
    with nogil:
        for i in range(n):
            if types[i] == 2:
                h = _mix(h, makers[i])
                h = _mix(h, takers[i])
                h = _mix(h, <unsigned long long>prices[i])
                h = _mix(h, <unsigned long long>qtys[i])
                fills += 1
                traded += qtys[i]
    return fills, traded, h


def stamp_records(dict template, tuple keys, list a, list b, list c):
    """One copy of ``template`` per row with ``keys`` (three of its keys) set to the row's
    values from ``a``, ``b`` and ``c``: the per-position event records of a funding instant.
    Copies keep the template's key order; nothing else is shared between them."""
    cdef Py_ssize_t i, n = len(a)
    if len(b) != n or len(c) != n:
        raise ValueError("stamp_records needs three columns of one length")
    k0, k1, k2 = keys  # anything but three keys raises ValueError here
    cdef list out = [None] * n
    cdef dict d
    for i in range(n):
        d = template.copy()
        d[k0] = a[i]
        d[k1] = b[i]
        d[k2] = c[i]
        out[i] = d
    return out


# ---------------------------------------------------------------- execution reports
# perpex.orders hands over its tables and its two helpers once, at import (configure_execution);
# this module cannot import perpex.orders, which imports it.
cdef dict _TEMPLATE = None
cdef tuple _SIDE_NAMES
cdef dict _ORD_TYPE_NAMES, _TIF_NAMES
cdef object _CONDITIONAL, _exec_inst_text


# The template with the fields that one kind of report repeats for every order of one kind
# already set, by (symbol, currency, side, ordType, timeInForce, execType, ordStatus,
# lastLiquidityInd): copying one costs less than setting those seven or eight fields anew.
cdef dict _BASES = {}
cdef Py_ssize_t _BASES_SIZE = 4096


def configure_execution(dict template, tuple side_names, dict ord_type_names, dict tif_names,
                        frozenset conditional, exec_inst_text):
    global _TEMPLATE, _SIDE_NAMES, _ORD_TYPE_NAMES, _TIF_NAMES, _CONDITIONAL, _exec_inst_text
    _TEMPLATE, _SIDE_NAMES, _ORD_TYPE_NAMES, _TIF_NAMES = (
        template, side_names, ord_type_names, tif_names)
    _CONDITIONAL, _exec_inst_text = conditional, exec_inst_text
    _BASES.clear()


cdef dict _base(str symbol, str currency, int side, int ord_type, int tif, str exec_type,
                str ord_status, str liquidity):
    key = (symbol, currency, side, ord_type, tif, exec_type, ord_status, liquidity)
    base = _BASES.get(key)
    if base is not None:
        return <dict>base
    if len(_BASES) >= _BASES_SIZE:
        _BASES.clear()  # bounded; a miss only costs building one again
    cdef dict made = _TEMPLATE.copy()
    made["execType"] = exec_type
    made["ordStatus"] = ord_status
    made["symbol"] = symbol
    made["side"] = _SIDE_NAMES[side]
    made["ordType"] = _ORD_TYPE_NAMES[ord_type]
    made["timeInForce"] = _TIF_NAMES[tif]
    if liquidity != "":
        made["lastLiquidityInd"] = liquidity
    made["currency"] = currency
    _BASES[key] = made
    return made


# ---------------------------------------------------------------- avgPx
cdef object _E8 = Decimal("1e-8")
# The default context spelled out, so that an event never depends on a caller's decimal context.
cdef object _CTX = Context(prec=28, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999,
                           traps=[InvalidOperation, DivisionByZero, Overflow])
# avgPx by its value in 1e-8 units: most orders fill at one price, so few values recur often.
cdef dict _AVG_PX = {}
AVG_PX_CACHE = _AVG_PX  # (the same dict: tests clear it)
cdef Py_ssize_t _AVG_PX_CACHE_SIZE = 1 << 16
cdef int64_t _FAST_CUM = 1_000_000_000_000, _FAST_E8 = 10_000_000_000_000_000


def avg_px(instrument, px_qty, cum):
    """The fills' mean price ``px_qty x tick / cum`` rounded half-even to 8 decimals, exactly
    as ``(Decimal(px_qty) * tick_size / Decimal(cum)).quantize(Decimal("1e-8"))`` in the
    default context gives it, value and exponent alike (``20000.50000000``)."""
    return _avg_px(instrument, px_qty, cum)


cdef object _avg_px(object instrument, object px_qty, object cum):
    # In integers, in 1e-8 units: V = px_qty x e8_per_tick / cum, rounded half-even once. The
    # Decimal form rounds twice. Its product is exact (px_qty x e8_per_tick = V x cum < 1e28
    # has at most 28 digits); its quotient keeps 28 significant digits, down to 1e-12 of a
    # unit when V < 1e16, an error of at most 0.5e-12; then quantize rounds to the unit. A tie
    # V = m + 1/2 is exact at 28 digits, and any other V = n / cum lies at least
    # 1 / (2 cum) > 0.5e-12 (cum < 1e12) from every m + 1/2, so the first rounding never
    # reaches one and both round alike. The integers run in int64 (every realistic fill);
    # anything else, and V or cum outside that range, where the first rounding can make a tie
    # (tests show one), takes the Decimal form itself, raising InvalidOperation past 28 digits.
    cdef int64_t p, c, e, num, units, rem
    if as_int64(px_qty, &p) and as_int64(cum, &c) and 0 < c < _FAST_CUM and p >= 0 \
            and as_int64(instrument._e8_per_tick, &e) and e >= 0 and not perpex_mul(p, e, &num):
        units = num // c
        rem = num - units * c
        if units < _FAST_E8:
            rem += rem
            if rem > c or (rem == c and units & 1):
                units += 1
            price = _AVG_PX.get(units)
            if price is None:
                if len(_AVG_PX) >= _AVG_PX_CACHE_SIZE:
                    _AVG_PX.clear()  # bounded; a miss only costs a recomputation
                price = _AVG_PX[units] = _CTX.multiply(Decimal(units), _E8)
            return price
    return _CTX.divide(_CTX.multiply(Decimal(px_qty), instrument.tick_size),
                       Decimal(cum)).quantize(_E8, context=_CTX)


cdef inline bint _is_zero(object v):
    """True for the int 0 the template holds (so the field keeps it); any other value,
    including a 0 of another type, is written."""
    return type(v) is int and v == 0


def execution(instrument, OrderRecord rec not None, str exec_type, str ord_status, *, seq, ts,
              str text="", last_qty=0, last_px=0, exec_cost=0, exec_comm=0, str liquidity="",
              stop_px=None):
    """One BitMEX-shaped execution report for ``rec`` as it stands now (see perpex.orders)."""
    return execution_c(instrument, rec, exec_type, ord_status, seq, ts, text, last_qty,
                       last_px, exec_cost, exec_comm, liquidity, stop_px)


cdef Execution execution_c(object instrument, OrderRecord rec, str exec_type, str ord_status,
                           object seq, object ts, str text, object last_qty, object last_px,
                           object exec_cost, object exec_comm, str liquidity, object stop_px):
    """``execution`` without the keyword-argument call (the engine loop calls it directly).
    Only what the report reads of ``rec`` is taken, now: the record goes on changing, the
    report must not."""
    cdef Execution ev = Execution.__new__(Execution)
    ev._inst = instrument
    ev._exec_type, ev._ord_status, ev._liquidity, ev._text = exec_type, ord_status, liquidity, text
    ev._seq, ev._ts = seq, ts
    ev._last_qty, ev._last_px, ev._exec_cost, ev._exec_comm = last_qty, last_px, exec_cost, exec_comm
    ev._stop = rec.stop_px if stop_px is None else stop_px
    ev._symbol, ev._cl, ev._px_qty = rec.symbol, rec.cl_ord_id, rec_px_qty(rec)
    ev._order_id, ev._account, ev._flags = rec.order_id, rec.account, rec.flags
    ev._order_qty, ev._price, ev._disp = rec.order_qty, rec.price, rec.display_qty
    ev._leaves, ev._cum = rec.leaves_qty, rec.cum_qty
    ev._side, ev._ord_type, ev._tif, ev._feed = rec.side, rec.ord_type, rec.tif, rec.feed
    ev._triggered = rec.triggered
    return ev


def _from_dict(dict d):
    """An Execution holding the finished fields ``d`` (how one unpickles)."""
    cdef Execution ev = Execution.__new__(Execution)
    ev._d = dict(d)
    return ev


@cython.final
@cython.no_gc
@cython.freelist(256)
cdef class Execution:
    """One execution report, read as a read-only mapping with BitMEX's keys in BitMEX's order
    (``ev["execType"]``, ``ev.get("avgPx")``, ``dict(ev)``; it compares equal to the dict of
    the same fields).

    The engine loop emits one per accepted, filled or canceled order, and a high-volume run
    reads few of them: so a report keeps the values it was made from (taken from the order as
    it stood then) and builds its fields, prices and avgPx on the first read. What it holds
    are strings, numbers, an instrument and its price cache, which never refer back to a
    report, so it is left out of the cycle collector."""

    def __init__(self):
        raise TypeError("execution reports are made by the exchange")

    cdef dict _fields(self):
        if self._d is not None:
            return self._d
        # the template is a finished dict whose values are replaced in place, so every event
        # has the same keys in the same order. Its values are those of a plain order and of no
        # fill (perpex.orders), so those fields are set only when they differ; the fields of
        # the report's kind come with its base (_base).
        instrument = self._inst
        prices = instrument._prices
        ord_type, flags, price, ticks = self._ord_type, self._flags, self._price, self._stop
        cum, disp, cl = self._cum, self._disp, self._cl
        last_qty, last_px = self._last_qty, self._last_px
        exec_cost, exec_comm, text = self._exec_cost, self._exec_comm, self._text
        cdef dict ev = _base(self._symbol, instrument.settle_currency, self._side, ord_type,
                             self._tif, self._exec_type, self._ord_status,
                             self._liquidity).copy()
        cdef bint conditional = ord_type in _CONDITIONAL
        ev["seq"] = self._seq
        ev["transactTime"] = self._ts
        ev["orderID"] = self._order_id
        if cl != "":
            ev["clOrdID"] = cl
        ev["account"] = self._account
        # no flags and no trigger: always empty, whatever the feed
        if flags or conditional:
            ev["execInst"] = _exec_inst_text(flags, self._feed, conditional)
        ev["orderQty"] = self._order_qty
        if price or ticks or last_px:
            if price:
                ev["price"] = _price(instrument, prices, price)
            if ticks:
                ev["stopPx"] = _price(instrument, prices, ticks)
            if last_px:
                ev["lastPx"] = _price(instrument, prices, last_px)
        if disp >= 0:
            ev["displayQty"] = disp
        if not _is_zero(last_qty):
            ev["lastQty"] = last_qty
        ev["leavesQty"] = self._leaves
        ev["cumQty"] = cum
        if cum:
            ev["avgPx"] = _avg_px(instrument, self._px_qty, cum)
        if not _is_zero(exec_cost):
            ev["execCost"] = exec_cost
        if not _is_zero(exec_comm):
            ev["execComm"] = exec_comm
        if self._triggered:
            ev["triggered"] = "StopOrderTriggered"
        elif conditional:
            ev["triggered"] = "NotTriggered"
        if text != "":
            ev["text"] = text
        self._d = ev
        return ev

    def __getitem__(self, key):
        return self._fields()[key]

    def get(self, key, default=None):
        return self._fields().get(key, default)

    def __contains__(self, key):
        return key in self._fields()

    def __iter__(self):
        return iter(self._fields())

    def __len__(self):
        return len(self._fields())

    def keys(self):
        return self._fields().keys()

    def values(self):
        return self._fields().values()

    def items(self):
        return self._fields().items()

    def to_dict(self):
        """The report as a new plain dict (for JSON, or to change)."""
        return self._fields().copy()

    def __eq__(self, other):
        if isinstance(other, Execution):
            return self._fields() == (<Execution>other)._fields()
        if isinstance(other, dict):
            return self._fields() == other
        if isinstance(other, Mapping):
            return self._fields() == dict(other)
        return NotImplemented

    def __repr__(self):
        return f"Execution({self._fields()!r})"

    def __reduce__(self):
        return _from_dict, (self._fields(),)


Mapping.register(Execution)
