// The book's event output: a growable array of 64-byte records that can also write straight
// into memory it does not own (a caller's reused batch array), so a batch's events are written
// once, where they are read, instead of into a scratch buffer and then copied. When the borrowed
// memory runs out the buffer moves what it has into memory of its own and carries on; the
// caller learns which happened from borrowed().
#pragma once

#include <cstddef>
#include <cstring>
#include <utility>

#include "huge_alloc.hpp"
#include "types.hpp"

namespace perpex::core {

class EventBuffer {
 public:
  EventBuffer() = default;
  EventBuffer(const EventBuffer&) = delete;
  EventBuffer& operator=(const EventBuffer&) = delete;
  EventBuffer(EventBuffer&& o) noexcept { swap(o); }
  EventBuffer& operator=(EventBuffer&& o) noexcept {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }
  ~EventBuffer() { release(); }

  // Writes into [p, p + cap) from now on, starting empty; the memory stays the caller's.
  void borrow(Event* p, std::size_t cap) {
    release();
    data_ = p;
    cap_ = cap;
    borrowed_ = true;
  }
  bool borrowed() const { return borrowed_; }

  // A new last record, left for the caller to fill field by field (no temporary to copy).
  [[gnu::always_inline]] Event& push() {
    if (size_ == cap_) grow(cap_ ? cap_ * 2 : 64);
    return data_[size_++];
  }
  void reserve(std::size_t n) {
    if (n > cap_) grow(n);
  }
  void clear() { size_ = 0; }

  std::size_t size() const { return size_; }
  Event* data() { return data_; }
  const Event* data() const { return data_; }
  Event& operator[](std::size_t i) { return data_[i]; }
  const Event& operator[](std::size_t i) const { return data_[i]; }

  void swap(EventBuffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
    std::swap(borrowed_, o.borrowed_);
  }

 private:
  [[gnu::noinline]] void grow(std::size_t cap) {
    Event* p = HugeAlloc<Event>().allocate(cap);
    if (size_) std::memcpy(static_cast<void*>(p), data_, size_ * sizeof(Event));
    release_storage();
    data_ = p;
    cap_ = cap;
    borrowed_ = false;
  }
  void release_storage() {
    if (data_ && !borrowed_) HugeAlloc<Event>().deallocate(data_, cap_);
  }
  void release() {
    release_storage();
    data_ = nullptr;
    size_ = cap_ = 0;
    borrowed_ = false;
  }

  Event* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
  bool borrowed_ = false;
};

}  // namespace perpex::core
