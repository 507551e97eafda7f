"""The five agent kinds: small deterministic policies acting through Exchange commands.

Each agent owns one account, a seeded NumPy Generator and its parameters (validated by
:mod:`perpex.sim.scenario`). At every step the runner hands it a :class:`View` of its
instrument and the command :class:`~perpex.sim.market.Recorder`; it reads its own position from
the Exchange and sends commands stamped with the simulated time. Quantities are whole lots,
prices whole ticks (converted to human Decimals only at the call).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from perpex.instruments import Instrument
from perpex.sim.market import Recorder
from perpex.sim.scenario import HOUR_MS, MAJOR_UNITS, AgentConfig

__all__ = ["AGENT_CLASSES", "Agent", "FundingArb", "MarketMaker", "NoiseTrader", "TrendFollower",
           "View", "Whale", "make_agent"]

POST_ONLY = "ParticipateDoNotInitiate"


@dataclass(frozen=True)
class View:
    """What every agent sees of one instrument at a step (prices in ticks, 0 when absent)."""

    symbol: str
    inst: Instrument
    index_e8: int | None
    mark_e8: int | None
    bid: int
    ask: int
    last: int

    @property
    def mark_ticks(self) -> float:
        return (self.mark_e8 or 0) / self.inst.e8_per_tick

    @property
    def index_ticks(self) -> float:
        return (self.index_e8 or 0) / self.inst.e8_per_tick


class Agent(ABC):
    kind = ""

    def __init__(self, account: int, cfg: AgentConfig, inst: Instrument, rng: np.random.Generator,
                 start_ms: int) -> None:
        self.account, self.cfg, self.inst, self.rng = account, cfg, inst, rng
        self.symbol = inst.symbol
        self.p: dict[str, Any] = dict(cfg.params)
        self.start_ms = start_ms

    # ---- helpers
    def px(self, ticks: int) -> Decimal:
        return self.inst.ticks_to_price(int(ticks))

    def lots(self, qty: float) -> int:
        lot = self.inst.lot_size
        return max(lot, int(qty) // lot * lot)

    def position(self, rec: Recorder) -> int:
        return rec.position(self.account, self.symbol)

    def setup(self, rec: Recorder, ts: int) -> None:
        unit = MAJOR_UNITS[self.inst.settle_currency]
        rec("deposit", self.account, int(round(self.p["balance"] * unit)),
            currency=self.inst.settle_currency, ts=ts)
        lev = float(self.p.get("leverage", 0.0))
        if lev > 0:
            rec("set_leverage", self.account, self.symbol, min(lev, self.inst.max_leverage()), ts=ts)

    @abstractmethod
    def act(self, ts: int, view: View, rec: Recorder, ex: Any) -> None:
        """One decision step at simulated time ``ts``."""


class MarketMaker(Agent):
    """Post-only ladder around the mark, skewed against inventory and widened after moves."""

    kind = "market_maker"

    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.next_ms = self.start_ms + int(self.rng.integers(0, self.p["requote_ms"]))
        self.last_ref: float | None = None
        self.quoted = False

    def act(self, ts: int, view: View, rec: Recorder, ex: Any) -> None:
        if ts < self.next_ms or not view.mark_e8:
            return
        self.next_ms = ts + self.p["requote_ms"]
        ref = view.mark_ticks
        move = abs(ref - self.last_ref) if self.last_ref is not None else 0.0
        self.last_ref = ref
        pos = self.position(rec)
        if self.quoted:
            rec("cancel_all", self.account, self.symbol, ts=ts)
        limit = self.p["max_inventory"]
        skew = -self.p["skew_ticks"] * max(-1.0, min(1.0, pos / limit))
        half = self.p["spread_ticks"] + int(min(move, 50 * self.p["spread_ticks"]))
        centre = int(round(ref + skew))
        self.quoted = False
        for k in range(self.p["levels"]):
            off = half + k * self.p["level_step_ticks"]
            qty = self.lots(self.p["size"] * (1 + k) * float(self.rng.uniform(0.7, 1.3)))
            bid, ask = centre - off, centre + off
            if pos < limit and bid >= 1:
                rec("place", self.account, self.symbol, "Buy", qty, self.px(bid),
                    exec_inst=POST_ONLY, ts=ts)
                self.quoted = True
            if pos > -limit and ask <= self.inst.max_price_ticks:
                rec("place", self.account, self.symbol, "Sell", qty, self.px(ask),
                    exec_inst=POST_ONLY, ts=ts)
                self.quoted = True


class NoiseTrader(Agent):
    """Poisson arrivals of market orders and marketable IOC limits with lognormal sizes."""

    kind = "noise"

    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.last_ts: int | None = None

    def act(self, ts: int, view: View, rec: Recorder, ex: Any) -> None:
        dt = 0 if self.last_ts is None else ts - self.last_ts
        self.last_ts = ts
        n = int(self.rng.poisson(self.p["rate_per_min"] * dt / 60_000))
        for _ in range(n):
            side = "Buy" if self.rng.random() < 0.5 else "Sell"
            qty = self.lots(self.p["size_median"] * math.exp(self.p["size_sigma"] * float(self.rng.normal())))
            touch = view.ask if side == "Buy" else view.bid
            if touch and self.rng.random() < self.p["limit_fraction"]:
                through = int(self.rng.integers(0, 4))
                price = touch + through if side == "Buy" else max(1, touch - through)
                rec("place", self.account, self.symbol, side, qty, self.px(price),
                    time_in_force="ImmediateOrCancel", ts=ts)
            else:
                rec("place", self.account, self.symbol, side, qty, ts=ts)


class TrendFollower(Agent):
    """EMA crossover on the mark; leveraged entries protected by a stop and a trailing stop."""

    kind = "trend"

    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.fast: float | None = None
        self.slow = 0.0
        self.last_ts = 0
        self.side = 0
        self.cool_until = 0

    def act(self, ts: int, view: View, rec: Recorder, ex: Any) -> None:
        if not view.mark_e8:
            return
        m = view.mark_ticks
        if self.fast is None:
            self.fast = self.slow = m
            self.last_ts = ts
            return
        dt = ts - self.last_ts
        self.last_ts = ts
        self.fast += (m - self.fast) * (1 - math.exp(-dt / self.p["fast_ms"]))
        self.slow += (m - self.slow) * (1 - math.exp(-dt / self.p["slow_ms"]))
        signal = (self.fast - self.slow) / self.slow
        thr = self.p["threshold"]
        if self.side:
            pos = self.position(rec)
            if pos == 0 or pos * self.side < 0:  # stopped out (or flipped by a stop)
                self._flat(ts, rec, ex, pos)
            elif signal * self.side < -thr / 2:  # the trend turned: close now
                self._flat(ts, rec, ex, pos)
            return
        if ts < self.cool_until or abs(signal) < thr:
            return
        side = 1 if signal > 0 else -1
        qty = self.lots(self.p["size"] * float(self.rng.uniform(0.5, 1.5)))
        out = rec("place", self.account, self.symbol, "Buy" if side > 0 else "Sell", qty, ts=ts)
        if out is None or not out.accepted or not out.cum_qty:
            self.cool_until = ts + self.p["cooldown_ms"]
            return
        self.side = side
        filled = int(out.cum_qty)
        exit_side = "Sell" if side > 0 else "Buy"
        trig = self.p["trigger"]
        stop = int(round(m * (1 - side * self.p["stop_pct"])))
        trail = max(1, int(round(m * self.p["trail_pct"])))
        if stop >= 1:
            rec("place", self.account, self.symbol, exit_side, filled, ord_type="Stop",
                stop_px=self.px(stop), exec_inst=("ReduceOnly", trig), ts=ts)
        rec("place", self.account, self.symbol, exit_side, filled, ord_type="Stop",
            peg_price_type="TrailingStopPeg", peg_offset_value=self.px(trail) * -side,
            exec_inst=("ReduceOnly", trig), ts=ts)

    def _flat(self, ts: int, rec: Recorder, ex: Any, pos: int) -> None:
        rec("cancel_all", self.account, self.symbol, ts=ts)
        if pos:
            rec("place", self.account, self.symbol, "Sell" if pos > 0 else "Buy", None,
                exec_inst="Close", ts=ts)
        self.side = 0
        self.cool_until = ts + self.p["cooldown_ms"]


class FundingArb(Agent):
    """Takes the side that receives funding when the book trades away from the index, and
    unwinds as the premium closes."""

    kind = "funding_arb"

    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.next_ms = self.start_ms + int(self.rng.integers(0, self.p["interval_ms"]))

    def act(self, ts: int, view: View, rec: Recorder, ex: Any) -> None:
        if ts < self.next_ms or not view.index_e8 or not view.bid or not view.ask:
            return
        self.next_ms = ts + self.p["interval_ms"]
        premium = ((view.bid + view.ask) / 2 - view.index_ticks) / view.index_ticks
        thr, size, cap = self.p["threshold"], self.p["size"], self.p["max_position"]
        pos = self.position(rec)
        if premium > thr and pos > -cap:
            rec("place", self.account, self.symbol, "Sell", self.lots(min(size, cap + pos)), ts=ts)
        elif premium < -thr and pos < cap:
            rec("place", self.account, self.symbol, "Buy", self.lots(min(size, cap - pos)), ts=ts)
        elif abs(premium) < thr / 4 and pos:
            rec("place", self.account, self.symbol, "Buy" if pos < 0 else "Sell",
                self.lots(min(size, abs(pos))), exec_inst="ReduceOnly", ts=ts)


class Whale(Agent):
    """Dumps ``qty`` in market-order chunks at ``sell_at_hours`` and buys it back later."""

    kind = "whale"

    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        every = self.p["over_minutes"] * 60_000 / self.p["chunks"]
        plan: list[tuple[int, str]] = []
        for at, side in ((self.p["sell_at_hours"], "Sell"), (self.p["buy_at_hours"], "Buy")):
            t0 = self.start_ms + round(at * HOUR_MS)
            plan += [(t0 + round(i * every), side) for i in range(self.p["chunks"])]
        self.plan = plan
        self.chunk = self.lots(self.p["qty"] / self.p["chunks"])

    def act(self, ts: int, view: View, rec: Recorder, ex: Any) -> None:
        while self.plan and self.plan[0][0] <= ts:
            _, side = self.plan.pop(0)
            rec("place", self.account, self.symbol, side, self.chunk, ts=ts)


AGENT_CLASSES: dict[str, type[Agent]] = {
    c.kind: c for c in (MarketMaker, NoiseTrader, TrendFollower, FundingArb, Whale)}


def make_agent(account: int, cfg: AgentConfig, inst: Instrument, rng: np.random.Generator,
               start_ms: int) -> Agent:
    return AGENT_CLASSES[cfg.kind](account, cfg, inst, rng, start_ms)
