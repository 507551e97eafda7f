"""Replays a saved flow through the ``matching-engine`` package (Python >= 3.12).

Usage: ``python peer_matching_engine.py flow.npy``. Prints one JSON line with trades,
traded_qty, tape_hash, best_bid, best_ask and seconds. Self-trade prevention is switched off
because the other peers allow self-trades.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from matching_engine import (
    CancelOrder,
    NewOrder,
    OrderType,
    SelfTradePrevention,
    SequencedCommand,
    Side,
    TimeInForce,
)
from matching_engine.engine import MatchingEngine
from matching_engine.events import Trade

from tape import tape_digest

OP_ADD = 1
OP_CANCEL = 2
LIMIT = 0
BUY = 0


def main(path: str) -> None:
    cmds = np.load(path)
    rows = list(zip(cmds["op"].tolist(), cmds["side"].tolist(), cmds["ord_type"].tolist(),
                    cmds["account"].tolist(), cmds["order_id"].tolist(), cmds["price"].tolist(),
                    cmds["qty"].tolist()))
    engine = MatchingEngine()
    process = engine.process
    stp = SelfTradePrevention.NONE
    buy, sell = Side.BUY, Side.SELL
    market, ioc = OrderType.MARKET, TimeInForce.IOC
    fills: list[tuple[int, int, int, int]] = []
    append = fills.append
    t0 = time.perf_counter()
    for seq, (op, side, ord_type, account, order_id, price, qty) in enumerate(rows, 1):
        if op == OP_ADD:
            s = buy if side == BUY else sell
            if ord_type == LIMIT:
                cmd = NewOrder(order_id, account, s, price, qty, stp=stp)
            else:
                cmd = NewOrder(order_id, account, s, 0, qty, market, ioc, stp=stp)
        elif op == OP_CANCEL:
            cmd = CancelOrder(order_id, account)  # cancel rows carry the owner's account
        else:
            raise SystemExit(f"op={op} is not supported by matching-engine")
        for ev in process(SequencedCommand(seq, 0, cmd)):
            if type(ev) is Trade:
                append((ev.maker_order_id, ev.taker_order_id, ev.price, ev.qty))
    sec = time.perf_counter() - t0
    print(json.dumps({
        "trades": len(fills),
        "traded_qty": sum(f[3] for f in fills),
        "tape_hash": tape_digest(fills),
        "best_bid": engine.book.best_bid() or 0,
        "best_ask": engine.book.best_ask() or 0,
        "seconds": sec,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
