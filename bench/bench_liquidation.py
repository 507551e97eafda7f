"""Liquidation-engine benchmark: the cost of a mark update that liquidates nothing, by number of
open (safe) positions, and the rate of a cascade in which one mark update liquidates many.

    python bench/bench_liquidation.py [--cascade N] [--repeat R]

Safe positions are 10x longs far from their liquidation price; the positions that a cascade
liquidates are 50x longs against a deep bid the engine sells into (the fund pays the
difference). Times are the best of ``--repeat`` runs on simulated time (the engine never reads
a clock; only this script does)."""

from __future__ import annotations

import argparse
import time

from perpex import presets
from perpex.exchange import Exchange

XBT = 100_000_000


def market(n: int, leverage: int) -> Exchange:
    """``n`` longs of 100 contracts at 10,000, each its own account at ``leverage``."""
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": 100_000 * XBT})
    ex.deposit(1, 1_000_000 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000)
    ex.place(1, "XBTUSD", "Sell", 100 * n, 10_000)
    for a in range(2, n + 2):
        ex.deposit(a, XBT // 10, ts=0)
        ex.set_leverage(a, "XBTUSD", leverage)
        ex.place(a, "XBTUSD", "Buy", 100, 10_000)
    ex.place(1, "XBTUSD", "Buy", 100 * n, 9_000)
    ex.drain_events()
    return ex


def quiet_update(n: int, repeat: int) -> float:
    """Seconds for one mark update that crosses no liquidation price, with ``n`` positions."""
    ex = market(n, 10)
    best = float("inf")
    for k in range(repeat * 20):
        price = 9_990 if k % 2 else 10_010
        t = time.perf_counter()
        ex.set_mark("XBTUSD", price)
        best = min(best, time.perf_counter() - t)
    assert ex.liquidation_stats()["takeovers"] == 0
    return best


def cascade(n: int, repeat: int) -> float:
    """Liquidations per second when one mark update liquidates ``n`` positions.

    A quiet mark update first indexes the positions the set-up opened (the index is brought up
    to date at the next mark, as a live feed would within seconds), so the figure is the
    cascade's own work, not the indexing of ``n`` new positions."""
    best = float("inf")
    for _ in range(repeat):
        ex = market(n, 50)
        ex.set_mark("XBTUSD", 9_995)
        assert ex.liquidation_stats()["takeovers"] == 0
        t = time.perf_counter()
        ex.set_mark("XBTUSD", 9_700)
        best = min(best, time.perf_counter() - t)
        st = ex.liquidation_stats()
        assert st["takeovers"] + st["partials"] == n
        ex.check_invariants()
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cascade", type=int, default=10_000, help="positions a cascade liquidates")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    args = parser.parse_args()
    print(f"{'open positions':>15} | {'quiet mark update':>18}")
    print(f"{'-' * 15}-+-{'-' * 18}")
    for n in (1_000, 10_000, 100_000):
        print(f"{n:>15,} | {quiet_update(n, args.repeat) * 1e6:>15.1f} us", flush=True)
    rate = cascade(args.cascade, args.repeat)
    print(f"\ncascade of {args.cascade:,} liquidations in one mark update: {rate:,.0f} liquidations/s")


if __name__ == "__main__":
    main()
