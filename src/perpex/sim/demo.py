"""A seeded order-book demonstration: quoting makers, noise takers and stops on one XBTUSD-like
book, driven through the native batch path, summarised at the end.

The flow is built in NumPy from a seed: a random-walk fair price; makers post GoodTillCancel
quotes (some post-only, some icebergs, some hidden) a few ticks around it and cancel stale ones;
takers send market and ImmediateOrCancel orders; a few stop and trailing-stop orders wait on the
last price. Same seed, same events, same state hash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from perpex import _native as N
from perpex._events import fill_digest


@dataclass(frozen=True)
class DemoResult:
    messages: int
    fills: int
    traded_qty: int
    rejected_rows: int
    best_bid: int
    best_ask: int
    resting_orders: int
    conditional_orders: int
    state_hash: int
    tape_digest: int
    seconds: float


def build_flow(messages: int, seed: int, start_ticks: int = 40_000) -> np.ndarray:
    """The command array of the demo (CMD_DTYPE)."""
    rng = np.random.default_rng(seed)
    cmds = np.zeros(messages, N.CMD_DTYPE)
    cmds["display_qty"] = -1
    cmds["trigger"] = N.FEED_LAST
    fair = start_ticks + np.cumsum(rng.normal(0.0, 0.4, messages)).round().astype(np.int64)
    kind = rng.random(messages)
    side = rng.integers(0, 2, messages)
    dist = rng.geometric(0.25, messages)
    qty = np.maximum(1, rng.lognormal(3.5, 1.0, messages).astype(np.int64))
    ids = np.arange(1, messages + 1, dtype=np.uint64)
    cmds["order_id"] = ids
    cmds["account"] = rng.integers(1, 50, messages)
    cmds["side"] = side
    cmds["qty"] = qty
    quote = kind < 0.58
    price = np.where(side == N.BUY, fair - dist, fair + dist)
    cmds["op"] = N.OP_ADD
    cmds["price"] = np.where(quote, price, 0)
    flavour = rng.random(messages)
    cmds["flags"] = np.where(quote & (flavour < 0.3), N.FLAG_POST_ONLY, 0)
    cmds["display_qty"] = np.where(quote & (flavour > 0.93), np.maximum(1, qty // 5),
                                   np.where(quote & (flavour > 0.90), 0, -1))
    # Cancels: of an order added a little earlier (it may have filled: that row is reported
    # as an unknown order and changes nothing, as a late cancel does on a real exchange).
    cancel = (kind >= 0.58) & (kind < 0.94)
    back = np.minimum(ids - 1, rng.integers(1, 400, messages).astype(np.uint64))
    cmds["op"] = np.where(cancel, N.OP_CANCEL, cmds["op"])
    cmds["order_id"] = np.where(cancel, ids - back, ids)
    take = (kind >= 0.94) & (kind < 0.985)
    cmds["ord_type"] = np.where(take, N.MARKET, N.LIMIT)
    ioc = take & (flavour < 0.3)
    cmds["ord_type"] = np.where(ioc, N.LIMIT, cmds["ord_type"])
    cmds["tif"] = np.where(ioc, N.IOC, N.GTC)
    cmds["price"] = np.where(ioc, np.where(side == N.BUY, fair + 2, fair - 2), cmds["price"])
    stop = kind >= 0.985
    trailing = stop & (flavour < 0.4)
    cmds["ord_type"] = np.where(stop, N.STOP, cmds["ord_type"])
    cmds["price"] = np.where(stop, 0, cmds["price"])
    cmds["stop_px"] = np.where(stop & ~trailing, np.where(side == N.BUY, fair + 15, fair - 15), 0)
    cmds["flags"] = np.where(trailing, N.FLAG_TRAILING, np.where(stop, 0, cmds["flags"]))
    cmds["peg_offset"] = np.where(trailing, np.where(side == N.BUY, 12, -12), 0)
    cmds["qty"] = np.where(take | stop, np.minimum(qty, 200), qty)
    # Cancels are never "new" ids: keep the id sequence strictly increasing for adds.
    cmds["order_id"] = np.where(cancel, cmds["order_id"], ids)
    return cmds


def run(messages: int = 200_000, seed: int = 7) -> DemoResult:
    cmds = build_flow(messages, seed)
    book = N.OrderBook(capacity=1 << 14)
    t0 = time.perf_counter()
    events, status = book.submit_batch(cmds)
    seconds = time.perf_counter() - t0
    book.check_invariants()
    fills, traded, digest = fill_digest(events)
    rejected = int(np.count_nonzero(status))
    return DemoResult(messages, fills, traded, rejected, book.best_bid(), book.best_ask(),
                      book.order_count, book.conditional_count, book.state_hash(), digest, seconds)
