"""Dynamic price bands inside the Exchange (MECHANICS §10, O1 and H3): the band opens with the
contract's first index print, is index x (1 +/- initial) for its first ten minutes, and then
follows the ten-minute average basis of last trade minus index."""

from __future__ import annotations

from fractions import Fraction

import pytest

from perpex import presets
from perpex.errors import InvalidInputError, NonMonotonicTimeError
from perpex.exchange import Exchange
from perpex.exchange_journal import dump_exchange, load_exchange
from perpex.exchange_overload import OverloadConfig
from perpex.risk.bands import PRICE_BAND, BandClock

XBT = 100_000_000
E8 = 100_000_000
DAY = 1_561_939_200_000          # 2019-07-01 00:00 UTC: simulated time far from 0
MIN = 60_000
Q = {"Bitstamp": 10_000, "Coinbase": 10_000, "Kraken": 10_000}


def banded(kind: str) -> Exchange:
    ex = Exchange([presets.XBTUSD()], overload=OverloadConfig(price_bands=kind))
    for a in (1, 2, 3):
        ex.deposit(a, 10 * XBT, ts=DAY)
    return ex


def text(ex: Exchange, account: int, side: str, price: float, ts: int) -> str:
    out = ex.place(account, "XBTUSD", side, 10, price, ts=ts)
    if out.accepted:  # leave nothing resting that a later order could trade with
        ex.cancel_all(account, ts=ts)
    return out.text


def assert_band(ex: Exchange, account: int, t: int, high: float, low: float) -> None:
    """Buys up to ``high`` and sells down to ``low`` pass at ``t``; a tick beyond, refused."""
    assert text(ex, account, "Buy", high, t) == ""
    assert text(ex, account, "Buy", high + 0.5, t) == PRICE_BAND
    assert text(ex, account, "Sell", low, t) == ""
    assert text(ex, account, "Sell", low - 0.5, t) == PRICE_BAND


def with_premium_trade(kind: str) -> Exchange:
    """Index 10,000 from DAY; one trade at 10,100 a second later; eleven minutes on, so ten
    finished minutes each sampled a basis of +100."""
    ex = banded(kind)
    ex.update_index(DAY, Q)
    ex.place(2, "XBTUSD", "Sell", 10, 10_100, ts=DAY + 1_000)
    assert ex.place(1, "XBTUSD", "Buy", 10, 10_100, ts=DAY + 1_000).accepted
    ex.advance(DAY + 11 * MIN)
    return ex


def test_no_order_is_checked_before_the_first_index_print():
    ex = banded("OKEx")
    assert text(ex, 1, "Buy", 50_000, DAY) == ""


@pytest.mark.parametrize("kind, high, low", [("OKEx", 10_500, 9_500), ("Huobi", 10_400, 9_600)])
def test_the_first_ten_minutes_after_the_first_print_use_the_opening_band(kind, high, low):
    ex = banded(kind)
    ex.update_index(DAY, Q)
    t = DAY + 10 * MIN - 1
    ex.advance(t)
    assert_band(ex, 1, t, high, low)


def test_the_opening_band_ends_on_time_without_a_new_index_print():
    # orders between two prints share one band computation; the end of the opening minutes
    # must still change it: 5% before, 3% after (no trade, so the basis is 0)
    ex = banded("OKEx")
    ex.update_index(DAY, Q)
    assert text(ex, 1, "Buy", 10_400, DAY + 10 * MIN - 1) == ""
    assert text(ex, 1, "Buy", 10_400, DAY + 10 * MIN) == PRICE_BAND
    assert text(ex, 1, "Buy", 10_300, DAY + 10 * MIN) == ""


# OKEx: maxBid = min(max(I, 1.03 I + basis), 1.25 I), minAsk = max(min(I, 0.97 I + basis), 0.75 I);
# Huobi: highestBid = min(1.04 (I + basis), 1.06 I), lowestAsk = max(0.96 (I + basis), 0.94 I)
@pytest.mark.parametrize("kind, high, low", [("OKEx", 10_400, 9_800), ("Huobi", 10_504, 9_696)])
def test_after_ten_minutes_the_band_follows_the_average_basis(kind, high, low):
    ex = with_premium_trade(kind)
    assert_band(ex, 3, DAY + 11 * MIN, high, low)


def test_without_a_trade_the_basis_is_zero():
    ex = banded("OKEx")
    ex.update_index(DAY, Q)
    t = DAY + 11 * MIN
    ex.advance(t)
    assert text(ex, 1, "Buy", 10_300, t) == ""
    assert text(ex, 1, "Buy", 10_300.5, t) == PRICE_BAND


def test_the_band_state_is_hashed_and_survives_a_snapshot():
    ex = with_premium_trade("OKEx")
    bands = dict(ex.export_state()["risk"]["bands"])
    assert bands["XBTUSD"]["opened_ms"] == DAY
    assert len(bands["XBTUSD"]["window"]["samples"]) == 10
    copy = load_exchange(dump_exchange(ex))
    assert copy.state_hash() == ex.state_hash()
    t = DAY + 11 * MIN
    assert text(copy, 3, "Buy", 10_400.5, t) == PRICE_BAND
    assert text(copy, 3, "Buy", 10_400, t) == ""


def test_without_bands_the_state_has_no_band_entry():
    ex = Exchange([presets.XBTUSD()])
    ex.update_index(DAY, Q)
    assert "bands" not in ex.export_state()["risk"]


# ---------------------------------------------------------------- the clock on its own

def test_a_minute_enters_the_average_only_when_a_later_minute_is_observed():
    clock = BandClock(minutes=2)
    clock.observe(0, 100 * E8, None)          # before any trade: opens, samples nothing
    assert clock.opened_ms == 0 and clock.since_open_ms(5_000) == 5_000
    clock.observe(MIN + 1, 100 * E8, 101 * E8)   # minute 1 opens at +1
    clock.observe(2 * MIN - 1, 100 * E8, 104 * E8)  # ... and closes at +4
    assert clock.average_e8() == 0
    clock.observe(2 * MIN, 100 * E8, 100 * E8)   # minute 2 begins: minute 1 = (1 + 4) / 2
    assert clock.average_e8() == Fraction(5 * E8, 2)
    clock.observe(3 * MIN, 100 * E8, 99 * E8)    # minute 2 = (0 + 0) / 2
    clock.observe(4 * MIN, 100 * E8, 99 * E8)    # minute 3 = -1; minute 1 leaves the window
    assert clock.average_e8() == Fraction(-E8, 2)


def test_the_clock_refuses_time_going_back_and_keeps_its_state():
    clock = BandClock()
    clock.observe(2 * MIN, 100 * E8, 101 * E8)
    before = clock.export_state()
    with pytest.raises(NonMonotonicTimeError):
        clock.observe(MIN, 100 * E8, 101 * E8)
    assert clock.export_state() == before
    assert BandClock().since_open_ms(0) is None


def test_the_clock_refuses_an_earlier_time_within_the_current_minute():
    clock = BandClock()
    clock.observe(MIN + 30_000, 100 * E8, 101 * E8)
    before = clock.export_state()
    with pytest.raises(NonMonotonicTimeError):     # same minute, but before the last print
        clock.observe(MIN + 10_000, 100 * E8, 109 * E8)
    assert clock.export_state() == before
    clock.observe(MIN + 30_000, 100 * E8, 102 * E8)  # the same instant again is fine


def test_a_bad_observation_changes_nothing():
    clock = BandClock()
    for bad in ((-1, 100 * E8, None), (0, 0, None), (0, 100 * E8, 0), (0, 100 * E8, 1.5)):
        with pytest.raises((InvalidInputError, TypeError)):
            clock.observe(*bad)
    assert clock.opened_ms is None and clock.export_state() == BandClock().export_state()
