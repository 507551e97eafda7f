"""OKEx's partial-liquidation cycle in simulated time (MECHANICS §7.2, O1/O4; SEED 003: "orders
priced better than bankruptcy, replaced if unfilled"), ``LiquidationConfig(repost_after_ms=...)``.

The trader holds 20,000 XBTUSD long at 10,000, isolated at 20x: tier 4 (MMR 2%). At a mark of
9,700 the margin ratio is below tier 4's requirement but above tier 1's, so the position is cut
two tiers down, to tier 2's maximum of 9,999 contracts: a sell of 10,001 priced one tick better
than the bankruptcy price, 9,524.5. With the option the order rests; without it (the default)
it is ImmediateOrCancel and what it does not fill is taken over at once."""

from __future__ import annotations

import numpy as np
import pytest

from perpex import presets
from perpex.errors import EngineHaltedError, InvalidConfigError
from perpex.exchange import OP_CANCEL, ORDER_DTYPE, STATUS_REJECTED, Exchange
from perpex.exchange_journal import dump_exchange, load_exchange
from perpex.instruments import Instrument
from perpex.orders import IN_LIQUIDATION, IN_LIQUIDATION_CANCELED, LIQUIDATION_EXPIRED
from perpex.risk.liquidation import LiquidationConfig, RiskMode

XBT = 100_000_000
TRADER, MAKER, BIDDER = 1, 2, 3
WAIT = 60_000
LIQ_PX = 9_524.5  # the bankruptcy price at 20,000 contracts, one tick better for the trader


def market(repost: int | None = WAIT, inst: Instrument | None = None, t0: int = 0) -> Exchange:
    """The trader's position in ``inst`` (XBTUSD by default), opened at ``t0``."""
    inst = inst or presets.XBTUSD()
    sym = inst.symbol
    cfg = LiquidationConfig(mode=RiskMode.OKEX, repost_after_ms=repost)
    ex = Exchange([inst], risk_mode=cfg, insurance_fund={"XBt": 100 * XBT})
    ex.deposit(TRADER, 11 * XBT, ts=t0)
    ex.deposit(MAKER, 1_000 * XBT, ts=t0)
    ex.deposit(BIDDER, 1_000 * XBT, ts=t0)
    ex.set_mark(sym, 10_000, ts=t0)
    ex.set_leverage(TRADER, sym, 20, ts=t0)
    ex.place(MAKER, sym, "Sell", 20_000, 10_000, ts=t0)
    assert ex.place(TRADER, sym, "Buy", 20_000, 10_000, ts=t0).cum_qty == 20_000
    ex.place(BIDDER, sym, "Buy", 100, 9_000, ts=t0)  # far below: the order rests
    ex.drain_events()
    return ex


def frozen(clock: bool = False) -> tuple[Exchange, int]:
    """The market at a mark of 9,700 (ts 2,000), where the trader's partial order rests, with
    its events drained; and that order's id. ``clock``: the clock started before, at 1,000."""
    ex = market()
    if clock:
        ex.advance(1_000)
    ex.set_mark("XBTUSD", 9_700, ts=2_000)
    [(oid, _, _)] = liq_orders(ex)
    ex.drain_events()
    return ex, oid


def order_events(ex: Exchange, oid: int) -> list[dict]:
    """The drained events of order ``oid``."""
    return [e for e in ex.drain_events() if e.get("orderID") == oid]


def liq_orders(ex: Exchange) -> list[tuple[int, float, int]]:
    return [(o["orderID"], float(o["price"]), o["leavesQty"]) for o in ex.open_orders(TRADER)]


def qty(ex: Exchange) -> int:
    return ex.position(TRADER, "XBTUSD")["currentQty"]


def conserved(ex: Exchange, sym: str = "XBTUSD") -> None:
    audit = ex.audit()
    assert audit.ledger_sum == {"XBt": 0} and audit.net_position == {sym: 0}
    assert min(ex.wallet_balances().values()) >= 0
    ex.check_invariants()


def test_without_the_option_the_cycle_is_one_instant():
    ex = market(None)
    ex.set_mark("XBTUSD", 9_700, ts=1_000)
    assert qty(ex) == 0 and liq_orders(ex) == []
    stats = ex.liquidation_stats()
    assert (stats["partials"], stats["takeovers"]) == (1, 1)
    conserved(ex)


def test_the_partial_order_rests_better_than_bankruptcy_and_freezes_the_position():
    ex = market()
    ex.set_mark("XBTUSD", 9_800, ts=1_000)
    assert liq_orders(ex) == []
    ex.set_mark("XBTUSD", 9_700, ts=2_000)
    [(oid, px, leaves)] = liq_orders(ex)
    assert (px, leaves, qty(ex)) == (LIQ_PX, 10_001, 20_000)
    new = order_events(ex, oid)
    assert [(e["execType"], e["ordType"], e["timeInForce"], e["side"], e["text"]) for e in new] == \
        [("New", "Limit", "GoodTillCancel", "Sell", "Liquidation")]
    before = ex.position(TRADER, "XBTUSD")

    # every trader command on the contract is refused and changes nothing but the sequence
    refused = [
        ex.place(TRADER, "XBTUSD", "Sell", 10, 9_900, ts=2_001),
        ex.place(TRADER, "XBTUSD", "Sell", 10, exec_inst="ReduceOnly", ts=2_001),
        ex.cancel(TRADER, oid, ts=2_001),
        ex.amend(TRADER, oid, price=9_900, ts=2_001),
        ex.set_leverage(TRADER, "XBTUSD", 10, ts=2_001),
        ex.set_risk_limit(TRADER, "XBTUSD", 300 * XBT, ts=2_001),
        ex.transfer_margin(TRADER, "XBTUSD", 1 * XBT, ts=2_001),
    ]
    assert [(o.accepted, o.text) for o in refused] == [(False, IN_LIQUIDATION)] * len(refused)
    assert ex.cancel_all(TRADER, ts=2_001).count == 0
    rows = np.zeros(1, ORDER_DTYPE)
    rows[0] = (2_002, TRADER, 0, OP_CANCEL, 0, 0, 0, 0, oid)
    assert ex.submit_orders(rows)["status"][0] == STATUS_REJECTED
    assert liq_orders(ex) == [(oid, LIQ_PX, 10_001)]
    assert ex.position(TRADER, "XBTUSD") == before
    # other accounts trade as usual
    assert ex.place(MAKER, "XBTUSD", "Sell", 5, 9_900, ts=2_003).accepted
    conserved(ex)


def test_an_order_the_market_fills_frees_the_position_at_once():
    ex, oid = frozen()
    fill = ex.place(BIDDER, "XBTUSD", "Buy", 10_001, 9_600, ts=3_000)
    assert fill.cum_qty == 10_001 and qty(ex) == 9_999
    assert [(e["execType"], e["lastPx"], e["text"]) for e in order_events(ex, oid)] == \
        [("Trade", LIQ_PX, "Liquidation")]
    assert not ex._liq_holds
    assert ex.place(TRADER, "XBTUSD", "Sell", 1, 9_900, ts=3_001).accepted
    # tier 2 clears the requirement at this mark: the next step does nothing more
    ex.set_mark("XBTUSD", 9_710, ts=4_000)
    assert qty(ex) == 9_999 and [leaves for _, _, leaves in liq_orders(ex)] == [1]
    stats = ex.liquidation_stats()
    assert (stats["partials"], stats["takeovers"]) == (1, 0)
    conserved(ex)


def test_a_partly_filled_order_keeps_the_position_frozen():
    ex, oid = frozen()
    ex.place(BIDDER, "XBTUSD", "Buy", 4_000, 9_600, ts=3_000)
    assert qty(ex) == 16_000 and liq_orders(ex) == [(oid, LIQ_PX, 6_001)]
    assert ex.place(TRADER, "XBTUSD", "Sell", 1, 9_900, ts=3_001).text == IN_LIQUIDATION
    conserved(ex)


def test_an_unfilled_order_is_canceled_when_its_time_is_up_and_posted_again():
    ex, first = frozen()
    ex.place(BIDDER, "XBTUSD", "Buy", 4_000, 9_600, ts=3_000)  # a part of it fills
    assert qty(ex) == 16_000
    ex.set_mark("XBTUSD", 9_690, ts=2_000 + WAIT - 1)  # the wait is not over
    assert liq_orders(ex) == [(first, LIQ_PX, 6_001)]
    ex.drain_events()
    ex.set_mark("XBTUSD", 9_690, ts=2_000 + WAIT)
    done = order_events(ex, first)
    assert [(e["execType"], e["text"]) for e in done] == [("Canceled", LIQUIDATION_EXPIRED)]
    # still at tier 4 (16,000) and below its requirement: a new order, cut to tier 2's maximum;
    # the fill at 9,524.5 cost the rest of the position no collateral share (pro rata), so its
    # bankruptcy price is still 9,524 and the order is priced as the first
    [(second, px, leaves)] = liq_orders(ex)
    assert second > first and (px, leaves) == (LIQ_PX, 16_000 - 9_999)
    stats = ex.liquidation_stats()
    assert (stats["partials"], stats["takeovers"]) == (2, 0)
    conserved(ex)


def test_a_full_verdict_meanwhile_cancels_the_order_and_takes_the_position_over():
    ex, oid = frozen()
    ex.set_mark("XBTUSD", 9_560, ts=3_000)  # below tier 1's requirement: full liquidation
    assert qty(ex) == 0 and liq_orders(ex) == []
    done = [(e["execType"], e["text"]) for e in order_events(ex, oid)]
    assert done == [("Canceled", IN_LIQUIDATION_CANCELED)]
    assert ex.liquidation_stats()["takeovers"] == 1
    assert oid not in ex._orders and not ex._liq_holds
    conserved(ex)


def test_simulated_time_alone_ends_a_wait_and_re_posts():
    """``advance`` is the engine's clock: without a mark update, a wait that is over is
    ended at the current mark and the order posted again, as at a mark update."""
    ex, first = frozen()
    ex.advance(2_000 + WAIT - 1)
    assert [oid for oid, _, _ in liq_orders(ex)] == [first]
    ex.advance(2_000 + WAIT)
    assert [(e["execType"], e["text"]) for e in order_events(ex, first)][0] == \
        ("Canceled", LIQUIDATION_EXPIRED)
    [(second, px, leaves)] = liq_orders(ex)
    assert second > first and (px, leaves) == (LIQ_PX, 10_001)
    assert ex._liq_holds == {(TRADER, "XBTUSD"): (second, 2_000 + 2 * WAIT)}
    assert ex.liquidation_stats()["partials"] == 2
    conserved(ex)


def test_one_long_advance_ends_each_wait_at_its_own_instant():
    """The waits run on the clock's instants, not on the command's ts: one ``advance`` over
    three waits ends each at its deadline and re-posts with a deadline counted from then, and
    the events of each are stamped with its instant."""
    ex, first = frozen(clock=True)
    ex.advance(2_000 + 3 * WAIT + 1)
    events = ex.drain_events()
    canceled = [e for e in events if e["execType"] == "Canceled"]
    assert [(e["orderID"] - first, e["text"]) for e in canceled] == \
        [(k, LIQUIDATION_EXPIRED) for k in range(3)]
    deadlines = [2_000 + (k + 1) * WAIT for k in range(3)]
    assert [e["transactTime"] for e in canceled] == deadlines
    reposted = [e for e in events if e["execType"] == "New"]
    assert [(e["orderID"] - first, e["transactTime"]) for e in reposted] == \
        [(k + 1, t) for k, t in enumerate(deadlines)]
    assert ex._ts == 2_000 + 3 * WAIT + 1  # the command's own ts again after it
    [(fourth, px, leaves)] = liq_orders(ex)
    assert fourth == first + 3 and (px, leaves) == (LIQ_PX, 10_001)
    assert ex._liq_holds == {(TRADER, "XBTUSD"): (fourth, 2_000 + 4 * WAIT)}
    assert ex.liquidation_stats()["partials"] == 4
    conserved(ex)


def test_a_clock_started_after_the_deadline_ends_the_wait_when_it_starts():
    ex, first = frozen()  # no clock command yet: the clock starts at the next one
    ex.advance(2_000 + 3 * WAIT)
    [(second, _, _)] = liq_orders(ex)
    assert second == first + 1
    assert ex._liq_holds == {(TRADER, "XBTUSD"): (second, 2_000 + 4 * WAIT)}
    conserved(ex)


def test_a_clock_step_that_does_not_end_its_wait_halts_instead_of_looping():
    ex, _ = frozen(clock=True)
    ex._run_due_holds = lambda: None  # type: ignore[method-assign]  # a timer that does nothing
    with pytest.raises(EngineHaltedError, match="next instant 62000 does not pass 62000"):
        ex.advance(2_000 + 3 * WAIT)


def test_a_wait_that_is_over_with_the_position_repaired_ends_without_an_order():
    fresh = market()
    fresh.set_mark("XBTUSD", 9_760, ts=2_000)
    assert liq_orders(fresh) == []  # the position is safe at 9,760
    ex, first = frozen()
    ex.set_mark("XBTUSD", 9_760, ts=3_000)  # a recovering mark: the wait goes on meanwhile
    assert [oid for oid, _, _ in liq_orders(ex)] == [first]
    ex.advance(2_000 + WAIT)
    assert liq_orders(ex) == [] and not ex._liq_holds and qty(ex) == 20_000
    assert ex.place(TRADER, "XBTUSD", "Sell", 1, 9_900, ts=2_000 + WAIT).accepted
    conserved(ex)


def test_settlement_ends_a_wait_with_its_order():
    inst = presets.XBTZ()
    assert inst.expiry_ms is not None
    t0 = inst.expiry_ms - 3_600_000
    ex = market(10 * 3_600_000, inst, t0)  # a wait longer than the contract has left
    ex.set_mark(inst.symbol, 9_700, ts=t0 + 1_000)
    assert len(liq_orders(ex)) == 1 and ex._liq_holds
    ex.advance(inst.expiry_ms)
    assert liq_orders(ex) == [] and not ex._liq_holds
    assert ex.instrument_state(inst.symbol)["state"] == "Settled"
    conserved(ex, inst.symbol)


def test_the_wait_survives_a_snapshot_and_the_state_hash_covers_it():
    ex, _ = frozen()
    copy = load_exchange(dump_exchange(ex))
    assert copy.state_hash() == ex.state_hash() and copy._liq_holds == ex._liq_holds
    for e in (ex, copy):
        e.set_mark("XBTUSD", 9_690, ts=2_000 + WAIT)
    assert copy.state_hash() == ex.state_hash()
    assert liq_orders(copy) == liq_orders(ex) and len(liq_orders(ex)) == 1
    # the hash covers the deadline itself: two markets equal but for when the wait ends
    early, _ = frozen()
    late = load_exchange(dump_exchange(early))
    [(key, (oid, until))] = late._liq_holds.items()
    late._liq_holds[key] = (oid, until + 1)
    assert late.state_hash() != early.state_hash()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "60000"])
def test_a_wait_that_is_not_a_positive_int_is_refused(bad: object) -> None:
    with pytest.raises(InvalidConfigError, match="repost_after_ms"):
        LiquidationConfig(mode=RiskMode.OKEX, repost_after_ms=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", [RiskMode.BITMEX, RiskMode.HUOBI])
def test_the_wait_is_an_okex_option(mode: RiskMode) -> None:
    with pytest.raises(InvalidConfigError, match="only to mode=OKEX"):
        LiquidationConfig(mode=mode, repost_after_ms=WAIT)
