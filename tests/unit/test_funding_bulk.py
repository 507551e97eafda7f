"""The bulk funding path against a straightforward per-position payment loop.

Two exchanges receive the same seeded commands: thousands of random positions in an inverse
(XBTUSD), a quanto (ETHUSD) and a linear (XBTUSDT) perpetual, long and short, cross and
isolated, some closed again, accounts opened in shuffled order, and one position held by the
liquidation engine. One pays funding through the engine's bulk path; the other through a
reference written the plain way (positions sorted, one exact rational rounding and one ledger
transfer per position, one event literal per position). Everything observable must be equal
to the unit: events, ledger balances and recorded transfers, realised PnL, the state hash.
"""

from __future__ import annotations

import random
import types
from decimal import Decimal
from typing import Any

from perpex import presets
from perpex.accounts.ledger import INSURANCE, funding, wallet
from perpex.accounts.position import book_funding
from perpex.exchange import LIQUIDATION_ACCOUNT, Exchange
from perpex.instruments import E8, ContractType
from perpex.pricing import FundingConfig
from perpex.rounding import Rounding, div_round, exact_rate

XBT = 100_000_000
USDT = 1_000_000
H = 3_600_000
DAY = 1_561_939_200_000
START = DAY + 4 * H - 30 * 60_000
RATES = {"XBTUSD": 0.000123, "ETHUSD": -0.000377, "XBTUSDT": 0.0002891}
PRICES = {"XBTUSD": (10_000, Decimal("0.5")), "ETHUSD": (200, Decimal("0.05")),
          "XBTUSDT": (10_000, Decimal("0.5"))}


def quotes(scale: Decimal = Decimal(1)) -> dict[str, dict[str, Decimal]]:
    out = {}
    for sym, (price, _) in PRICES.items():
        px = price * scale
        out[sym] = {"Bitstamp": px, "Coinbase": px, "Kraken": px}
    return out


def reference_pay_funding(ex: Any, sym: str, t: int) -> None:
    """Funding as a loop over the positions, each with its own exact rounding and transfer."""
    ex.reference_calls += 1
    f, inst = ex._funding[sym], ex._inst[sym]
    fixing = f.settle(t)
    mark = ex._marks.get(sym)
    positions = [p for (_, s), p in sorted(ex._positions.items()) if s == sym and p.qty]
    if mark is None or not positions or fixing.rate == 0:
        return
    ccy = inst.settle_currency
    num, den = exact_rate(fixing.rate)
    pays = []
    for pos in positions:
        value = inst.mark_value(pos.qty, mark)
        if inst.contract_type is ContractType.INVERSE:
            value = -value  # an inverse long's markValue is negative; it pays when F > 0
        pay = div_round(value * num, den, Rounding.HALF_AWAY)
        book_funding(ex._ledger, ccy, pos, pay)
        if pos.account == LIQUIDATION_ACCOUNT and pay:
            ex._ledger.transfer(ccy, INSURANCE, wallet(pos.account), pay, "engine funding")
        pays.append(pay)
    ex._queue_reindex(dict.fromkeys(key for key in ex._positions if key[1] == sym))
    ex._queue_linked(sym, cross_only=False)
    ex._ledger.transfer(ccy, funding(sym), INSURANCE, sum(pays), "funding residual")
    if ex._emit:
        for pos, pay in zip(positions, pays):
            ex._events.append({
                "seq": ex._seq, "transactTime": t, "execType": "Funding",
                "account": pos.account, "symbol": sym, "currency": ccy,
                "lastQty": pos.qty, "lastPx": Decimal(mark) / E8, "commission": fixing.rate,
                "execComm": pay, "execCost": 0, "text": "Funding"})


def build(seed: int, accounts: int, trades: int) -> Exchange:
    rng = random.Random(seed)
    cfg = {s: FundingConfig.from_margins(i.init_margin, i.maint_margin, initial_rate=RATES[s])
           for s, i in (("XBTUSD", presets.XBTUSD()), ("ETHUSD", presets.ETHUSD()),
                        ("XBTUSDT", presets.XBTUSDT()))}
    ex = Exchange([presets.XBTUSD(), presets.ETHUSD(), presets.XBTUSDT()], funding=cfg,
                  insurance_fund={"XBt": 50 * XBT, "USDt": 10**6 * USDT})
    ex._ledger._journal = []  # record every transfer from here on
    ex.update_index(START, quotes())
    ids = rng.sample(range(1, 10 * accounts), accounts)  # opened in shuffled order
    for a in ids:
        ex.deposit(a, 1_000 * XBT, ts=START)
        ex.deposit(a, 10**7 * USDT, currency="USDt", ts=START)
    for a in ids:
        for sym in PRICES:
            if rng.random() < 0.3:
                ex.set_leverage(a, sym, rng.choice([2, 5, 10, 25]), ts=START)
    history: list[tuple[int, int, str, int, Decimal]] = []
    for _ in range(trades):
        if history and rng.random() < 0.1:  # close a trade again: some positions go flat
            buyer, seller, sym, qty, px = history.pop(rng.randrange(len(history)))
            buyer, seller = seller, buyer
        else:
            buyer, seller = rng.sample(ids, 2)
            sym = rng.choice(list(PRICES))
            lot = 1_000 if sym == "XBTUSDT" else 1
            qty = lot * rng.randint(1, 3_000)
            price, tick = PRICES[sym]
            px = price + tick * rng.randint(-40, 40)
            history.append((buyer, seller, sym, qty, px))
        ex.place(seller, sym, "Sell", qty, px, ts=START)
        ex.place(buyer, sym, "Buy", qty, px, ts=START)
    # a 100x long the engine takes over when the index dips below its liquidation price
    # (9,950.5) but not its bankruptcy price (9,901): the engine holds it through funding
    ex.deposit(1, 10 * XBT, ts=START)
    ex.deposit(2, 10 * XBT, ts=START)
    ex.set_leverage(1, "XBTUSD", 100, ts=START)
    ex.place(2, "XBTUSD", "Sell", 10_000, 10_000, ts=START)
    ex.place(1, "XBTUSD", "Buy", 10_000, 10_000, ts=START)
    ex.update_index(START + 60_000, {"XBTUSD": {n: Decimal(9_930) for n in
                                                ("Bitstamp", "Coinbase", "Kraken")}})
    return ex


def pair(seed: int, accounts: int, trades: int) -> tuple[Exchange, Exchange]:
    fast, plain = build(seed, accounts, trades), build(seed, accounts, trades)
    plain.reference_calls = 0  # type: ignore[attr-defined]
    plain._pay_funding = types.MethodType(reference_pay_funding, plain)  # type: ignore[method-assign]
    assert fast.state_hash() == plain.state_hash()
    return fast, plain


def assert_same(fast: Exchange, plain: Exchange) -> list[dict[str, Any]]:
    events, expected = fast.drain_events(), plain.drain_events()
    assert events == expected
    assert [list(e) for e in events] == [list(e) for e in expected]  # key order too
    assert fast._ledger.transfers == plain._ledger.transfers
    assert fast._ledger.items() == plain._ledger.items()
    assert fast.audit() == plain.audit()
    assert {k: (p.qty, p.cost, p.realised_pnl) for k, p in fast._positions.items()} == \
        {k: (p.qty, p.cost, p.realised_pnl) for k, p in plain._positions.items()}
    assert fast.state_hash() == plain.state_hash()
    assert set(fast.audit().ledger_sum.values()) == {0}
    fast.check_invariants()
    return events


def funding_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["execType"] == "Funding"]


def check_coverage(fast: Exchange, events: list[dict[str, Any]]) -> None:
    """The instant paid every kind of position this test is meant to cover."""
    paid = funding_events(events)
    seen = set()
    for e in paid:
        pos = fast._positions[(e["account"], e["symbol"])]
        seen.add((e["symbol"], e["lastQty"] > 0, pos.leverage > 0))
    assert seen == {(s, long, iso) for s in PRICES for long in (True, False)
                    for iso in (True, False)}
    assert any(e["account"] == LIQUIDATION_ACCOUNT and e["execComm"] for e in paid)
    assert len({e["execComm"] for e in paid}) > len(paid) // 4  # not a degenerate rate


def test_bulk_funding_equals_a_per_position_loop_to_the_unit(seed: int = 3,
                                                            accounts: int = 1_000,
                                                            trades: int = 3_000) -> None:
    fast, plain = pair(seed, accounts, trades)
    for ex in (fast, plain):
        ex.drain_events()
    n_open = sum(1 for p in fast._positions.values() if p.qty)
    assert n_open > 2 * accounts
    fast.advance(DAY + 4 * H)
    plain.advance(DAY + 4 * H)
    events = assert_same(fast, plain)
    assert plain.reference_calls == 3  # type: ignore[attr-defined]
    assert len(funding_events(events)) == n_open
    check_coverage(fast, events)


def test_bulk_funding_stays_equal_when_positions_open_between_instants():
    fast, plain = pair(5, accounts=300, trades=900)
    rng = random.Random(99)
    t = DAY + 4 * H
    for ex in (fast, plain):
        ex.advance(t)
    assert_same(fast, plain)
    # new accounts with ids below, among and above the existing ones, in shuffled order
    newcomers = rng.sample(range(10_000, 10_400), 200) + [0, 3_001]
    for ex in (fast, plain):
        ex.deposit(50_000, 10**4 * XBT, ts=t + H)
        ex.place(50_000, "ETHUSD", "Sell", 7 * len(newcomers), 200, ts=t + H)
        for a in newcomers:
            if a not in ex._accounts:
                ex.deposit(a, 100 * XBT, ts=t + H)
            ex.place(a, "ETHUSD", "Buy", 7, 200, ts=t + H)
        ex.update_index(t + 7 * H, quotes(Decimal("1.001")))
    t += 8 * H
    for ex in (fast, plain):
        ex.advance(t)
    events = assert_same(fast, plain)
    paid = funding_events(events)
    eth = [e["account"] for e in paid if e["symbol"] == "ETHUSD"]
    assert {0, 3_001, 50_000} <= set(eth) and set(newcomers) <= set(eth)
    assert eth == sorted(eth)  # account order, whatever the order positions were opened in


def test_without_events_the_bulk_path_books_the_same_money_and_builds_no_event():
    fast, plain = pair(8, accounts=200, trades=600)
    for ex in (fast, plain):
        ex.drain_events()
        ex._emit = False
        ex.advance(DAY + 4 * H)
        ex._emit = True
    assert fast.drain_events() == plain.drain_events() == []
    assert_same(fast, plain)
