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
fund's budget per level (:func:`perpex.risk.insurance._walk`), ADL (``_deleverage``). Clawback
(OKEx) works its lots through the reference."""

from libc.stdint cimport int64_t

from perpex._core cimport EngineCore
from perpex._fills cimport _book, balance_c, transfer_c, wallet_c
from perpex._records cimport OrderRecord
from perpex.accounts._levels cimport contract_value
from perpex.accounts._position cimport Position

from perpex import _native
from perpex._core import LIQUIDATION_ACCOUNT, LIQUIDATION_TEXT
from perpex._fills import book_trade
from perpex.accounts.ledger import INSURANCE, wallet
from perpex.risk.insurance import _walk

cdef int64_t _LIQ = LIQUIDATION_ACCOUNT
cdef int _BUY = _native.BUY
cdef int _GTC = _native.GTC, _IOC = _native.IOC
cdef object _FUND = INSURANCE
cdef object _ENGINE_WALLET = wallet(LIQUIDATION_ACCOUNT)
cdef str _WORKED = "Canceled: " + LIQUIDATION_TEXT


def take_over(EngineCore core, inst, Position pos, bk):
    """The whole position moves to the engine at ``bk`` (moved towards the mark as far as the
    trader's wallet needs, by ``_solvent_ticks``), and the engine rests it there as a lot."""
    cdef object ex = core  # for the mixins' attributes and methods
    sym, ccy, q = inst.symbol, inst.settle_currency, pos.qty
    ledger = core._ledger
    terms = (<object>core._cv[sym]).terms
    wal = wallet_c(ledger, ccy, pos.account, pos)
    if wal + contract_value(inst, terms, q, bk) - pos.cost < 0:
        bk = ex._solvent_ticks(inst, pos, bk, wal, terms)
    n = q if q > 0 else -q
    engine = core._positions.get((_LIQ, sym))
    if engine is None:
        engine = ex._position(_LIQ, sym)
    cost = contract_value(inst, terms, n, bk)  # inst.exec_cost
    buyer, seller = (engine, pos) if q > 0 else (pos, engine)
    if not _book(ledger, ccy, buyer, seller, n, cost, 0, 0):
        book_trade(ledger, ccy, buyer, seller, n, cost)
    (<dict>(<dict>ex._liq_stats)[ccy])["takeovers"] += 1
    cdef int side = _native.SELL if q > 0 else _BUY
    if core._emit:
        core._events.append({
            "seq": core._seq, "transactTime": core._ts, "execType": "Liquidation",
            "account": pos.account, "symbol": sym, "side": "Sell" if q > 0 else "Buy",
            "lastQty": n, "lastPx": inst.ticks_to_price(bk),
            "execCost": -cost if q > 0 else cost, "text": LIQUIDATION_TEXT})
    core._engine_add_c(inst, _LIQ, side, n, bk, _GTC)


def work_lots(EngineCore core, inst, mark_e8, bint native):
    """Works each lot of ``inst`` whose bankruptcy price the mark ``mark_e8`` has reached, in
    order id order (``_work_lots``): here, or with ``native`` False through the engine's
    ``_aggress_or_deleverage``."""
    cdef dict lots = core._lots, orders = core._orders
    cdef OrderRecord rec
    sym = inst.symbol
    e8_per_tick = inst._e8_per_tick
    for oid in sorted(lots):
        found = orders.get(oid)
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
            _work_lot(core, inst, rec, bk, mark_e8)
        else:
            (<object>core)._aggress_or_deleverage(inst, rec, bk, mark_e8)


cdef int _work_lot(EngineCore core, inst, OrderRecord rec, bk, mark_e8) except -1:
    """``_aggress_or_deleverage`` without clawback."""
    cdef object ex = core
    sym, ccy = rec.symbol, inst.settle_currency
    cdef int side = rec.side
    cdef int sign = 1 if side != _BUY else -1  # 1: the lot sells (it closes a long)
    left = rec.leaves_qty
    core._texts[rec.order_id] = _WORKED
    core._cancel_book(rec)  # (the canceled lot's finish drops its entry in _lots)
    # the fund pays for walking the book, level by level, as far as its balance covers
    budget = balance_c(core._ledger, ccy, _FUND)
    bids, asks = core._books[sym].depth(64)
    take, limit = _walk(budget, bids if sign == 1 else asks, bk, inst, sign, left,
                        (<object>core._cv[sym]).terms)
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
    terms = (<object>core._cv[rec.symbol]).terms
    s = contract_value(inst, terms, closed, px) - contract_value(inst, terms, closed, bk)
    if s:
        ccy = inst.settle_currency
        transfer_c(core._ledger, ccy, _ENGINE_WALLET, _FUND, s, "liquidation surplus")
        (<dict>(<dict>(<object>core)._liq_stats)[ccy])["surplus"] += s
