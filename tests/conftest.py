"""Shared test configuration: Hypothesis profiles and event helpers.

Profiles follow RELIABILITY.md B2.4 (dev 50 x 30, ci 200 x 60, nightly 5,000 x 200). Native code
makes per-example timing noisy, so deadlines are off. The profile comes from the environment
variable HYPOTHESIS_PROFILE (default "dev"); ``--hypothesis-profile`` still overrides it.
"""

from __future__ import annotations

import os
from typing import Callable

import pytest
from hypothesis import HealthCheck, settings

from tests.model import Event, as_tuples

settings.register_profile("dev", max_examples=50, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=200, stateful_step_count=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", max_examples=5_000, stateful_step_count=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def to_tuples() -> Callable[[object], list[Event]]:
    """Converts an EVENT_DTYPE array (or a list of events) into a list of int tuples."""
    return as_tuples
