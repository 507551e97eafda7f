// The native order book of one instrument: price-time priority matching on integer ticks,
// intrusive FIFO lists per price level, pooled order nodes, an open-addressing id index, and a
// trigger book for conditional orders.
//
// Contract (mirrored by tests/model/ref_book.py):
//  * A level holds a displayed queue (plain orders, iceberg slices) and a hidden queue
//    (displayQty 0). Displayed quantity matches before hidden; an iceberg whose slice is used
//    up refreshes min(display, leaves) at the back of the displayed queue.
//  * Amend: lowering the leaves at the same price keeps priority; raising them or changing the
//    price sends the order to the back of its new level (and may execute it as a taker).
//  * FillOrKill is decided before anything is touched. Post-only orders that would take
//    liquidity are canceled. Self-trades are allowed.
//  * Every command is validated completely before anything mutates; malformed input returns a
//    1xxx Reason and changes nothing (no event, no id consumed).
//  * Conditional orders wait in per-feed trigger sets; last-price triggers are evaluated after
//    each command's trades, mark/index triggers in set_trigger_price().
//  * Nothing here knows accounts, money or time.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "event_buffer.hpp"
#include "open_map.hpp"
#include "types.hpp"

namespace perpex::core {

// A resting (or conditional) order. 64 bytes: the price lives in the level.
struct Order {
  OrderId id;
  Qty leaves;
  Qty visible;   // current displayed slice; 0 for hidden orders
  Qty display;   // configured display size; -1 = fully displayed
  Index prev, next;            // level queue (or unused while conditional)
  Index level;                 // kNil while conditional
  Index acct_prev, acct_next;  // the account's orders in acceptance (= id) order
  AccountId account;
  std::uint32_t acct_slot;     // the account's list in acct_lists_, so unlinking needs no lookup
  std::uint8_t side, flags, tif, ord_type;
};
static_assert(sizeof(Order) <= 64, "a resting order must fit in 64 bytes");

struct Level {
  Ticks price;
  Qty visible_total;  // sum of displayed slices
  Qty hidden_total;   // hidden orders plus iceberg reserves
  Index head, tail;   // displayed queue
  Index hhead, htail; // hidden queue
  std::uint32_t count;
};

// Data only a conditional order needs; kept off the hot node.
struct Conditional {
  Ticks price;       // limit price for StopLimit / LimitIfTouched, 0 otherwise (or protection)
  Ticks stop_px;
  Ticks peg_offset;  // trailing offset, 0 if not trailing
  std::uint8_t feed;
  bool rises;        // fires when the feed price >= stop_px (else when <= stop_px)
};

struct AccountList {
  Index head = kNil, tail = kNil;
  std::uint32_t count = 0;
};

struct OrderInfo {
  OrderId id;
  AccountId account;
  std::uint8_t side, ord_type, tif, flags;
  Ticks price;
  Qty leaves, visible, display;
  bool conditional, held;
  Ticks stop_px, peg_offset;
  std::uint8_t feed;
};

class OrderBook {
 public:
  explicit OrderBook(bool hold_triggered = false, std::size_t capacity = 1024);

  // The single entry point: per-call methods and batches both come through here. Returns
  // NONE or a 1xxx reason (nothing changed). `cmd_index` tags the events it emits.
  Reason apply(const Command& c, std::uint32_t cmd_index);
  // The per-call answer of the last apply(): the subject order's live leaves after an add,
  // amend or activate; the canceled leaves for a cancel; the count for a cancel-all.
  Qty result() const { return result_; }

  EventBuffer& events() { return events_; }

  // queries
  Ticks best_bid() const { return bids_.empty() ? 0 : levels_[bids_.back().second].price; }
  Ticks best_ask() const { return asks_.empty() ? 0 : levels_[asks_.back().second].price; }
  Ticks last_price(int feed) const { return feed_lo_[feed]; }
  // Walks the displayed quantity of `side`'s best `n` displayed levels (as depth() lists
  // them) until `qty` (> 0) is covered: returns the price of the level that covers it, or of the last
  // level walked (0 for a side without any), and leaves in `left` what the levels did not cover.
  Ticks sweep(int side, Qty qty, std::size_t n, Qty& left) const;
  void depth(std::size_t n, std::vector<std::pair<Ticks, Qty>>& bids,
             std::vector<std::pair<Ticks, Qty>>& asks) const;
  // depth() of one side into caller-owned arrays of at least `n` entries; returns the count.
  std::size_t side_depth(int side, std::size_t n, Ticks* prices, Qty* qtys) const;
  std::vector<Order> level_orders(int side, Ticks price) const;
  bool order_info(OrderId id, OrderInfo& out) const;
  std::vector<OrderId> account_orders(AccountId a) const;
  std::size_t order_count() const { return resting_; }
  std::size_t conditional_count() const { return cond_.size(); }
  std::size_t level_count(int side) const { return side == BUY ? bids_.size() : asks_.size(); }
  std::uint32_t account_order_count(AccountId a) const;
  bool hold_triggered() const { return hold_; }

  // Canonical serialization (little-endian, field by field) and its 64-bit hash.
  std::string dump() const;
  static bool load(const std::string& data, OrderBook& out, std::string& error);
  std::uint64_t state_hash() const;
  // Empty string when every invariant holds, else the first broken rule.
  std::string check_invariants() const;

 private:
  // (key, level) with key = price for bids and -price for asks: both sides ascend by key and the
  // best level is at the back, so the busy end of the book moves by push/pop and short shifts.
  using LevelVec = std::vector<std::pair<Ticks, Index>>;

  Reason validate(const Command& c) const;
  Reason validate_add(const Command& c) const;
  Reason validate_amend(const Command& c) const;
  void do_add(const Command& c);
  void do_cancel(const Command& c);
  void do_amend(const Command& c);
  void do_cancel_all(AccountId a);
  Qty cancel_one(Index node, Reason reason);  // any live order: returns the canceled leaves
  void do_set_price(int feed, Ticks lo, Ticks hi);
  void do_activate(const Command& c);

  // matching
  Qty available_to(int side, Ticks limit, bool limited, Qty need) const;
  void match(Index taker, int side, Ticks limit, bool limited);
  bool fill(Index taker, Index maker, Qty q, Ticks px);  // true when the maker is done
  void refresh_slice(Index maker, Level& lv);            // an iceberg's next displayed slice
  void execute_incoming(Index node, Ticks price, bool is_market, Ticks protect);
  void rest(Index node, Ticks price);
  void take_off_book(Index node);  // unlink a resting order, fix totals, drop an empty level
  void push_level_back(Index node, Level& lv);

  // levels
  Index find_or_add_level(int side, Ticks price);
  void remove_level(int side, Index li);
  static Ticks level_key(int side, Ticks price) { return side == BUY ? price : -price; }
  // The index of the first level whose key is >= key (v.size() if none).
  static std::size_t position(const LevelVec& v, Ticks key);
  LevelVec& side_vec(int side) { return side == BUY ? bids_ : asks_; }
  const LevelVec& side_vec(int side) const { return side == BUY ? bids_ : asks_; }

  // nodes and bookkeeping
  Index alloc_node();
  void free_node(Index node);
  void account_link(Index node);
  void account_unlink(Index node);
  void forget(Index node);  // unlink from account list and id map, free

  // triggers
  using TriggerKey = std::pair<Ticks, OrderId>;  // rises: (stop, id); falls: (-stop, id)
  std::set<TriggerKey>& trig_set(int feed, bool rises) { return trig_[feed][rises ? 0 : 1]; }
  void trigger_insert(OrderId id, const Conditional& cd);
  void trigger_erase(OrderId id, const Conditional& cd);
  void ratchet_trailing(int feed);
  void run_triggers(int feed);
  void fire(OrderId id);
  void start_live(Index node, const Conditional& cd, Qty qty);

  void emit(std::uint8_t type, const Order& o, Reason reason, Ticks price, Qty qty);

  bool hold_;
  std::vector<Order> nodes_;
  Index free_head_ = kNil;
  std::vector<Level> levels_;
  std::vector<Index> free_levels_;
  LevelVec bids_, asks_;
  OpenMap<Index> ids_;
  OpenMap<std::uint32_t> acct_index_;  // account -> its slot in acct_lists_ (never removed)
  std::vector<AccountList> acct_lists_;
  const AccountList* account_list(AccountId a) const {
    const std::uint32_t* slot = acct_index_.find(a);
    return slot ? &acct_lists_[*slot] : nullptr;
  }
  std::map<OrderId, Conditional> cond_;  // few, and iterated in id order for dumps
  std::set<TriggerKey> trig_[kFeedCount][2];
  std::set<OrderId> trailing_[kFeedCount];
  Ticks feed_lo_[kFeedCount] = {0, 0, 0};
  Ticks feed_hi_[kFeedCount] = {0, 0, 0};
  OrderId last_id_ = 0;
  std::size_t resting_ = 0;
  EventBuffer events_;
  std::uint32_t cmd_ = 0;
  Qty result_ = 0;
  OrderId subject_id_ = 0;  // the order the current command is about
  bool traded_ = false;  // a fill happened in the current command
  bool fired_ = false;   // a conditional order triggered in the current command
  mutable Index subject_ = kNil;  // the order a validated cancel found, so it is looked up once
};

}  // namespace perpex::core
