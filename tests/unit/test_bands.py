"""Price bands, position limits, circuit breaker and load shedding (§10, Decision 12)."""

from __future__ import annotations

import pytest

from perpex.errors import InvalidConfigError, NonMonotonicTimeError
from perpex.risk.bands import (
    HUOBI_BTC_USDT_POSITION_LIMITS_2022,
    OVERLOADED,
    PRICE_BAND,
    BandParams,
    BasisWindow,
    CircuitBreaker,
    LoadShedder,
    PositionLimitTable,
    PriceBand,
    RequestKind,
    band_reject,
    huobi_band,
    okex_band,
)

E8 = 10**8
INDEX = 10_000 * E8
LATER = 600_000


def test_okex_band_uses_five_percent_in_the_first_ten_minutes():
    assert okex_band(INDEX, 0, 599_999) == PriceBand(10_500 * E8, 9_500 * E8)


@pytest.mark.parametrize(("basis", "bid", "ask"), [
    # +50: maxBid = min(max(10,000, 10,300 + 50), 12,500) = 10,350; minAsk = max(min(10,000, 9,750), 7,500)
    (50, 10_350, 9_750),
    # -400: maxBid = max(10,000, 9,900) = 10,000; minAsk = min(10,000, 9,300) = 9,300
    (-400, 10_000, 9_300),
    # +5,000: maxBid capped at 12,500; minAsk = min(10,000, 14,700) = 10,000
    (5_000, 12_500, 10_000),
])
def test_okex_band_after_ten_minutes_follows_the_average_basis(basis, bid, ask):
    assert okex_band(INDEX, basis * E8, LATER) == PriceBand(bid * E8, ask * E8)


@pytest.mark.parametrize(("basis", "bid", "ask"), [
    # +50: min(10,050 x 1.04 = 10,452, 10,600); max(10,050 x 0.96 = 9,648, 9,400)
    (50, 10_452, 9_648),
    # +300: min(10,712, 10,600) = 10,600; max(9,888, 9,400) = 9,888
    (300, 10_600, 9_888),
])
def test_huobi_band_after_ten_minutes(basis, bid, ask):
    assert huobi_band(INDEX, basis * E8, LATER) == PriceBand(bid * E8, ask * E8)


def test_huobi_band_in_the_first_ten_minutes_is_four_percent():
    assert huobi_band(INDEX, 300 * E8, 0) == PriceBand(10_400 * E8, 9_600 * E8)


def test_bands_round_inwards_and_reject_orders_beyond_them():
    # 333 x 1.05 = 349.65 -> 349; 333 x 0.95 = 316.35 -> 317
    band = okex_band(333, 0, 0)
    assert band == PriceBand(349, 317)
    assert band_reject("Buy", 350, band) == PRICE_BAND and band_reject("Buy", 349, band) is None
    assert band_reject("Sell", 316, band) == PRICE_BAND and band_reject("Sell", 317, band) is None


def test_basis_window_averages_the_last_ten_minutes_of_open_close_midpoints():
    window = BasisWindow()
    for minute in range(12):
        window.add_minute(minute * 60_000, minute * E8, (minute + 2) * E8)
    # minutes 2..11 remain: midpoints 3..12, mean 7.5
    assert window.average_e8() == 7.5 * E8
    with pytest.raises(NonMonotonicTimeError):
        window.add_minute(60_000, 0, 0)


def test_huobi_position_limits_follow_leverage():
    limits = HUOBI_BTC_USDT_POSITION_LIMITS_2022
    assert limits.limit_for(20) is None
    assert limits.limit_for(21) == 5_000_000 * 10**6
    assert limits.limit_for(100) == 100_000 * 10**6
    assert limits.limit_for(125) == 50_000 * 10**6
    assert limits.limit_for(200) == 30_000 * 10**6
    assert limits.reject(151, 30_000 * 10**6) is None
    assert limits.reject(151, -30_000 * 10**6 - 1) is not None


def test_circuit_breaker_halts_on_a_move_beyond_the_fraction_within_the_window():
    breaker = CircuitBreaker(0.1, window_ms=60_000, halt_ms=300_000)
    assert not breaker.update(0, 100 * E8)
    assert not breaker.update(30_000, 110 * E8)  # exactly 10%: not more than
    assert breaker.update(50_000, 111 * E8)
    assert breaker.is_halted(349_999) and not breaker.is_halted(350_000)
    assert breaker.export_state()["halted_until"] == 350_000
    with pytest.raises(NonMonotonicTimeError):
        breaker.update(49_999, 100 * E8)


def test_circuit_breaker_forgets_marks_older_than_the_window():
    breaker = CircuitBreaker(0.1, window_ms=60_000, halt_ms=1_000)
    breaker.update(0, 100 * E8)
    assert not breaker.update(61_000, 115 * E8)


def test_load_shedding_rejects_new_work_at_full_depth_but_queues_cancels():
    shedder = LoadShedder(2)
    assert shedder.admit(RequestKind.NEW) is None and shedder.admit(RequestKind.AMEND) is None
    assert shedder.admit(RequestKind.NEW) == OVERLOADED
    assert shedder.admit(RequestKind.POSITION) == OVERLOADED
    assert shedder.admit(RequestKind.CANCEL) is None and shedder.admit(RequestKind.CANCEL_ALL) is None
    assert shedder.export_state() == {"max_depth": 2, "depth": 4, "shed": 2}
    shedder.complete(3)
    assert shedder.admit(RequestKind.NEW) is None


@pytest.mark.parametrize("make", [
    lambda: BandParams(initial=0.05, basis=0.3, hard=0.25),
    lambda: BandParams(initial=0.05, basis=0.03, hard=1.5),
    lambda: BandParams(initial=0.05, basis=0.03, hard=0.25, warmup_ms=-1),
    lambda: CircuitBreaker(0.0, 1_000, 1_000),
    lambda: CircuitBreaker(0.1, 0, 1_000),
    lambda: LoadShedder(0),
    lambda: PositionLimitTable([(21, 100), (51, 200)]),
    lambda: PositionLimitTable([]),
    lambda: BasisWindow(0),
])
def test_impossible_overload_configs_raise_invalid_config(make):
    with pytest.raises(InvalidConfigError):
        make()
