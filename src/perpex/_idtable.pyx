# cython: language_level=3, boundscheck=False, wraparound=False
"""The engine's live-order table: order id to OrderRecord, on the book's open-addressing map.

Every order the engine places goes in once, every fill and cancel event looks its records up,
and every finished order comes out. In a dict each of those boxes the event's id as a Python
int, hashes it and compares it by value with the key object stored, and the dict's tombstones
lengthen its probes between resizes. Here the engine's steps pass the id as an int64 and the
map (csrc/core/open_map.hpp: linear probing, backward-shift deletion, no tombstones) finds the
record in a probe or two.

From Python it reads as a dict of the live orders: ``get``, ``[]``, ``in``, ``len``, iteration,
``keys`` / ``values`` / ``items`` and ``pop``; ``[] =`` and ``del`` for the engine's own repairs
and the tests. Iteration is in ascending order id, which is the order the engine enters them
(ids are issued in sequence and never reused), so everything that walks the table sees the
orders as a dict kept in insertion order showed them. The lists it returns are copies: the
table may change while a caller walks one. Keys are order ids, ints in [0, 2**63); any other
key is simply absent.

A key's live orders (``Exchange._live[(account, symbol)]``) are a :class:`LiveOrders`: their
records in the order they went live. As a dict of ids, each order going live and leaving cost a
hashed insert and delete, and the key's dict was built and freed each time its orders ran out.
Here each record remembers its slot, so going live appends and leaving clears the slot; the
gaps are closed up when the slots run out (amortised O(1), the order kept). From Python it
reads as the ids in that order: ``len``, iteration (over a copy) and ``in``; ``append``
adds a record for repairs and the tests."""

cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF, PyObject
from libc.stdint cimport int64_t, uint64_t
from libcpp.algorithm cimport sort
from libcpp.vector cimport vector


cdef object _MISSING = object()


@cython.final
@cython.no_gc  # (it holds order records, which hold nothing that leads back to it)
cdef class OrderTable:
    """The live orders by id (see the module docstring)."""

    def __cinit__(self):
        self._map = new OpenMap[PyObject*](1024)

    def __dealloc__(self):
        cdef vector[uint64_t] keys
        cdef PyObject** v
        cdef uint64_t k
        if self._map == NULL:
            return
        self._map.keys_into(keys)
        for k in keys:
            v = self._map.find(k)
            Py_DECREF(<object>v[0])
        del self._map
        self._map = NULL

    # ------------------------------------------------------------ the engine's steps
    cdef PyObject* find_c(self, int64_t oid) noexcept:
        """The record of ``oid`` (borrowed), NULL when none."""
        cdef PyObject** v
        if oid < 0:
            return NULL
        v = self._map.find(<uint64_t>oid)
        return <PyObject*>NULL if v == NULL else v[0]

    cdef int put_c(self, int64_t oid, object rec) except -1:
        """Enters ``rec`` as the record of ``oid`` >= 0 (replacing one there)."""
        cdef PyObject** v
        cdef PyObject* old
        if oid < 0:
            raise KeyError(oid)
        v = self._map.entry(<uint64_t>oid)  # (NULL in a new entry)
        old = v[0]
        Py_INCREF(rec)
        v[0] = <PyObject*>rec
        Py_XDECREF(old)  # (after the table holds ``rec``: its release may run any code)
        return 0

    cdef int erase_c(self, int64_t oid) except -1:
        """Takes the record of ``oid`` out (KeyError when there is none)."""
        cdef PyObject* rec = NULL
        if oid < 0 or not self._map.erase(<uint64_t>oid, &rec):
            raise KeyError(oid)
        Py_DECREF(<object>rec)
        return 0

    cdef list _sorted_keys(self):
        cdef vector[uint64_t] keys
        self._map.keys_into(keys)
        sort(keys.begin(), keys.end())
        return [k for k in keys]

    # ------------------------------------------------------------ as a dict
    def __len__(self):
        return self._map.size()

    def __contains__(self, k):
        return table_find(self, k) is not None

    def __getitem__(self, k):
        rec = table_find(self, k)
        if rec is None:
            raise KeyError(k)
        return rec

    def get(self, k, default=None):
        rec = table_find(self, k)
        return default if rec is None else rec

    def __setitem__(self, k, rec):
        cdef int64_t oid
        if not order_id_of(k, &oid):
            raise TypeError(f"an order id is an int in [0, 2**63), not {k!r}")
        self.put_c(oid, rec)

    def __delitem__(self, k):
        cdef int64_t oid
        if not order_id_of(k, &oid):
            raise KeyError(k)
        self.erase_c(oid)

    def pop(self, k, default=_MISSING):
        rec = table_find(self, k)
        if rec is None:
            if default is _MISSING:
                raise KeyError(k)
            return default
        self.erase_c(k)  # (an order id: the table found it)
        return rec

    def clear(self):
        for k in self._sorted_keys():
            self.erase_c(k)

    def keys(self):
        """The order ids, ascending (a list)."""
        return self._sorted_keys()

    def values(self):
        """The records in ascending order id (a list)."""
        return [<object>self.find_c(k) for k in self._sorted_keys()]

    def items(self):
        """(order id, record) pairs in ascending order id (a list)."""
        return [(k, <object>self.find_c(k)) for k in self._sorted_keys()]

    def __iter__(self):
        return iter(self._sorted_keys())

    def __repr__(self):
        return f"OrderTable({dict(self.items())!r})"

    def __reduce__(self):
        return _restore_table, (self.items(),)


def _restore_table(items):
    """An OrderTable of (order id, record) ``items`` (OrderTable.__reduce__)."""
    cdef OrderTable t = OrderTable()
    for k, rec in items:
        t[k] = rec
    return t


@cython.final
@cython.no_gc  # (as OrderTable: its records hold nothing that leads back to it)
cdef class LiveOrders:
    """One (account, symbol) key's live orders, in the order they went live (see the module
    docstring). The engine's steps add and remove records; Python reads their ids."""

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self._slots == NULL:
            return
        for i in range(self._end):
            Py_XDECREF(self._slots[i])
        PyMem_Free(self._slots)
        self._slots = NULL

    cdef int add(self, OrderRecord rec) except -1:
        """Appends ``rec`` (not live in any key)."""
        cdef Py_ssize_t i, j = 0, cap
        cdef PyObject** grown
        cdef PyObject* r
        if self._end == self._cap:
            if self._end and self.count <= self._end // 2:  # half gaps: close them up
                for i in range(self._end):
                    r = self._slots[i]
                    if r != NULL:
                        (<OrderRecord>r).live_ix = j
                        self._slots[j] = r
                        j += 1
                self._end = j
            else:
                cap = 4 if self._cap == 0 else 2 * self._cap
                grown = <PyObject**>PyMem_Realloc(self._slots, cap * sizeof(PyObject*))
                if grown == NULL:
                    raise MemoryError()
                self._slots, self._cap = grown, cap
        Py_INCREF(rec)
        self._slots[self._end] = <PyObject*>rec
        rec.live_ix = self._end
        self._end += 1
        self.count += 1
        return 0

    cdef int remove(self, OrderRecord rec) except -1:
        """Takes ``rec`` out (KeyError with its id when it is not here)."""
        cdef Py_ssize_t i = rec.live_ix
        if not 0 <= i < self._end or self._slots[i] != <PyObject*>rec:
            # a record whose slot is another object's (a copy's, which took it last): found
            # by a scan
            i = 0
            while i < self._end and self._slots[i] != <PyObject*>rec:
                i += 1
            if i == self._end:
                raise KeyError(rec.order_id)
        self._slots[i] = NULL
        rec.live_ix = -1
        self.count -= 1
        while self._end and self._slots[self._end - 1] == NULL:  # (each gap once)
            self._end -= 1
        Py_DECREF(rec)  # (the caller holds it too)
        return 0

    cdef Py_ssize_t n_conditional(self) noexcept:
        """How many of the orders are conditional (the place step's stop-order count)."""
        cdef Py_ssize_t i, n = 0
        for i in range(self._end):
            if self._slots[i] != NULL and (<OrderRecord>self._slots[i]).conditional:
                n += 1
        return n

    cdef list _records(self):
        cdef Py_ssize_t i
        return [<object>self._slots[i] for i in range(self._end) if self._slots[i] != NULL]

    def append(self, OrderRecord rec not None):
        """Adds ``rec`` last (the engine's steps add their own; this is for repairs and the
        tests)."""
        self.add(rec)

    def __len__(self):
        return self.count

    def __iter__(self):
        return iter([(<OrderRecord>rec).order_id for rec in self._records()])

    def __contains__(self, k):
        return any(k == (<OrderRecord>rec).order_id for rec in self._records())

    def __eq__(self, other):
        if not isinstance(other, LiveOrders):
            return NotImplemented
        return list(self) == list(other)

    def __repr__(self):
        return f"LiveOrders({list(self)!r})"

    def __reduce__(self):
        return _restore_live, (self._records(),)


def _restore_live(records):
    """A LiveOrders of ``records``, in that order (LiveOrders.__reduce__)."""
    cdef LiveOrders out = LiveOrders()
    for rec in records:
        out.add(rec)
    return out
