"""Funding payments over every open position of a perpetual (MECHANICS §6.1, Decision 7), and
the per-contract registry of positions that funding and dated-futures settlement walk.

A funding instant touches every open position of the contract, so its cost is per position:

- the registry keeps each contract's positions in account order (the order payments, ledger
  transfers and events have always had), with their ledger wallet keys, so an instant neither
  sorts every position of every contract nor builds a key per payment. It relies on
  ``_positions`` only ever growing: a position that goes flat keeps its entry, so the new
  entries since the last look are the ones past the count already seen;
- position values and payments are NumPy vectors (``funding_payments`` rounds each one half
  away from zero, exactly);
- the payments are booked by one :meth:`perpex.accounts.ledger.Ledger.transfer_many` from
  the wallets as the ledger resolved them (:class:`~perpex.accounts.ledger.KeySlots`, kept
  until a position is added), so the debit is one array operation with no per-key look-up
  (recorded transfer by transfer like single transfers);
- the Funding events are built only when events are on.

The result is the one a per-position loop gives, to the unit and in the same order: each
position pays ``round(value x rate)`` from its wallet into ``funding(symbol)``, the engine's
account (the largest account id, so the last position) is refunded by the insurance fund, and
the clearing ledger's residual goes to the insurance fund.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import compress, islice
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from perpex._events import stamp_records
from perpex.accounts.ledger import INSURANCE, KeySlots, Ledger, LedgerKey, funding as clearing
from perpex.accounts.position import Position, book_funding_many
from perpex.errors import ArithmeticOverflowError
from perpex.exchange_core import LIQUIDATION_ACCOUNT, ExchangeCore
from perpex.instruments import E8, ContractType, Instrument
from perpex.pricing import Funding, funding_payments
from perpex.rounding import INT64_MAX, Rounding, div_round

_QTY = attrgetter("qty")


class _Open(NamedTuple):
    positions: list[Position]
    accounts: list[int]
    wallets: Sequence[LedgerKey]
    qty: npt.NDArray[np.int64]


class _Registry:
    """The positions of one contract (open or flat), in account order, with their keys."""

    __slots__ = ("accounts", "keys", "positions", "wallets", "ordered", "_key_set", "_slots")

    def __init__(self) -> None:
        self.accounts: list[int] = []
        self.keys: list[tuple[int, str]] = []
        self.positions: list[Position] = []
        self.wallets: list[LedgerKey] = []
        self.ordered = True
        self._key_set: dict[tuple[int, str], None] | None = None
        self._slots: KeySlots | None = None

    def add(self, key: tuple[int, str], pos: Position) -> None:
        a = key[0]
        if self.accounts and a < self.accounts[-1]:
            self.ordered = False
        self.accounts.append(a)
        self.keys.append(key)
        self.positions.append(pos)
        self.wallets.append(("wallet", a))
        self._key_set = None
        self._slots = None

    def sort(self) -> None:
        order = sorted(range(len(self.accounts)), key=self.accounts.__getitem__)
        self.accounts = [self.accounts[i] for i in order]
        self.keys = [self.keys[i] for i in order]
        self.positions = [self.positions[i] for i in order]
        self.wallets = [self.wallets[i] for i in order]
        self.ordered = True
        self._key_set = None
        self._slots = None

    def key_set(self) -> dict[tuple[int, str], None]:
        """The keys as a dict in account order, kept between instants: merging it into another
        dict reuses its stored hashes (and copies it outright into an empty one)."""
        if self._key_set is None:
            self._key_set = dict.fromkeys(self.keys)
        return self._key_set

    def wallet_slots(self, ledger: Ledger, ccy: str) -> Sequence[LedgerKey]:
        """The wallets resolved in ``ledger`` (kept until a position is added; the plain keys
        while one of them is new to the ledger, which the next transfer creates)."""
        slots = self._slots
        if slots is None or slots.ledger is not ledger or slots.currency != ccy:
            slots = self._slots = ledger.resolve(ccy, self.wallets)
            if slots is None:
                return self.wallets
        return slots

    def open(self, ledger: Ledger | None = None, ccy: str = "") -> _Open:
        """The open positions in account order (the registry's own lists when every position
        is open: read them, do not edit), their wallets resolved in ``ledger`` if given."""
        positions = self.positions
        qty = np.fromiter(map(_QTY, positions), dtype=np.int64, count=len(positions))
        wallets = self.wallets if ledger is None else self.wallet_slots(ledger, ccy)
        held = qty != 0
        if held.all():
            return _Open(positions, self.accounts, wallets, qty)
        keep = held.tolist()
        return _Open(list(compress(positions, keep)), list(compress(self.accounts, keep)),
                     wallets.take(held, keep) if type(wallets) is KeySlots
                     else list(compress(wallets, keep)), qty[held])


class FundingMixin(ExchangeCore):
    """``_pay_funding`` and the position registry (see the module docstring)."""

    _funding: dict[str, Funding]
    _registry: dict[str, _Registry]
    _registry_seen: int
    _registry_of: dict[tuple[int, str], Position] | None

    def _init_registry(self) -> None:
        self._registry = {}
        self._registry_seen = 0
        self._registry_of: dict[tuple[int, str], Position] | None = None

    def _positions_of(self, sym: str) -> _Registry:
        """The contract's registry, brought up to date with positions opened since."""
        table = self._positions
        if table is not self._registry_of or len(table) < self._registry_seen:
            # a replaced table (a restore) or a removed entry: start over
            self._init_registry()
            self._registry_of = table
        if len(table) != self._registry_seen:
            for key, pos in islice(table.items(), self._registry_seen, None):
                reg = self._registry.get(key[1])
                if reg is None:
                    reg = self._registry[key[1]] = _Registry()
                reg.add(key, pos)
            self._registry_seen = len(table)
        reg = self._registry.get(sym)
        if reg is None:
            reg = self._registry[sym] = _Registry()
        if not reg.ordered:
            reg.sort()
        return reg

    @staticmethod
    def _values(inst: Instrument, qty: npt.NDArray[np.int64], price_e8: int) -> np.ndarray:
        """Signed values of positions of ``qty`` contracts at ``price_e8``, positive for longs
        (as ``funding_payments`` takes them), each rounded as :meth:`Instrument.mark_value`."""
        if not qty.size:
            return qty
        largest = int(np.abs(qty).max())
        if inst.contract_type is ContractType.INVERSE:
            unit = -div_round(inst.multiplier * E8, price_e8, Rounding.HALF_AWAY)
            if largest * abs(unit) > INT64_MAX:
                raise ArithmeticOverflowError(f"{inst.symbol}: a position value at "
                                              f"{price_e8} e8 exceeds the int64 limit")
            return qty * unit
        scale = inst.multiplier * price_e8
        if largest * abs(scale) + E8 // 2 <= INT64_MAX:
            # qty x m x price / 1e8 rounded half away from zero (1e8 is even: add half, floor)
            raw = qty * scale
            whole = (np.abs(raw) + E8 // 2) // E8
            return np.where(raw < 0, -whole, whole)
        values = [inst.mark_value(q, price_e8) for q in qty.tolist()]
        if any(not -INT64_MAX <= v <= INT64_MAX for v in values):
            raise ArithmeticOverflowError(f"{inst.symbol}: a position value at {price_e8} e8 "
                                          "exceeds the int64 limit")
        return np.array(values, dtype=np.int64)

    def _pay_funding(self, sym: str, t: int) -> None:
        f, inst = self._funding[sym], self._inst[sym]
        fixing = f.settle(t)
        mark = self._marks.get(sym)
        # caught up at every instant, so the positions opened since the last one are the
        # only registry work of this one, whatever the rate
        reg = self._positions_of(sym)
        if mark is None or fixing.rate == 0:
            return
        ccy = inst.settle_currency
        positions, accounts, wallets, qty = reg.open(self._ledger, ccy)
        if not positions:
            return
        payments, residual = funding_payments(self._values(inst, qty, mark), fixing.rate)
        pays = book_funding_many(self._ledger, ccy, sym, positions, payments, wallets)
        # the engine's positions belong to the fund, and so does their funding; its account is
        # the largest id, so this transfer follows its payment as it always has
        if positions[-1].account == LIQUIDATION_ACCOUNT and pays[-1]:
            self._ledger.transfer(ccy, INSURANCE, wallets[-1], pays[-1], "engine funding")
        self._queue_reindex(reg.key_set())
        # the payments moved wallets, which other contracts' positions of the same accounts
        # draw collateral from
        self._queue_linked(sym, cross_only=False)
        self._ledger.transfer(ccy, clearing(sym), INSURANCE, residual, "funding residual")
        if self._emit:
            self._events += self._funding_events(sym, ccy, t, mark, fixing.rate,
                                                 accounts, qty.tolist(), pays)

    def _funding_events(self, sym: str, ccy: str, t: int, mark: int, rate: float,
                        accounts: list[int], qty: list[int],
                        pays: list[int]) -> list[dict[str, Any]]:
        # copying one template and setting the three per-position fields is cheaper than a
        # 12-key literal per position, and keeps the key order
        template = {"seq": self._seq, "transactTime": t, "execType": "Funding", "account": 0,
                    "symbol": sym, "currency": ccy, "lastQty": 0, "lastPx": Decimal(mark) / E8,
                    "commission": rate, "execComm": 0, "execCost": 0, "text": "Funding"}
        return stamp_records(template, ("account", "lastQty", "execComm"), accounts, qty, pays)
