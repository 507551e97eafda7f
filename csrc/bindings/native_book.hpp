// The Python-facing book and the helpers shared by the pybind11 methods (bind_book.cpp) and the
// fast-call methods (fast_calls.cpp), so both run a command the same way.
#pragma once

#include "common.hpp"

namespace perpex::bindings {

using core::Command;
using core::OrderBook;
using core::Qty;
using core::Reason;

// A Python-facing book: the core plus the per-call command counter and a guard that keeps other
// threads out while a batch runs without the GIL.
struct NativeBook {
  explicit NativeBook(bool hold, std::size_t capacity) : core(hold, capacity) {}
  OrderBook core;
  std::uint32_t calls = 0;
  bool busy = false;
};

inline void ensure_idle(const NativeBook& b) {
  if (b.busy) raise_error("EngineError", "the book is running a batch in another thread");
}

// Out-of-range small enums map to 255, which every validator rejects.
inline std::uint8_t u8(long long v) { return (v < 0 || v > 254) ? 255 : static_cast<std::uint8_t>(v); }

// Applies one per-call command: a malformed one raises its perpex.errors exception.
inline Qty run(NativeBook& b, const Command& c) {
  ensure_idle(b);
  Reason r = b.core.apply(c, b.calls);
  if (r != Reason::NONE) raise_for(r, c);
  ++b.calls;
  return b.core.result();
}

// The NativeBook of an OrderBook object whose type has been checked (by a method descriptor,
// or by the C interface); TypeError when its __init__ has not run. An object made by
// OrderBook.__new__ alone (as unpickling does before __setstate__) has no book yet, and
// pybind11 would hand a method uninitialised memory for it: every method comes through here.
inline NativeBook& book_of(PyObject* self) {
  auto* inst = reinterpret_cast<py::detail::instance*>(self);
  if (inst->simple_layout) {
    if (inst->simple_holder_constructed) return *static_cast<NativeBook*>(inst->simple_value_holder[0]);
  } else {  // a Python subclass with other pybind11 bases: find this type's part
    auto v_h = inst->get_value_and_holder(py::detail::get_type_info(typeid(NativeBook)));
    if (v_h && v_h.holder_constructed()) return *v_h.value_ptr<NativeBook>();
  }
  PyErr_SetString(PyExc_TypeError, "OrderBook.__init__() has not been called");
  throw py::error_already_set();
}

// The `self` of OrderBook's pybind11 methods, loaded through book_of (a bare `NativeBook&`
// parameter would not check that the book was constructed); `core` names the part most
// methods read.
struct BookSelf {
  NativeBook& book;
  OrderBook& core;
  operator NativeBook&() const { return book; }
};

}  // namespace perpex::bindings

namespace pybind11::detail {
template <>
class type_caster<perpex::bindings::BookSelf> {
 public:
  bool load(handle src, bool) {
    if (!isinstance<perpex::bindings::NativeBook>(src)) return false;
    book_ = &perpex::bindings::book_of(src.ptr());  // TypeError when not constructed
    return true;
  }
  static constexpr auto name = const_name("perpex._native.OrderBook");
  template <typename>
  using cast_op_type = perpex::bindings::BookSelf;
  operator perpex::bindings::BookSelf() { return {*book_, book_->core}; }

 private:
  perpex::bindings::NativeBook* book_ = nullptr;
};
}  // namespace pybind11::detail
