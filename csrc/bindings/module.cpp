// perpex._native: the compiled core. This file is the index of what it exposes.
#include "common.hpp"

PYBIND11_MODULE(_native, m) {
  m.doc() = "perpex native core: the order book and matching engine on integer ticks.";
  perpex::bindings::bind_constants(m);  // enums, reasons, CMD_DTYPE, EVENT_DTYPE
  perpex::bindings::bind_book(m);       // OrderBook
  perpex::bindings::bind_fast_calls(m);  // OrderBook's order methods and drain_event_tuples
  perpex::bindings::bind_fsync(m);       // FsyncThread, the journal's background group commit
  perpex::bindings::bind_book_capi(m);   // _book_capi: the book's C interface, for perpex._core
}
