"""Journal, snapshot and journaling-overhead figures (best of ``--repeat`` runs each).

    python bench/bench_journal.py [--records 1000000] [--orders 20000] [--repeat 3] [--group 1024]

Prints:
- read + verify of a ``--records`` journal of Exchange-shaped payloads (mixed record sizes) and
  of one-size records: column-wise scan only, and as a list of ``Record`` tuples;
- Exchange orders/s on one seeded per-call flow, plain and journaled (fsync "never" and
  "batch" with group commit), and on the batch path (``submit_orders``), plain and journaled;
- recovery from the base snapshot of the per-call and the batch journals (every command
  replayed), in commands/s (best of ``--repeat`` recoveries);
- snapshot write and load (restore plus hash check) times and size after that flow.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import numpy as np

from perpex import presets
from perpex.exchange import Exchange
from perpex.exchange_batch import OP_CANCEL, OP_LIMIT, OP_MARKET, ORDER_DTYPE
from perpex.exchange_codec import Codec
from perpex.exchange_journal import GROUP_COMMIT, JournaledExchange, load_exchange_snapshot
from perpex.journal import Journal, read_journal, scan_journal

XBT = 100_000_000
ACCOUNTS = 200


def best(repeat: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeat))



# ----------------------------------------------------------------------------- journal read


def exchange_payloads(n: int, seed: int) -> list[bytes]:
    """``n`` payloads with the size mix of an order flow: places, cancels, marks, time."""
    rng = random.Random(seed)
    codec = Codec(["XBTUSD"])
    pool = []
    for _ in range(4096):
        k = rng.random()
        if k < 0.6:
            px = 10_000 + 0.5 * rng.randint(-40, 40)
            pool.append(codec.place(rng.randint(1, ACCOUNTS), "XBTUSD", rng.choice(("Buy", "Sell")),
                                    rng.randint(1, 500), Decimal(str(px)) if k < 0.2 else px,
                                    None, "GoodTillCancel", (), None, None, None, None, None))
        elif k < 0.85:
            pool.append(codec.cancel(rng.randint(1, ACCOUNTS), rng.randint(1, 10**6)))
        elif k < 0.95:
            pool.append(codec.set_mark("XBTUSD", 10_000 + 0.5 * rng.randint(-40, 40)))
        else:
            pool.append(codec.advance())
    return [pool[rng.randrange(len(pool))] for _ in range(n)]


def bench_read(records: int, repeat: int, tmp: Path) -> None:
    mixed = tmp / "mixed"
    payloads = exchange_payloads(records, 1)
    with Journal(mixed, fsync="never") as j:
        for i, p in enumerate(payloads, 1):
            j.append(i, i, p)
    uniform = tmp / "uniform"
    with Journal(uniform, fsync="never") as j:
        rows = np.random.default_rng(2).integers(0, 256, size=(records, 40), dtype=np.uint8)
        j.append_many(1, np.arange(records), rows)
    for name, d in (("mixed sizes", mixed), ("one size", uniform)):
        size = (d / "journal.log").stat().st_size

        def scan() -> float:
            t = time.perf_counter()
            assert len(scan_journal(d)) == records
            return time.perf_counter() - t

        def full() -> float:
            t = time.perf_counter()
            assert len(read_journal(d)) == records
            return time.perf_counter() - t
        s, f = best(repeat, scan), best(repeat, full)
        print(f"journal read+verify, {records:,} records ({name}, {size / 1e6:.0f} MB): "
              f"scan {records / s:,.0f} rec/s; as Record list {records / f:,.0f} rec/s")


# ----------------------------------------------------------------------------- exchange


def make_exchange() -> Exchange:
    ex = Exchange([presets.XBTUSD()])
    for a in range(1, ACCOUNTS + 1):
        ex.deposit(a, 100 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000, ts=0)
    return ex


def order_flow(n: int, seed: int) -> list[tuple[Any, ...]]:
    """Per-call commands: 70% limits around the mid, 10% market, 20% cancels of own orders."""
    rng = random.Random(seed)
    out: list[tuple[Any, ...]] = []
    for i in range(n):
        a = rng.randint(1, ACCOUNTS)
        k = rng.random()
        side = "Buy" if rng.random() < 0.5 else "Sell"
        if k < 0.7:
            out.append(("place", a, side, rng.randint(1, 200), 10_000 + 0.5 * rng.randint(-30, 30), i))
        elif k < 0.8:
            out.append(("market", a, side, rng.randint(1, 50), None, i))
        else:
            out.append(("cancel", a, None, 0, None, i))
    return out


def run_orders(ex: Any, flow: list[tuple[Any, ...]]) -> float:
    place, cancel, drain = ex.place, ex.cancel, ex.drain_events
    open_by: dict[int, list[int]] = {}
    t = time.perf_counter()
    for kind, a, side, q, px, ts in flow:
        if kind == "cancel":
            ids = open_by.get(a)
            while ids:
                oid = ids.pop()
                try:
                    cancel(a, oid, ts=ts)
                    break
                except Exception:     # filled since: the flow moves on
                    continue
        else:
            out = place(a, "XBTUSD", side, q, px, ts=ts)
            if kind == "place" and out.leaves_qty:
                open_by.setdefault(a, []).append(out.order_id)
        drain()
    return time.perf_counter() - t


class _Recorder:
    """An exchange's place and cancel that record each command taking a seq as the journaled
    exchange would encode it: (ts, place's 13 arguments) or (ts, (account, order id))."""

    def __init__(self, ex: Exchange) -> None:
        self.ex, self.steps = ex, []  # type: list[tuple[int, tuple[Any, ...]]]
        self.drain_events = ex.drain_events

    def place(self, a: int, sym: str, side: str, q: int, px: object, *, ts: int) -> Any:
        before = self.ex.last_seq
        try:
            return self.ex.place(a, sym, side, q, px, ts=ts)
        finally:
            if self.ex.last_seq != before:
                self.steps.append((self.ex._ts, (a, sym, side, q, px, None, "GoodTillCancel",
                                                 (), None, None, None, None, None)))

    def cancel(self, a: int, oid: int, *, ts: int) -> Any:
        before = self.ex.last_seq
        try:
            return self.ex.cancel(a, oid, ts=ts)
        finally:
            if self.ex.last_seq != before:
                self.steps.append((self.ex._ts, (a, oid)))


def journal_steps(flow: list[tuple[Any, ...]]) -> list[tuple[int, tuple[Any, ...]]]:
    """The journal's steps for ``flow`` run per call on a fresh exchange."""
    rec = _Recorder(make_exchange())
    run_orders(rec, flow)
    return rec.steps


def batch_rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, dtype=ORDER_DTYPE)
    rows["ts"] = np.arange(n)
    rows["account"] = rng.integers(1, ACCOUNTS + 1, n)
    rows["op"] = rng.choice([OP_LIMIT, OP_MARKET, OP_CANCEL], n, p=[0.7, 0.1, 0.2])
    rows["side"] = rng.integers(0, 2, n)
    rows["qty"] = rng.integers(1, 200, n)
    lim = rows["op"] == OP_LIMIT
    rows["price"][lim] = 20_000 + rng.integers(-60, 61, int(lim.sum()))
    rows["order_id"][rows["op"] == OP_CANCEL] = rng.integers(1, n, int((rows["op"] == OP_CANCEL).sum()))
    rows["qty"][rows["op"] == OP_CANCEL] = 0
    return rows


def bench_exchange(orders: int, repeat: int, group: int, tmp: Path) -> None:
    flow = order_flow(orders, 7)
    rows = batch_rows(orders, 8)
    results: dict[str, float] = {}
    journal_work: dict[str, float] = {}

    def plain() -> float:
        return run_orders(make_exchange(), flow)

    def journaled(mode: str, group: int = group) -> Callable[[], float]:
        def run() -> float:
            d = tmp / f"per-call-{mode}"
            shutil.rmtree(d, ignore_errors=True)
            jx = JournaledExchange(make_exchange(), d, fsync=mode,  # type: ignore[arg-type]
                                   group_commit=group)
            dt = run_orders(jx, flow)
            t = time.perf_counter()
            jx.sync()   # the last group commit is the journal's work too
            tail = time.perf_counter() - t
            jx.close()
            return dt + tail
        return run

    steps = journal_steps(flow)

    def journal_only(mode: str) -> None:
        """The journal's own work on the flow, alone: encoding each command that took a seq
        and appending it, with the group commits and the last sync (called from Python, so a
        little above what the journaled exchange pays calling the same steps in C)."""
        d = tmp / f"journal-only-{mode}"
        shutil.rmtree(d, ignore_errors=True)
        codec = Codec(["XBTUSD"])
        plain, full, cancel = codec.plain, codec.place_full, codec.cancel
        with Journal(d, fsync=mode) as j:  # type: ignore[arg-type]
            j.group_commit = group
            append = j.append_next
            t = time.perf_counter()
            for ts, args in steps:
                if len(args) == 2:
                    append(ts, cancel(*args))
                else:
                    append(ts, plain(*args) or full(*args))
            j.sync()
            spent = time.perf_counter() - t
        journal_work[mode] = min(journal_work.get(mode, 1e9), spent)

    def batch(journal: str | None) -> Callable[[], float]:
        def run() -> float:
            ex = make_exchange()
            target: Any = ex
            if journal is not None:
                d = tmp / "batch-path"
                shutil.rmtree(d, ignore_errors=True)
                target = JournaledExchange(ex, d, fsync=journal)  # type: ignore[arg-type]
            t = time.perf_counter()
            for lo in range(0, len(rows), 1_000):
                target.submit_orders(rows[lo:lo + 1_000])
            if journal is not None:
                target.sync()
                target.close()
            return time.perf_counter() - t
        return run

    # the chosen group, and smaller and larger ones for the trade against acknowledgement time
    groups = sorted({group // 4, group, group * 4} - {0})
    variants = (("plain", plain), ("journaled fsync=never", journaled("never")),
                *((f"journaled fsync=batch (group of {g})", journaled("batch", group=g))
                  for g in groups),
                ("batch path plain", batch(None)),
                ("batch path journaled fsync=batch", batch("batch")))
    # interleaved, so that a burst of load on a shared machine hits every variant alike
    for _ in range(repeat):
        for name, fn in variants:
            results[name] = max(results.get(name, 0.0), orders / fn())
        for mode in ("never", "batch"):
            journal_only(mode)
    for name, rate in results.items():
        base = results["batch path plain" if name.startswith("batch") else "plain"]
        print(f"exchange {name}: {rate:,.0f} orders/s ({100 * (base / rate - 1):+.1f}% time "
              f"vs plain)")
    plain_us = 1e6 / results["plain"]
    for mode, spent in journal_work.items():
        us = 1e6 * spent / orders
        print(f"journal work per order, fsync={mode}: {us:.1f} us = {100 * us / plain_us:.1f}% "
              f"of a plain order's {plain_us:.1f} us (its steps alone, timed separately)")
    # recovery from the base snapshot: every command of the journal is replayed (counted as
    # the seqs it took past the base state), best of ``repeat`` recoveries
    base_seq = make_exchange().last_seq
    for name, d in (("per-call records", tmp / "per-call-never"),
                    ("batch records of 1,000 rows", tmp / "batch-path")):
        seqs = []

        def recovery() -> float:
            t = time.perf_counter()
            back = JournaledExchange.recover(d)
            dt = time.perf_counter() - t
            seqs.append(back.last_seq - base_seq)
            back.close()
            return dt
        dt = best(repeat, recovery)
        n = seqs[0]
        print(f"recovery, {name}: {n:,} commands replayed in {dt:.4f} s = {n / dt:,.0f} "
              f"commands/s (best of {repeat})")
    jx = JournaledExchange.recover(tmp / "batch-path")
    t = time.perf_counter()
    path = jx.snapshot()
    write = time.perf_counter() - t
    t = time.perf_counter()
    load_exchange_snapshot(path)
    load = time.perf_counter() - t
    print(f"snapshot after the batch flow ({len(jx.exchange._orders):,} open orders, "
          f"{path.stat().st_size / 1e6:.2f} MB): write {write * 1e3:.1f} ms, "
          f"load+verify {load * 1e3:.1f} ms")
    jx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--group", type=int, default=GROUP_COMMIT,
                    help="group commit size in batch mode (also shown: a quarter and 4x of it)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="perpex-bench-journal-"))
    try:
        bench_read(args.records, args.repeat, tmp)
        bench_exchange(args.orders, args.repeat, args.group, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
