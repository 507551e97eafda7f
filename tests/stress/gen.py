"""Seeded random command flow for the book, as one CMD_DTYPE array (RELIABILITY.md B2.5).

The mix follows exchange-core's benchmark shape (many amends and cancels around a drifting mid)
plus every order type of the book: plain, hidden and iceberg limits, post-only, IOC, FOK,
markets with and without a protection price, stops, stop-limits, if-touched orders, trailing
stops on each feed, cancel-alls, feed price moves (including floor/ceiling pairs) and, for books
that hold triggered orders, activations. Order ids only increase. Commands may refer to orders
that have already finished; the book reports those rows as UNKNOWN_ORDER, which is part of the test.
"""

from __future__ import annotations

import numpy as np

from tests.model import (
    BUY, CMD_DTYPE, FEED_INDEX, FEED_LAST, FEED_MARK, FLAG_POST_ONLY, FLAG_REDUCE_ONLY,
    FLAG_TRAILING, FOK, GTC, IOC, LIMIT, LIMIT_IF_TOUCHED, MARKET, MARKET_IF_TOUCHED,
    MASK_ACCOUNT, MASK_PEG_OFFSET, MASK_PRICE, MASK_QTY, MASK_STOP_PX, OP_ACTIVATE, OP_ADD,
    OP_AMEND, OP_CANCEL, OP_CANCEL_ALL, OP_SET_PRICE, SELL, STOP, STOP_LIMIT, trigger_rises,
)

# Cumulative weights of the command kinds.
_KINDS = ["gtc", "ioc", "fok", "market", "conditional", "cancel", "amend", "cancel_all",
          "set_price", "activate"]
_WEIGHTS = np.array([28, 4, 2, 4, 7, 8, 40, 0.3, 5, 1.7])


def generate(n: int, seed: int, accounts: int = 50, mid: int = 10_000, spread: int = 25,
             hold_triggered: bool = False) -> np.ndarray:
    """Returns `n` commands. The same arguments always give the same array."""
    rng = np.random.default_rng(seed)
    weights = _WEIGHTS.copy()
    if not hold_triggered:
        weights[_KINDS.index("activate")] = 0
    kinds = rng.choice(len(_KINDS), size=n, p=weights / weights.sum())
    u = rng.random((n, 8))
    qty = rng.integers(1, 50, size=n)
    offs = rng.integers(-spread, spread + 1, size=n)
    steps = rng.integers(-3, 4, size=n)
    out = np.zeros(n, dtype=CMD_DTYPE)
    out["display_qty"] = -1
    out["trigger"] = FEED_MARK
    next_id = 1
    live: list[int] = []        # ids that may still rest (a recent window)
    conds: list[int] = []       # ids of conditional orders
    side_of: dict[int, int] = {}
    for i in range(n):
        mid = max(spread + 10, mid + int(steps[i]))
        r = out[i]
        kind = _KINDS[kinds[i]]
        side = BUY if u[i, 0] < 0.5 else SELL
        # Bids mostly below the mid, asks mostly above, so most limits rest.
        away = abs(int(offs[i]))
        px = mid - away if side == BUY else mid + away
        if u[i, 1] < 0.05:
            px = mid + away if side == BUY else max(1, mid - away)
        if kind in ("gtc", "ioc", "fok", "market", "conditional"):
            r["op"], r["order_id"], r["side"] = OP_ADD, next_id, side
            r["account"] = 1 + int(u[i, 2] * accounts)
            r["qty"] = qty[i]
            next_id += 1 + int(u[i, 3] < 0.01)  # an occasional gap in the ids
            if u[i, 4] < 0.02:
                r["flags"] = FLAG_REDUCE_ONLY
            if kind == "gtc":
                r["ord_type"], r["price"], r["tif"] = LIMIT, px, GTC
                if u[i, 5] < 0.08:
                    r["display_qty"] = 0
                elif u[i, 5] < 0.16:
                    r["display_qty"] = 1 + int(u[i, 6] * 5)
                elif u[i, 5] < 0.26:
                    r["flags"] |= FLAG_POST_ONLY
                live.append(int(r["order_id"]))
                side_of[int(r["order_id"])] = side
            elif kind in ("ioc", "fok"):
                r["ord_type"], r["tif"] = LIMIT, IOC if kind == "ioc" else FOK
                r["price"] = mid + away if side == BUY else max(1, mid - away)
            elif kind == "market":
                r["ord_type"] = MARKET
                if u[i, 5] < 0.4:
                    r["price"] = mid + 2 * away if side == BUY else max(1, mid - 2 * away)
            else:
                _conditional(r, u[i], mid, away, side)
                conds.append(int(r["order_id"]))
                side_of[int(r["order_id"])] = side
        elif kind in ("cancel", "amend", "activate") and (live or conds):
            pool = conds if (kind == "activate" or u[i, 2] < 0.15) and conds else live
            if not pool:
                pool = live or conds
            j = len(pool) - 1 - int(u[i, 3] * min(len(pool), 2_000))
            r["order_id"] = pool[j]
            o_side = side_of.get(pool[j], side)
            px = mid - away if o_side == BUY else mid + away
            if u[i, 4] < 0.05:
                r["account"], r["mask"] = 1 + int(u[i, 5] * accounts), MASK_ACCOUNT
            if kind == "cancel":
                r["op"] = OP_CANCEL
                side_of.pop(pool.pop(j), None)
            elif kind == "activate":
                r["op"], r["qty"] = OP_ACTIVATE, 1 + int(u[i, 6] * 10)
            else:
                r["op"] = OP_AMEND
                _amend(r, u[i], qty[i], px, int(steps[i]), pool is conds)
        elif kind == "cancel_all":
            r["op"], r["account"] = OP_CANCEL_ALL, 1 + int(u[i, 2] * accounts)
        else:
            r["op"] = OP_SET_PRICE
            r["trigger"] = (FEED_MARK, FEED_INDEX, FEED_LAST)[min(2, int(u[i, 2] * 3))]
            r["price"] = mid + int(steps[i]) * 2
            if u[i, 3] < 0.1:
                r["stop_px"] = r["price"] + 1
        if len(live) > 4_000:
            for oid in live[:2_000]:
                side_of.pop(oid, None)
            del live[:2_000]
        if len(conds) > 1_000:
            for oid in conds[:500]:
                side_of.pop(oid, None)
            del conds[:500]
    return out


def _conditional(r: np.void, u: np.ndarray, mid: int, away: int, side: int) -> None:
    kinds = (STOP, STOP_LIMIT, MARKET_IF_TOUCHED, LIMIT_IF_TOUCHED)
    t = kinds[min(3, int(u[5] * 4))]
    r["ord_type"] = t
    r["trigger"] = (FEED_MARK, FEED_INDEX, FEED_LAST)[min(2, int(u[6] * 3))]
    rises = trigger_rises(side, t)
    dist = 1 + away // 2
    if t in (STOP, STOP_LIMIT) and u[7] < 0.3:
        r["flags"] |= FLAG_TRAILING
        r["peg_offset"] = dist if rises else -dist
    else:
        r["stop_px"] = mid + dist if rises else max(1, mid - dist)
    if t in (STOP_LIMIT, LIMIT_IF_TOUCHED):
        r["price"] = mid + dist + 2 if side == BUY else max(1, mid - dist - 2)
        if u[7] > 0.9:
            r["display_qty"] = 0
    elif u[7] > 0.7:
        r["price"] = mid + 3 * dist if side == BUY else max(1, mid - 3 * dist)  # protection


def _amend(r: np.void, u: np.ndarray, qty: int, px: int, step: int, conditional: bool) -> None:
    if conditional:
        choice = int(u[6] * 3)
        if choice == 0:
            r["mask"] |= MASK_QTY
            r["qty"] = qty
        elif choice == 1:
            r["mask"] |= MASK_STOP_PX
            r["stop_px"] = px
        else:
            r["mask"] |= MASK_PEG_OFFSET
            r["peg_offset"] = step if step else 1
        return
    choice = u[6]
    if choice < 0.45:
        r["mask"] |= MASK_QTY
        r["qty"] = qty
    if choice >= 0.35:
        r["mask"] |= MASK_PRICE
        r["price"] = px
