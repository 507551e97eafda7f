// The one header through which every binding file includes pybind11.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "order_book.hpp"
#include "types.hpp"

namespace py = pybind11;

namespace perpex::bindings {

// An integer argument that refuses bool (a subclass of int in Python) and anything that is not
// an int; values outside int64 raise OverflowError through pybind11's own conversion.
struct StrictInt {
  long long value;
};

}  // namespace perpex::bindings

namespace pybind11::detail {
template <>
struct type_caster<perpex::bindings::StrictInt> {
  PYBIND11_TYPE_CASTER(perpex::bindings::StrictInt, const_name("int"));
  bool load(handle src, bool) {
    if (!PyLong_Check(src.ptr()) || PyBool_Check(src.ptr())) return false;
    const long long v = PyLong_AsLongLong(src.ptr());
    if (v == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    value.value = v;
    return true;
  }
  static handle cast(perpex::bindings::StrictInt v, return_value_policy, handle) {
    return PyLong_FromLongLong(v.value);
  }
};
}  // namespace pybind11::detail

namespace perpex::bindings {

// Raises the perpex.errors exception that matches a 1xxx reason, with a message naming the
// parameter, its value and the limit.
[[noreturn]] void raise_for(core::Reason reason, const core::Command& cmd);
// Raises perpex.errors.<cls>(message).
[[noreturn]] void raise_error(const char* cls, const std::string& message);

void bind_constants(py::module_& m);
void bind_book(py::module_& m);
// Adds OrderBook's per-call order methods, as fast-call methods (after bind_book).
void bind_fast_calls(py::module_& m);
void bind_fsync(py::module_& m);
// Publishes the book's C interface (capi/perpex_book_capi.h) as the capsule _book_capi.
void bind_book_capi(py::module_& m);

}  // namespace perpex::bindings
