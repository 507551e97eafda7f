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

}  // namespace perpex::bindings
