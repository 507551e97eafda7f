"""Funding's interest component over simulated time, and the 2-hour funding interval, through
the Exchange (MECHANICS §6.1: I = (quote - base daily rate) / intervals per day, sampled every
minute; F = P + clamp(I - P, +/-0.05%) on the interval's TWAPs; 2 h as BitMEX's emergency
interval with the same per-interval caps, S20)."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest

from perpex import presets
from perpex.errors import InvalidInputError, NonMonotonicTimeError, UnknownSymbolError
from perpex.exchange import Exchange

XBT = 100_000_000
H = 3_600_000
M = 60_000
DAY = 1_561_939_200_000  # 2019-07-01 00:00 UTC
QUOTES = {"Bitstamp": 10_000, "Coinbase": 10_000, "Kraken": 10_000}


def exchange(*instruments, book: tuple[float, float] | None = None, start: int = DAY + 4 * H,
             **kw) -> Exchange:
    """Accounts 1 and 2 hold 100,000 contracts short and long; ``book`` rests 20,000-contract
    bid and ask quotes (accounts 3 and 4) before the first minute sample at ``start``."""
    ex = Exchange(list(instruments) or [presets.XBTUSD()], **kw)
    for a in (1, 2, 3, 4):
        ex.deposit(a, 10 * XBT, ts=start)
    ex.place(1, "XBTUSD", "Sell", 100_000, 10_000, ts=start)
    ex.place(2, "XBTUSD", "Buy", 100_000, 10_000, ts=start)
    if book is not None:
        ex.place(3, "XBTUSD", "Buy", 20_000, book[0], ts=start)
        ex.place(4, "XBTUSD", "Sell", 20_000, book[1], ts=start)
    ex.update_index(start, QUOTES)
    return ex


def funding_rate(ex: Exchange) -> float:
    return ex.instrument_state("XBTUSD")["fundingRate"]


def test_a_rate_change_mid_interval_fixes_the_time_weighted_interest():
    # Empty book and a zero opening rate: every premium sample is 0, so each minute's
    # P + clamp(I - P) is I and the fixed rate is the TWAP of the interest samples.
    ex = exchange()  # interest_8h 0.01%: the 04:00 sample
    ex.set_interest_rates("XBTUSD", 0.0006, 0.0003, ts=DAY + 4 * H)  # (0.06% - 0.03%) / 3
    ex.set_interest_rates("XBTUSD", 0.0012, 0.0003, ts=DAY + 6 * H)  # (0.12% - 0.03%) / 3
    ex.advance(DAY + 12 * H)
    # samples 04:00 ... 06:00 (121 minutes) at 0.01%, 06:01 ... 11:59 (359) at 0.03%
    expected = Fraction(121 * 1 + 359 * 3, 10_000 * 480)
    assert expected == Fraction(1198, 4_800_000)  # 0.0249583...%
    assert funding_rate(ex) == float(expected)
    assert funding_rate(ex) == pytest.approx(0.000249583333, abs=1e-12)
    assert ex.instrument_state("XBTUSD")["fundingTimestamp"] == DAY + 20 * H


def test_with_the_clamp_binding_the_rate_is_premium_plus_clamped_twap_gap():
    # impact bid 10,002 over an index and mark of 10,000: P = 0.02% every minute
    ex = exchange(book=(10_002, 10_010))
    ex.set_interest_rates("XBTUSD", 0.0033, 0.0003, ts=DAY + 6 * H)  # I = 0.1% from 06:01
    ex.advance(DAY + 12 * H)
    interest = Fraction(121 * 1 + 359 * 10, 10_000 * 480)  # TWAP: 0.0773125%
    premium = Fraction(2, 10_000)
    assert interest - premium > Fraction(5, 10_000)  # outside the 0.05% band
    assert funding_rate(ex) == float(premium + Fraction(5, 10_000)) == 0.0007
    # not the TWAP of per-minute clamped rates, which would be 0.054875%
    per_minute = Fraction(121 * 1 + 359 * 7, 10_000 * 480)
    assert funding_rate(ex) != float(per_minute)


def test_a_later_change_leaves_the_samples_already_taken_alone():
    a, b = exchange(), exchange()
    a.advance(DAY + 6 * H)
    a.set_interest_rates("XBTUSD", 0.0012, 0.0003, ts=DAY + 6 * H)  # 06:00 already sampled
    b.set_interest_rates("XBTUSD", 0.0012, 0.0003, ts=DAY + 6 * H)
    for ex in (a, b):
        ex.advance(DAY + 12 * H)
    assert funding_rate(a) == funding_rate(b) == float(Fraction(1198, 4_800_000))
    assert a.export_state()["pricing"] == b.export_state()["pricing"]  # a took one more command


@pytest.mark.parametrize("args, exc, match", [
    (("XBTUSD", float("nan"), 0.0), InvalidInputError, "finite"),
    (("XBTUSD", 0.0003, float("inf")), InvalidInputError, "finite"),
    (("XBTUSD", True, 0.0), InvalidInputError, "number"),
    (("XBTUSD", "0.0003", 0.0), InvalidInputError, "number"),
    (("XBTUSD", 0.2, 0.0), InvalidInputError, "quote_daily"),
    (("XBTUSD", 0.0, -0.11), InvalidInputError, "base_daily"),
    (("NOPE", 0.0003, 0.0), UnknownSymbolError, "NOPE"),
    (("XBTZ", 0.0003, 0.0), InvalidInputError, "dated future"),
])
def test_bad_interest_rates_raise_and_change_nothing(args, exc, match):
    ex = Exchange([presets.XBTUSD(), presets.XBTZ()])
    ex.update_index(DAY, QUOTES)
    before = (ex.state_hash(), copy.deepcopy(ex.export_state()["pricing"]))
    with pytest.raises(exc, match=match):
        ex.set_interest_rates(*args, ts=DAY + M)
    assert (ex.state_hash(), ex.export_state()["pricing"]) == before


def test_interest_rates_cannot_be_set_in_the_past():
    ex = exchange()
    ex.advance(DAY + 5 * H)
    before = ex.state_hash()
    with pytest.raises(NonMonotonicTimeError):
        ex.set_interest_rates("XBTUSD", 0.0006, 0.0003, ts=DAY + 5 * H - 1)
    with pytest.raises(TypeError, match="ts"):
        ex.set_interest_rates("XBTUSD", 0.0006, 0.0003, ts=None)  # type: ignore[arg-type]
    assert ex.state_hash() == before


def test_the_rates_set_are_part_of_the_state_and_its_hash():
    plain, low, high = exchange(), exchange(), exchange()
    assert "interest" not in plain.export_state()["pricing"]
    low.set_interest_rates("XBTUSD", 0.0006, 0.0003, ts=DAY + 4 * H)
    high.set_interest_rates("XBTUSD", 0.0009, 0.0003, ts=DAY + 4 * H)
    assert low.export_state()["pricing"]["interest"] == {
        "XBTUSD": [DAY + 4 * H, 0.0006, 0.0003, 0.0001]}
    assert len({plain.state_hash(), low.state_hash(), high.state_hash()}) == 3


# ------------------------------------------------------------------------ the 2-hour interval
def two_hour_xbtusd():
    return presets.XBTUSD(funding_interval_ms=2 * H, funding_offset_ms=0)


def test_a_2_hour_perpetual_pays_at_every_even_hour_with_a_quarter_of_the_8_hour_interest():
    ex = exchange(two_hour_xbtusd(), start=DAY - 3 * H)  # 21:00: 22:00 pays 0, fixes 0.0025%
    assert ex.instrument_state("XBTUSD")["fundingInterval"] == 2 * H
    ex.drain_events()
    ex.advance(DAY + 6 * H + 59 * M)
    paid = [e for e in ex.drain_events() if e["execType"] == "Funding"]
    assert sorted({e["transactTime"] for e in paid}) == [DAY, DAY + 2 * H, DAY + 4 * H,
                                                        DAY + 6 * H]
    assert [e["account"] for e in paid] == [1, 2] * 4
    interest_8h = 0.0001
    assert {e["commission"] for e in paid} == {interest_8h / 4} == {0.000025}
    # 100,000 contracts at 10,000 are worth 10 XBT: 0.0025% of it is 25,000 satoshis
    assert [e["execComm"] for e in paid] == [-25_000, 25_000] * 4
    assert ex.instrument_state("XBTUSD")["fundingTimestamp"] == DAY + 8 * H
    # the daily borrow rates are spread over 12 intervals a day
    ex.set_interest_rates("XBTUSD", 0.0012, 0.0, ts=DAY + 6 * H + 59 * M)
    ex.advance(DAY + 10 * H)
    assert funding_rate(ex) == float(Fraction(12, 10_000) / 12) == 0.0001
    ex.check_invariants()


def test_a_2_hour_rate_is_capped_per_interval_like_an_8_hour_one():
    # impact bid 10,100 over 10,000: P = 1%, F = P - 0.05% = 0.95%, capped to 0.375% a
    # 2-hour interval (75% of IM - MM), i.e. 4.5% a day where 8 hours allow 1.125% (S20)
    ex = exchange(two_hour_xbtusd(), book=(10_100, 10_200), start=DAY)
    ex.advance(DAY + 2 * H)
    assert funding_rate(ex) == 0.00375
    ex.drain_events()
    ex.advance(DAY + 4 * H)
    paid = [e for e in ex.drain_events() if e["execType"] == "Funding"]
    assert [(e["account"], e["execComm"]) for e in paid if e["account"] in (1, 2)] == [
        (1, -3_750_000), (2, 3_750_000)]
    assert funding_rate(ex) == 0.00375
