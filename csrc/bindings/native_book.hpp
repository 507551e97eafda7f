// The Python-facing book and the helpers shared by the pybind11 methods (bind_book.cpp) and the
// fast-call methods (fast_calls.cpp), so both run a command the same way.
#pragma once

#include "common.hpp"

namespace perpex::bindings {

using core::Command;
using core::EventBuffer;
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

struct BusyGuard {
  explicit BusyGuard(bool& flag) : flag_(flag) { flag_ = true; }
  ~BusyGuard() { flag_ = false; }
  bool& flag_;
};

struct SwapBack {
  EventBuffer& a;
  EventBuffer& b;
  ~SwapBack() { a.swap(b); }
};

inline void ensure_idle(const NativeBook& b) {
  if (b.busy) raise_error("EngineError", "the book is running a batch in another thread");
}

// Out-of-range small enums map to 255, which every validator rejects.
inline std::uint8_t u8(long long v) { return (v < 0 || v > 254) ? 255 : static_cast<std::uint8_t>(v); }

inline Command add_command(std::uint64_t id, std::uint32_t account, long long side, StrictInt price,
                           StrictInt qty, std::uint8_t ord_type = core::LIMIT) {
  Command c = core::make_command(core::OP_ADD);
  c.order_id = id;
  c.account = account;
  c.side = u8(side);
  c.ord_type = ord_type;
  c.price = price.value;
  c.qty = qty.value;
  return c;
}

// Applies one per-call command: a malformed one raises its perpex.errors exception.
inline Qty run(NativeBook& b, const Command& c) {
  ensure_idle(b);
  Reason r = b.core.apply(c, b.calls);
  if (r != Reason::NONE) raise_for(r, c);
  ++b.calls;
  return b.core.result();
}

}  // namespace perpex::bindings
