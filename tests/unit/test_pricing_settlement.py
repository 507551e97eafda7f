"""Futures settlement (30-minute index TWAP, fee) and determinism of the whole pipeline."""

from __future__ import annotations

import calendar
import copy
import hashlib
import json
import os
import random
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from perpex.errors import InvalidInputError, NonMonotonicTimeError
from perpex.pricing import (
    SETTLEMENT_WINDOW_MS,
    Funding,
    FuturesFairBasis,
    Index,
    SettlementTwap,
    expiry_ms,
    funding_payments,
    impact_prices,
    perpetual_fair_price,
    premium_index,
    settlement_fees,
    to_e8,
    twap_e8,
)

MIN = 60_000
E = to_e8


def test_xbt_quarterlies_expire_on_the_last_friday_at_12_utc():
    assert expiry_ms(2019, 12) == calendar.timegm((2019, 12, 27, 12, 0, 0)) * 1000
    assert expiry_ms(2020, 7) == calendar.timegm((2020, 7, 31, 12, 0, 0)) * 1000
    assert expiry_ms(2020, 5) == calendar.timegm((2020, 5, 29, 12, 0, 0)) * 1000


def test_settlement_price_is_the_30_minute_twap_of_the_5_second_index_prints():
    end = expiry_ms(2019, 12)
    twap = SettlementTwap(end)
    prints = [(end - SETTLEMENT_WINDOW_MS + 5_000 * k, E(7_000) + 1_000_000 * k)
              for k in range(-10, 370)]
    for ts, price in prints:
        twap.add(ts, price)
    assert twap.ready
    window = [p for ts, p in prints if end - SETTLEMENT_WINDOW_MS <= ts < end]
    assert len(window) == 360
    assert twap.price_e8() == round(Fraction(sum(window), 360))
    assert len(twap.export_state()["prints"]) == 360      # only what can matter is kept


def test_twap_weights_each_print_by_the_time_it_was_in_force():
    # 100 for the first 10 minutes (set before the window), 130 for the last 20
    prints = [(0, E(100)), (40 * MIN, E(130)), (70 * MIN, E(999))]
    assert twap_e8(prints, 30 * MIN, 60 * MIN) == E(120)


def test_settlement_twap_needs_a_start_value_and_the_whole_window():
    end = 60 * MIN
    twap = SettlementTwap(end)
    twap.add(40 * MIN, E(100))
    with pytest.raises(InvalidInputError, match="window ends"):
        twap.price_e8()
    twap.add(end, E(100))
    with pytest.raises(InvalidInputError, match="no index print at or before"):
        twap.price_e8()
    with pytest.raises(NonMonotonicTimeError):
        twap.add(end - 1, E(100))


def test_settlement_twap_state_round_trips():
    twap = SettlementTwap(60 * MIN)
    for k in range(0, 80):
        twap.add(k * MIN, E(100 + k) if k % 7 else None)
    clone = SettlementTwap.from_state(copy.deepcopy(twap.export_state()))
    assert clone.export_state() == twap.export_state()
    assert clone.price_e8() == twap.price_e8()


def test_settlement_fee_is_0_05_percent_of_position_value_rounded_half_away():
    fees = settlement_fees(np.array([10**8, -10**8, 1_000, -3_000, 0]), 0.0005)
    assert fees.tolist() == [50_000, 50_000, 1, 2, 0]     # 0.5 -> 1 and 1.5 -> 2
    with pytest.raises(InvalidInputError, match="fee_rate"):
        settlement_fees(np.array([1]), -0.0005)


# --------------------------------------------------------------------- whole pipeline
def _pipeline_digest(seed: int) -> str:
    """Index -> mark -> premium -> funding -> payments -> settlement, seeded, hashed."""
    rng = random.Random(seed)
    start = calendar.timegm((2019, 12, 27, 4, 0, 0)) * 1000
    end = expiry_ms(2019, 12)
    index = Index({"Bitstamp": 1, "Coinbase": 1, "Kraken": 1}, start_ms=start)
    funding = Funding(start_ms=start)
    future = FuturesFairBasis(end, maint_margin=0.005, tick_e8=E(0.5))
    settle = SettlementTwap(end)
    out: list[object] = []
    level = {"Bitstamp": 7_200.0, "Coinbase": 7_201.0, "Kraken": 7_199.0}
    for minute in range((end - start) // MIN + 1):
        ts = start + minute * MIN
        for name in level:
            level[name] = round(level[name] + rng.uniform(-3, 3), 2)
        quotes = {n: p for n, p in level.items() if rng.random() < 0.9}
        prints = index.update(ts, quotes) + index.advance(ts)
        for p in prints:
            settle.add(p.ts_ms, p.price_e8)
        idx = index.price_e8
        if ts == funding.next_funding_ms:
            fixing = funding.settle(ts)
            values = np.array([rng.randrange(-10**9, 10**9) for _ in range(50)])
            payments, residual = funding_payments(values, fixing.rate)
            out.append((ts, fixing.rate, payments.tolist(), residual))
        mark = perpetual_fair_price(idx, funding.funding_rate, funding.time_to_funding(ts),
                                    funding.config.interval_ms)
        mid_ticks = 2 * idx // 10**8
        bids = [(mid_ticks - k - rng.randrange(0, 3), rng.randrange(1, 5_000)) for k in range(8)]
        asks = [(mid_ticks + 1 + k + rng.randrange(0, 3), rng.randrange(1, 5_000))
                for k in range(8)]
        bids = sorted({p: q for p, q in bids}.items(), reverse=True)
        asks = sorted({p: q for p, q in asks}.items())
        bid_e8, ask_e8 = impact_prices(bids, asks, 10_000, lambda p, q: q).to_e8(E(0.5))
        funding.sample(ts, premium_index(bid_e8, ask_e8, mark, idx), 0.0001)
        if ts < end:
            future.update(ts, idx, bid_e8, ask_e8)
        out.append((ts, idx, mark, future.fair_price(ts, idx)))
    out.append(settle.price_e8())
    out.append([index.export_state(), funding.export_state(), future.export_state(),
                settle.export_state()])
    return hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()


def test_whole_price_pipeline_is_deterministic_within_a_process():
    assert _pipeline_digest(7) == _pipeline_digest(7)
    assert _pipeline_digest(7) != _pipeline_digest(8)


def test_whole_price_pipeline_is_identical_across_processes_and_hash_seeds():
    code = ("import sys; sys.path.insert(0, 'tests/unit'); "
            "from test_pricing_settlement import _pipeline_digest; print(_pipeline_digest(7))")
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    digests = set()
    for hash_seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed,
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        result = subprocess.run([sys.executable, "-c", code], cwd=here, env=env,
                                capture_output=True, text=True, check=True, timeout=300)
        digests.add(result.stdout.strip())
    assert digests == {_pipeline_digest(7)}
