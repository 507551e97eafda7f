// Core vocabulary of the native book: units, enums, and the fixed 64-byte command and event
// records shared by the per-call and batch entry points.
#pragma once

#include <cstddef>
#include <cstdint>

namespace perpex::core {

using Ticks = std::int64_t;      // price in integer ticks, > 0
using Qty = std::int64_t;        // integer contracts, > 0
using OrderId = std::uint64_t;   // engine-assigned, strictly increasing per book
using AccountId = std::uint32_t;
using Index = std::uint32_t;     // slot in a pool; kNil = none

inline constexpr Index kNil = 0xFFFFFFFFu;
// Prices and quantities stay well inside int64 so level totals and notionals can be checked
// with plain overflow builtins.
inline constexpr Ticks kMaxTicks = Ticks{1} << 53;
inline constexpr Qty kMaxQty = Qty{1} << 40;
// With at most kMaxOrders nodes of at most kMaxQty each, level totals cannot overflow int64.
inline constexpr std::size_t kMaxOrders = (std::size_t{1} << 23) - 1;

enum Side : std::uint8_t { BUY = 0, SELL = 1 };
enum OrdType : std::uint8_t {
  LIMIT = 0, MARKET = 1, STOP = 2, STOP_LIMIT = 3, MARKET_IF_TOUCHED = 4, LIMIT_IF_TOUCHED = 5
};
enum Tif : std::uint8_t { GTC = 0, IOC = 1, FOK = 2 };
enum Flag : std::uint8_t {
  FLAG_POST_ONLY = 1, FLAG_REDUCE_ONLY = 2, FLAG_CLOSE = 4, FLAG_TRAILING = 8,
  FLAG_PUBLIC_MASK = 15,
  // internal: the node is a conditional order (untriggered, or triggered and held)
  FLAG_CONDITIONAL = 64, FLAG_HELD = 128,
};
enum Feed : std::uint8_t { FEED_LAST = 0, FEED_MARK = 1, FEED_INDEX = 2, kFeedCount = 3 };
enum Op : std::uint8_t {
  OP_ADD = 1, OP_CANCEL = 2, OP_AMEND = 3, OP_CANCEL_ALL = 4, OP_SET_PRICE = 5, OP_ACTIVATE = 6
};
enum Mask : std::uint8_t {
  MASK_QTY = 1, MASK_PRICE = 2, MASK_STOP_PX = 4, MASK_PEG_OFFSET = 8, MASK_ACCOUNT = 16
};
enum EventType : std::uint8_t {
  EV_ACCEPTED = 1, EV_FILL = 2, EV_CANCELED = 3, EV_AMENDED = 4, EV_TRIGGERED = 5,
  EV_REJECTED = 6
};

// Grouped by range: 1xxx malformed input (nothing changes; raised or reported per batch row),
// 3xxx matching outcomes carried by events.
enum class Reason : std::uint16_t {
  NONE = 0,
  UNTRIGGERED = 1,
  INVALID_OP = 1000,
  INVALID_SIDE = 1001,
  INVALID_ORD_TYPE = 1002,
  INVALID_TIF = 1003,
  INVALID_PRICE = 1004,
  INVALID_QTY = 1005,
  INVALID_DISPLAY_QTY = 1006,
  DUPLICATE_ORDER_ID = 1007,
  UNKNOWN_ORDER = 1008,
  OVERFLOW = 1009,
  INVALID_FLAGS = 1010,
  INVALID_FEED = 1011,
  INVALID_STOP_PX = 1012,
  INVALID_PEG_OFFSET = 1013,
  NOT_AMENDABLE = 1014,
  NOTHING_TO_AMEND = 1015,
  NOT_HELD = 1016,
  USER_CANCEL = 3000,
  FOK = 3001,
  POST_ONLY = 3002,
  IOC = 3003,
  NO_LIQUIDITY = 3004,
  PROTECTION_PRICE = 3005,
  CANCEL_ALL = 3006,
  NO_REFERENCE_PRICE = 3007,
};

inline constexpr bool is_input_error(Reason r) {
  return static_cast<std::uint16_t>(r) >= 1000 && static_cast<std::uint16_t>(r) < 2000;
}

// One command record. Field meaning by op is documented in src/perpex/_native.pyi.
struct Command {
  std::uint8_t op;
  std::uint8_t side;
  std::uint8_t ord_type;
  std::uint8_t tif;
  std::uint8_t flags;
  std::uint8_t trigger;
  std::uint8_t mask;
  std::uint8_t pad0;
  AccountId account;
  std::uint32_t pad1;
  OrderId order_id;
  Ticks price;
  Qty qty;
  Qty display_qty;  // -1: fully displayed; 0: hidden; 0 < d < qty: iceberg
  Ticks stop_px;
  Ticks peg_offset;
};
static_assert(sizeof(Command) == 64, "Command must stay a 64-byte record");
static_assert(offsetof(Command, account) == 8 && offsetof(Command, order_id) == 16 &&
              offsetof(Command, peg_offset) == 56, "Command layout is part of the ABI");

struct Event {
  std::uint8_t type;
  std::uint8_t side;
  std::uint16_t reason;
  std::uint32_t cmd;
  OrderId order_id;
  OrderId maker_id;
  AccountId account;
  AccountId maker_account;
  Ticks price;
  Qty qty;
  Qty leaves;
  Qty maker_leaves;
};
static_assert(sizeof(Event) == 64, "Event must stay a 64-byte record");
static_assert(offsetof(Event, order_id) == 8 && offsetof(Event, price) == 32 &&
              offsetof(Event, maker_leaves) == 56, "Event layout is part of the ABI");

inline constexpr Command make_command(Op op) {
  Command c{};
  c.op = op;
  c.display_qty = -1;
  c.trigger = FEED_MARK;
  return c;
}

}  // namespace perpex::core
