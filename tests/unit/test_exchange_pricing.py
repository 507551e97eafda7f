"""The price pipeline through the Exchange: index -> mark -> triggers, funding, settlement."""

from __future__ import annotations

import math
import signal

import pytest

from perpex import errors, presets
from perpex.exchange import Exchange
from perpex.pricing import FundingConfig

XBT = 100_000_000
DAY = 1_561_939_200_000          # 2019-07-01 00:00 UTC
H = 3_600_000
Q = {"Bitstamp": 10_000, "Coinbase": 10_000, "Kraken": 10_000}


def funded(rate: float = 0.0001) -> Exchange:
    cfg = FundingConfig.from_margins(0.01, 0.005, interval_ms=8 * H, anchor_ms=4 * H,
                                     initial_rate=rate)
    ex = Exchange([presets.XBTUSD()], funding={"XBTUSD": cfg})
    for a in (1, 2, 3):
        ex.deposit(a, 10 * XBT, ts=DAY)
    return ex


def trade(ex: Exchange, buyer: int, seller: int, qty: int, price: float, ts: int) -> None:
    ex.place(seller, "XBTUSD", "Sell", qty, price, ts=ts)
    ex.place(buyer, "XBTUSD", "Buy", qty, price, ts=ts)


def test_a_long_of_10000_at_mark_10000_pays_10000_xbt_at_noon_and_the_short_receives_it():
    ex = funded()
    ex.update_index(DAY + 4 * H, Q)
    trade(ex, 1, 2, 10_000, 10_000, DAY + 4 * H)
    ex.drain_events()
    w1, w2 = ex.wallet_balances()[1], ex.wallet_balances()[2]
    r1 = ex.position(1, "XBTUSD")["realisedPnl"]
    ex.advance(DAY + 12 * H)
    assert ex.wallet_balances()[1] == w1 - 10_000
    assert ex.wallet_balances()[2] == w2 + 10_000
    assert ex.position(1, "XBTUSD")["realisedPnl"] == r1 - 10_000
    funding = [e for e in ex.drain_events() if e["execType"] == "Funding"]
    assert [(e["account"], e["execComm"]) for e in funding] == [(1, 10_000), (2, -10_000)]
    audit = ex.audit()
    assert audit.ledger_sum == {"XBt": 0} and audit.funding == {"XBt": 0}


def test_only_positions_open_at_the_funding_instant_pay():
    ex = funded()
    ex.update_index(DAY + 4 * H, Q)
    trade(ex, 1, 2, 10_000, 10_000, DAY + 4 * H)
    ex.advance(DAY + 11 * H)
    trade(ex, 2, 1, 10_000, 10_000, DAY + 11 * H)      # both flat before noon
    trade(ex, 3, 2, 5_000, 10_000, DAY + 11 * H)
    before = ex.wallet_balances()
    ex.advance(DAY + 12 * H)
    after = ex.wallet_balances()
    assert after[1] == before[1]
    assert (after[3] - before[3], after[2] - before[2]) == (-5_000, 5_000)


def test_the_mark_follows_the_we27_schedule_and_equals_the_index_at_the_funding_instant():
    ex = funded()
    ex.update_index(DAY + 4 * H, Q)
    marks = []
    for hours in (4, 6, 8, 10, 12):
        ex.advance(DAY + hours * H)
        marks.append(str(ex.mark_price("XBTUSD")))
    assert marks == ["10001", "10000.75", "10000.5", "10000.25", "10000"]


def test_the_mark_drops_by_exactly_the_remaining_funding_basis_at_the_funding_instant():
    ex = funded()
    ex.update_index(DAY + 4 * H, Q)
    ex.advance(DAY + 12 * H - 5_000)
    before = ex.instrument_state("XBTUSD")["markPriceE8"]
    ex.advance(DAY + 12 * H)
    after = ex.instrument_state("XBTUSD")["markPriceE8"]
    index = 10_000 * XBT
    assert after == index
    assert before - after == round(index * 0.0001 * 5_000 / (8 * H))


def test_the_next_rate_is_fixed_one_interval_ahead_from_the_interest_samples():
    ex = funded(rate=0.0002)
    ex.update_index(DAY + 4 * H, Q)
    state = ex.instrument_state("XBTUSD")
    assert state["fundingRate"] == 0.0002 and state["fundingTimestamp"] == DAY + 12 * H
    ex.advance(DAY + 12 * H)
    state = ex.instrument_state("XBTUSD")
    assert state["fundingTimestamp"] == DAY + 20 * H
    # an empty book has no premium beyond the basis, well within the clamp: F = I
    assert state["fundingRate"] == 0.0001


def test_a_stop_on_the_mark_and_a_stop_on_the_index_fire_through_the_pipeline():
    ex = funded(rate=0.0)
    ex.update_index(DAY + 4 * H, Q)
    trade(ex, 1, 2, 100, 10_000, DAY + 4 * H)
    ex.place(3, "XBTUSD", "Buy", 1_000, 9_000, ts=DAY + 4 * H)
    m = ex.place(1, "XBTUSD", "Sell", 10, stop_px=9_950, exec_inst="MarkPrice", ts=DAY + 4 * H)
    i = ex.place(1, "XBTUSD", "Sell", 10, stop_px=9_900, exec_inst="IndexPrice", ts=DAY + 4 * H)
    ex.drain_events()
    ex.update_index(DAY + 4 * H + 1_000, {"Bitstamp": 9_940, "Coinbase": 9_940, "Kraken": 9_940})
    assert not [e for e in ex.drain_events() if e.get("execType") == "Triggered"]
    ex.advance(DAY + 4 * H + 5_000)
    fired = [e["orderID"] for e in ex.drain_events() if e.get("execType") == "Triggered"]
    assert fired == [m.order_id]
    ex.update_index(DAY + 4 * H + 6_000, {"Bitstamp": 9_890, "Coinbase": 9_890, "Kraken": 9_890})
    ex.advance(DAY + 4 * H + 10_000)
    fired = [e["orderID"] for e in ex.drain_events() if e.get("execType") == "Triggered"]
    assert fired == [i.order_id]
    assert ex.position(1, "XBTUSD")["currentQty"] == 80


@pytest.mark.parametrize("quotes, exc", [
    ({"Bitstamp": math.nan}, errors.InvalidPriceError),
    ({"Bitstamp": math.inf}, errors.InvalidPriceError),
    ({"Bitstamp": 0}, errors.InvalidPriceError),
    ({"Bitstamp": -1.0}, errors.InvalidPriceError),
    ({"Bitstamp": 10_000, "Binance": 10_000}, errors.UnknownSymbolError),
    ({"XBTUSD": {"Kraken": "10000"}}, errors.InvalidPriceError),
    ({"ETHUSD": {"Kraken": 10_000}}, errors.UnknownSymbolError),
    ({}, errors.InvalidInputError),
    ({"Bitstamp": 2_000_000}, errors.ArithmeticOverflowError),
])
def test_a_bad_index_update_raises_and_changes_nothing(quotes, exc):
    ex = funded()
    ex.update_index(DAY + 4 * H, Q)
    before = (ex.state_hash(), ex.last_seq)
    with pytest.raises(exc):
        ex.update_index(DAY + 5 * H, quotes)
    assert (ex.state_hash(), ex.last_seq) == before


def test_time_running_backwards_is_rejected_by_update_index_and_advance():
    ex = funded()
    ex.update_index(DAY + 4 * H, Q)
    before = (ex.state_hash(), ex.last_seq)
    with pytest.raises(errors.NonMonotonicTimeError):
        ex.update_index(DAY + 3 * H, Q)
    with pytest.raises(errors.NonMonotonicTimeError):
        ex.advance(DAY + 3 * H)
    with pytest.raises(TypeError):
        ex.advance(True)
    assert (ex.state_hash(), ex.last_seq) == before


def test_the_pricing_state_is_part_of_the_hash_and_replays_identically():
    def run() -> Exchange:
        ex = funded()
        ex.update_index(DAY + 4 * H, Q)
        trade(ex, 1, 2, 1_000, 10_000, DAY + 4 * H)
        ex.update_index(DAY + 5 * H, {"Bitstamp": 10_001, "Coinbase": 10_010, "Kraken": 10_050})
        ex.advance(DAY + 12 * H + 60_000)
        return ex
    a, b = run(), run()
    assert a.state_hash() == b.state_hash()
    # quotes unchanged for 15 minutes go stale, so the index holds its last value
    last = a.export_state()["pricing"]["index"]["XBTUSD"]["last_print"]
    assert last["held"] and last["price_e8"] == round((10_001 + 10_010 + 10_050) * XBT / 3)
    b.advance(DAY + 12 * H + 65_000)
    assert a.state_hash() != b.state_hash()


def futures_exchange() -> tuple[Exchange, int]:
    expiry = presets.XBTZ_DEFAULT_EXPIRY_MS
    ex = Exchange([presets.XBTZ()])
    for a in (1, 2, 3):
        ex.deposit(a, 10 * XBT, ts=expiry - 2 * H)
    return ex, expiry


def test_a_dated_future_settles_at_the_30_minute_index_twap_with_the_fee_and_cancels_orders():
    ex, expiry = futures_exchange()
    ex.update_index(expiry - H, Q)
    ex.place(2, "XBTZ", "Sell", 10_000, 10_000, ts=expiry - H)
    ex.place(1, "XBTZ", "Buy", 10_000, 10_000, ts=expiry - H)
    ex.place(3, "XBTZ", "Buy", 50, 9_000, ts=expiry - H)
    ex.place(3, "XBTZ", "Sell", 50, stop_px=8_000, ts=expiry - H)
    # the index is 10,000 until 10 minutes before expiry, then 10,300
    ex.update_index(expiry - 10 * 60_000, {"Bitstamp": 10_300, "Coinbase": 10_300,
                                           "Kraken": 10_300})
    w = ex.wallet_balances()
    ex.drain_events()
    ex.advance(expiry)
    twap = (10_000 * 20 + 10_300 * 10) * XBT // 30
    state = ex.instrument_state("XBTZ")
    assert state["state"] == "Settled" and state["settledPriceE8"] == twap
    unit = round(XBT * XBT / twap)             # XBt per contract at the settlement price
    entry = 10_000                             # XBt per contract at 10,000
    fee = round(10_000 * unit * 0.0005)
    assert ex.wallet_balances()[1] - w[1] == 10_000 * (entry - unit) - fee
    assert ex.wallet_balances()[2] - w[2] == -10_000 * (entry - unit) - fee
    for a in (1, 2):
        assert ex.position(a, "XBTZ")["currentQty"] == 0
    assert ex.open_orders(3) == []
    events = ex.drain_events()
    assert sum(e["execType"] == "Settlement" for e in events) == 2
    assert sum(e["execType"] == "Canceled" for e in events) == 2
    audit = ex.audit()
    assert audit.ledger_sum == {"XBt": 0} and audit.funding == {"XBt": 0}
    assert audit.fees["XBt"] >= 2 * fee
    ex.check_invariants()
    out = ex.place(3, "XBTZ", "Buy", 10, 9_000, ts=expiry + 1)
    assert not out.accepted and "settled" in out.text


def test_a_futures_mark_follows_the_impact_basis_and_reaches_the_index_at_expiry():
    ex, expiry = futures_exchange()
    ex.update_index(expiry - H, Q)
    ex.place(1, "XBTZ", "Buy", 300_000, 10_100, ts=expiry - H)
    ex.place(2, "XBTZ", "Sell", 300_000, 10_101, ts=expiry - H)
    ex.advance(expiry - H + 60_000)
    state = ex.instrument_state("XBTZ")
    assert state["fairBasisRate"] > 0
    assert 10_000 < state["markPrice"] < 10_101
    ex.advance(expiry)
    assert ex.instrument_state("XBTZ")["markPrice"] == 10_000


def test_flat_quotes_are_refused_when_contracts_have_different_underlyings():
    ex = Exchange([presets.XBTUSD(), presets.ETHUSD()])
    with pytest.raises(errors.InvalidInputError):
        ex.update_index(0, Q)
    ex.update_index(0, {"ETHUSD": {"Kraken": 200}, "XBTUSD": Q})
    ex.advance(5_000)
    assert ex.instrument_state("ETHUSD")["indexPrice"] == 200


def test_the_index_read_on_its_own_is_the_one_the_instrument_state_publishes():
    ex = Exchange([presets.XBTUSD(), presets.ETHUSD()])
    assert ex.index_price_e8("XBTUSD") is None  # before the pipeline has started
    ex.update_index(0, {"ETHUSD": {"Kraken": 200}, "XBTUSD": {"Bitstamp": 10_000.5, "Kraken": 10_001}})
    ex.advance(5_000)
    for sym in ("XBTUSD", "ETHUSD"):
        assert ex.index_price_e8(sym) == ex.instrument_state(sym)["indexPriceE8"] is not None
    assert ex.index_price_e8("ETHUSD") == 200 * XBT
    with pytest.raises(errors.UnknownSymbolError):
        ex.index_price_e8("NOPE")


def test_time_runs_past_sampling_minutes_and_an_instant_without_an_index_price():
    """Marks set by hand, no index quotes: each funding-sample minute passes unsampled (the
    clock once found the same minute due again for ever) and the instant pays the rate it
    carried forward from the configuration."""
    def stuck(*_: object) -> None:
        raise TimeoutError("advance did not return")
    ex = funded(0.0001)
    ex.set_mark("XBTUSD", 10_000, ts=DAY)
    trade(ex, 1, 2, 10_000, 10_000, DAY)
    old = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(30)
    try:
        ex.advance(DAY + 3 * 60_000)
        assert ex.instrument_state("XBTUSD")["indexPrice"] is None
        w1 = ex.wallet_balances()[1]
        ex.advance(DAY + 4 * H)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    st = ex.instrument_state("XBTUSD")
    assert (st["fundingRate"], st["fundingTimestamp"]) == (0.0001, DAY + 12 * H)
    assert ex._funding["XBTUSD"].samples == 0
    assert w1 - ex.wallet_balances()[1] == 10_000  # the long paid 0.01% of 1 XBT
    ex.check_invariants()
