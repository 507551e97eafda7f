# cython: language_level=3
"""The journaled exchange's order commands, with their references in typed fields.

:class:`perpex.exchange_journal.JournaledExchange` forwards every attribute it lacks to the
wrapped exchange through ``__getattr__``; a class with that hook pays for it on each of its own
attribute reads too (Python's lookup goes through the hook's slot), about 0.6k instructions
each, and ``place`` read three of them per order. Here the exchange, the journal and the codec
are fields of the C base, read as struct members, and the exchange's seq and time as
:class:`perpex._core.EngineCore` fields. A plain order's payload is written here too, in
the codec's first step (:func:`perpex._wal.plain_place`), without a call of the codec's
method.
"""

from libc.stdint cimport int64_t

from perpex._core cimport EngineCore

from perpex._wal import plain_place
from perpex.exchange_codec import _NO_CODE, _ORD_CODE, _SIDE_CODE, _TIF_CODE

cdef dict _SIDES = _SIDE_CODE, _ORDS = _ORD_CODE, _TIFS = _TIF_CODE
cdef object _NO_ORD = _NO_CODE


cdef class JournaledCore:
    """The wrapped exchange, its journal and the payload codec; ``place`` and ``cancel``."""

    cdef public EngineCore exchange
    cdef public object _journal
    cdef public object _codec

    def place(self, account, symbol, side, qty, price=None, ord_type=None,
              time_in_force="GoodTillCancel", exec_inst=(), display_qty=None, stop_px=None,
              peg_price_type=None, peg_offset_value=None, cl_ord_id=None, *, ts=None):
        """:meth:`perpex.exchange.Exchange.place`, journaled when it took a seq (also when
        its processing halted the engine)."""
        cdef EngineCore ex = self.exchange
        cdef int64_t before = ex._seq
        if not isinstance(exec_inst, (str, tuple)):
            exec_inst = tuple(exec_inst)   # an iterator must be read once, for both uses
        try:
            return ex.place(account, symbol, side, qty, price, ord_type, time_in_force,
                            exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value,
                            cl_ord_id, ts=ts)
        finally:
            if ex._seq != before:
                payload = None
                if exec_inst == () and display_qty is None and stop_px is None \
                        and peg_price_type is None and peg_offset_value is None \
                        and cl_ord_id is None:
                    payload = self._plain(account, symbol, side, qty, price, ord_type,
                                          time_in_force)
                if payload is None:
                    payload = self._codec.place(
                        account, symbol, side, qty, price, ord_type, time_in_force, exec_inst,
                        display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id)
                self._journal.append_next(ex._ts, payload)

    cdef object _plain(self, account, symbol, side, qty, price, ord_type, time_in_force):
        # Codec.place's payload of a plain order (its first step, the same bytes), without
        # the method call; None when a code is not found here, for Codec.place to decide
        codes = self._codec.code
        if type(codes) is not dict:
            return None
        sym = (<dict>codes).get(symbol) if type(symbol) is str else None
        sd = _SIDES.get(side) if type(side) is str else None
        ot = _NO_ORD if ord_type is None else (
            _ORDS.get(ord_type) if type(ord_type) is str else None)
        tif = _TIFS.get(time_in_force) if type(time_in_force) is str else None
        if sym is None or sd is None or ot is None or tif is None:
            return None
        return plain_place(account, sym, sd, ot, tif, qty, price)

    def cancel(self, account, order_id, *, ts=None):
        """:meth:`perpex.exchange.Exchange.cancel`, journaled when it took a seq."""
        cdef EngineCore ex = self.exchange
        cdef int64_t before = ex._seq
        try:
            return ex.cancel(account, order_id, ts=ts)
        finally:
            if ex._seq != before:
                self._journal.append_next(ex._ts, self._codec.cancel(account, order_id))
