"""Overload protection (MECHANICS §10): a per-account token bucket on simulated time, the
order-count limits per contract per account, and the load-shedding text.

The bucket state is a plain ``[level, last_ts]`` list per account so that it serialises with
the rest of the exchange state. ``level`` counts tokens in integer *units*: one token is
``1000 * den`` units when the refill rate is ``num / den`` tokens per second, so a millisecond
refills exactly ``num`` units and no float ever touches the level.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal

from perpex.errors import InvalidConfigError
from perpex.risk.bands import OVERLOADED  # BitMEX's 503 text, shared with the load shedder
from perpex.rounding import exact_rate

__all__ = [
    "OVERLOADED",
    "RATE_LIMITED",
    "TOO_MANY_OPEN",
    "TOO_MANY_STOPS",
    "RateLimiter",
    "order_count_reject",
]

RATE_LIMITED = "Rate limit exceeded"
TOO_MANY_OPEN = "Too many open orders"
TOO_MANY_STOPS = "Too many stop orders"


class RateLimiter:
    """Token bucket: ``capacity`` tokens, refilled at ``refill_per_s`` tokens per second of
    simulated time; each request takes one token; a new account starts with a full bucket."""

    __slots__ = ("capacity", "refill_per_s", "_unit", "_per_ms", "_full")

    def __init__(self, capacity: int, refill_per_s: float | int | Decimal) -> None:
        if type(capacity) is not int:
            raise TypeError(f"rate_limit capacity must be an int, got {type(capacity).__name__}")
        if capacity <= 0:
            raise InvalidConfigError(f"rate_limit capacity={capacity} must be > 0")
        if isinstance(refill_per_s, bool) or not isinstance(refill_per_s, (numbers.Real, Decimal)):
            raise TypeError(f"rate_limit refill_per_s must be a number, got {refill_per_s!r}")
        if isinstance(refill_per_s, float) and not math.isfinite(refill_per_s):
            raise InvalidConfigError(f"rate_limit refill_per_s={refill_per_s} must be finite")
        num, den = exact_rate(refill_per_s, "refill_per_s")  # type: ignore[arg-type]
        if num <= 0:
            raise InvalidConfigError(f"rate_limit refill_per_s={refill_per_s} must be > 0")
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self._unit = 1000 * den
        self._per_ms = num
        self._full = capacity * self._unit

    def take(self, buckets: dict[int, list[int]], account: int, ts: int) -> bool:
        """Refill the account's bucket up to ``ts`` and take one token; False when empty.
        A refused request leaves the state untouched (the refill is computed lazily), so a
        rate-limited command changes nothing."""
        state = buckets.get(account)
        if state is None:
            buckets[account] = [self._full - self._unit, ts]
            return True
        level = min(self._full, state[0] + (ts - state[1]) * self._per_ms)
        if level < self._unit:
            return False
        state[0] = level - self._unit
        state[1] = ts
        return True

    def tokens(self, buckets: dict[int, list[int]], account: int, ts: int) -> int:
        """Whole tokens the account would have at ``ts`` (a query; changes nothing)."""
        state = buckets.get(account)
        if state is None:
            return self.capacity
        return min(self._full, state[0] + (ts - state[1]) * self._per_ms) // self._unit


def order_count_reject(open_orders: int, stop_orders: int, is_stop: bool, *,
                       max_open: int, max_stop: int) -> str | None:
    """The BitMEX reject text when one more order (a stop when ``is_stop``) would exceed the
    per-contract limits (S16: 200 open, 10 stop orders), else None."""
    if open_orders >= max_open:
        return TOO_MANY_OPEN
    if is_stop and stop_orders >= max_stop:
        return TOO_MANY_STOPS
    return None
