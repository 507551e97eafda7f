"""Index price: BitMEX protection rules one by one, OKEx mode, schedule, bad input."""

from __future__ import annotations

import copy
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from perpex.errors import (
    InvalidConfigError,
    InvalidInputError,
    InvalidPriceError,
    NonMonotonicTimeError,
    UnknownSymbolError,
)
from perpex.pricing import Index, IndexConfig, to_e8

SEC = 1_000
MIN = 60 * SEC
E = to_e8


def _prints_by_ts(prints):
    return {p.ts_ms: p for p in prints}


def _run(index, quotes_by_minute, until_ms):
    """Feeds {minute: {name: price}} in time order and returns every print up to until_ms."""
    prints = []
    for minute in sorted(quotes_by_minute):
        prints += index.update(minute * MIN, quotes_by_minute[minute])
    prints += index.advance(until_ms)
    return _prints_by_ts(prints)


def _wiggle(price, minute):
    """Keeps a live constituent's price moving so that rule 2 does not remove it."""
    return price + (minute % 2) * 0.5


# --------------------------------------------------------------------------- rule 3a / WE-33
def test_we33_constituent_25_87_percent_from_median_is_excluded_and_index_is_10005():
    index = Index({"Bitstamp": 1, "Coinbase": 1, "Kraken": 1})
    index.update(0, {"Bitstamp": 10_000, "Coinbase": 10_010, "Kraken": 12_600})
    (p,) = index.advance(0)
    assert p.price_e8 == E(10_005)
    assert p.active == ("Bitstamp", "Coinbase")
    assert index.status("Kraken")["status"] == "excluded"
    assert index.status("Bitstamp")["effective_weight"] == pytest.approx(0.5)


def test_constituent_just_under_25_percent_from_median_stays_in_the_index():
    index = Index({"A": 1, "B": 1, "C": 1})
    index.update(0, {"A": 10_000, "B": 10_010, "C": Decimal("12512.49")})
    (p,) = index.advance(0)
    assert p.active == ("A", "B", "C")
    assert p.price_e8 == E((10_000 + 10_010 + Decimal("12512.49")) / 3)


# ------------------------------------------------------------------------------- rule 1
def test_unresponsive_constituent_keeps_contributing_its_previous_price():
    index = Index({"A": 1, "B": 1, "C": 1})
    index.update(0, {"A": 10_000, "B": 10_010, "C": 10_020})
    for minute in range(1, 6):  # C sends nothing for five minutes
        index.update(minute * MIN, {"A": _wiggle(10_000, minute), "B": _wiggle(10_010, minute)})
    (p,) = index.advance(5 * MIN)
    assert p.active == ("A", "B", "C")
    assert p.price_e8 == E((10_000.5 + 10_010.5 + 10_020) / 3)


# ------------------------------------------------------------------------------- rule 2
def test_constituent_unchanged_for_15_minutes_is_removed_until_its_price_changes():
    index = Index({"A": 1, "B": 1, "C": 1})
    quotes = {m: {"A": 10_000.0, "B": _wiggle(10_010, m), "C": _wiggle(10_030, m)}
              for m in range(0, 17)}           # A re-quotes the same price every minute
    quotes[17] = {"A": 10_001.0, "B": _wiggle(10_010, 17), "C": _wiggle(10_030, 17)}
    prints = _run(index, quotes, 17 * MIN)
    assert prints[15 * MIN - 5 * SEC].active == ("A", "B", "C")
    removed = prints[15 * MIN]
    assert removed.active == ("B", "C")
    assert removed.price_e8 == E((10_010.5 + 10_030.5) / 2)
    assert prints[17 * MIN - 5 * SEC].active == ("B", "C")
    assert prints[17 * MIN].active == ("A", "B", "C")
    assert index.status("A")["status"] == "active"


# ------------------------------------------------------------------------------ rule 3b
def test_two_constituents_12_5_percent_from_their_median_hold_the_last_index():
    index = Index({"A": 1, "B": 1})
    prints = _run(index, {0: {"A": 10_000, "B": 11_500}, 1: {"B": 13_000},
                          2: {"B": 12_800}}, 2 * MIN)
    assert prints[0].price_e8 == E(10_750) and not prints[0].held
    held = prints[1 * MIN]       # |13000 - 11500| / 11500 = 13.04% >= 12.5%
    assert held.held and held.price_e8 == E(10_750)
    assert prints[2 * MIN].price_e8 == E(11_400) and not prints[2 * MIN].held  # 12.28%


# ------------------------------------------------------------------------------ rule 3c
def test_single_constituent_25_percent_from_the_last_index_holds_the_index():
    index = Index({"A": 1, "B": 1})     # B never quotes
    prints = _run(index, {0: {"A": 10_000}, 1: {"A": 12_600}, 2: {"A": 12_400}}, 2 * MIN)
    assert prints[0].price_e8 == E(10_000)
    assert prints[1 * MIN].held and prints[1 * MIN].price_e8 == E(10_000)
    assert prints[2 * MIN].price_e8 == E(12_400) and not prints[2 * MIN].held
    assert index.status("B")["status"] == "pending"


def test_no_available_constituent_holds_the_last_index():
    index = Index({"A": 1})
    prints = _run(index, {0: {"A": 10_000}}, 20 * MIN)
    assert prints[15 * MIN].held and prints[15 * MIN].price_e8 == E(10_000)
    assert prints[15 * MIN].active == ()


# ------------------------------------------------------------------------------ rule 4a
def _readmission_quotes(c_price_by_minute, minutes):
    return {m: {"A": _wiggle(10_000, m), "B": _wiggle(10_010, m), "C": c_price_by_minute(m)}
            for m in range(minutes)}


def test_excluded_constituent_is_readmitted_after_15_continuous_minutes_within_2_percent():
    index = Index({"A": 1, "B": 1, "C": 1})
    c = lambda m: 12_600 if m < 2 else _wiggle(10_050, m)  # noqa: E731
    prints = _run(index, _readmission_quotes(c, 20), 20 * MIN)
    assert prints[2 * MIN - 5 * SEC].active == ("A", "B")
    assert prints[17 * MIN - 5 * SEC].active == ("A", "B")
    assert prints[17 * MIN].active == ("A", "B", "C")


def test_readmission_clock_restarts_when_the_constituent_leaves_the_2_percent_band():
    index = Index({"A": 1, "B": 1, "C": 1})
    c = lambda m: 12_600 if m < 2 else (10_300 if m == 10 else _wiggle(10_050, m))  # noqa
    prints = _run(index, _readmission_quotes(c, 30), 30 * MIN)
    assert prints[17 * MIN].active == ("A", "B")          # 10,300 is 2.9% off at minute 10
    assert prints[26 * MIN - 5 * SEC].active == ("A", "B")
    assert prints[26 * MIN].active == ("A", "B", "C")


# ------------------------------------------------------------------------------ rule 4b
def test_readmission_with_one_active_left_needs_25_percent_of_the_index():
    index = Index({"A": 1, "B": 1, "C": 1})
    quotes = {m: {"A": _wiggle(10_000, m), "C": 12_600 if m == 0 else _wiggle(11_000, m)}
              for m in range(35)}
    quotes[0]["B"] = 10_010                              # B then goes silent: stale at 15:00
    prints = _run(index, quotes, 35 * MIN)
    assert prints[15 * MIN - 5 * SEC].active == ("A", "B")  # 9.9% from their median: no 4a
    assert prints[15 * MIN].active == ("A",)
    assert prints[30 * MIN - 5 * SEC].active == ("A",)
    readmitted = prints[30 * MIN]                         # 15 min within 25% of the index
    assert readmitted.active == ("A", "C")
    assert readmitted.price_e8 == E((10_000 + 11_000) / 2)


# --------------------------------------------------------------------- proportional weights
def test_weights_are_renormalised_proportionally_over_the_active_constituents():
    weights = {"Bitstamp": Decimal("25.73"), "Bittrex": Decimal("2.63"),
               "Coinbase": Decimal("46.98"), "Gemini": Decimal("6.69"),
               "Kraken": Decimal("17.97")}
    index = Index(weights)
    index.update(0, {"Bitstamp": 9_000, "Bittrex": 20_000, "Coinbase": 9_010,
                     "Gemini": 9_020, "Kraken": 9_030})
    (p,) = index.advance(0)
    assert p.active == ("Bitstamp", "Coinbase", "Gemini", "Kraken")
    rest = [("Bitstamp", 9_000), ("Coinbase", 9_010), ("Gemini", 9_020), ("Kraken", 9_030)]
    expected = sum(weights[n] * px for n, px in rest) / sum(weights[n] for n, _ in rest)
    assert p.price_e8 == E(expected)
    assert index.status("Coinbase")["effective_weight"] == Fraction(4698, 9737)


# ------------------------------------------------------------------------------- OKEx mode
def test_okex_mode_clamps_each_price_to_3_percent_of_the_median_with_equal_weights():
    index = Index({"A": 5, "B": 1, "C": 1}, IndexConfig(method="okex"))
    index.update(0, {"A": 10_000, "B": 10_100, "C": 11_000})
    (p,) = index.advance(0)
    assert p.active == ("A", "B", "C")                    # clamped, not excluded
    assert p.price_e8 == E((10_000 + 10_100 + 10_100 * 1.03) / 3)


def test_okex_mode_averages_two_sources_and_uses_a_single_source_directly():
    index = Index({"A": 1, "B": 1, "C": 1}, IndexConfig(method="okex"))
    prints = _run(index, {0: {"A": 10_000, "B": 12_000}, 40: {"A": 10_500}}, 40 * MIN)
    assert prints[0].price_e8 == E(11_000)
    assert prints[30 * MIN - 5 * SEC].price_e8 == E(11_000)
    assert prints[30 * MIN].held and prints[30 * MIN].active == ()  # 30 min without update
    assert prints[40 * MIN].price_e8 == E(10_500) and prints[40 * MIN].active == ("A",)


# -------------------------------------------------------------------------------- schedule
def test_index_is_published_every_5_seconds_and_a_quote_counts_from_its_own_timestamp():
    index = Index({"A": 1}, start_ms=1_000)
    assert index.update(1_000, {"A": 100}) == []
    prints = index.update(12_000, {"A": 110})             # prints at 5 s and 10 s first
    assert [(p.ts_ms, p.price_e8) for p in prints] == [(5_000, E(100)), (10_000, E(100))]
    prints = index.advance(15_000)
    assert [(p.ts_ms, p.price_e8) for p in prints] == [(15_000, E(110))]
    assert index.advance(19_999) == [] and index.price_e8 == E(110)
    assert index.next_print_ms == 20_000


def test_first_print_without_any_quote_has_no_price():
    index = Index({"A": 1})
    (p,) = index.advance(0)
    assert p.price_e8 is None and p.held


# ------------------------------------------------------------------------------ bad input
BAD_PRICES = [
    (float("nan"), InvalidPriceError, "finite"), (float("inf"), InvalidPriceError, "finite"),
    (-math.inf, InvalidPriceError, "finite"), (0, InvalidPriceError, "> 0"),
    (-1, InvalidPriceError, "> 0"), (1e-9, InvalidPriceError, "> 0"),
    (True, InvalidPriceError, "bool"), ("100", InvalidPriceError, "str"),
    (None, InvalidPriceError, "NoneType"), (Decimal("NaN"), InvalidPriceError, "finite"),
]


@pytest.mark.parametrize(("bad", "exc", "match"), BAD_PRICES)
def test_bad_quote_raises_and_changes_nothing(bad, exc, match):
    index = Index({"A": 1, "B": 1})
    index.update(0, {"A": 100, "B": 100})
    before = copy.deepcopy(index.export_state())
    with pytest.raises(exc, match=match) as info:
        index.update(60_000, {"A": 101, "B": bad})
    assert isinstance(info.value, ValueError)
    assert "price['B']" in str(info.value)
    assert index.export_state() == before


def test_unknown_constituent_raises_key_error_and_changes_nothing():
    index = Index({"A": 1})
    before = copy.deepcopy(index.export_state())
    with pytest.raises(UnknownSymbolError, match="Binance") as info:
        index.update(10_000, {"A": 100, "Binance": 100})
    assert isinstance(info.value, KeyError)
    assert index.export_state() == before


@pytest.mark.parametrize("call", ["update", "advance"])
def test_time_going_backwards_raises_and_changes_nothing(call):
    index = Index({"A": 1})
    index.update(10_000, {"A": 100})
    before = copy.deepcopy(index.export_state())
    args = (9_999, {"A": 100}) if call == "update" else (9_999,)
    with pytest.raises(NonMonotonicTimeError, match="9999"):
        getattr(index, call)(*args)
    assert index.export_state() == before


@pytest.mark.parametrize("ts", [-1, True, 1.5, "0"])
def test_malformed_timestamp_raises(ts):
    with pytest.raises(InvalidInputError, match="ts_ms"):
        Index({"A": 1}).advance(ts)


@pytest.mark.parametrize(("weights", "config"), [
    ({}, None), ({"A": 0}, None), ({"A": -1}, None), ({"A": True}, None),
    ({"A": 1}, {"method": "median"}), ({"A": 1}, {"publish_interval_ms": 0}),
    ({"A": 1}, {"exclude_deviation": 1.5}),
])
def test_impossible_configuration_is_rejected(weights, config):
    with pytest.raises(InvalidConfigError):
        Index(weights, IndexConfig(**config) if config else None)


# --------------------------------------------------------------------- state and properties
def test_exported_state_rebuilds_an_index_that_continues_identically():
    index = Index({"A": 1, "B": 2, "C": 3})
    index.update(0, {"A": 10_000, "B": 10_010, "C": 12_600})
    index.advance(60_000)
    clone = Index.from_state(copy.deepcopy(index.export_state()))
    assert clone.export_state() == index.export_state()
    for ix in (index, clone):
        ix.update(90_000, {"C": 10_020})
    assert clone.advance(20 * MIN) == index.advance(20 * MIN)
    assert clone.export_state() == index.export_state()


quote_st = st.dictionaries(st.sampled_from(["A", "B", "C", "D"]),
                           st.integers(9_000, 11_000), min_size=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40_000), quote_st), min_size=1, max_size=25))
def test_index_is_deterministic_and_within_the_active_prices(steps):
    def run(reverse_quote_order):
        index = Index({"A": 1, "B": 2, "C": 3, "D": 4})
        prints, ts = [], 0
        for dt, quotes in steps:
            ts += dt
            items = list(quotes.items())
            prints += index.update(ts, dict(reversed(items) if reverse_quote_order else items))
        prints += index.advance(ts + 20 * MIN)
        return prints, index

    prints, index = run(False)
    prints2, index2 = run(True)
    assert prints == prints2 and index.export_state() == index2.export_state()
    for p in prints:
        if p.price_e8 is not None and not p.held:
            assert E(9_000) <= p.price_e8 <= E(11_000)


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.floats(min_value=1e-12, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=Decimal("1e-12"), max_value=Decimal("1e9"), allow_nan=False,
                allow_infinity=False, places=12),
    st.fractions(min_value=Fraction(1, 10**12), max_value=Fraction(10**9), max_denominator=10**12),
    st.integers(min_value=1, max_value=10**10)))
@example(2.5e-08)                        # ties: to the even neighbour
@example(Decimal("10000.000000035"))
@example(Fraction(1, 2 * 10**8))         # half of one unit rounds to 0: rejected
def test_to_e8_rounds_the_exact_value_half_even(value: object) -> None:
    # reference: the exact rational times 1e8, rounded half-even (Fraction's own round)
    exact = Fraction(str(value)) if isinstance(value, float) else Fraction(value)  # type: ignore[arg-type]
    q = round(exact * 10**8)
    if q <= 0:
        with pytest.raises(InvalidPriceError):
            to_e8(value)
    else:
        assert to_e8(value) == q
