"""Cost of one funding instant of :class:`perpex.exchange.Exchange` over many open positions.

N accounts each hold a 10-contract XBTUSD long against one large short (account 1), all
cross-margined, set up through the public API. The exchange is then advanced to one minute
before a funding instant and, timed, across it. Three figures are printed per size, each the
best of ``--repeat`` funding instants on the same exchange:

- **settlement**: the funding payments themselves (the rate, every payment, the ledger, the
  positions' realised PnL and the Funding events);
- **instant**: the whole ``advance`` across the instant: the settlement plus the index print
  and mark update of that minute, and the refresh of the liquidation index for the positions
  funding touched if the risk layer works its queue within that command;
- **settlement, events off**: the settlement with event dicts not built (as on the batch path).

    python bench/bench_funding.py --positions 100000          # 1k, 10k and 100k positions
    python bench/bench_funding.py --positions 10000 --repeat 1
    python bench/bench_funding.py --clock cpu     # process CPU time: steadier on a busy machine
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from perpex import presets
from perpex.exchange import Exchange

XBT = 100_000_000
H = 3_600_000
T0 = 1_561_939_200_000 + 4 * H  # 2019-07-01 04:00 UTC, an XBTUSD funding instant
QUOTES = {"Bitstamp": 10_000, "Coinbase": 10_000, "Kraken": 10_000}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def build(n: int) -> Exchange:
    """N + 1 open positions: N longs of 10 contracts against one short of 10 N."""
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": 10 * XBT})
    ex.update_index(T0, QUOTES)
    ex.deposit(1, 10**6 * XBT, ts=T0)
    ex.place(1, "XBTUSD", "Sell", 10 * n, 10_000, ts=T0)
    for a in range(2, n + 2):
        ex.deposit(a, XBT, ts=T0)
        ex.place(a, "XBTUSD", "Buy", 10, 10_000, ts=T0)
    ex.drain_events()
    return ex


class _Timed:
    """Wraps the exchange's funding settlement to time it apart from the rest of the instant."""

    def __init__(self, ex: Exchange) -> None:
        self.seconds = 0.0
        inner = ex._pay_funding  # noqa: SLF001 - the bench times this one internal step

        def timed(sym: str, t: int) -> None:
            start = clock()
            inner(sym, t)
            self.seconds += clock() - start
        ex._pay_funding = timed  # type: ignore[method-assign]  # noqa: SLF001


def one_instant(ex: Exchange, timer: _Timed, t: int, emit: bool) -> tuple[float, float, int]:
    """Advances across the funding instant ``t``: (settlement s, whole advance s, events)."""
    ex.update_index(t - 60_000, QUOTES)
    ex.drain_events()
    ex._emit = emit  # noqa: SLF001 - events off, as submit_orders(events=False) does
    timer.seconds = 0.0
    start = clock()
    ex.advance(t)
    whole = clock() - start
    ex._emit = True  # noqa: SLF001
    events = sum(1 for e in ex.drain_events() if e.get("execType") == "Funding")
    return timer.seconds, whole, events


def measure(n: int, repeat: int) -> dict[str, Any]:
    ex = build(n)
    timer = _Timed(ex)
    settle, whole, settle_quiet = [], [], []
    # the first instant pays the initial rate of 0; it fixes the interest rate for the next
    t = T0 + 8 * H
    one_instant(ex, timer, t, emit=True)
    for _ in range(repeat):
        t += 8 * H
        s, w, events = one_instant(ex, timer, t, emit=True)
        if events != n + 1:
            raise SystemExit(f"expected {n + 1} Funding events, got {events}")
        settle.append(s)
        whole.append(w)
        t += 8 * H
        s, _, events = one_instant(ex, timer, t, emit=False)
        if events:
            raise SystemExit(f"events were built with emission off ({events})")
        settle_quiet.append(s)
    ex.check_invariants()
    return {"settle": min(settle), "whole": min(whole), "quiet": min(settle_quiet)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=100_000,
                        help="largest size; 1,000 and 10,000 run first when smaller")
    parser.add_argument("--repeat", type=int, default=3, help="funding instants per size (best of)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time (default) or this process's CPU time")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    sizes = [s for s in (1_000, 10_000) if s < args.positions] + [args.positions]
    print(f"{'positions':>10} {'settlement ms':>14} {'events off ms':>14} {'instant ms':>11}"
          f" {'us/position':>12}")
    for n in sizes:
        r = measure(n, args.repeat)
        print(f"{n:>10,} {r['settle'] * 1e3:>14.1f} {r['quiet'] * 1e3:>14.1f} "
              f"{r['whole'] * 1e3:>11.1f} {r['settle'] * 1e6 / n:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
