// Translation of core reason codes into perpex.errors exceptions: the only place that does it.
#include <string>

#include "common.hpp"

namespace perpex::bindings {

using core::Reason;

void raise_error(const char* cls, const std::string& message) {
  py::object type = py::module_::import("perpex.errors").attr(cls);
  PyErr_SetObject(type.ptr(), py::str(message).ptr());
  throw py::error_already_set();
}

void raise_for(Reason r, const core::Command& c) {
  using std::to_string;
  const std::string id = "order_id=" + to_string(c.order_id);
  switch (r) {
    case Reason::INVALID_OP:
      raise_error("InvalidInputError", "op=" + to_string(c.op) + " is not one of OP_ADD..OP_ACTIVATE (1-6)");
    case Reason::INVALID_SIDE:
      raise_error("InvalidInputError", "side=" + to_string(c.side) + " must be BUY (0) or SELL (1)");
    case Reason::INVALID_ORD_TYPE:
      raise_error("InvalidInputError", "ord_type=" + to_string(c.ord_type) +
                  " must be one of LIMIT, MARKET, STOP, STOP_LIMIT, MARKET_IF_TOUCHED, LIMIT_IF_TOUCHED (0-5)");
    case Reason::INVALID_TIF:
      raise_error("InvalidInputError", "tif=" + to_string(c.tif) + " must be GTC (0), IOC (1) or FOK (2)");
    case Reason::INVALID_PRICE:
      if (c.op == core::OP_SET_PRICE)
        raise_error("InvalidPriceError", "trigger price=" + to_string(c.price) + " ticks must be > 0 and <= " +
                    to_string(core::kMaxTicks));
      raise_error("InvalidPriceError", "price=" + to_string(c.price) + " ticks must be > 0 (>= 0 as a market " +
                  "protection price) and <= " + to_string(core::kMaxTicks));
    case Reason::INVALID_QTY:
      raise_error("InvalidQuantityError", "qty=" + to_string(c.qty) + " must be > 0 and <= " +
                  to_string(core::kMaxQty) + (c.op == core::OP_ACTIVATE ? " and <= the order's leaves" : ""));
    case Reason::INVALID_DISPLAY_QTY:
      raise_error("InvalidQuantityError", "display_qty=" + to_string(c.display_qty) +
                  " must be -1 (fully displayed) or >= 0, and only limit-type orders may hide quantity");
    case Reason::DUPLICATE_ORDER_ID:
      raise_error("DuplicateOrderIdError", id + " must be > 0 and greater than every order id the book has seen");
    case Reason::UNKNOWN_ORDER:
      raise_error("UnknownOrderError", id + " is not a live order of this account");
    case Reason::OVERFLOW:
      raise_error("ArithmeticOverflowError", "notional price x qty = " + to_string(c.price) + " x " +
                  to_string(c.qty) + " overflows int64 (or the book is full)");
    case Reason::INVALID_FLAGS:
      raise_error("InvalidInputError", "flags=" + to_string(c.flags) +
                  " invalid: post-only needs a GoodTillCancel limit order, trailing needs a stop or if-touched type");
    case Reason::INVALID_FEED:
      raise_error("InvalidInputError", "trigger=" + to_string(c.trigger) + " must be FEED_LAST, FEED_MARK or FEED_INDEX (0-2)");
    case Reason::INVALID_STOP_PX:
      raise_error("InvalidPriceError", "stop_px=" + to_string(c.stop_px) +
                  " ticks must be > 0 for conditional orders and 0 otherwise (0 for trailing stops)");
    case Reason::INVALID_PEG_OFFSET:
      raise_error("InvalidPriceError", "peg_offset=" + to_string(c.peg_offset) +
                  " must be > 0 for stops that trigger on a rise, < 0 for those that trigger on a fall, "
                  "and keep the stop price > 0");
    case Reason::NOT_AMENDABLE:
      raise_error("InvalidInputError", id + ": that field cannot be amended on this order");
    case Reason::NOTHING_TO_AMEND:
      raise_error("InvalidInputError", id + ": amend needs at least one of qty, price, stop_px, peg_offset");
    case Reason::NOT_HELD:
      raise_error("InvalidInputError", id + " is not a held triggered order");
    default:
      raise_error("EngineError", "unexpected reason " + to_string(static_cast<int>(r)));
  }
}

}  // namespace perpex::bindings
