# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The order-margin index of one (account, contract) in C: resting contracts per price on
each side, and :func:`perpex.accounts.margin.level_order_margin` computed over them.

Every new order asks for its account's order margin with the order added, so this runs once
per order on the hot path. The Python function stays the reference (the tests and
``check_invariants`` compare the two); this module is the same pass over the same levels in
64-bit integers, with every product and sum checked. A calculation that would overflow returns
None and the caller takes the Python path, whose integers do not overflow."""

from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t

from perpex._checked cimport (as_int64, div_half_away, perpex_add, perpex_ceil_mul_div,
                              perpex_mul, perpex_sub)
from perpex._records cimport OrderRecord, record_key

from perpex.instruments import Instrument as _Instrument


cdef class LevelTerms:
    """One contract's constants for the calculation (see ``ContractValue``): the contract
    type, its value ratio, ticks in 1e-8 units and the taker fee as an exact ratio (0 when
    the fee is a rebate: no reserve)."""

    # (attributes in _levels.pxd; _twice_value_num: the numerator of an inverse unit's
    # half-up rounding)

    def __init__(self, bint inverse, int64_t value_num, int64_t value_den, int64_t e8_per_tick,
                 int64_t fee_num, int64_t fee_den):
        if value_num <= 0 or value_den <= 0 or e8_per_tick <= 0 or fee_num < 0 or fee_den <= 0:
            raise ValueError("LevelTerms needs positive value and tick ratios and a fee >= 0")
        if not inverse and value_den != 1:
            raise ValueError("a linear or quanto contract's levels need a whole value per tick")
        if perpex_mul(value_num, 2, &self._twice_value_num):
            raise OverflowError("value_num is beyond 63 bits when doubled")
        self.inverse = inverse
        self.value_num, self.value_den = value_num, value_den
        self.e8_per_tick = e8_per_tick
        self.fee_num, self.fee_den = fee_num, fee_den

    def value(self, int64_t qty, int64_t ticks):
        """``Instrument.value(qty, ticks)`` (``ticks`` > 0), or None beyond 64 bits."""
        cdef int64_t out
        if ticks <= 0:
            raise ValueError(f"ticks={ticks} must be > 0")
        return out if self.value_c(qty, ticks, &out) else None

    cdef bint value_c(self, int64_t qty, int64_t ticks, int64_t* out) noexcept:
        # Instrument.value's rounding: an inverse contract's value is rounded per contract,
        # a linear or quanto one here is a whole number of units per tick (value_den == 1)
        cdef int64_t d, unit
        if qty == INT64_MIN:
            return False
        if self.inverse:
            if perpex_mul(ticks, self.value_den, &d) or not div_half_away(self.value_num, d, &unit):
                return False
            return not perpex_mul(-qty, unit, out)
        return not perpex_mul(qty, ticks, &d) and not perpex_mul(d, self.value_num, out)


cpdef object contract_value(object inst, object terms, object qty, object ticks):
    """``inst.value(qty, ticks)``: in int64 through ``terms`` (the contract's
    ``ContractValue.terms``) when they are given, the arguments are ints and the value fits,
    else the method itself (which also raises on a bad price). An Instrument subclass always
    takes its own method."""
    cdef int64_t n, p, out
    if terms is not None and type(inst) is _Instrument and as_int64(qty, &n) \
            and as_int64(ticks, &p) and p > 0 and (<LevelTerms>terms).value_c(n, p, &out):
        return out
    return inst.value(qty, ticks)


cdef inline void _check_rate(int64_t rn, int64_t rd) except *:
    if rn < 0 or rd <= 0:
        raise ValueError("the initial margin rate must be a ratio >= 0")


cdef list _as_pairs(Levels* lv):
    cdef Py_ssize_t i
    return [(lv.price(i), lv.qty(i)) for i in range(lv.size())]


def _restore_levels(list buys, list sells, Py_ssize_t count, Py_ssize_t unpriced):
    """An OpenLevels from its pickled state (OpenLevels.__reduce__)."""
    cdef OpenLevels lv = OpenLevels()
    cdef int64_t p, n
    for p, n in buys:
        lv._add(0, p, n)
    for p, n in sells:
        lv._add(1, p, n)
    lv.count, lv.unpriced = count, unpriced
    return lv


cdef inline bint _unit(LevelTerms t, int64_t p, int64_t* unit, int64_t* value) noexcept:
    """One contract's charged value at ``p`` > 0 ticks (``unit``, >= 0) and its signed value
    (``value``, negative for an inverse contract); True on overflow."""
    cdef int64_t d, x
    if t.inverse:  # Instrument.unit_value: |m| / price rounded half up, per contract
        if perpex_mul(p, t.value_den, &d) or perpex_mul(d, 2, &x) or \
                perpex_add(t._twice_value_num, d, unit):
            return True
        unit[0] //= x
        value[0] = -unit[0]
        return False
    if perpex_mul(p, t.value_num, unit):
        return True
    value[0] = unit[0]
    return False


cdef class OpenLevels:
    """The margin-carrying resting orders of one (account, contract): contracts per price
    on each side. ``count`` is the key's indexed live orders, margin-carrying or not;
    ``unpriced`` the margin-carrying ones without a price (market types in flight)."""

    # (attributes in _levels.pxd)

    def add(self, int side, int64_t price, int64_t n):
        _put(self, side, price, n)

    def remove(self, int side, int64_t price, int64_t n):
        _take(self, side, price, n)

    cdef int _add(self, int side, int64_t price, int64_t n) except -1:
        if side == 0:
            self._buys.add(price, n)
            self._nbuy += n
        else:
            self._sells.add(price, n)
            self._nsell += n
        return 0

    cdef int _remove(self, int side, int64_t price, int64_t n) except -1:
        cdef Levels* lv = &self._buys if side == 0 else &self._sells
        if not lv.take(price, n):
            raise KeyError(f"no {n} contracts resting at {price} on side {side}")
        if side == 0:
            self._nbuy -= n
        else:
            self._nsell -= n
        return 0

    def __reduce__(self):
        # (a snapshot pickles the engine, and with it the index: its levels as (price,
        # contracts) pairs, ascending)
        return _restore_levels, (_as_pairs(&self._buys), _as_pairs(&self._sells), self.count,
                                 self.unpriced)

    def levels(self):
        """(buys, sells, unpriced), contracts by price, for comparisons."""
        return dict(_as_pairs(&self._buys)), dict(_as_pairs(&self._sells)), self.unpriced

    def empty(self):
        """No priced contracts on either side."""
        return self._buys.empty() and self._sells.empty()

    def margin_with(self, LevelTerms t, int64_t position_qty, int64_t rate_num, int64_t rate_den,
                    int64_t mark_e8, int64_t mark_unit, int64_t best_bid, int side, int64_t price,
                    int64_t n, int old_side, int64_t old_price, int64_t old_n):
        """``level_order_margin`` of these levels with ``n`` contracts at ``price`` on
        ``side`` added and ``old_n`` at ``old_price`` on ``old_side`` taken out (a replaced
        order; 0 for none), the levels put back before returning. Both prices must be > 0
        when their quantity is. ``rate_num / rate_den`` is IM%, ``mark_e8`` 0 for no mark
        (else ``mark_unit`` is one contract's value at it) and ``best_bid`` 0 for none. None
        when a 64-bit step would overflow."""
        cdef int64_t out
        if self.margin_with_c(t, position_qty, rate_num, rate_den, mark_e8, mark_unit, best_bid,
                              side, price, n, old_side, old_price, old_n, &out):
            return None
        return out

    cdef int margin_with_c(self, LevelTerms t, int64_t position_qty, int64_t rate_num,
                           int64_t rate_den, int64_t mark_e8, int64_t mark_unit, int64_t best_bid,
                           int side, int64_t price, int64_t n, int old_side, int64_t old_price,
                           int64_t old_n, int64_t* out) except -1:
        """:meth:`margin_with` into ``out``: 1 when a 64-bit step would overflow, else 0."""
        cdef bint overflow
        if (n and price <= 0) or (old_n and old_price <= 0):
            raise ValueError("margin_with takes priced orders only")
        _check_rate(rate_num, rate_den)  # before the levels change
        if not old_n:  # a new order: a level the passes walk as if it were in the map
            return self._margin(t, position_qty, rate_num, rate_den, mark_e8, mark_unit,
                                best_bid, side, price, n, out)
        # a replaced order: the levels changed in place and put back
        self._remove(old_side, old_price, old_n)
        if n:
            self._add(side, price, n)
        overflow = self._margin(t, position_qty, rate_num, rate_den, mark_e8, mark_unit,
                                best_bid, 0, 0, 0, out)
        if n:
            self._remove(side, price, n)
        self._add(old_side, old_price, old_n)
        return overflow

    def margin_bound(self, LevelTerms t, int64_t rate_num, int64_t rate_den, int64_t mark_e8,
                     int64_t mark_unit, int64_t best_bid, int side, int64_t price, int64_t n):
        """An upper bound of :meth:`margin_with` for a new order (nothing taken out) under
        any position, or None when a 64-bit step would overflow; the same arguments, without
        the position."""
        cdef int64_t out
        if self.margin_bound_c(t, rate_num, rate_den, mark_e8, mark_unit, best_bid, side, price,
                               n, &out):
            return None
        return out

    cdef bint margin_bound_c(self, LevelTerms t, int64_t rn, int64_t rd, int64_t mark_e8,
                             int64_t m1, int64_t best_bid, int xside, int64_t xprice, int64_t xn,
                             int64_t* out) noexcept:
        # Every contract of both sides (the order's ``xn`` at ``xprice`` on ``xside``
        # included) charged at the largest per-contract value of any level and paying the
        # largest premium of any: at least what _margin charges, which nets the sides, lets the
        # position's closing contracts carry nothing and charges a subset. A contract's value
        # is monotonic in its price, so both largest amounts are at the lowest or the highest
        # price a pass values (offers at no less than the best bid). O(1): the check's common
        # case, an order far inside the account's balance, needs no pass. True on overflow
        # (or a rate or price the exact steps refuse): no bound.
        cdef int64_t n, lo = INT64_MAX, hi = 0, slo, shi, ulo, uhi, vlo, vhi, dlo, dhi
        cdef int64_t charged, premium = 0, im, fee
        if rn < 0 or rd <= 0 or (xn and xprice <= 0):
            return True
        if perpex_add(self._nbuy, self._nsell, &n) or perpex_add(n, xn, &n):
            return True
        out[0] = 0
        if not n:
            return False
        if not self._buys.empty():
            lo, hi = self._buys.price(0), self._buys.price(self._buys.size() - 1)
        if xn and xside == 0:
            lo, hi = min(lo, xprice), max(hi, xprice)
        if not self._sells.empty() or (xn and xside != 0):
            slo, shi = INT64_MAX, 0
            if not self._sells.empty():
                slo, shi = self._sells.price(0), self._sells.price(self._sells.size() - 1)
            if xn and xside != 0:
                slo, shi = min(slo, xprice), max(shi, xprice)
            lo, hi = min(lo, max(slo, best_bid)), max(hi, max(shi, best_bid))
        if lo <= 0 or lo > hi:  # (counted contracts without a level: not a state it keeps)
            return True
        if _unit(t, lo, &ulo, &vlo) or _unit(t, hi, &uhi, &vhi):
            return True
        if perpex_mul(n, max(ulo, uhi), &charged):
            return True
        if mark_e8 > 0:  # (without a mark no premium)
            if perpex_sub(vlo, m1, &dlo) or perpex_sub(vhi, m1, &dhi) or dlo == INT64_MIN \
                    or dhi == INT64_MIN:
                return True
            if perpex_mul(n, max(-dlo if dlo < 0 else dlo, -dhi if dhi < 0 else dhi), &premium):
                return True
        if perpex_ceil_mul_div(charged, rn, rd, &im) or \
                perpex_ceil_mul_div(charged, t.fee_num, t.fee_den, &fee):
            return True
        return perpex_add(im, premium, &im) or perpex_add(im, fee, out)

    cdef bint _margin(self, LevelTerms t, int64_t pq, int64_t rn, int64_t rd, int64_t mark_e8,
                      int64_t m1, int64_t best_bid, int xside, int64_t xprice, int64_t xn,
                      int64_t* out) noexcept:
        # the same steps as level_order_margin, whose docstring explains the netting, over the
        # levels with ``xn`` > 0 contracts at ``xprice`` on ``xside`` added (the order being
        # checked; none for 0); True on overflow
        cdef int64_t cap_b = -pq if pq < 0 else 0
        cdef int64_t cap_s = pq if pq > 0 else 0
        cdef int64_t nb, ns  # (the totals are 0 on an empty side)
        cdef int64_t b_lo, b_hi, s_lo, s_hi, buy_over = INT64_MAX, sell_under = 0
        cdef int64_t charged = 0, premium = 0, im, fee
        cdef int64_t bx = xn if xside == 0 else 0, sx = xn if xside != 0 else 0
        cdef Pass p
        out[0] = 0
        if perpex_add(self._nbuy, bx, &nb) or perpex_add(self._nsell, sx, &ns):
            return True
        nb -= cap_b
        ns -= cap_s
        if nb < 0:
            nb = 0
        if ns < 0:
            ns = 0
        if not nb and not ns:
            return False
        if nb >= ns:
            s_lo, s_hi = 0, ns
            if t.inverse:
                b_lo, b_hi = ns, nb
            else:
                b_lo, b_hi = 0, nb - ns
        else:
            b_lo, b_hi = 0, nb
            if t.inverse:
                s_lo, s_hi = 0, ns - nb
            else:
                s_lo, s_hi = nb, ns
        if mark_e8 > 0:  # without a mark no level is beyond it: no premium
            buy_over = mark_e8 // t.e8_per_tick
            sell_under = buy_over + (mark_e8 % t.e8_per_tick != 0)  # ceil (C division truncates)
        if nb:
            if self._buys_pass(t, cap_b, b_lo, b_hi, buy_over, m1, xprice, bx, &p):
                return True
            charged, premium = p.charged, p.premium
        if ns:
            if self._sells_pass(t, cap_s, s_lo, s_hi, sell_under, best_bid, m1, xprice, sx,
                                &p):
                return True
            if perpex_add(charged, p.charged, &charged) or perpex_add(premium, p.premium, &premium):
                return True
        if perpex_ceil_mul_div(charged, rn, rd, &im) or \
                perpex_ceil_mul_div(charged, t.fee_num, t.fee_den, &fee):
            return True
        if perpex_add(im, premium, &im) or perpex_add(im, fee, out):
            return True
        return False

    cdef int _level(self, LevelTerms t, int64_t p, int64_t n, int64_t* cap, int64_t* at,
                    int64_t lo, int64_t hi, bint beyond, int64_t m1, Pass* acc) noexcept:
        """One level of a side's pass (``_side_levels``): the position's closing contracts
        (``cap``) come first and carry nothing; of the rest, those at pass positions [lo, hi)
        are charged. 1 when the pass can stop, -1 on overflow, else 0."""
        cdef int64_t unit, value, first, last, x
        if cap[0]:
            if cap[0] >= n:
                cap[0] -= n
                return 0
            n, cap[0] = n - cap[0], 0
        if _unit(t, p, &unit, &value):
            return -1
        first = at[0] if at[0] > lo else lo
        at[0] += n
        last = at[0] if at[0] < hi else hi
        if last > first:
            if perpex_mul(last - first, unit, &x) or perpex_add(acc.charged, x, &acc.charged):
                return -1
        if beyond:
            x = value - m1
            if x < 0:
                x = -x
            if perpex_mul(n, x, &x) or perpex_add(acc.premium, x, &acc.premium):
                return -1
        return 1 if not beyond and at[0] >= hi else 0

    cdef bint _buys_pass(self, LevelTerms t, int64_t cap, int64_t lo, int64_t hi,
                         int64_t over, int64_t m1, int64_t xprice, int64_t xn,
                         Pass* acc) noexcept:
        # most aggressive (highest) first; a premium is due above the mark. ``xn`` contracts
        # at ``xprice`` (none when ``xn`` is 0) join the level of that price, or stand as one of
        # their own.
        cdef int64_t at = 0, p, n
        cdef int r
        cdef Py_ssize_t i = self._buys.size()
        acc.charged = acc.premium = 0
        while i:
            i -= 1
            p, n = self._buys.price(i), self._buys.qty(i)
            if xn and p <= xprice:
                if p == xprice:
                    n += xn
                else:  # the added level comes first
                    r = self._level(t, xprice, xn, &cap, &at, lo, hi, xprice > over, m1, acc)
                    if r:
                        return r < 0
                xn = 0
            r = self._level(t, p, n, &cap, &at, lo, hi, p > over, m1, acc)
            if r:
                return r < 0
        if xn:
            r = self._level(t, xprice, xn, &cap, &at, lo, hi, xprice > over, m1, acc)
            if r:
                return r < 0
        return False

    cdef bint _sells_pass(self, LevelTerms t, int64_t cap, int64_t lo, int64_t hi,
                          int64_t under, int64_t floor, int64_t m1, int64_t xprice, int64_t xn,
                          Pass* acc) noexcept:
        # lowest first, valued at no less than the best bid; a premium is due below the mark.
        # ``xn`` contracts at ``xprice`` as in _buys_pass.
        cdef int64_t at = 0, p, n, lp
        cdef int r
        cdef Py_ssize_t i, k = self._sells.size()
        acc.charged = acc.premium = 0
        for i in range(k):
            lp, n = self._sells.price(i), self._sells.qty(i)
            if xn and lp >= xprice:
                if lp == xprice:
                    n += xn
                else:  # the added level comes first
                    p = xprice if xprice > floor else floor
                    r = self._level(t, p, xn, &cap, &at, lo, hi, p < under, m1, acc)
                    if r:
                        return r < 0
                xn = 0
            p = lp if lp > floor else floor
            r = self._level(t, p, n, &cap, &at, lo, hi, p < under, m1, acc)
            if r:
                return r < 0
        if xn:
            p = xprice if xprice > floor else floor
            r = self._level(t, p, xn, &cap, &at, lo, hi, p < under, m1, acc)
            if r:
                return r < 0
        return False


# ---------------------------------------------------------------- keeping the index in step
# The exchange's order index (perpex.exchange_margin.MarginCore) is ``index``, an OpenLevels per
# (account, symbol). Each live order's record holds its entry (perpex._records.OrderRecord): the
# levels it is counted in and what it was last indexed as, (side, price, contracts), or (0, 0,
# 0) for an order that carries no order margin (conditional, reduce-only or without contracts
# left). Every accepted, amended, partly filled and finished order passes through one of these
# two, so they are written for that: C fields on the record and C calls on the levels, with a
# dict lookup only when an order joins its key or is the last to leave it.


cdef inline int _put(OpenLevels lv, int side, int64_t price, int64_t n) except -1:
    """``n`` contracts at ``price`` on ``side`` (an unpriced order: only counted)."""
    if price <= 0:
        lv.unpriced += 1
    else:
        lv._add(side, price, n)
    return 0


cdef inline int _take(OpenLevels lv, int side, int64_t price, int64_t n) except -1:
    if price <= 0:
        lv.unpriced -= 1
    else:
        lv._remove(side, price, n)
    return 0


def open_sync(dict index, OrderRecord rec not None, int64_t reduce_flag):
    """Brings the index in line with ``rec`` (a live order) after it may have changed."""
    sync_c(index, rec, reduce_flag, None, False, None)


cdef int sync_c(dict index, OrderRecord rec, int64_t reduce_flag, object found,
                bint looked, object spare) except -1:
    """``open_sync`` as a C call (the engine loop, perpex._core). ``looked``: the caller has
    looked the record's key up in ``index`` already, and ``found`` is its entry (or None).
    ``spare``: an emptied OpenLevels, out of every index, to enter for a key without an entry
    (None: a new one)."""
    cdef int side = 0
    cdef int64_t price = 0, n = rec.leaves_qty
    cdef OpenLevels levels
    if n <= 0 or rec.conditional or rec.flags & reduce_flag:
        n = 0
    else:
        side, price = rec.side, rec.price
    if rec.ix_levels is not None:
        if rec.ix_qty == n and (n == 0 or (rec.ix_side == side and rec.ix_price == price)):
            return 0
        levels = <OpenLevels>rec.ix_levels
        if rec.ix_qty:
            _take(levels, rec.ix_side, rec.ix_price, rec.ix_qty)
    else:
        key = record_key(rec)
        lv = found if looked else index.get(key)
        if lv is None:
            lv = index[key] = OpenLevels() if spare is None else spare
        levels = <OpenLevels>lv
        levels.count += 1
        rec.ix_levels = levels
    if n:
        _put(levels, side, price, n)
    rec.ix_side, rec.ix_price, rec.ix_qty = side, price, n
    return 0


def open_drop(dict index, OrderRecord rec not None):
    """``rec`` left the live orders."""
    drop_c(index, rec)


cdef int drop_c(dict index, OrderRecord rec) except -1:
    """``open_drop`` as a C call (the engine loop, perpex._core)."""
    if rec.ix_levels is None:
        return 0
    cdef OpenLevels levels = <OpenLevels>rec.ix_levels
    levels.count -= 1
    if rec.ix_qty:
        _take(levels, rec.ix_side, rec.ix_price, rec.ix_qty)
    rec.ix_levels = None  # the rest of the entry is read only while there are levels
    if not levels.count:
        del index[record_key(rec)]
    return 0
