"""A seeded random Exchange flow, and a crash-test worker that runs it journaled until killed.

The flow (:func:`run_flow`) issues deposits (some with repeated tx ids), withdrawals, limit,
market, stop and reduce-only orders, amends, cancels, cancel-alls, batches, leverage changes,
marks that drift and sometimes jump (liquidations), index quotes and time steps across funding
instants, plus a share of bad input that must raise. Its choices depend only on the seed and on
the exchange state, so a plain Exchange and a journaled one make the same calls.

Run as ``python -m tests.recovery.exchange_worker DIR SEED N``: it journals the flow into
``DIR/data`` with group commit, records the durable journal seq in ``DIR/acked`` after every
command (an aligned 8-byte pwrite, so the file never claims more than is durable), snapshots
every ``SNAPSHOT_EVERY`` commands, and relies on no cleanup: the test kills it with SIGKILL.
"""

from __future__ import annotations

import os
import random
import struct
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import numpy as np

from perpex import errors, presets
from perpex.exchange import Exchange
from perpex.exchange_batch import OP_CANCEL, OP_LIMIT, OP_MARKET, ORDER_DTYPE
from perpex.exchange_journal import JournaledExchange

XBT = 100_000_000
USDT = 1_000_000
ACCOUNTS = 24
SYMBOLS = ("XBTUSD", "XBTUSDT")
SNAPSHOT_EVERY = 400
GROUP_COMMIT = 8
MINUTE = 60_000
START_TS = 4 * 60 * MINUTE - 5 * MINUTE   # five minutes before a funding instant (04:00)


def make_exchange() -> Exchange:
    return Exchange([presets.XBTUSD(), presets.XBTUSDT()], rate_limit=(600, 100),
                    insurance_fund={"XBt": 5 * XBT, "USDt": 50_000 * USDT})


def run_flow(ex: Any, seed: int, n: int, after: Callable[[int], bool] | None = None,
             events: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Issues ``n`` random commands to ``ex`` (an Exchange or a JournaledExchange).

    ``after(i)`` runs after command ``i``; returning True stops the flow. The events of every
    command are drained, into ``events`` when given. Returns
    how many commands raised for bad input.
    """
    rng = random.Random(seed)
    stats = {"bad": 0}
    mark = {"XBTUSD": 10_000.0, "XBTUSDT": 10_000.0}
    ts = START_TS
    tx_ids: list[tuple[int, int]] = []

    def price(sym: str, spread: int = 20) -> object:
        px = mark[sym] + 0.5 * rng.randint(-spread, spread)
        px = max(px, 100.0)
        form = rng.random()
        return Decimal(str(px)) if form < 0.3 else (px if form < 0.8 or px != int(px) else int(px))

    def qty(sym: str) -> int:
        return rng.randint(1, 60) * (1_000 if sym == "XBTUSDT" else 10)

    for a in range(1, ACCOUNTS + 1):
        small = a % 4 == 0      # thinly funded accounts, the liquidation candidates
        ex.deposit(a, (XBT // 20) if small else 5 * XBT, ts=ts, tx_id=f"init-{a}")
        ex.deposit(a, (5_000 if small else 200_000) * USDT, currency="USDt", ts=ts)
        if small:
            ex.set_leverage(a, "XBTUSD", 50, ts=ts)
    for sym in SYMBOLS:
        ex.set_mark(sym, mark[sym], ts=ts)
    ex.update_index(ts, {s: {"Bitstamp": mark[s]} for s in SYMBOLS})   # starts the clock
    for i in range(n):
        ts += rng.randint(0, 1_500)
        a = rng.randint(1, ACCOUNTS)
        sym = rng.choice(SYMBOLS)
        side = rng.choice(("Buy", "Sell"))
        k = rng.random()
        try:
            if k < 0.30:
                ex.place(a, sym, side, qty(sym), price(sym), ts=ts)
            elif k < 0.38:
                ex.place(a, sym, side, qty(sym), ts=ts)
            elif k < 0.48:
                live = ex.open_orders(a)
                if live:
                    ex.cancel(a, rng.choice(live)["orderID"], ts=ts)
            elif k < 0.53:
                live = [o for o in ex.open_orders(a) if o["ordType"] == "Limit"]
                if live:
                    o = rng.choice(live)
                    ex.amend(a, o["orderID"], price=price(o["symbol"]), ts=ts)
            elif k < 0.61:
                step = rng.choice((-1, 1)) * (rng.randint(1, 20) if rng.random() < 0.9
                                              else rng.randint(200, 600))
                mark[sym] = max(1_000.0, mark[sym] + 0.5 * step)
                ex.set_mark(sym, mark[sym], ts=ts)
            elif k < 0.66:
                ex.advance(ts)
            elif k < 0.70:
                ex.update_index(ts, {s: {"Bitstamp": mark[s], "Kraken": Decimal(str(mark[s] + 0.5))}
                                     for s in SYMBOLS})
            elif k < 0.74:
                ex.place(a, sym, side, qty(sym), ts=ts, exec_inst=["LastPrice"],
                         stop_px=mark[sym] + (100.0 if side == "Buy" else -100.0))
            elif k < 0.77:
                ex.place(a, sym, side, qty(sym), price(sym), exec_inst="ReduceOnly", ts=ts)
            elif k < 0.80:
                ex.set_leverage(a, sym, rng.choice((0, 2, 10, 25.5)), ts=ts)
            elif k < 0.83:
                if rng.random() < 0.5 and tx_ids:
                    acct, amt = rng.choice(tx_ids)   # a repeat: applied once only
                    ex.deposit(acct, amt, tx_id=f"tx-{acct}-{amt}", ts=ts)
                else:
                    amt = rng.randint(1, 10) * XBT // 100
                    tx_ids.append((a, amt))
                    ex.deposit(a, amt, tx_id=f"tx-{a}-{amt}", ts=ts)
            elif k < 0.85:
                ex.withdraw(a, rng.randint(1, 5) * XBT // 1000, ts=ts)
            elif k < 0.87:
                ex.cancel_all(a, rng.choice((None, sym)), ts=ts)
            elif k < 0.90:
                ex.submit_orders(_batch(rng, ex, ts), events=rng.random() < 0.5)
            elif k < 0.95:
                _bad_input(rng, ex, a, sym, ts)
                raise AssertionError("bad input was accepted")
            else:
                ex.place(a, sym, side, qty(sym), price(sym, 4), time_in_force="ImmediateOrCancel",
                         ts=ts)
        except (errors.InsufficientFundsError, errors.UnknownOrderError,
                errors.InvalidInputError, errors.InvalidLeverageError, TypeError,
                errors.InvalidPriceError, errors.InvalidQuantityError,
                errors.NonMonotonicTimeError, errors.UnknownAccountError):
            stats["bad"] += 1
        drained = ex.drain_events()
        if events is not None:
            events.extend(drained)
        if after is not None and after(i):
            break
    return stats


def _batch(rng: random.Random, ex: Any, ts: int) -> np.ndarray:
    rows = np.zeros(rng.randint(1, 6), dtype=ORDER_DTYPE)
    for r in rows:
        a = rng.randint(1, ACCOUNTS)
        si = rng.randint(0, 1)
        r["ts"], r["account"], r["symbol"] = ts, a, si
        op = rng.choice((OP_LIMIT, OP_LIMIT, OP_MARKET, OP_CANCEL))
        r["op"], r["side"] = op, rng.randint(0, 1)
        if op == OP_CANCEL:
            r["order_id"] = rng.randint(1, max(1, ex.last_seq))
        else:
            r["qty"] = rng.randint(1, 30) * (1_000 if si == 1 else 10)
            if op == OP_LIMIT:
                r["price"] = 20_000 + rng.randint(-30, 30)   # ticks of 0.5
    return rows


def _bad_input(rng: random.Random, ex: Any, a: int, sym: str, ts: int) -> None:
    choice = rng.randint(0, 5)
    if choice == 0:
        ex.place(a, sym, "Buy", 0, 10_000, ts=ts)
    elif choice == 1:
        ex.place(a, sym, "Up", 10, 10_000, ts=ts)
    elif choice == 2:
        ex.place(a, sym, "Buy", 10, 10_000.25, ts=ts)
    elif choice == 3:
        ex.cancel(a, 10**9, ts=ts)
    elif choice == 4:
        ex.deposit(a, -5, ts=ts)
    else:
        ex.set_mark(sym, 10_000, ts=-1)


def main(directory: Path, seed: int, n: int) -> None:
    jx = JournaledExchange(make_exchange(), directory / "data", fsync="batch",
                           group_commit=GROUP_COMMIT)
    fd = os.open(directory / "acked", os.O_WRONLY | os.O_CREAT, 0o644)
    acked = [0]

    def after(i: int) -> bool:
        if jx.durable_seq != acked[0]:
            acked[0] = jx.durable_seq
            os.pwrite(fd, struct.pack("<Q", acked[0]), 0)
        if i % SNAPSHOT_EVERY == SNAPSHOT_EVERY - 1:
            jx.snapshot()
        return False

    run_flow(jx, seed, n, after)
    jx.close()
    os.close(fd)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
