"""The `perpex` command end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest

from perpex.cli import main
from perpex.sim.demo import run


def test_demo_is_deterministic_by_seed_and_keeps_the_book_consistent() -> None:
    a, b = run(20_000, seed=3), run(20_000, seed=3)
    assert (a.state_hash, a.tape_digest, a.fills) == (b.state_hash, b.tape_digest, b.fills)
    assert a.fills > 0 and a.traded_qty > 0
    assert 0 < a.best_bid < a.best_ask
    assert run(20_000, seed=4).tape_digest != a.tape_digest


def test_demo_command_prints_its_summary(capsys) -> None:
    assert main(["demo", "--messages", "5000", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "fills" in out and "state hash" in out


@pytest.mark.spawns
def test_demo_state_hash_is_identical_across_processes() -> None:
    code = "from perpex.sim.demo import run; print(run(20000, 5).state_hash)"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("0", "12345")}
    assert len(outs) == 1
