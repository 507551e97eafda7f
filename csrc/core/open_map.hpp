// Open-addressing hash map from a 64-bit key to a small value, with linear probing and
// backward-shift deletion (no tombstones, so lookups never degrade after many cancels). Key and
// value share one slot so a probe touches one cache line. The all-ones key marks an empty slot
// and is not a valid key. It is never iterated for output: determinism does not depend on its
// layout.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace perpex::core {

template <typename V>
class OpenMap {
 public:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};

  explicit OpenMap(std::size_t capacity = 1024) { rehash(round_up(capacity * 2)); }

  V* find(std::uint64_t key) {
    std::size_t i = slot(key);
    for (;;) {
      Slot& s = slots_[i];
      if (s.key == key) return &s.val;
      if (s.key == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }
  const V* find(std::uint64_t key) const { return const_cast<OpenMap*>(this)->find(key); }

  // The value of `key`, entered as V{} when missing: one probe for a caller that must see
  // (or release) what it replaces.
  [[gnu::always_inline]] V* entry(std::uint64_t key) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    std::size_t i = slot(key);
    while (slots_[i].key != kEmpty) {
      if (slots_[i].key == key) return &slots_[i].val;
      i = (i + 1) & mask_;
    }
    slots_[i].key = key;
    slots_[i].val = V{};
    ++size_;
    return &slots_[i].val;
  }

  // Inserts or overwrites.
  [[gnu::always_inline]] V& put(std::uint64_t key, const V& v) { return *entry(key) = v; }

  // Removes `key`, its value first copied to `out` when given; false when it is missing.
  [[gnu::always_inline]] bool erase(std::uint64_t key, V* out = nullptr) {
    std::size_t i = slot(key);
    while (slots_[i].key != key) {
      if (slots_[i].key == kEmpty) return false;
      i = (i + 1) & mask_;
    }
    if (out) *out = slots_[i].val;
    // Backward shift: pull later members of the probe run into the hole.
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask_; slots_[j].key != kEmpty; j = (j + 1) & mask_) {
      const std::size_t home = slot(slots_[j].key);
      const bool movable = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
      if (movable) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole].key = kEmpty;
    --size_;
    return true;
  }

  std::size_t size() const { return size_; }
  // Every key, in table order, appended to `out` (callers sort it when order matters).
  void keys_into(std::vector<std::uint64_t>& out) const {
    out.reserve(out.size() + size_);
    for (const Slot& s : slots_)
      if (s.key != kEmpty) out.push_back(s.key);
  }
  // Visits every entry in table order: for checks only, never for output.
  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.key != kEmpty) f(s.key, s.val);
  }

 private:
  struct Slot {
    std::uint64_t key;
    V val;
  };
  static std::size_t round_up(std::size_t n) {
    std::size_t c = 16;
    while (c < n) c <<= 1;
    return c;
  }
  std::size_t slot(std::uint64_t key) const {
    // Fibonacci hashing spreads sequential ids across the table.
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  [[gnu::noinline]] void rehash(std::size_t cap) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(cap, Slot{kEmpty, V{}});
    mask_ = cap - 1;
    shift_ = 64;
    for (std::size_t c = cap; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (const Slot& s : old)
      if (s.key != kEmpty) put(s.key, s.val);
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
  std::size_t size_ = 0;
};

}  // namespace perpex::core
