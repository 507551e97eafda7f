# The live-order table's C declarations, for the engine modules that look orders up by id
# without boxing the id (perpex._core, perpex._front, perpex._lots). See _idtable.pyx.

from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from libcpp.vector cimport vector

from perpex._checked cimport as_int64
from perpex._records cimport OrderRecord


cdef extern from "open_map.hpp" namespace "perpex::core":
    cppclass OpenMap[V]:
        OpenMap(size_t capacity) except +
        V* find(uint64_t key)
        V* entry(uint64_t key) except +
        bint erase(uint64_t key, V* out)
        size_t size()
        void keys_into(vector[uint64_t]& out)


cdef class OrderTable:
    cdef OpenMap[PyObject*]* _map

    cdef PyObject* find_c(self, int64_t oid) noexcept
    cdef int put_c(self, int64_t oid, object rec) except -1
    cdef int erase_c(self, int64_t oid) except -1
    cdef list _sorted_keys(self)


# One key's live orders in the order they went live (see _idtable.pyx): ``_slots[:_end]``
# holds their records (owned) and gaps (NULL); ``count`` records in all.
cdef class LiveOrders:
    cdef PyObject** _slots
    cdef Py_ssize_t _end, _cap
    cdef readonly Py_ssize_t count

    cdef int add(self, OrderRecord rec) except -1
    cdef int remove(self, OrderRecord rec) except -1
    cdef Py_ssize_t n_conditional(self) noexcept
    cdef list _records(self)


cdef inline bint order_id_of(object k, int64_t* out):
    """``k`` as an order id into ``out``: False when it is not an int in [0, 2**63)."""
    return as_int64(k, out) and out[0] >= 0


cdef inline object table_get(OrderTable t, int64_t oid):
    """The record of ``oid`` (KeyError when none)."""
    cdef PyObject* p = t.find_c(oid)
    if p == NULL:
        raise KeyError(oid)
    return <object>p


cdef inline object table_find(OrderTable t, object k):
    """The record of ``k`` (any object), None when it is no live order's id."""
    cdef int64_t oid
    cdef PyObject* p = t.find_c(oid) if order_id_of(k, &oid) else <PyObject*>NULL
    return None if p == NULL else <object>p
