"""The simulation loop over simulated time, and the replay of its journal.

Each step (``run.step_ms``): constituent quotes go to the index (and from it to the mark), the
clock advances (funding when the Exchange does it), then every agent acts in a seeded random
order, and the step's events are folded into trades, notable events and counters. Every
``run.sample_ms`` a sample of prices, open interest, the insurance fund and depth is taken.

All randomness comes from one ``SeedSequence(run.seed)``; nothing reads the wall clock except the
throughput timer, whose figures stay out of the deterministic summary.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from perpex.exchange import LIQUIDATION_ACCOUNT, Exchange, OverloadConfig
from perpex.journal import Journal, read_journal
from perpex.pricing.funding import clamped_rate
from perpex.pricing.index import METHOD_BITMEX, METHOD_OKEX, Index, IndexConfig
from perpex.risk.bands import HUOBI_BTC_USDT_POSITION_LIMITS_2022, PositionLimitTable
from perpex.risk.liquidation import LiquidationConfig, RiskMode
from perpex.sim.agents import Agent, View, make_agent
from perpex.sim.market import Market, Recorder, replay_commands
from perpex.sim.paths import IndexPath, build_path
from perpex.sim.scenario import MAJOR_UNITS, Scenario, parse_scenario

__all__ = ["RunResult", "build_exchange", "replay_journal", "run_scenario"]

SCENARIO_FILE = "scenario.toml"
META_FILE = "meta.json"
USER_CANCEL = ("Canceled: Canceled via API.", "Canceled: Canceled via API (cancel all).")
EVENT_COLUMNS = ("seq", "ts", "execType", "symbol", "account", "side", "ordType", "orderQty",
                 "price", "stopPx", "lastQty", "lastPx", "text")
TRADE_COLUMNS = ("seq", "ts", "symbol", "side", "price", "qty", "taker_account", "taker_fee")
SERIES_COLUMNS = ("ts", "symbol", "index", "mark", "last", "bid", "ask", "open_interest",
                  "insurance_fund", "funding_rate", "funding_source", "liquidations", "adl_fills")
DEPTH_COLUMNS = ("ts", "symbol", "side", "price", "qty")
INTEREST_8H = 0.0001  # BitMEX's 0.01% per 8 hours (interest-rate differential)
_MODES = {"bitmex": "BitMEX", "okex": "OKEx", "huobi": "Huobi"}
_BANDS: dict[str, str | None] = {"none": None, "okex": "OKEx", "huobi": "Huobi"}
# Huobi's table caps position value in USDt, so it binds USDT-settled contracts (XBTUSDT);
# on XBt-settled ones the same integers read as XBt and are far out of reach.
_LIMITS: dict[str, PositionLimitTable | None] = {"none": None, "huobi": HUOBI_BTC_USDT_POSITION_LIMITS_2022}


@dataclass
class RunResult:
    scenario: Scenario
    summary: dict[str, Any]
    trades: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    series: list[tuple[Any, ...]] = field(default_factory=list)
    depth: list[tuple[Any, ...]] = field(default_factory=list)
    liquidations: list[tuple[int, str, str]] = field(default_factory=list)
    wall_seconds: float = 0.0
    engine_seconds: float = 0.0
    exchange: Exchange | None = None  # the Exchange at the end of the run, for inspection

    @property
    def throughput(self) -> float:
        """Journaled commands per second of time spent inside the Exchange."""
        return self.summary["commands"] / self.engine_seconds if self.engine_seconds else 0.0


def _risk_mode(scenario: Scenario) -> str | LiquidationConfig:
    if scenario.repost_after_ms is None:
        return _MODES[scenario.risk_mode]
    return LiquidationConfig(mode=RiskMode.OKEX, repost_after_ms=scenario.repost_after_ms)


def build_exchange(scenario: Scenario) -> Exchange:
    """The Exchange a scenario describes: its instruments, risk mode, opening insurance fund,
    overload protection and (with ``run.pricing = "auto"``) the index of each contract."""
    overload = OverloadConfig(
        price_bands=_BANDS[scenario.price_bands],
        position_limits=_LIMITS[scenario.position_limits],
        circuit_breaker=scenario.circuit_breaker)
    index = None
    if scenario.run.pricing == "auto":
        method = METHOD_OKEX if scenario.risk_mode == "okex" else METHOD_BITMEX
        index = {i.symbol: Index(dict(i.index.constituents), IndexConfig(method=method),
                                 start_ms=scenario.run.start_ms) for i in scenario.instruments}
    return Exchange([i.instrument for i in scenario.instruments], rate_limit=scenario.rate_limit,
                    max_open_orders=scenario.max_open_orders,
                    max_stop_orders=scenario.max_stop_orders, index_constituents=index,
                    risk_mode=_risk_mode(scenario),
                    insurance_fund=dict(scenario.insurance_fund), overload=overload)


def _e8_text(e8: int | None) -> str:
    return "" if e8 is None else str(Decimal(e8).scaleb(-8).normalize())


class _Collector:
    """Folds drained events into trades, notable events and counters."""

    def __init__(self, scenario: Scenario) -> None:
        self.insts = {i.symbol: i.instrument for i in scenario.instruments}
        self.trades: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.liqs: list[tuple[int, str, str]] = []
        self.kinds: Counter[str] = Counter()
        self.volume: Counter[str] = Counter()
        self.turnover: Counter[str] = Counter()  # |execCost| of taker fills, settle minor units
        self.taker_fees: Counter[str] = Counter()
        self.maker_fees: Counter[str] = Counter()
        self.funding_paid: Counter[str] = Counter()
        self.funding_rates: dict[str, float] = {}
        self.last: dict[str, int] = {}
        self.liq_count: Counter[str] = Counter()  # takeovers reported by the engine, per symbol
        self.adl_count: Counter[str] = Counter()  # deleverage fills of traders, per symbol

    def take(self, events: list[Mapping[str, Any]]) -> None:
        for ev in events:
            kind = ev.get("execType", "")
            self.kinds[kind] += 1
            sym = str(ev.get("symbol") or "")
            ccy = ev.get("currency") or ""
            if kind == "Trade":
                comm = int(ev.get("execComm") or 0)
                if ev.get("lastLiquidityInd") == "RemovedLiquidity":
                    inst = self.insts[sym]
                    px = ev["lastPx"]
                    self.last[sym] = inst.price_to_ticks(px)
                    self.volume[sym] += int(ev["lastQty"])
                    self.turnover[ccy] += abs(int(ev.get("execCost") or 0))
                    self.taker_fees[ccy] += comm
                    self.trades.append((ev["seq"], ev["transactTime"], sym, ev["side"], str(px),
                                        int(ev["lastQty"]), ev["account"], comm))
                else:
                    self.maker_fees[ccy] += comm
                continue
            if kind in ("New", "Replaced") or (kind == "Canceled" and ev.get("text") in USER_CANCEL):
                continue
            if kind == "Funding":
                self.funding_paid[ccy] += max(0, int(ev.get("execComm") or 0))
                rate = ev.get("fundingRate", ev.get("commission"))
                if isinstance(rate, (int, float)) and not isinstance(rate, bool):
                    self.funding_rates[sym] = float(rate)
            if kind == "Deleverage" and ev.get("account") == LIQUIDATION_ACCOUNT:
                # the engine's side of an ADL fill mirrors the trader's; keep the trader's only
                self.events.append(self._row(ev))
                continue
            if kind in ("Liquidation", "Deleverage"):
                (self.liq_count if kind == "Liquidation" else self.adl_count)[sym] += 1
                self.liqs.append((int(ev.get("transactTime") or 0), sym or "", str(ev.get("lastPx") or ev.get("price") or "")))
            self.events.append(self._row(ev))

    @staticmethod
    def _row(ev: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple("" if v is None else v for v in
                     (ev.get("transactTime" if c == "ts" else c) for c in EVENT_COLUMNS))


def _paths(scenario: Scenario, steps: int, seeds: list[np.random.SeedSequence]) -> dict[str, IndexPath]:
    return {ic.symbol: build_path(ic.index, steps, scenario.run.step_ms, seeds[k])
            for k, ic in enumerate(scenario.instruments)}


def run_scenario(scenario: Scenario, *, out: Path | None = None, journal: bool = True,
                 progress: bool = False, base: Path | None = None) -> RunResult:
    """Runs ``scenario``; with ``out`` and ``journal`` the command journal goes to ``out/journal``
    (``base``: the scenario file's folder, where a replay resolves relative CSV paths)."""
    wall0 = time.perf_counter()
    r = scenario.run
    steps = (r.end_ms - r.start_ms) // r.step_ms
    n_inst, n_agents = len(scenario.instruments), sum(a.count for a in scenario.agents)
    seeds = np.random.SeedSequence(r.seed).spawn(n_inst + 1 + n_agents)
    paths = _paths(scenario, steps, seeds[:n_inst])
    order_rng = np.random.default_rng(seeds[n_inst])

    jr: Journal | None = None
    if out is not None and journal:
        jdir = Path(out) / "journal"
        jdir.mkdir(parents=True, exist_ok=True)
        for stale in (jdir / "journal.log", jdir / META_FILE):
            stale.unlink(missing_ok=True)
        (jdir / SCENARIO_FILE).write_text(scenario.source, encoding="utf-8")
        jr = Journal(jdir, fsync="never")
    ex = build_exchange(scenario)
    rec = Recorder(ex, jr)
    weights = {ic.symbol: dict(ic.index.constituents) for ic in scenario.instruments}
    market = Market(rec, weights, scenario.risk_mode, r.start_ms, native=r.pricing == "auto")
    agents: list[Agent] = []
    for cfg in scenario.agents:
        inst = scenario.instrument(cfg.symbol)
        for _ in range(cfg.count):
            k = len(agents)
            agents.append(make_agent(k + 1, cfg, inst, np.random.default_rng(seeds[n_inst + 1 + k]),
                                     r.start_ms))
    col = _Collector(scenario)
    series: list[tuple[Any, ...]] = []
    depth: list[tuple[Any, ...]] = []
    premiums: dict[str, list[float]] = {s: [] for s in weights}
    ccys = sorted({ic.instrument.settle_currency for ic in scenario.instruments})
    insurance_start = {c: ex.insurance_fund(c) for c in ccys}

    bar = None
    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                       TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn())
        task = bar.add_task(f"simulating {scenario.name}", total=steps + 1)
        bar.start()
    try:
        for k in range(steps + 1):
            ts = r.start_ms + k * r.step_ms
            quotes = {}
            for sym, path in paths.items():
                q = {n: v for n, v in zip(path.names, path.feeds[k].tolist()) if v == v}
                if q:
                    quotes[sym] = q
            market.feed(ts, quotes)
            market.advance(ts)
            if k == 0:
                for a in agents:
                    a.setup(rec, ts)
            views = {}
            for sym in weights:
                nb = ex.book(sym).native
                m = ex.mark_price(sym)
                views[sym] = View(sym, scenario.instrument(sym), market.index_e8(sym),
                                  None if m is None else int(m * 100_000_000),
                                  int(nb.best_bid() or 0), int(nb.best_ask() or 0), col.last.get(sym, 0))
            for i in order_rng.permutation(len(agents)).tolist():
                a = agents[i]
                a.act(ts, views[a.symbol], rec, ex)
            col.take(rec.take_events())
            if (ts - r.start_ms) % r.sample_ms == 0:
                _sample(ex, scenario, ts, views, col, market, series, depth, premiums)
            if bar is not None and k % 200 == 0:
                bar.update(task, completed=k + 1)
    finally:
        if bar is not None:
            bar.update(task, completed=steps + 1)
            bar.stop()
        if jr is not None:
            jr.close()
    ex.check_invariants()
    _check_positions(ex, rec, agents)
    audit = ex.audit()
    state_hash = ex.state_hash()
    summary = _summary(scenario, steps, rec, market, col, audit, insurance_start, state_hash, paths, ex)
    if jr is not None and out is not None:
        meta = {"state_hash": f"{state_hash:016x}", "commands": rec.commands, "seed": r.seed,
                "base": str(base.resolve()) if base is not None else None}
        (Path(out) / "journal" / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    res = RunResult(scenario, summary, col.trades, col.events, series, depth, col.liqs,
                    time.perf_counter() - wall0, rec.engine_seconds, ex)
    return res


def _check_positions(ex: Exchange, rec: Recorder, agents: list[Agent]) -> None:
    """The sizes the agents acted on must be the Exchange's own."""
    for a in agents:
        held = int(ex.position(a.account, a.symbol)["currentQty"])
        if held != rec.position(a.account, a.symbol):
            raise RuntimeError(f"account {a.account} {a.symbol}: tracked position "
                               f"{rec.position(a.account, a.symbol)} != Exchange's {held}")


def _funding_boundary(inst: Any, ts: int) -> bool:
    iv = inst.funding_interval_ms
    return bool(iv) and (ts - inst.funding_offset_ms) % iv == 0


def _sample(ex: Exchange, scenario: Scenario, ts: int, views: dict[str, View], col: _Collector,
            market: Market, series: list[tuple[Any, ...]], depth: list[tuple[Any, ...]],
            premiums: dict[str, list[float]]) -> None:
    audit = ex.audit()
    for sym, v in views.items():
        inst = v.inst
        if v.bid and v.ask and v.index_e8:
            premiums[sym].append(((v.bid + v.ask) / 2 - v.index_ticks) / v.index_ticks)
        native = market.funding_rate(sym)
        if native is not None:
            rate, source = native, "exchange"
        else:
            p = premiums[sym]
            rate = clamped_rate(float(sum(p) / len(p)), INTEREST_8H) if p else INTEREST_8H
            source = "indicative"
        if _funding_boundary(inst, ts):
            premiums[sym].clear()
        fund = ex.insurance_fund(inst.settle_currency)
        series.append((ts, sym, _e8_text(v.index_e8), _e8_text(v.mark_e8),
                       str(inst.ticks_to_price(col.last[sym])) if sym in col.last else "",
                       str(inst.ticks_to_price(v.bid)) if v.bid else "",
                       str(inst.ticks_to_price(v.ask)) if v.ask else "",
                       int(audit.open_interest.get(sym, 0)), int(fund), f"{rate:.8f}", source,
                       col.liq_count[sym], col.adl_count[sym]))
        bids, asks = ex.book(sym).native.depth(scenario.run.depth_levels)
        depth.extend((ts, sym, "Buy", str(inst.ticks_to_price(p)), int(q)) for p, q in bids)
        depth.extend((ts, sym, "Sell", str(inst.ticks_to_price(p)), int(q)) for p, q in asks)


def _summary(scenario: Scenario, steps: int, rec: Recorder, market: Market, col: _Collector,
             audit: Any, ins_start: dict[str, int], state_hash: int,
             paths: dict[str, IndexPath], ex: Exchange) -> dict[str, Any]:
    ccys = sorted(ins_start)
    unit = {c: MAJOR_UNITS.get(c, 1) for c in ccys}

    def major(d: dict[str, int] | Counter[str]) -> dict[str, str]:
        # Minor units (XBt, USDt) shown in the major currency (XBT, USDT) they are scaled to.
        return {c[:-1] + c[-1].upper(): f"{Decimal(int(d.get(c, 0))).scaleb(-(len(str(unit[c])) - 1)):f}"
                for c in ccys}

    s: dict[str, Any] = {
        "scenario": scenario.name, "seed": scenario.run.seed, "hours": scenario.run.hours,
        "steps": steps + 1, "agents": sum(a.count for a in scenario.agents),
        "pricing": market.mode, "commands": rec.commands, "input_errors": rec.input_errors,
        "trades": len(col.trades),
        "volume_contracts": {s: int(col.volume.get(s, 0)) for s in paths},
        "turnover": major(col.turnover),
        "taker_fees": major(col.taker_fees), "maker_fees": major(col.maker_fees),
        "fees_net": major(Counter({c: col.taker_fees[c] + col.maker_fees[c] for c in ccys})),
        "funding_paid": major(col.funding_paid),
        "funding_events": col.kinds.get("Funding", 0),
        "liquidations": col.kinds.get("Liquidation", 0),
        "liquidations_by_symbol": {s: col.liq_count[s] for s in paths},
        "adl_events": sum(col.adl_count.values()),
        "liquidation_stats": {f"{c}.{k}": v for c in ccys for k, v in sorted(ex.liquidation_stats(c).items())},
        "insurance_fund_start": major(ins_start),
        "insurance_fund_end": major({c: ex.insurance_fund(c) for c in ccys}),
        "open_interest_end": {s: int(audit.open_interest.get(s, 0)) for s in paths},
        "index_low": {s: f"{float(p.truth.min()):.2f}" for s, p in paths.items()},
        "index_end": {s: _e8_text(market.index_e8(s)) for s in paths},
        "events_by_type": dict(sorted(col.kinds.items())),
        "ledgers_balanced": all(v == 0 for v in audit.ledger_sum.values()),
        "state_hash": f"{state_hash:016x}",
    }
    if market.fallback_reason:
        s["pricing_note"] = market.fallback_reason
    return s


def replay_journal(directory: str | Path) -> tuple[int, int | None, int]:
    """Rebuilds a run from ``directory`` (a run's ``journal`` folder, or the run folder
    holding it): returns (state hash, the recorded hash or None, commands applied)."""
    d = Path(directory)
    if not (d / SCENARIO_FILE).exists() and (d / "journal" / SCENARIO_FILE).exists():
        d = d / "journal"
    if not (d / SCENARIO_FILE).exists():
        raise FileNotFoundError(f"{str(d)!r} holds no {SCENARIO_FILE}: not a simulation journal")
    meta = json.loads((d / META_FILE).read_text()) if (d / META_FILE).exists() else {}
    base = Path(meta["base"]) if meta.get("base") else d
    scenario = parse_scenario((d / SCENARIO_FILE).read_text(encoding="utf-8"), base=base)
    ex = build_exchange(scenario)
    n = replay_commands(ex, read_journal(d / "journal.log"))
    expected = int(meta["state_hash"], 16) if "state_hash" in meta else None
    return ex.state_hash(), expected, n

