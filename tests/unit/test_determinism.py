"""Determinism guards (RELIABILITY B2.9) and the memory budget of a resting order."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import perpex._native as N

CORE = Path(__file__).resolve().parents[2] / "csrc" / "core"
BANNED = [
    r"system_clock", r"steady_clock", r"high_resolution_clock", r"random_device",
    r"\brand\s*\(", r"\bsrand\s*\(", r"\btime\s*\(", r"unordered_map", r"unordered_set",
    r"std::thread", r"getenv",
]


def test_core_sources_use_no_clock_entropy_threads_or_unordered_iteration() -> None:
    sources = sorted(CORE.glob("*.[ch]pp"))
    assert sources, f"no C++ sources found under {CORE}"
    offences = [f"{src.name}: {pat}" for src in sources for pat in BANNED
                if re.search(pat, src.read_text())]
    assert offences == []


def test_a_resting_order_fits_in_64_bytes() -> None:
    assert N.NODE_BYTES <= 64


_RUN = """
import hashlib, sys
sys.path.insert(0, {root!r})
from tests.stress.gen import generate
import perpex._native as N
cmds = generate(20000, seed=11)
book = N.OrderBook()
events, status = book.submit_batch(cmds)
print(book.state_hash(), hashlib.sha256(events.tobytes()).hexdigest(), int(status.sum()))
"""


@pytest.mark.spawns
def test_same_commands_give_identical_events_and_hash_across_processes_and_hash_seeds() -> None:
    root = str(Path(__file__).resolve().parents[2])
    outs = set()
    for seed in ("0", "12345"):
        proc = subprocess.run([sys.executable, "-c", _RUN.format(root=root)], capture_output=True,
                              text=True, check=True, env={"PYTHONHASHSEED": seed, "PATH": ""})
        outs.add(proc.stdout)
    assert len(outs) == 1
    state_hash, digest, _ = outs.pop().split()
    assert int(state_hash) != 0 and len(digest) == 64
