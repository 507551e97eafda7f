// The per-call order methods (add, add_limit, add_market, cancel, amend) and the event drain
// the Exchange uses after each command (drain_event_tuples), as CPython fast-call methods of the
// pybind11 OrderBook class.
//
// pybind11's general dispatcher (overload resolution, one type caster per argument, a
// function_call record) costs about 100 ns a call on this project's benchmark machine, twice the
// book's own work on a typical message. These methods bind their arguments straight from the
// vectorcall array and run the command through the same run() as every other method, so results,
// events and exceptions are the same; only the argument handling is written out here.
#include <cstdint>

#include <pybind11/detail/exception_translation.h>

#include "native_book.hpp"

namespace perpex::bindings {

namespace {

using core::OP_AMEND;
using core::OP_CANCEL;

// How a parameter converts. Every kind refuses bool and float; integer-like objects with
// __index__ (NumPy integers) are accepted where pybind11's integer casters accepted them, and
// refused for the price and quantity arguments, as StrictInt does.
enum class Kind : std::uint8_t {
  ID,         // uint64
  ACCOUNT,    // uint32
  SMALL,      // a small enum (side, ord_type, ...): any int64, mapped by u8()
  STRICT,     // int64, an int proper
  OPT_STRICT, // int64 or None
  OPT_ACCOUNT // uint32 or None
};

struct Param {
  const char* name;
  Kind kind;
  bool required;
  long long fallback;  // used when an optional parameter is absent (not for OPT_ kinds)
};

struct Value {
  long long s = 0;
  std::uint64_t u = 0;
  bool given = false;  // false for an absent optional or None
};

// Binds positional and keyword arguments to parameter slots, as Python would for a def with
// these parameters; a bad call raises TypeError.
template <int N>
void bind_args(const char* fn, const Param (&params)[N], PyObject* const* args, Py_ssize_t nargsf,
               PyObject* kwnames, PyObject* (&slots)[N]) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs > N) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fn, N, nargs);
    throw py::error_already_set();
  }
  for (int i = 0; i < N; ++i) slots[i] = i < nargs ? args[i] : nullptr;
  if (kwnames) {
    const Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nk; ++k) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, k);
      int i = 0;
      while (i < N && PyUnicode_CompareWithASCIIString(key, params[i].name) != 0) ++i;
      if (i == N) {
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fn, key);
        throw py::error_already_set();
      }
      if (slots[i]) {
        PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fn, params[i].name);
        throw py::error_already_set();
      }
      slots[i] = args[nargs + k];
    }
  }
  for (int i = 0; i < N; ++i)
    if (!slots[i] && params[i].required) {
      PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fn, params[i].name);
      throw py::error_already_set();
    }
}

// An exact int (not bool), or with `index` any object with __index__ other than bool and float.
// Returns a new reference to an int, or null when the type is refused.
PyObject* as_int(PyObject* o, bool index) {
  if (PyLong_Check(o) && !PyBool_Check(o)) {
    Py_INCREF(o);
    return o;
  }
  if (!index || PyBool_Check(o) || PyFloat_Check(o) || !PyIndex_Check(o)) return nullptr;
  PyObject* r = PyNumber_Index(o);
  if (!r) PyErr_Clear();
  return r;
}

Value convert(const char* fn, const Param& p, PyObject* o) {
  Value v;
  if (!o) {
    v.s = p.fallback;
    v.given = p.kind != Kind::OPT_STRICT && p.kind != Kind::OPT_ACCOUNT;
    return v;
  }
  if (o == Py_None && (p.kind == Kind::OPT_STRICT || p.kind == Kind::OPT_ACCOUNT)) return v;
  const bool strict = p.kind == Kind::STRICT || p.kind == Kind::OPT_STRICT;
  PyObject* n = as_int(o, !strict);
  if (!n) {
    PyErr_Format(PyExc_TypeError, "%s(): %s must be an int, got %R", fn, p.name, o);
    throw py::error_already_set();
  }
  v.given = true;
  if (p.kind == Kind::ID || p.kind == Kind::ACCOUNT || p.kind == Kind::OPT_ACCOUNT) {
    v.u = PyLong_AsUnsignedLongLong(n);
    Py_DECREF(n);
    const bool overflow = v.u == static_cast<std::uint64_t>(-1) && PyErr_Occurred();
    if (overflow) PyErr_Clear();
    if (overflow || (p.kind != Kind::ID && v.u > 0xFFFFFFFFull)) {
      const char* what = p.kind == Kind::ID ? "must be an int in [0, 2**64)" : "must be an int in [0, 2**32)";
      PyErr_Format(PyExc_TypeError, "%s(): %s %s, got %R", fn, p.name, what, o);
      throw py::error_already_set();
    }
    return v;
  }
  v.s = PyLong_AsLongLong(n);
  Py_DECREF(n);
  if (v.s == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s(): %s must fit in int64, got %R", fn, p.name, o);
    throw py::error_already_set();
  }
  return v;
}

// Binds and converts the arguments of one call, then runs `body` on the book and the values.
template <int N, typename Body>
PyObject* call(const char* fn, const Param (&params)[N], PyObject* self, PyObject* const* args,
               Py_ssize_t nargsf, PyObject* kwnames, Body body) {
  try {
    PyObject* slots[N];
    bind_args(fn, params, args, nargsf, kwnames, slots);
    Value v[N];
    for (int i = 0; i < N; ++i) v[i] = convert(fn, params[i], slots[i]);
    return PyLong_FromLongLong(body(book_of(self), v));
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    py::detail::try_translate_exceptions();
  }
  return nullptr;
}

constexpr Param kAdd[] = {
    {"order_id", Kind::ID, true, 0},       {"account", Kind::ACCOUNT, true, 0},
    {"side", Kind::SMALL, true, 0},        {"price", Kind::STRICT, true, 0},
    {"qty", Kind::STRICT, true, 0},        {"ord_type", Kind::SMALL, false, core::LIMIT},
    {"tif", Kind::SMALL, false, core::GTC}, {"flags", Kind::SMALL, false, 0},
    {"display_qty", Kind::STRICT, false, -1}, {"stop_px", Kind::STRICT, false, 0},
    {"peg_offset", Kind::STRICT, false, 0}, {"trigger", Kind::SMALL, false, core::FEED_MARK},
};

constexpr Param kAddLimit[] = {
    {"order_id", Kind::ID, true, 0}, {"account", Kind::ACCOUNT, true, 0}, {"side", Kind::SMALL, true, 0},
    {"price", Kind::STRICT, true, 0}, {"qty", Kind::STRICT, true, 0},
};

constexpr Param kAddMarket[] = {
    {"order_id", Kind::ID, true, 0}, {"account", Kind::ACCOUNT, true, 0}, {"side", Kind::SMALL, true, 0},
    {"qty", Kind::STRICT, true, 0}, {"protect_price", Kind::STRICT, false, 0},
};

constexpr Param kCancel[] = {
    {"order_id", Kind::ID, true, 0}, {"account", Kind::OPT_ACCOUNT, false, 0},
};

constexpr Param kAmend[] = {
    {"order_id", Kind::ID, true, 0},          {"qty", Kind::OPT_STRICT, false, 0},
    {"price", Kind::OPT_STRICT, false, 0},    {"stop_px", Kind::OPT_STRICT, false, 0},
    {"peg_offset", Kind::OPT_STRICT, false, 0}, {"account", Kind::OPT_ACCOUNT, false, 0},
};

// An add command from the leading order_id, account and side values of every add method.
Command add_command(const Value* v, long long price, long long qty, std::uint8_t ord_type) {
  Command c = core::make_command(core::OP_ADD);
  c.order_id = v[0].u;
  c.account = static_cast<std::uint32_t>(v[1].u);
  c.side = u8(v[2].s);
  c.ord_type = ord_type;
  c.price = price;
  c.qty = qty;
  return c;
}

PyObject* fast_add(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kw) {
  return call("add", kAdd, self, args, nargs, kw, [](NativeBook& b, const Value* v) {
    Command c = add_command(v, v[3].s, v[4].s, u8(v[5].s));
    c.tif = u8(v[6].s);
    c.flags = u8(v[7].s);
    c.display_qty = v[8].s;
    c.stop_px = v[9].s;
    c.peg_offset = v[10].s;
    c.trigger = u8(v[11].s);
    return run(b, c);
  });
}

PyObject* fast_add_limit(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kw) {
  return call("add_limit", kAddLimit, self, args, nargs, kw,
              [](NativeBook& b, const Value* v) { return run(b, add_command(v, v[3].s, v[4].s, core::LIMIT)); });
}

PyObject* fast_add_market(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kw) {
  return call("add_market", kAddMarket, self, args, nargs, kw, [](NativeBook& b, const Value* v) {
    // the protection price travels as the command's price
    return run(b, add_command(v, v[4].s, v[3].s, core::MARKET));
  });
}

PyObject* fast_cancel(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kw) {
  return call("cancel", kCancel, self, args, nargs, kw, [](NativeBook& b, const Value* v) {
    Command c = core::make_command(OP_CANCEL);
    c.order_id = v[0].u;
    if (v[1].given) {
      c.account = static_cast<std::uint32_t>(v[1].u);
      c.mask = core::MASK_ACCOUNT;
    }
    return run(b, c);
  });
}

PyObject* fast_amend(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kw) {
  return call("amend", kAmend, self, args, nargs, kw, [](NativeBook& b, const Value* v) {
    Command c = core::make_command(OP_AMEND);
    c.order_id = v[0].u;
    if (v[1].given) { c.qty = v[1].s; c.mask |= core::MASK_QTY; }
    if (v[2].given) { c.price = v[2].s; c.mask |= core::MASK_PRICE; }
    if (v[3].given) { c.stop_px = v[3].s; c.mask |= core::MASK_STOP_PX; }
    if (v[4].given) { c.peg_offset = v[4].s; c.mask |= core::MASK_PEG_OFFSET; }
    if (v[5].given) { c.account = static_cast<std::uint32_t>(v[5].u); c.mask |= core::MASK_ACCOUNT; }
    return run(b, c);
  });
}

// add_limit's argument handling with nothing run: the floor of this binding, for benchmarks.
PyObject* fast_noop(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kw) {
  return call("noop_fast", kAddLimit, self, args, nargs, kw, [](NativeBook&, const Value*) { return Qty{0}; });
}

// The pending events as a list of 12-tuples in EVENT_DTYPE's field order, i.e. what
// drain_events().tolist() gives, without the NumPy array in between: the Exchange drains after
// every command, mostly one to three events, where building the array cost more than the events.
PyObject* fast_drain_tuples(PyObject* self, PyObject*) {
  try {
    NativeBook& b = book_of(self);
    ensure_idle(b);
    core::EventBuffer& ev = b.core.events();
    const auto n = static_cast<Py_ssize_t>(ev.size());
    py::list out(n);
    for (Py_ssize_t i = 0; i < n; ++i) {
      const core::Event& e = ev[static_cast<std::size_t>(i)];
      PyObject* fields[12] = {
          PyLong_FromLong(e.type),
          PyLong_FromLong(e.side),
          PyLong_FromLong(e.reason),
          PyLong_FromUnsignedLong(e.cmd),
          PyLong_FromUnsignedLongLong(e.order_id),
          PyLong_FromUnsignedLongLong(e.maker_id),
          PyLong_FromUnsignedLong(e.account),
          PyLong_FromUnsignedLong(e.maker_account),
          PyLong_FromLongLong(e.price),
          PyLong_FromLongLong(e.qty),
          PyLong_FromLongLong(e.leaves),
          PyLong_FromLongLong(e.maker_leaves),
      };
      PyObject* t = PyTuple_New(12);
      bool ok = t != nullptr;
      for (int k = 0; k < 12; ++k) {
        ok = ok && fields[k] != nullptr;
        if (t && fields[k]) PyTuple_SET_ITEM(t, k, fields[k]);  // steals the reference
        else Py_XDECREF(fields[k]);
      }
      if (!ok) {
        Py_XDECREF(t);
        if (!PyErr_Occurred()) PyErr_NoMemory();
        throw py::error_already_set();
      }
      PyList_SET_ITEM(out.ptr(), i, t);
    }
    ev.clear();
    return out.release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    py::detail::try_translate_exceptions();
  }
  return nullptr;
}

template <typename F>
PyCFunction as_cfunction(F f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f));
}

// A method taking arguments through vectorcall, keywords included.
template <typename F>
PyMethodDef fast_method(const char* name, F f, const char* doc) {
  return {name, as_cfunction(f), METH_FASTCALL | METH_KEYWORDS, doc};
}

// Text signatures ("name($self, ...)\n--\n\n") give inspect.signature() and help() the parameters.
PyMethodDef kMethods[] = {
    fast_method("add", fast_add,
                "add($self, order_id, account, side, price, qty, ord_type=0, tif=0, flags=0, "
                "display_qty=-1, stop_px=0, peg_offset=0, trigger=1)\n--\n\n"
                "Adds an order of any type; returns its live leaves after matching (0 if it is gone)."),
    fast_method("add_limit", fast_add_limit,
                "add_limit($self, order_id, account, side, price, qty)\n--\n\n"
                "Adds a displayed GoodTillCancel limit order; returns its leaves resting after matching."),
    fast_method("add_market", fast_add_market,
                "add_market($self, order_id, account, side, qty, protect_price=0)\n--\n\n"
                "Adds a market order (protect_price > 0: it trades no further than that price); returns 0."),
    fast_method("cancel", fast_cancel,
                "cancel($self, order_id, account=None)\n--\n\n"
                "Cancels a resting or untriggered order; returns the canceled leaves."),
    fast_method("amend", fast_amend,
                "amend($self, order_id, qty=None, price=None, stop_px=None, peg_offset=None, "
                "account=None)\n--\n\n"
                "qty is the new leaves quantity (> 0). Returns the leaves resting after the amend."),
    {"drain_event_tuples", as_cfunction(fast_drain_tuples), METH_NOARGS,
     "drain_event_tuples($self)\n--\n\n"
     "The pending events as a list of tuples in EVENT_DTYPE field order (drain_events().tolist())."},
    fast_method("noop_fast", fast_noop,
                "noop_fast($self, order_id, account, side, price, qty)\n--\n\n"
                "add_limit's argument handling and nothing else: the floor of these methods (benchmarks)."),
};

}  // namespace

void bind_fast_calls(py::module_& m) {
  py::object cls = m.attr("OrderBook");
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  for (PyMethodDef& def : kMethods) {
    PyObject* descr = PyDescr_NewMethod(type, &def);
    if (!descr) throw py::error_already_set();
    cls.attr(def.ml_name) = py::reinterpret_steal<py::object>(descr);
  }
}

}  // namespace perpex::bindings
