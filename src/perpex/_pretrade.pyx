# cython: language_level=3, boundscheck=False, wraparound=False
"""The pre-trade margin check's common case in one native call (MECHANICS §1.2, §2.1).

:meth:`perpex.exchange_margin.MarginCore._margin_reject` is the reference and stays the
engine's rule: an order fits when its contract's order margin with the order added is no more
than the account's available balance before that contract's order margin. The reference takes
a dozen Python-level calls per order (levels, rates, position margin, unrealised PnL, each other
contract's order margin); this module takes the same steps over the same engine tables, reading
them in place, in one pass over the account's contracts in the settle currency, and calls the
order-margin index (:mod:`perpex.accounts._levels`) in C.

``order_fits`` answers True (the order fits), the reference's text when it does not (a reject
text, or "" when the order does not raise the contract's order margin and so passes), or None
whenever a step leaves the common case (a contract whose order margin needs the order-by-order
scan, a 64-bit overflow, a live order not indexed yet): the reference then decides, and it alone
repairs the index, so everything unusual runs exactly the code it ran before. Its tests compare
the two on random books, positions and marks over every contract type."""

from libc.stdint cimport int64_t

from perpex._checked cimport as_int64, perpex_add, perpex_ceil_mul_div, perpex_mul, perpex_sub
from perpex._core cimport (Contract, EngineCore, book_best, contract_mark, held_pos, key_levels,
                          key_live, set_closing_clear, set_order_fits, table_key)
from perpex._fills cimport wallet_c, wallet_n
from perpex._idtable cimport LiveOrders
from perpex.accounts._levels cimport LevelTerms, OpenLevels
from perpex.accounts._position cimport Position
from perpex import _native
from perpex.orders import insufficient_text
from perpex.rounding import exact_rate

cdef OpenLevels _NO_LEVELS = OpenLevels()  # a key without resting orders (left empty again)
cdef int _BUY_SIDE = _native.BUY


# Each step reads the engine's tables from its typed fields (perpex._core.EngineCore), and a
# contract's constants from its view (perpex._core.Contract).

cdef tuple _lev_ratio(object lev):
    """An isolated position's IM% as (num, den): 1 / its leverage ``lev`` > 0."""
    if type(lev) is int:
        return 1, lev
    if type(lev) is float and lev <= 1e15 and lev == <int64_t>lev:
        return 1, <int64_t>lev  # a whole float, as exact_rate reads it
    num, den = exact_rate(lev, "leverage")
    return den, num


cdef bint _ratio_n(EngineCore e, Contract c, object pos, bint iso, object lev, int64_t* num,
                   int64_t* den) except -1:
    """MarginCore._init_ratio in int64: IM% as ``num`` / ``den``, isolated (``iso``: the
    position ``pos``'s leverage ``lev`` > 0) or cross; False when it leaves int64 (the
    reference's case)."""
    if iso:
        if type(lev) is int:
            num[0] = 1
            return as_int64(lev, den)
        r = _lev_ratio(lev)
        return as_int64(r[0], num) and as_int64(r[1], den) and num[0] >= 0 and den[0] > 0
    return e._cross_n(c, c.inst.risk_limit if pos is None else (<Position>pos).risk_limit,
                      num, den)


cdef int _mark_n(EngineCore e, Contract c, bint want_unit) except -2:
    """The engine's mark for ``c`` as contract_mark reads it: 0 without one, 1 with it in
    ``c.mark_e8`` (and, when ``want_unit``, ``c.cv.mark_unit`` at it in ``c.unit_c`` when
    ``c.unit_st`` is 1, asked once a mark), -1 when it is beyond int64 (the reference's
    case)."""
    contract_mark(e, c)
    if want_unit and c.mark_st > 0 and c.unit_st < 0:
        c.unit_st = as_int64(c.cv.mark_unit(c.mark), &c.unit_c)
    return c.mark_st


cdef int _key_margin(EngineCore e, tuple key, object live, object pos, Contract c,
                     int64_t pq, int64_t rn, int64_t rd, bint marked, int side, int64_t price,
                     int64_t n, int old_side, int64_t old_price, int64_t old_n, int64_t fit,
                     int64_t* out) except -1:
    """MarginCore._levels_margin_with for ``key`` (its live orders ``live``, its position
    ``pos`` or None, with ``pq`` contracts and IM% ``rn`` / ``rd``, its contract ``c`` at the
    mark _mark_n read when ``marked``, with its unit) with ``n`` at ``price`` on ``side``
    added and ``old_n`` at ``old_price`` on ``old_side`` taken out, into ``out``: 1 when done,
    0 when the key needs the reference (not valued per contract, a live order not indexed yet,
    an unpriced order, a mark without a per-contract value). With nothing taken out, an O(1)
    upper bound of that margin (OpenLevels.margin_bound_c) stands for it when it is within
    ``fit`` (the balance the caller compares with; -1 for none): the margin itself only when
    it matters."""
    cdef OpenLevels levels
    cdef int64_t mark_e8 = 0, unit_c = 0, bid
    terms = c.terms
    if terms is None:
        return 0
    # (a key without live orders has no entry: the index holds a key's indexed live orders and
    # drops its entry as it empties, which check_invariants asserts)
    lv = None if live is None else key_levels(e, <Position>pos, key)
    if (0 if lv is None else (<OpenLevels>lv).count) \
            != (0 if live is None else (<LiveOrders>live).count):
        return 0  # a live order not indexed: the reference re-indexes it
    if lv is None:
        if not n:
            out[0] = 0
            return 1
        levels = _NO_LEVELS
    else:
        levels = <OpenLevels>lv
        if levels.unpriced:
            return 0
        if not n and levels._buys.empty() and levels._sells.empty():
            out[0] = 0
            return 1
    if marked:
        if c.unit_st != 1:
            return 0
        mark_e8, unit_c = c.mark_e8, c.unit_c
    bid = book_best(c.book, 0)
    if fit >= 0 and not old_n and not levels.margin_bound_c(
            <LevelTerms>terms, rn, rd, mark_e8, unit_c, bid, side, price, n, out) \
            and out[0] <= fit:
        return 1
    if levels.margin_with_c(<LevelTerms>terms, pq, rn, rd, mark_e8, unit_c, bid, side,
                            price, n, old_side, old_price, old_n, out):
        return 0
    return 1


cdef int _key_take(EngineCore e, Contract c, object pos, bint ordered, int64_t* qty,
                   int64_t* num, int64_t* den, int64_t* total) except -9:
    """One key of ``c`` in the pass over an account's contracts, with its position ``pos`` (or
    None): its held margin and cross loss off ``total`` (_held_take), its contracts into
    ``qty`` and its IM% into ``num`` / ``den``. ``ordered``: its order margin is needed too.
    The mark _mark_n read (0 or 1), 2 when the key counts for nothing (no position held and
    no order margin needed), -1 when a value needs the reference."""
    cdef int64_t cost = 0, extra = 0
    cdef bint iso = False
    cdef int marked
    qty[0] = 0
    lev = None
    if pos is not None:
        if (<Position>pos).wide is not None \
                or not as_int64((<Position>pos).extra_margin, &extra):
            return -1
        qty[0], cost = (<Position>pos).q, (<Position>pos).c
        lev = (<Position>pos).leverage
        iso = lev > 0
    cdef bint held = qty[0] != 0 or extra != 0
    if not held and not ordered:
        return 2
    marked = _mark_n(e, c, ordered or c.inverse)
    if marked < 0 or not _ratio_n(e, c, pos, iso, lev, num, den):
        return -1
    if held and not _held_take(c, qty[0], cost, extra, iso, num[0], den[0], marked, total):
        return -1
    return marked


cdef bint _held_take(Contract c, int64_t qty, int64_t cost, int64_t extra, bint iso,
                     int64_t num, int64_t den, bint marked, int64_t* total) except -1:
    """Takes a held position's margin off ``total`` (MarginCore._position_margin: its IM% =
    ``num`` / ``den`` of its cost, and its extra margin when isolated, ``iso``) and, when
    cross, its unrealised loss at the mark _mark_n read when ``marked`` (with its unit for an
    inverse contract), as MarginCore._available and RiskMixin._collateral count them; False
    (``total`` unchanged or not) when a value leaves int64: the caller asks the reference."""
    cdef int64_t m, x
    if perpex_ceil_mul_div(-cost if cost < 0 else cost, num, den, &m):
        return False
    if iso:
        return not (perpex_add(m, extra, &m) or perpex_sub(total[0], m, total))
    if perpex_sub(total[0], m, total):
        return False
    if marked and qty:  # a cross loss counts against the account, a gain not
        if c.inverse:
            if c.unit_st != 1 or perpex_mul(qty, c.unit_c, &x) or perpex_sub(x, cost, &x):
                return False
        elif not as_int64(c.inst.unrealised_pnl(qty, cost, c.mark), &x):
            return False
        if x < 0 and perpex_add(total[0], x, total):
            return False
    return True


cdef object _fits(EngineCore engine, object a, Contract own_c, int side, int64_t price,
                  int64_t n, int old_side, int64_t old_price, int64_t old_n, tuple own,
                  object own_pos, object own_live):
    """One pass over the account's contracts settled in ``own_c``'s currency: each one's
    position margin and cross loss (MarginCore._available), the order margin of the others
    with live orders, and that of ``own_c`` with the order (``after``); True when ``after``
    is within the rest, None when not or when a key needs the reference. The sums run in
    int64; one beyond it is left to the reference too. ``own`` is (a, own_c.symbol), as the
    engine keys its tables by it when it has it (perpex._core.table_key), ``own_pos`` its
    position and ``own_live`` its live orders (each None without any: the place step has
    looked both up already). ``old`` (side, price, contracts) is an indexed entry the order
    replaces (0 contracts for none). When the order does not fit, the answer is the reference's
    (MarginCore._margin_reference): the reject text naming the margin the order adds, or ""
    when it adds none."""
    cdef int64_t total = 0, wallet, m, after = 0, qty, num, den
    cdef int64_t own_qty = 0, own_num = 0, own_den = 1, before = 0
    cdef int marked, own_marked
    cdef list peers = own_c.peers
    cdef Contract c
    # ``total`` sums what the contracts take from the wallet (read last, through a position
    # that may remember where the ledger keeps it); the order's own contract first, its
    # margin with the order taken once the balance it must fit in is known
    own_marked = _key_take(engine, own_c, own_pos, True, &own_qty, &own_num, &own_den, &total)
    if own_marked < 0:
        return None
    some = own_pos
    if len(peers) > 1:
        positions = engine._positions
        for c in peers:
            if c is own_c:
                continue
            pos = held_pos(c, positions, a)  # (by account, as the place step found its own)
            key = table_key(a, c.symbol, pos)
            live = key_live(engine, <Position>pos, key)
            if some is None:
                some = pos
            marked = _key_take(engine, c, pos, live is not None, &qty, &num, &den, &total)
            if marked < 0:
                return None
            if marked < 2 and live is not None:  # (its order margin)
                if not _key_margin(engine, key, live, pos, c, qty, num, den, marked, 0, 0, 0, 0,
                                   0, 0, -1, &m) or perpex_sub(total, m, &total):
                    return None
    if not (wallet_n(engine._ledger, own_c.currency, a, some, &wallet)
            or as_int64(wallet_c(engine._ledger, own_c.currency, a, some), &wallet)) \
            or perpex_add(wallet, total, &total):
        return None
    if not _key_margin(engine, own, own_live, own_pos, own_c, own_qty, own_num, own_den,
                       own_marked, side, price, n, old_side, old_price, old_n,
                       total if total >= 0 else -1, &after):
        return None
    if after <= total:
        return True
    # short: the reference's answer, which compares with the margin without the order
    if not _key_margin(engine, own, own_live, own_pos, own_c, own_qty, own_num, own_den,
                       own_marked, 0, 0, 0, 0, 0, 0, -1, &before):
        return None
    return insufficient_text(after - before, own_c.currency) if after > before else ""


def order_fits(EngineCore ex not None, str sym, object a, int side, object price, object qty,
               tuple old):
    """True when account ``a`` can carry a new order of ``qty`` > 0 contracts at ``price`` > 0
    ticks on ``side`` in ``sym`` that replaces the indexed entry ``old``
    (side, price, contracts; ``(0, 0, 0)`` for none), the margin check's text when it cannot
    (a reject text, or "" when the order adds no margin), None to ask the reference (see the
    module docstring). ``ex`` is the engine (a MarginCore)."""
    cdef int64_t p, n, old_price, old_n
    cdef int old_side = old[0]
    try:
        p, n = price, qty
        old_price, old_n = old[1], old[2]
    except OverflowError:
        return None
    if n <= 0 or p <= 0:
        return None
    key = (a, sym)
    return _fits(ex, a, ex._contract(sym), side, p, n, old_side, old_price, old_n, key,
                 ex._positions.get(key), ex._live.get(key))


cdef int _closing_clear(EngineCore e, object a, Contract c, Position pos, int side,
                        int64_t px) except -1:
    """1 when an order of account ``a`` on ``side`` at ``px`` > 0 ticks in ``c`` that closes (part
    of) its position ``pos`` surely passes the closing rule (RiskMixin._liquidation_reject), 0
    when the reference is to decide. The reference rejects when ``px`` is beyond the mark and
    beyond the trigger that ``liquidation_ticks`` solves for: where the unrounded value V(P) of
    the position satisfies ``V(P) * (fd - pn * s) = (cost - collateral + MM) * fd`` (pn / fd
    the paying side's funding rate, s the sign of the cost). A value below that target is the
    far side of the trigger for a long and for a short alike, so the order passes when the
    rounded value at ``px`` less one unit a contract (an inverse contract's value is rounded
    per contract) still reaches it; the collateral and MM are those RiskMixin reads, here from
    the engine's tables in int64."""
    cdef int64_t q = pos.q, mk, at, v, aq, cost, extra, w, coll, rl, s1, s2, steps, mm
    cdef int64_t t, fn = 0, fd = 1, pn, denom, lhs, rhs, num, den, oq
    cdef int marked
    cdef LevelTerms terms
    cdef Contract o
    if not c.liq_native or c.terms is None or pos.wide is not None:
        return 0
    terms = <LevelTerms>c.terms
    marked = _mark_n(e, c, False)
    if marked < 0:
        return 0
    if marked:  # at or better than the mark: it passes
        mk = c.mark_e8
        if perpex_mul(px, terms.e8_per_tick, &at):
            return 0
        if (at >= mk) if q > 0 else (at <= mk):
            return 1
    cost = pos.c
    aq = -q if q < 0 else q
    if cost == 0 or not terms.value_c(q, px, &v) or perpex_sub(v, aq, &v) \
            or not as_int64(pos.extra_margin, &extra):
        return 0
    # the collateral (RiskMixin._collateral): isolated, its own margin within the wallet;
    # cross, the wallet less what the account's other positions in the currency hold
    if not (wallet_n(e._ledger, c.currency, a, pos, &w)
            or as_int64(wallet_c(e._ledger, c.currency, a, pos), &w)):
        return 0
    lev = pos.leverage
    if lev > 0:
        coll = 0  # (its margin taken off 0, then turned back)
        if not (_ratio_n(e, c, pos, True, lev, &num, &den)
                and _held_take(c, q, cost, extra, True, num, den, 0, &coll)):
            return 0
        coll = -coll
    else:
        coll = w
        positions = e._positions
        for o in c.peers:
            if o is not c and _key_take(e, o, held_pos(o, positions, a), False, &oq, &num,
                                        &den, &coll) < 0:
                return 0
    coll = min(coll, w)
    if coll < 0:
        coll = 0
    # MM% at the position's steps (exchange_risk._bitmex_steps): its authorised limit's, or
    # more when its cost has grown past it
    if not as_int64(pos.risk_limit, &rl) or rl < c.rl_base or (rl - c.rl_base) % c.rl_step:
        return 0
    s1 = (rl - c.rl_base) // c.rl_step
    s2 = (cost if cost > 0 else -cost) - c.rl_base
    s2 = 0 if s2 <= 0 else (s2 - 1) // c.rl_step + 1
    steps = s1 if s1 > s2 else s2
    if steps != c.mm_steps:
        rate = c.mm_rates.get(steps)
        if rate is None:
            rate = c.mm_rates[steps] = exact_rate(c.inst.maint_rate(steps), "maint_rate")
        if not (as_int64(rate[0], &lhs) and as_int64(rate[1], &rhs)) or lhs < 0 or rhs <= 0:
            return 0
        c.mm_steps, c.mm_num, c.mm_den = steps, lhs, rhs
    if perpex_ceil_mul_div(cost if cost > 0 else -cost, c.mm_num, c.mm_den, &mm) \
            or perpex_sub(cost, coll, &t) or perpex_add(t, mm, &t):
        return 0
    if t == 0 or (t > 0) != (cost > 0):
        return 1  # a target the position's value never reaches: no trigger, it passes
    # the paying side's funding reserve at the rate RiskMixin._funding_rate reads, from its
    # table (a method call would be the dearest step here)
    fund = getattr(e, "_funding", None)
    f = (<dict?>fund).get(c.symbol) if fund is not None else None
    fr = f.funding_rate if f is not None else 0.0
    if fr:
        if fr is not c.fund_rate:
            num, den = exact_rate(fr, "funding_rate")
            if not (as_int64(num, &c.fund_num) and as_int64(den, &c.fund_den)):
                c.fund_rate = None
                return 0
            c.fund_rate = fr
        fn, fd = c.fund_num, c.fund_den
    pn = fn if q > 0 else -fn
    if pn <= 0:
        return v >= t
    denom = fd - pn if cost > 0 else fd + pn
    if denom <= 0:
        return 1  # no trigger: the reference passes it
    if perpex_mul(v, denom, &lhs) or perpex_mul(t, fd, &rhs):
        return 0
    return lhs >= rhs


def closing_clear(EngineCore ex not None, str sym, object a, int side, object price):
    """True when an order of account ``a`` on ``side`` at ``price`` > 0 ticks in ``sym`` surely
    passes the closing rule against the account's position there (False: the reference,
    RiskMixin._liquidation_reject, decides). ``ex`` is the engine."""
    cdef int64_t p = price
    if p <= 0:
        raise ValueError(f"price={price} must be > 0")
    pos = ex._positions.get((a, sym))
    if pos is None or not (<Position>pos).q or ((<Position>pos).q > 0) == (side == _BUY_SIDE):
        return True  # it opens or adds
    return bool(_closing_clear(ex, a, ex._contract(sym), <Position>pos, side, p))


set_order_fits(_fits)  # the engine loop's place step calls it directly (perpex._core)
set_closing_clear(_closing_clear)
