"""The order-margin index (perpex.exchange_margin): per-level order margin equals the
order-by-order calculation, the index follows every order event, and drift is caught."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.accounts.margin import ContractValue, OpenOrder, level_order_margin, order_margin
from perpex.errors import InvalidInputError, InvariantViolation
from perpex.exchange import Exchange
from perpex.exchange_journal import dump_exchange, load_exchange
from perpex._core import fee as _fee
from perpex.rounding import div_round_half_away, exact_rate

XBT = 100_000_000
INSTRUMENTS = {"XBTUSD": presets.XBTUSD(), "ETHUSD": presets.ETHUSD()}


def levels(orders: list[OpenOrder]) -> tuple[dict[int, int], list[int], dict[int, int], list[int]]:
    buys: dict[int, int] = {}
    sells: dict[int, int] = {}
    for o in orders:
        if not o.reduce_only:
            side = buys if o.qty > 0 else sells
            side[o.price_ticks] = side.get(o.price_ticks, 0) + abs(o.qty)
    return buys, sorted(buys), sells, sorted(sells)


@st.composite
def margin_case(draw):
    """Orders, position, mark and best bid around one price (low prices make per-contract
    values differ from tick to tick, so rounding edges are hit)."""
    symbol = draw(st.sampled_from(sorted(INSTRUMENTS)))
    inst = INSTRUMENTS[symbol]
    base = draw(st.sampled_from([70, 4_001, 40_000]))
    near = st.integers(max(1, base - 40), base + 40)
    orders = draw(st.lists(st.builds(OpenOrder, st.integers(-400, 400).filter(bool), near,
                                     st.sampled_from([False, False, False, True])), max_size=9))
    mark = None
    mark_ticks = draw(st.none() | near)
    if mark_ticks is not None:
        mark = inst.ticks_to_e8(mark_ticks)
        if inst.contract_type.name == "INVERSE":  # anywhere between ticks
            mark = max(1, mark + draw(st.integers(-inst.ticks_to_e8(1) + 1, inst.ticks_to_e8(1) - 1)))
    bid = draw(st.none() | near)
    rate = draw(st.sampled_from([0.01, 0.015, 0.125, Fraction(1, 7), Fraction(2, 3)]))
    return inst, orders, draw(st.integers(-900, 900)), mark, bid, rate


@settings(max_examples=600, deadline=None)
@given(case=margin_case())
def test_per_level_order_margin_equals_the_order_by_order_total(case):
    inst, orders, position, mark, bid, rate = case
    cv = ContractValue(inst)
    assert cv.per_contract and (mark is None or cv.mark_unit(mark) is not None)
    want = order_margin(inst, position, orders, rate, mark_e8=mark, best_bid_ticks=bid).total
    got = level_order_margin(cv, position, *levels(orders), exact_rate(rate), mark_e8=mark,
                             best_bid_ticks=bid)
    assert got == want


@pytest.mark.parametrize("symbol", sorted(INSTRUMENTS))
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_orders_one_unit_either_side_of_the_mark_pay_the_premium_exactly_when_through_it(symbol, offset):
    inst = INSTRUMENTS[symbol]
    cv = ContractValue(inst)
    unit = 1 if cv.inverse else 10**6  # the quanto's value is per contract at whole cents
    for p in (70, 71, 4_001):
        for orders in ([OpenOrder(10, p)], [OpenOrder(-10, p)], [OpenOrder(10, p), OpenOrder(-3, p + 1)]):
            mark = inst.ticks_to_e8(p) + offset * unit
            want = order_margin(inst, 0, orders, 0.01, mark_e8=mark).total
            assert level_order_margin(cv, 0, *levels(orders), (1, 100), mark_e8=mark) == want


def test_the_worked_netting_example_gives_the_same_margin_per_level():
    inst = presets.XBTUSD()
    orders = [OpenOrder(20, 20_000), OpenOrder(-15, 30_000), OpenOrder(-5, 30_000, True)]
    want = order_margin(inst, 0, orders, 0.01).total
    assert want > 0
    assert level_order_margin(ContractValue(inst), 0, *levels(orders), (1, 100)) == want


def test_a_linear_contract_valued_per_fill_is_not_per_contract():
    cv = ContractValue(presets.XBTUSDT())
    assert not cv.per_contract


def test_a_quanto_mark_off_the_cent_grid_has_no_per_contract_value_and_is_refused():
    inst = presets.ETHUSD()
    cv = ContractValue(inst)
    assert cv.mark_unit(200 * XBT) == inst.mark_value(1, 200 * XBT)
    assert cv.mark_unit(200 * XBT + 1) is None
    with pytest.raises(InvalidInputError, match="not per contract"):
        level_order_margin(cv, 0, {4000: 1}, [4000], {}, [], (1, 50), mark_e8=200 * XBT + 1)


@settings(max_examples=300, deadline=None)
@given(cost=st.integers(-10**12, 10**12), rate=st.sampled_from([0.00075, -0.00025, 0.0, 0.1, 0.0003]))
def test_the_cached_fee_rounding_equals_the_instrument_fee(cost, rate):
    assert _fee(cost, exact_rate(rate)) == presets.XBTUSD().fee(cost, rate)


@settings(max_examples=400, deadline=None)
@given(cost=st.one_of(st.integers(-2**64, 2**64), st.sampled_from([2**63 - 1, -2**63 + 1, -2**63])),
       num=st.integers(-2**40, 2**40), den=st.integers(1, 2**62))
def test_the_fee_is_exact_on_either_side_of_64_bits(cost, num, den):
    # |cost| x num / den, half away from zero, whether it is worked in int64 or in Python ints
    assert _fee(cost, (num, den)) == div_round_half_away(abs(cost) * num, den)


# ---------------------------------------------------------------- the index inside the exchange

def exchange(*instruments, deposit: int = 10 * XBT) -> Exchange:
    ex = Exchange(list(instruments or [presets.XBTUSD()]))
    for a in (1, 2, 3):
        ex.deposit(a, deposit, ts=0)
    return ex


def assert_index_matches(ex: Exchange) -> None:
    ex.check_invariants()  # rebuilds the index and compares every order margin both ways
    for (a, sym) in list(ex._live):
        assert ex._order_margin(a, sym) == ex._order_margin_scan(a, sym)


def test_the_index_follows_adds_partial_fills_amends_and_cancels():
    ex = exchange()
    ex.set_mark("XBTUSD", 10_000)
    b1 = ex.place(1, "XBTUSD", "Buy", 100, 9_990).order_id
    ex.place(1, "XBTUSD", "Buy", 50, 9_990)
    s1 = ex.place(1, "XBTUSD", "Sell", 70, 10_020).order_id
    assert ex._open[(1, "XBTUSD")].levels() == ({19_980: 150}, {20_040: 70}, 0)
    ex.place(2, "XBTUSD", "Sell", 30, 9_990)  # fills 30 of the first buy
    assert ex._open[(1, "XBTUSD")].levels() == ({19_980: 120}, {20_040: 70}, 0)
    assert_index_matches(ex)
    ex.amend(1, b1, price=9_985)
    ex.amend(1, s1, leaves_qty=20)
    assert ex._open[(1, "XBTUSD")].levels() == ({19_970: 70, 19_980: 50}, {20_040: 20}, 0)
    assert_index_matches(ex)
    ex.cancel(1, s1)
    ex.cancel_all(1)
    assert (1, "XBTUSD") not in ex._open
    assert_index_matches(ex)


def test_reduce_only_and_untriggered_orders_are_indexed_without_margin_until_released():
    ex = exchange()
    ex.set_mark("XBTUSD", 10_000)
    ex.place(1, "XBTUSD", "Buy", 100, 10_000)
    ex.place(2, "XBTUSD", "Sell", 100, 10_000)  # 1 long 100, 2 short 100
    ex.place(1, "XBTUSD", "Sell", 40, 10_050, exec_inst="ReduceOnly")
    stop = ex.place(2, "XBTUSD", "Buy", 25, 10_040, stop_px=10_050).order_id
    assert ex._open[(1, "XBTUSD")].levels() == ({}, {}, 0)
    assert ex._open[(2, "XBTUSD")].levels() == ({}, {}, 0)
    assert ex._open[(2, "XBTUSD")].count == 1
    assert_index_matches(ex)
    ex.set_mark("XBTUSD", 10_060)  # triggers the stop limit: it rests at 10,040 (20,080 ticks)
    assert ex._orders[stop].conditional is False
    assert ex._open[(2, "XBTUSD")].levels() == ({20_080: 25}, {}, 0)
    assert_index_matches(ex)


def test_an_order_entered_behind_the_engine_loop_is_indexed_before_its_margin_is_used():
    ex = exchange()
    ex.set_mark("XBTUSD", 10_000)
    ex.place(1, "XBTUSD", "Buy", 100, 9_990)
    first = ex._orders[next(iter(ex._live[(1, "XBTUSD")]))]
    # a second record placed directly into the live tables, as a module outside the engine
    # loop could: the index has not seen it, so the key is re-indexed on use
    twin = type(first)(*first.as_tuple())
    twin.order_id, twin.price, twin.leaves_qty, twin.order_qty = 999, 19_900, 40, 40
    ex._orders[999] = twin
    ex._live[(1, "XBTUSD")].append(twin)
    assert ex._order_margin(1, "XBTUSD") == ex._order_margin_scan(1, "XBTUSD")
    assert ex._open[(1, "XBTUSD")].levels() == ({19_900: 40, 19_980: 100}, {}, 0)


def test_a_snapshot_restores_each_orders_index_entry_with_the_restored_levels():
    # a live order's entry is on its record and names its key's levels: after a round trip
    # through snapshot bytes it names the restored index's levels, and keeps them in step
    ex = exchange()
    ex.set_mark("XBTUSD", 10_000)
    b1 = ex.place(1, "XBTUSD", "Buy", 100, 9_990).order_id
    ex.place(1, "XBTUSD", "Sell", 70, 10_020)
    ex.place(2, "XBTUSD", "Buy", 30, 9_980, exec_inst="ReduceOnly")  # indexed, no margin
    ex.place(3, "XBTUSD", "Sell", 40, 9_990)  # fills 40 of b1
    back = load_exchange(dump_exchange(ex))
    assert back.state_hash() == ex.state_hash()
    for rec in back._orders.values():
        assert rec.ix_levels is back._open[(rec.account, rec.symbol)]
    assert back._orders[b1].indexed_as() == ex._orders[b1].indexed_as() == (0, 19_980, 60)
    assert_index_matches(back)
    for e in (ex, back):  # the same commands move both the same way
        e.amend(1, b1, price=9_985)
        e.place(3, "XBTUSD", "Sell", 60, 9_985)  # fills the rest of b1: its entry goes
        e.place(1, "XBTUSD", "Buy", 10, 9_970)
    assert back.state_hash() == ex.state_hash()
    assert back._open[(1, "XBTUSD")].levels() == ex._open[(1, "XBTUSD")].levels() == \
        ({19_940: 10}, {20_040: 70}, 0)
    assert_index_matches(back)


def test_check_invariants_catches_a_live_order_without_an_index_entry():
    ex = exchange()
    oid = ex.place(1, "XBTUSD", "Buy", 100, 9_990).order_id
    ex.check_invariants()
    rec = ex._orders[oid]
    ex._orders[oid] = type(rec)(*rec.as_tuple())  # the same order, never indexed
    with pytest.raises(InvariantViolation, match="does not cover the live orders"):
        ex.check_invariants()


def test_check_invariants_catches_an_index_that_drifted_from_the_orders():
    ex = exchange()
    ex.place(1, "XBTUSD", "Buy", 100, 9_990)
    ex.check_invariants()
    ex._open[(1, "XBTUSD")].remove(0, 19_980, 1)  # one contract fewer than the order has
    with pytest.raises(InvariantViolation, match="order-margin index"):
        ex.check_invariants()


def test_the_margin_reject_names_the_same_amount_as_the_order_by_order_calculation():
    ex = exchange(deposit=XBT // 100)  # 0.01 XBT: a few hundred USD of orders at 100x
    ex.set_mark("XBTUSD", 10_000)
    assert ex.place(1, "XBTUSD", "Sell", 200, 10_010).accepted
    before = ex._order_margin_scan(1, "XBTUSD")
    after = ex._order_margin_scan(1, "XBTUSD", OpenOrder(-50_000, 20_020))
    out = ex.place(1, "XBTUSD", "Sell", 50_000, 10_010)
    assert out.rejected
    assert out.text == f"Account has insufficient Available Balance, {after - before} XBt required"
    # a buy that only nets against the resting offer raises no margin and is accepted
    assert ex.place(1, "XBTUSD", "Buy", 150, 9_990).accepted
    assert_index_matches(ex)


def test_a_contract_valued_per_fill_uses_the_order_by_order_path_with_the_same_results():
    ex = Exchange([presets.XBTUSDT()])
    for a in (1, 2):
        ex.deposit(a, 10**12, currency="USDt", ts=0)
    ex.set_mark("XBTUSDT", Decimal("10000.5"))
    ex.place(1, "XBTUSDT", "Buy", 3_000, Decimal("9999.5"))
    ex.place(1, "XBTUSDT", "Sell", 1_000, Decimal("10001.5"))
    ex.place(2, "XBTUSDT", "Sell", 1_000, Decimal("9999.5"))
    assert_index_matches(ex)
    assert ex.position(1, "XBTUSDT")["orderMargin"] == ex._order_margin_scan(1, "XBTUSDT")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "add", "add", "cancel", "amend", "market", "mark",
                                           "reduce", "stop"]),
                          st.integers(1, 3), st.sampled_from(["Buy", "Sell"]), st.integers(-6, 6),
                          st.integers(1, 60)), max_size=40))
def test_random_command_sequences_keep_the_index_equal_to_a_rebuild(steps):
    ex = exchange(presets.XBTUSD(), presets.ETHUSD())
    ex.set_mark("XBTUSD", 10_000)
    ex.set_mark("ETHUSD", 200)
    for kind, a, side, off, qty in steps:
        sym = "XBTUSD" if off % 2 == 0 else "ETHUSD"
        mid, tick = (10_000, Decimal("0.5")) if sym == "XBTUSD" else (200, Decimal("0.05"))
        px = mid + off * tick
        live = [o for o in ex.open_orders(a) if o["symbol"] == sym]
        if kind == "add":
            ex.place(a, sym, side, qty, px)
        elif kind == "market":
            ex.place(a, sym, side, qty)
        elif kind == "reduce":
            ex.place(a, sym, side, qty, px, exec_inst="ReduceOnly")
        elif kind == "stop":
            ex.place(a, sym, side, qty, px + (5 if side == "Buy" else -5) * tick,
                     stop_px=mid + (2 if side == "Buy" else -2) * tick)
        elif kind == "mark":
            ex.set_mark(sym, mid + off * tick)
        elif live and kind == "cancel":
            ex.cancel(a, live[qty % len(live)]["orderID"])
        elif live and kind == "amend":
            order = live[qty % len(live)]
            if order["ordType"] == "Limit":
                ex.amend(a, order["orderID"], leaves_qty=qty, price=px)
        assert_index_matches(ex)
