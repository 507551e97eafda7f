# cython: language_level=3
"""The journaled exchange's order commands, with their references in typed fields.

:class:`perpex.exchange_journal.JournaledExchange` forwards every attribute it lacks to the
wrapped exchange through ``__getattr__``; a class with that hook pays for it on each of its own
attribute reads too (Python's lookup goes through the hook's slot), about 0.6k instructions
each, and ``place`` read three of them per order. Here the exchange, the journal and the codec
are fields of the C base, read as struct members, and the exchange's seq and time as
:class:`perpex._core.EngineCore` fields. A plain order's payload is written by the codec's
first step (``Codec.plain``, :class:`perpex._wal.PlainPlaces`) without the codec's method
call, and appended by the journal's C step; the engine's own place is called in C.
"""

from libc.stdint cimport int64_t

from perpex._core cimport EngineCore
from perpex._front cimport place_c
from perpex._wal cimport JournalTail, PlainPlaces

from perpex._front import cancel as _front_cancel
from perpex.exchange import Exchange

# the engine's own order calls: an exchange whose class keeps them is called through their
# checks and commit directly (perpex._front), without the method lookup and wrapper frame
cdef object _PLACE = Exchange.place, _CANCEL = Exchange.cancel


cdef class JournaledCore:
    """The wrapped exchange, its journal and the payload codec; ``place`` and ``cancel``."""

    cdef public EngineCore exchange
    cdef public JournalTail _journal
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
            if type(ex).place is _PLACE:
                return place_c(ex, account, symbol, side, qty, price, ord_type, time_in_force,
                               exec_inst, display_qty, stop_px, peg_price_type,
                               peg_offset_value, cl_ord_id, ts)
            return ex.place(account, symbol, side, qty, price, ord_type, time_in_force,
                            exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value,
                            cl_ord_id, ts=ts)
        finally:
            if ex._seq != before:
                codec = self._codec
                plain = codec.plain  # (the native one called in C, any other as a callable)
                payload = (<PlainPlaces>plain).payload(
                    account, symbol, side, qty, price, ord_type, time_in_force, exec_inst,
                    display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id) \
                    if type(plain) is PlainPlaces else plain(
                        account, symbol, side, qty, price, ord_type, time_in_force, exec_inst,
                        display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id)
                if payload is None:  # (not a plain order: the codec's other steps)
                    payload = codec.place_full(
                        account, symbol, side, qty, price, ord_type, time_in_force, exec_inst,
                        display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id)
                self._journal.append_c(ex._ts, payload)

    def cancel(self, account, order_id, *, ts=None):
        """:meth:`perpex.exchange.Exchange.cancel`, journaled when it took a seq."""
        cdef EngineCore ex = self.exchange
        cdef int64_t before = ex._seq
        try:
            if type(ex).cancel is _CANCEL:
                return _front_cancel(ex, account, order_id, ts)
            return ex.cancel(account, order_id, ts=ts)
        finally:
            if ex._seq != before:
                self._journal.append_c(ex._ts, self._codec.cancel(account, order_id))
