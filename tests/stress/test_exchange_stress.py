"""Seeded random-command stress of the Exchange (RELIABILITY B2.5): every 512 commands every
currency's ledgers sum to zero, positions sum to zero per contract, no wallet is negative and
check_invariants() passes."""

from __future__ import annotations

import numpy as np
import pytest

from perpex import errors, presets
from perpex.exchange import Exchange

XBT = 100_000_000
USDT = 1_000_000
EXPECTED = (errors.UnknownOrderError, errors.InsufficientFundsError)


def run_stress(n_commands: int, n_accounts: int, seed: int) -> Exchange:
    rng = np.random.default_rng(seed)
    ex = Exchange([presets.XBTUSD(), presets.ETHUSD(), presets.XBTUSDT()], rate_limit=(600, 100))
    syms = ["XBTUSD", "ETHUSD", "XBTUSDT"]
    mid = {"XBTUSD": 20_000, "ETHUSD": 4_000, "XBTUSDT": 20_000}  # ticks
    lots = {"XBTUSD": 1, "ETHUSD": 1, "XBTUSDT": 1_000}
    for a in range(1, n_accounts + 1):
        ex.deposit(a, 10 * XBT, ts=0)
        ex.deposit(a, 100_000 * USDT, currency="USDt", ts=0)
    for s in syms:
        ex.set_mark(s, ex.book(s).instrument.ticks_to_price(mid[s]), ts=0)
    ts = 0
    kinds = rng.choice(10, size=n_commands, p=[.34, .08, .2, .06, .08, .06, .06, .04, .04, .04])
    for i, kind in enumerate(kinds.tolist()):
        ts += int(rng.integers(0, 20))
        a = int(rng.integers(1, n_accounts + 1))
        s = syms[int(rng.integers(0, 3))]
        inst = ex.book(s).instrument
        side = "Buy" if rng.random() < 0.5 else "Sell"
        qty = int(rng.integers(1, 200)) * lots[s]
        px = mid[s] + int(rng.integers(-40, 41))
        price = inst.ticks_to_price(px)
        try:
            if kind == 0:
                ex.place(a, s, side, qty, price, ts=ts)
            elif kind == 1:
                ex.place(a, s, side, qty, ts=ts)
            elif kind in (2, 3):
                live = ex.open_orders(a)
                if live:
                    o = live[int(rng.integers(0, len(live)))]
                    if kind == 2:
                        ex.cancel(a, o["orderID"], ts=ts)
                    elif o["ordType"] == "Limit":
                        ex.amend(a, o["orderID"], price=ex.book(o["symbol"]).instrument.ticks_to_price(
                            mid[o["symbol"]] + int(rng.integers(-40, 41))), ts=ts)
            elif kind == 4:
                mid[s] = max(100, mid[s] + int(rng.integers(-30, 31)))
                ex.set_mark(s, inst.ticks_to_price(mid[s]), ts=ts)
            elif kind == 5:
                ex.place(a, s, side, qty, price, exec_inst="ReduceOnly", ts=ts)
            elif kind == 6:
                stop = inst.ticks_to_price(mid[s] + (60 if side == "Buy" else -60))
                ex.place(a, s, side, qty, stop_px=stop, ts=ts,
                         exec_inst="ReduceOnly" if rng.random() < 0.5 else ())
            elif kind == 7:
                ex.set_leverage(a, s, [0, 5, 10, 25][int(rng.integers(0, 4))], ts=ts)
            elif kind == 8:
                ex.withdraw(a, int(rng.integers(1, 10_000)), ts=ts)
            else:
                ex.cancel_all(a, s, ts=ts)
        except EXPECTED:
            pass
        if i % 512 == 511 or i == n_commands - 1:
            check(ex, n_accounts)
            ex.drain_events()
    return ex


def check(ex: Exchange, n_accounts: int) -> None:
    audit = ex.audit()
    assert all(total == 0 for total in audit.ledger_sum.values()), audit.ledger_sum
    assert all(net == 0 for net in audit.net_position.values()), audit.net_position
    for ccy in ("XBt", "USDt"):
        balances = ex.wallet_balances(ccy)
        assert len(balances) == n_accounts and min(balances.values()) >= 0
    ex.check_invariants()


def test_twenty_thousand_random_commands_over_50_accounts_keep_every_invariant():
    ex = run_stress(20_000, 50, seed=7)
    assert ex.last_seq > 15_000
    assert sum(ex.audit().open_interest.values()) > 0


def test_the_same_seed_gives_the_same_state_hash():
    assert run_stress(2_000, 10, seed=3).state_hash() == run_stress(2_000, 10, seed=3).state_hash()


@pytest.mark.stress
def test_one_million_random_commands_over_1000_accounts_keep_every_invariant():
    ex = run_stress(1_000_000, 1_000, seed=11)
    assert ex.last_seq > 700_000
