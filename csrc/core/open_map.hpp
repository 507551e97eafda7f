// Open-addressing hash map from a 64-bit key to a small value, with linear probing and
// backward-shift deletion (no tombstones, so lookups never degrade after many cancels).
// It is never iterated for output: determinism does not depend on its layout.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace perpex::core {

template <typename V>
class OpenMap {
 public:
  explicit OpenMap(std::size_t capacity = 1024) { rehash(round_up(capacity * 2)); }

  V* find(std::uint64_t key) {
    std::size_t i = slot(key);
    while (used_[i]) {
      if (keys_[i] == key) return &vals_[i];
      i = (i + 1) & mask_;
    }
    return nullptr;
  }
  const V* find(std::uint64_t key) const { return const_cast<OpenMap*>(this)->find(key); }

  // Inserts or overwrites.
  V& put(std::uint64_t key, const V& v) {
    if ((size_ + 1) * 2 > keys_.size()) rehash(keys_.size() * 2);
    std::size_t i = slot(key);
    while (used_[i]) {
      if (keys_[i] == key) return vals_[i] = v;
      i = (i + 1) & mask_;
    }
    used_[i] = 1;
    keys_[i] = key;
    vals_[i] = v;
    ++size_;
    return vals_[i];
  }

  bool erase(std::uint64_t key) {
    std::size_t i = slot(key);
    while (used_[i] && keys_[i] != key) i = (i + 1) & mask_;
    if (!used_[i]) return false;
    // Backward shift: pull later members of the probe run into the hole.
    std::size_t hole = i;
    std::size_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      if (!used_[j]) break;
      std::size_t home = slot(keys_[j]);
      bool movable = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
      if (movable) {
        keys_[hole] = keys_[j];
        vals_[hole] = vals_[j];
        hole = j;
      }
    }
    used_[hole] = 0;
    --size_;
    return true;
  }

  std::size_t size() const { return size_; }
  // Visits every entry in table order: for checks only, never for output.
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < keys_.size(); ++i)
      if (used_[i]) f(keys_[i], vals_[i]);
  }
  void clear() {
    std::fill(used_.begin(), used_.end(), 0);
    size_ = 0;
  }

 private:
  static std::size_t round_up(std::size_t n) {
    std::size_t c = 16;
    while (c < n) c <<= 1;
    return c;
  }
  std::size_t slot(std::uint64_t key) const {
    // Fibonacci hashing spreads sequential ids across the table.
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void rehash(std::size_t cap) {
    std::vector<std::uint64_t> old_keys = std::move(keys_);
    std::vector<V> old_vals = std::move(vals_);
    std::vector<std::uint8_t> old_used = std::move(used_);
    keys_.assign(cap, 0);
    vals_.assign(cap, V{});
    used_.assign(cap, 0);
    mask_ = cap - 1;
    shift_ = 64;
    for (std::size_t c = cap; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (std::size_t i = 0; i < old_keys.size(); ++i)
      if (old_used[i]) put(old_keys[i], old_vals[i]);
  }

  std::vector<std::uint64_t> keys_;
  std::vector<V> vals_;
  std::vector<std::uint8_t> used_;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
  std::size_t size_ = 0;
};

}  // namespace perpex::core
