"""Dated-futures settlement (MECHANICS §11, Decision 2).

A dated future settles at the time-weighted average of the index over the window that ends
at expiry (BitMEX .BXBT30M: 30 minutes ending 12:00 UTC on the last Friday of the contract
month). Index prints form a step function (each value holds until the next print); with
prints every 5 s on the grid the time-weighted average equals the plain mean of the 360
prints at start, start + 5 s, ..., end - 5 s.

The settlement fee is a rate on each position's value at the settlement price (0.05% for
XBT futures in 2019), turned into money by ``settlement_fees``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping

import numpy as np
import numpy.typing as npt

from perpex.errors import InvalidConfigError, InvalidInputError
from perpex.pricing._units import (
    check_duration,
    check_e8,
    check_monotonic,
    check_rate,
    check_ts,
    round_half_even,
)
from perpex.pricing.funding import mul_rate_half_away

MINUTE_MS = 60_000
SETTLEMENT_WINDOW_MS = 30 * MINUTE_MS


def twap_e8(prints: Iterable[tuple[int, int]], start_ms: int, end_ms: int) -> int:
    """Time-weighted average over [start_ms, end_ms) of a step function of prints.

    ``prints`` are (ts_ms, price_e8) in non-decreasing time; the value at ``start_ms`` is the
    last print at or before it, which must exist. Rounded half-even to 1e-8.
    """
    start_ms = check_ts(start_ms, "start_ms")
    end_ms = check_ts(end_ms, "end_ms")
    if end_ms <= start_ms:
        raise InvalidInputError(f"end_ms={end_ms} must be > start_ms={start_ms}")
    steps: list[tuple[int, int]] = []
    last_ts: int | None = None
    for i, item in enumerate(prints):
        try:
            ts, price = item
        except (TypeError, ValueError):
            raise InvalidInputError(f"prints[{i}]={item!r} must be (ts_ms, price_e8)") from None
        ts = check_ts(ts, f"prints[{i}].ts_ms")
        price = check_e8(price, f"prints[{i}].price_e8")
        check_monotonic(ts, last_ts, f"prints[{i}].ts_ms")
        last_ts = ts
        if ts >= end_ms:
            break
        if ts <= start_ms:
            steps = [(start_ms, price)]   # only the latest print at or before start counts
        else:
            steps.append((ts, price))
    if not steps or steps[0][0] != start_ms:
        raise InvalidInputError(f"no index print at or before start_ms={start_ms}")
    total = 0
    for (ts, price), nxt in zip(steps, steps[1:] + [(end_ms, 0)]):
        total += price * (nxt[0] - ts)
    return round_half_even(Fraction(total, end_ms - start_ms))


def settlement_fees(values: object, fee_rate: float) -> npt.NDArray[np.int64]:
    """Settlement fee per position: ``round(|value| x fee_rate)``, half away from zero.

    ``values`` are position values at the settlement price in minor units (any sign). Each
    fee is one integer transfer from the holder to the fee ledger; the sub-unit remainder
    is not booked anywhere (it stays with the holder when rounded down, and is charged to
    the holder when rounded up), so no residual arises.
    """
    rate = check_rate(fee_rate, "fee_rate")
    if rate < 0:
        raise InvalidInputError(f"fee_rate={fee_rate!r} must be >= 0")
    arr = np.asarray(values)
    if arr.ndim == 1 and arr.dtype.kind == "i" and arr.size and int(arr.min()) == -2**63:
        raise InvalidInputError("values contains -2**63, whose magnitude overflows int64")
    if arr.ndim == 1 and arr.dtype.kind in "iu":
        arr = np.abs(arr)
    return mul_rate_half_away(arr, rate, "values")


def expiry_ms(year: int, month: int, hour_utc: int = 12) -> int:
    """Expiry of a BitMEX-style quarterly: the last Friday of the month at ``hour_utc``."""
    for name, value, lo, hi in (("year", year, 1970, 9999), ("month", month, 1, 12),
                                ("hour_utc", hour_utc, 0, 23)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InvalidInputError(f"{name}={value!r} must be an int in [{lo}, {hi}]")
    last_day = calendar.monthrange(year, month)[1]
    day = last_day - (calendar.weekday(year, month, last_day) - calendar.FRIDAY) % 7
    return calendar.timegm((year, month, day, hour_utc, 0, 0)) * 1000


@dataclass
class SettlementTwap:
    """Collects index prints for the settlement window ending at ``end_ms``.

    Only the prints that can matter are kept: the latest one at or before the window start
    and those inside the window, so the state stays small.
    """

    end_ms: int
    window_ms: int = SETTLEMENT_WINDOW_MS
    _prints: list[tuple[int, int]] = field(default_factory=list, repr=False)
    _last_ts: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_ts(self.end_ms, "end_ms")
        check_duration(self.window_ms, "window_ms")
        if self.window_ms > self.end_ms:
            raise InvalidConfigError(f"window_ms={self.window_ms} must be <= "
                                     f"end_ms={self.end_ms}")

    @property
    def start_ms(self) -> int:
        return self.end_ms - self.window_ms

    def add(self, ts_ms: int, price_e8: int | None) -> None:
        """Offers one index print; prints without a price (no index yet) are ignored."""
        ts_ms = check_ts(ts_ms)
        check_monotonic(ts_ms, self._last_ts)
        if price_e8 is not None:
            price_e8 = check_e8(price_e8, "price_e8")
        self._last_ts = ts_ms
        if price_e8 is None or ts_ms >= self.end_ms:
            return
        if ts_ms <= self.start_ms:
            self._prints = [(ts_ms, price_e8)]
        else:
            self._prints.append((ts_ms, price_e8))

    @property
    def ready(self) -> bool:
        """True once time has reached the end of the window and a start value exists."""
        return (self._last_ts is not None and self._last_ts >= self.end_ms
                and bool(self._prints) and self._prints[0][0] <= self.start_ms)

    def price_e8(self) -> int:
        """The settlement price; raises ``InvalidInputError`` before the window is complete."""
        if self._last_ts is None or self._last_ts < self.end_ms:
            raise InvalidInputError(f"settlement window ends at {self.end_ms}; last print "
                                    f"seen at {self._last_ts}")
        return twap_e8(self._prints, self.start_ms, self.end_ms)

    def export_state(self) -> dict[str, Any]:
        return {"end_ms": self.end_ms, "window_ms": self.window_ms,
                "prints": [list(p) for p in self._prints], "last_ts": self._last_ts}

    state = export_state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SettlementTwap:
        twap = cls(state["end_ms"], state["window_ms"])
        twap._prints = [(int(t), int(p)) for t, p in state["prints"]]
        twap._last_ts = state["last_ts"]
        return twap

