"""Exchange: worked examples through real fills, margin, ReduceOnly/Close, limits, events."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from perpex import presets
from perpex.errors import (
    EngineHaltedError, InsufficientFundsError, InvalidInputError, InvalidPriceError, InvariantViolation)
from perpex.exchange import (
    ORDER_DTYPE, OP_CANCEL, OP_LIMIT, OP_MARKET, STATUS_OK, STATUS_REJECTED, STATUS_UNKNOWN_ORDER,
    Exchange)
from perpex.orders import Outcome

XBT = 100_000_000
USDT = 1_000_000


def xbtusd_pair(deposit: int = 100 * XBT, **kw) -> Exchange:
    ex = Exchange([presets.XBTUSD()], **kw)
    ex.deposit(1, deposit, ts=0)
    ex.deposit(2, deposit, ts=0)
    return ex


def trades(events: list[dict]) -> list[dict]:
    return [e for e in events if e["execType"] == "Trade"]


# ---------------------------------------------------------------- worked examples

def test_we1_we3_entry_cost_is_per_contract_rounded_and_mirrored_between_the_two_sides():
    ex = xbtusd_pair()
    ex.set_mark("XBTUSD", 750)
    ex.place(1, "XBTUSD", "Sell", 15_000, 750)
    out = ex.place(2, "XBTUSD", "Buy", 15_000, 750)
    assert out.ord_status == "Filled" and out.cum_qty == 15_000
    buy, sell = trades(ex.drain_events())
    assert (buy["account"], buy["lastLiquidityInd"]) == (2, "RemovedLiquidity")
    assert buy["execCost"] == -1_999_995_000 and sell["execCost"] == 1_999_995_000  # WE-3
    assert abs(buy["execCost"] - (-20 * XBT)) <= 15_000                              # WE-1
    assert buy["execComm"] == 1_499_996 and sell["execComm"] == -499_999           # §9.5
    assert ex.position(2, "XBTUSD")["currentCost"] == -1_999_995_000
    assert ex.position(1, "XBTUSD")["currentQty"] == -15_000


def test_we2_we3_closing_at_800_realises_124995000_xbt_less_fees():
    ex = xbtusd_pair()
    ex.place(1, "XBTUSD", "Sell", 15_000, 750)
    ex.place(2, "XBTUSD", "Buy", 15_000, 750)
    ex.place(1, "XBTUSD", "Buy", 15_000, 800)
    ex.place(2, "XBTUSD", "Sell", 15_000, 800)
    pos = ex.position(2, "XBTUSD")
    assert pos["currentQty"] == 0 and pos["currentCost"] == 0
    fees = 1_499_996 + 1_406_250  # taker at entry and at exit
    assert pos["realisedPnl"] == 124_995_000 - fees
    assert ex.margin(2)["walletBalance"] == 100 * XBT + 124_995_000 - fees
    audit = ex.audit()
    assert audit.ledger_sum == {"XBt": 0} and audit.net_position == {"XBTUSD": 0}
    assert audit.fees["XBt"] == fees - 499_999 - 468_750


def test_we4_unrealised_pnl_uses_the_mark_and_a_partial_close_realises_its_share():
    ex = xbtusd_pair()
    ex.place(1, "XBTUSD", "Sell", 1_000, 1_000)
    ex.place(2, "XBTUSD", "Buy", 1_000, 1_000)
    ex.set_mark("XBTUSD", 1_250)
    assert ex.position(2, "XBTUSD")["unrealisedPnl"] == 20_000_000  # 0.20 XBT at the mark
    before = ex.position(2, "XBTUSD")["realisedPnl"]
    ex.place(1, "XBTUSD", "Buy", 500, 1_500)
    ex.place(2, "XBTUSD", "Sell", 500, 1_500)
    fee = 25_000  # taker 0.075% of 500 x 66,667 = 25,000.125
    assert ex.position(2, "XBTUSD")["realisedPnl"] - before == 16_666_500 - fee  # ~0.16667 XBT
    assert ex.position(2, "XBTUSD")["currentCost"] == -50_000_000


def test_we4_selling_at_the_mark_would_realise_ten_million_xbt():
    ex = xbtusd_pair()
    ex.place(1, "XBTUSD", "Sell", 1_000, 1_000, ts=1)
    ex.place(2, "XBTUSD", "Buy", 1_000, 1_000, ts=1)
    ex.place(1, "XBTUSD", "Buy", 500, 1_250, ts=2)
    before = ex.position(2, "XBTUSD")["realisedPnl"]
    ex.place(2, "XBTUSD", "Sell", 500, 1_250, ts=2)
    assert ex.position(2, "XBTUSD")["realisedPnl"] - before == 10_000_000 - 30_000


def test_we8_quanto_short_is_minus_50_xbt_and_loses_25_xbt_when_eth_goes_to_750():
    ex = Exchange([presets.ETHUSD(maker_fee=0.0, taker_fee=0.0)])
    ex.deposit(1, 100 * XBT)
    ex.deposit(2, 100 * XBT)
    ex.set_mark("ETHUSD", 500)
    ex.place(2, "ETHUSD", "Buy", 100_000, 500)
    ex.place(1, "ETHUSD", "Sell", 100_000, 500)
    assert ex.position(1, "ETHUSD")["currentCost"] == -50 * XBT
    ex.set_mark("ETHUSD", 750)
    assert ex.position(1, "ETHUSD")["unrealisedPnl"] == -25 * XBT
    assert ex.position(2, "ETHUSD")["unrealisedPnl"] == 25 * XBT


def test_we20_linear_cross_position_holds_2pct_initial_and_1pct_maintenance():
    inst = presets.XBTUSDT(maker_fee=0.0, taker_fee=0.0, init_margin=0.02, maint_margin=0.01)
    ex = Exchange([inst])
    for a in (1, 2):
        ex.deposit(a, 10_000 * USDT, currency="USDt")
    ex.set_mark("XBTUSDT", 10_000)
    ex.place(2, "XBTUSDT", "Sell", 2_000_000, 10_000)        # 20,000 USDT of notional
    ex.place(1, "XBTUSDT", "Buy", 2_000_000, 10_000)
    pos = ex.position(1, "XBTUSDT")
    assert pos["currentCost"] == 20_000 * USDT
    assert pos["posMargin"] == 400 * USDT and pos["maintMargin"] == 200 * USDT
    assert ex.margin(1, "USDt")["availableMargin"] == 9_600 * USDT


# ---------------------------------------------------------------- margin

def test_isolated_margin_is_cost_over_leverage_and_ignores_unrealised_loss():
    ex = xbtusd_pair(10 * XBT)
    ex.set_leverage(2, "XBTUSD", 10)
    ex.set_mark("XBTUSD", 10_000)
    ex.place(1, "XBTUSD", "Sell", 10_000, 10_000)
    ex.place(2, "XBTUSD", "Buy", 10_000, 10_000)
    assert ex.position(2, "XBTUSD")["posMargin"] == 10_000_000       # 1 XBT / 10
    assert ex.position(1, "XBTUSD")["posMargin"] == 1_000_000        # cross: 1% of 1 XBT
    wallet2, wallet1 = ex.margin(2)["walletBalance"], ex.margin(1)["walletBalance"]
    ex.set_mark("XBTUSD", 9_200)  # long loses (above its 9,132.5 liquidation), short gains
    assert ex.margin(2)["availableMargin"] == wallet2 - 10_000_000   # isolated loss is bounded
    ex.set_mark("XBTUSD", 11_000)  # short loses on cross: available drops by the loss
    loss = ex.position(1, "XBTUSD")["unrealisedPnl"]
    assert loss < 0 and ex.margin(1)["availableMargin"] == wallet1 - 1_000_000 + loss


def test_order_margin_nets_bids_against_offers_as_in_the_exchange_guide():
    ex = Exchange([presets.ETHUSD()])
    ex.deposit(1, XBT)
    ex.place(1, "ETHUSD", "Buy", 20, 100)
    ex.place(1, "ETHUSD", "Sell", 15, 150)
    # IM 2% on 5 net bids @100 and 15 offers @150: 2% x (50,000 + 225,000) + taker reserve
    assert ex.margin(1)["orderMargin"] == 5_500 + 207
    assert ex.margin(1)["availableMargin"] == XBT - 5_707


def test_a_buy_above_the_mark_must_fund_the_premium_in_full():
    ex = Exchange([presets.ETHUSD()])
    ex.deposit(1, XBT)
    ex.set_mark("ETHUSD", 100)
    ex.place(1, "ETHUSD", "Buy", 10, 100)
    at_mark = ex.margin(1)["orderMargin"]
    ex.cancel_all(1)
    ex.place(1, "ETHUSD", "Buy", 10, 110)
    above = ex.margin(1)["orderMargin"]
    premium = 10 * 100 * 10  # 10 contracts x 100 XBt/USD x 10 USD through the mark
    assert above - at_mark == premium + 200 + 8  # premium, plus IM and fee reserve on the extra 10 USD


def test_insufficient_balance_is_a_rejected_outcome_that_changes_nothing_but_seq():
    ex = xbtusd_pair(XBT // 100)  # 0.01 XBT
    ex.drain_events()
    balances = ex.export_state()["ledger"], ex.export_state()["books"]
    seq = ex.last_seq
    out = ex.place(1, "XBTUSD", "Buy", 10_000, 10_000)  # needs ~0.01 XBT IM + fees
    assert out.rejected and out.ord_status == "Rejected"
    assert out.text.startswith("Account has insufficient Available Balance, ")
    assert out.text.endswith(" XBt required")
    required = int(out.text.split(", ")[1].split()[0])
    assert required == 1_000_000 + 75_000  # 1% of 1 XBT and the 0.075% fee reserve
    (ev,) = ex.drain_events()
    assert (ev["execType"], ev["ordStatus"], ev["text"]) == ("Rejected", "Rejected", out.text)
    assert (ex.export_state()["ledger"], ex.export_state()["books"]) == balances
    assert ex.last_seq == seq + 1 and ex.open_orders(1) == []


def test_an_outcome_cannot_be_changed_after_the_command():
    ex = xbtusd_pair(XBT)
    out = ex.place(1, "XBTUSD", "Buy", 10, 10_000)
    assert (out.accepted, out.ord_status, out.leaves_qty, out.count) == (True, "New", 10, 0)
    with pytest.raises(AttributeError):
        out.leaves_qty = 0  # type: ignore[misc]
    assert out.leaves_qty == 10


def test_order_outcomes_have_every_field_and_equal_the_named_constructor():
    # the order path builds its outcomes as plain tuples of every field, not through Outcome()
    ex = xbtusd_pair(XBT)
    outs = [ex.place(1, "XBTUSD", "Buy", 10, 10_000), ex.place(2, "XBTUSD", "Sell", 4, 10_000),
            ex.place(1, "XBTUSD", "Buy", 10**7, 10_000)]
    for out in outs:
        assert type(out) is Outcome and len(out) == len(Outcome._fields)
        assert out == Outcome(**out._asdict())
    assert [(o.accepted, o.ord_status, o.leaves_qty, o.cum_qty) for o in outs] == \
        [(True, "New", 10, 0), (True, "Filled", 0, 4), (False, "Rejected", 0, 0)]


# ---------------------------------------------------------------- ReduceOnly and Close

def long_position(ex: Exchange, qty: int = 100, price: int = 10_000) -> None:
    ex.place(2, "XBTUSD", "Sell", qty, price)
    ex.place(1, "XBTUSD", "Buy", qty, price)


def test_reduce_only_without_a_position_is_rejected():
    ex = xbtusd_pair()
    out = ex.place(1, "XBTUSD", "Sell", 10, 10_000, exec_inst=["ReduceOnly"])
    assert out.rejected and "ReduceOnly" in out.text


def test_reduce_only_that_would_increase_is_rejected_and_one_that_reduces_is_clipped():
    ex = xbtusd_pair()
    long_position(ex)
    assert ex.place(1, "XBTUSD", "Buy", 10, 9_000, exec_inst="ReduceOnly").rejected
    out = ex.place(1, "XBTUSD", "Sell", 500, 11_000, exec_inst="ReduceOnly")
    assert out.accepted and out.leaves_qty == 100
    assert ex.margin(1)["orderMargin"] == 0  # reduce-only orders carry no margin


def test_resting_reduce_only_orders_shrink_least_aggressive_first_when_the_position_shrinks():
    ex = xbtusd_pair()
    long_position(ex, 100)
    near = ex.place(1, "XBTUSD", "Sell", 60, 10_100, exec_inst="ReduceOnly").order_id
    far = ex.place(1, "XBTUSD", "Sell", 40, 10_200, exec_inst="ReduceOnly").order_id
    ex.drain_events()
    ex.place(2, "XBTUSD", "Buy", 30, 10_000)           # rest a bid ...
    ex.place(1, "XBTUSD", "Sell", 30, 10_000)          # ... and sell into it: long 70
    leaves = {o["orderID"]: o["leavesQty"] for o in ex.open_orders(1)}
    assert leaves == {near: 60, far: 10}
    ex.place(2, "XBTUSD", "Buy", 65, 10_000)
    ex.place(1, "XBTUSD", "Sell", 65, 10_000)          # long 5: far canceled, near cut to 5
    assert {o["orderID"]: o["leavesQty"] for o in ex.open_orders(1)} == {near: 5}
    texts = {e["text"] for e in ex.drain_events() if e["execType"] in ("Replaced", "Canceled")}
    assert any("ReduceOnly" in t for t in texts)


def test_close_without_qty_closes_the_whole_position_and_cancels_excess_same_side_orders():
    ex = xbtusd_pair()
    long_position(ex, 100)
    other = ex.place(1, "XBTUSD", "Sell", 50, 12_000).order_id
    ex.place(2, "XBTUSD", "Buy", 100, 9_000)
    out = ex.place(1, "XBTUSD", "Sell", None, exec_inst="Close")
    assert out.ord_status == "Filled" and out.cum_qty == 100
    assert ex.position(1, "XBTUSD")["currentQty"] == 0
    assert other not in {o["orderID"] for o in ex.open_orders(1)}


def test_close_with_no_position_is_rejected():
    ex = xbtusd_pair()
    out = ex.place(1, "XBTUSD", "Sell", None, exec_inst="Close")
    assert out.rejected and "Close" in out.text


def test_a_triggered_reduce_only_stop_is_canceled_when_the_position_is_gone():
    ex = xbtusd_pair()
    ex.set_mark("XBTUSD", 10_000)
    long_position(ex, 100)
    stop = ex.place(1, "XBTUSD", "Sell", 100, stop_px=9_500, exec_inst="ReduceOnly").order_id
    ex.place(2, "XBTUSD", "Buy", 100, 10_000)
    ex.place(1, "XBTUSD", "Sell", 100, 10_000)  # flat now
    ex.drain_events()
    ex.set_mark("XBTUSD", 9_400)
    kinds = [(e["execType"], e["orderID"]) for e in ex.drain_events()]
    assert kinds == [("Triggered", stop), ("Canceled", stop)]


def test_a_triggered_stop_market_sells_the_position_at_the_bid():
    ex = xbtusd_pair()
    ex.set_mark("XBTUSD", 10_000)
    long_position(ex, 100)
    ex.place(1, "XBTUSD", "Sell", None, stop_px=9_500, exec_inst="Close")
    ex.place(2, "XBTUSD", "Buy", 300, 9_400)
    ex.set_mark("XBTUSD", 9_499.5)
    assert ex.position(1, "XBTUSD")["currentQty"] == 0
    assert ex.open_orders(2)[0]["leavesQty"] == 200


# ---------------------------------------------------------------- limits

def test_we48_a_bucket_of_60_allows_a_burst_of_60_then_one_per_second():
    ex = xbtusd_pair(rate_limit=(60, 1))
    outs = [ex.place(1, "XBTUSD", "Buy", 1, 5_000, ts=0) for _ in range(61)]
    assert all(o.accepted for o in outs[:60])
    assert outs[60].rejected and outs[60].text == "Rate limit exceeded"
    assert ex.place(1, "XBTUSD", "Buy", 1, 5_000, ts=999).rejected
    assert ex.place(1, "XBTUSD", "Buy", 1, 5_000, ts=1_000).accepted
    assert ex.place(2, "XBTUSD", "Buy", 1, 5_000, ts=1_000).accepted  # per account


def test_ten_requests_per_second_then_the_eleventh_is_limited():
    ex = xbtusd_pair(rate_limit=(10, 10))
    outs = [ex.place(1, "XBTUSD", "Buy", 1, 5_000, ts=5) for _ in range(11)]
    assert [o.accepted for o in outs] == [True] * 10 + [False]
    assert ex.cancel(1, outs[0].order_id, ts=5).text == "Rate limit exceeded"
    assert ex.cancel(1, outs[0].order_id, ts=105).accepted


def test_too_many_open_and_stop_orders_are_rejected_per_contract():
    ex = xbtusd_pair(max_open_orders=3, max_stop_orders=1)
    for _ in range(3):
        ex.place(1, "XBTUSD", "Buy", 1, 5_000)
    assert ex.place(1, "XBTUSD", "Buy", 1, 5_000).text == "Too many open orders"
    ex.cancel_all(1)
    ex.place(1, "XBTUSD", "Buy", 1, stop_px=20_000)
    assert ex.place(1, "XBTUSD", "Buy", 1, stop_px=21_000).text == "Too many stop orders"


# ---------------------------------------------------------------- money and events

def test_deposit_replayed_with_the_same_tx_id_is_a_no_op_returning_the_original_result():
    ex = Exchange([presets.XBTUSD()])
    first = ex.deposit(7, XBT, tx_id="tx-1")
    h, seq = ex.state_hash(), ex.last_seq
    assert ex.deposit(7, XBT, tx_id="tx-1") == first
    assert (ex.state_hash(), ex.last_seq) == (h, seq)
    with pytest.raises(InvalidInputError, match="tx_id"):
        ex.deposit(7, 2 * XBT, tx_id="tx-1")
    assert ex.margin(7)["walletBalance"] == XBT


def test_withdraw_is_limited_to_the_available_balance():
    ex = xbtusd_pair(XBT)
    ex.place(1, "XBTUSD", "Buy", 10_000, 10_000)  # holds ~0.01 XBT of order margin
    avail = ex.margin(1)["availableMargin"]
    with pytest.raises(InsufficientFundsError, match=str(avail)):
        ex.withdraw(1, avail + 1)
    ex.withdraw(1, avail, tx_id=9)
    assert ex.margin(1)["availableMargin"] == 0 and ex.audit().ledger_sum == {"XBt": 0}


def test_events_carry_bitmex_fields_seq_and_transact_time():
    ex = xbtusd_pair()
    ex.place(1, "XBTUSD", "Sell", 10, 10_000, cl_ord_id="abc", ts=5)
    ex.place(2, "XBTUSD", "Buy", 4, 10_000, ts=7)
    evs = ex.drain_events()
    maker = [e for e in evs if e["clOrdID"] == "abc" and e["execType"] == "Trade"][0]
    assert maker["ordStatus"] == "PartiallyFilled" and maker["leavesQty"] == 6
    assert maker["lastPx"] == Decimal("10000") and maker["avgPx"] == Decimal("10000")
    assert maker["transactTime"] == 7 and maker["seq"] == ex.last_seq
    assert maker["side"] == "Sell" and maker["lastLiquidityInd"] == "AddedLiquidity"
    assert len(ex.executions(account=1)) == 1


def test_amend_down_keeps_priority_and_amend_reprices_to_the_back():
    ex = xbtusd_pair()
    a = ex.place(1, "XBTUSD", "Buy", 10, 9_000).order_id
    b = ex.place(2, "XBTUSD", "Buy", 10, 9_000).order_id
    ex.amend(1, a, qty=5)
    ex.place(2, "XBTUSD", "Sell", 5, 9_000)
    assert [o["orderID"] for o in ex.open_orders(1)] == []  # a filled first
    ex.amend(2, b, price=9_500)
    assert ex.open_orders(2)[0]["price"] == Decimal("9500")
    assert ex.book("XBTUSD").depth(1) == ([(Decimal("9500"), 10)], [])


def test_a_broken_invariant_halts_the_exchange():
    ex = xbtusd_pair()
    long_position(ex)
    ex._positions[(1, "XBTUSD")].qty += 1  # corrupt on purpose
    with pytest.raises(InvariantViolation, match="sum to 1"):
        ex.check_invariants()
    with pytest.raises(EngineHaltedError, match="sum to 1"):
        ex.place(1, "XBTUSD", "Buy", 1, 9_000)


# ---------------------------------------------------------------- batch path

def test_submit_orders_matches_the_per_call_path_exactly():
    rows = [(1, 1, 0, OP_LIMIT, 1, 0, 10, 20_000, 0), (2, 2, 0, OP_LIMIT, 0, 0, 4, 20_000, 0),
            (3, 2, 0, OP_MARKET, 0, 0, 3, 0, 0), (4, 1, 0, OP_CANCEL, 0, 0, 0, 0, 1),
            (5, 1, 0, OP_CANCEL, 0, 0, 0, 0, 1)]
    batch = xbtusd_pair()
    res = batch.submit_orders(np.array(rows, ORDER_DTYPE))
    assert res["status"].tolist() == [STATUS_OK, STATUS_OK, STATUS_OK, STATUS_OK, STATUS_UNKNOWN_ORDER]
    per_call = xbtusd_pair()
    per_call.place(1, "XBTUSD", "Sell", 10, 10_000, ts=1)
    per_call.place(2, "XBTUSD", "Buy", 4, 10_000, ts=2)
    per_call.place(2, "XBTUSD", "Buy", 3, ts=3)
    per_call.cancel(1, 1, ts=4)
    assert batch.state_hash() == per_call.state_hash() and batch.last_seq == per_call.last_seq
    assert batch.drain_events() == [] and per_call.drain_events() != []  # no events from the batch


@pytest.mark.parametrize("seed", range(4))
def test_batch_results_written_from_the_record_equal_those_read_from_outcomes(seed):
    # the batch loop writes a placed row's result from the order record; with _place replaced
    # on the instance it runs the Outcome path instead: the two must agree row for row
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(600):
        op = int(rng.choice([OP_LIMIT, OP_LIMIT, OP_MARKET, OP_CANCEL]))
        side = int(rng.integers(0, 2))
        price = int(rng.integers(19_000, 21_000)) if op == OP_LIMIT else 0
        qty = 0 if op == OP_CANCEL else int(rng.integers(1, 400))
        oid = int(rng.integers(1, i + 2)) if op == OP_CANCEL else 0
        rows.append((i + 1, int(rng.integers(1, 3)), 0, op, side, 0, qty, price, oid))
    cmds = np.array(rows, ORDER_DTYPE)
    direct, via_outcomes = xbtusd_pair(20_000), xbtusd_pair(20_000)  # small wallets: rejects
    via_outcomes._place = via_outcomes._place  # type: ignore[method-assign]
    a, b = direct.submit_orders(cmds), via_outcomes.submit_orders(cmds)
    assert (a["status"] == STATUS_REJECTED).any() and (a["cum"] > 0).any()
    assert a.tobytes() == b.tobytes()
    assert direct.state_hash() == via_outcomes.state_hash()


def test_batch_cancel_results_from_the_record_equal_those_read_from_outcomes():
    # a cancel row's result is written from the record too, a rate-limited reject included
    # (the order stays live); the Outcome path must give the same rows and state
    runs = []
    for via_outcomes in (False, True):
        ex = xbtusd_pair(rate_limit=(10, 10))
        if via_outcomes:
            ex._place = ex._place  # type: ignore[method-assign]
        ids = [ex.place(1, "XBTUSD", "Buy", 1, 5_000, ts=5).order_id for _ in range(10)]
        rows = np.array([(5, 1, 0, OP_CANCEL, 0, 0, 0, 0, ids[0]),
                         (105, 1, 0, OP_CANCEL, 0, 0, 0, 0, ids[0]),
                         (105, 1, 0, OP_CANCEL, 0, 0, 0, 0, ids[1]),
                         (105, 1, 0, OP_CANCEL, 0, 0, 0, 0, ids[0])], ORDER_DTYPE)
        res = ex.submit_orders(rows)
        assert res["status"].tolist() == [STATUS_REJECTED, STATUS_OK, STATUS_REJECTED,
                                          STATUS_UNKNOWN_ORDER]
        assert res["order_id"].tolist() == [ids[0], ids[0], ids[1], ids[0]]
        assert res["leaves"].tolist()[:3] == [0, 0, 0] and res["seq"][2] == ex.last_seq
        live = [o["orderID"] for o in ex.open_orders(1)]
        assert ids[1] in live and ids[0] not in live  # the rejected cancel left it live
        runs.append((res.tobytes(), ex.state_hash()))
    assert runs[0] == runs[1]


def test_a_batch_with_one_malformed_row_applies_nothing():
    ex = xbtusd_pair()
    h, seq = ex.state_hash(), ex.last_seq
    rows = np.array([(1, 1, 0, OP_LIMIT, 1, 0, 10, 20_000, 0),
                     (2, 1, 0, OP_LIMIT, 1, 0, 10, 0, 0)], ORDER_DTYPE)
    with pytest.raises(ValueError, match="row 1"):
        ex.submit_orders(rows)
    assert (ex.state_hash(), ex.last_seq) == (h, seq)


def test_a_batch_business_reject_takes_a_seq_and_reports_rejected():
    ex = xbtusd_pair(1_000)
    res = ex.submit_orders(np.array([(1, 1, 0, OP_LIMIT, 0, 0, 10_000, 20_000, 0)], ORDER_DTYPE))
    assert res["status"].tolist() == [STATUS_REJECTED] and res["seq"][0] == ex.last_seq


def test_a_remembered_limit_price_converts_as_before_and_bad_prices_still_raise():
    ex = Exchange([presets.XBTUSD()])
    ex.deposit(1, 10 * XBT, ts=0)
    first = ex.place(1, "XBTUSD", "Buy", 1, 10_000)
    again = [ex.place(1, "XBTUSD", "Buy", 1, p) for p in (10_000, 10_000.0, Decimal("10000.00"))]
    assert first.accepted and all(o.accepted for o in again)
    assert {o["price"] for o in ex.open_orders(1)} == {Decimal("10000.0")}
    with pytest.raises(TypeError):
        ex.place(1, "XBTUSD", "Buy", 1, True)       # bool is not the int 1 it equals
    for bad in (float("nan"), Decimal("NaN"), 10_000.25):
        with pytest.raises(InvalidPriceError):
            ex.place(1, "XBTUSD", "Buy", 1, bad)
    ex.check_invariants()


@pytest.mark.parametrize("events", [True, False])
def test_a_reduce_only_order_cut_in_a_batch_without_events_cancels_with_its_own_text(events):
    """The batch path cuts a resting reduce-only order down when its fill shrinks the
    position; with events off the amend's text must still be used up, not left to become the
    text of the order's later cancel."""
    ex = Exchange([presets.XBTUSD()])
    for a in (1, 2, 3):
        ex.deposit(a, 10 * XBT, ts=0)
    ex.set_mark("XBTUSD", 10_000, ts=0)
    ex.place(1, "XBTUSD", "Buy", 100, 10_000, ts=1)
    ex.place(2, "XBTUSD", "Sell", 100, 10_000, ts=1)         # account 1 is long 100
    ro = ex.place(1, "XBTUSD", "Sell", 80, 11_000, exec_inst="ReduceOnly", ts=2)
    ex.place(3, "XBTUSD", "Buy", 50, 9_000, ts=2)
    # account 1 sells 50 into account 3's bid: long 50, so the reduce-only order is cut to 50
    res = ex.submit_orders(np.array([(3, 1, 0, OP_LIMIT, 1, 0, 50, 18_000, 0)], ORDER_DTYPE),
                           events=events)
    assert res["status"].tolist() == [STATUS_OK]
    assert [o["leavesQty"] for o in ex.open_orders(1)] == [50]
    out = ex.cancel(1, ro.order_id, ts=4)
    assert out.accepted and out.text == "Canceled: Canceled via API."
    assert not ex._texts
