"""Funding rounds over thousands of random positions: money conserved to the unit."""

from __future__ import annotations

import numpy as np
import pytest

from perpex import presets
from perpex.exchange import Exchange
from perpex.pricing import FundingConfig
from tests.unit.test_funding_bulk import (
    test_bulk_funding_equals_a_per_position_loop_to_the_unit as compare_with_per_position_loop)

XBT = 100_000_000
DAY = 1_561_939_200_000
H = 3_600_000


def build(accounts: int, seed: int) -> tuple[Exchange, np.random.Generator]:
    cfg = FundingConfig.from_margins(0.01, 0.005, interval_ms=8 * H, anchor_ms=4 * H,
                                     initial_rate=0.000123)
    ex = Exchange([presets.XBTUSD()], funding={"XBTUSD": cfg})
    rng = np.random.default_rng(seed)
    t = DAY + 4 * H
    for a in range(1, accounts + 1):
        ex.deposit(a, 100 * XBT, ts=t)
    ex.update_index(t, {"Bitstamp": 10_000.5, "Coinbase": 10_003, "Kraken": 9_998.5})
    for a in range(1, accounts, 2):
        qty = int(rng.integers(1, 50_000))
        price = 9_950 + 0.5 * int(rng.integers(0, 200))
        ex.place(a + 1, "XBTUSD", "Sell", qty, price, ts=t)
        ex.place(a, "XBTUSD", "Buy", qty, price, ts=t)
    return ex, rng


@pytest.mark.stress
@pytest.mark.parametrize("seed", [1, 2])
def test_funding_rounds_over_thousands_of_positions_conserve_money_to_the_unit(seed):
    ex, rng = build(3_000, seed)
    t = DAY + 4 * H
    for rnd in range(3):
        # fresh, slightly different quotes so the index stays live and the mark moves
        for k in range(1, 9):
            t_q = t + k * H - 60_000
            ex.update_index(t_q, {"Bitstamp": 10_000 + int(rng.integers(-50, 50)),
                                  "Coinbase": 10_000 + int(rng.integers(-50, 50)),
                                  "Kraken": 10_000 + int(rng.integers(-50, 50))})
        ex.drain_events()
        insurance_before = ex.audit().insurance_fund["XBt"]
        wallets_before = ex.wallet_balances()
        t += 8 * H
        ex.advance(t)
        events = [e for e in ex.drain_events() if e["execType"] == "Funding"]
        assert len(events) == 3_000
        payments = sum(e["execComm"] for e in events)
        audit = ex.audit()
        assert audit.ledger_sum == {"XBt": 0}
        assert audit.funding == {"XBt": 0}
        # the insurance fund absorbs the residual the clearing ledger held
        assert audit.insurance_fund["XBt"] - insurance_before == payments
        assert abs(payments) <= len(events) // 2
        wallets = ex.wallet_balances()
        for e in events:
            assert wallets[e["account"]] - wallets_before[e["account"]] == -e["execComm"]
        ex.check_invariants()


@pytest.mark.stress
def test_funding_over_random_positions_is_deterministic():
    a, _ = build(500, 7)
    b, _ = build(500, 7)
    a.advance(DAY + 12 * H)
    b.advance(DAY + 12 * H)
    assert a.state_hash() == b.state_hash()


@pytest.mark.stress
@pytest.mark.parametrize("seed", [11, 23, 47])
def test_bulk_funding_equals_a_per_position_loop_over_more_positions(seed):
    compare_with_per_position_loop(seed=seed, accounts=2_500, trades=7_500)
