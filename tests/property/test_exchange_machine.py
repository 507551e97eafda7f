"""Stateful property test: random orders, cancels and mark moves against a small reference
model of wallets and positions that replays each Trade execution with its own arithmetic
(per-contract satoshi rounding, proportional cost release, half-away fees)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from perpex import presets
from perpex.exchange import Exchange

XBT = 100_000_000
ACCOUNTS = (1, 2, 3, 4)
RATES = {"RemovedLiquidity": Fraction(75, 100_000), "AddedLiquidity": Fraction(-25, 100_000)}


def half_away(x: Fraction) -> int:
    n = (abs(x.numerator) * 2 + x.denominator) // (2 * x.denominator)
    return n if x >= 0 else -n


class Model:
    """Wallets and positions from fills alone."""

    def __init__(self) -> None:
        self.wallet = {a: 0 for a in ACCOUNTS}
        self.pos = {a: [0, 0] for a in ACCOUNTS}  # qty, cost

    def trade(self, account: int, side: str, qty: int, price: Fraction, liquidity: str) -> tuple[int, int]:
        per = half_away(Fraction(XBT) / price)
        sq = qty if side == "Buy" else -qty
        cost = -sq * per
        fee = half_away(abs(cost) * RATES[liquidity])
        q0, c0 = self.pos[account]
        if q0 == 0 or (q0 > 0) == (sq > 0):
            self.pos[account] = [q0 + sq, c0 + cost]
        else:
            closing = sq if abs(sq) <= abs(q0) else -q0
            close_cost = cost * closing // sq if abs(sq) <= abs(q0) else cost - half_away(
                Fraction(cost * (sq + q0), sq))
            kept_qty = q0 + closing
            kept_cost = half_away(Fraction(c0 * kept_qty, q0))
            realised = -close_cost - (c0 - kept_cost)
            self.wallet[account] += realised
            self.pos[account] = [kept_qty + (sq - closing), kept_cost + (cost - close_cost)]
        self.wallet[account] -= fee
        return cost, fee


class ExchangeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ex = Exchange([presets.XBTUSD()])
        self.model = Model()
        self.ts = 0
        for a in ACCOUNTS:
            self.ex.deposit(a, 10 * XBT)
            self.model.wallet[a] += 10 * XBT
        self.ex.set_mark("XBTUSD", 10_000)

    def consume(self) -> None:
        fills = [ev for ev in self.ex.drain_events() if ev["execType"] == "Trade"]
        assert len(fills) % 2 == 0  # taker and maker report each fill
        for i in range(0, len(fills), 2):
            # the engine books the buyer's side of a fill first (it matters for self-trades)
            for ev in sorted(fills[i:i + 2], key=lambda e: e["side"] != "Buy"):
                cost, fee = self.model.trade(ev["account"], ev["side"], ev["lastQty"],
                                             Fraction(ev["lastPx"]), ev["lastLiquidityInd"])
                assert (ev["execCost"], ev["execComm"]) == (cost, fee)

    def tick(self) -> int:
        self.ts += 1
        return self.ts

    @rule(a=st.sampled_from(ACCOUNTS), side=st.sampled_from(["Buy", "Sell"]),
          px=st.integers(19_900, 20_100), qty=st.integers(1, 300),
          tif=st.sampled_from(["GoodTillCancel", "ImmediateOrCancel", "FillOrKill"]))
    def limit(self, a, side, px, qty, tif):
        self.ex.place(a, "XBTUSD", side, qty, px / 2, time_in_force=tif, ts=self.tick())
        self.consume()

    @rule(a=st.sampled_from(ACCOUNTS), side=st.sampled_from(["Buy", "Sell"]), qty=st.integers(1, 500))
    def market(self, a, side, qty):
        self.ex.place(a, "XBTUSD", side, qty, ts=self.tick())
        self.consume()

    @rule(a=st.sampled_from(ACCOUNTS), side=st.sampled_from(["Buy", "Sell"]), qty=st.integers(1, 200),
          px=st.integers(19_900, 20_100))
    def reduce_only(self, a, side, qty, px):
        self.ex.place(a, "XBTUSD", side, qty, px / 2, exec_inst="ReduceOnly", ts=self.tick())
        self.consume()

    @precondition(lambda self: any(self.ex.open_orders(a) for a in ACCOUNTS))
    @rule(data=st.data())
    def cancel(self, data):
        live = [(a, o["orderID"]) for a in ACCOUNTS for o in self.ex.open_orders(a)]
        a, oid = data.draw(st.sampled_from(live))
        self.ex.cancel(a, oid, ts=self.tick())
        self.consume()

    @rule(step=st.integers(-200, 200))
    def move_mark(self, step):
        mark = self.ex.mark_price("XBTUSD")
        self.ex.set_mark("XBTUSD", max(5_000, mark + step), ts=self.tick())
        self.consume()

    @invariant()
    def matches_model_and_conserves_money(self):
        for a in ACCOUNTS:
            pos = self.ex.position(a, "XBTUSD")
            assert [pos["currentQty"], pos["currentCost"]] == self.model.pos[a]
            assert self.ex.margin(a)["walletBalance"] == self.model.wallet[a]
        audit = self.ex.audit()
        assert audit.ledger_sum == {"XBt": 0} and audit.net_position == {"XBTUSD": 0}
        self.ex.check_invariants()
        for a in ACCOUNTS:  # resting reduce-only orders never exceed the position
            qty = self.ex.position(a, "XBTUSD")["currentQty"]
            ro = [o for o in self.ex.open_orders(a) if "ReduceOnly" in o["execInst"]]
            assert all((o["side"] == "Sell") == (qty > 0) for o in ro)
            assert sum(o["leavesQty"] for o in ro) <= abs(qty)


TestExchangeMachine = ExchangeMachine.TestCase
