"""`perpex simulate`, `replay` and `sweep` end to end on a tiny scenario."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from perpex.cli import main
from perpex.sim.report import FIGURES
from perpex.sim.runner import replay_journal, run_scenario
from perpex.sim.scenario import parse_scenario, set_param
from perpex.sim.sweep import parse_values, sweep

TINY = """
name = "tiny"
[run]
hours = 0.5
seed = 3
[[instruments]]
preset = "XBTUSD"
[instruments.index]
start_price = 10000.0
crash_at_hours = 0.1
crash_minutes = 5.0
crash_pct = 0.05
rebound_hours = 0.1
[[instruments]]
preset = "ETHUSD"
[instruments.index]
start_price = 200.0
crash_at_hours = 0.1
[[agents]]
kind = "market_maker"
count = 2
spread_ticks = 2
requote_ms = 10000
[[agents]]
kind = "market_maker"
symbol = "ETHUSD"
size = 200
[[agents]]
kind = "noise"
count = 2
rate_per_min = 8.0
[[agents]]
kind = "trend"
fast_ms = 60000
slow_ms = 300000
threshold = 0.0005
[[agents]]
kind = "funding_arb"
threshold = 0.0002
interval_ms = 30000
[[agents]]
kind = "whale"
sell_at_hours = 0.1
buy_at_hours = 0.3
qty = 30000
chunks = 5
over_minutes = 2.0
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def test_simulate_writes_the_summary_tables_figures_and_a_journal_that_replays(tiny: Path, tmp_path: Path,
                                                                                capsys) -> None:
    out = tmp_path / "run"
    assert main(["simulate", str(tiny), "--out", str(out), "--seed", "5"]) == 0
    printed = capsys.readouterr().out
    assert "liquidations" in printed and "state hash" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 5 and summary["trades"] > 20 and summary["ledgers_balanced"] is True
    assert summary["liquidations"] == summary["events_by_type"].get("Liquidation", 0)
    with open(out / "trades.csv") as fh:
        trades = list(csv.DictReader(fh))
    assert len(trades) == summary["trades"]
    assert sum(int(t["qty"]) for t in trades if t["symbol"] == "XBTUSD") == \
        summary["volume_contracts"]["XBTUSD"]
    assert [int(t["seq"]) for t in trades] == sorted(int(t["seq"]) for t in trades)
    with open(out / "series.csv") as fh:
        series = list(csv.DictReader(fh))
    assert len(series) == 2 * 31  # a sample a minute for 30 minutes, both ends, two symbols
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("events.csv", "depth.csv", "summary.csv", "timing.json",
                 "journal/journal.log", "journal/scenario.toml", "journal/meta.json"):
        assert (out / name).stat().st_size > 0
    assert main(["replay", str(out / "journal")]) == 0
    assert "matches the recorded state hash" in capsys.readouterr().out


def test_replay_reports_a_journal_that_no_longer_matches(tiny: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["simulate", str(tiny), "--out", str(out), "--hours", "0.1", "--no-figures"]) == 0
    meta = out / "journal" / "meta.json"
    m = json.loads(meta.read_text())
    m["state_hash"] = "0000000000000001"
    meta.write_text(json.dumps(m))
    capsys.readouterr()
    assert main(["replay", str(out)]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_replay_rebuilds_the_same_state_hash_as_the_run(tiny: Path, tmp_path: Path) -> None:
    sc = parse_scenario(tiny.read_text())
    res = run_scenario(sc, out=tmp_path)
    got, expected, n = replay_journal(tmp_path / "journal")
    assert got == expected == int(res.summary["state_hash"], 16)
    assert n == res.summary["commands"] > 0


def test_simulate_reports_scenario_errors_by_field(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(set_param(TINY, "agents[2].rate_per_min", -1.0))
    assert main(["simulate", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "scenario.agents[2].rate_per_min must be > 0, got -1.0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_same_seed_gives_byte_identical_outputs_in_two_processes(tiny: Path, tmp_path: Path) -> None:
    outs = []
    for hashseed in ("0", "4242"):
        out = tmp_path / f"run{hashseed}"
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        subprocess.run([sys.executable, "-m", "perpex.cli", "simulate", str(tiny), "--out", str(out),
                        "--no-figures", "--quiet"], check=True, env=env, capture_output=True)
        outs.append(out)
    for name in ("summary.json", "summary.csv", "trades.csv", "events.csv", "series.csv", "depth.csv",
                 "journal/journal.log"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    other = parse_scenario(set_param(TINY, "run.seed", 4))
    assert run_scenario(other, journal=False).summary["state_hash"] != \
        json.loads((outs[0] / "summary.json").read_text())["state_hash"]


def test_parquet_tables_hold_the_same_trades(tiny: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "pq"
    assert main(["simulate", str(tiny), "--out", str(out), "--format", "parquet", "--no-figures"]) == 0
    table = pq.read_table(out / "trades.parquet")
    assert table.num_rows == json.loads((out / "summary.json").read_text())["trades"]


def test_sweep_values_parse_as_toml_and_the_in_process_sweep_collects_one_row_per_run() -> None:
    assert parse_values("agents[0].spread_ticks=2, 8") == ("agents[0].spread_ticks", [2, 8])
    assert parse_values("risk.mode=bitmex,okex")[1] == ["bitmex", "okex"]
    text = set_param(TINY, "run.hours", 0.1)
    rows = sweep(text, "agents[0].spread_ticks", [2, 8], 2, workers=0)
    assert [(r["value"], r["seed"]) for r in rows] == [(2, 3), (2, 4), (8, 3), (8, 4)]
    assert rows[0]["state_hash"] != rows[1]["state_hash"]


@pytest.mark.spawns
def test_sweep_on_a_two_worker_local_cluster_matches_the_in_process_results(tiny: Path, tmp_path: Path,
                                                                            capsys) -> None:
    text = set_param(TINY, "run.hours", 0.1)
    inline = sweep(text, "agents[0].spread_ticks", [2, 6], 1, workers=0)
    assert main(["sweep", str(tiny), "--param", "agents[0].spread_ticks=2,6", "--seeds", "1",
                 "--hours", "0.1", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state_hash"] for r in rows] == [r["state_hash"] for r in inline]
    assert (tmp_path / "sweep.png").stat().st_size > 0


def test_an_okex_run_with_resting_liquidation_orders_replays_to_its_state_hash(tmp_path: Path) -> None:
    text = set_param(set_param(TINY, "risk.mode", "okex"), "risk.repost_after_s", 30)
    res = run_scenario(parse_scenario(text), out=tmp_path)
    got, expected, _ = replay_journal(tmp_path / "journal")
    assert got == expected == int(res.summary["state_hash"], 16)
