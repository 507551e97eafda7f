"""Double-entry ledger, positions and the fill math (DESIGN "Money is conserved by construction")."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex.accounts import (
    EXTERNAL,
    FEES,
    INSURANCE,
    Ledger,
    Position,
    apply_fill,
    book_fee,
    book_fill,
    book_funding,
    cost,
    funding,
    key_name,
    wallet,
)
from perpex._fills import book_trade, try_book_trade
from perpex.accounts.position import book_funding_many
from perpex.errors import InvalidInputError, InvalidLeverageError, InvalidQuantityError, InvariantViolation
from perpex.instruments import E8

XBT = 100_000_000


def test_transfer_moves_an_amount_and_keeps_the_currency_sum_at_zero():
    ledger = Ledger()
    ledger.transfer("XBt", EXTERNAL, wallet(1), 10 * XBT, "deposit")
    ledger.transfer("XBt", wallet(1), FEES, 7_500, "fee")
    assert ledger.balance("XBt", wallet(1)) == 10 * XBT - 7_500
    assert ledger.balance("XBt", EXTERNAL) == -10 * XBT
    assert ledger.balance("XBt", FEES) == 7_500
    assert ledger.sum("XBt") == 0
    assert ledger.balance("USDt", wallet(1)) == 0


def test_negative_and_zero_amounts_are_allowed():
    ledger = Ledger()
    ledger.transfer("XBt", wallet(1), wallet(2), -5)
    assert ledger.balances("XBt") == {("wallet", 1): 5, ("wallet", 2): -5}
    ledger.transfer("XBt", wallet(1), INSURANCE, 0)
    assert ledger.balance("XBt", INSURANCE) == 0
    assert INSURANCE in ledger.balances("XBt")


@pytest.mark.parametrize("amount", [1.0, True, None, "5"])
def test_non_int_amounts_raise_type_error_and_change_nothing(amount):
    ledger = Ledger()
    with pytest.raises(TypeError, match="amount"):
        ledger.transfer("XBt", wallet(1), wallet(2), amount)
    assert ledger.currencies() == [] and ledger.items() == []


@pytest.mark.parametrize("key", [("wallet",), ("wallet", "1"), ("wallet", True), ("cost", 1),
                                 ("bank", 1), "wallet:1", (), ("fees", 1), ("funding", "")])
def test_malformed_keys_are_rejected_before_anything_changes(key):
    ledger = Ledger()
    with pytest.raises(InvalidInputError, match="ledger key"):
        ledger.transfer("XBt", wallet(1), key, 1)
    assert ledger.currencies() == []


def test_a_transfer_to_the_same_ledger_is_rejected():
    ledger = Ledger()
    with pytest.raises(InvalidInputError, match="itself"):
        ledger.transfer("XBt", wallet(1), wallet(1), 1)


def test_key_constructors_validate_and_name_their_keys():
    assert key_name(cost(3, "XBTUSD")) == "cost:3:XBTUSD"
    assert key_name(funding("ETHUSD")) == "funding:ETHUSD"
    with pytest.raises(TypeError, match="account"):
        wallet(True)
    with pytest.raises(InvalidInputError, match="account"):
        wallet(-1)
    with pytest.raises(InvalidInputError, match="symbol"):
        cost(1, "")


def test_iteration_is_sorted_whatever_the_insertion_order():
    ledger = Ledger()
    ledger.transfer("XBt", wallet(10), wallet(2), 1)
    ledger.transfer("USDt", INSURANCE, cost(2, "XBTUSDT"), 1)
    ledger.transfer("XBt", FEES, cost(1, "XBTUSD"), 1)
    assert ledger.currencies() == ["USDt", "XBt"]
    assert list(ledger.balances("XBt")) == [("cost", 1, "XBTUSD"), ("fees",), ("wallet", 2), ("wallet", 10)]
    assert [row[:2] for row in ledger.items()][:2] == [("USDt", ("cost", 2, "XBTUSDT")), ("USDt", ("insurance",))]


def test_audit_reports_totals_by_kind_and_transfer_counts():
    ledger = Ledger()
    ledger.transfer("XBt", EXTERNAL, wallet(1), 100)
    ledger.transfer("XBt", wallet(1), FEES, 3)
    ledger.transfer("XBt", wallet(1), funding("XBTUSD"), 2)
    ledger.transfer("XBt", funding("XBTUSD"), INSURANCE, 2)
    audit = ledger.audit()["XBt"]
    assert audit == (0, 95, 0, 2, 3, 0, -100, 4)
    ledger.check_balanced()


def test_check_balanced_halts_on_a_corrupted_book():
    ledger = Ledger()
    ledger.transfer("XBt", EXTERNAL, wallet(1), 100)
    ledger._add("XBt", ledger._index["XBt"][wallet(1)], 1)  # simulate memory corruption
    with pytest.raises(InvariantViolation, match="XBt"):
        ledger.check_balanced()


def test_recording_is_opt_in():
    ledger = Ledger(record=True)
    ledger.transfer("XBt", EXTERNAL, wallet(1), 5, "deposit")
    assert ledger.transfers[0].reason == "deposit"
    with pytest.raises(InvalidInputError, match="record"):
        Ledger().transfers


keys = st.one_of(
    st.integers(0, 5).map(wallet),
    st.tuples(st.integers(0, 5), st.sampled_from(["XBTUSD", "ETHUSD"])).map(lambda t: cost(*t)),
    st.sampled_from([INSURANCE, FEES, EXTERNAL, funding("XBTUSD")]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["XBt", "USDt"]), keys, keys,
                          st.integers(-(2**70), 2**70)), max_size=60))
def test_ledger_sums_stay_zero_under_random_transfers(transfers):
    ledger = Ledger()
    for currency, src, dst, amount in transfers:
        if src != dst:
            ledger.transfer(currency, src, dst, amount)
    for currency, audit in ledger.audit().items():
        assert audit.total == 0 == ledger.sum(currency)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["XBt", "USDt"]), st.lists(st.tuples(keys, st.integers(-(2**70), 2**70)),
                                                  max_size=40),
       st.lists(st.tuples(keys, keys, st.integers(-100, 100)), max_size=10))
def test_transfer_many_equals_one_transfer_per_source_in_order(currency, rows, before):
    """Same balances, counts and recorded transfers, including sources listed twice, sources
    and currencies the ledger has not seen, and zero amounts (which still create keys)."""
    dst = funding("XBTUSD")
    rows = [(k, a) for k, a in rows if k != dst]
    one, bulk = Ledger(record=True), Ledger(record=True)
    for ledger in (one, bulk):
        for src, to, amount in before:
            if src != to:
                ledger.transfer("XBt", src, to, amount, "setup")
    for src, amount in rows:
        one.transfer(currency, src, dst, amount, "funding")
    bulk.transfer_many(currency, [k for k, _ in rows], dst, [a for _, a in rows], "funding")
    assert bulk.items() == one.items()
    assert bulk.audit() == one.audit()
    assert bulk.transfers == one.transfers
    for c in bulk.currencies():
        assert bulk.sum(c) == 0


@pytest.mark.parametrize("srcs, amounts, exc, match", [
    ([wallet(1), ("wallet", -1)], [1, 2], InvalidInputError, "not a ledger key"),
    ([wallet(1), funding("XBTUSD")], [1, 2], InvalidInputError, "to itself"),
    ([wallet(1), wallet(2)], [1, 2.0], TypeError, "must be an int"),
    ([wallet(1), wallet(2)], [1, True], TypeError, "must be an int"),
    ([wallet(1), wallet(2)], [1], InvalidInputError, "2 sources but 1 amounts"),
])
def test_a_bad_bulk_transfer_raises_and_changes_nothing(srcs, amounts, exc, match):
    ledger = Ledger(record=True)
    ledger.transfer("XBt", EXTERNAL, wallet(1), 5, "deposit")
    before = (ledger.items(), ledger.audit(), ledger.transfers)
    with pytest.raises(exc, match=match):
        ledger.transfer_many("XBt", srcs, funding("XBTUSD"), amounts, "funding")
    assert (ledger.items(), ledger.audit(), ledger.transfers) == before
    with pytest.raises(TypeError, match="currency"):
        ledger.transfer_many("", [wallet(1)], funding("XBTUSD"), [1])
    assert ledger.currencies() == ["XBt"]


def test_book_funding_many_equals_book_funding_position_by_position():
    positions = [new_position(a, qty=q, cost=-q * 10_000) for a, q in ((3, 5), (1, -7), (2, 9))]
    twins = [new_position(p.account, qty=p.qty, cost=p.cost) for p in positions]
    pays = [12, -40, 0]
    one, bulk = Ledger(record=True), Ledger(record=True)
    for pos, pay in zip(twins, pays):
        book_funding(one, "XBt", pos, pay)
    book_funding_many(bulk, "XBt", "XBTUSD", positions, pays,
                      [wallet(p.account) for p in positions])
    assert bulk.transfers == one.transfers and bulk.items() == one.items()
    assert [p.realised_pnl for p in positions] == [p.realised_pnl for p in twins] == [-12, 40, 0]
    with pytest.raises(InvalidInputError, match="must match"):
        book_funding_many(bulk, "XBt", "XBTUSD", positions, pays[:2],
                          [wallet(p.account) for p in positions])


# ---- positions -------------------------------------------------------------------------

def new_position(account: int = 1, symbol: str = "XBTUSD", **kw) -> Position:
    return Position(account, symbol, risk_limit=200 * XBT, **kw)


def test_position_validates_its_fields():
    with pytest.raises(TypeError, match="qty"):
        new_position(qty=1.0)
    with pytest.raises(InvalidLeverageError, match="leverage"):
        new_position(leverage=-1.0)
    with pytest.raises(InvalidInputError, match="flat"):
        new_position(cost=5)
    assert new_position().is_cross and new_position().is_flat
    assert not new_position(leverage=25.0).is_cross


def test_position_pickles_compares_and_prints_by_its_fields():
    pos = new_position(qty=-7, cost=700, realised_pnl=-3, leverage=12.5, extra_margin=40)
    same = new_position(qty=-7, cost=700, realised_pnl=-3, leverage=12.5, extra_margin=40)
    assert pos == same and pos != new_position(qty=-7, cost=701)
    for back in (pickle.loads(pickle.dumps(pos)), copy.deepcopy(pos), copy.copy(pos)):
        assert back == pos and back is not pos
        assert back.as_tuple() == (1, "XBTUSD", 200 * XBT, -7, 700, -3, 12.5, 40)
        assert back.key == pos.key == (1, "XBTUSD")
    assert repr(pos) == ("Position(account=1, symbol='XBTUSD', risk_limit=20000000000, qty=-7, "
                         "cost=700, realised_pnl=-3, leverage=12.5, extra_margin=40)")
    with pytest.raises(TypeError, match="unhashable"):
        hash(pos)


def test_position_amounts_beyond_int64_stay_exact_and_come_back_to_int64() -> None:
    """qty, cost and realised_pnl are int64 fields while all three fit (the native fill and
    margin steps read them there) and Python ints otherwise: any value reads back as it was
    set, INT64_MIN included (a narrow amount's negation must fit), and a fill on a wide
    position goes to the reference math, which keeps it exact."""
    big = 2**63
    pos = new_position(qty=5, cost=-500)
    for value in (big, -big, big * 1000, 2**63 - 1, -(2**63 - 1), 7):
        pos.realised_pnl = value
        assert pos.realised_pnl == value and type(pos.realised_pnl) is int
        assert (pos.qty, pos.cost) == (5, -500)
    pos.cost = -big
    assert pos.as_tuple()[3:6] == (5, -big, 7)
    assert pickle.loads(pickle.dumps(pos)) == pos
    pos.cost = -500
    assert pos == new_position(qty=5, cost=-500, realised_pnl=7)
    # a fill on a wide position: the native step declines, the reference books it exactly
    ledger, inst = Ledger(), presets.XBTUSD()
    buyer, seller = new_position(1, realised_pnl=big), new_position(2)
    for a in (1, 2):
        ledger.transfer("XBt", EXTERNAL, wallet(a), XBT)
    ec = inst.exec_cost(10, 20_000)
    assert not try_book_trade(ledger, "XBt", buyer, seller, 10, ec, 0, 0)
    book_trade(ledger, "XBt", buyer, seller, 10, ec, 0, 0)
    assert (buyer.qty, buyer.cost, buyer.realised_pnl) == (10, ec, big)
    assert (seller.qty, seller.cost) == (-10, -ec)


def test_position_refuses_a_malformed_state():
    with pytest.raises(InvalidInputError, match="8 fields"):
        Position.__new__(Position).__setstate__((4, "XBTUSD"))


def test_opening_adds_cost_and_realises_nothing():
    inst = presets.XBTUSD()
    pos = new_position()
    assert apply_fill(pos, 100, inst.exec_cost(100, 20_000)) == 0
    assert apply_fill(pos, 100, inst.exec_cost(100, 21_000)) == 0
    assert (pos.qty, pos.cost) == (200, -1_952_400)


def test_partial_close_scales_cost_proportionally_and_realises_the_rest():
    inst = presets.XBTUSD()
    pos = new_position()
    apply_fill(pos, 3, inst.exec_cost(3, inst.price_to_ticks(7_000)))  # 14,286 per contract
    assert pos.cost == -42_858
    realised = apply_fill(pos, -1, inst.exec_cost(-1, inst.price_to_ticks(7_000)))
    assert pos.cost == -28_572  # round(-42,858 x 2 / 3)
    assert realised == 0
    realised = apply_fill(pos, -1, inst.exec_cost(-1, inst.price_to_ticks(8_000)))  # 12,500
    assert (pos.qty, pos.cost, realised) == (1, -14_286, 1_786)
    assert pos.realised_pnl == 1_786


def test_partial_close_keeps_the_rounding_remainder_in_cost():
    pos = new_position(symbol="ETHUSD")
    apply_fill(pos, 3, 10)
    realised = apply_fill(pos, -1, -3)
    assert pos.cost == 7  # round(10 x 2 / 3) = round(6.67) = 7: 3 released
    assert realised == 0
    realised = apply_fill(pos, -2, -6)
    assert (pos.qty, pos.cost, realised) == (0, 0, -1)


def test_a_fill_through_zero_closes_then_opens_the_rest():
    inst = presets.XBTUSD()
    pos = new_position()
    apply_fill(pos, 15_000, inst.exec_cost(15_000, inst.price_to_ticks(750)))
    realised = apply_fill(pos, -20_000, inst.exec_cost(-20_000, inst.price_to_ticks(800)))
    assert realised == 124_995_000  # WE-3 on the closing 15,000
    assert pos.qty == -5_000
    assert pos.cost == 625_000_000  # the opening 5,000 short at 125,000 per contract


def test_apply_fill_rejects_zero_and_non_int_quantities():
    pos = new_position()
    with pytest.raises(InvalidQuantityError):
        apply_fill(pos, 0, 0)
    with pytest.raises(TypeError):
        apply_fill(pos, 1, 1.0)
    assert (pos.qty, pos.cost) == (0, 0)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["XBTUSD", "ETHUSD", "XBTUSDT"]),
       st.lists(st.tuples(st.integers(-5_000, 5_000).filter(bool), st.integers(1, 400_000)),
                min_size=1, max_size=40))
def test_every_fill_conserves_cost_and_a_flat_position_has_zero_cost(name, fills):
    inst = getattr(presets, name)(lot_size=1)
    pos = new_position(symbol=name)
    total_exec = total_realised = 0
    for qty, price in fills:
        exec_cost = inst.exec_cost(qty, price)
        before = pos.cost
        realised = apply_fill(pos, qty, exec_cost)
        assert pos.cost == before + exec_cost + realised
        total_exec += exec_cost
        total_realised += realised
        if pos.qty == 0:
            assert pos.cost == 0
    assert pos.cost == total_exec + total_realised
    assert pos.realised_pnl == total_realised


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**6), st.integers(-(10**12), 10**12).filter(bool),
       st.lists(st.integers(1, 10**6), max_size=20))
def test_partial_closes_never_lose_a_unit_of_the_original_cost(qty, original_cost, closes):
    pos = new_position(qty=qty, cost=original_cost)
    released = 0
    for n in closes:
        if pos.qty == 0:
            break
        n = min(n, pos.qty)
        before = pos.cost
        realised = apply_fill(pos, -n, 0)  # exit at zero value: realised = -released share
        assert realised == -(before - pos.cost)
        released += before - pos.cost
    assert released + pos.cost == original_cost


# ---- booking fills, fees and funding in the ledger ------------------------------------

def test_a_round_trip_books_pnl_fees_and_funding_with_the_ledger_balanced():
    inst = presets.XBTUSD()
    ledger = Ledger()
    ccy = inst.settle_currency
    for account in (1, 2):
        ledger.transfer(ccy, EXTERNAL, wallet(account), 10 * XBT, "deposit")
    long, short = new_position(1), new_position(2)
    entry = inst.exec_cost(15_000, inst.price_to_ticks(750))
    assert book_fill(ledger, ccy, long, short, 15_000, entry) == (0, 0)
    book_fee(ledger, ccy, long, inst.fee(entry, inst.taker_fee))
    book_fee(ledger, ccy, short, inst.fee(entry, inst.maker_fee))
    payment = inst.fee(inst.mark_value(15_000, 750 * E8), 0.0025)
    book_funding(ledger, ccy, long, payment)
    book_funding(ledger, ccy, short, -payment)
    exit_cost = inst.exec_cost(15_000, inst.price_to_ticks(800))
    assert book_fill(ledger, ccy, short, long, 15_000, exit_cost) == (-124_995_000, 124_995_000)
    assert ledger.sum(ccy) == 0
    assert (long.qty, long.cost, short.qty, short.cost) == (0, 0, 0, 0)
    assert ledger.balance(ccy, cost(1, "XBTUSD")) == 0 == ledger.balance(ccy, cost(2, "XBTUSD"))
    assert ledger.balance(ccy, funding("XBTUSD")) == 0
    assert ledger.balance(ccy, FEES) == 1_499_996 - 499_999
    assert ledger.balance(ccy, wallet(1)) == 10 * XBT + long.realised_pnl
    assert ledger.balance(ccy, wallet(2)) == 10 * XBT + short.realised_pnl
    assert long.realised_pnl == 124_995_000 - 1_499_996 - 4_999_988


def test_cost_ledger_mirrors_the_negated_position_cost_and_gives_margin_balance():
    inst = presets.ETHUSD()
    ledger = Ledger()
    a, b = new_position(1, "ETHUSD"), new_position(2, "ETHUSD")
    book_fill(ledger, "XBt", a, b, 100, inst.exec_cost(100, inst.price_to_ticks(500)))
    book_fill(ledger, "XBt", b, a, 40, inst.exec_cost(40, inst.price_to_ticks(510)))
    for pos in (a, b):
        assert ledger.balance("XBt", cost(pos.account, "ETHUSD")) == -pos.cost
        equity = (ledger.balance("XBt", wallet(pos.account)) + ledger.balance("XBt", cost(pos.account, "ETHUSD"))
                  + inst.mark_value(pos.qty, 520 * E8))
        assert equity == pos.realised_pnl + inst.unrealised_pnl(pos.qty, pos.cost, 520 * E8)
    assert ledger.sum("XBt") == 0


def test_a_self_trade_moves_no_cost_and_keeps_the_ledger_balanced():
    inst = presets.XBTUSD()
    ledger = Ledger()
    pos = new_position()
    book_fill(ledger, "XBt", pos, new_position(2), 10, inst.exec_cost(10, 20_000))
    book_fill(ledger, "XBt", pos, pos, 5, inst.exec_cost(5, 21_000))
    assert pos.qty == 10 and ledger.sum("XBt") == 0
    assert ledger.balance("XBt", cost(1, "XBTUSD")) == -pos.cost


def test_book_fill_rejects_mismatched_symbols_before_touching_anything():
    ledger = Ledger()
    a, b = new_position(1, "XBTUSD"), new_position(2, "ETHUSD")
    with pytest.raises(InvalidInputError, match="symbol"):
        book_fill(ledger, "XBt", a, b, 1, -10_000)
    assert ledger.items() == [] and a.qty == 0 == b.qty
