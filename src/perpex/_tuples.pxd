# A tuple, or a tuple subclass such as a NamedTuple, allocated and filled in place, for the
# Cython modules that build one per command or per record (perpex._core's outcomes,
# perpex._wal's journal records): ``tuple.__new__(cls, items)`` is a Python-level call that
# builds the items twice. Declarations and inline functions only (as _checked.pxd). (A tuple
# with empty slots is safe to track: its traversal skips them.)

from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_SET_ITEM


cdef extern from "Python.h":
    object PyType_GenericAlloc(type t, Py_ssize_t n)


cdef inline void tuple_put(object t, Py_ssize_t i, object v) noexcept:
    """Item ``i`` of the new tuple ``t`` (empty there) set to ``v``."""
    Py_INCREF(v)  # PyTuple_SET_ITEM takes the reference over
    PyTuple_SET_ITEM(t, i, v)
