// The book's small hot helpers, forced inline. GCC keeps them out of line because each has
// several callers, and their calls were about an eighth of the instructions per message of the
// batch loop. The ones here are also used by book_state.cpp (snapshot loading and queries), so
// both files see their definitions; the rest are defined inline in order_book.cpp.
#pragma once

#include "order_book.hpp"

#define PERPEX_INLINE inline __attribute__((always_inline))

namespace perpex::core {

PERPEX_INLINE void OrderBook::push_level_back(Index n, Level& lv) {
  Order& o = nodes_[n];
  o.next = kNil;
  if (o.display == 0) {
    o.prev = lv.htail;
    if (lv.htail != kNil) nodes_[lv.htail].next = n; else lv.hhead = n;
    lv.htail = n;
  } else {
    o.prev = lv.tail;
    if (lv.tail != kNil) nodes_[lv.tail].next = n; else lv.head = n;
    lv.tail = n;
  }
}

PERPEX_INLINE std::size_t OrderBook::position(const LevelVec& v, Ticks key) {
  // Keys are distinct integers, so the level `d` keys behind the best sits at most `d` slots
  // from the back: the search starts there. Near the touch, where most levels are occupied,
  // that first guess is usually the answer.
  const std::size_t size = v.size();
  if (size == 0 || key > v.back().first) return size;
  const auto behind = static_cast<std::uint64_t>(v.back().first - key);
  std::size_t lo = behind >= size ? 0 : size - 1 - static_cast<std::size_t>(behind);
  if (v[lo].first >= key) return lo;
  std::size_t n = size - 1 - lo;  // the answer is in (lo, size - 1]
  ++lo;
  while (n > 0) {  // branch-light bisection
    const std::size_t half = n / 2;
    const bool right = v[lo + half].first < key;
    lo = right ? lo + half + 1 : lo;
    n = right ? n - half - 1 : half;
  }
  return lo;
}

PERPEX_INLINE Index OrderBook::alloc_node() {
  if (free_head_ != kNil) {
    Index n = free_head_;
    free_head_ = nodes_[n].next;
    return n;
  }
  nodes_.push_back(Order{});
  return static_cast<Index>(nodes_.size() - 1);
}

PERPEX_INLINE void OrderBook::account_link(Index n) {
  Order& o = nodes_[n];
  const std::uint32_t* slot = acct_index_.find(o.account);
  if (slot) {
    o.acct_slot = *slot;
  } else {
    o.acct_slot = static_cast<std::uint32_t>(acct_lists_.size());
    acct_index_.put(o.account, o.acct_slot);
    acct_lists_.emplace_back();
  }
  AccountList* al = &acct_lists_[o.acct_slot];
  o.acct_prev = al->tail;
  o.acct_next = kNil;
  if (al->tail != kNil) nodes_[al->tail].acct_next = n; else al->head = n;
  al->tail = n;
  ++al->count;
}

}  // namespace perpex::core
