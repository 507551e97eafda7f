"""Adapters that replay one command array through each peer order book.

Every adapter receives the same flow and returns a :class:`PeerResult`: trade count, traded
quantity, the fill tape digest (see ``tape.py``), the final best bid/ask and the seconds spent
replaying. Only the replay is timed: decoding the array into Python tuples happens before the
clock starts and digesting the tape after it stops, for every peer alike. Recording the fills
themselves is part of the timed work, because a book whose fills cannot be observed has done
no useful work.

Peers that are not installed raise :class:`PeerUnavailable` with a note saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from baseline_sorted import SortedBook, replay_rows
from commands import BUY, EV_FILL, LIMIT, OP_ADD, OP_AMEND, OP_CANCEL, decode, load_native, replay
from tape import Fill, tape_digest, tape_digest_columns

Rows = list[tuple[int, int, int, int, int, int, int]]

#: Interpreter of the virtual environment holding ``matching-engine`` (Python >= 3.12).
ME_VENV = Path(os.environ.get("PERPEX_BENCH_ME_VENV", "/tmp/perpex-bench-me312"))
ME_BASE_PYTHON = os.environ.get(
    "PERPEX_BENCH_PY312", "/root/.pyenv/versions/3.12.1/bin/python3.12"
)
_HERE = Path(__file__).resolve().parent


class PeerUnavailable(RuntimeError):
    """A peer cannot run here (not installed, wrong interpreter, missing operation)."""


@dataclass(frozen=True)
class PeerResult:
    name: str
    messages: int
    trades: int
    traded_qty: int
    tape_hash: str
    best_bid: int
    best_ask: int
    seconds: float

    @property
    def ops_per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def ns_per_message(self) -> float:
        return self.seconds * 1e9 / self.messages

    def outcome(self) -> tuple[int, int, str, int, int]:
        """What must be identical across peers."""
        return (self.trades, self.traded_qty, self.tape_hash, self.best_bid, self.best_ask)


def _from_fills(name: str, n: int, fills: list[Fill], bid: int, ask: int, sec: float) -> PeerResult:
    return PeerResult(name, n, len(fills), sum(f[3] for f in fills), tape_digest(fills),
                      bid, ask, sec)


def _from_events(name: str, n: int, events: np.ndarray[Any, Any], bid: int, ask: int,
                 sec: float) -> PeerResult:
    fills = events[events["type"] == EV_FILL]
    digest = tape_digest_columns(fills["maker_id"], fills["order_id"], fills["price"], fills["qty"])
    return PeerResult(name, n, len(fills), int(fills["qty"].sum()), digest, bid, ask, sec)


def _has_amends(rows: Rows) -> bool:
    return any(r[0] == OP_AMEND for r in rows)


# --------------------------------------------------------------------------- baseline
def run_sorted(cmds: np.ndarray[Any, Any], rows: Rows) -> PeerResult:
    book = SortedBook()
    t0 = time.perf_counter()
    replay_rows(book, rows)
    sec = time.perf_counter() - t0
    return _from_fills("sortedcontainers", len(rows), book.fills, book.best_bid(),
                       book.best_ask(), sec)


# ----------------------------------------------------------------------------- perpex
def _native() -> Any:
    native = load_native()
    if native is None:
        raise PeerUnavailable("perpex._native is not built")
    return native


def run_perpex_call(cmds: np.ndarray[Any, Any], rows: Rows, drain_every: int = 65_536) -> PeerResult:
    """One Python call per message; events drained every ``drain_every`` messages."""
    native = _native()
    book = native.OrderBook(capacity=8192)
    calls = (book.add_limit, book.add_market, book.cancel, book.amend)
    drain = book.drain_events
    chunks = []
    t0 = time.perf_counter()
    for start in range(0, len(rows), drain_every):
        replay(rows[start:start + drain_every], *calls)
        chunks.append(drain())
    sec = time.perf_counter() - t0
    events = np.concatenate(chunks) if chunks else drain()
    return _from_events("perpex per-call", len(rows), events, book.best_bid(), book.best_ask(), sec)


def run_perpex_batch(cmds: np.ndarray[Any, Any], rows: Rows, chunk: int | None = None,
                     reuse_out: bool = False) -> PeerResult:
    """``submit_batch`` on the whole array (or on ``chunk``-row slices).

    ``reuse_out``: the events are written into one EVENT_DTYPE array allocated and touched
    before the clock starts, as a high-volume caller reusing its buffer would, and only the
    calls are timed: the copy of each chunk's events kept for the agreement check is not (a
    caller reusing the buffer reads the events in place).
    """
    native = _native()
    book = native.OrderBook(capacity=8192)
    step = chunk or len(cmds)
    out = None
    if reuse_out:
        out = np.ones(step + step // 2 + 16, native.EVENT_DTYPE)  # ones(): pages touched
    parts = []
    bad = 0
    sec = 0.0
    for start in range(0, len(cmds), step):
        t0 = time.perf_counter()
        events, status = book.submit_batch(cmds[start:start + step], out)
        sec += time.perf_counter() - t0
        parts.append(events.copy() if out is not None else events)
        bad += int(np.count_nonzero(status))
    if bad:
        raise AssertionError(f"submit_batch rejected {bad} rows of a flow every peer accepts")
    name = "perpex batch" if chunk is None else f"perpex batch/{chunk}"
    if reuse_out:
        name += " (out)"
    return _from_events(name, len(cmds), np.concatenate(parts), book.best_bid(), book.best_ask(),
                        sec)


def measure_noop(rows: Rows) -> dict[str, float]:
    """Costs of doing nothing through the binding, in ns per call, measured on this machine now.

    ``bare``: a tight loop calling ``OrderBook.noop``, a pybind11 method with add_limit's five
    arguments. ``replay``: the per-call replay loop (same dispatch) with every command replaced by
    that no-op, i.e. the floor any pybind11 binding of this shape can reach. ``fast``: a tight
    loop calling ``noop_fast``, add_limit's own fast-call argument handling with nothing run.
    """
    native = _native()
    book = native.OrderBook()
    noop = book.noop
    n = len(rows)

    def bare(fn: Any) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(1, 2, 0, 40_000, 10)
        return (time.perf_counter() - t0) * 1e9 / n

    # replay()'s dispatch written out with the no-op in every branch: routing it through
    # replay() would need wrapper lambdas, whose extra frame would inflate the floor.
    t0 = time.perf_counter()
    for op, side, ord_type, account, order_id, price, qty in rows:
        if op == OP_ADD:
            if ord_type == LIMIT:
                noop(order_id, account, side, price, qty)
            else:
                noop(order_id, account, side, 0, qty)
        elif op == OP_CANCEL:
            noop(order_id, 0, 0, 0, 0)
        else:
            noop(order_id, 0, 0, 0, qty)
    loop = (time.perf_counter() - t0) * 1e9 / n
    return {"bare": bare(noop), "replay": loop, "fast": bare(book.noop_fast)}


# -------------------------------------------------------------------------- liquibook
def run_liquibook(cmds: np.ndarray[Any, Any], rows: Rows) -> PeerResult:
    try:
        import liquibook as lb
    except ImportError as exc:
        raise PeerUnavailable(f"liquibook is not installed ({exc})") from exc
    if _has_amends(rows):
        raise PeerUnavailable("the liquibook adapter replays adds, cancels and market orders only")
    fills: list[Fill] = []
    append = fills.append

    class Listener(lb.OrderListener):  # type: ignore[misc]
        # liquibook's listener methods are pure virtual: all of them must exist.
        def on_accept(self, order: Any) -> None:
            pass

        def on_reject(self, order: Any, reason: str) -> None:
            raise AssertionError(f"liquibook rejected order {order.order_id_}: {reason}")

        def on_fill(self, order: Any, matched: Any, qty: int, price: int) -> None:
            append((matched.order_id_, order.order_id_, price, qty))

        def on_cancel(self, order: Any) -> None:
            pass

        def on_cancel_reject(self, order: Any, reason: str) -> None:
            raise AssertionError(f"liquibook refused to cancel {order.order_id_}: {reason}")

        def on_replace(self, order: Any, size_delta: int, new_price: int) -> None:
            pass

        def on_replace_reject(self, order: Any, reason: str) -> None:
            pass

    listener = Listener()
    book = lb.liquibook_book_OrderBook()
    book.set_order_listener(listener)
    SimpleOrder = lb.SimpleOrder
    ioc = lb.oc_immediate_or_cancel
    add = book.add
    cancel = book.cancel
    resting: dict[int, Any] = {}
    first = last = None
    t0 = time.perf_counter()
    for op, side, ord_type, account, order_id, price, qty in rows:
        if op == OP_ADD:
            if ord_type == LIMIT:
                order = SimpleOrder(side == BUY, price, qty)
                resting[order_id] = order
            else:  # price 0 is liquibook's market order; IOC stops the remainder resting
                order = SimpleOrder(side == BUY, 0, qty, 0, ioc)
            add(order)
            if first is None:
                first = (order.order_id_, order_id)
            last = (order.order_id_, order_id)
        else:
            cancel(resting.pop(order_id))
    sec = time.perf_counter() - t0
    # liquibook numbers orders itself from a process-wide counter: map back by the offset.
    if first is None or last is None:
        offset = 0
    else:
        offset = first[0] - first[1]
        if last[0] - last[1] != offset:
            raise AssertionError("liquibook order ids are not contiguous; cannot map fills")
    fills = [(m - offset, t - offset, p, q) for m, t, p, q in fills]
    bids, asks = book.bids(), book.asks()
    bid = next(iter(bids)).price() if len(bids) else 0
    ask = next(iter(asks)).price() if len(asks) else 0
    return _from_fills("liquibook", len(rows), fills, bid, ask, sec)


# --------------------------------------------------------------------- nautilus_trader
def run_nautilus(cmds: np.ndarray[Any, Any], rows: Rows) -> PeerResult:
    """nautilus_trader's L3 OrderBook keeps the book; a Python loop does the matching."""
    try:
        from nautilus_trader.model.book import OrderBook
        from nautilus_trader.model.data import BookOrder
        from nautilus_trader.model.enums import BookType, OrderSide
        from nautilus_trader.model.identifiers import InstrumentId
        from nautilus_trader.model.objects import Price, Quantity
    except ImportError as exc:
        raise PeerUnavailable(f"nautilus_trader is not installed ({exc})") from exc
    if _has_amends(rows):
        raise PeerUnavailable("the nautilus adapter replays adds, cancels and market orders only")
    book = OrderBook(InstrumentId.from_str("XBTUSD.BITMEX"), BookType.L3_MBO)
    resting: dict[int, Any] = {}
    fills: list[Fill] = []
    append = fills.append
    n_buy, n_sell = OrderSide.BUY, OrderSide.SELL
    b_add, b_update, b_delete = book.add, book.update, book.delete
    best_bid, best_ask, bids, asks = book.best_bid_price, book.best_ask_price, book.bids, book.asks

    def take(taker_id: int, side: int, limit: int, qty: int, ts: int) -> int:
        if side == BUY:
            best_fn, levels_fn = best_ask, asks
        else:
            best_fn, levels_fn = best_bid, bids
        while qty:
            best = best_fn()
            if best is None:
                break
            px = int(best.as_double())
            if limit and (px > limit if side == BUY else px < limit):
                break
            for maker in levels_fn()[0].orders():
                m_qty = int(maker.size.as_double())
                mid = maker.order_id
                if m_qty <= qty:
                    append((mid, taker_id, px, m_qty))
                    qty -= m_qty
                    b_delete(maker, ts)
                    del resting[mid]
                    if not qty:
                        break
                else:
                    append((mid, taker_id, px, qty))
                    smaller = BookOrder(maker.side, maker.price, Quantity(m_qty - qty, 0), mid)
                    b_update(smaller, ts)
                    resting[mid] = smaller
                    qty = 0
                    break
        return qty

    t0 = time.perf_counter()
    for ts, (op, side, ord_type, account, order_id, price, qty) in enumerate(rows, 1):
        if op == OP_ADD:
            if ord_type == LIMIT:
                leaves = take(order_id, side, price, qty, ts)
                if leaves:
                    order = BookOrder(n_buy if side == BUY else n_sell, Price(price, 0),
                                      Quantity(leaves, 0), order_id)
                    b_add(order, ts)
                    resting[order_id] = order
            else:
                take(order_id, side, 0, qty, ts)
        else:
            b_delete(resting.pop(order_id), ts)
    sec = time.perf_counter() - t0
    bb, ba = best_bid(), best_ask()
    bid = int(bb.as_double()) if bb is not None else 0
    ask = int(ba.as_double()) if ba is not None else 0
    return _from_fills("nautilus_trader", len(rows), fills, bid, ask, sec)


# --------------------------------------------------------------------- matching-engine
def _me_python() -> Path:
    """The venv interpreter with matching-engine, created on first use."""
    py = ME_VENV / "bin" / "python"
    probe = [str(py), "-c", "import matching_engine, numpy"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    if not Path(ME_BASE_PYTHON).exists():
        raise PeerUnavailable(f"matching-engine needs Python 3.12+; {ME_BASE_PYTHON} is missing")
    steps = [
        [ME_BASE_PYTHON, "-m", "venv", str(ME_VENV)],
        [str(py), "-m", "pip", "install", "-q", "numpy", "matching-engine"],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise PeerUnavailable(f"cannot set up matching-engine: {done.stderr.strip()[-300:]}")
    return py


def run_matching_engine(cmds: np.ndarray[Any, Any], rows: Rows) -> PeerResult:
    """Runs in a Python 3.12 subprocess (``peer_matching_engine.py``) on a saved copy."""
    if _has_amends(rows):
        raise PeerUnavailable("matching-engine has no amend")
    py = _me_python()
    with tempfile.TemporaryDirectory(prefix="perpex-bench-") as tmp:
        path = Path(tmp) / "flow.npy"
        np.save(path, cmds)
        done = subprocess.run([str(py), str(_HERE / "peer_matching_engine.py"), str(path)],
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise PeerUnavailable(f"matching-engine run failed: {done.stderr.strip()[-500:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    return PeerResult("matching-engine", len(rows), r["trades"], r["traded_qty"], r["tape_hash"],
                      r["best_bid"], r["best_ask"], r["seconds"])


# ---------------------------------------------------------------------------- registry
Runner = Callable[[np.ndarray[Any, Any], Rows], PeerResult]

PEERS: dict[str, Runner] = {
    "sortedcontainers": run_sorted,
    "perpex per-call": run_perpex_call,
    "perpex batch": run_perpex_batch,
    "liquibook": run_liquibook,
    "matching-engine": run_matching_engine,
    "nautilus_trader": run_nautilus,
}


def run_peer(name: str, cmds: np.ndarray[Any, Any], rows: Rows | None = None) -> PeerResult:
    return PEERS[name](cmds, decode(cmds) if rows is None else rows)


if __name__ == "__main__":  # quick manual check: python bench/peers.py flow.npy [peer ...]
    flow_cmds = np.load(sys.argv[1])
    flow_rows = decode(flow_cmds)
    for peer in sys.argv[2:] or list(PEERS):
        try:
            print(PEERS[peer](flow_cmds, flow_rows))
        except PeerUnavailable as why:
            print(f"{peer}: skipped ({why})")
