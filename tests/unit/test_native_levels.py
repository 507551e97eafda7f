"""The native order-margin index (perpex.accounts._levels) against the Python reference
``level_order_margin``: the same number for every level set, position, rate, mark and best
bid; a temporary order leaves the levels as they were; an overflow hands over to Python."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.accounts._levels import LevelTerms, OpenLevels
from perpex.accounts.margin import ContractValue, level_order_margin
from perpex.exchange import Exchange
from perpex.exchange_margin import _IDLE
from perpex.rounding import exact_rate

XBT = 100_000_000
INSTRUMENTS = {"XBTUSD": presets.XBTUSD(), "ETHUSD": presets.ETHUSD()}
RATES = [(1, 100), exact_rate(0.015), exact_rate(Fraction(1, 7)), (2, 3), (0, 1), exact_rate(1 / 3)]


def native(cv: ContractValue, buys: dict[int, int], sells: dict[int, int]) -> OpenLevels:
    lv = OpenLevels()
    for side, levels in ((0, buys), (1, sells)):
        for price, n in levels.items():
            lv.add(side, price, n)
    return lv


def reference(cv: ContractValue, position: int, buys: dict[int, int], sells: dict[int, int],
              rate: tuple[int, int], mark: int | None, bid: int | None) -> int:
    return level_order_margin(cv, position, buys, sorted(buys), sells, sorted(sells), rate,
                              mark_e8=mark, best_bid_ticks=bid)


NOTHING = (0, 0, 0, 0, 0, 0)  # margin_with's order added and order taken out: none


def args(cv: ContractValue, position: int, rate: tuple[int, int], mark: int | None,
         bid: int | None) -> tuple:
    terms = cv.terms
    assert terms is not None
    return (terms, position, *rate, mark or 0, cv.mark_unit(mark) if mark else 0, bid or 0)


@st.composite
def level_case(draw):
    """Levels around one price (low prices make per-contract values differ tick to tick), a
    position that may close some of them, a mark between ticks and a best bid."""
    symbol = draw(st.sampled_from(sorted(INSTRUMENTS)))
    inst = INSTRUMENTS[symbol]
    cv = ContractValue(inst)
    base = draw(st.sampled_from([70, 4_001, 40_000]))
    near = st.integers(max(1, base - 40), base + 40)
    sizes = st.integers(1, 500)
    buys = draw(st.dictionaries(near, sizes, max_size=6))
    sells = draw(st.dictionaries(near, sizes, max_size=6))
    mark = None
    mark_ticks = draw(st.none() | near)
    if mark_ticks is not None:
        mark = inst.ticks_to_e8(mark_ticks)
        if cv.inverse:  # anywhere between ticks
            mark = max(1, mark + draw(st.integers(-inst.ticks_to_e8(1) + 1, inst.ticks_to_e8(1) - 1)))
    bid = draw(st.none() | near)
    position = draw(st.integers(-1_500, 1_500))
    return cv, buys, sells, position, draw(st.sampled_from(RATES)), mark, bid


@settings(max_examples=800, deadline=None)
@given(case=level_case())
@example(case=(ContractValue(INSTRUMENTS["XBTUSD"]), {20_000: 20}, {30_000: 15}, 0, (1, 100), None, None))
@example(case=(ContractValue(INSTRUMENTS["XBTUSD"]), {100: 5, 90: 5}, {}, -5, (1, 100), None, None))
@example(case=(ContractValue(INSTRUMENTS["ETHUSD"]), {100: 5}, {100: 5}, 0, (1, 50), None, 120))
def test_the_native_margin_equals_the_python_reference(case):
    cv, buys, sells, position, rate, mark, bid = case
    lv = native(cv, buys, sells)
    assert lv.margin_with(*args(cv, position, rate, mark, bid), *NOTHING) == \
        reference(cv, position, buys, sells, rate, mark, bid)


@settings(max_examples=400, deadline=None)
@given(case=level_case(), side=st.sampled_from([0, 1]), delta=st.integers(-40, 40),
       qty=st.integers(1, 700), replace=st.booleans())
def test_a_margin_with_an_order_equals_the_margin_of_the_changed_levels_and_changes_nothing(
        case, side, delta, qty, replace):
    cv, buys, sells, position, rate, mark, bid = case
    lv = native(cv, buys, sells)
    before = lv.levels()
    price = max(1, (max(buys) if buys else 4_001) + delta)
    old = _IDLE
    if replace and buys:  # part of a resting buy level is the order being replaced
        p = min(buys)
        old = (0, p, (buys[p] + 1) // 2)
    changed_b, changed_s = dict(buys), dict(sells)
    if old[2]:
        changed_b[old[1]] -= old[2]
        if not changed_b[old[1]]:
            del changed_b[old[1]]
    target = changed_b if side == 0 else changed_s
    target[price] = target.get(price, 0) + qty
    got = lv.margin_with(*args(cv, position, rate, mark, bid), side, price, qty, *old)
    assert got == reference(cv, position, changed_b, changed_s, rate, mark, bid)
    assert lv.levels() == before


@settings(max_examples=600, deadline=None)
@given(case=level_case(), side=st.sampled_from([0, 1]), delta=st.integers(-60, 60),
       qty=st.integers(0, 700))
@example(case=(ContractValue(INSTRUMENTS["XBTUSD"]), {70: 5}, {110: 5}, 0, (1, 100), 90 * XBT // 2,
               100), side=0, delta=-40, qty=3)
def test_the_margin_bound_is_never_below_the_margin_under_any_position(case, side, delta, qty):
    """The pre-trade check accepts on the O(1) bound when it fits, so it must hold whatever
    the levels, the position, the mark (a premium on either side of it) and the best bid."""
    cv, buys, sells, position, rate, mark, bid = case
    lv = native(cv, buys, sells)
    terms, _, rn, rd, mark_e8, m1, best_bid = args(cv, position, rate, mark, bid)
    price = max(1, 4_001 + delta) if not buys else max(1, max(buys) + delta)
    bound = lv.margin_bound(terms, rn, rd, mark_e8, m1, best_bid, side, price, qty)
    changed_b, changed_s = dict(buys), dict(sells)
    if qty:
        target = changed_b if side == 0 else changed_s
        target[price] = target.get(price, 0) + qty
    assert bound is not None
    for pq in {position, 0, -position}:
        assert bound >= reference(cv, pq, changed_b, changed_s, rate, mark, bid)


def test_the_margin_bound_is_the_margin_for_one_level_without_a_mark():
    """On one level there is no netting to overcount and no premium: the bound is exact
    (the check stays cheap for the common single-price account)."""
    for sym, price in (("XBTUSD", 39_999), ("ETHUSD", 30_000)):
        cv = ContractValue(INSTRUMENTS[sym])
        lv = native(cv, {price: 40}, {})
        assert lv.margin_bound(cv.terms, 1, 100, 0, 0, 0, 0, price, 60) == \
            reference(cv, 0, {price: 100}, {}, (1, 100), None, None)


def test_the_margin_bound_declines_what_the_exact_steps_refuse_or_overflow():
    cv = ContractValue(INSTRUMENTS["XBTUSD"])
    lv = native(cv, {100: 5}, {})
    assert lv.margin_bound(cv.terms, -1, 100, 0, 0, 0, 0, 101, 3) is None
    assert lv.margin_bound(cv.terms, 1, 100, 0, 0, 0, 0, 0, 3) is None
    lv.add(1, 40_000, 2**62)
    assert lv.margin_bound(cv.terms, 1, 100, 0, 0, 0, 0, 101, 3) is None


def test_the_index_counts_contracts_per_level_and_drops_emptied_levels():
    lv = OpenLevels()
    lv.add(0, 100, 5)
    lv.add(0, 100, 7)
    lv.add(1, 105, 3)
    lv.add(0, 0, 9)  # a market order in flight: counted, not priced
    assert lv.levels() == ({100: 12}, {105: 3}, 1)
    lv.remove(0, 100, 12)
    lv.remove(0, 0, 9)
    assert lv.levels() == ({}, {105: 3}, 0)
    assert not lv.empty()
    lv.remove(1, 105, 3)
    assert lv.empty()


def test_the_index_pickles_with_its_levels_counts_and_shared_identity():
    """A snapshot pickles the engine, whose records share their key's levels object."""
    import pickle
    lv = OpenLevels()
    for side, price, n in ((0, 100, 5), (0, 98, 2), (1, 105, 3), (1, 0, 4)):
        lv.add(side, price, n)
    lv.count = 5
    a, b = pickle.loads(pickle.dumps([lv, lv], protocol=5))
    assert a is b and a.levels() == lv.levels() == ({98: 2, 100: 5}, {105: 3}, 1)
    assert a.count == 5
    cv = ContractValue(INSTRUMENTS["XBTUSD"])
    assert a.margin_with(*args(cv, 0, (1, 100), None, None), *NOTHING) == \
        lv.margin_with(*args(cv, 0, (1, 100), None, None), *NOTHING) > 0


def test_removing_more_than_a_level_holds_raises_and_changes_nothing():
    lv = OpenLevels()
    lv.add(1, 105, 3)
    for side, price, n in ((1, 105, 4), (1, 106, 1), (0, 105, 1)):
        with pytest.raises(KeyError):
            lv.remove(side, price, n)
    assert lv.levels() == ({}, {105: 3}, 0)
    cv = ContractValue(INSTRUMENTS["XBTUSD"])
    with pytest.raises(KeyError):  # a replaced order the levels do not hold
        lv.margin_with(*args(cv, 0, (1, 100), None, None), 0, 100, 1, 0, 99, 1)
    assert lv.levels() == ({}, {105: 3}, 0)


@pytest.mark.parametrize("bad", [
    dict(value_num=0), dict(value_den=0), dict(e8_per_tick=0), dict(fee_num=-1), dict(fee_den=0),
    dict(inverse=False, value_den=2)])
def test_contract_constants_that_cannot_be_valued_per_contract_are_refused(bad):
    kw = dict(inverse=True, value_num=XBT, value_den=1, e8_per_tick=XBT // 2, fee_num=3,
              fee_den=4000) | bad
    with pytest.raises(ValueError):
        LevelTerms(**kw)


def test_an_overflowing_calculation_returns_none_and_the_exchange_takes_the_python_path():
    ex = Exchange([presets.XBTUSD()])
    cv = ex._cv["XBTUSD"]
    lv = OpenLevels()
    lv.add(1, 40_000, 2**61)  # contracts x value per contract is beyond 64 bits
    assert lv.margin_with(*args(cv, 0, (1, 100), None, None), *NOTHING) is None
    want = reference(cv, 0, {}, {40_000: 2**61}, (1, 100), None, None)
    assert want > 2**63
    assert ex._levels_margin_with(cv, lv, 1, "XBTUSD", None, _IDLE, _IDLE) == want
    # a rate whose exact ratio is beyond 64 bits: the call itself refuses it
    with pytest.raises(OverflowError):
        lv.margin_with(*args(cv, 0, (1, 2**70), None, None), *NOTHING)


def test_a_negative_rate_is_refused_before_the_levels_change():
    cv = ContractValue(INSTRUMENTS["XBTUSD"])
    lv = native(cv, {100: 5}, {})
    with pytest.raises(ValueError, match="ratio"):
        lv.margin_with(*args(cv, 0, (-1, 100), None, None), 0, 101, 3, 0, 100, 2)
    assert lv.levels() == ({100: 5}, {}, 0)


VALUED = [presets.XBTUSD(), presets.ETHUSD(), presets.XBTUSDT(), presets.XBTZ(),
          presets.XBTUSD(multiplier=-7, tick_size=Decimal("0.01")), presets.ETHUSD(multiplier=3)]


@settings(max_examples=600, deadline=None)
@given(inst=st.sampled_from(VALUED), qty=st.integers(-(2**62), 2**62),
       ticks=st.one_of(st.integers(1, 400), st.integers(1, 2**62)))
@example(inst=VALUED[0], qty=-(2**63) + 1, ticks=1)
@example(inst=VALUED[0], qty=1, ticks=2**62)
def test_the_native_contract_value_equals_the_instruments_or_declines(inst, qty, ticks):
    """The fill's exec cost in the engine loop: Instrument.value, rounding and sign included,
    or None (the loop then calls the method) when the result is beyond 64 bits."""
    terms = ContractValue(inst).terms
    if terms is None:  # not valued per contract: the loop always calls the method
        return
    got, want = terms.value(qty, ticks), inst.value(qty, ticks)
    if got is None:
        assert not -(2**63) < want < 2**63 or qty == -(2**63)
    else:
        assert got == want


def test_the_native_contract_value_refuses_a_price_of_zero_or_below():
    terms = ContractValue(presets.XBTUSD()).terms
    for ticks in (0, -1):
        with pytest.raises(ValueError):
            terms.value(1, ticks)


@settings(max_examples=400, deadline=None)
@given(inst=st.sampled_from(VALUED), qty=st.integers(-(2**64), 2**64),
       ticks=st.one_of(st.integers(1, 400), st.integers(1, 2**64)))
def test_contract_value_is_the_instruments_value_with_or_without_terms(inst, qty, ticks):
    """What the engine loop and the liquidation engine value fills and surpluses with: the
    native terms when they serve, the method otherwise, the same number either way."""
    from perpex.accounts._levels import contract_value
    want = inst.value(qty, ticks)
    assert contract_value(inst, ContractValue(inst).terms, qty, ticks) == want
    assert contract_value(inst, None, qty, ticks) == want


def test_contract_value_leaves_bad_prices_and_subclasses_to_the_method():
    from perpex.accounts._levels import contract_value
    from perpex.errors import InvalidPriceError
    from perpex.instruments import Instrument

    inst = presets.XBTUSD()
    terms = ContractValue(inst).terms
    with pytest.raises(InvalidPriceError):
        contract_value(inst, terms, 1, 0)

    class Doubled(Instrument):
        def value(self, qty: int, price_ticks: int) -> int:
            return 2 * super().value(qty, price_ticks)

    fields = {f: getattr(inst, f) for f in inst.__dataclass_fields__ if not f.startswith("_")}
    doubled = Doubled(**fields)
    assert contract_value(doubled, terms, 3, 40_000) == 2 * inst.value(3, 40_000)
