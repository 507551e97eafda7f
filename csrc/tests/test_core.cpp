// Core tests without Python: scenarios through OrderBook::apply, a seeded random run with
// invariant checks, and dump/load round trips. Built with -DPERPEX_BUILD_TESTS=ON, and under
// AddressSanitizer/UBSan with -DPERPEX_SANITIZE=ON.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <string>

#include "order_book.hpp"

using namespace perpex::core;

// Every heap allocation of the process is counted, so a test can prove the steady state of the
// book allocates nothing.
static std::atomic<long> g_allocations{0};
static bool g_trap = false;
void* operator new(std::size_t n) {
  ++g_allocations;
  if (g_trap) __builtin_trap();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

int failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

Command add(OrderId id, int side, Ticks price, Qty qty, std::uint8_t type = LIMIT,
            std::uint8_t tif = GTC, Qty display = -1) {
  Command c = make_command(OP_ADD);
  c.order_id = id;
  c.account = static_cast<AccountId>(id % 7);
  c.side = static_cast<std::uint8_t>(side);
  c.price = price;
  c.qty = qty;
  c.ord_type = type;
  c.tif = tif;
  c.display_qty = display;
  return c;
}

Command cancel(OrderId id) {
  Command c = make_command(OP_CANCEL);
  c.order_id = id;
  return c;
}

void test_iceberg_we43() {
  OrderBook b;
  CHECK(b.apply(add(1, BUY, 100, 10, LIMIT, GTC, 1), 0) == Reason::NONE);
  CHECK(b.apply(add(2, SELL, 100, 3), 1) == Reason::NONE);
  OrderInfo info{};
  CHECK(b.order_info(1, info) && info.leaves == 7 && info.visible == 1);
  std::vector<std::pair<Ticks, Qty>> bids, asks;
  b.depth(5, bids, asks);
  CHECK(bids.size() == 1 && bids[0].second == 1 && asks.empty());
  CHECK(b.check_invariants().empty());
}

void test_fok_touches_nothing() {
  OrderBook b;
  b.apply(add(1, SELL, 101, 5), 0);
  const std::uint64_t before = b.state_hash();
  b.events().clear();
  CHECK(b.apply(add(2, BUY, 101, 6, LIMIT, FOK), 1) == Reason::NONE);
  CHECK(b.events().size() == 2 && b.events()[1].type == EV_CANCELED &&
        b.events()[1].reason == static_cast<std::uint16_t>(Reason::FOK));
  // Only the consumed id differs: the resting liquidity is untouched.
  OrderInfo info{};
  CHECK(b.order_info(1, info) && info.leaves == 5);
  CHECK(before != b.state_hash());
}

void test_input_errors_change_nothing() {
  OrderBook b;
  b.apply(add(5, BUY, 100, 5), 0);
  const std::uint64_t h = b.state_hash();
  CHECK(b.apply(add(5, BUY, 100, 5), 1) == Reason::DUPLICATE_ORDER_ID);
  CHECK(b.apply(add(6, BUY, 0, 5), 1) == Reason::INVALID_PRICE);
  CHECK(b.apply(add(6, BUY, 100, 0), 1) == Reason::INVALID_QTY);
  CHECK(b.apply(add(6, 7, 100, 1), 1) == Reason::INVALID_SIDE);
  CHECK(b.apply(add(6, BUY, kMaxTicks, kMaxQty), 1) == Reason::OVERFLOW);
  CHECK(b.apply(cancel(99), 1) == Reason::UNKNOWN_ORDER);
  CHECK(h == b.state_hash());
}

void test_random_flow_keeps_invariants() {
  std::mt19937_64 rng(42);
  OrderBook b(false, 64);
  std::vector<OrderId> live;
  OrderId next = 1;
  for (int i = 0; i < 200000; ++i) {
    const auto r = rng() % 100;
    if (r < 55 || live.empty()) {
      int side = static_cast<int>(rng() % 2);
      Ticks px = 1000 + (side == BUY ? -1 : 1) * static_cast<Ticks>(rng() % 20) + static_cast<Ticks>(rng() % 3) - 1;
      Qty display = (rng() % 10 == 0) ? static_cast<Qty>(rng() % 3) : -1;
      b.apply(add(next, side, px, 1 + static_cast<Qty>(rng() % 40), LIMIT, static_cast<std::uint8_t>(rng() % 10 == 0 ? IOC : GTC), display), i);
      live.push_back(next++);
    } else if (r < 95) {
      std::size_t j = rng() % live.size();
      b.apply(cancel(live[j]), i);  // may already be filled: UNKNOWN_ORDER, nothing changes
      live[j] = live.back();
      live.pop_back();
    } else {
      b.apply(add(next++, static_cast<int>(rng() % 2), 0, 30, MARKET), i);
    }
    b.events().clear();
    if (i % 20000 == 0) {
      std::string broken = b.check_invariants();
      if (!broken.empty()) std::fprintf(stderr, "step %d: %s\n", i, broken.c_str());
      CHECK(broken.empty());
    }
  }
  CHECK(b.check_invariants().empty());
  OrderBook copy;
  std::string error;
  CHECK(OrderBook::load(b.dump(), copy, error));
  CHECK(copy.state_hash() == b.state_hash());
  CHECK(!OrderBook::load(b.dump().substr(0, 100), copy, error));
}

void test_steady_state_add_cancel_and_fills_allocate_nothing() {
  OrderBook b(false, 4096);
  b.events().reserve(1 << 16);
  std::mt19937_64 rng(7);
  OrderId next = 1;
  std::vector<OrderId> live;
  live.reserve(1 << 16);
  auto step = [&](int i) {
    const auto r = rng() % 100;
    // The live count is held under 3,000, as a real book's is: a steady state.
    if ((r < 55 && live.size() < 3000) || live.size() < 500) {
      int side = static_cast<int>(rng() % 2);
      Ticks px = 1000 + (side == BUY ? -1 : 1) * (1 + static_cast<Ticks>(rng() % 20));
      b.apply(add(next, side, px, 1 + static_cast<Qty>(rng() % 40)), i);
      live.push_back(next++);
    } else if (r < 96) {
      std::size_t j = rng() % live.size();
      b.apply(cancel(live[j]), i);
      live[j] = live.back();
      live.pop_back();
    } else {
      b.apply(add(next++, static_cast<int>(rng() % 2), 0, 25, MARKET), i);
    }
    if (b.events().size() > 60000) b.events().clear();
  };
  for (int i = 0; i < 100000; ++i) step(i);  // warm: pools, levels and the index reach size
  const long before = g_allocations.load();
  g_trap = std::getenv("PERPEX_TRAP_ALLOC") != nullptr;
  for (int i = 0; i < 100000; ++i) step(i);
  const long allocated = g_allocations.load() - before;
  if (allocated != 0) std::fprintf(stderr, "steady state allocated %ld times\n", allocated);
  CHECK(allocated == 0);
}

}  // namespace

int main() {
  test_steady_state_add_cancel_and_fills_allocate_nothing();
  test_iceberg_we43();
  test_fok_touches_nothing();
  test_input_errors_change_nothing();
  test_random_flow_keeps_invariants();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("core tests passed\n");
  return 0;
}
