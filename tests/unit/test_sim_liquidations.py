"""Liquidations, the insurance fund and ADL happen inside the Exchange during a simulated crash,
in every risk mode, with balanced ledgers and a reproducible state."""

from __future__ import annotations

from pathlib import Path

import pytest

from perpex.exchange import LIQUIDATION_ACCOUNT
from perpex.sim.runner import build_exchange, replay_journal, run_scenario
from perpex.sim.scenario import parse_scenario, set_param

# Three hours: a 20% crash at 1 h, then a 15% rebound that squeezes a whale who shorted the
# bottom at 20x, while 100x trend followers trade both moves.
CRASH = """
name = "crash"
[run]
hours = 3.0
seed = 11
[risk]
mode = "bitmex"
insurance_fund = { XBt = 2.0 }
[[instruments]]
preset = "XBTUSD"
[instruments.index]
start_price = 10000.0
daily_vol = 0.02
jump_rate_per_day = 0.0
crash_at_hours = 1.0
crash_pct = 0.2
crash_minutes = 20.0
rebound_pct = 0.15
rebound_hours = 0.75
[[agents]]
kind = "market_maker"
count = 2
size = 3000
[[agents]]
kind = "noise"
count = 2
rate_per_min = 3.0
[[agents]]
kind = "trend"
count = 3
fast_ms = 120000
slow_ms = 900000
threshold = 0.001
size = 20000
leverage = 100.0
stop_pct = 0.05
trail_pct = 0.04
cooldown_ms = 300000
balance = 0.5
[[agents]]
kind = "whale"
sell_at_hours = 1.4
buy_at_hours = 2.9
qty = 60000
chunks = 6
over_minutes = 3.0
leverage = 20.0
balance = 1.0
"""


def _crash(mode: str) -> str:
    return set_param(CRASH, "risk.mode", mode)


@pytest.mark.parametrize("mode", ["bitmex", "okex", "huobi"])
def test_a_steep_crash_liquidates_through_the_engine_with_balanced_ledgers_in_each_risk_mode(
        mode: str) -> None:
    sc = parse_scenario(_crash(mode))
    res = run_scenario(sc, journal=False)
    ex = res.exchange
    assert ex is not None and ex.risk_config.mode.name.lower() == mode
    s = res.summary
    stats = ex.liquidation_stats("XBt")
    assert s["liquidations"] >= 1
    assert s["liquidations"] == s["events_by_type"]["Liquidation"] == stats["takeovers"]
    assert s["liquidation_stats"]["XBt.takeovers"] == stats["takeovers"]
    assert any(e[2] == "Liquidation" and e[4] != LIQUIDATION_ACCOUNT for e in res.events)
    audit = ex.audit()
    assert all(v == 0 for v in audit.ledger_sum.values())
    assert min(ex.wallet_balances("XBt").values()) >= 0
    # the fund opened at 2 XBT and moved by exactly the engine's surpluses and residuals
    assert s["insurance_fund_start"] == {"XBT": "2.00000000"}
    assert ex.insurance_fund("XBt") == 200_000_000 + stats["surplus"] + stats["residual"]
    again = run_scenario(parse_scenario(_crash(mode)), journal=False)
    assert again.summary["state_hash"] == s["state_hash"]


def test_a_replay_of_a_run_with_liquidations_reproduces_its_state_hash(tmp_path: Path) -> None:
    res = run_scenario(parse_scenario(CRASH), out=tmp_path)
    assert res.summary["liquidations"] >= 1
    got, expected, n = replay_journal(tmp_path / "journal")
    assert got == expected == int(res.summary["state_hash"], 16)
    assert n == res.summary["commands"]


def test_the_liquidation_series_counts_the_engine_takeovers_per_contract() -> None:
    res = run_scenario(parse_scenario(CRASH), journal=False)
    last = [r for r in res.series if r[1] == "XBTUSD"][-1]
    assert last[11] == res.summary["liquidations_by_symbol"]["XBTUSD"] == res.summary["liquidations"]
    assert last[12] == res.summary["adl_events"]
    assert last[8] == res.exchange.insurance_fund("XBt")  # type: ignore[union-attr]


def test_build_exchange_opens_the_fund_and_wires_the_overload_settings() -> None:
    text = set_param(CRASH, "overload", {"price_bands": "okex", "position_limits": "huobi",
                                         "circuit_breaker": {"max_move": 0.1, "window_s": 60,
                                                             "halt_s": 30}})
    ex = build_exchange(parse_scenario(text))
    assert ex.insurance_fund("XBt") == 200_000_000
    ov = ex.overload_config
    assert ov.price_bands == "OKEx" and ov.position_limits is not None
    assert ov.circuit_breaker == (0.1, 60_000, 30_000)
