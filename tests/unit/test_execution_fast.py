"""Execution events: the integer avgPx and the template-built report match the Decimal
formulas they replace, value, exponent and key order alike, and a report read long after it
was made still says what the order was then."""

from __future__ import annotations

from decimal import (
    ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext)
from math import gcd
from typing import Any, Iterator, Mapping

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import perpex._core
import perpex._events
import perpex.exchange_core
import perpex.exchange_queries
import perpex.orders
from perpex import presets
from perpex._events import Execution
from perpex.exchange import Exchange
from perpex.instruments import Instrument
from perpex.orders import (
    CONDITIONAL_TYPES, ORD_TYPE_NAMES, SIDE_NAMES, TIF_NAMES, OrderRecord, avg_px, exec_inst_text)

XBT = 100_000_000
USDT = 1_000_000
E8 = Decimal("1e-8")
DEFAULT = Context(prec=28, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999,
                  traps=[InvalidOperation, DivisionByZero, Overflow])


def reference_avg_px(instrument: Instrument, px_qty: int, cum: int) -> Decimal:
    """The formula avg_px replaces, in the default context."""
    with localcontext(DEFAULT):
        return (Decimal(px_qty) * instrument.tick_size / Decimal(cum)).quantize(E8)


def reference_execution(instrument: Instrument, rec: OrderRecord, exec_type: str,
                        ord_status: str, *, seq: int, ts: int, text: str = "",
                        last_qty: int = 0, last_px: int = 0, exec_cost: int = 0,
                        exec_comm: int = 0, liquidity: str = "",
                        stop_px: int | None = None) -> dict[str, Any]:
    """The event as a plain dict literal with the Decimal avgPx: the shape events keep."""
    conditional = rec.ord_type in CONDITIONAL_TYPES
    px = instrument.ticks_to_price
    ticks = rec.stop_px if stop_px is None else stop_px
    cum = rec.cum_qty
    return {
        "seq": seq, "transactTime": ts, "execType": exec_type, "ordStatus": ord_status,
        "orderID": rec.order_id, "clOrdID": rec.cl_ord_id, "account": rec.account,
        "symbol": rec.symbol, "side": SIDE_NAMES[rec.side], "ordType": ORD_TYPE_NAMES[rec.ord_type],
        "timeInForce": TIF_NAMES[rec.tif],
        "execInst": exec_inst_text(rec.flags, rec.feed, conditional),
        "orderQty": rec.order_qty,
        "price": px(rec.price) if rec.price else None,
        "stopPx": px(ticks) if ticks else None,
        "displayQty": None if rec.display_qty < 0 else rec.display_qty,
        "lastQty": last_qty, "lastPx": px(last_px) if last_px else None,
        "leavesQty": rec.leaves_qty, "cumQty": cum,
        "avgPx": reference_avg_px(instrument, rec.px_qty, cum) if cum else None,
        "execCost": exec_cost, "execComm": exec_comm, "lastLiquidityInd": liquidity,
        "triggered": "StopOrderTriggered" if rec.triggered else (
            "NotTriggered" if conditional else ""),
        "currency": instrument.settle_currency, "text": text,
    }


FILL_KEYS = ("seq", "transactTime", "execType", "lastQty", "lastPx", "execCost", "execComm",
             "lastLiquidityInd", "text")


def reference_order_view(instrument: Instrument, rec: OrderRecord, ord_status: str,
                         stop_px: int | None = None) -> dict[str, Any]:
    ev = reference_execution(instrument, rec, "", ord_status, seq=0, ts=0, stop_px=stop_px)
    return {k: v for k, v in ev.items() if k not in FILL_KEYS}


def shape(value: object) -> object:
    """A value with Decimals as (value, digits tuple), so 20000.5 and 20000.50000000 differ."""
    return (value, value.as_tuple()) if isinstance(value, Decimal) else (type(value), value)


def assert_same_event(got: Mapping[str, Any], want: dict[str, Any]) -> None:
    assert type(got) in (Execution, dict)
    assert list(got) == list(want)
    assert [shape(v) for v in got.values()] == [shape(v) for v in want.values()]


# ---------------------------------------------------------------- avgPx alone

def linear(tick: str) -> Instrument:
    return presets.XBTUSDT(tick_size=Decimal(tick))


INSTRUMENTS = [presets.XBTUSD(), presets.ETHUSD(), presets.XBTUSDT(), presets.XBTZ()] + [
    linear(t) for t in ("0.01", "0.05", "1", "5", "0.0001", "0.00000001", "0.25", "0.50",
                        "0.500000000000", "1E+1", "100")]
instruments = st.sampled_from(INSTRUMENTS)
# small, book-sized, past the fast range (cum >= 1e12 or avgPx >= 1e8) and past 28 digits
quantities = st.one_of(st.integers(1, 1_000), st.integers(1, 10**11), st.integers(1, 10**16))
px_qtys = st.one_of(st.integers(0, 10**6), st.integers(0, 10**19), st.integers(0, 10**32),
                    st.integers(0, 10**45))


def check_avg_px(inst: Instrument, px_qty: int, cum: int) -> None:
    try:
        want = reference_avg_px(inst, px_qty, cum)
    except InvalidOperation:
        with pytest.raises(InvalidOperation):
            avg_px(inst, px_qty, cum)
        return
    got = avg_px(inst, px_qty, cum)
    assert (got, got.as_tuple(), str(got)) == (want, want.as_tuple(), str(want))


@settings(max_examples=1_500)
@given(instruments, px_qtys, quantities)
@example(presets.XBTUSD(), 10**40, 3)                # 28 digits exceeded: InvalidOperation
@example(presets.XBTUSD(), 2 * 10**16 - 1, 1)         # the last avgPx the integers take
@example(presets.XBTUSD(), 2 * 10**16 + 1, 1)         # the first the Decimal form takes
@example(presets.XBTUSD(), 10**12 - 1, 10**12 - 1)    # the largest cumQty the integers take
@example(presets.XBTUSD(), 10**12, 10**12)
def test_avg_px_equals_the_decimal_formula_in_value_and_exponent(inst, px_qty, cum):
    check_avg_px(inst, px_qty, cum)


@settings(max_examples=1_500)
@given(instruments, st.integers(0, 10**20), st.integers(0, 12), st.integers(1, 10**6),
       st.integers(-1, 1))
def test_avg_px_rounds_ties_and_near_ties_at_the_8th_decimal_like_the_decimal_formula(
        inst, r, k, t, nudge):
    # V = px_qty x e8 / cum = odd / 2 units of 1e-8 exactly: odd = 5**k x (2r + 1) shares
    # factors with e8_per_tick, which keeps cum small; nudge moves px_qty off the tie
    e8 = inst.e8_per_tick
    odd = 5**k * (2 * r + 1)
    h = gcd(e8, odd)
    cum = 2 * e8 // h * t
    px_qty = odd // h * t
    assert 2 * px_qty * e8 == odd * cum
    check_avg_px(inst, px_qty + nudge, cum)


def test_avg_px_matches_the_decimal_formula_on_every_small_ratio():
    for inst in INSTRUMENTS[:4] + [linear("0.01"), linear("5")]:
        for cum in range(1, 130):
            for px_qty in range(0, 400):
                check_avg_px(inst, px_qty, cum)


def test_avg_px_keeps_eight_decimals_for_a_whole_price_and_rounds_half_to_even():
    inst = presets.XBTUSD()  # tick 0.5
    assert str(avg_px(inst, 40_000 * 3, 3)) == "20000.00000000"
    assert avg_px(inst, 40_000 * 3, 3).as_tuple() == Decimal("20000.00000000").as_tuple()
    assert str(avg_px(inst, 0, 7)) == "0E-8"
    assert str(avg_px(inst, 1, 10**8)) == "0E-8"         # 0.5e-8 -> 0, the even neighbour
    assert str(avg_px(inst, 3, 10**8)) == "2E-8"         # 1.5e-8 -> 2
    assert str(avg_px(inst, 40_001 * 2 + 40_000, 3)) == "20000.33333333"


@pytest.mark.parametrize("cum, units", [
    (10**12 + 1, 10**15 + 1),              # cumQty just past the integers' range
    (10**12 + 1, 3 * 10**15 + 7),
    (10**7 + 1, 10**20 + 1),               # avgPx past it: 28 digits keep 7 decimals of a unit
    (10**7 + 1, 123_456_789_012_345_678_901),
])
def test_avg_px_rounds_twice_like_the_decimal_formula_just_outside_the_integer_range(cum, units):
    # V = units + 1/2 - 1/(2 cum) in 1e-8 units: the 28-digit quotient rounds it up to the
    # tie units + 1/2, which quantize sends to the even units + 1; one rounding gives units
    inst = linear("0.00000001")
    px_qty = units * cum + (cum - 1) // 2
    got = avg_px(inst, px_qty, cum)
    assert got.as_tuple() == reference_avg_px(inst, px_qty, cum).as_tuple()
    assert got == Decimal(units + 1).scaleb(-8, DEFAULT) != Decimal(units).scaleb(-8, DEFAULT)


def test_avg_px_ignores_the_callers_decimal_context():
    inst = presets.XBTUSD()
    want = reference_avg_px(inst, 123_456_789, 7)
    with localcontext(Context(prec=6, rounding="ROUND_DOWN")):
        assert avg_px(inst, 123_456_789, 7).as_tuple() == want.as_tuple()
        assert avg_px(inst, 10**30, 10**13).as_tuple() == reference_avg_px(
            inst, 10**30, 10**13).as_tuple()


def test_avg_px_raises_invalid_operation_when_the_price_needs_more_than_28_digits():
    with pytest.raises(InvalidOperation):
        avg_px(presets.XBTUSD(), 10**40, 1)


# ---------------------------------------------------------------- whole events of a real run

@pytest.fixture
def checked(monkeypatch) -> Iterator[list[Mapping[str, Any]]]:
    """Every event and open-order view the exchange builds, with the reference built beside it
    as it is made; the two are compared once the run is over, when the orders the reports
    were made from have moved on. The list collects the events."""
    seen: list[Mapping[str, Any]] = []
    pairs: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
    real_execution = perpex.exchange_core.execution
    real_view = perpex.exchange_queries.order_view

    def check_execution(*args: Any, **kw: Any) -> Mapping[str, Any]:
        got = real_execution(*args, **kw)
        pairs.append((got, reference_execution(*args, **kw)))
        seen.append(got)
        return got

    def check_view(*args: Any) -> dict[str, Any]:
        got = real_view(*args)
        pairs.append((got, reference_order_view(*args)))
        seen.append(got)
        return got

    def check_loop(got: Mapping[str, Any], inst: Instrument, rec: Any, exec_type: str,
                   ord_status: str, fields: dict[str, Any]) -> None:
        pairs.append((got, reference_execution(inst, rec, exec_type, ord_status, **fields)))
        seen.append(got)

    monkeypatch.setattr(perpex.exchange_core, "execution", check_execution)
    monkeypatch.setattr(perpex.exchange_queries, "order_view", check_view)
    perpex._core.set_execution_check(check_loop)  # the engine loop builds reports in C
    yield seen
    perpex._core.set_execution_check(None)
    assert pairs
    for got, want in pairs:
        assert_same_event(got, want)


def funded(*instruments: Instrument) -> Exchange:
    ex = Exchange(list(instruments))
    for currency in sorted({i.settle_currency for i in instruments}):
        for account in range(1, 5):
            ex.deposit(account, 1_000 * XBT if currency == "XBt" else 10**9 * USDT,
                       currency=currency, ts=0)
    return ex


def test_every_event_of_a_mixed_session_equals_the_reference_event(checked):
    ex = funded(presets.XBTUSD())
    ex.set_mark("XBTUSD", 10_000)
    ex.place(1, "XBTUSD", "Sell", 7, 10_000.5)
    ex.place(1, "XBTUSD", "Sell", 11, 10_001, cl_ord_id="a")
    ex.place(1, "XBTUSD", "Sell", 50, 10_002, display_qty=5)
    ex.place(3, "XBTUSD", "Buy", 40, 9_990, exec_inst="ParticipateDoNotInitiate")
    ex.place(2, "XBTUSD", "Buy", 29, 10_003)  # 7 @ 10000.5, 11 @ 10001, 11 @ 10002
    ex.place(2, "XBTUSD", "Sell", 10, None, stop_px=9_000, exec_inst="ReduceOnly")
    ex.place(4, "XBTUSD", "Buy", 3, None, ord_type="Market")
    ex.open_orders(1)
    ex.open_orders(2)
    ex.cancel(1, ex.open_orders(1)[0]["orderID"])
    ex.place(3, "XBTUSD", "Buy", 5, 10_004, exec_inst="ParticipateDoNotInitiate")  # rejected
    ex.place(4, "XBTUSD", "Sell", 20, 9_980)
    ex.set_mark("XBTUSD", 8_900)                                    # the stop triggers
    events = [e for e in checked if "execType" in e]
    assert {e["execType"] for e in events} >= {"New", "Trade", "Canceled", "Triggered"}
    avg = [e["avgPx"] for e in events if e["ordStatus"] == "Filled" and e["orderQty"] == 29]
    assert avg and str(avg[0]) == "10001.25862069"  # 290036.5 / 29 = 10001.258620689...
    assert any(e["stopPx"] is not None for e in checked)


@settings(max_examples=40)
@given(st.sampled_from(["XBTUSD", "ETHUSD", "XBTUSDT"]),
       st.lists(st.tuples(st.integers(1, 400), st.integers(1, 3_000)), min_size=1, max_size=8),
       st.integers(1, 20_000))
def test_events_of_a_sweep_over_random_levels_equal_the_reference_events(symbol, levels, taker):
    inst = getattr(presets, symbol)()
    seen: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
    base = int(Decimal(1_000) / inst.tick_size) if symbol != "ETHUSD" else 4_000

    def check(got: Mapping[str, Any], inst: Instrument, rec: Any, exec_type: str,
              ord_status: str, fields: dict[str, Any]) -> None:
        seen.append((got, reference_execution(inst, rec, exec_type, ord_status, **fields)))

    perpex._core.set_execution_check(check)  # every report the engine loop builds
    try:
        ex = funded(inst)
        for offset, qty in levels:
            ex.place(1, symbol, "Sell", qty * inst.lot_size, inst.ticks_to_price(base + offset))
        ex.place(2, symbol, "Buy", taker * inst.lot_size, None, ord_type="Market")
    finally:
        perpex._core.set_execution_check(None)
    for got, want in seen:  # read after the sweep: the makers have filled since
        assert_same_event(got, want)
    assert any(e["execType"] == "Trade" for e, _ in seen)


# ---------------------------------------------------------------- single reports, random records

ORD_TYPES = sorted(ORD_TYPE_NAMES)
records = st.builds(
    OrderRecord, order_id=st.integers(1, 10**9), account=st.integers(0, 10**6),
    symbol=st.just("XBTUSD"), side=st.integers(0, 1), ord_type=st.sampled_from(ORD_TYPES),
    tif=st.sampled_from(sorted(TIF_NAMES)), flags=st.integers(0, 15), feed=st.integers(0, 2),
    price=st.one_of(st.just(0), st.integers(1, 10**7)), stop_px=st.one_of(st.just(0), st.integers(1, 10**7)),
    peg_offset=st.just(0), display_qty=st.one_of(st.sampled_from([-1, 0]), st.integers(1, 100)),
    order_qty=st.integers(0, 10**6), leaves_qty=st.integers(0, 10**6), cum_qty=st.integers(0, 10**6),
    px_qty=st.integers(0, 10**13), cl_ord_id=st.sampled_from(["", "a", "client-7"]),
    close_all=st.booleans(), conditional=st.booleans(), triggered=st.booleans())


@given(records, st.sampled_from(["New", "Trade", "Canceled", "Replaced", "Triggered"]),
       st.sampled_from(["New", "PartiallyFilled", "Filled", "Canceled"]), st.integers(0, 10**7),
       st.one_of(st.none(), st.just(0), st.integers(1, 10**7)), st.integers(0, 1), st.booleans())
def test_a_report_on_a_fresh_instrument_equals_the_reference(rec, exec_type, status, last_px,
                                                              stop_px, cached, fill):
    """Every field, on an instrument whose price cache starts empty (``cached``: or holds
    every price first), for any record: hidden (displayQty 0), iceberg or plain, conditional
    or not, with or without fills and a stop price override."""
    inst, ref_inst = presets.XBTUSD(), presets.XBTUSD()
    if cached:
        for ticks in (rec.price, rec.stop_px, last_px, stop_px or 0):
            if ticks:
                inst.ticks_to_price(ticks)
    kw = dict(seq=7, ts=11, stop_px=stop_px)
    if fill:
        kw.update(text="t", last_qty=3, last_px=last_px, exec_cost=-5, exec_comm=1,
                  liquidity="AddedLiquidity")
    got = perpex.orders.execution(inst, rec, exec_type, status, **kw)  # type: ignore[arg-type]
    assert_same_event(got, reference_execution(ref_inst, rec, exec_type, status, **kw))  # type: ignore[arg-type]


@given(st.sampled_from(["XBTUSD", "ETHUSD", "XBTUSDT"]), st.integers(0, 10**13),
       st.integers(1, 10**6), st.booleans())
@example("XBTUSD", 2**62, 3, False)             # px_qty x e8 per tick leaves int64
@example("XBTUSD", 10**13, 10**12 + 1, False)   # cum beyond the integer path
def test_a_reports_avg_px_is_avg_px_whether_its_cache_holds_it_or_not(symbol, px_qty, cum, warm):
    """The report reads avg_px's cache natively and calls it on a miss: the first and the
    second report of a record carry the very value avg_px gives."""
    inst = getattr(presets, symbol)()
    rec = OrderRecord(1, 2, symbol, 0, 0, 0, 0, 0, 100, 0, 0, -1, cum + 5, 5, cum_qty=cum,
                      px_qty=px_qty)
    if not warm:
        perpex._events.AVG_PX_CACHE.clear()
    want = reference_avg_px(inst, px_qty, cum)
    for _ in range(2):
        got = perpex.orders.execution(inst, rec, "Trade", "PartiallyFilled", seq=1, ts=1)["avgPx"]
        assert got == want and got.as_tuple() == want.as_tuple()


@given(records, st.sampled_from(["New", "Trade", "Canceled"]), st.sampled_from(["", "AddedLiquidity"]))
def test_reports_of_one_kind_on_contracts_that_differ_only_in_settle_currency_keep_their_own(
        rec, exec_type, liquidity):
    """A report's kind (symbol, side, types, statuses, liquidity) selects a prepared base,
    and its settle currency is part of that kind: an XBTUSD settled in USDt after one settled
    in XBt (two exchanges of one process) still says USDt, and both equal the reference."""
    xbt, usdt = presets.XBTUSD(), presets.XBTUSD(settle_currency="USDt")
    kw = dict(seq=3, ts=5, liquidity=liquidity)
    for inst in (xbt, usdt, xbt):
        got = perpex.orders.execution(inst, rec, exec_type, "New", **kw)  # type: ignore[arg-type]
        assert got["currency"] == inst.settle_currency
        assert_same_event(got, reference_execution(inst, rec, exec_type, "New", **kw))  # type: ignore[arg-type]


def test_reports_stay_whole_when_their_prepared_bases_are_dropped_for_size():
    """The bases are bounded: many kinds of report in a row (more than the bound) each still
    equal the reference, the kinds seen before the bound was reached included."""
    rec = OrderRecord(1, 2, "XBTUSD", 0, 0, 0, 0, 0, 100, 0, 0, -1, 10, 10)
    inst = presets.XBTUSD()
    for k in range(5000):
        rec.side, status = k % 2, f"S{k}"
        got = perpex.orders.execution(inst, rec, "New", status, seq=k, ts=k)
        assert_same_event(got, reference_execution(inst, rec, "New", status, seq=k, ts=k))
