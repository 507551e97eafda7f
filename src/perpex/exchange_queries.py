"""Read-only queries, audit, invariant checks and the canonical state export of
:class:`perpex.exchange.Exchange`."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any, Mapping

from perpex.accounts.margin import commission_to_close, maintenance_margin
from perpex.accounts.position import Position
from perpex.errors import InvalidInputError, InvariantViolation
from perpex.exchange_core import LIQUIDATION_ACCOUNT, Audit, BookView, ExchangeCore
from perpex.orders import order_view
from perpex.risk.prices import bankruptcy_price, round_toward_entry

STATE_VERSION = 1


class QueriesMixin(ExchangeCore):
    """Queries over the engine state; nothing here mutates state (``check_invariants`` may
    halt the exchange)."""

    # ================================================================ queries
    def drain_events(self) -> list[Mapping[str, Any]]:
        """The events since the last drain, oldest first: dicts, and the engine's execution
        reports (perpex._events.Execution: read-only mappings; ``to_dict()`` gives a dict)."""
        out, self._events = self._events, []
        return out

    def executions(self, account: int | None = None, symbol: str | None = None) -> list[Mapping[str, Any]]:
        """Recent Trade executions (the last ``max_executions``; batch runs without events
        record none), oldest first."""
        return [e for e in self._executions if (account is None or e["account"] == account)
                and (symbol is None or e["symbol"] == symbol)]

    def book(self, symbol: str) -> BookView:
        inst = self._instrument(symbol)
        return BookView(inst, self._books[inst.symbol])

    def mark_price(self, symbol: str) -> Decimal | None:
        mark = self._marks.get(self._instrument(symbol).symbol)
        return None if mark is None else Decimal(mark) / 100_000_000

    def open_orders(self, account: int, symbol: str | None = None) -> list[dict[str, Any]]:
        a = self._account(account)
        syms = self._symbols if symbol is None else [self._instrument(symbol).symbol]
        out = []
        for sym in syms:
            inst = self._inst[sym]
            for oid in self._live.get((a, sym), ()):
                rec = self._orders[oid]
                stop = None
                if rec.conditional:
                    stop = self._books[sym].order(oid)["stop_px"]
                out.append(order_view(inst, rec, "PartiallyFilled" if rec.cum_qty else "New", stop))
        return out

    def position(self, account: int, symbol: str) -> dict[str, Any]:
        """The BitMEX position view, with ``liqPrice``, ``bankruptPrice`` and
        ``deleveragePercentile``. ``LIQUIDATION_ACCOUNT`` shows the engine's position."""
        a = account if account == LIQUIDATION_ACCOUNT and type(account) is int else self._account(account)
        inst = self._instrument(symbol)
        pos = self._positions.get((a, inst.symbol)) or Position(a, inst.symbol, inst.risk_limit)
        steps = inst.steps_for_risk_limit(pos.risk_limit)
        pos_margin = self._position_margin(inst, pos)
        maint = 0
        if pos.qty:
            bk = bankruptcy_price(inst, pos.qty, pos.cost, pos_margin) if pos.cost else None
            comm = commission_to_close(inst, pos.qty, round_toward_entry(inst, pos.qty, bk))
            maint = maintenance_margin(pos.cost, inst.maint_rate(steps), commission=comm)
        return {
            "account": a, "symbol": inst.symbol, "currency": inst.settle_currency,
            "currentQty": pos.qty, "currentCost": pos.cost,
            "avgEntryPrice": inst.avg_entry_price(pos.qty, pos.cost).price if pos.qty and pos.cost else None,
            "realisedPnl": pos.realised_pnl, "unrealisedPnl": self._upnl(inst, pos),
            "markPrice": self.mark_price(inst.symbol), "leverage": pos.leverage,
            "crossMargin": pos.leverage == 0, "riskLimit": pos.risk_limit,
            "posMargin": pos_margin, "extraMargin": pos.extra_margin, "maintMargin": maint,
            "orderMargin": self._order_margin(a, inst.symbol),
            **self._risk_fields(inst, pos),
        }

    def margin(self, account: int, currency: str = "XBt") -> dict[str, Any]:
        a = self._account(account)
        if currency not in self._by_ccy:
            raise InvalidInputError(f"currency={currency!r} must be one of {', '.join(sorted(self._by_ccy))}")
        wallet_balance = self._ledger.balance(currency, ("wallet", a))
        upnl = pos_m = order_m = maint = rpnl = 0
        for sym in self._by_ccy[currency]:
            p = self.position(a, sym)
            upnl += p["unrealisedPnl"]
            pos_m += p["posMargin"]
            order_m += p["orderMargin"]
            maint += p["maintMargin"]
            rpnl += p["realisedPnl"]
        return {
            "account": a, "currency": currency, "walletBalance": wallet_balance,
            "unrealisedPnl": upnl, "realisedPnl": rpnl, "marginBalance": wallet_balance + upnl,
            "initMargin": order_m, "orderMargin": order_m, "posMargin": pos_m,
            "maintMargin": maint, "availableMargin": self._available(a, currency),
        }

    def audit(self) -> Audit:
        ledgers = self._ledger.audit()
        net = dict.fromkeys(self._symbols, 0)
        oi = dict.fromkeys(self._symbols, 0)
        for (_, sym), pos in self._positions.items():
            net[sym] += pos.qty
            oi[sym] += max(pos.qty, 0)
        return Audit({c: x.total for c, x in ledgers.items()}, net, oi,
                     {c: x.insurance for c, x in ledgers.items()},
                     {c: x.fees for c, x in ledgers.items()},
                     {c: x.funding for c, x in ledgers.items()}, ledgers)

    def wallet_balances(self, currency: str = "XBt") -> dict[int, int]:
        """Trader wallets (the liquidation engine's account is not a trader's)."""
        return {int(k[1]): v for k, v in self._ledger.balances(currency).items()
                if k[0] == "wallet" and k[1] != LIQUIDATION_ACCOUNT}

    def check_invariants(self) -> None:
        """Native book invariants, balanced ledgers, positions summing to zero, the order
        records matching the books, then the upper layers' derived caches. A failure halts
        the exchange."""
        try:
            for sym in self._symbols:
                self._books[sym].check_invariants()
            self._ledger.check_balanced()
            audit = self.audit()
            for sym, net in audit.net_position.items():
                if net:
                    raise InvariantViolation(f"positions in {sym} sum to {net}, must be 0")
            for ccy, fund in audit.insurance_fund.items():
                if fund < 0:
                    raise InvariantViolation(f"insurance fund {ccy} is {fund}, must be >= 0 (M4)")
            for ccy in self._ledger.currencies():
                for key, bal in self._ledger.balances(ccy).items():
                    if key[0] == "wallet" and key[1] != LIQUIDATION_ACCOUNT and bal < 0:
                        raise InvariantViolation(f"wallet of account {key[1]} is {bal} {ccy}, "
                                                 "must be >= 0 (M3)")
            derived = {key: [o for o in live if self._orders[o].reduce_only]
                       for key, live in self._live.items()}
            if {k: v for k, v in derived.items() if v} != {k: list(v) for k, v in self._reduce_only.items()}:
                raise InvariantViolation("the reduce-only order index disagrees with the live orders")
            self._check_margin_index()
            if self._texts:  # a text waits only for its order's event, within one command
                raise InvariantViolation(f"texts left for orders {sorted(self._texts)}")
            counts = dict.fromkeys(self._symbols, 0)
            for oid, rec in self._orders.items():
                counts[rec.symbol] += 1
                info = self._books[rec.symbol].order(oid)
                if info is None or info["leaves"] != rec.leaves_qty or info["account"] != rec.account:
                    raise InvariantViolation(f"order {oid} record disagrees with the {rec.symbol} book")
                if rec.close_all is False and rec.order_qty != rec.cum_qty + rec.leaves_qty:
                    raise InvariantViolation(f"order {oid}: orderQty != cumQty + leavesQty")
            for sym, n in counts.items():
                book = self._books[sym]
                if book.order_count + book.conditional_count != n:
                    raise InvariantViolation(f"{sym} book holds {book.order_count + book.conditional_count}"
                                             f" orders, the exchange records {n}")
            self._check_caches()
        except InvariantViolation as exc:
            if self._halted is None:
                self._halted = str(exc)
            raise

    def _check_margin_index(self) -> None:
        """The order-margin index equals one rebuilt from the live orders, and every account's
        order margin from it equals the order-by-order calculation."""
        held = {key: lv.levels() for key, lv in self._open.items()}
        if held != self._rebuilt_index():
            raise InvariantViolation("the order-margin index disagrees with the live orders")
        if not all(r.ix_levels is not None
                   and r.ix_levels is self._open.get((r.account, r.symbol))
                   for r in self._orders.values()):
            raise InvariantViolation("the order-margin index does not cover the live orders")
        for key, lv in self._open.items():
            if lv.count != len(self._live[key]):
                raise InvariantViolation(f"the order-margin index counts {lv.count} orders of {key}, "
                                         f"{len(self._live[key])} are live")
            fast, scan = self._order_margin(*key), self._order_margin_scan(*key)
            if fast != scan:
                raise InvariantViolation(f"order margin of {key} is {fast} from the index, "
                                         f"{scan} order by order")

    def export_state(self) -> dict[str, Any]:
        """All state as plain, canonically ordered data (books as their native dumps)."""
        return {
            "version": STATE_VERSION,
            "seq": self._seq, "ts": self._ts, "next_order_id": self._next_id,
            "halted": self._halted,
            "accounts": sorted(self._accounts),
            "ledger": [(c, k, v) for c, k, v in self._ledger.items()],
            "positions": [(a, s, p.qty, p.cost, p.realised_pnl, p.leverage, p.extra_margin,
                           p.risk_limit) for (a, s), p in sorted(self._positions.items())],
            "orders": [self._orders[o].as_tuple() for o in sorted(self._orders)],
            "marks": sorted(self._marks.items()),
            "rate_buckets": sorted((a, tuple(b)) for a, b in self._buckets.items()),
            "tx": sorted((k, v[:4], v[4].seq) for k, v in self._tx.items()),
            "pricing": self._pricing_state(),
            "risk": self._risk_state(),
            "books": {s: self._books[s].dump() for s in self._symbols},
        }

    def state_hash(self) -> int:
        """64-bit BLAKE2b over the canonical Python-side state plus each book's state_hash()."""
        state = self.export_state()
        del state["books"]
        state["book_hashes"] = [self._books[s].state_hash() for s in self._symbols]
        digest = hashlib.blake2b(repr(state).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little")
