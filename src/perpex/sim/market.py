"""The simulation's seam to the Exchange: journaled commands and the price feed.

:class:`Recorder` sends every command to the Exchange and, when it is accepted as input (a
business reject still counts: it took a seq), appends it to the command journal as a small JSON
record, so :func:`replay_commands` can rebuild the run to the same state hash. A command that
raises a :mod:`perpex.errors` input error changed nothing and is not journaled. It also drains
the events each command produced and keeps every account's position size from its fills,
liquidations and deleverages, because agents read their position at every step and the
Exchange's full position view (liquidation price, ADL rank) costs a pass over all positions.

:class:`Market` feeds constituent quotes. When the Exchange has ``update_index`` (index ->
mark -> triggers) and ``advance`` (funding, settlement), it uses them; otherwise it computes the
index here with :class:`~perpex.pricing.Index` and drives the Exchange with ``set_mark_e8``
(mark = index: fair-price marking with a zero basis), so simulations run on either engine.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, Iterable, Mapping

from perpex.errors import EngineError, EngineHaltedError
from perpex.journal import Journal, Record
from perpex.pricing.index import METHOD_BITMEX, METHOD_OKEX, Index, IndexConfig

__all__ = ["Market", "Recorder", "decode_command", "encode_command", "replay_commands"]


def _enc(v: Any) -> Any:
    if isinstance(v, Decimal):
        return {"$d": str(v)}
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _enc(x) for k, x in v.items()}
    return v


def _dec(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"$d"}:
            return Decimal(v["$d"])
        return {k: _dec(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_dec(x) for x in v]
    return v


def encode_command(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    return json.dumps([method, _enc(list(args)), _enc(kwargs)], separators=(",", ":"),
                      sort_keys=True).encode()


def decode_command(payload: bytes) -> tuple[str, list[Any], dict[str, Any]]:
    method, args, kwargs = json.loads(payload)
    return method, _dec(args), _dec(kwargs)


REPLAYABLE = frozenset({
    "deposit", "withdraw", "place", "amend", "cancel", "cancel_all", "set_leverage",
    "set_risk_limit", "transfer_margin", "set_mark", "set_mark_e8", "update_index", "advance"})


# Executions that change a position's size: fills, the engine's takeover of a liquidated
# position (the trader's side of it), and both sides of an auto-deleverage fill.
_SIZE_CHANGES = frozenset({"Trade", "Liquidation", "Deleverage"})


class Recorder:
    """Calls Exchange commands, journals the accepted ones and times the engine."""

    def __init__(self, exchange: Any, journal: Journal | None = None) -> None:
        self.ex = exchange
        self.journal = journal
        self.commands = 0
        self.input_errors = 0
        self.engine_seconds = 0.0
        self._n = 0
        self.events: list[Mapping[str, Any]] = []
        self._qty: dict[tuple[int, str], int] = {}

    def position(self, account: int, symbol: str) -> int:
        """The signed size of ``account``'s position in ``symbol`` after the last command."""
        return self._qty.get((account, symbol), 0)

    def take_events(self) -> list[Mapping[str, Any]]:
        """The events of the commands sent since the last call."""
        out, self.events = self.events, []
        return out

    def _fold(self, events: list[Mapping[str, Any]]) -> None:
        for ev in events:
            if ev.get("execType") in _SIZE_CHANGES and ev.get("lastQty"):
                key = (ev["account"], ev["symbol"])
                q = int(ev["lastQty"])
                self._qty[key] = self._qty.get(key, 0) + (q if ev["side"] == "Buy" else -q)
        self.events.extend(events)

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method not in REPLAYABLE:
            raise ValueError(f"method={method!r} is not a journaled Exchange command")
        fn = getattr(self.ex, method)
        t0 = time.perf_counter()
        try:
            out = fn(*args, **kwargs)
        except EngineHaltedError:
            raise
        except EngineError:
            self.input_errors += 1
            return None
        finally:
            self.engine_seconds += time.perf_counter() - t0
            self._fold(self.ex.drain_events())
        self.commands += 1
        if self.journal is not None:
            self._n += 1
            ts = kwargs.get("ts", args[0] if method in ("update_index", "advance") else 0)
            self.journal.append(self._n, int(ts or 0), encode_command(method, args, kwargs))
        return out


def replay_commands(exchange: Any, records: Iterable[Record]) -> int:
    """Applies journaled commands in order; returns how many."""
    n = 0
    for r in records:
        method, args, kwargs = decode_command(r.payload)
        if method not in REPLAYABLE:
            raise ValueError(f"journal record seq={r.seq}: {method!r} is not an Exchange command")
        try:
            getattr(exchange, method)(*args, **kwargs)
        except EngineHaltedError:
            raise
        except EngineError as exc:
            raise ValueError(f"journal record seq={r.seq} ({method}) was rejected on replay: {exc}") from exc
        n += 1
    return n


class Market:
    """Constituent quotes in, index and mark out (natively or through ``set_mark_e8``)."""

    def __init__(self, rec: Recorder, weights: dict[str, dict[str, float]], risk_mode: str,
                 start_ms: int, *, native: bool = True) -> None:
        self.rec = rec
        method = METHOD_OKEX if risk_mode == "okex" else METHOD_BITMEX
        self.indices = {sym: Index(w, IndexConfig(method=method), start_ms=start_ms)
                        for sym, w in weights.items()}
        ex = rec.ex
        self.native = native and hasattr(ex, "update_index")
        self.native_advance = self.native and hasattr(ex, "advance")
        self.fallback_reason = "" if self.native else (
            "the Exchange has no update_index" if native else "run.pricing = 'mark'")
        self._native_ok = False
        self._marks: dict[str, int] = {}

    @property
    def mode(self) -> str:
        return "native update_index" if self.native else "set_mark from the index"

    def index_e8(self, symbol: str) -> int | None:
        """The index as the Exchange publishes it (natively), else as computed here."""
        if self.native:
            return self.rec.ex.index_price_e8(symbol)  # type: ignore[no-any-return]
        return self.indices[symbol].price_e8

    def feed(self, ts: int, quotes: dict[str, dict[str, float]]) -> None:
        """Quotes of step ``ts`` per symbol (symbols without a fresh quote left out)."""
        if not quotes:
            return
        if self.native:
            errors = self.rec.input_errors
            try:
                self.rec("update_index", ts, quotes)
                if self.rec.input_errors == errors:
                    self._native_ok = True
                    return
                reason = "update_index rejected the simulation's quotes"
            except TypeError as exc:
                reason = f"update_index does not take (ts, {{symbol: quotes}}): {exc}"
            if self._native_ok:
                return  # one rejected step later in the run changed nothing; keep going
            # The first call failed as input and changed nothing: drive the mark instead.
            self.native, self.native_advance, self.fallback_reason = False, False, reason
        for symbol, q in quotes.items():
            idx = self.indices[symbol]
            idx.update(ts, q)
            idx.advance(ts)
            price = idx.price_e8
            if price is not None and self._marks.get(symbol) != price:
                self._marks[symbol] = price
                self.rec("set_mark_e8", symbol, price, ts=ts)

    def advance(self, ts: int) -> None:
        if self.native_advance:
            self.rec("advance", ts)

    def funding_rate(self, symbol: str) -> float | None:
        """The Exchange's indicative funding rate when it computes funding, else None."""
        state = getattr(self.rec.ex, "instrument_state", None) if self.native else None
        if state is None:
            return None
        s = state(symbol)
        rate = s.get("indicativeFundingRate")
        if rate is None:
            rate = s.get("fundingRate")
        return None if rate is None else float(rate)
