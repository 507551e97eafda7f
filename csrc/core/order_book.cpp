// Commands and matching of the native book. Queries, serialization and invariant checks live in
// book_state.cpp.
#include "order_book.hpp"

#include <algorithm>
#include <cstring>

#include "order_book_inl.hpp"

namespace perpex::core {

namespace {

constexpr bool is_conditional_type(std::uint8_t t) {
  return t == STOP || t == STOP_LIMIT || t == MARKET_IF_TOUCHED || t == LIMIT_IF_TOUCHED;
}
constexpr bool is_market_type(std::uint8_t t) {
  return t == MARKET || t == STOP || t == MARKET_IF_TOUCHED;
}
// Stops fire as the price moves against the position they protect; if-touched orders as it
// moves in favour.
constexpr bool trigger_rises(std::uint8_t side, std::uint8_t t) {
  bool stop = (t == STOP || t == STOP_LIMIT);
  return stop ? side == BUY : side == SELL;
}
constexpr bool crosses(int taker_side, Ticks level_price, Ticks limit) {
  return taker_side == BUY ? level_price <= limit : level_price >= limit;
}

}  // namespace

OrderBook::OrderBook(bool hold_triggered, std::size_t capacity)
    : hold_(hold_triggered), ids_(capacity), acct_index_(64) {
  nodes_.reserve(capacity);
  levels_.reserve(256);
  bids_.reserve(256);
  asks_.reserve(256);
  events_.reserve(256);
}

// ---------------------------------------------------------------------------------------------
// validation: everything is checked before anything mutates

Reason OrderBook::validate(const Command& c) const {
  switch (c.op) {
    case OP_ADD:
      return validate_add(c);
    case OP_CANCEL: {
      const Index* n = ids_.find(c.order_id);
      if (!n) return Reason::UNKNOWN_ORDER;
      if ((c.mask & MASK_ACCOUNT) && nodes_[*n].account != c.account) return Reason::UNKNOWN_ORDER;
      subject_ = *n;
      return Reason::NONE;
    }
    case OP_AMEND:
      return validate_amend(c);
    case OP_CANCEL_ALL:
      return Reason::NONE;
    case OP_SET_PRICE: {
      if (c.trigger >= kFeedCount) return Reason::INVALID_FEED;
      if (c.price <= 0 || c.price > kMaxTicks) return Reason::INVALID_PRICE;
      Ticks hi = c.stop_px == 0 ? c.price : c.stop_px;
      if (hi < c.price || hi > kMaxTicks) return Reason::INVALID_STOP_PX;
      return Reason::NONE;
    }
    case OP_ACTIVATE: {
      const Index* n = ids_.find(c.order_id);
      if (!n) return Reason::UNKNOWN_ORDER;
      if ((c.mask & MASK_ACCOUNT) && nodes_[*n].account != c.account) return Reason::UNKNOWN_ORDER;
      if (!(nodes_[*n].flags & FLAG_HELD)) return Reason::NOT_HELD;
      if (c.qty <= 0 || c.qty > nodes_[*n].leaves) return Reason::INVALID_QTY;
      return Reason::NONE;
    }
    default:
      return Reason::INVALID_OP;
  }
}

PERPEX_INLINE Reason OrderBook::validate_add(const Command& c) const {
  // Ids only grow, so a new id can never be live: no index probe is needed.
  if (c.order_id == 0 || c.order_id <= last_id_ || c.order_id == OpenMap<Index>::kEmpty)
    return Reason::DUPLICATE_ORDER_ID;
  // Most adds are plain displayed limit or market orders: the same checks in the same order as
  // the general path below, without the ones that cannot fail for them.
  if ((c.ord_type == LIMIT || c.ord_type == MARKET) && c.flags == 0 && c.display_qty == -1 &&
      (c.stop_px | c.peg_offset) == 0 && c.side <= SELL && c.tif <= FOK) {
    if (c.qty <= 0 || c.qty > kMaxQty) return Reason::INVALID_QTY;
    if (ids_.size() >= kMaxOrders) return Reason::OVERFLOW;
    if (c.price > kMaxTicks || c.price < (c.ord_type == LIMIT ? 1 : 0)) return Reason::INVALID_PRICE;
    Qty notional;
    if (__builtin_mul_overflow(c.price, c.qty, &notional)) return Reason::OVERFLOW;
    return Reason::NONE;
  }
  if (c.side > SELL) return Reason::INVALID_SIDE;
  if (c.ord_type > LIMIT_IF_TOUCHED) return Reason::INVALID_ORD_TYPE;
  if (c.tif > FOK) return Reason::INVALID_TIF;
  if (c.flags & ~FLAG_PUBLIC_MASK) return Reason::INVALID_FLAGS;
  if (c.qty <= 0 || c.qty > kMaxQty) return Reason::INVALID_QTY;
  if (ids_.size() >= kMaxOrders) return Reason::OVERFLOW;
  const bool market = is_market_type(c.ord_type);
  const bool cond = is_conditional_type(c.ord_type);
  // For market-type orders `price` is the optional protection price (0 = none).
  if (market ? (c.price < 0 || c.price > kMaxTicks) : (c.price <= 0 || c.price > kMaxTicks))
    return Reason::INVALID_PRICE;
  Qty notional;
  if (__builtin_mul_overflow(std::max(c.price, c.stop_px), c.qty, &notional))
    return Reason::OVERFLOW;
  if (c.display_qty < -1 || (c.display_qty >= 0 && market)) return Reason::INVALID_DISPLAY_QTY;
  if ((c.flags & FLAG_POST_ONLY) && (market || c.tif != GTC)) return Reason::INVALID_FLAGS;
  const bool trailing = c.flags & FLAG_TRAILING;
  if (!cond) {
    if (trailing) return Reason::INVALID_FLAGS;
    if (c.stop_px != 0) return Reason::INVALID_STOP_PX;
    if (c.peg_offset != 0) return Reason::INVALID_PEG_OFFSET;
    return Reason::NONE;
  }
  if (c.trigger >= kFeedCount) return Reason::INVALID_FEED;
  if (!trailing) {
    if (c.stop_px <= 0 || c.stop_px > kMaxTicks) return Reason::INVALID_STOP_PX;
    if (c.peg_offset != 0) return Reason::INVALID_PEG_OFFSET;
    return Reason::NONE;
  }
  if (c.stop_px != 0) return Reason::INVALID_STOP_PX;  // a trailing stop derives its own
  const bool rises = trigger_rises(c.side, c.ord_type);
  if (rises ? c.peg_offset <= 0 : c.peg_offset >= 0) return Reason::INVALID_PEG_OFFSET;
  if (c.peg_offset > kMaxTicks || c.peg_offset < -kMaxTicks) return Reason::INVALID_PEG_OFFSET;
  Ticks ref = rises ? feed_hi_[c.trigger] : feed_lo_[c.trigger];
  if (ref != 0 && (ref + c.peg_offset <= 0 || ref + c.peg_offset > kMaxTicks))
    return Reason::INVALID_PEG_OFFSET;
  return Reason::NONE;
}

Reason OrderBook::validate_amend(const Command& c) const {
  const Index* n = ids_.find(c.order_id);
  if (!n) return Reason::UNKNOWN_ORDER;
  const Order& o = nodes_[*n];
  if ((c.mask & MASK_ACCOUNT) && o.account != c.account) return Reason::UNKNOWN_ORDER;
  if (!(c.mask & (MASK_QTY | MASK_PRICE | MASK_STOP_PX | MASK_PEG_OFFSET)))
    return Reason::NOTHING_TO_AMEND;
  if ((c.mask & MASK_QTY) && (c.qty <= 0 || c.qty > kMaxQty)) return Reason::INVALID_QTY;
  if ((c.mask & MASK_PRICE) && (c.price <= 0 || c.price > kMaxTicks)) return Reason::INVALID_PRICE;
  if (o.flags & FLAG_HELD) return Reason::NOT_AMENDABLE;
  const bool cond = o.flags & FLAG_CONDITIONAL;
  if (!cond) {
    if (c.mask & (MASK_STOP_PX | MASK_PEG_OFFSET)) return Reason::NOT_AMENDABLE;
    Ticks price = (c.mask & MASK_PRICE) ? c.price : levels_[o.level].price;
    Qty qty = (c.mask & MASK_QTY) ? c.qty : o.leaves;
    Qty notional;
    if (__builtin_mul_overflow(price, qty, &notional)) return Reason::OVERFLOW;
    return Reason::NONE;
  }
  const Conditional& cd = cond_.at(o.id);
  const bool trailing = o.flags & FLAG_TRAILING;
  if ((c.mask & MASK_PRICE) && is_market_type(o.ord_type)) return Reason::NOT_AMENDABLE;
  if (c.mask & MASK_STOP_PX) {
    if (trailing) return Reason::NOT_AMENDABLE;
    if (c.stop_px <= 0 || c.stop_px > kMaxTicks) return Reason::INVALID_STOP_PX;
  }
  if (c.mask & MASK_PEG_OFFSET) {
    if (!trailing) return Reason::NOT_AMENDABLE;
    if (cd.rises ? c.peg_offset <= 0 : c.peg_offset >= 0) return Reason::INVALID_PEG_OFFSET;
    Ticks ref = cd.rises ? feed_hi_[cd.feed] : feed_lo_[cd.feed];
    if (c.peg_offset > kMaxTicks || c.peg_offset < -kMaxTicks || ref + c.peg_offset <= 0 ||
        ref + c.peg_offset > kMaxTicks)
      return Reason::INVALID_PEG_OFFSET;
  }
  Ticks price = (c.mask & MASK_PRICE) ? c.price : cd.price;
  Ticks stop = (c.mask & MASK_STOP_PX) ? c.stop_px : cd.stop_px;
  Qty qty = (c.mask & MASK_QTY) ? c.qty : o.leaves;
  Qty notional;
  if (__builtin_mul_overflow(std::max(price, stop), qty, &notional)) return Reason::OVERFLOW;
  return Reason::NONE;
}

// ---------------------------------------------------------------------------------------------
// dispatch

Reason OrderBook::apply(const Command& c, std::uint32_t cmd_index) {
  Reason r = validate(c);
  if (r != Reason::NONE) return r;
  cmd_ = cmd_index;
  traded_ = false;
  fired_ = false;
  result_ = 0;
  subject_id_ = c.order_id;
  switch (c.op) {
    case OP_ADD: do_add(c); break;
    case OP_CANCEL: do_cancel(c); break;
    case OP_AMEND: do_amend(c); break;
    case OP_CANCEL_ALL: do_cancel_all(c.account); break;
    case OP_SET_PRICE: do_set_price(c.trigger, c.price, c.stop_px == 0 ? c.price : c.stop_px); break;
    case OP_ACTIVATE: do_activate(c); break;
    default: break;
  }
  // Trades move the last price; conditional orders on it fire after the command's matching.
  if (traded_) {
    run_triggers(FEED_LAST);
    // Orders fired by the trades may have traded with the command's own order.
    if (fired_ && (c.op == OP_ADD || c.op == OP_AMEND || c.op == OP_ACTIVATE)) {
      const Index* m = ids_.find(c.order_id);
      result_ = m ? nodes_[*m].leaves : 0;
    }
  }
  return Reason::NONE;
}

void OrderBook::do_add(const Command& c) {
  last_id_ = c.order_id;
  Index n = alloc_node();
  Order& o = nodes_[n];
  o.id = c.order_id;
  o.leaves = c.qty;
  o.visible = 0;
  o.display = c.display_qty;
  o.prev = o.next = o.level = kNil;
  o.account = c.account;
  o.side = c.side;
  o.flags = c.flags;
  o.tif = c.tif;
  o.ord_type = c.ord_type;
  ids_.put(o.id, n);
  account_link(n);

  if (!is_conditional_type(c.ord_type)) {
    // Events show a market order's price as 0; its protection price is not a limit.
    emit(EV_ACCEPTED, nodes_[n], Reason::NONE, c.ord_type == MARKET ? 0 : c.price, c.qty);
    execute_incoming(n, c.price, c.ord_type == MARKET, c.price);
    return;
  }
  Conditional cd{c.price, c.stop_px, c.peg_offset, c.trigger, trigger_rises(c.side, c.ord_type)};
  if (o.flags & FLAG_TRAILING) {
    Ticks ref = cd.rises ? feed_hi_[cd.feed] : feed_lo_[cd.feed];
    if (ref == 0) {
      o.leaves = 0;
      emit(EV_REJECTED, o, Reason::NO_REFERENCE_PRICE, 0, c.qty);
      forget(n);
      return;
    }
    cd.stop_px = ref + cd.peg_offset;
    trailing_[cd.feed].insert(o.id);
  }
  o.flags |= FLAG_CONDITIONAL;
  cond_.emplace(o.id, cd);
  trigger_insert(o.id, cd);
  emit(EV_ACCEPTED, o, Reason::UNTRIGGERED, cd.stop_px, c.qty);
  result_ = c.qty;
  run_triggers(cd.feed);  // already through its stop: fires at once
  if (const Index* m = ids_.find(c.order_id)) result_ = nodes_[*m].leaves; else result_ = 0;
}

PERPEX_INLINE Qty OrderBook::cancel_one(Index n, Reason reason) {
  Order& o = nodes_[n];
  const Qty leaves = o.leaves;
  Ticks price;
  if (o.flags & FLAG_CONDITIONAL) {
    auto it = cond_.find(o.id);
    price = it->second.stop_px;
    if (!(o.flags & FLAG_HELD)) trigger_erase(o.id, it->second);
    trailing_[it->second.feed].erase(o.id);
    cond_.erase(it);
  } else {
    price = levels_[o.level].price;
    take_off_book(n);
  }
  o.leaves = 0;
  emit(EV_CANCELED, o, reason, price, leaves);
  forget(n);
  return leaves;
}

void OrderBook::do_cancel(const Command&) { result_ = cancel_one(subject_, Reason::USER_CANCEL); }

void OrderBook::do_cancel_all(AccountId a) {
  const AccountList* al = account_list(a);
  Qty count = 0;
  for (Index n = al ? al->head : kNil; n != kNil; ++count) {
    const Index next = nodes_[n].acct_next;  // read before the node is freed
    cancel_one(n, Reason::CANCEL_ALL);
    n = next;
  }
  result_ = count;
}

void OrderBook::do_amend(const Command& c) {
  Index n = *ids_.find(c.order_id);
  Order& o = nodes_[n];
  if (o.flags & FLAG_CONDITIONAL) {
    auto it = cond_.find(o.id);
    Conditional& cd = it->second;
    trigger_erase(o.id, cd);
    if (c.mask & MASK_QTY) o.leaves = c.qty;
    if (c.mask & MASK_PRICE) cd.price = c.price;
    if (c.mask & MASK_STOP_PX) cd.stop_px = c.stop_px;
    if (c.mask & MASK_PEG_OFFSET) {
      cd.peg_offset = c.peg_offset;
      cd.stop_px = (cd.rises ? feed_hi_[cd.feed] : feed_lo_[cd.feed]) + cd.peg_offset;
    }
    trigger_insert(o.id, cd);
    emit(EV_AMENDED, o, Reason::NONE, cd.stop_px, o.leaves);
    OrderId id = o.id;
    run_triggers(cd.feed);
    const Index* m = ids_.find(id);
    result_ = m ? nodes_[*m].leaves : 0;
    return;
  }
  Level& lv = levels_[o.level];
  const Ticks old_price = lv.price;
  const Ticks price = (c.mask & MASK_PRICE) ? c.price : old_price;
  const Qty leaves = (c.mask & MASK_QTY) ? c.qty : o.leaves;
  if (price == old_price && leaves <= o.leaves) {
    // Shrinking in place keeps time priority.
    Qty visible = o.display == 0 ? 0 : std::min(o.visible, leaves);
    if (o.display < 0) visible = leaves;
    lv.visible_total -= o.visible - visible;
    lv.hidden_total -= (o.leaves - o.visible) - (leaves - visible);
    o.leaves = leaves;
    o.visible = visible;
    emit(EV_AMENDED, o, Reason::NONE, price, leaves);
    result_ = leaves;
    return;
  }
  take_off_book(n);
  o.leaves = leaves;
  emit(EV_AMENDED, o, Reason::NONE, price, leaves);
  execute_incoming(n, price, false, 0);
}

void OrderBook::do_set_price(int feed, Ticks lo, Ticks hi) {
  feed_lo_[feed] = lo;
  feed_hi_[feed] = hi;
  run_triggers(feed);
}

void OrderBook::do_activate(const Command& c) {
  Index n = *ids_.find(c.order_id);
  Order& o = nodes_[n];
  auto it = cond_.find(o.id);
  Conditional cd = it->second;
  cond_.erase(it);
  if (c.qty < o.leaves) {
    o.leaves = c.qty;
    emit(EV_AMENDED, o, Reason::NONE, cd.stop_px, c.qty);
  }
  start_live(n, cd, c.qty);
}

// ---------------------------------------------------------------------------------------------
// matching

Qty OrderBook::available_to(int side, Ticks limit, bool limited, Qty need) const {
  const LevelVec& opp = side_vec(side == BUY ? SELL : BUY);
  Qty total = 0;
  for (auto it = opp.rbegin(); it != opp.rend() && total < need; ++it) {
    const Level& lv = levels_[it->second];
    if (limited && !crosses(side, lv.price, limit)) break;
    total += lv.visible_total + lv.hidden_total;
  }
  return total;
}

void OrderBook::execute_incoming(Index n, Ticks price, bool is_market, Ticks protect) {
  const int side = nodes_[n].side;
  const LevelVec& opp = side_vec(side == BUY ? SELL : BUY);
  const bool limited = !is_market || protect > 0;
  const Ticks limit = is_market ? protect : price;
  if (is_market) price = 0;  // as shown in events
  if (!is_market && (nodes_[n].flags & FLAG_POST_ONLY) && !opp.empty() &&
      crosses(side, levels_[opp.back().second].price, limit)) {
    Qty leaves = nodes_[n].leaves;
    nodes_[n].leaves = 0;
    emit(EV_CANCELED, nodes_[n], Reason::POST_ONLY, price, leaves);
    forget(n);
    return;
  }
  if (nodes_[n].tif == FOK && available_to(side, limit, limited, nodes_[n].leaves) < nodes_[n].leaves) {
    Qty leaves = nodes_[n].leaves;
    nodes_[n].leaves = 0;
    emit(EV_CANCELED, nodes_[n], Reason::FOK, price, leaves);
    forget(n);
    return;
  }
  match(n, side, limit, limited);
  Order& o = nodes_[n];
  if (o.leaves == 0) {
    forget(n);
    return;
  }
  if (is_market || o.tif != GTC) {
    Reason why = Reason::IOC;
    if (is_market) why = (protect > 0 && !opp.empty()) ? Reason::PROTECTION_PRICE : Reason::NO_LIQUIDITY;
    Qty leaves = o.leaves;
    o.leaves = 0;
    emit(EV_CANCELED, o, why, price, leaves);
    forget(n);
    return;
  }
  rest(n, price);
  // Triggered orders also pass through here; only the command's own order answers the call.
  if (nodes_[n].id == subject_id_) result_ = nodes_[n].leaves;
}

void OrderBook::match(Index t, int side, Ticks limit, bool limited) {
  LevelVec& opp = side_vec(side == BUY ? SELL : BUY);
  while (nodes_[t].leaves > 0 && !opp.empty()) {
    Level& lv = levels_[opp.back().second];
    if (limited && !crosses(side, lv.price, limit)) break;
    const Ticks px = lv.price;
    // A level reached here always trades at least once. When its last order goes, the level is
    // freed but not reused before this iteration ends, and both its queues read empty.
    traded_ = true;
    feed_lo_[FEED_LAST] = feed_hi_[FEED_LAST] = px;
    // Displayed quantity first, in time priority; icebergs refresh at the back.
    while (nodes_[t].leaves > 0 && lv.head != kNil) {
      const Index m = lv.head;
      const Qty q = std::min(nodes_[t].leaves, nodes_[m].visible);
      nodes_[m].visible -= q;
      lv.visible_total -= q;
      if (!fill(t, m, q, px) && nodes_[m].visible == 0) refresh_slice(m, lv);
    }
    while (nodes_[t].leaves > 0 && lv.hhead != kNil) {
      const Index m = lv.hhead;
      const Qty q = std::min(nodes_[t].leaves, nodes_[m].leaves);
      lv.hidden_total -= q;
      fill(t, m, q, px);
    }
  }
}

PERPEX_INLINE bool OrderBook::fill(Index t, Index m, Qty q, Ticks px) {
  Order& taker = nodes_[t];
  Order& maker = nodes_[m];
  maker.leaves -= q;
  taker.leaves -= q;
  events_.push() = Event{EV_FILL, taker.side, 0, cmd_, taker.id, maker.id, taker.account,
                         maker.account, px, q, taker.leaves, maker.leaves};
  if (maker.leaves > 0) return false;
  take_off_book(m);  // frees the level once it is empty
  forget(m);
  return true;
}

PERPEX_INLINE void OrderBook::refresh_slice(Index m, Level& lv) {
  Order& mo = nodes_[m];
  const Qty slice = std::min(mo.display, mo.leaves);
  lv.head = mo.next;
  if (lv.head != kNil) nodes_[lv.head].prev = kNil; else lv.tail = kNil;
  mo.visible = slice;
  lv.visible_total += slice;
  lv.hidden_total -= slice;
  push_level_back(m, lv);
}

PERPEX_INLINE void OrderBook::rest(Index n, Ticks price) {
  const Index li = find_or_add_level(nodes_[n].side, price);
  Level& lv = levels_[li];
  Order& o = nodes_[n];
  o.level = li;
  if (o.display == 0) o.visible = 0;
  else if (o.display < 0) o.visible = o.leaves;
  else o.visible = std::min(o.display, o.leaves);
  lv.visible_total += o.visible;
  lv.hidden_total += o.leaves - o.visible;
  push_level_back(n, lv);
  ++lv.count;
  ++resting_;
}

PERPEX_INLINE void OrderBook::take_off_book(Index n) {
  Order& o = nodes_[n];
  const Index li = o.level;
  Level& lv = levels_[li];
  Index& head = o.display == 0 ? lv.hhead : lv.head;
  Index& tail = o.display == 0 ? lv.htail : lv.tail;
  if (o.prev != kNil) nodes_[o.prev].next = o.next; else head = o.next;
  if (o.next != kNil) nodes_[o.next].prev = o.prev; else tail = o.prev;
  lv.visible_total -= o.visible;
  lv.hidden_total -= o.leaves - o.visible;
  o.prev = o.next = o.level = kNil;
  --lv.count;
  --resting_;
  if (lv.count == 0) remove_level(o.side, li);
}

// ---------------------------------------------------------------------------------------------
// levels: a sorted vector per side with the best price at the back, so the busy end of the book
// is touched by push/pop and short moves.

Index OrderBook::find_or_add_level(int side, Ticks price) {
  LevelVec& v = side_vec(side);
  const Ticks k = level_key(side, price);
  const std::size_t i = position(v, k);
  if (i < v.size() && v[i].first == k) return v[i].second;
  Index li;
  if (!free_levels_.empty()) {
    li = free_levels_.back();
    free_levels_.pop_back();
  } else {
    li = static_cast<Index>(levels_.size());
    levels_.push_back(Level{});
  }
  levels_[li] = Level{price, 0, 0, kNil, kNil, kNil, kNil, 0};
  // Open a slot at i by hand: vector::insert's general path costs more than the short shift.
  v.emplace_back();
  std::memmove(static_cast<void*>(&v[i + 1]), &v[i], (v.size() - 1 - i) * sizeof(v[0]));
  v[i] = {k, li};
  return li;
}

void OrderBook::remove_level(int side, Index li) {
  LevelVec& v = side_vec(side);
  if (!v.empty() && v.back().second == li) {
    v.pop_back();
  } else {
    const std::size_t i = position(v, level_key(side, levels_[li].price));
    std::memmove(static_cast<void*>(&v[i]), &v[i + 1], (v.size() - 1 - i) * sizeof(v[0]));
    v.pop_back();
  }
  free_levels_.push_back(li);
}

// ---------------------------------------------------------------------------------------------
// nodes

PERPEX_INLINE void OrderBook::free_node(Index n) {
  nodes_[n].next = free_head_;
  nodes_[n].level = kNil;
  free_head_ = n;
}

PERPEX_INLINE void OrderBook::account_unlink(Index n) {
  Order& o = nodes_[n];
  AccountList* al = &acct_lists_[o.acct_slot];
  if (o.acct_prev != kNil) nodes_[o.acct_prev].acct_next = o.acct_next; else al->head = o.acct_next;
  if (o.acct_next != kNil) nodes_[o.acct_next].acct_prev = o.acct_prev; else al->tail = o.acct_prev;
  --al->count;
}

PERPEX_INLINE void OrderBook::forget(Index n) {
  account_unlink(n);
  ids_.erase(nodes_[n].id);
  free_node(n);
}

// ---------------------------------------------------------------------------------------------
// triggers

void OrderBook::trigger_insert(OrderId id, const Conditional& cd) {
  trig_set(cd.feed, cd.rises).insert(cd.rises ? TriggerKey{cd.stop_px, id} : TriggerKey{-cd.stop_px, id});
}

void OrderBook::trigger_erase(OrderId id, const Conditional& cd) {
  trig_set(cd.feed, cd.rises).erase(cd.rises ? TriggerKey{cd.stop_px, id} : TriggerKey{-cd.stop_px, id});
}

void OrderBook::ratchet_trailing(int feed) {
  // Trailing stops only ever move in the holder's favour: away from the trigger side.
  for (OrderId id : trailing_[feed]) {
    auto it = cond_.find(id);
    Conditional& cd = it->second;
    Ticks cand = cd.rises ? feed_hi_[feed] + cd.peg_offset : feed_lo_[feed] + cd.peg_offset;
    if (cd.rises ? cand < cd.stop_px : cand > cd.stop_px) {
      trigger_erase(id, cd);
      cd.stop_px = cand;
      trigger_insert(id, cd);
    }
  }
}

void OrderBook::run_triggers(int feed) {
  // Trailing stops sit in the trigger sets too, so two empty sets mean nothing to do.
  if (feed_lo_[feed] == 0 || (trig_[feed][0].empty() && trig_[feed][1].empty())) return;
  for (;;) {
    ratchet_trailing(feed);
    auto& up = trig_set(feed, true);
    auto& down = trig_set(feed, false);
    if (!up.empty() && up.begin()->first <= feed_lo_[feed]) {
      fire(up.begin()->second);
    } else if (!down.empty() && -down.begin()->first >= feed_hi_[feed]) {
      fire(down.begin()->second);
    } else {
      break;
    }
  }
}

void OrderBook::fire(OrderId id) {
  const Index n = *ids_.find(id);
  auto it = cond_.find(id);
  Conditional cd = it->second;
  trigger_erase(id, cd);
  trailing_[cd.feed].erase(id);
  Order& o = nodes_[n];
  fired_ = true;
  emit(EV_TRIGGERED, o, Reason::NONE, cd.stop_px, o.leaves);
  if (hold_) {
    o.flags |= FLAG_HELD;
    return;
  }
  cond_.erase(it);
  start_live(n, cd, o.leaves);
}

void OrderBook::start_live(Index n, const Conditional& cd, Qty qty) {
  Order& o = nodes_[n];
  o.leaves = qty;
  o.flags &= static_cast<std::uint8_t>(~(FLAG_CONDITIONAL | FLAG_HELD));
  const bool market = is_market_type(o.ord_type);
  execute_incoming(n, cd.price, market, market ? cd.price : 0);
}

PERPEX_INLINE void OrderBook::emit(std::uint8_t type, const Order& o, Reason reason, Ticks price, Qty qty) {
  events_.push() = Event{type, o.side, static_cast<std::uint16_t>(reason), cmd_, o.id, 0, o.account, 0,
                         price, qty, o.leaves, 0};
}

}  // namespace perpex::core
