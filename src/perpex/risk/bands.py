"""Overload protection not covered by limits.py (MECHANICS §10, "Decisions" 12).

- Dynamic price bands: OKEx (O1) and Huobi (H3) formulas over the index and the 10-minute
  average basis, with their first-10-minutes rule. Bands are e8 prices rounded *inwards* (the
  highest bid floors, the lowest ask ceils), so rounding never lets an order through that the
  exact formula would refuse.
- A Huobi-style cap on position value by leverage (H4).
- An optional circuit breaker: halt when the mark moves more than a fraction within a window
  of simulated time.
- A load-shedding queue-depth counter: new work is refused at maximum depth; cancels (and
  close-without-qty orders) are exempt and still queue (S14).

Stateful pieces take integer millisecond timestamps and e8 prices and expose
``export_state()``; a timestamp earlier than the last one raises NonMonotonicTimeError.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import NamedTuple

from perpex.errors import InvalidConfigError, InvalidInputError, InvalidPriceError, NonMonotonicTimeError
from perpex.rounding import check_int, exact_rate

__all__ = [
    "HUOBI_BTC_USDT_POSITION_LIMITS_2022",
    "OVERLOADED",
    "PRICE_BAND",
    "BandClock",
    "BandParams",
    "BasisWindow",
    "CircuitBreaker",
    "LoadShedder",
    "PositionLimitTable",
    "PriceBand",
    "RequestKind",
    "band_reject",
    "huobi_band",
    "okex_band",
]

OVERLOADED = "The system is currently overloaded. Please try again later."
PRICE_BAND = "Price outside the dynamic price limit"
MINUTE_MS = 60_000




def _cfg_int(name: str, value: object, minimum: int) -> int:
    if type(value) is not int or value < minimum:
        raise InvalidConfigError(f"{name}={value!r} must be an int >= {minimum}")
    return value


def _cfg_rate(name: str, value: object, low: Fraction, high: Fraction) -> Fraction:
    if isinstance(value, bool):
        raise InvalidConfigError(f"{name}={value!r} must be a rate, not a bool")
    try:
        num, den = exact_rate(value, name)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidConfigError(f"{name}={value!r} must be a finite rate") from None
    rate = Fraction(num, den)
    if not low <= rate <= high:
        raise InvalidConfigError(f"{name}={value} must be within [{float(low)}, {float(high)}]")
    return rate


# ---- dynamic price bands ------------------------------------------------------------------

class PriceBand(NamedTuple):
    """Highest allowed bid and lowest allowed ask, e8 prices."""

    max_bid_e8: int
    min_ask_e8: int


@dataclass(frozen=True)
class BandParams:
    """``initial``: band of the first ``warmup_ms`` (OKEx 5%); ``basis``: band around
    index + average basis (OKEx 3%, Huobi 4%); ``hard``: outer band around the index
    (OKEx 25%, Huobi 6%)."""

    initial: float
    basis: float
    hard: float
    warmup_ms: int = 10 * MINUTE_MS

    def __post_init__(self) -> None:
        one = Fraction(1)
        ini = _cfg_rate("initial", self.initial, Fraction(0), one)
        bas = _cfg_rate("basis", self.basis, Fraction(0), one)
        hard = _cfg_rate("hard", self.hard, Fraction(0), one)
        if hard < bas or hard < ini:
            raise InvalidConfigError(
                f"hard={self.hard} must be >= basis={self.basis} and initial={self.initial}")
        _cfg_int("warmup_ms", self.warmup_ms, 0)


OKEX_PARAMS = BandParams(initial=0.05, basis=0.03, hard=0.25)
HUOBI_PARAMS = BandParams(initial=0.04, basis=0.04, hard=0.06)


def _inward(high: Fraction, low: Fraction) -> PriceBand:
    return PriceBand(high.numerator // high.denominator, -(-low.numerator // low.denominator))


def _band_inputs(index_e8: int, avg_basis_e8: Fraction | int, since_open_ms: int) -> Fraction:
    check_int("index_e8", index_e8, 1)
    check_int("since_open_ms", since_open_ms, 0)
    if isinstance(avg_basis_e8, bool) or not isinstance(avg_basis_e8, (int, Fraction)):
        raise TypeError(f"avg_basis_e8 must be an int or Fraction, got {avg_basis_e8!r}")
    return Fraction(avg_basis_e8)


def okex_band(index_e8: int, avg_basis_e8: Fraction | int, since_open_ms: int,
              params: BandParams = OKEX_PARAMS) -> PriceBand:
    """OKEx dynamic limit (O1): first ``warmup_ms`` ``index x (1 +/- initial)``; then
    ``maxBid = min(max(I, I(1+b) + basis), I(1+h))``, ``minAsk = max(min(I, I(1-b) + basis), I(1-h))``."""
    basis = _band_inputs(index_e8, avg_basis_e8, since_open_ms)
    i = Fraction(index_e8)
    if since_open_ms < params.warmup_ms:
        ini = Fraction(*exact_rate(params.initial))
        return _inward(i * (1 + ini), i * (1 - ini))
    b, h = Fraction(*exact_rate(params.basis)), Fraction(*exact_rate(params.hard))
    return _inward(min(max(i, i * (1 + b) + basis), i * (1 + h)),
                   max(min(i, i * (1 - b) + basis), i * (1 - h)))


def huobi_band(index_e8: int, avg_basis_e8: Fraction | int, since_open_ms: int,
               params: BandParams = HUOBI_PARAMS) -> PriceBand:
    """Huobi limit (H3): first ``warmup_ms`` ``min(I(1+h), I(1+initial))`` (the lowest ask
    mirrors it: the source gives only the bid side); then
    ``highestBid = min((basis + I)(1+b), I(1+h))``, ``lowestAsk = max((basis + I)(1-b), I(1-h))``."""
    basis = _band_inputs(index_e8, avg_basis_e8, since_open_ms)
    i = Fraction(index_e8)
    b, h = Fraction(*exact_rate(params.basis)), Fraction(*exact_rate(params.hard))
    if since_open_ms < params.warmup_ms:
        ini = Fraction(*exact_rate(params.initial))
        return _inward(min(i * (1 + h), i * (1 + ini)), max(i * (1 - h), i * (1 - ini)))
    return _inward(min((basis + i) * (1 + b), i * (1 + h)), max((basis + i) * (1 - b), i * (1 - h)))


def band_reject(side: str, price_e8: int, band: PriceBand) -> str | None:
    """The reject text when a buy is above the highest bid or a sell below the lowest ask."""
    check_int("price_e8", price_e8, 1)
    if side == "Buy":
        return PRICE_BAND if price_e8 > band.max_bid_e8 else None
    if side == "Sell":
        return PRICE_BAND if price_e8 < band.min_ask_e8 else None
    raise InvalidInputError(f"side={side!r} must be 'Buy' or 'Sell'")


class BasisWindow:
    """The 10-minute average basis: one sample per minute, ``(open + close) / 2`` of the
    contract-minus-index difference, averaged over the last ``minutes`` samples (exact)."""

    __slots__ = ("minutes", "_samples", "_last_ts")

    def __init__(self, minutes: int = 10) -> None:
        self.minutes = _cfg_int("minutes", minutes, 1)
        self._samples: deque[tuple[int, int]] = deque(maxlen=minutes)
        self._last_ts: int | None = None

    def add_minute(self, ts_ms: int, open_basis_e8: int, close_basis_e8: int) -> None:
        check_int("ts_ms", ts_ms, 0)
        for name, v in (("open_basis_e8", open_basis_e8), ("close_basis_e8", close_basis_e8)):
            if type(v) is not int:
                raise TypeError(f"{name} must be an int, got {type(v).__name__} {v!r}")
        if self._last_ts is not None and ts_ms <= self._last_ts:
            raise NonMonotonicTimeError(f"ts_ms={ts_ms} must be after the last sample {self._last_ts}")
        self._samples.append((ts_ms, open_basis_e8 + close_basis_e8))
        self._last_ts = ts_ms

    def average_e8(self) -> Fraction:
        if not self._samples:
            return Fraction(0)
        return Fraction(sum(s for _, s in self._samples), 2 * len(self._samples))

    def export_state(self) -> dict[str, object]:
        return {"minutes": self.minutes, "last_ts": self._last_ts,
                "samples": [list(s) for s in self._samples]}


class BandClock:
    """What one contract's dynamic band needs besides the index: when the band started (the
    contract's first index print, from which the first ``warmup_ms`` count) and the average
    basis of the last ``minutes`` whole minutes.

    Each index print is one observation of the basis, the contract's last trade price minus
    the index (none before the first trade). A minute's sample is ``(open + close) / 2`` of the
    observations inside it, and it enters the :class:`BasisWindow` when an observation of a
    later minute arrives, so the average only ever holds finished minutes."""

    __slots__ = ("opened_ms", "window", "_minute", "_last_ms", "_open", "_close", "_band")

    def __init__(self, minutes: int = 10) -> None:
        self.opened_ms: int | None = None
        self.window = BasisWindow(minutes)
        self._minute: int | None = None  # start of the minute being observed
        self._last_ms: int | None = None  # the latest observation (time never goes back)
        self._open = self._close = 0
        # the last band handed out and what it was computed from (derived, not state)
        self._band: tuple[tuple[object, ...], PriceBand] | None = None

    def observe(self, ts_ms: int, index_e8: int, last_e8: int | None) -> None:
        """One index print at ``ts_ms`` with the last trade price then (None before any)."""
        check_int("ts_ms", ts_ms, 0)
        check_int("index_e8", index_e8, 1)
        if last_e8 is not None:
            check_int("last_e8", last_e8, 1)
        if self._last_ms is not None and ts_ms < self._last_ms:
            raise NonMonotonicTimeError(f"ts_ms={ts_ms} is earlier than an observation already made")
        self._band = None  # a finished minute moves the average
        self._last_ms = ts_ms
        if self.opened_ms is None:
            self.opened_ms = ts_ms
        if last_e8 is None:
            return
        basis = last_e8 - index_e8
        minute = ts_ms - ts_ms % MINUTE_MS
        if minute != self._minute:
            if self._minute is not None:
                self.window.add_minute(self._minute, self._open, self._close)
            self._minute, self._open = minute, basis
        self._close = basis

    def since_open_ms(self, ts_ms: int) -> int | None:
        """Milliseconds since the band started; None before the first index print."""
        return None if self.opened_ms is None else max(0, ts_ms - self.opened_ms)

    def average_e8(self) -> Fraction:
        """The average basis of the finished minutes in the window (0 before the first)."""
        return self.window.average_e8()

    def band(self, fn: Callable[[int, Fraction, int, BandParams], PriceBand], params: BandParams,
             index_e8: int, ts_ms: int) -> PriceBand | None:
        """``fn(index_e8, average_e8(), since_open_ms(ts_ms), params)``, None before the first
        index print. Between two observations only the index and the end of the opening
        minutes can change it, so every order in between reuses one computation."""
        since = self.since_open_ms(ts_ms)
        if since is None:
            return None
        key = (fn, params, index_e8, since < params.warmup_ms)
        cached = self._band
        if cached is not None and cached[0] == key:
            return cached[1]
        band = fn(index_e8, self.average_e8(), since, params)
        self._band = (key, band)
        return band

    def export_state(self) -> dict[str, object]:
        return {"opened_ms": self.opened_ms, "minute": self._minute, "last_ms": self._last_ms,
                "open": self._open, "close": self._close, "window": self.window.export_state()}


# ---- position limits by leverage ----------------------------------------------------------

class PositionLimitTable:
    """Cap on position value (minor settle units) by leverage: rows ``(min_leverage, cap)``;
    the row with the largest ``min_leverage <= leverage`` applies; below every row, no cap."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Iterable[tuple[int, int]]) -> None:
        table = sorted(rows)
        if not table:
            raise InvalidConfigError("position limit table must have at least one row")
        for lev, cap in table:
            _cfg_int("min_leverage", lev, 1)
            _cfg_int("cap", cap, 1)
        levs = [lev for lev, _ in table]
        if len(set(levs)) != len(levs):
            raise InvalidConfigError(f"duplicate leverage in position limit table: {levs}")
        caps = [cap for _, cap in table]
        if any(b > a for a, b in zip(caps, caps[1:])):
            raise InvalidConfigError(f"caps {caps} must not grow with leverage")
        self._rows = tuple(table)

    def limit_for(self, leverage: int) -> int | None:
        check_int("leverage", leverage, 1)
        cap = None
        for lev, row_cap in self._rows:
            if leverage >= lev:
                cap = row_cap
        return cap

    def reject(self, leverage: int, position_value: int) -> str | None:
        """The reject text when ``|position_value|`` after the order exceeds the cap."""
        if type(position_value) is not int:
            raise TypeError(f"position_value must be an int, got {position_value!r}")
        cap = self.limit_for(leverage)
        if cap is not None and abs(position_value) > cap:
            return f"Position value {abs(position_value)} above the limit {cap} at {leverage}x"
        return None


_USDT = 1_000_000
HUOBI_BTC_USDT_POSITION_LIMITS_2022 = PositionLimitTable([
    (21, 5_000_000 * _USDT), (31, 1_000_000 * _USDT), (51, 250_000 * _USDT),
    (76, 100_000 * _USDT), (101, 50_000 * _USDT), (126, 40_000 * _USDT), (151, 30_000 * _USDT)])
"""H4 (Sep 2022, BTC USDT-M), in USDt; 20x and below has no leverage-specific cap."""


# ---- circuit breaker ----------------------------------------------------------------------

class CircuitBreaker:
    """Halts for ``halt_ms`` when the mark moves more than ``max_move`` (a fraction of the
    reference) from any mark seen within the last ``window_ms``. perpex default: off unless
    configured; BitMEX has none (Decision 12)."""

    __slots__ = ("max_move", "window_ms", "halt_ms", "_move", "_marks", "_halted_until", "_last_ts")

    def __init__(self, max_move: float, window_ms: int, halt_ms: int) -> None:
        self._move = _cfg_rate("max_move", max_move, Fraction(0), Fraction(1))
        if self._move == 0:
            raise InvalidConfigError(f"max_move={max_move} must be > 0")
        self.max_move = max_move
        self.window_ms = _cfg_int("window_ms", window_ms, 1)
        self.halt_ms = _cfg_int("halt_ms", halt_ms, 1)
        self._marks: deque[tuple[int, int]] = deque()
        self._halted_until: int | None = None
        self._last_ts: int | None = None

    def is_halted(self, ts_ms: int) -> bool:
        check_int("ts_ms", ts_ms, 0)
        return self._halted_until is not None and ts_ms < self._halted_until

    def update(self, ts_ms: int, mark_e8: int) -> bool:
        """Record a mark; True when this mark trips the breaker (the halt starts at ``ts_ms``)."""
        check_int("ts_ms", ts_ms, 0)
        if type(mark_e8) is not int or mark_e8 <= 0:
            raise InvalidPriceError(f"mark_e8={mark_e8!r} must be an int > 0")
        if self._last_ts is not None and ts_ms < self._last_ts:
            raise NonMonotonicTimeError(f"ts_ms={ts_ms} is before the last update {self._last_ts}")
        self._last_ts = ts_ms
        while self._marks and self._marks[0][0] < ts_ms - self.window_ms:
            self._marks.popleft()
        tripped = any(abs(mark_e8 - ref) > self._move * ref for _, ref in self._marks)
        self._marks.append((ts_ms, mark_e8))
        if tripped and not self.is_halted(ts_ms):
            self._halted_until = ts_ms + self.halt_ms
            # the move that halted trading must not halt it again once the halt ends
            self._marks.clear()
            self._marks.append((ts_ms, mark_e8))
            return True
        return False

    def export_state(self) -> dict[str, object]:
        return {"halted_until": self._halted_until, "last_ts": self._last_ts,
                "marks": [list(m) for m in self._marks]}


# ---- load shedding ------------------------------------------------------------------------

class RequestKind(Enum):
    NEW = "new"
    AMEND = "amend"
    CANCEL = "cancel"
    CANCEL_ALL = "cancel_all"
    CLOSE = "close"
    POSITION = "position"


_EXEMPT = frozenset({RequestKind.CANCEL, RequestKind.CANCEL_ALL, RequestKind.CLOSE})


class LoadShedder:
    """Queue-depth counter of §10: at ``max_depth`` queued requests, sheddable work is refused
    with :data:`OVERLOADED`; exempt kinds (cancels, close-without-qty) are always queued."""

    __slots__ = ("max_depth", "_depth", "_shed")

    def __init__(self, max_depth: int) -> None:
        self.max_depth = _cfg_int("max_depth", max_depth, 1)
        self._depth = 0
        self._shed = 0

    @property
    def depth(self) -> int:
        return self._depth

    def admit(self, kind: RequestKind) -> str | None:
        """Queue one request; the overload reason (and nothing queued) when it is shed."""
        if not isinstance(kind, RequestKind):
            raise TypeError(f"kind must be a RequestKind, got {kind!r}")
        if kind not in _EXEMPT and self._depth >= self.max_depth:
            self._shed += 1
            return OVERLOADED
        self._depth += 1
        return None

    def complete(self, n: int = 1) -> None:
        """``n`` queued requests were processed."""
        check_int("n", n, 0)
        if n > self._depth:
            raise InvalidInputError(f"n={n} exceeds the queue depth {self._depth}")
        self._depth -= n

    def export_state(self) -> dict[str, int]:
        return {"max_depth": self.max_depth, "depth": self._depth, "shed": self._shed}
