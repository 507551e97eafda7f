// Queries, canonical serialization, state hash and invariant checks of the native book.
#include <algorithm>
#include <cstring>

#include "order_book.hpp"
#include "order_book_inl.hpp"

namespace perpex::core {

namespace {

constexpr char kMagic[4] = {'P', 'X', 'B', 'K'};
constexpr std::uint32_t kVersion = 1;

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void i64(std::int64_t v) { le(static_cast<std::uint64_t>(v), 8); }
 private:
  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }
  std::uint8_t u8() { return static_cast<std::uint8_t>(le(1)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
  std::uint64_t u64() { return le(8); }
  std::int64_t i64() { return static_cast<std::int64_t>(le(8)); }
  bool bytes(const char* expect, std::size_t n) {
    if (pos_ + n > in_.size() || std::memcmp(in_.data() + pos_, expect, n) != 0) return ok_ = false;
    pos_ += n;
    return true;
  }
 private:
  std::uint64_t le(int n) {
    if (!ok_ || pos_ + static_cast<std::size_t>(n) > in_.size()) {
      ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i)
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in_[pos_ + i])) << (8 * i);
    pos_ += static_cast<std::size_t>(n);
    return v;
  }
  const std::string& in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

void write_order(Writer& w, const Order& o) {
  w.u64(o.id);
  w.u32(o.account);
  w.u8(o.side);
  w.u8(o.flags);
  w.u8(o.tif);
  w.u8(o.ord_type);
  w.i64(o.leaves);
  w.i64(o.visible);
  w.i64(o.display);
}

Order read_order(Reader& r) {
  Order o{};
  o.id = r.u64();
  o.account = r.u32();
  o.side = r.u8();
  o.flags = r.u8();
  o.tif = r.u8();
  o.ord_type = r.u8();
  o.leaves = r.i64();
  o.visible = r.i64();
  o.display = r.i64();
  o.prev = o.next = o.level = o.acct_prev = o.acct_next = kNil;
  return o;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// queries

void OrderBook::depth(std::size_t n, std::vector<std::pair<Ticks, Qty>>& bids,
                      std::vector<std::pair<Ticks, Qty>>& asks) const {
  for (int side = BUY; side <= SELL; ++side) {
    auto& out = side == BUY ? bids : asks;
    std::vector<Ticks> prices(std::min(n, level_count(side)));
    std::vector<Qty> qtys(prices.size());
    const std::size_t k = side_depth(side, prices.size(), prices.data(), qtys.data());
    for (std::size_t i = 0; i < k; ++i) out.emplace_back(prices[i], qtys[i]);
  }
}

std::size_t OrderBook::side_depth(int side, std::size_t n, Ticks* prices, Qty* qtys) const {
  std::size_t k = 0;
  const LevelVec& v = side_vec(side);
  for (auto it = v.rbegin(); it != v.rend() && k < n; ++it) {
    const Level& lv = levels_[it->second];
    if (lv.visible_total <= 0) continue;
    prices[k] = lv.price;
    qtys[k] = lv.visible_total;
    ++k;
  }
  return k;
}

Ticks OrderBook::sweep(int side, Qty qty, std::size_t n, Qty& left) const {
  Ticks price = 0;
  left = qty;
  const LevelVec& v = side_vec(side);
  std::size_t seen = 0;
  for (auto it = v.rbegin(); it != v.rend() && seen < n; ++it) {
    const Level& lv = levels_[it->second];
    if (lv.visible_total <= 0) continue;
    ++seen;
    price = lv.price;
    left -= lv.visible_total;
    if (left <= 0) break;
  }
  return price;
}

std::vector<Order> OrderBook::level_orders(int side, Ticks price) const {
  std::vector<Order> out;
  if ((side != BUY && side != SELL) || price <= 0 || price > kMaxTicks) return out;
  const LevelVec& v = side_vec(side);
  std::size_t i = position(v, level_key(side, price));
  if (i >= v.size() || v[i].first != level_key(side, price)) return out;
  const Level& lv = levels_[v[i].second];
  for (Index n = lv.head; n != kNil; n = nodes_[n].next) out.push_back(nodes_[n]);
  for (Index n = lv.hhead; n != kNil; n = nodes_[n].next) out.push_back(nodes_[n]);
  return out;
}

bool OrderBook::order_info(OrderId id, OrderInfo& out) const {
  const Index* n = ids_.find(id);
  if (!n) return false;
  const Order& o = nodes_[*n];
  out = OrderInfo{o.id, o.account, o.side, o.ord_type, o.tif,
                  static_cast<std::uint8_t>(o.flags & FLAG_PUBLIC_MASK), 0, o.leaves, o.visible,
                  o.display, false, false, 0, 0, 0};
  if (o.flags & FLAG_CONDITIONAL) {
    const Conditional& cd = cond_.at(id);
    out.price = cd.price;
    out.conditional = true;
    out.held = o.flags & FLAG_HELD;
    out.stop_px = cd.stop_px;
    out.peg_offset = cd.peg_offset;
    out.feed = cd.feed;
  } else {
    out.price = levels_[o.level].price;
  }
  return true;
}

std::vector<OrderId> OrderBook::account_orders(AccountId a) const {
  std::vector<OrderId> out;
  const AccountList* al = account_list(a);
  for (Index n = al ? al->head : kNil; n != kNil; n = nodes_[n].acct_next) out.push_back(nodes_[n].id);
  return out;
}

std::uint32_t OrderBook::account_order_count(AccountId a) const {
  const AccountList* al = account_list(a);
  return al ? al->count : 0;
}

// ---------------------------------------------------------------------------------------------
// serialization: levels best first, each in priority order (displayed then hidden queue), then
// conditional orders by id. Account lists are not written: they follow id order.

std::string OrderBook::dump() const {
  std::string out;
  out.reserve(64 + resting_ * 48 + cond_.size() * 80);
  Writer w(out);
  out.append(kMagic, 4);
  w.u32(kVersion);
  w.u8(hold_ ? 1 : 0);
  w.u64(last_id_);
  for (int f = 0; f < kFeedCount; ++f) {
    w.i64(feed_lo_[f]);
    w.i64(feed_hi_[f]);
  }
  for (int side = BUY; side <= SELL; ++side) {
    const LevelVec& v = side_vec(side);
    w.u64(v.size());
    for (auto it = v.rbegin(); it != v.rend(); ++it) {
      const Level& lv = levels_[it->second];
      w.i64(lv.price);
      w.u32(lv.count);
      for (Index n = lv.head; n != kNil; n = nodes_[n].next) write_order(w, nodes_[n]);
      for (Index n = lv.hhead; n != kNil; n = nodes_[n].next) write_order(w, nodes_[n]);
    }
  }
  w.u64(cond_.size());
  for (const auto& [id, cd] : cond_) {
    write_order(w, nodes_[*ids_.find(id)]);
    w.i64(cd.price);
    w.i64(cd.stop_px);
    w.i64(cd.peg_offset);
    w.u8(cd.feed);
    w.u8(cd.rises ? 1 : 0);
  }
  return out;
}

bool OrderBook::load(const std::string& data, OrderBook& b, std::string& error) {
  Reader r(data);
  if (!r.bytes(kMagic, 4)) return error = "not a perpex book dump (bad magic)", false;
  if (r.u32() != kVersion) return error = "unsupported book dump version", false;
  b = OrderBook(r.u8() != 0);
  b.last_id_ = r.u64();
  for (int f = 0; f < kFeedCount; ++f) {
    b.feed_lo_[f] = r.i64();
    b.feed_hi_[f] = r.i64();
  }
  std::vector<std::pair<OrderId, Index>> by_id;
  for (int side = BUY; side <= SELL && r.ok(); ++side) {
    std::uint64_t nlevels = r.u64();
    if (nlevels > data.size()) return error = "truncated book dump", false;
    for (std::uint64_t l = 0; l < nlevels && r.ok(); ++l) {
      Ticks price = r.i64();
      std::uint32_t count = r.u32();
      if (price <= 0 || price > kMaxTicks || count == 0 || count > data.size())
        return error = "corrupt level in book dump", false;
      // Levels arrive best first; appending at the front keeps the best at the back.
      LevelVec& v = b.side_vec(side);
      if (!v.empty() && level_key(side, price) >= v.front().first)
        return error = "levels out of order in book dump", false;
      Index li = static_cast<Index>(b.levels_.size());
      b.levels_.push_back(Level{price, 0, 0, kNil, kNil, kNil, kNil, 0});
      v.insert(v.begin(), {level_key(side, price), li});
      for (std::uint32_t k = 0; k < count && r.ok(); ++k) {
        Order o = read_order(r);
        if (o.side != side || o.leaves <= 0 || o.leaves > kMaxQty || o.visible < 0 ||
            o.visible > o.leaves || o.display < -1 || (o.flags & ~FLAG_PUBLIC_MASK) ||
            o.id == 0 || o.id == OpenMap<Index>::kEmpty || o.id > b.last_id_ || b.ids_.find(o.id))
          return error = "corrupt order in book dump", false;
        Index n = b.alloc_node();
        b.nodes_[n] = o;
        b.ids_.put(o.id, n);
        Level& lv = b.levels_[li];
        b.nodes_[n].level = li;
        lv.visible_total += o.visible;
        lv.hidden_total += o.leaves - o.visible;
        b.push_level_back(n, lv);
        ++lv.count;
        ++b.resting_;
        by_id.emplace_back(o.id, n);
      }
    }
  }
  std::uint64_t ncond = r.u64();
  if (ncond > data.size()) return error = "truncated book dump", false;
  for (std::uint64_t k = 0; k < ncond && r.ok(); ++k) {
    Order o = read_order(r);
    Conditional cd{};
    cd.price = r.i64();
    cd.stop_px = r.i64();
    cd.peg_offset = r.i64();
    cd.feed = r.u8();
    cd.rises = r.u8() != 0;
    if (!r.ok() || cd.feed >= kFeedCount || !(o.flags & FLAG_CONDITIONAL) || o.leaves <= 0 ||
        o.id == 0 || o.id == OpenMap<Index>::kEmpty || o.id > b.last_id_ || b.ids_.find(o.id) || cd.stop_px <= 0)
      return error = "corrupt conditional order in book dump", false;
    Index n = b.alloc_node();
    b.nodes_[n] = o;
    b.ids_.put(o.id, n);
    b.cond_.emplace(o.id, cd);
    if (!(o.flags & FLAG_HELD)) b.trigger_insert(o.id, cd);
    if (!(o.flags & FLAG_HELD) && (o.flags & FLAG_TRAILING)) b.trailing_[cd.feed].insert(o.id);
    by_id.emplace_back(o.id, n);
  }
  if (!r.ok() || !r.done()) return error = "truncated or oversized book dump", false;
  std::sort(by_id.begin(), by_id.end());
  for (const auto& [id, n] : by_id) b.account_link(n);
  std::string broken = b.check_invariants();
  if (!broken.empty()) return error = "book dump fails invariants: " + broken, false;
  return true;
}

std::uint64_t OrderBook::state_hash() const {
  // FNV-1a over the canonical dump: stable across processes, compilers and platforms.
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : dump()) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// invariants (B1-B3, O1 of RELIABILITY.md)

std::string OrderBook::check_invariants() const {
  std::size_t seen = 0;
  for (int side = BUY; side <= SELL; ++side) {
    const LevelVec& v = side_vec(side);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i > 0 && v[i - 1].first >= v[i].first)
        return std::string(side == BUY ? "bids" : "asks") + " are not strictly ordered";
      const Level& lv = levels_[v[i].second];
      if (level_key(side, lv.price) != v[i].first) return "level index price differs from its level";
      if (lv.count == 0) return "empty level at price " + std::to_string(lv.price);
      Qty vis = 0, hid = 0;
      std::uint32_t count = 0;
      for (int q = 0; q < 2; ++q) {
        Index prev = kNil;
        for (Index n = q == 0 ? lv.head : lv.hhead; n != kNil; n = nodes_[n].next) {
          const Order& o = nodes_[n];
          if (o.prev != prev) return "broken queue links at order " + std::to_string(o.id);
          if (o.level != v[i].second || o.side != side)
            return "order " + std::to_string(o.id) + " sits in the wrong level";
          if ((q == 1) != (o.display == 0)) return "order " + std::to_string(o.id) + " in the wrong queue";
          if (o.leaves <= 0 || o.visible < 0 || o.visible > o.leaves || (q == 0 && o.visible == 0))
            return "order " + std::to_string(o.id) + " has inconsistent quantities";
          if (o.flags & FLAG_CONDITIONAL) return "conditional order resting in the book";
          const Index* idx = ids_.find(o.id);
          if (!idx || *idx != n) return "order " + std::to_string(o.id) + " missing from the id index";
          vis += o.visible;
          hid += o.leaves - o.visible;
          ++count;
          prev = n;
        }
        if (prev != (q == 0 ? lv.tail : lv.htail)) return "queue tail mismatch at " + std::to_string(lv.price);
      }
      if (vis != lv.visible_total || hid != lv.hidden_total)
        return "level totals differ from their orders at " + std::to_string(lv.price);
      if (count != lv.count) return "level count differs at " + std::to_string(lv.price);
      seen += count;
    }
  }
  if (seen != resting_) return "resting order count differs from the levels";
  if (best_bid() != 0 && best_ask() != 0 && best_bid() >= best_ask()) return "crossed book at rest";
  for (const auto& [id, cd] : cond_) {
    const Index* idx = ids_.find(id);
    if (!idx) return "conditional order " + std::to_string(id) + " missing from the id index";
    const Order& o = nodes_[*idx];
    if (!(o.flags & FLAG_CONDITIONAL) || o.level != kNil)
      return "conditional order " + std::to_string(id) + " is not marked conditional";
    bool held = o.flags & FLAG_HELD;
    const auto& set = trig_[cd.feed][cd.rises ? 0 : 1];
    TriggerKey key = cd.rises ? TriggerKey{cd.stop_px, id} : TriggerKey{-cd.stop_px, id};
    if (held == (set.count(key) == 1)) return "trigger index disagrees for order " + std::to_string(id);
  }
  std::size_t keyed = 0;
  for (int f = 0; f < kFeedCount; ++f) keyed += trig_[f][0].size() + trig_[f][1].size();
  std::size_t held = 0;
  for (const auto& [id, cd] : cond_) held += (nodes_[*ids_.find(id)].flags & FLAG_HELD) ? 1 : 0;
  if (keyed + held != cond_.size()) return "trigger index holds unknown orders";
  if (ids_.size() != resting_ + cond_.size()) return "id index and live orders are not a bijection";
  std::string bad;
  ids_.for_each([&](std::uint64_t id, Index n) {
    if (bad.empty() && (n >= nodes_.size() || nodes_[n].id != id || id > last_id_))
      bad = "id index entry " + std::to_string(id) + " points at another order";
  });
  if (!bad.empty()) return bad;
  std::size_t in_lists = 0;
  if (acct_index_.size() != acct_lists_.size()) return "account index and lists differ";
  acct_index_.for_each([&](std::uint64_t a, std::uint32_t slot) {
    if (slot >= acct_lists_.size()) {
      bad = "account index points past its lists";
      return;
    }
    const AccountList& al = acct_lists_[slot];
    std::uint32_t count = 0;
    OrderId last = 0;
    for (Index n = al.head; n != kNil && bad.empty(); n = nodes_[n].acct_next) {
      if (nodes_[n].account != a || nodes_[n].acct_slot != slot || nodes_[n].id <= last)
        bad = "account list out of order";
      last = nodes_[n].id;
      ++count;
    }
    if (bad.empty() && count != al.count) bad = "account order count differs from its list";
    in_lists += count;
  });
  if (!bad.empty()) return bad;
  if (in_lists != ids_.size()) return "account lists and live orders differ";
  return {};
}

}  // namespace perpex::core
