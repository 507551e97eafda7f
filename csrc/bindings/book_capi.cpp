// The order book's C interface (capi/perpex_book_capi.h), published as a capsule on the module.
// Each function checks its book's type, then runs the command exactly as the fast-call methods
// do (run() in native_book.hpp), turning a C++ or Python error into a set exception and -1.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <pybind11/detail/exception_translation.h>

#include "native_book.hpp"
#include "perpex_book_capi.h"

namespace perpex::bindings {

namespace {

static_assert(sizeof(PerpexEvent) == sizeof(core::Event), "PerpexEvent mirrors core::Event");
static_assert(offsetof(PerpexEvent, order_id) == offsetof(core::Event, order_id) &&
                  offsetof(PerpexEvent, account) == offsetof(core::Event, account) &&
                  offsetof(PerpexEvent, price) == offsetof(core::Event, price) &&
                  offsetof(PerpexEvent, maker_leaves) == offsetof(core::Event, maker_leaves),
              "PerpexEvent mirrors core::Event");

PyTypeObject* book_type = nullptr;  // perpex._native.OrderBook, set when the module loads

// Runs `body` on the book behind `obj`: 0, or -1 with the error set.
template <typename Body>
int guarded(PyObject* obj, Body body) {
  try {
    if (!PyObject_TypeCheck(obj, book_type)) {
      PyErr_Format(PyExc_TypeError, "expected a perpex._native.OrderBook, got %R", obj);
      return -1;
    }
    body(book_of(obj));
    return 0;
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    py::detail::try_translate_exceptions();
  }
  return -1;
}

int capi_add(PyObject* book, const PerpexAdd* o, std::int64_t* leaves) {
  return guarded(book, [&](NativeBook& b) {
    core::Command c = core::make_command(core::OP_ADD);
    c.order_id = o->order_id;
    c.account = o->account;
    c.side = u8(o->side);
    c.ord_type = u8(o->ord_type);
    c.tif = u8(o->tif);
    c.flags = u8(o->flags);
    c.trigger = u8(o->trigger);
    c.price = o->price;
    c.qty = o->qty;
    c.display_qty = o->display_qty;
    c.stop_px = o->stop_px;
    c.peg_offset = o->peg_offset;
    *leaves = run(b, c);
  });
}

int capi_cancel(PyObject* book, std::uint64_t order_id, std::uint32_t account, std::int64_t* leaves) {
  return guarded(book, [&](NativeBook& b) {
    core::Command c = core::make_command(core::OP_CANCEL);
    c.order_id = order_id;
    c.account = account;
    c.mask = core::MASK_ACCOUNT;
    *leaves = run(b, c);
  });
}

int capi_events(PyObject* book, const PerpexEvent** first, Py_ssize_t* count) {
  return guarded(book, [&](NativeBook& b) {
    ensure_idle(b);
    core::EventBuffer& ev = b.core.events();
    *first = reinterpret_cast<const PerpexEvent*>(ev.data());
    *count = static_cast<Py_ssize_t>(ev.size());
  });
}

int capi_clear_events(PyObject* book) {
  return guarded(book, [](NativeBook& b) {
    ensure_idle(b);
    b.core.events().clear();
  });
}

int capi_take_events(PyObject* book, PerpexEvent* out, Py_ssize_t cap, Py_ssize_t* count) {
  return guarded(book, [&](NativeBook& b) {
    ensure_idle(b);
    core::EventBuffer& ev = b.core.events();
    const auto n = static_cast<Py_ssize_t>(ev.size());
    *count = n;
    if (n == 0 || n > cap) return;
    std::memcpy(out, ev.data(), static_cast<std::size_t>(n) * sizeof(PerpexEvent));
    ev.clear();
  });
}

int capi_best(PyObject* book, int side, std::int64_t* price) {
  return guarded(book, [&](NativeBook& b) {
    *price = side == core::BUY ? b.core.best_bid() : b.core.best_ask();
  });
}

int capi_depth(PyObject* book, int side, Py_ssize_t n, std::int64_t* prices, std::int64_t* qtys,
               Py_ssize_t* count) {
  return guarded(book, [&](NativeBook& b) {
    if (side != core::BUY && side != core::SELL)
      raise_error("InvalidInputError", "side=" + std::to_string(side) + " must be 0 (Buy) or 1 (Sell)");
    if (n < 0) raise_error("InvalidInputError", "n=" + std::to_string(n) + " must be >= 0");
    *count = static_cast<Py_ssize_t>(
        b.core.side_depth(side, static_cast<std::size_t>(n), prices, qtys));
  });
}

int capi_sweep(PyObject* book, int side, std::int64_t qty, Py_ssize_t levels, std::int64_t* price,
               std::int64_t* left) {
  return guarded(book, [&](NativeBook& b) {
    if (side != core::BUY && side != core::SELL)
      raise_error("InvalidInputError", "side=" + std::to_string(side) + " must be 0 (Buy) or 1 (Sell)");
    if (levels < 0) raise_error("InvalidInputError", "levels=" + std::to_string(levels) + " must be >= 0");
    if (qty <= 0) raise_error("InvalidQuantityError", "qty=" + std::to_string(qty) + " must be > 0");
    Qty rest = 0;
    *price = b.core.sweep(side, qty, static_cast<std::size_t>(levels), rest);
    *left = rest;
  });
}

const PerpexBookCAPI kCapi = {PERPEX_BOOK_CAPI_VERSION, capi_add,   capi_cancel,
                              capi_events,              capi_clear_events,
                              capi_best,                capi_depth, capi_sweep,
                              capi_take_events};

}  // namespace

void bind_book_capi(py::module_& m) {
  book_type = reinterpret_cast<PyTypeObject*>(m.attr("OrderBook").ptr());
  PyObject* cap = PyCapsule_New(const_cast<PerpexBookCAPI*>(&kCapi), PERPEX_BOOK_CAPI_NAME, nullptr);
  if (!cap) throw py::error_already_set();
  m.attr("_book_capi") = py::reinterpret_steal<py::object>(cap);
}

}  // namespace perpex::bindings
