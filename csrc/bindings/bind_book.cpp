// OrderBook, the command/event record dtypes and the constants.
#include <cstring>
#include <memory>
#include <optional>

#include "native_book.hpp"

using namespace perpex::core;

namespace perpex::bindings {

namespace {

// Keeps per-call methods out while a batch runs without the GIL.
struct BusyGuard {
  explicit BusyGuard(bool& flag) : flag_(flag) { flag_ = true; }
  ~BusyGuard() { flag_ = false; }
  bool& flag_;
};

struct SwapBack {
  EventBuffer& a;
  EventBuffer& b;
  ~SwapBack() { a.swap(b); }
};

// A 1-D, C-contiguous array of one record type, or the matching perpex.errors exception.
template <typename T>
py::array records(const py::object& obj, const char* name, const char* dtype_name) {
  if (!py::isinstance<py::array>(obj))
    raise_error("InvalidInputError", std::string(name) + " must be a numpy array of " + dtype_name);
  py::array arr = obj.cast<py::array>();
  if (!arr.dtype().equal(py::dtype::of<T>())) {
    PyErr_SetString(PyExc_TypeError, (std::string(name) + ".dtype must be " + dtype_name + ", got " +
                                      py::str(arr.dtype()).cast<std::string>()).c_str());
    throw py::error_already_set();
  }
  if (arr.ndim() != 1) raise_error("InvalidInputError", std::string(name) + " must be 1-D, got ndim=" + std::to_string(arr.ndim()));
  if (!(arr.flags() & py::array::c_style)) raise_error("InvalidInputError", std::string(name) + " must be C-contiguous");
  return arr;
}

py::array_t<Event> take_events(EventBuffer& ev) {
  py::array_t<Event> out(static_cast<py::ssize_t>(ev.size()));
  if (ev.size()) std::memcpy(out.mutable_data(), ev.data(), ev.size() * sizeof(Event));
  ev.clear();
  return out;
}

py::array_t<Event> adopt_events(std::unique_ptr<EventBuffer> ev) {
  const auto count = static_cast<py::ssize_t>(ev->size());
  Event* data = ev->data();
  py::capsule owner(ev.release(), [](void* p) { delete static_cast<EventBuffer*>(p); });
  return py::array_t<Event>({count}, {static_cast<py::ssize_t>(sizeof(Event))}, data, owner);
}

py::list levels_to_list(const std::vector<std::pair<Ticks, Qty>>& v) {
  py::list out;
  for (const auto& [p, q] : v) out.append(py::make_tuple(p, q));
  return out;
}

}  // namespace

void bind_constants(py::module_& m) {
  // Registers the record layouts with NumPy (runtime registration, hence inside a function).
  PYBIND11_NUMPY_DTYPE_EX(Command, op, "op", side, "side", ord_type, "ord_type", tif, "tif", flags,
                          "flags", trigger, "trigger", mask, "mask", pad0, "_pad0", account, "account",
                          pad1, "_pad1", order_id, "order_id", price, "price", qty, "qty", display_qty,
                          "display_qty", stop_px, "stop_px", peg_offset, "peg_offset");
  PYBIND11_NUMPY_DTYPE(Event, type, side, reason, cmd, order_id, maker_id, account, maker_account,
                       price, qty, leaves, maker_leaves);
  m.attr("BUY") = int(BUY);
  m.attr("SELL") = int(SELL);
  m.attr("LIMIT") = int(LIMIT);
  m.attr("MARKET") = int(MARKET);
  m.attr("STOP") = int(STOP);
  m.attr("STOP_LIMIT") = int(STOP_LIMIT);
  m.attr("MARKET_IF_TOUCHED") = int(MARKET_IF_TOUCHED);
  m.attr("LIMIT_IF_TOUCHED") = int(LIMIT_IF_TOUCHED);
  m.attr("GTC") = int(GTC);
  m.attr("IOC") = int(IOC);
  m.attr("FOK") = int(FOK);
  m.attr("FLAG_POST_ONLY") = int(FLAG_POST_ONLY);
  m.attr("FLAG_REDUCE_ONLY") = int(FLAG_REDUCE_ONLY);
  m.attr("FLAG_CLOSE") = int(FLAG_CLOSE);
  m.attr("FLAG_TRAILING") = int(FLAG_TRAILING);
  m.attr("FEED_LAST") = int(FEED_LAST);
  m.attr("FEED_MARK") = int(FEED_MARK);
  m.attr("FEED_INDEX") = int(FEED_INDEX);
  m.attr("OP_ADD") = int(OP_ADD);
  m.attr("OP_CANCEL") = int(OP_CANCEL);
  m.attr("OP_AMEND") = int(OP_AMEND);
  m.attr("OP_CANCEL_ALL") = int(OP_CANCEL_ALL);
  m.attr("OP_SET_PRICE") = int(OP_SET_PRICE);
  m.attr("OP_ACTIVATE") = int(OP_ACTIVATE);
  m.attr("MASK_QTY") = int(MASK_QTY);
  m.attr("MASK_PRICE") = int(MASK_PRICE);
  m.attr("MASK_STOP_PX") = int(MASK_STOP_PX);
  m.attr("MASK_PEG_OFFSET") = int(MASK_PEG_OFFSET);
  m.attr("MASK_ACCOUNT") = int(MASK_ACCOUNT);
  m.attr("EV_ACCEPTED") = int(EV_ACCEPTED);
  m.attr("EV_FILL") = int(EV_FILL);
  m.attr("EV_CANCELED") = int(EV_CANCELED);
  m.attr("EV_AMENDED") = int(EV_AMENDED);
  m.attr("EV_TRIGGERED") = int(EV_TRIGGERED);
  m.attr("EV_REJECTED") = int(EV_REJECTED);
  const std::pair<const char*, Reason> reasons[] = {
      {"NONE", Reason::NONE}, {"UNTRIGGERED", Reason::UNTRIGGERED},
      {"INVALID_OP", Reason::INVALID_OP}, {"INVALID_SIDE", Reason::INVALID_SIDE},
      {"INVALID_ORD_TYPE", Reason::INVALID_ORD_TYPE}, {"INVALID_TIF", Reason::INVALID_TIF},
      {"INVALID_PRICE", Reason::INVALID_PRICE}, {"INVALID_QTY", Reason::INVALID_QTY},
      {"INVALID_DISPLAY_QTY", Reason::INVALID_DISPLAY_QTY},
      {"DUPLICATE_ORDER_ID", Reason::DUPLICATE_ORDER_ID}, {"UNKNOWN_ORDER", Reason::UNKNOWN_ORDER},
      {"OVERFLOW", Reason::OVERFLOW}, {"INVALID_FLAGS", Reason::INVALID_FLAGS},
      {"INVALID_FEED", Reason::INVALID_FEED}, {"INVALID_STOP_PX", Reason::INVALID_STOP_PX},
      {"INVALID_PEG_OFFSET", Reason::INVALID_PEG_OFFSET}, {"NOT_AMENDABLE", Reason::NOT_AMENDABLE},
      {"NOTHING_TO_AMEND", Reason::NOTHING_TO_AMEND}, {"NOT_HELD", Reason::NOT_HELD},
      {"USER_CANCEL", Reason::USER_CANCEL}, {"FOK", Reason::FOK}, {"POST_ONLY", Reason::POST_ONLY},
      {"IOC", Reason::IOC}, {"NO_LIQUIDITY", Reason::NO_LIQUIDITY},
      {"PROTECTION_PRICE", Reason::PROTECTION_PRICE}, {"CANCEL_ALL", Reason::CANCEL_ALL},
      {"NO_REFERENCE_PRICE", Reason::NO_REFERENCE_PRICE},
  };
  for (const auto& [name, r] : reasons)
    m.attr((std::string("REASON_") + name).c_str()) = static_cast<int>(r);
  m.attr("MAX_TICKS") = kMaxTicks;
  m.attr("MAX_QTY") = kMaxQty;
  m.attr("NODE_BYTES") = sizeof(Order);
  m.attr("CMD_DTYPE") = py::dtype::of<Command>();
  m.attr("EVENT_DTYPE") = py::dtype::of<Event>();
}

void bind_book(py::module_& m) {
  py::class_<NativeBook>(m, "OrderBook")
      .def(py::init<bool, std::size_t>(), py::arg("hold_triggered") = false, py::arg("capacity") = 1024)
      .def("cancel_all",
           [](BookSelf b, std::uint32_t account) {
             Command c = make_command(OP_CANCEL_ALL);
             c.account = account;
             return run(b, c);
           },
           py::arg("account"))
      .def("set_trigger_price",
           [](BookSelf b, long long feed, StrictInt price, std::optional<StrictInt> price_ceil) {
             Command c = make_command(OP_SET_PRICE);
             c.trigger = u8(feed);
             c.price = price.value;
             c.stop_px = price_ceil ? price_ceil->value : 0;
             run(b, c);
           },
           py::arg("feed"), py::arg("price"), py::arg("price_ceil") = py::none(),
           "Sets a feed's price and fires its triggers. A price between two ticks is given as its "
           "floor `price` and its ceiling `price_ceil`.")
      .def("activate",
           [](BookSelf b, std::uint64_t id, StrictInt qty) {
             Command c = make_command(OP_ACTIVATE);
             c.order_id = id;
             c.qty = qty.value;
             return run(b, c);
           },
           py::arg("order_id"), py::arg("qty"))
      // The floor of per-call cost: a bound call with add_limit's argument shape, for benchmarks.
      .def("noop", [](BookSelf, std::uint64_t, std::uint32_t, long long, StrictInt, StrictInt) { return 0; })
      .def("submit_batch",
           [](BookSelf b, const py::object& obj, const py::object& out_obj) -> py::tuple {
             ensure_idle(b);
             py::array arr = records<Command>(obj, "cmds", "CMD_DTYPE");
             if (arr.shape(0) > 0xFFFFFFFFLL) raise_error("InvalidInputError", "cmds has more than 2**32 rows");
             py::array out;
             if (!out_obj.is_none()) {
               out = records<Event>(out_obj, "out", "EVENT_DTYPE");
               if (!out.writeable()) raise_error("InvalidInputError", "out must be a writeable array");
             }
             const auto n = static_cast<std::size_t>(arr.shape(0));
             py::array_t<std::uint16_t> status(static_cast<py::ssize_t>(n));
             const auto* src = static_cast<const Command*>(arr.data());
             std::uint16_t* st = status.mutable_data();
             // Events go straight into the caller's `out` while they fit (no copy); past that,
             // or without `out`, into fresh memory that NumPy adopts without a copy. Events
             // pending from per-call use stay where they are.
             if (!out_obj.is_none()) {
               // The events are written while the rows are read: the two must not share bytes.
               const auto* cb = static_cast<const char*>(arr.data());
               const auto* ob = static_cast<const char*>(out.data());
               if (ob < cb + n * sizeof(Command) && cb < ob + out.shape(0) * sizeof(Event))
                 raise_error("InvalidInputError", "out must not share memory with cmds");
             }
             auto buf = std::make_unique<EventBuffer>();
             if (out_obj.is_none()) buf->reserve(n + n / 2 + 16);
             else buf->borrow(static_cast<Event*>(out.mutable_data()), static_cast<std::size_t>(out.shape(0)));
             buf->swap(b.core.events());
             {
               SwapBack restore{*buf, b.core.events()};  // even if an allocation fails
               BusyGuard guard(b.book.busy);
               py::gil_scoped_release nogil;
               for (std::size_t i = 0; i < n; ++i) {
                 // The rows stream past once: fetch a few ahead so the loop rarely waits on them.
                 if (i + 8 < n) __builtin_prefetch(src + i + 8);
                 Reason r = b.core.apply(src[i], static_cast<std::uint32_t>(i));
                 st[i] = static_cast<std::uint16_t>(r);
               }
             }
             if (!buf->borrowed()) return py::make_tuple(adopt_events(std::move(buf)), status);
             py::object view = out[py::slice(0, static_cast<py::ssize_t>(buf->size()), 1)];
             return py::make_tuple(view, status);
           },
           py::arg("cmds"), py::arg("out") = py::none(),
           "Applies CMD_DTYPE rows in order with the GIL released. Returns (events, status). With "
           "`out` (an EVENT_DTYPE array reused across calls) the events are written into it and "
           "returned as a view of its first rows when they fit, else as a new array (then `out` "
           "holds a prefix of them).")
      .def("drain_events", [](BookSelf b) { ensure_idle(b); return take_events(b.core.events()); })
      .def_property_readonly("pending_events", [](BookSelf b) { return b.core.events().size(); })
      .def("best_bid", [](BookSelf b) { return b.core.best_bid(); })
      .def("best_ask", [](BookSelf b) { return b.core.best_ask(); })
      .def("last_price",
           [](BookSelf b, long long feed) {
             if (feed < 0 || feed >= kFeedCount) raise_error("InvalidInputError", "feed=" + std::to_string(feed) + " must be 0, 1 or 2");
             return b.core.last_price(static_cast<int>(feed));
           })
      .def("depth",
           [](BookSelf b, long long n) {
             if (n < 0) raise_error("InvalidInputError", "n=" + std::to_string(n) + " must be >= 0");
             std::vector<std::pair<Ticks, Qty>> bids, asks;
             b.core.depth(static_cast<std::size_t>(n), bids, asks);
             return py::make_tuple(levels_to_list(bids), levels_to_list(asks));
           },
           py::arg("n"))
      .def("sweep",
           [](BookSelf b, long long side, StrictInt qty, long long levels) {
             if (side != core::BUY && side != core::SELL)
               raise_error("InvalidInputError", "side=" + std::to_string(side) + " must be 0 (Buy) or 1 (Sell)");
             if (levels < 0) raise_error("InvalidInputError", "levels=" + std::to_string(levels) + " must be >= 0");
             if (qty.value <= 0) raise_error("InvalidQuantityError", "qty=" + std::to_string(qty.value) + " must be > 0");
             Qty left = 0;
             const Ticks price = b.core.sweep(static_cast<int>(side), qty.value, static_cast<std::size_t>(levels), left);
             return py::make_tuple(price, left);
           },
           py::arg("side"), py::arg("qty"), py::arg("levels") = 32,
           "Walks the displayed quantity of side's best `levels` displayed levels (as depth() lists "
           "them) until qty is covered: (the price of the level covering it, or of the last level "
           "walked, 0 without any; the quantity left uncovered).")
      .def("level_orders",
           [](BookSelf b, long long side, Ticks price) {
             py::list out;
             for (const Order& o : b.core.level_orders(static_cast<int>(side), price))
               out.append(py::make_tuple(o.id, o.account, o.leaves, o.visible));
             return out;
           },
           py::arg("side"), py::arg("price"))
      .def("order",
           [](BookSelf b, std::uint64_t id) -> py::object {
             OrderInfo i{};
             if (!b.core.order_info(id, i)) return py::none();
             py::dict d;
             d["order_id"] = i.id;
             d["account"] = i.account;
             d["side"] = int(i.side);
             d["ord_type"] = int(i.ord_type);
             d["tif"] = int(i.tif);
             d["flags"] = int(i.flags);
             d["price"] = i.price;
             d["leaves"] = i.leaves;
             d["visible"] = i.visible;
             d["display_qty"] = i.display;
             d["conditional"] = i.conditional;
             d["held"] = i.held;
             d["stop_px"] = i.stop_px;
             d["peg_offset"] = i.peg_offset;
             d["trigger"] = int(i.feed);
             return std::move(d);
           },
           py::arg("order_id"))
      .def("account_orders", [](BookSelf b, std::uint32_t a) { return b.core.account_orders(a); })
      .def_property_readonly("order_count", [](BookSelf b) { return b.core.order_count(); })
      .def_property_readonly("conditional_count", [](BookSelf b) { return b.core.conditional_count(); })
      .def_property_readonly("hold_triggered", [](BookSelf b) { return b.core.hold_triggered(); })
      .def("level_count", [](BookSelf b, long long side) {
             if (side != BUY && side != SELL) raise_error("InvalidInputError", "side must be BUY (0) or SELL (1)");
             return b.core.level_count(static_cast<int>(side));
           })
      .def("account_order_count", [](BookSelf b, std::uint32_t a) { return b.core.account_order_count(a); })
      .def("state_hash", [](BookSelf b) { ensure_idle(b); return b.core.state_hash(); })
      .def("dump", [](BookSelf b) { ensure_idle(b); return py::bytes(b.core.dump()); })
      .def_static("load",
                  [](const py::bytes& data) {
                    auto out = std::make_unique<NativeBook>(false, 16);
                    std::string error;
                    if (!OrderBook::load(std::string(data), out->core, error)) raise_error("CorruptSnapshotError", error);
                    return out;
                  },
                  py::arg("data"))
      .def("check_invariants",
           [](BookSelf b) {
             ensure_idle(b);
             std::string broken = b.core.check_invariants();
             if (!broken.empty()) raise_error("InvariantViolation", broken);
           })
      .def(py::pickle([](BookSelf b) { return py::bytes(b.core.dump()); },
                      [](const py::bytes& data) {
                        auto out = std::make_unique<NativeBook>(false, 16);
                        std::string error;
                        if (!OrderBook::load(std::string(data), out->core, error)) raise_error("CorruptSnapshotError", error);
                        return out;
                      }));
}

}  // namespace perpex::bindings
