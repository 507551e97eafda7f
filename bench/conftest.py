"""Shared fixtures of the benchmark suites (``pytest bench/``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The bench modules import one another by bare name, under any --import-mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_sorted import SortedBook  # noqa: E402
from flow import FlowConfig, generate  # noqa: E402
from tape import tape_digest  # noqa: E402

BENCH_FLOW_MESSAGES = 100_000


@pytest.fixture(scope="session")
def flow_cmds() -> np.ndarray[Any, Any]:
    """The comparison flow, shortened so a benchmark round stays well under a second."""
    return generate(FlowConfig(messages=BENCH_FLOW_MESSAGES))


@pytest.fixture(scope="session")
def flow_expected(flow_cmds: np.ndarray[Any, Any]) -> tuple[int, str, int, int]:
    """(trades, tape digest, best bid, best ask) of the flow, from the baseline book."""
    book = SortedBook()
    book.replay(flow_cmds)
    return len(book.fills), tape_digest(book.fills), book.best_bid(), book.best_ask()
