# cython: language_level=3, boundscheck=False, wraparound=False
"""The journal's per-command work in C: a record's framing and checksum, the appending of it
(:class:`JournalTail`, the in-memory state of :class:`perpex.journal.Journal`), and the payload
of the common order.

Every journaled command pays for both, so on the per-call path they were a fifth of an
order's time (two CRC calls through google-crc32c's wrapper, four bytearray appends, struct
packing of the tagged values). The formats are those of :mod:`perpex.journal` (record) and
:mod:`perpex.exchange_codec` (payload); those modules stay their definition and tests compare
the bytes written here with theirs."""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytearray cimport PyByteArray_FromStringAndSize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from perpex._tuples cimport PyType_GenericAlloc, tuple_put


cdef extern from "crc32c.hpp" namespace "perpex" nogil:
    uint32_t crc32c_c "perpex::crc32c"(const void* data, size_t n, uint32_t crc)
    uint32_t crc32c_portable_c "perpex::crc32c_portable"(const void* data, size_t n,
                                                          uint32_t crc)

# (the record framing's and the payloads' constants are in _wal.pxd)
cdef const char* MAGIC = b"PXJR"


def crc32c(const unsigned char[::1] data, uint32_t crc=0):
    """CRC-32C of ``data`` continued from ``crc`` (hardware instruction where present)."""
    return crc32c_c(&data[0] if data.shape[0] else NULL, data.shape[0], crc)


def crc32c_portable(const unsigned char[::1] data, uint32_t crc=0):
    """:func:`crc32c` by the byte-wise table only (the path of CPUs without the instruction)."""
    return crc32c_portable_c(&data[0] if data.shape[0] else NULL, data.shape[0], crc)


def append_record(bytearray buf not None, uint64_t seq, int64_t ts, bytes payload not None):
    """Appends one framed record of ``payload`` to ``buf``; returns the new length of ``buf``.
    The caller checks ``seq`` against the journal (this only frames it)."""
    return _append_record(buf, seq, ts, payload)


cdef Py_ssize_t _append_record(bytearray buf, uint64_t seq, int64_t ts,
                               bytes payload) except -1:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(payload)
    if <uint64_t>n > 0xFFFFFFFFULL:
        raise ValueError(f"payload length {n} exceeds {0xFFFFFFFF}")
    cdef Py_ssize_t at = PyByteArray_GET_SIZE(buf)
    PyByteArray_Resize(buf, at + HEADER + n)
    cdef char* p = PyByteArray_AS_STRING(buf) + at
    cdef uint32_t length = <uint32_t>n
    memcpy(p, MAGIC, 4)
    memcpy(p + 4, &length, 4)
    memcpy(p + 8, &seq, 8)
    memcpy(p + 16, &ts, 8)
    cdef uint32_t crc = crc32c_c(p + 4, 20, 0)
    crc = crc32c_c(PyBytes_AS_STRING(payload), n, crc)
    memcpy(p + 24, &crc, 4)  # the formats are little-endian, as every platform built on
    memcpy(p + HEADER, PyBytes_AS_STRING(payload), n)
    return at + HEADER + n


cdef Py_ssize_t _chain_count(const unsigned char* p, Py_ssize_t size) noexcept nogil:
    """How many records chain from offset 0: a record is a magic whose header and payload fit
    in ``size``; its length names the next."""
    cdef Py_ssize_t o = 0, k = 0
    cdef uint32_t n
    while o + HEADER <= size and memcmp(p + o, MAGIC, 4) == 0:
        memcpy(&n, p + o + 4, 4)
        if <uint64_t>n > <uint64_t>(size - o - HEADER):
            break
        o += HEADER + n
        k += 1
    return k


def walk_records(const unsigned char[::1] data):
    """The records chained from offset 0 of a journal image, checked as they are read.

    Returns ``(offs, lens, seqs, tss, stop, failed)``: the first four are bytearrays of the
    records' little-endian int64 offsets, int64 payload lengths, uint64 seqs and int64
    timestamps; ``stop`` is where the chain stops (the image's length when its last record ends
    there, else the start of the first thing that is not a whole record); ``failed`` is the
    index of the first record whose checksum does not match, or -1. The walk ends at that
    record: it is the last one listed, and ``stop`` is its offset."""
    cdef Py_ssize_t size = data.shape[0], k = 0, i = 0, o = 0, failed = -1
    cdef const unsigned char* p = &data[0] if size else NULL
    cdef uint32_t n, crc, want
    cdef int64_t off, length
    if size:
        with nogil:
            k = _chain_count(p, size)
    offs = PyByteArray_FromStringAndSize(NULL, k * 8)
    lens = PyByteArray_FromStringAndSize(NULL, k * 8)
    seqs = PyByteArray_FromStringAndSize(NULL, k * 8)
    tss = PyByteArray_FromStringAndSize(NULL, k * 8)
    cdef char* po = PyByteArray_AS_STRING(offs)
    cdef char* pl = PyByteArray_AS_STRING(lens)
    cdef char* ps = PyByteArray_AS_STRING(seqs)
    cdef char* pt = PyByteArray_AS_STRING(tss)
    with nogil:
        while i < k:
            memcpy(&n, p + o + 4, 4)
            off, length = o, n
            memcpy(po + 8 * i, &off, 8)
            memcpy(pl + 8 * i, &length, 8)
            memcpy(ps + 8 * i, p + o + 8, 8)
            memcpy(pt + 8 * i, p + o + 16, 8)
            crc = crc32c_c(p + o + HEADER, n, crc32c_c(p + o + 4, 20, 0))
            memcpy(&want, p + o + 24, 4)
            i += 1
            if crc != want:
                failed = i - 1
                break
            o += HEADER + n
    if failed != -1:
        k = i
        del offs[8 * k:], lens[8 * k:], seqs[8 * k:], tss[8 * k:]
    return offs, lens, seqs, tss, o, failed


def build_records(type record not None, const unsigned char[::1] data,
                  const int64_t[::1] offs, const int64_t[::1] lens, const uint64_t[::1] seqs,
                  const int64_t[::1] tss):
    """``[record(seq, ts, payload, offset), ...]``, one per record of a walked image
    (:func:`walk_records`' columns, perhaps from a later record on): each payload copied out
    of ``data`` and each ``record`` (a 4-item tuple subclass: perpex.journal.Record) filled in
    place. Building them through ``tuple.__new__`` cost about a thousand instructions a record
    of a recovery."""
    cdef Py_ssize_t i, k = offs.shape[0], size = data.shape[0]
    cdef int64_t a, n
    if not issubclass(record, tuple) or lens.shape[0] != k or seqs.shape[0] != k \
            or tss.shape[0] != k:
        raise ValueError("build_records takes a tuple type and columns of one length")
    cdef list out = [None] * k
    cdef const unsigned char* p = &data[0] if size else NULL
    for i in range(k):
        a, n = offs[i], lens[i]
        t = PyType_GenericAlloc(record, 4)
        tuple_put(t, 0, seqs[i])
        tuple_put(t, 1, tss[i])
        tuple_put(t, 2, PyBytes_FromStringAndSize(record_payload(p, size, i, a, n), n))
        tuple_put(t, 3, a)
        out[i] = t
    return out


# buffered records are handed to the OS once they reach this size (fsync "batch" and "never")
BATCH_FLUSH_BYTES = 1 << 20
cdef Py_ssize_t _FLUSH_AT = BATCH_FLUSH_BYTES


cdef class JournalTail:
    """What every append to a journal touches: the records appended but not yet handed to the
    OS (``_buf``), the seqs (last appended, last handed over, last handed to an fsync, last
    fsync-ed), the fsync mode and the error of a failed fsync. :class:`perpex.journal.Journal`
    adds the file and the I/O (``flush``, ``sync``, ``commit``, called from here); its checked
    ``append`` and the exchange's per-command :meth:`append_next` both end in this C step.
    ``group_commit`` is how many records :meth:`append_next` lets wait for a commit in "batch"
    mode (1 until the journal's user sets it)."""

    # (attributes in _wal.pxd)

    def __cinit__(self):
        self.group_commit = 1

    def _append(self, uint64_t seq, int64_t ts, bytes payload not None):
        """``Journal.append`` once its arguments are checked (``seq`` is ``last_seq + 1``)."""
        self._put(seq, ts, payload)

    cdef int _put(self, uint64_t seq, int64_t ts, bytes payload) except -1:
        cdef Py_ssize_t size = _append_record(self._buf, seq, ts, payload)
        self._last_seq = seq
        if self.mode == "always":
            self.sync()
        elif size >= _FLUSH_AT:
            self.flush()
        return 0

    def append_next(self, int64_t ts, bytes payload not None):
        """Appends ``payload`` as the next seq's record at ``ts``, and in "batch" mode starts a
        group commit once ``group_commit`` records wait for one (an exchange's journaling of
        each command it sequenced)."""
        self.append_c(ts, payload)

    cdef int append_c(self, int64_t ts, bytes payload) except -1:
        if self._failed is not None:
            raise self._failed
        if self._last_seq == 0xFFFFFFFFFFFFFFFFULL:
            raise ValueError("the journal's seqs are exhausted (2**64 - 1 reached)")
        cdef uint64_t seq = self._last_seq + 1
        self._put(seq, ts, payload)
        if self.mode == "batch" and seq - self._committed_seq >= <uint64_t>self.group_commit:
            self.commit()
        return 0


cdef int _put_value(char* p, object v) except -1:
    """Writes ``v`` at ``p`` as a tagged value when it is None, an int within int64 or a float
    (its exact type); returns its length, or 0 when the general encoder must take it."""
    cdef int64_t i
    cdef double f
    if v is None:
        p[0] = TAG_NONE
        return 1
    if type(v) is int:
        try:
            i = v
        except OverflowError:
            return 0
        p[0] = TAG_INT
        memcpy(p + 1, &i, 8)
        return 9
    if type(v) is float:
        f = v
        p[0] = TAG_FLOAT
        memcpy(p + 1, &f, 8)
        return 9
    return 0


def plain_place(uint32_t account, unsigned char symbol, unsigned char side,
                unsigned char ord_type, unsigned char tif, qty, price):
    """The place payload of an order with no exec_inst and no optional field, when ``qty``
    and ``price`` are each None, an int within int64 or a float; None otherwise (the general
    encoder, :meth:`perpex.exchange_codec.Codec.place`, then writes it)."""
    return _plain_place(account, symbol, side, ord_type, tif, qty, price)


cdef class _Names:
    """A name table (str to a code below 256) read by identity first: its first keys, as the
    table holds them, are compared with the name by address (a name written in the caller's
    code is the same interned object), and the table is looked up only for another object."""

    # (attributes in _wal.pxd)

    def __cinit__(self, dict table not None):
        self.table, self.n = table, 0
        cdef list keys = []
        for k, v in table.items():
            if self.n == NAMES_SCANNED:
                break
            if type(k) is str and type(v) is int and 0 <= v < 256:
                keys.append(k)
                self.codes[self.n] = v
                self.n += 1
        self.keys = tuple(keys)

    cdef int code(self, object name) except -2:
        """The code of ``name`` (a str), -1 when the table has none below 256."""
        cdef Py_ssize_t i
        for i in range(self.n):
            if self.keys[i] is name:
                return self.codes[i]
        found = self.table.get(name)
        return found if type(found) is int and 0 <= found < 256 else -1


cdef class PlainPlaces:
    """A codec's first step for a place command, from its arguments as ``place`` takes them:
    the payload of :func:`plain_place` when the order is plain (no exec_inst, no optional
    field) and its symbol, side, order type and time in force are in the codec's tables
    (names to codes; ``no_code`` for an order type of None); None otherwise, for the general
    encoder. The codec writes its place payloads through it, and so does the journaled
    exchange's order call (perpex._journaled), without the codec's method call."""

    # (attributes in _wal.pxd)

    def __init__(self, dict symbols not None, dict sides not None, dict ord_types not None,
                 dict tifs not None, no_code):
        self._symbols, self._sides = _Names(symbols), _Names(sides)
        self._ord_types, self._tifs = _Names(ord_types), _Names(tifs)
        self._no_code = no_code

    def __call__(self, account, symbol, side, qty, price, ord_type, time_in_force, exec_inst,
                 display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id):
        return self.payload(account, symbol, side, qty, price, ord_type, time_in_force,
                            exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value,
                            cl_ord_id)

    cdef object payload(self, account, symbol, side, qty, price, ord_type, time_in_force,
                        exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value,
                        cl_ord_id):
        cdef int sym, sd, ot, tif
        if not ((exec_inst is () or exec_inst == ()) and display_qty is None
                and stop_px is None and peg_price_type is None and peg_offset_value is None
                and cl_ord_id is None):
            return None
        if type(symbol) is not str or type(side) is not str or type(time_in_force) is not str \
                or not (ord_type is None or type(ord_type) is str):
            return None
        sym, sd = self._symbols.code(symbol), self._sides.code(side)
        ot = self._no_code if ord_type is None else self._ord_types.code(ord_type)
        tif = self._tifs.code(time_in_force)
        if sym < 0 or sd < 0 or ot < 0 or tif < 0:
            return None
        return _plain_place(account, sym, sd, ot, tif, qty, price)


cdef object _plain_place(uint32_t account, unsigned char symbol, unsigned char side,
                         unsigned char ord_type, unsigned char tif, qty, price):
    cdef char buf[PLACE_HEAD + 20]
    cdef int k, n = PLACE_HEAD
    buf[0] = K_PLACE
    memcpy(buf + 1, &account, 4)
    buf[5], buf[6], buf[7], buf[8] = symbol, side, ord_type, tif
    k = _put_value(buf + n, qty)
    if not k:
        return None
    n += k
    k = _put_value(buf + n, price)
    if not k:
        return None
    n += k
    buf[n] = TAG_NONE   # exec_inst: the empty tuple
    buf[n + 1] = 0      # no optional fields follow
    return PyBytes_FromStringAndSize(buf, n + 2)


cdef Py_ssize_t _value_end(const char* p, Py_ssize_t n, Py_ssize_t at) noexcept:
    """Where the tagged value at ``at`` ends when it is None, an int or a float that ends
    within ``n``; -1 otherwise."""
    if at >= n:
        return -1
    if p[at] == TAG_NONE:
        return at + 1
    if (p[at] == TAG_INT or p[at] == TAG_FLOAT) and at + 9 <= n:
        return at + 9
    return -1


cdef object value_at(const char* p, Py_ssize_t at):
    cdef int64_t i
    cdef double f
    if p[at] == TAG_NONE:
        return None
    if p[at] == TAG_INT:
        memcpy(&i, p + at + 1, 8)
        return i
    memcpy(&f, p + at + 1, 8)
    return f


cdef bint read_plain_c(const char* p, Py_ssize_t n, PlainPlace* out) noexcept:
    cdef Py_ssize_t at
    if n < PLACE_HEAD + 4 or p[0] != K_PLACE:
        return False
    at = _value_end(p, n, PLACE_HEAD)
    if at < 0:
        return False
    out.price_at = at
    at = _value_end(p, n, at)
    if at < 0 or at + 2 != n or p[at] != TAG_NONE or p[at + 1] != 0:
        return False
    memcpy(&out.account, p + 1, 4)
    out.symbol, out.side = <unsigned char>p[5], <unsigned char>p[6]
    out.ord_type, out.tif = <unsigned char>p[7], <unsigned char>p[8]
    out.qty_at = PLACE_HEAD
    return True


def read_plain_place(bytes payload not None):
    """The fields of a place payload as :func:`plain_place` writes it: ``(account, symbol,
    side, ord_type, tif, qty, price)``; None for any other payload (the general decoder,
    :meth:`perpex.exchange_codec.Codec.apply`, then reads it)."""
    cdef const char* p = PyBytes_AS_STRING(payload)
    cdef PlainPlace f
    if not read_plain_c(p, PyBytes_GET_SIZE(payload), &f):
        return None
    return (f.account, f.symbol, f.side, f.ord_type, f.tif, value_at(p, f.qty_at),
            value_at(p, f.price_at))
