# cython: language_level=3
"""The liquidation engine's steps on its lots, in C: a takeover (the position's fill to the
engine and the lot it rests), the working of the lots the mark has crossed (cancel, walk the
book as far as the insurance fund pays, send the ImmediateOrCancel, deleverage or re-rest the
rest) and each lot fill's surplus to the fund. A cascade runs them once per liquidated
position; here they read the engine's tables, the book and the ledger in C instead of through
method calls.

The Python methods they stand in for (``_takeover``, ``_aggress_or_deleverage``, ``_lot_fill``
of perpex.exchange_risk and perpex.exchange_deleverage) stay the reference: an engine with
``_native_lots = False`` runs them (which lots are due is one loop, here, for both), and the
tests compare the two over cascades, events and state hash alike. What is policy stays there
and is called from here: the takeover price's walk towards the mark (``_solvent_ticks``), the
fund's budget per level (:func:`perpex.risk._fund.walk`, over the book's levels in place), ADL
(``_deleverage``). Clawback (OKEx) works its lots through the reference.

Before them, :func:`liquidate` runs a contract step's liquidations and settles the cascade's
common case itself: a BitMEX position at the base risk limit with no open orders in the
contract has no partial step, so it is either safe or taken over whole at its bankruptcy
price, with no assessment built. Its reference is the assessment every other position gets
(``_liquidate_assessed``, :func:`perpex.risk.liquidation.assess`); an engine with
``_direct_liquidation = False`` assesses every position, and the tests compare the two."""

from libc.stdint cimport INT64_MIN, int64_t

from perpex._checked cimport as_int64, perpex_mul
from perpex._core cimport Contract, EngineCore, book_levels
from perpex._events cimport _price
from perpex._idtable cimport OrderTable, table_find
from perpex._fills cimport _book, balance_c, book_reference, transfer_c, wallet_c
from perpex._pretrade cimport _lev_ratio
from perpex._records cimport OrderRecord
from perpex.accounts._levels cimport contract_value
from perpex.accounts._position cimport Position, pos_cost, pos_open, pos_qty
from perpex.risk._fund cimport surplus, walk

from perpex import _native
from perpex._core import LIQUIDATION_ACCOUNT, LIQUIDATION_TEXT
from perpex.accounts.ledger import INSURANCE, wallet
from perpex.risk.liquidation import _BITMEX, placeable_ticks
from perpex.risk.prices import _V3, bankruptcy_ticks

cdef int64_t _LIQ = LIQUIDATION_ACCOUNT
cdef int _BUY = _native.BUY, _SELL = _native.SELL
cdef int _GTC = _native.GTC, _IOC = _native.IOC
cdef object _FUND = INSURANCE
cdef object _ENGINE_WALLET = wallet(LIQUIDATION_ACCOUNT)
cdef str _WORKED = "Canceled: " + LIQUIDATION_TEXT


def liquidate(EngineCore core, inst, list accounts, mark_e8):
    """Liquidates the positions of ``accounts`` in ``inst`` at the mark ``mark_e8``, in the
    order given (a contract step's, most endangered first): each that the direct step settles
    here, every other through the engine's ``_liquidate_assessed``."""
    cdef object ex = core
    cdef dict positions = core._positions, live = core._live
    cdef Position pos
    sym = inst.symbol
    cdef Contract c = core._contract(sym)
    cfg = ex._risk_cfg
    cdef bint direct = ex._direct_liquidation and cfg.mode is _BITMEX and cfg.variant is not _V3
    cdef bint native = False
    cdef dict inputs = None, index = None
    rate = None
    if direct:
        # none of these changes within a contract step
        inputs, index, rate, native = ex._liq_inputs, ex._liq_key, ex._funding_rate(sym), ex._native_lots
    for a in accounts:
        found = positions.get((a, sym))
        if found is None:
            continue
        pos = <Position>found
        if not pos_open(pos):
            continue
        if direct and pos.key not in live and _direct(core, c, pos, mark_e8, rate, inputs,
                                                      index, native):
            continue
        ex._liquidate_assessed(inst, pos, mark_e8)


cdef bint _direct(EngineCore core, Contract c, Position pos, mark_e8, rate, dict inputs,
                  dict index, bint native) except -1:
    """The direct step of ``pos`` (BitMEX mode, no open orders in the contract ``c``): True
    when it is done (the position is safe, or taken over), False when it is to be assessed."""
    inst = c.inst
    qty, cost = pos_qty(pos), pos_cost(pos)
    if not cost or (cost > 0) != ((qty > 0) != c.inverse):
        return False  # assess raises on such a position; let it
    base = inst.risk_limit
    if pos.risk_limit != base or abs(cost) > base:
        return False  # risk-limit steps above the base (or a limit off the grid: assess says so)
    cdef object ex = core
    key, lev = pos.key, pos.leverage
    collateral = _collateral(core, inst, pos)
    # the index entry's trigger while the inputs it came from hold (as _cached_ticks reuses
    # it), else afresh
    seen = inputs.get(key)
    if seen is not None and (<tuple>seen)[0] == (qty, cost, pos.risk_limit, lev, collateral, rate) \
            and index.get(key) == (<tuple>seen)[1]:
        entry = (<tuple>seen)[1]
        liq = None if entry is None else (<tuple>entry)[1]
    else:
        liq = ex._trigger_ticks(inst, pos, collateral)
    if liq is not None:
        liq_e8 = liq * inst._e8_per_tick  # inst.ticks_to_e8
        if (mark_e8 <= liq_e8) if qty > 0 else (mark_e8 >= liq_e8):
            # at the lowest limit there is no partial step: the whole position, at bankruptcy
            bk = placeable_ticks(inst, qty, _bankruptcy_ticks(inst, c.inverse, qty, cost,
                                                             collateral))
            if native:
                _take_over(core, c, pos, bk)
            else:
                ex._takeover(inst, pos, bk)
            core._touch_c(pos.account, c, pos)
            return True
    core._risk_dirty[key] = None  # safe: the next flush indexes it again
    return True


def collateral(EngineCore core, inst, Position pos):
    """What the direct step takes for RiskMixin._collateral of the open position ``pos`` (for
    the tests, which compare the two)."""
    return _collateral(core, inst, pos)


cdef object _collateral(EngineCore core, inst, Position pos):
    """RiskMixin._collateral of an open position: an isolated one's own margin (|cost| x IM%,
    rounded up, plus the margin added), as far as its wallet holds it, here; a cross one's
    through the method."""
    lev = pos.leverage
    if not lev > 0:
        return (<object>core)._collateral(inst, pos)
    num, den = _lev_ratio(lev)
    own = -((-abs(pos_cost(pos)) * num) // den) + pos.extra_margin
    return max(0, min(own, wallet_c(core._ledger, inst.settle_currency, pos.account, pos)))


def bankruptcy(inst, qty, cost, collateral):
    """What the direct step takes for :func:`perpex.risk.prices.bankruptcy_ticks` (for the
    tests, which compare the two)."""
    return _bankruptcy_ticks(inst, inst.is_inverse, qty, cost, collateral)


cdef object _bankruptcy_ticks(inst, bint inverse, qty, cost, collateral):
    """perpex.risk.prices.bankruptcy_ticks (the variants but V3) in int64: the price at which
    the position's value equals ``cost - collateral``, in ticks rounded towards the entry side
    (None: unreachable); through that function when a product leaves int64."""
    cdef int64_t q, t, m, tick_num, tick_den, num, den, a, b
    if not (as_int64(qty, &q) and as_int64(cost - collateral, &t) and as_int64(inst.multiplier, &m)
            and as_int64(inst._tick_num, &tick_num) and as_int64(inst._tick_den, &tick_den)):
        return bankruptcy_ticks(inst, qty, cost, collateral)
    if inverse:  # price = m x qty / t
        if t == 0:
            return None
        if perpex_mul(m, q, &num):
            return bankruptcy_ticks(inst, qty, cost, collateral)
        den = t
    else:  # price = t / (m x qty)
        num = t
        if perpex_mul(m, q, &den):
            return bankruptcy_ticks(inst, qty, cost, collateral)
    if num == INT64_MIN or den == INT64_MIN:
        return bankruptcy_ticks(inst, qty, cost, collateral)
    if den < 0:
        num, den = -num, -den
    if num <= 0:
        return None
    if perpex_mul(num, tick_den, &a) or perpex_mul(den, tick_num, &b):
        return bankruptcy_ticks(inst, qty, cost, collateral)
    if q > 0:  # rounded up, towards a long's entry
        return a // b + (1 if a % b else 0)
    a //= b  # down, towards a short's
    return a if a > 0 else None


def take_over(EngineCore core, inst, Position pos, bk):
    """The whole position moves to the engine at ``bk`` (moved towards the mark as far as the
    trader's wallet needs, by ``_solvent_ticks``), and the engine rests it there as a lot."""
    _take_over(core, core._contract(inst.symbol), pos, bk)


cdef int _take_over(EngineCore core, Contract c, Position pos, bk) except -1:
    cdef object ex = core  # for the mixins' attributes and methods
    inst, sym, ccy, q = c.inst, c.symbol, c.currency, pos_qty(pos)
    ledger = core._ledger
    terms = c.terms
    wal = wallet_c(ledger, ccy, pos.account, pos)
    if wal + contract_value(inst, terms, q, bk) - pos_cost(pos) < 0:
        bk = ex._solvent_ticks(inst, pos, bk, wal, terms)
    n = q if q > 0 else -q
    engine = core._positions.get((_LIQ, sym))
    if engine is None:
        engine = ex._position(_LIQ, sym)
    cost = contract_value(inst, terms, n, bk)  # inst.exec_cost
    buyer, seller = (engine, pos) if q > 0 else (pos, engine)
    if not _book(ledger, ccy, buyer, seller, n, cost, 0, 0):
        book_reference(ledger, ccy, buyer, seller, n, cost, 0, 0)
    (<dict>(<dict>ex._liq_stats)[ccy])["takeovers"] += 1
    cdef int side = _SELL if q > 0 else _BUY
    if core._emit:
        core._events.append({
            "seq": core._seq, "transactTime": core._ts, "execType": "Liquidation",
            "account": pos.account, "symbol": sym, "side": "Sell" if q > 0 else "Buy",
            "lastQty": n, "lastPx": _price(inst, c.prices, bk),
            "execCost": -cost if q > 0 else cost, "text": LIQUIDATION_TEXT})
    core._engine_add_c(inst, _LIQ, side, n, bk, _GTC)
    return 0


def work_lots(EngineCore core, inst, mark_e8, bint native):
    """Works each lot of ``inst`` whose bankruptcy price the mark ``mark_e8`` has reached, in
    order id order (``_work_lots``): here, or with ``native`` False through the engine's
    ``_aggress_or_deleverage``."""
    cdef dict lots = core._lots
    cdef OrderTable orders = core._orders
    cdef OrderRecord rec
    sym = inst.symbol
    cdef Contract c = core._contract(sym)
    e8_per_tick = inst._e8_per_tick
    for oid in sorted(lots):
        found = table_find(orders, oid)
        if found is None:
            continue
        rec = <OrderRecord>found
        if rec.symbol != sym:
            continue
        bk = lots[oid]
        bk_e8 = bk * e8_per_tick  # inst.ticks_to_e8
        if (mark_e8 > bk_e8) if rec.side != _BUY else (mark_e8 < bk_e8):
            continue
        if native:
            _work_lot(core, c, rec, bk, mark_e8)
        else:
            (<object>core)._aggress_or_deleverage(inst, rec, bk, mark_e8)


cdef int _work_lot(EngineCore core, Contract c, OrderRecord rec, bk, mark_e8) except -1:
    """``_aggress_or_deleverage`` without clawback (``rec``: a lot of the contract ``c``)."""
    cdef object ex = core
    inst, ccy = c.inst, c.currency
    cdef int side = rec.side
    cdef int sign = 1 if side != _BUY else -1  # 1: the lot sells (it closes a long)
    left = rec.leaves_qty
    core._texts[rec.order_id] = _WORKED
    core._cancel_book(rec)  # (the canceled lot's finish drops its entry in _lots)
    # the fund pays for walking the book, level by level, as far as its balance covers
    budget = balance_c(core._ledger, ccy, _FUND)
    take, limit = walk(budget, book_levels(c.book, _BUY if sign == 1 else _SELL), bk, inst, sign,
                       left, c.terms)
    cdef OrderRecord ioc
    if take:
        # an ImmediateOrCancel that books its fills' surpluses against bk, like a lot (its
        # entry goes with its finish, in this command)
        core._lots[core._next_id] = bk
        ioc = core._engine_add_c(inst, _LIQ, side, take, limit, _IOC)
        left -= ioc.cum_qty
    if left:
        left = ex._deleverage(inst, "Sell" if sign == 1 else "Buy", left, bk, mark_e8)
    if left:
        core._engine_add_c(inst, _LIQ, side, left, bk, _GTC)
    return 0


def lot_fill(EngineCore core, inst, OrderRecord rec, px, q):
    """Books the surplus of a fill of ``q`` at ``px`` of the engine's order ``rec`` against its
    lot's bankruptcy price (nothing for an order that is not a lot)."""
    bk = core._lots.get(rec.order_id)
    if bk is None:
        return
    closed = q if rec.side != _BUY else -q  # signed as the position it closes
    cdef Contract c = core._contract(rec.symbol)
    s = surplus(inst, closed, px, bk, c.terms)
    if s:
        ccy = c.currency
        transfer_c(core._ledger, ccy, _ENGINE_WALLET, _FUND, s, "liquidation surplus")
        (<dict>(<dict>(<object>core)._liq_stats)[ccy])["surplus"] += s
