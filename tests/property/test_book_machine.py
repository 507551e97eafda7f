"""Stateful model comparison: the native book and RefBook receive the same commands.

After every step the two must agree on the outcome (return value or exception class), the
events one by one, depth, best bid/ask, counts and state_hash(); both must pass
check_invariants(). Prices live in a narrow band so that crossing, icebergs and triggers are
common.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.model import (
    BUY, FEED_INDEX, FEED_LAST, FEED_MARK, FLAG_POST_ONLY, FLAG_REDUCE_ONLY, FLAG_TRAILING, FOK,
    GTC, IOC, LIMIT_IF_TOUCHED, MARKET, MARKET_IF_TOUCHED, SELL, STOP, STOP_LIMIT,
    as_tuples, trigger_rises,
)
from tests.model.ref_book import RefBook

native = pytest.importorskip("perpex._native")

ACCT = st.integers(1, 4)
SIDE = st.sampled_from([BUY, SELL])
PX = st.integers(95, 105)
QTY = st.integers(1, 10)
FEED = st.sampled_from([FEED_LAST, FEED_MARK, FEED_INDEX])
DISPLAY = st.sampled_from([-1, -1, -1, 0, 1, 2, 3])


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except Exception as exc:  # the class is what must agree, not the message
        return ("raised", type(exc))


class BookMachine(RuleBasedStateMachine):
    @initialize(hold=st.booleans())
    def setup(self, hold: bool) -> None:
        self.nat = native.OrderBook(hold_triggered=hold)
        self.ref = RefBook(hold_triggered=hold)
        self.next_id = 1
        self.log: list[str] = []

    def both(self, what: str, fn: Callable[[Any], Any]) -> None:
        self.log.append(what)
        got = outcome(lambda: fn(self.nat))
        exp = outcome(lambda: fn(self.ref))
        assert got == exp, f"{what}: native {got} != model {exp}"
        got_ev = as_tuples(self.nat.drain_events())
        exp_ev = as_tuples(self.ref.drain_events())
        for k, (g, e) in enumerate(zip(got_ev, exp_ev)):
            assert g == e, f"{what}: event {k}: native {g} != model {e}"
        assert len(got_ev) == len(exp_ev), f"{what}: native {got_ev} != model {exp_ev}"

    def new_id(self, stale: bool) -> int:
        if stale and self.next_id > 1:
            return self.next_id - 1
        self.next_id += 1
        return self.next_id - 1

    @rule(a=ACCT, side=SIDE, px=PX, q=QTY, tif=st.sampled_from([GTC, GTC, GTC, IOC, FOK]),
          post=st.booleans(), display=DISPLAY, reduce=st.booleans())
    def add_limit(self, a: int, side: int, px: int, q: int, tif: int, post: bool, display: int,
                  reduce: bool) -> None:
        flags = (FLAG_POST_ONLY if post and tif == GTC else 0) | (FLAG_REDUCE_ONLY if reduce else 0)
        oid = self.new_id(False)
        self.both(f"add({oid}, {a}, {side}, {px}, {q}, tif={tif}, flags={flags}, "
                  f"display_qty={display})",
                  lambda b: b.add(oid, a, side, px, q, tif=tif, flags=flags, display_qty=display))

    @rule(a=ACCT, side=SIDE, q=st.integers(1, 30), protect=st.sampled_from([0, 0, 97, 100, 103]),
          fok=st.booleans())
    def add_market(self, a: int, side: int, q: int, protect: int, fok: bool) -> None:
        oid = self.new_id(False)
        tif = FOK if fok else GTC
        self.both(f"add({oid}, {a}, {side}, {protect}, {q}, ord_type=MARKET, tif={tif})",
                  lambda b: b.add(oid, a, side, protect, q, ord_type=MARKET, tif=tif))

    @rule(a=ACCT, side=SIDE,
          t=st.sampled_from([STOP, STOP_LIMIT, MARKET_IF_TOUCHED, LIMIT_IF_TOUCHED]),
          stop=PX, px=PX, q=QTY, feed=FEED, trailing=st.booleans(), dist=st.integers(1, 6),
          display=st.sampled_from([-1, -1, 0, 2]), tif=st.sampled_from([GTC, GTC, IOC, FOK]))
    def add_conditional(self, a: int, side: int, t: int, stop: int, px: int, q: int, feed: int,
                        trailing: bool, dist: int, display: int, tif: int) -> None:
        oid = self.new_id(False)
        limit_type = t in (STOP_LIMIT, LIMIT_IF_TOUCHED)
        kw: dict[str, int] = {"ord_type": t, "trigger": feed, "tif": tif,
                              "display_qty": display if limit_type else -1}
        if trailing:
            kw["flags"] = FLAG_TRAILING
            kw["peg_offset"] = dist if trigger_rises(side, t) else -dist
        else:
            kw["stop_px"] = stop
        price = px if limit_type else 0
        self.both(f"add({oid}, {a}, {side}, {price}, {q}, **{kw})",
                  lambda b: b.add(oid, a, side, price, q, **kw))

    @rule(data=st.data(), bad=st.sampled_from([
        {"price": 0}, {"qty": 0}, {"side": 2}, {"tif": 5}, {"display_qty": -3},
        {"ord_type": STOP}, {"ord_type": STOP, "stop_px": 99, "trigger": 7},
        {"flags": FLAG_TRAILING}, {"ord_type": MARKET, "flags": FLAG_POST_ONLY, "price": 0},
        {"stale": 1}]))
    def add_malformed(self, data: st.DataObject, bad: dict[str, int]) -> None:
        kw = {"order_id": self.new_id("stale" in bad), "account": 1, "side": BUY, "price": 100,
              "qty": 1}
        kw.update({k: v for k, v in bad.items() if k != "stale"})
        self.both(f"add(**{kw})", lambda b: b.add(**kw))

    def pick(self, data: st.DataObject) -> int:
        return data.draw(st.integers(1, max(1, self.next_id)), label="order_id")

    @rule(data=st.data(), acct=st.one_of(st.none(), ACCT))
    def cancel(self, data: st.DataObject, acct: int | None) -> None:
        oid = self.pick(data)
        self.both(f"cancel({oid}, account={acct})", lambda b: b.cancel(oid, account=acct))

    @rule(data=st.data(), q=st.one_of(st.none(), QTY), px=st.one_of(st.none(), PX),
          stop=st.one_of(st.none(), PX), peg=st.one_of(st.none(), st.integers(-6, 6)),
          acct=st.one_of(st.none(), ACCT))
    def amend(self, data: st.DataObject, q: int | None, px: int | None, stop: int | None,
              peg: int | None, acct: int | None) -> None:
        oid = self.pick(data)
        self.both(f"amend({oid}, qty={q}, price={px}, stop_px={stop}, peg_offset={peg}, "
                  f"account={acct})",
                  lambda b: b.amend(oid, qty=q, price=px, stop_px=stop, peg_offset=peg,
                                    account=acct))

    @rule(data=st.data(), q=QTY)
    def amend_qty(self, data: st.DataObject, q: int) -> None:
        oid = self.pick(data)
        self.both(f"amend({oid}, qty={q})", lambda b: b.amend(oid, qty=q))

    @rule(a=ACCT)
    def cancel_all(self, a: int) -> None:
        self.both(f"cancel_all({a})", lambda b: b.cancel_all(a))

    @rule(feed=FEED, px=PX, ceil=st.sampled_from([None, None, None, 1]))
    def set_price(self, feed: int, px: int, ceil: int | None) -> None:
        c = None if ceil is None else px + ceil
        self.both(f"set_trigger_price({feed}, {px}, {c})",
                  lambda b: b.set_trigger_price(feed, px, c))

    @rule(data=st.data(), q=QTY)
    def activate(self, data: st.DataObject, q: int) -> None:
        oid = self.pick(data)
        self.both(f"activate({oid}, {q})", lambda b: b.activate(oid, q))

    @invariant()
    def books_agree(self) -> None:
        if not hasattr(self, "nat"):
            return
        self.nat.check_invariants()
        self.ref.check_invariants()
        for query in ("best_bid", "best_ask"):
            assert getattr(self.nat, query)() == getattr(self.ref, query)(), query
        assert self.nat.depth(10) == self.ref.depth(10)
        assert (self.nat.order_count, self.nat.conditional_count) == (
            self.ref.order_count, self.ref.conditional_count)
        for feed in (FEED_LAST, FEED_MARK, FEED_INDEX):
            assert self.nat.last_price(feed) == self.ref.last_price(feed)
        assert self.nat.state_hash() == self.ref.state_hash(), "state_hash differs"


TestBookMachine = BookMachine.TestCase
