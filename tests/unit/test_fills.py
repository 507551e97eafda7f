"""A fill's money in one native call (perpex._fills.try_book_trade) against the reference,
position.book_fill followed by book_fee on each side that pays: on random positions, ledgers and
fills, including 64-bit edges, it books exactly what the reference books, and when it declines
it has changed nothing."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from perpex._fills import book_trade, try_book_trade
from perpex.accounts.ledger import EXTERNAL, FEES, Ledger, cost, wallet
from perpex.accounts.position import Position, book_fee, book_fill

CCY, SYM = "XBt", "XBTUSD"
I64 = 2**63 - 1


def snapshot(ledger: Ledger, positions: list[Position]) -> tuple[object, ...]:
    # (the keys in their order too: the native step enters a new cost key as the reference)
    return (sorted(ledger.items(), key=repr), dict(ledger._counts),
            {c: list(index) for c, index in ledger._index.items()},
            [(p.qty, p.cost, p.realised_pnl) for p in positions])


def reference(ledger: Ledger, buyer: Position, seller: Position, qty: int, exec_cost: int,
              bfee: int, sfee: int) -> None:
    book_fill(ledger, CCY, buyer, seller, qty, exec_cost)
    if bfee:
        book_fee(ledger, CCY, buyer, bfee)
    if sfee:
        book_fee(ledger, CCY, seller, sfee)


def market(n: int = 3, funds: int = 10**9, record: bool = False) -> tuple[Ledger, list[Position]]:
    """Accounts 1..n funded, each with a position object (flat, no cost key yet)."""
    ledger = Ledger(record=record)
    for a in range(1, n + 1):
        ledger.transfer(CCY, EXTERNAL, wallet(a), funds)
    return ledger, [Position(a, SYM, 10**10) for a in range(1, n + 1)]


def check(ledger: Ledger, positions: list[Position], b: int, s: int, qty: object, ec: object,
          bfee: object, sfee: object) -> bool:
    """Runs try_book_trade on the state and the reference on a copy; returns its answer
    after asserting that it either booked what the reference books or changed nothing."""
    ref_ledger, ref_positions = copy.deepcopy((ledger, positions))
    before = snapshot(ledger, positions)
    done = try_book_trade(ledger, CCY, positions[b], positions[s], qty, ec, bfee, sfee)
    assert done in (True, False)
    if not done:
        assert snapshot(ledger, positions) == before
    try:
        reference(ref_ledger, ref_positions[b], ref_positions[s], qty, ec, bfee, sfee)  # type: ignore[arg-type]
    except (TypeError, ValueError, ArithmeticError):
        assert not done  # the reference refuses it: the native step must not have booked it
        return done
    if done:
        assert snapshot(ledger, positions) == snapshot(ref_ledger, ref_positions)
    return done


amounts = st.one_of(st.integers(-20, 20), st.integers(-10**6, 10**6), st.integers(-10**12, 10**12),
                    st.integers(-I64 - 1, I64), st.sampled_from([-I64, I64, -2**62, 2**62]))


# small quantities and costs make the exact halves of the rounded shares common
@given(history=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2),
                                  st.one_of(st.integers(1, 4), st.integers(1, 10**4)),
                                  st.one_of(st.integers(-20, 20), st.integers(-10**9, 10**9)),
                                  st.integers(-10**4, 10**5), st.integers(-10**4, 10**5)),
                        max_size=12),
       b=st.integers(0, 2), s=st.integers(0, 2),
       qty=st.one_of(st.integers(1, 4), st.integers(1, 10**4), st.integers(-5, 5),
                     st.integers(1, 2**64)),
       ec=amounts, bfee=st.one_of(st.just(0), amounts), sfee=st.one_of(st.just(0), amounts))
def test_book_trade_books_what_the_reference_books(history: list[tuple[int, ...]], b: int, s: int,
                                                   qty: int, ec: int, bfee: int, sfee: int) -> None:
    ledger, positions = market()
    for hb, hs, hq, hc, hbf, hsf in history:  # positions built by the reference
        if hb != hs:
            reference(ledger, positions[hb], positions[hs], hq, hc, hbf, hsf)
    event("booked natively" if check(ledger, positions, b, s, qty, ec, bfee, sfee) else "declined")


def traded(record: bool = False) -> tuple[Ledger, list[Position]]:
    """Accounts 1-3 with cost ledgers and the fee ledger in place."""
    ledger, positions = market(record=record)
    reference(ledger, positions[0], positions[1], 10, -5_000, 4, -1)
    reference(ledger, positions[2], positions[0], 10, -5_000, 4, -1)
    reference(ledger, positions[1], positions[2], 10, -5_000, 4, -1)
    return ledger, positions


def test_worked_partial_close() -> None:
    """Account 2, long 100 at cost 1,000, sells 30 to flat account 3 for an exec cost of 360:
    it keeps 70 at round(1000 x 70 / 100) = 700, releases 300 and realises 360 - 300 = 60,
    less its fee of 2; account 3 opens 30 at 360 and pays a fee of 1."""
    ledger, positions = market()
    reference(ledger, positions[1], positions[0], 100, 1_000, 0, 0)
    reference(ledger, positions[2], positions[0], 1, 7, 0, 0)  # account 3's cost ledger exists
    reference(ledger, positions[0], positions[2], 1, 7, 0, 0)  # ... and it is flat again
    ledger.transfer(CCY, wallet(1), FEES, 0)
    w2, w3, fees = (ledger.balance(CCY, k) for k in (wallet(2), wallet(3), FEES))
    assert try_book_trade(ledger, CCY, positions[2], positions[1], 30, 360, 1, 2)
    seller, buyer = positions[1], positions[2]
    assert (seller.qty, seller.cost, seller.realised_pnl) == (70, 700, 58)
    assert (buyer.qty, buyer.cost, buyer.realised_pnl) == (30, 360, -1)
    assert ledger.balance(CCY, wallet(2)) == w2 + 60 - 2
    assert ledger.balance(CCY, wallet(3)) == w3 - 1
    assert ledger.balance(CCY, FEES) == fees + 3
    assert ledger.balance(CCY, cost(2, SYM)) == -700
    assert ledger.balance(CCY, cost(3, SYM)) == -360
    ledger.check_balanced()


def keyed() -> tuple[Ledger, list[Position]]:
    """Accounts 1-3 flat, each with its cost ledger (a round trip of 1 contract each)."""
    ledger, positions = market()
    for b, s in ((0, 1), (1, 2), (2, 0)):
        reference(ledger, positions[b], positions[s], 1, 7, 0, 0)
    return ledger, positions


@pytest.mark.parametrize("held, sold, kept_cost, realised", [(5, 1, 3, 2), (-5, 1, -3, -2)])
def test_exact_half_rounds_away_from_zero(held: int, sold: int, kept_cost: int, realised: int) -> None:
    """Long 2 at a cost of +-5 sells 1 for an exec cost of 0: the kept cost is 5 x 1 / 2 = 2.5,
    rounded away from zero to 3 (and -2.5 to -3), so 2 (or -2) is released as realised PnL."""
    ledger, positions = keyed()
    reference(ledger, positions[0], positions[1], 2, held, 1, 0)
    assert try_book_trade(ledger, CCY, positions[2], positions[0], sold, 0, 0, 0)
    assert (positions[0].qty, positions[0].cost) == (1, kept_cost)
    assert positions[0].realised_pnl == -1 - realised


def test_exact_half_of_a_reversal_rounds_away_from_zero() -> None:
    """Short 1 buys 2 for an exec cost of 5: the opening share is 5 x 1 / 2 = 2.5 -> 3."""
    ledger, positions = keyed()
    reference(ledger, positions[1], positions[0], 1, 4, 0, 0)
    assert check(ledger, positions, 0, 1, 2, 5, 0, 0)
    assert (positions[0].qty, positions[0].cost) == (1, 3)


@pytest.mark.parametrize("qty, ec", [(5, -2_500), (10, -5_000), (25, -12_345), (3, 0)])
def test_common_cases_are_native(qty: int, ec: int) -> None:
    """Opening, adding, partly and wholly closing and reversing through zero all book natively,
    with fees, rebates and no fee on either side."""
    ledger, positions = traded()
    for b, s, bfee, sfee in ((0, 1, 3, -1), (1, 0, 0, 0), (2, 1, -2, 5), (1, 2, 0, 7), (0, 2, 9, 0)):
        assert check(ledger, positions, b, s, qty, ec, bfee, sfee)


def _object_ledger() -> tuple[Ledger, list[Position]]:
    ledger, positions = traded()
    ledger._exact(CCY)  # the currency left int64 (a balance once did not fit)
    return ledger, positions


@pytest.mark.parametrize("why, setup, args", [
    ("one position on both sides", traded, (0, 0, 5, -100, 1, 1)),
    ("qty of 0", traded, (0, 1, 0, -100, 1, 1)),
    ("a negative qty", traded, (0, 1, -5, -100, 1, 1)),
    ("a qty beyond int64", traded, (0, 1, 2**63, -100, 1, 1)),
    ("a float exec cost", traded, (0, 1, 5, -100.0, 1, 1)),
    ("a bool fee", traded, (0, 1, 5, -100, True, 1)),
    ("a first fill, with the fee ledger not created yet", lambda: market(), (0, 1, 5, -100, 1, 0)),
    ("a fee ledger not created yet", lambda: _fresh_fee(), (0, 1, 5, -100, 1, 0)),
    ("a position cost overflowing", lambda: _fresh_fee(), (0, 1, 5, -I64, 0, 0)),
    ("a balance overflowing", traded, (0, 1, 5, -100, -I64, 0)),
    ("a ledger beyond int64", _object_ledger, (0, 1, 5, -100, 1, 1)),
])
def test_declines_without_changing_anything(why: str, setup, args) -> None:  # type: ignore[no-untyped-def]
    ledger, positions = setup()
    assert not check(ledger, positions, *args), why


@pytest.mark.parametrize("n, b, s", [(3, 0, 1), (3, 1, 0), (13, 0, 1), (14, 1, 2)])
@pytest.mark.parametrize("opened", ["neither", "buyer", "seller"])
def test_first_fill_enters_the_cost_keys_as_the_reference(n: int, b: int, s: int,
                                                          opened: str) -> None:
    """A position's first fill books natively: its cost key enters the ledger where the
    reference's transfer enters it (the buyer's before the seller's), with the fee ledger in
    place. With 13 funded accounts the table (16 slots) grows between the two new keys, with 14
    at the first."""
    ledger, positions = market(n)
    ledger.transfer(CCY, EXTERNAL, FEES, 0)  # (the fee ledger, at 0)
    third = n - 1 if n - 1 not in (b, s) else 2  # the other side of the earlier fill
    if opened == "buyer":
        reference(ledger, positions[b], positions[third], 3, -1_500, 1, 0)
    elif opened == "seller":
        reference(ledger, positions[third], positions[s], 3, -1_500, 1, 0)
    grown = len(ledger._vals[CCY])
    assert check(ledger, positions, b, s, 5, -2_500, 2, -1)
    assert list(ledger._index[CCY])[-1] == (cost(positions[s].account, SYM) if opened != "seller"
                                            else cost(positions[b].account, SYM))
    if n >= 13 and opened == "neither":
        assert len(ledger._vals[CCY]) > grown  # the table grew under the step


def _fresh_fee() -> tuple[Ledger, list[Position]]:
    """Account 1 long 10 from account 2 at a cost of 5,000; no fee charged yet."""
    ledger, positions = market()
    reference(ledger, positions[0], positions[1], 10, -5_000, 0, 0)
    return ledger, positions


def test_declines_two_positions_of_one_account_and_a_recording_ledger() -> None:
    ledger, positions = traded()
    twin = copy.copy(positions[0])
    before = snapshot(ledger, positions)
    assert not try_book_trade(ledger, CCY, positions[0], twin, 5, -100, 0, 0)
    assert snapshot(ledger, positions) == before
    recording, positions = traded(record=True)  # the same state, transfers listed
    assert not check(recording, positions, 0, 1, 5, -100, 0, 0)


def test_ledger_array_grown_after_a_trade_is_still_written() -> None:
    """The ledger's balance array is replaced when it grows; the native step reads it per call."""
    ledger, positions = traded()
    for a in range(100, 140):  # past the array's first 16 slots
        ledger.transfer(CCY, EXTERNAL, wallet(a), 1)
    assert check(ledger, positions, 0, 1, 7, -3_500, 2, 2)
    assert isinstance(ledger._vals[CCY], np.ndarray) and len(ledger._vals[CCY]) > 16


def test_a_wallet_is_needed_only_when_money_moves_through_it() -> None:
    """Account 4 has no wallet yet (the liquidation engine's account before its first
    surplus): opening and adding without a fee book natively and leave it uncreated; a close
    that realises PnL needs it, and the reference creates it."""
    ledger, positions = keyed()
    ledger.transfer(CCY, wallet(1), FEES, 0)  # the fee ledger exists
    positions.append(Position(4, SYM, 10**10))
    reference(ledger, positions[3], positions[0], 1, 7, 0, 0)  # account 4's cost ledger
    assert check(ledger, positions, 3, 1, 5, 35, 0, 3)
    assert ("wallet", 4) not in ledger.balances(CCY)
    assert not check(ledger, positions, 2, 3, 2, 20, 0, 0)  # realises 20 - 14 = 6
    assert not check(ledger, positions, 3, 1, 1, 7, 1, 0)   # a fee from account 4


def test_a_product_of_exactly_int64_min_is_left_to_the_reference() -> None:
    """Long 3 at a cost of -2**62 sells 1: the kept cost is -2**62 x 2 / 3, and the product
    -2**63 fits int64 while its magnitude does not. The half-away division must not negate it
    (it once booked a kept cost of the wrong sign); the reference books it."""
    ledger, positions = keyed()
    reference(ledger, positions[0], positions[1], 3, -2**62, 0, 0)
    assert not check(ledger, positions, 2, 0, 1, 0, 0, 0)
    reference(ledger, positions[2], positions[0], 1, 0, 0, 0)
    assert positions[0].cost == -3074457345618258603  # round(-2**63 / 3), half away from zero


@pytest.mark.parametrize("setup", [traded, lambda: market()])
def test_book_trade_books_natively_or_through_the_reference(setup) -> None:  # type: ignore[no-untyped-def]
    """book_trade itself: the same state as the reference functions, whether the native step
    takes the fill (traded) or declines it (no cost ledgers yet)."""
    ledger, positions = setup()
    ref_ledger, ref_positions = copy.deepcopy((ledger, positions))
    book_trade(ledger, CCY, positions[0], positions[1], 7, -3_500, 2, -1)
    reference(ref_ledger, ref_positions[0], ref_positions[1], 7, -3_500, 2, -1)
    assert snapshot(ledger, positions) == snapshot(ref_ledger, ref_positions)


def test_a_position_finds_its_slots_again_in_another_ledger() -> None:
    """A position remembers where a ledger keeps its cost and wallet. Booked in a second
    ledger that numbers the same keys differently, it must look them up there, not write
    into the first ledger's slots."""
    ledger, positions = traded()
    assert check(ledger, positions, 0, 1, 5, -2_500, 3, -1)  # slots of the first ledger
    other = Ledger()
    for a in (99, 3, 2, 1):  # wallets, then cost ledgers, in the reverse order
        other.transfer(CCY, EXTERNAL, wallet(a), 10**9)
    for p in reversed(positions):
        other.transfer(CCY, wallet(p.account), cost(p.account, SYM), -p.cost)
    other.transfer(CCY, wallet(99), FEES, 0)
    first = snapshot(ledger, positions)
    assert check(other, positions, 1, 0, 4, -2_000, 2, 2)
    assert check(other, positions, 2, 1, 3, -1_500, 0, 1)
    assert sorted(ledger.items(), key=repr) == first[0]  # the first ledger untouched
    assert check(ledger, positions, 0, 2, 2, -1_000, 1, 1)  # and back again


def test_tables_replaced_after_a_trade_are_read_again() -> None:
    """The native steps keep a pointer to the cells of the currency they last used; every
    replacement of the tables (another currency between fills, a balance widened to Python
    ints, a state restored into the ledger) must be seen by the next fill."""
    ledger, positions = traded()
    assert check(ledger, positions, 0, 1, 5, -2_500, 3, -1)  # the pointer is at XBt's cells
    ledger.transfer("USDt", EXTERNAL, wallet(1), 10)  # another currency's tables in between
    assert check(ledger, positions, 1, 0, 4, -2_000, 2, 2)
    ledger.__setstate__(copy.deepcopy(ledger).__getstate__())  # new tables, the same balances
    assert check(ledger, positions, 0, 2, 2, -1_000, 1, 1)
    ledger.transfer(CCY, EXTERNAL, wallet(99), I64)  # past int64: XBt's balances become ints
    assert ledger._vals[CCY].dtype == object
    assert not check(ledger, positions, 2, 0, 3, -1_500, 0, 1)  # declined, left unchanged
    book_trade(ledger, CCY, positions[2], positions[0], 3, -1_500, 0, 1)  # the reference books it
    assert ledger.balance(CCY, FEES) > 0


def test_transfer_counts_follow_the_currency_of_each_native_fill() -> None:
    """The native steps count their transfers for the currency they last used and add them
    to the ledger's table when it is read or another currency is used: fills alternating
    between two currencies count as the reference's transfers do."""
    ledger, xbt = traded()
    usd = [Position(a, "XBTUSDT", 10**10) for a in (1, 2, 3)]
    for a in (1, 2, 3):
        ledger.transfer("USDt", EXTERNAL, wallet(a), 10**9)
    book_trade(ledger, "USDt", usd[0], usd[1], 10, 5_000, 4, -1)  # the reference creates keys
    book_trade(ledger, "USDt", usd[2], usd[0], 10, 5_000, 4, -1)
    ref = copy.deepcopy((ledger, xbt, usd))
    for i in range(6):
        ccy, ps, rps = (CCY, xbt, ref[1]) if i % 2 else ("USDt", usd, ref[2])
        b, s = i % 3, (i + 1) % 3
        assert try_book_trade(ledger, ccy, ps[b], ps[s], 3, 1_500 - 700 * i, 1, 1)
        book_fill(ref[0], ccy, rps[b], rps[s], 3, 1_500 - 700 * i)
        book_fee(ref[0], ccy, rps[b], 1)
        book_fee(ref[0], ccy, rps[s], 1)
    assert dict(ledger._counts) == dict(ref[0]._counts)
    assert sorted(ledger.items(), key=repr) == sorted(ref[0].items(), key=repr)


def test_the_engine_books_a_fill_on_a_wide_position_through_the_reference() -> None:
    """The engine's fill step values and books a fill in int64; a position whose amounts left
    int64 declines it, and the reference books the same fill exactly: the counterparty and
    the fees come out as in the same run without the wide amount."""
    from perpex import Exchange, presets

    out = []
    for extra in (0, 2**70):
        ex = Exchange([presets.XBTUSD()])
        for a in (1, 2):
            ex.deposit(a, 10**8, ts=1)
        ex.set_mark("XBTUSD", 10_000, ts=1)
        ex.place(1, "XBTUSD", "Buy", 100, 10_000, ts=2)
        ex.place(2, "XBTUSD", "Sell", 100, 10_000, ts=2)
        ex._positions[(1, "XBTUSD")].realised_pnl += extra
        ex.place(1, "XBTUSD", "Sell", 50, 10_000, ts=3)
        ex.place(2, "XBTUSD", "Buy", 50, 10_000, ts=3)
        mine, theirs = ex._positions[(1, "XBTUSD")], ex._positions[(2, "XBTUSD")]
        out.append((mine.qty, mine.cost, mine.realised_pnl - extra, theirs.as_tuple(),
                    ex._ledger.balance("XBt", FEES)))
    assert out[0] == out[1]
    assert out[0][:3] == (50, -500_000, 375)
