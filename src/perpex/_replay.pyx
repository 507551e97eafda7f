# cython: language_level=3, wraparound=False
"""A recovery's replay loop over the verified journal image, in C.

Replaying a record as a :class:`perpex.journal.Record` went through a tuple and a bytes copy
per record, the codec's dispatch, its decoder's tuple of fields and a Python-level call with
nine arguments before the engine's own checks: about a third of a recovery's instructions. Here
the two commands that make up most journals, a plain order (``perpex._wal.PlainPlace``) and a
cancel, are read in place and run through the same checks and commit as the per-call replay
(``perpex._front.replay_place`` and ``cancel``). Every other record goes to the codec's dispatch
as a bytes payload, as before. The codec stays the definition of the payloads and the tests
replay the same journals both ways.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy

from perpex._core cimport Contract, EngineCore
from perpex._front cimport listed_contract, replay_cancel_at, replay_place_at
from perpex._wal cimport (
    CANCEL_SIZE, K_CANCEL, K_PLACE, NO_CODE, PlainPlace, read_plain_c, record_payload, value_at)

from perpex.errors import EngineHaltedError


def replay_image(EngineCore ex not None, const unsigned char[::1] data not None,
                 const int64_t[::1] offs not None, const int64_t[::1] lens not None,
                 const uint64_t[::1] seqs not None, const int64_t[::1] tss not None,
                 Py_ssize_t start, dict dispatch not None, bint native, list symbols not None,
                 list ord_names not None, list sides not None, list tifs not None, fail):
    """Runs records ``start`` onwards of a walked image (:func:`perpex._wal.walk_records`'
    columns over ``data``) on ``ex``. With ``native`` (the engine's own place and cancel), a
    plain order and a cancel run here; any other record runs as ``dispatch[kind](ex, payload,
    ts)``. A command that halts the engine halted the original too and the loop goes on; any
    other exception is replaced by ``fail(seq, payload, exc)``, raised. The codec's tables by
    payload code: ``symbols``, ``ord_names`` (order type names), ``sides`` and ``tifs`` (the
    engine's codes)."""
    cdef Py_ssize_t i, k = offs.shape[0], size = data.shape[0]
    cdef int64_t n, oid
    cdef uint32_t account
    cdef const unsigned char* base = &data[0] if size else NULL
    cdef const char* p
    cdef PlainPlace f
    cdef list contracts = [None] * len(symbols)  # each symbol code's, found on first use
    if lens.shape[0] != k or seqs.shape[0] != k or tss.shape[0] != k or start < 0:
        raise ValueError("replay_image takes columns of one length and a start >= 0")
    for i in range(start, k):
        n = lens[i]
        p = record_payload(base, size, i, offs[i], n)
        try:
            if native and n and p[0] == K_PLACE and read_plain_c(p, n, &f):
                # (a code beyond a table raises IndexError, as the codec's decoder does)
                c = contracts[f.symbol]
                if c is None:
                    c = contracts[f.symbol] = listed_contract(ex, symbols[f.symbol])
                replay_place_at(ex, f.account, <Contract>c, sides[f.side],
                                None if f.ord_type == NO_CODE else ord_names[f.ord_type],
                                tifs[f.tif], value_at(p, f.qty_at), value_at(p, f.price_at),
                                tss[i])
            elif native and n >= CANCEL_SIZE and p[0] == K_CANCEL:
                memcpy(&account, p + 1, 4)
                memcpy(&oid, p + 5, 8)
                replay_cancel_at(ex, account, oid, tss[i])
            else:
                payload = PyBytes_FromStringAndSize(p, n)
                dispatch[payload[0]](ex, payload, tss[i])
        except EngineHaltedError:
            pass
        except Exception as exc:
            raise fail(seqs[i], PyBytes_FromStringAndSize(p, n), exc) from exc
