"""The book's C interface (csrc/capi/perpex_book_capi.h), called here through ctypes as
perpex._core calls it: each call does what the Python method does (same leaves, events, state
hash and errors), a failed call sets a perpex.errors exception and changes nothing, and a
non-book argument is a TypeError."""

from __future__ import annotations

import ctypes
import random
from typing import Any

import pytest

from perpex import errors
from perpex._core import LEVELS_MAX, levels
from tests.model import as_tuples

native = pytest.importorskip("perpex._native")
BUY, SELL = native.BUY, native.SELL


class Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint8), ("side", ctypes.c_uint8), ("reason", ctypes.c_uint16),
                ("cmd", ctypes.c_uint32), ("order_id", ctypes.c_uint64), ("maker_id", ctypes.c_uint64),
                ("account", ctypes.c_uint32), ("maker_account", ctypes.c_uint32),
                ("price", ctypes.c_int64), ("qty", ctypes.c_int64), ("leaves", ctypes.c_int64),
                ("maker_leaves", ctypes.c_int64)]


class Add(ctypes.Structure):
    _fields_ = [("order_id", ctypes.c_uint64), ("account", ctypes.c_uint32)] + [
        (name, ctypes.c_int64) for name in ("side", "ord_type", "tif", "flags", "trigger", "price",
                                            "qty", "display_qty", "stop_px", "peg_offset")]


I64P = ctypes.POINTER(ctypes.c_int64)
# PYFUNCTYPE: called with the GIL held, and a set exception is raised on return
_add_t = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.POINTER(Add), I64P)
_cancel_t = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_uint64, ctypes.c_uint32, I64P)
_events_t = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.POINTER(ctypes.POINTER(Event)),
                              ctypes.POINTER(ctypes.c_ssize_t))
_clear_t = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object)
_best_t = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_int, I64P)
_depth_t = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_int, ctypes.c_ssize_t, I64P,
                             I64P, ctypes.POINTER(ctypes.c_ssize_t))
_sweep_t = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_int, ctypes.c_int64,
                             ctypes.c_ssize_t, I64P, I64P)
_take_t = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.POINTER(Event), ctypes.c_ssize_t,
                            ctypes.POINTER(ctypes.c_ssize_t))


class Api(ctypes.Structure):
    _fields_ = [("version", ctypes.c_int), ("add", _add_t), ("cancel", _cancel_t),
                ("events", _events_t), ("clear_events", _clear_t), ("best", _best_t),
                ("depth", _depth_t), ("sweep", _sweep_t), ("take_events", _take_t)]


def _api() -> Api:
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    ptr = get(native._book_capi, b"perpex._native._book_capi")
    return Api.from_address(ptr)


API = _api()


def c_add(book: Any, order_id: int, account: int, side: int, price: int, qty: int, ord_type: int = 0,
          tif: int = 0, flags: int = 0, display_qty: int = -1, stop_px: int = 0, peg_offset: int = 0,
          trigger: int = native.FEED_MARK) -> int:
    leaves = ctypes.c_int64(-7)
    cmd = Add(order_id, account, side, ord_type, tif, flags, trigger, price, qty, display_qty, stop_px,
              peg_offset)
    assert API.add(book, ctypes.byref(cmd), ctypes.byref(leaves)) == 0
    return leaves.value


def c_cancel(book: Any, order_id: int, account: int) -> int:
    leaves = ctypes.c_int64(-7)
    assert API.cancel(book, order_id, account, ctypes.byref(leaves)) == 0
    return leaves.value


def c_drain(book: Any) -> list[tuple[int, ...]]:
    first, n = ctypes.POINTER(Event)(), ctypes.c_ssize_t(-1)
    assert API.events(book, ctypes.byref(first), ctypes.byref(n)) == 0
    assert n.value == book.pending_events
    out = [tuple(getattr(first[i], f) for f, _ in Event._fields_) for i in range(n.value)]
    assert API.clear_events(book) == 0 and book.pending_events == 0
    return out


def c_take(book: Any, cap: int) -> list[tuple[int, ...]] | None:
    """The pending events taken into room for ``cap``; None (and nothing taken) when there are
    more, as the count written says."""
    out, n = (Event * max(cap, 1))(), ctypes.c_ssize_t(-1)
    pending = book.pending_events
    assert API.take_events(book, out, cap, ctypes.byref(n)) == 0
    assert n.value == pending
    if pending > cap:
        assert book.pending_events == pending  # (nothing copied, nothing cleared)
        return None
    assert book.pending_events == 0
    return [tuple(getattr(out[i], f) for f, _ in Event._fields_) for i in range(n.value)]


def c_best(book: Any, side: int) -> int:
    px = ctypes.c_int64(-7)
    assert API.best(book, side, ctypes.byref(px)) == 0
    return px.value


def c_depth(book: Any, side: int, n: int) -> list[tuple[int, int]]:
    px, qty, k = (ctypes.c_int64 * max(n, 1))(), (ctypes.c_int64 * max(n, 1))(), ctypes.c_ssize_t(-1)
    assert API.depth(book, side, n, px, qty, ctypes.byref(k)) == 0
    return [(px[i], qty[i]) for i in range(k.value)]


def c_sweep(book: Any, side: int, qty: int, n: int) -> tuple[int, int]:
    px, left = ctypes.c_int64(-7), ctypes.c_int64(-7)
    assert API.sweep(book, side, qty, n, ctypes.byref(px), ctypes.byref(left)) == 0
    return px.value, left.value


def test_the_interface_is_version_4_and_its_events_are_the_event_records() -> None:
    assert API.version == 4
    assert ctypes.sizeof(Event) == native.EVENT_DTYPE.itemsize == 64
    assert [f for f, _ in Event._fields_] == list(native.EVENT_DTYPE.names)
    for f, _ in Event._fields_:
        assert getattr(Event, f).offset == native.EVENT_DTYPE.fields[f][1]


@pytest.mark.parametrize("seed", range(5))
def test_random_commands_match_the_methods(seed: int) -> None:
    rng = random.Random(seed)
    a, b = native.OrderBook(True, 64), native.OrderBook(True, 64)
    live: dict[int, int] = {}
    for oid in range(1, 400):
        if live and rng.random() < 0.3:
            victim = rng.choice(sorted(live))
            assert c_cancel(a, victim, live[victim]) == b.cancel(victim, live[victim])
            del live[victim]
        else:
            acct, side = rng.randrange(1, 6), rng.choice((BUY, SELL))
            kind = rng.random()
            if kind < 0.7:
                args: tuple[int, ...] = (oid, acct, side, rng.randrange(95, 106), rng.randrange(1, 20))
                kw: dict[str, int] = {"display_qty": rng.choice((-1, -1, 0, 2)),
                                      "tif": rng.choice((native.GTC, native.GTC, native.IOC))}
            else:
                args, kw = (oid, acct, side, 0, rng.randrange(1, 30)), {"ord_type": native.MARKET}
            assert c_add(a, *args, **kw) == b.add(*args, **kw)
            live[oid] = acct
        if rng.random() < 0.5:
            assert c_drain(a) == as_tuples(b.drain_events())
        else:  # taken in one call, after a try with too little room when there are several
            cap = a.pending_events - 1
            if cap > 0:
                assert c_take(a, cap) is None
            assert c_take(a, a.pending_events + rng.randrange(3)) == as_tuples(b.drain_events())
        assert c_best(a, BUY) == b.best_bid() and c_best(a, SELL) == b.best_ask()
        n = rng.choice((0, 1, 3, 64))
        assert (c_depth(a, BUY, n), c_depth(a, SELL, n)) == b.depth(n)
        assert (list(levels(a, BUY)), list(levels(a, SELL))) == b.depth(LEVELS_MAX)
        side, qty = rng.choice((BUY, SELL)), rng.randrange(1, 80)
        assert c_sweep(a, side, qty, n) == b.sweep(side, qty, n)
        live = {o: acc for o, acc in live.items() if b.order(o) is not None}
    assert a.state_hash() == b.state_hash()


def test_levels_are_read_at_once_and_made_tuples_as_they_are_iterated() -> None:
    book = native.OrderBook()
    for oid, px in enumerate(range(100, 100 - LEVELS_MAX - 6, -1), 1):  # 70 bid levels
        book.add_limit(oid, 7, BUY, px, oid)
    book.add(999, 8, BUY, 101, 4, display_qty=0)  # hidden, above the rest: not displayed
    it = levels(book, BUY)
    assert len(it) == LEVELS_MAX and next(it) == (100, 1) and len(it) == LEVELS_MAX - 1
    book.cancel(2, 7)  # the copy stands: level 99 is still listed
    assert next(it) == (99, 2)
    assert list(it) == [(px, 101 - px) for px in range(98, 100 - LEVELS_MAX, -1)]
    assert list(it) == [] and list(levels(book, SELL)) == []
    with pytest.raises(errors.InvalidInputError):
        levels(book, 2)


def test_a_refused_command_sets_its_error_and_changes_nothing() -> None:
    book = native.OrderBook()
    c_add(book, 1, 7, BUY, 100, 5)
    c_drain(book)
    before = book.state_hash()
    leaves = ctypes.c_int64(-7)
    with pytest.raises(errors.InvalidQuantityError):
        API.add(book, ctypes.byref(Add(2, 7, BUY, 0, 0, 0, native.FEED_MARK, 100, 0, -1, 0, 0)),
                ctypes.byref(leaves))
    with pytest.raises(errors.InvalidInputError):  # a side outside 0..254 maps to 255
        API.add(book, ctypes.byref(Add(3, 7, 300, 0, 0, 0, native.FEED_MARK, 100, 1, -1, 0, 0)),
                ctypes.byref(leaves))
    with pytest.raises(errors.UnknownOrderError):
        API.cancel(book, 99, 7, ctypes.byref(leaves))
    with pytest.raises(errors.UnknownOrderError):  # another account's order
        API.cancel(book, 1, 8, ctypes.byref(leaves))
    k = ctypes.c_ssize_t(-7)
    for side, n in ((2, 1), (-1, 1), (BUY, -1)):
        with pytest.raises(errors.InvalidInputError):
            API.depth(book, side, n, (ctypes.c_int64 * 1)(), (ctypes.c_int64 * 1)(), ctypes.byref(k))
    assert k.value == -7
    px = ctypes.c_int64(-7)
    for side, qty, n, exc in ((2, 1, 1, errors.InvalidInputError), (BUY, 1, -1, errors.InvalidInputError),
                              (BUY, 0, 1, errors.InvalidQuantityError)):
        with pytest.raises(exc):
            API.sweep(book, side, qty, n, ctypes.byref(px), ctypes.byref(leaves))
    assert px.value == -7
    assert book.state_hash() == before and book.pending_events == 0 and leaves.value == -7


@pytest.mark.parametrize("call", [
    lambda obj: API.add(obj, ctypes.byref(Add(1, 7, BUY, 0, 0, 0, 1, 100, 5, -1, 0, 0)),
                        ctypes.byref(ctypes.c_int64())),
    lambda obj: API.cancel(obj, 1, 7, ctypes.byref(ctypes.c_int64())),
    lambda obj: API.events(obj, ctypes.byref(ctypes.POINTER(Event)()), ctypes.byref(ctypes.c_ssize_t())),
    lambda obj: API.clear_events(obj),
    lambda obj: API.best(obj, BUY, ctypes.byref(ctypes.c_int64())),
    lambda obj: API.depth(obj, BUY, 1, (ctypes.c_int64 * 1)(), (ctypes.c_int64 * 1)(),
                          ctypes.byref(ctypes.c_ssize_t())),
    lambda obj: API.sweep(obj, BUY, 1, 1, ctypes.byref(ctypes.c_int64()), ctypes.byref(ctypes.c_int64())),
    lambda obj: API.take_events(obj, (Event * 1)(), 1, ctypes.byref(ctypes.c_ssize_t())),
])
def test_anything_but_a_book_is_a_type_error(call: Any) -> None:
    for obj in (None, 3, object(), [native.OrderBook()]):
        with pytest.raises(TypeError):
            call(obj)
