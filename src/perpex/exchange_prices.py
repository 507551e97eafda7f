"""The price pipeline inside :class:`perpex.exchange.Exchange` (MECHANICS §4-6, §11; DESIGN.md
data flow): index quotes -> index prints every 5 s -> index triggers and the mark -> mark
triggers; the clock -> minute funding samples, funding payments, dated-futures settlement.

Every instant between the last processed time and the command's ``ts`` is replayed in time
order, and at one instant the work runs in a fixed order: index prints (each updates the index
feed, the settlement TWAP and the mark), then a funding payment due then, then the funding
sample of that minute (it belongs to the interval that starts there), then an expiry. So the
mark paid at a funding instant is the fair price with zero time to funding, i.e. the index,
and the next interval's basis appears from the next print on.

Choices where the documents are silent:
- the pipeline clock starts at the first ``update_index``/``advance``: indices and funding
  schedules are created then, so nothing is replayed from epoch 0;
- impact notionals: USD 10,000 for perpetuals and USD 200,000 for inverse futures (Decision 6),
  in quote units for inverse and linear contracts; a quanto contract, whose USD notional needs
  a cross rate, uses the older ``0.1 XBT / initMargin`` rule in settle units;
- a futures basis is re-estimated only on minute prints (the estimate refreshes every 60 s);
- a dated future whose settlement window has no index print settles at its last mark;
- the settlement close books each position's value at the settlement price through the
  contract's clearing ledger (``funding(symbol)``), whose rounding residual (non-zero only for
  per-position rounded linear values) is swept to the insurance fund like funding's;
- the interest component starts at ``interest_8h`` (scaled to the funding interval) and moves
  with ``set_interest_rates``: I = (quote - base daily rate) / funding intervals per day for
  every minute sample after the command's time. Daily rates are bounded by +/-10% a day
  (``MAX_DAILY_INTEREST``), far beyond any borrowing rate, to catch unit mistakes. The rates
  set are part of the exported state once a rate has been set (so a run that never sets one
  keeps its state hash).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from perpex import _native
from perpex.accounts.ledger import INSURANCE, funding as clearing
from perpex.accounts.position import book_fee
from perpex.errors import (
    ArithmeticOverflowError, InvalidConfigError, InvalidInputError, InvariantViolation,
    UnknownSymbolError)
from perpex.exchange_funding import FundingMixin
from perpex.instruments import E8, ContractType, Instrument
from perpex.orders import Outcome
from perpex.pricing import (
    Funding, FundingConfig, FuturesFairBasis, Index, SettlementTwap,
    impact_prices, interest_rate, perpetual_fair_price, premium_index, settlement_fees,
    to_e8)
from perpex.pricing._units import Number, rate_fraction
from perpex.rounding import exact_rate

DEFAULT_CONSTITUENTS = ("Bitstamp", "Coinbase", "Kraken")
EIGHT_HOURS_MS = 8 * 3_600_000
DAY_MS = 24 * 3_600_000
MAX_DAILY_INTEREST = Fraction(1, 10)
SETTLED_TEXT = "Instrument is settled"
_SETTLE_MINOR = {"XBt": 10**8, "USDt": 10**6}
_NEVER = 2**63


class PricingMixin(FundingMixin):
    """``update_index``, ``advance``, ``instrument_state`` and the pipeline state."""

    def _init_pricing(self, index_constituents: Mapping[str, object] | None,
                      funding: Mapping[str, FundingConfig] | None, interest_8h: float,
                      impact_notional: Mapping[str, Number] | None) -> None:
        given = dict(index_constituents or {})
        fund = dict(funding or {})
        notional = dict(impact_notional or {})
        for name, table in (("index_constituents", given), ("funding", fund),
                            ("impact_notional", notional)):
            for sym in table:
                if sym not in self._inst:
                    raise UnknownSymbolError(f"{name} names symbol={sym!r}, which is not listed")
        self._index_spec: dict[str, Index | dict[str, Number]] = {}
        seen: set[int] = set()
        for sym, inst in self._inst.items():
            spec = given.get(sym)
            if spec is None:
                spec = {name: 1 for name in DEFAULT_CONSTITUENTS}
            if isinstance(spec, Index):
                if id(spec) in seen:
                    raise InvalidConfigError(f"symbol={sym!r} shares an Index object; give each "
                                             "symbol its own")
                seen.add(id(spec))
            elif isinstance(spec, Mapping):
                Index(spec)  # validates the weights now
                spec = dict(spec)
            else:
                raise InvalidConfigError(f"index_constituents[{sym!r}] must be a mapping "
                                         f"name -> weight or an Index, got {spec!r}")
            self._index_spec[sym] = spec
        self._funding_cfg: dict[str, FundingConfig] = {}
        for sym, inst in self._inst.items():
            if not inst.is_perpetual:
                if sym in fund:
                    raise InvalidConfigError(f"funding given for dated future {sym}")
                continue
            cfg = fund.get(sym)
            if cfg is None:
                cfg = FundingConfig.from_margins(
                    inst.init_margin, inst.maint_margin, interval_ms=inst.funding_interval_ms,
                    anchor_ms=inst.funding_offset_ms)
            elif not isinstance(cfg, FundingConfig):
                raise InvalidConfigError(f"funding[{sym!r}] must be a FundingConfig")
            self._funding_cfg[sym] = cfg
        try:
            num, den = exact_rate(interest_8h, "interest_8h")
        except (TypeError, ValueError) as exc:
            raise InvalidConfigError(str(exc)) from None
        self._interest = {s: float(Fraction(num, den) * c.interval_ms / EIGHT_HOURS_MS)
                          for s, c in self._funding_cfg.items()}
        self._impact: dict[str, Fraction] = {}
        for sym, inst in self._inst.items():
            if sym in notional:
                value = Fraction(*exact_rate(notional[sym], "impact_notional"))
                if value <= 0:
                    raise InvalidConfigError(f"impact_notional[{sym!r}]={notional[sym]} must be > 0")
            elif inst.contract_type is ContractType.QUANTO:
                im = Fraction(*exact_rate(inst.init_margin))
                value = Fraction(_SETTLE_MINOR.get(inst.settle_currency, E8), 10) / im
            else:
                value = Fraction(10_000 if inst.is_perpetual else 200_000)
            if inst.contract_type is ContractType.LINEAR and inst.settle_currency not in _SETTLE_MINOR:
                raise InvalidConfigError(f"{sym}: unknown minor unit of {inst.settle_currency}")
            self._impact[sym] = value
        # ---- state (serialised by _pricing_state)
        self._clock: int | None = None
        self._index: dict[str, Index] = {}
        self._funding: dict[str, Funding] = {}
        self._basis: dict[str, FuturesFairBasis] = {}
        self._twap: dict[str, SettlementTwap] = {}
        self._settled: dict[str, int] = {}
        # symbol -> (ts, quote daily, base daily) of the last set_interest_rates
        self._interest_set: dict[str, tuple[int, float, float]] = {}
        # derived from _positions, not state
        self._init_registry()

    # ================================================================ commands
    def update_index(self, ts: int, quotes: Mapping[str, Any]) -> Outcome:
        """Constituent last prices at ``ts``: ``{name: price}`` (every listed contract, which
        must share one underlying) or ``{symbol: {name: price}}``. Validated in full first;
        then time runs to ``ts`` (see :meth:`advance`) with the new quotes in the prints at
        and after ``ts``."""
        self._check_live()
        if ts is None:
            raise TypeError("ts is required")
        t = self._check_ts(ts)
        per_symbol = self._quotes(quotes)

        def run() -> Outcome:
            if self._clock is None:
                self._start(t)
            self._run_clock(t - 1)
            for sym, prices in per_symbol.items():
                # the index converts human numbers; an exact Fraction round-trips the e8 value
                self._index[sym].update(t, {n: Fraction(v, E8) for n, v in prices.items()})
            self._run_clock(t)
            return Outcome(self._seq)
        return self._commit(t, run)

    def advance(self, ts: int) -> Outcome:
        """Moves simulated time to ``ts``: index prints, marks and their triggers, funding
        samples and payments, dated-futures settlement, in time order."""
        self._check_live()
        if ts is None:
            raise TypeError("ts is required")
        t = self._check_ts(ts)

        def run() -> Outcome:
            self._run_clock(t)
            return Outcome(self._seq)
        return self._commit(t, run)

    def set_interest_rates(self, symbol: str, quote_daily: float, base_daily: float, *,
                           ts: int) -> Outcome:
        """The daily borrow rates of the perpetual's quote and base currencies after ``ts``
        (BitMEX's interest indices, MECHANICS §6.1): time runs to ``ts`` (its minute sample
        keeps the rate in force until then), and every funding sample after ``ts`` uses
        ``I = (quote_daily - base_daily) / funding intervals per day``."""
        self._check_live()
        if ts is None:
            raise TypeError("ts is required")
        inst = self._instrument(symbol)
        sym = inst.symbol
        if not inst.is_perpetual:
            raise InvalidInputError(f"{sym} is a dated future: it has no funding interest")
        # interest_rate validates both rates (finite numbers, not bool)
        interval = self._funding_cfg[sym].interval_ms
        interest = interest_rate(quote_daily, base_daily, DAY_MS // interval)
        rates = []
        for name, value in (("quote_daily", quote_daily), ("base_daily", base_daily)):
            if abs(rate_fraction(value, name)) > MAX_DAILY_INTEREST:
                raise InvalidInputError(f"{name}={value!r} must be within +/-"
                                        f"{float(MAX_DAILY_INTEREST):.0%} a day")
            rates.append(float(value))
        t = self._check_ts(ts)

        def run() -> Outcome:
            # the sample at ts itself may already be taken (an earlier command at ts): only
            # later ones change, whatever ran before
            self._run_clock(t)
            self._interest[sym] = interest
            self._interest_set[sym] = (t, rates[0], rates[1])
            return Outcome(self._seq)
        return self._commit(t, run)

    def _quotes(self, quotes: object) -> dict[str, dict[str, int]]:
        if not isinstance(quotes, Mapping) or not quotes:
            raise InvalidInputError(f"quotes={quotes!r} must be a non-empty mapping")
        nested = [isinstance(v, Mapping) for v in quotes.values()]
        if all(nested):
            raw = {}
            for sym, prices in quotes.items():
                raw[self._instrument(sym).symbol] = prices
        elif any(nested):
            raise InvalidInputError("quotes must be {name: price} or {symbol: {name: price}}, "
                                    "not a mix")
        else:
            underlyings = sorted({i.underlying for i in self._inst.values()})
            if len(underlyings) > 1:
                raise InvalidInputError(f"quotes must be keyed by symbol: the listed contracts "
                                        f"have several underlyings ({', '.join(underlyings)})")
            raw = {sym: quotes for sym in self._symbols}
        out: dict[str, dict[str, int]] = {}
        for sym in sorted(raw):
            inst, prices = self._inst[sym], raw[sym]
            names = self._constituents(sym)
            if not prices:
                raise InvalidInputError(f"quotes for {sym} must not be empty")
            checked: dict[str, int] = {}
            for name, value in prices.items():
                if name not in names:
                    raise UnknownSymbolError(f"constituent={name!r} is not in the {sym} index; "
                                             f"known: {', '.join(names)}")
                e8 = to_e8(value, f"quotes[{sym!r}][{name!r}]")
                if e8 > inst.ticks_to_e8(inst.max_price_ticks):
                    raise ArithmeticOverflowError(f"quotes[{sym!r}][{name!r}]={value} is above "
                                                  f"the maximum price {inst.max_price}")
                checked[name] = e8
            out[sym] = checked
        return out

    def _constituents(self, sym: str) -> tuple[str, ...]:
        spec = self._index_spec[sym]
        return spec.constituents if isinstance(spec, Index) else tuple(spec)

    # ================================================================ queries
    def index_price_e8(self, symbol: str) -> int | None:
        """The published index in 1e-8 units (``instrument_state``'s ``indexPriceE8``), None
        before the first index print: for callers that read it every step."""
        index = self._index.get(self._instrument(symbol).symbol)
        return None if index is None else index.price_e8

    def instrument_state(self, symbol: str) -> dict[str, Any]:
        """BitMEX-like instrument fields of the pipeline: prices as Decimal, rates as float,
        times as int ms (None before the pipeline has started)."""
        inst = self._instrument(symbol)
        sym = inst.symbol
        index = self._index.get(sym)
        idx = index.price_e8 if index is not None else None
        mark = self._marks.get(sym)
        out: dict[str, Any] = {
            "symbol": sym, "state": "Settled" if sym in self._settled else "Open",
            "indexPrice": None if idx is None else Decimal(idx) / E8,
            "markPrice": None if mark is None else Decimal(mark) / E8,
            "markPriceE8": mark, "indexPriceE8": idx,
        }
        if inst.is_perpetual:
            f = self._funding.get(sym)
            cfg = self._funding_cfg[sym]
            out.update(fundingRate=cfg.initial_rate if f is None else f.funding_rate,
                       indicativeFundingRate=None if f is None else f.indicative_funding_rate,
                       fundingTimestamp=None if f is None else f.next_funding_ms,
                       fundingInterval=cfg.interval_ms)
        else:
            b = self._basis.get(sym)
            out.update(expiry=inst.expiry_ms, fairBasisRate=None if b is None else b.fair_basis,
                       settledPriceE8=self._settled.get(sym),
                       settledPrice=(Decimal(self._settled[sym]) / E8
                                     if sym in self._settled else None))
        return out

    def _pricing_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "clock": self._clock,
            "index": {s: i.export_state() for s, i in sorted(self._index.items())},
            "funding": {s: f.export_state() for s, f in sorted(self._funding.items())},
            "futures_basis": {s: b.export_state() for s, b in sorted(self._basis.items())},
            "settlement_twap": {s: w.export_state() for s, w in sorted(self._twap.items())},
            "settled": sorted(self._settled.items()),
        }
        if self._interest_set:
            state["interest"] = {s: [*self._interest_set[s], self._interest[s]]
                                 for s in sorted(self._interest_set)}
        return state

    # ================================================================ the clock
    def _start(self, t: int) -> None:
        self._clock = t
        for sym, inst in self._inst.items():
            spec = self._index_spec[sym]
            self._index[sym] = spec if isinstance(spec, Index) else Index(spec, start_ms=t)
            if inst.is_perpetual:
                self._funding[sym] = Funding(self._funding_cfg[sym], start_ms=t)
            else:
                assert inst.expiry_ms is not None
                self._basis[sym] = FuturesFairBasis(inst.expiry_ms, inst.maint_margin,
                                                    inst.e8_per_tick)
                window = inst.settlement_window_ms or 30 * 60_000
                self._twap[sym] = SettlementTwap(inst.expiry_ms, min(window, inst.expiry_ms))

    def _next_instant(self) -> int:
        # a wait ends at its deadline, or when the clock starts if it started later (the
        # first clock command after a wait begun at a mark update)
        assert self._clock is not None
        hold = self._next_hold_ms() if self._liq_holds else None
        t = _NEVER if hold is None else max(hold, self._clock)
        for sym in self._symbols:
            if sym in self._settled:
                continue
            t = min(t, self._index[sym].next_print_ms)
            f = self._funding.get(sym)
            if f is not None:
                t = min(t, f.next_funding_ms, f.next_sample_ms)
            else:
                t = min(t, self._inst[sym].expiry_ms or _NEVER)
        return t

    def _run_clock(self, target: int) -> None:
        if self._clock is None:
            self._start(target)
        assert self._clock is not None
        command_ts, last = self._ts, None
        try:
            while True:
                t = self._next_instant()
                if t > target:
                    break
                if last is not None and t <= last:
                    # every step below consumes its instant: one that does not is a bug, and
                    # a loop that would never end
                    raise InvariantViolation(f"the clock's next instant {t} does not pass {last}")
                # the steps of the instant run at it (the OKEx waits, the breaker's window) and
                # stamp their events with it: it may be earlier than the command's ts
                self._ts = last = t
                for sym in self._symbols:
                    if sym not in self._settled:
                        for p in self._index[sym].advance(t):
                            self._on_print(sym, p.ts_ms, p.price_e8)
                for sym, f in self._funding.items():
                    if f.next_funding_ms == t:
                        self._pay_funding(sym, t)
                    if f.next_sample_ms == t:
                        self._sample(sym, t)
                for sym in self._basis:
                    if self._inst[sym].expiry_ms == t and sym not in self._settled:
                        self._settle_future(sym, t)
                # the waits that end at t and were not ended by a print of their contract
                if self._liq_holds:
                    self._run_due_holds()
        finally:
            self._ts = command_ts
        self._clock = max(self._clock, target)

    def _on_print(self, sym: str, t: int, index_e8: int | None) -> None:
        inst = self._inst[sym]
        twap = self._twap.get(sym)
        if twap is not None:
            twap.add(t, index_e8)
        if index_e8 is None:
            return
        self._index_print(inst, t, index_e8)
        self._push_price(inst, _native.FEED_INDEX, index_e8)
        f = self._funding.get(sym)
        if f is not None:
            mark = perpetual_fair_price(index_e8, f.funding_rate, f.time_to_funding(t),
                                        f.config.interval_ms)
        else:
            basis = self._basis[sym]
            if t >= basis.expiry_ms:
                return
            bid = ask = None
            if t % 60_000 == 0:
                bid, ask = self._impact_e8(inst)
                if bid is not None and ask is not None and bid > ask:
                    bid = ask = None
            basis.update(t, index_e8, bid, ask)
            mark = basis.fair_price(t, index_e8)
        self._push_mark(inst, mark)

    def _push_price(self, inst: Instrument, feed: int, e8: int) -> None:
        lo = min(max(1, inst.e8_to_ticks_floor(e8)), inst.max_price_ticks)
        hi = min(max(1, inst.e8_to_ticks_ceil(e8)), inst.max_price_ticks)
        self._books[inst.symbol].set_trigger_price(feed, lo, hi)
        self._drive(inst.symbol)

    def _write_mark(self, sym: str, mark_e8: int) -> None:
        """The one write of a mark: the engine loop's contract views keep a copy while the
        count of mark writes stands (perpex._core.contract_mark)."""
        self._marks[sym] = mark_e8
        self._marks_ver += 1

    def _push_mark(self, inst: Instrument, mark_e8: int) -> None:
        """The mark seam shared with :meth:`set_mark_e8`."""
        self._write_mark(inst.symbol, mark_e8)
        self._breaker_update(inst, mark_e8)
        self._push_price(inst, _native.FEED_MARK, mark_e8)
        self._liquidation_step(inst, mark_e8)

    def _impact_e8(self, inst: Instrument) -> tuple[int | None, int | None]:
        """Impact bid and ask walked from the displayed depth for the impact notional."""
        book = self._books[inst.symbol]
        if inst.contract_type is ContractType.INVERSE:
            per = Fraction(-inst.multiplier, E8)
            value_fn: Any = lambda p, q: q * per  # noqa: E731
        elif inst.contract_type is ContractType.LINEAR:
            scale = Fraction(inst.e8_per_tick * inst.multiplier,
                             E8 * _SETTLE_MINOR[inst.settle_currency])
            value_fn = lambda p, q: q * p * scale  # noqa: E731
        else:
            value_fn = lambda p, q: abs(inst.value(q, p))  # noqa: E731
        n = 64
        while True:
            bids, asks = book.depth(n)
            imp = impact_prices(bids, asks, self._impact[inst.symbol], value_fn)
            if imp.complete or (len(bids) < n and len(asks) < n):
                return imp.to_e8(inst.e8_per_tick)
            n *= 4

    # ================================================================ funding
    def _sample(self, sym: str, t: int) -> None:
        f, inst = self._funding[sym], self._inst[sym]
        index_e8 = self._index[sym].price_e8
        mark = self._marks.get(sym)
        if index_e8 is None or mark is None:
            # nothing to sample, but the minute passes: the clock would otherwise find the
            # same sample due at the same instant again, for ever
            f.skip(t)
            return
        bid, ask = self._impact_e8(inst)
        basis = Fraction(*exact_rate(f.funding_rate)) * f.time_to_funding(t) / f.config.interval_ms
        premium = premium_index(bid, ask, mark, index_e8, float(basis))
        f.sample(t, premium, self._interest[sym])

    # ================================================================ settlement
    def _settle_future(self, sym: str, t: int) -> None:
        inst, twap = self._inst[sym], self._twap[sym]
        price: int | None
        if twap.ready:
            price = twap.price_e8()
        else:
            price = self._marks.get(sym) or self._index[sym].price_e8
        book = self._books[sym]
        for (a, s) in sorted(self._live):
            if s == sym:
                for oid in self._live[(a, s)]:
                    self._texts[oid] = "Canceled: " + SETTLED_TEXT
                book.cancel_all(a)
                self._drive(sym)
        self._settled[sym] = price or 0
        if price is None:
            return
        self._write_mark(sym, price)
        positions, _, _, quantities = self._positions_of(sym).open()
        if not positions:
            return
        ccy = inst.settle_currency
        # the settlement moves wallets: positions the same accounts hold elsewhere re-index
        self._queue_linked(sym, cross_only=False)
        values = self._values(inst, quantities, price)
        fees = settlement_fees(values, inst.settlement_fee)
        signed = values if inst.contract_type is not ContractType.INVERSE else -values
        residual = 0
        for pos, value, fee in zip(positions, signed.tolist(), fees.tolist()):
            realised = value - pos.cost
            cost_key = ("cost", pos.account, sym)
            self._ledger.transfer(ccy, cost_key, ("wallet", pos.account), realised, "settlement")
            self._ledger.transfer(ccy, cost_key, clearing(sym), -value, "settlement")
            residual -= value
            qty = pos.qty
            pos.realised_pnl += realised
            pos.qty = pos.cost = 0
            pos.extra_margin = 0
            if fee:
                book_fee(self._ledger, ccy, pos, fee)
            if self._emit:
                self._events.append({
                    "seq": self._seq, "transactTime": t, "execType": "Settlement",
                    "ordStatus": "Filled", "account": pos.account, "symbol": sym,
                    "currency": ccy, "lastQty": -qty, "lastPx": Decimal(price) / E8,
                    "execCost": -value, "execComm": fee, "realisedPnl": realised,
                    "text": "Settlement"})
        if residual:
            self._ledger.transfer(ccy, clearing(sym), INSURANCE, residual, "settlement residual")
        self._lots = {o: b for o, b in self._lots.items() if o in self._orders}
        self._queue_reindex(self._positions_of(sym).key_set())
        self._sweep_residual(ccy)
