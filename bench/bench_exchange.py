"""End-to-end throughput of :class:`perpex.exchange.Exchange` on a realistic order flow.

The flow is :mod:`flow`'s seeded XBTUSD-like flow (passive adds a geometric distance from a
random-walk fair price, a few marketable limits, uniform cancels of live orders, market orders
sweeping one to three levels) spread over 1,000 funded accounts, so every add and every market
order goes through the full pre-trade margin check against that account's position and open
orders. The mark is set once, near the fair price, so orders priced through it pay the
fair-price premium.

The same commands are replayed two ways, each on a fresh exchange:

- **per call**: ``ex.place`` / ``ex.cancel`` with human prices, events on (drained every
  1,000 commands, as a client would);
- **batch**: one ``submit_orders`` call on ``ORDER_DTYPE`` rows, events off.

Both runs must end in the same state hash, with no rejects and no cancel of an unknown order
(the generator's cancels target orders that are still resting). ``--profile`` reruns a shorter
flow under cProfile and prints the share of the run spent in the engine's main functions.

    python bench/bench_exchange.py                    # 200,000 commands, best of 5
    python bench/bench_exchange.py --messages 50000 --repeat 1 --profile

The figure is the best run's (the machine is shared: a slower run measured a neighbour, not
the engine); the median beside it shows the scatter. A batch run lasts about a tenth of a
second, so a few runs can all fall in one busy spell: five rather than three.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commands import MARKET, OP_ADD, OP_CANCEL  # noqa: E402
from flow import FlowConfig, generate  # noqa: E402

from perpex import presets  # noqa: E402
from perpex.exchange import (  # noqa: E402
    OP_CANCEL as X_CANCEL, OP_LIMIT as X_LIMIT, OP_MARKET as X_MARKET, ORDER_DTYPE, STATUS_OK,
    Exchange)

SYMBOL = "XBTUSD"
DEPOSIT = 50 * 100_000_000  # 50 XBT per account: the flow never runs an account out of margin
T0 = 1_561_939_200_000
MARK = 20_000  # USD: the flow's start price (40,000 ticks of 0.5)

# Functions whose share of the run is printed by --profile, as "file:name" (a renamed helper
# simply drops out of the table).
PROFILE_FUNCS = (
    "exchange.py:place", "exchange.py:cancel", "exchange_batch.py:submit_orders",
    "exchange_core.py:_commit", "exchange_core.py:_place", "exchange_core.py:_drive",
    "exchange_core.py:_apply", "exchange_core.py:_fill", "exchange_core.py:_finish",
    "exchange_margin.py:_margin_reject", "exchange_margin.py:_order_margin",
    "exchange_margin.py:_available", "margin.py:level_order_margin", "margin.py:order_margin",
    "exchange_risk.py:_risk_flush", "exchange_risk.py:_reindex", "exchange_risk.py:_touch",
    "position.py:book_fill", "position.py:book_fee", "ledger.py:transfer", "orders.py:execution",
)


def make_flow(messages: int, accounts: int, seed: int) -> np.ndarray:
    """The flow as ORDER_DTYPE rows (order ids 1, 2, 3 ... in add order, as the exchange
    assigns them when nothing is rejected)."""
    cmds = generate(FlowConfig(messages=messages, accounts=accounts, seed=seed))
    rows = np.zeros(len(cmds), ORDER_DTYPE)
    rows["ts"] = T0 + np.arange(len(cmds), dtype=np.int64)
    rows["account"] = cmds["account"]
    rows["side"] = cmds["side"]
    add, cancel = cmds["op"] == OP_ADD, cmds["op"] == OP_CANCEL
    market = add & (cmds["ord_type"] == MARKET)
    rows["op"][add] = X_LIMIT
    rows["op"][market] = X_MARKET
    rows["op"][cancel] = X_CANCEL
    rows["qty"][add] = cmds["qty"][add]
    rows["price"][add & ~market] = cmds["price"][add & ~market]
    rows["order_id"][cancel] = cmds["order_id"][cancel]
    if not (add | cancel).all():
        raise SystemExit("the flow holds commands other than adds and cancels (amends are off)")
    return rows


def fresh(accounts: int) -> Exchange:
    ex = Exchange([presets.XBTUSD()], max_executions=0)
    for a in range(1, accounts + 1):
        ex.deposit(a, DEPOSIT, ts=T0)
    ex.set_mark(SYMBOL, MARK, ts=T0)
    ex.drain_events()
    return ex


def run_per_call(ex: Exchange, rows: np.ndarray) -> tuple[float, int]:
    """Replays ``rows`` through ``place`` / ``cancel``; returns (seconds, rejects)."""
    inst = ex.book(SYMBOL).instrument
    tick = inst.tick_size
    prices: dict[int, Decimal] = {}
    calls: list[tuple[Any, ...]] = []
    for ts, a, _s, op, side, _p, qty, price, oid in rows.tolist():
        sd = "Buy" if side == 0 else "Sell"
        if op == X_LIMIT:
            px = prices.get(price)
            if px is None:
                px = prices[price] = price * tick
            calls.append((0, a, sd, qty, px, ts))
        elif op == X_MARKET:
            calls.append((1, a, sd, qty, None, ts))
        else:
            calls.append((2, a, oid, 0, None, ts))
    place, cancel, drain = ex.place, ex.cancel, ex.drain_events
    rejects = 0
    t = time.perf_counter()
    for i, (kind, a, x, qty, px, ts) in enumerate(calls):
        if kind == 0:
            out = place(a, SYMBOL, x, qty, px, ts=ts)
        elif kind == 1:
            out = place(a, SYMBOL, x, qty, ts=ts)
        else:
            out = cancel(a, x, ts=ts)
        if not out.accepted:
            rejects += 1
        if i % 1000 == 999:
            drain()
    drain()
    return time.perf_counter() - t, rejects


def run_batch(ex: Exchange, rows: np.ndarray) -> tuple[float, int]:
    """One ``submit_orders`` call; returns (seconds, rows not STATUS_OK)."""
    t = time.perf_counter()
    res = ex.submit_orders(rows)
    dt = time.perf_counter() - t
    return dt, int((res["status"] != STATUS_OK).sum())


def best_of(repeat: int, accounts: int, rows: np.ndarray,
            run: Callable[[Exchange, np.ndarray], tuple[float, int]]
            ) -> tuple[float, float, int, int]:
    """(best seconds, median seconds, rejects, state hash) over ``repeat`` fresh exchanges."""
    times, bad, digest = [], 0, 0
    for _ in range(repeat):
        ex = fresh(accounts)
        dt, bad = run(ex, rows)
        ex.check_invariants()
        times.append(dt)
        digest = ex.state_hash()
    return min(times), statistics.median(times), bad, digest


def profile_shares(accounts: int, rows: np.ndarray,
                   run: Callable[[Exchange, np.ndarray], tuple[float, int]]) -> list[tuple[str, float, float]]:
    """(function, cumulative share, own share) of the run's profiled time."""
    ex = fresh(accounts)
    prof = cProfile.Profile()
    prof.enable()
    run(ex, rows)
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.values())
    out = []
    for (path, line, name), (_cc, _nc, tt, ct, _callers) in stats.items():
        label = f"{Path(path).name}:{name}" if path != "~" else name
        if label in PROFILE_FUNCS or (path == "~" and name in PROFILE_FUNCS):
            out.append((label, ct / total, tt / total))
    own = sorted(((f"{Path(p).name}:{n}" if p != "~" else n), v[2] / total)
                 for (p, _l, n), v in stats.items())
    top = sorted(own, key=lambda x: -x[1])[:12]
    out.sort(key=lambda x: -x[1])
    return out + [("-- top own time: " + label, 0.0, share) for label, share in top]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--accounts", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="also print cProfile shares")
    ap.add_argument("--only", choices=("call", "batch"), default=None)
    args = ap.parse_args(argv)

    rows = make_flow(args.messages, args.accounts, args.seed)
    ops = np.bincount(rows["op"], minlength=4)
    print(f"flow: {len(rows):,} commands over {args.accounts:,} accounts: {ops[X_LIMIT]:,} limit, "
          f"{ops[X_MARKET]:,} market, {ops[X_CANCEL]:,} cancel")
    hashes = {}
    runs = (("per call", run_per_call), ("batch", run_batch))
    for name, run in runs:
        if args.only and not name.startswith(args.only):
            continue
        dt, mid, bad, digest = best_of(args.repeat, args.accounts, rows, run)
        hashes[name] = digest
        print(f"{name:>8}: {len(rows) / dt:>10,.0f} orders/s  (best of {args.repeat}: {dt:.3f} s, "
              f"median {len(rows) / mid:,.0f}/s; rejects/unknown {bad}; "
              f"state hash {digest:016x})")
        if bad:
            print(f"WARNING: {bad} commands were rejected or unknown: the flow did not replay as generated")
    if len(set(hashes.values())) > 1:
        print("WARNING: per-call and batch runs ended in different states")
    if args.profile:
        short = rows[: min(len(rows), 50_000)]
        for name, run in runs:
            if args.only and not name.startswith(args.only):
                continue
            print(f"\nprofile, {name} ({len(short):,} commands): cumulative / own share")
            for label, cum, own in profile_shares(args.accounts, short, run):
                print(f"  {label:<70} {cum:6.1%} {own:6.1%}")


if __name__ == "__main__":
    main()
