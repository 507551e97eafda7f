"""Double-entry ledger: every balance change is one integer transfer between two named ledgers.

Ledger keys are small tuples built by the constructors below, so they hash fast and sort
deterministically:

====================  ==========================  =========================================
key                   constructor                 holds
====================  ==========================  =========================================
("wallet", a)         ``wallet(a)``               account a's wallet balance
("cost", a, sym)      ``cost(a, sym)``            minus the signed cost of a's position
("insurance",)        ``INSURANCE``               the insurance fund
("fees",)             ``FEES``                    commissions collected (net of rebates)
("funding", sym)      ``funding(sym)``            funding clearing for one contract
("external",)         ``EXTERNAL``                mirror of deposits and withdrawals
====================  ==========================  =========================================

A cost ledger holds ``-position.cost`` so that realised PnL flows *from* cost *to* wallet and
``wallet + cost ledger + mark value`` is the margin balance. Because each transfer debits and
credits the same amount, the sum over all ledgers of a currency is exactly 0 after every call;
:meth:`Ledger.audit` recomputes it from the balances rather than trusting that argument.

There is no journal: the command log (journal.py) is the record. ``record=True`` keeps a list of
transfers for tests and debugging only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import compress
from typing import Any, NamedTuple, Union

import numpy as np
import numpy.typing as npt

from perpex.accounts._ledger import LedgerTables
from perpex.errors import InvalidInputError, InvariantViolation
from perpex.rounding import INT64_MAX, INT64_MIN, exact_sum

__all__ = [
    "EXTERNAL",
    "FEES",
    "INSURANCE",
    "CurrencyAudit",
    "KeySlots",
    "Ledger",
    "LedgerKey",
    "Transfer",
    "cost",
    "funding",
    "key_name",
    "wallet",
]

LedgerKey = tuple[Union[str, int], ...]

INSURANCE: LedgerKey = ("insurance",)
FEES: LedgerKey = ("fees",)
EXTERNAL: LedgerKey = ("external",)

_KINDS = ("cost", "external", "fees", "funding", "insurance", "wallet")


def _check_account(account: int) -> int:
    if type(account) is not int:
        raise TypeError(f"account must be an int, got {type(account).__name__} {account!r}")
    if account < 0:
        raise InvalidInputError(f"account={account} must be >= 0")
    return account


def _check_symbol(symbol: str) -> str:
    if not isinstance(symbol, str):
        raise TypeError(f"symbol must be a str, got {type(symbol).__name__} {symbol!r}")
    if not symbol:
        raise InvalidInputError("symbol must be a non-empty string")
    return symbol


def wallet(account: int) -> LedgerKey:
    return ("wallet", _check_account(account))


def cost(account: int, symbol: str) -> LedgerKey:
    return ("cost", _check_account(account), _check_symbol(symbol))


def funding(symbol: str) -> LedgerKey:
    return ("funding", _check_symbol(symbol))


def key_name(key: LedgerKey) -> str:
    """``("cost", 1, "XBTUSD")`` -> ``"cost:1:XBTUSD"``."""
    return ":".join(str(part) for part in key)


class Transfer(NamedTuple):
    currency: str
    src: LedgerKey
    dst: LedgerKey
    amount: int
    reason: str


class CurrencyAudit(NamedTuple):
    """Per-currency totals. ``total`` is the sum over every ledger and must be 0."""

    total: int
    wallets: int
    costs: int
    insurance: int
    fees: int
    funding: int
    external: int
    transfers: int


def _listed(amounts: Sequence[int] | npt.NDArray[np.int64]) -> Sequence[int]:
    return amounts.tolist() if isinstance(amounts, np.ndarray) else amounts


class KeySlots(Sequence[LedgerKey]):
    """Ledger keys of one currency resolved once to where a :class:`Ledger` keeps their
    balances, for a caller that moves money from the same keys again and again (funding pays
    every position of a contract at each instant). Pass it as ``srcs`` to
    :meth:`Ledger.transfer_many`; it reads as the plain sequence of its keys, and a ledger other
    than the one that resolved it treats it as one."""

    __slots__ = ("keys", "slots", "ledger", "currency", "distinct")

    def __init__(self, keys: list[LedgerKey], slots: npt.NDArray[np.intp], ledger: Ledger,
                 currency: str, distinct: bool) -> None:
        self.keys = keys
        self.slots = slots
        self.ledger = ledger
        self.currency = currency
        self.distinct = distinct

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        return self.keys[i]

    def __iter__(self) -> Iterator[LedgerKey]:
        return iter(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def take(self, keep: npt.NDArray[np.bool_], listed: list[bool] | None = None) -> KeySlots:
        """The keys where ``keep`` is true, still resolved. ``listed`` is ``keep.tolist()``
        when the caller has it already (funding selects its positions with the same mask)."""
        if listed is None:
            listed = keep.tolist()
        return KeySlots(list(compress(self.keys, listed)), self.slots[keep], self.ledger,
                        self.currency, self.distinct)


class Ledger(LedgerTables):
    """Balances per currency and ledger key; see the module docstring.

    Per currency, ``_index`` numbers the keys in the order they were first used and ``_vals``
    holds their balances in a NumPy array at those numbers: single transfers cost about what
    dict updates did, and a bulk transfer from resolved keys (:class:`KeySlots`) is one gather,
    subtract and scatter. The array is int64 while every balance fits; a balance that would
    not turns that currency's array into Python ints (dtype object) for good, so every amount
    stays exact. Pickled, a Ledger is the plain ``{currency: {key: balance}}`` it always was."""

    # the tables are fields of the C base, which the native steps read in place (perpex._fills)
    __slots__ = ()

    def __init__(self, record: bool = False) -> None:
        # currency -> {key: slot}
        self._index = {}
        # currency -> the balances (npt.NDArray) by slot
        self._vals = {}
        # what single transfers index: a memoryview of an int64 array reads and writes Python
        # ints at about half the cost of the array's item access, and refuses what int64 cannot
        # hold (ValueError); an object array is indexed directly
        self._cells = {}
        # currency -> transfers made
        self._counts = {}
        # the transfers (Transfer), when recorded
        self._journal = [] if record else None

    # ---- representation ------------------------------------------------------------
    def __getstate__(self) -> tuple[None, dict[str, object]]:
        # exactly the state the dict-backed ledger pickled, so snapshots read the same
        return None, {"_books": {c: self._book(c) for c in self._index},
                      "_counts": self._counts, "_journal": self._journal}

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        slots = state[1]
        self._gen += 1  # (the native steps' cache of the tables: see _set_vals)
        self._index, self._vals, self._cells = {}, {}, {}
        for currency, book in slots["_books"].items():
            self._index[currency] = dict(zip(book, range(len(book))))
            values = list(book.values())
            try:
                column = np.array(values, dtype=np.int64)
            except OverflowError:
                column = np.array(values, dtype=object)
            vals = np.zeros(max(16, len(book)), dtype=column.dtype)
            vals[:len(book)] = column
            self._set_vals(currency, vals)
        self._counts = slots["_counts"]
        self._journal = slots["_journal"]

    def _book(self, currency: str) -> dict[LedgerKey, int]:
        index = self._index[currency]
        return dict(zip(index, self._vals[currency][:len(index)].tolist()))

    def _set_vals(self, currency: str, vals: npt.NDArray[Any]) -> npt.NDArray[Any]:
        # every replacement of a currency's tables passes here: the native steps, which keep
        # a pointer to the cells they last used (perpex._fills), look again after it
        self._gen += 1
        self._vals[currency] = vals
        cells: Any = vals if vals.dtype == object else memoryview(vals)  # type: ignore[arg-type]
        self._cells[currency] = cells
        return vals

    def _add_currency(self, currency: str) -> dict[LedgerKey, int]:
        index = self._index[currency] = {}
        self._set_vals(currency, np.zeros(16, dtype=np.int64))
        self._counts[currency] = 0
        return index

    def _add_key(self, currency: str, key: LedgerKey) -> int:
        """A new key's slot, balance 0 (the key is already validated)."""
        index = self._index[currency]
        slot = index[key] = len(index)
        vals = self._vals[currency]
        if slot == len(vals):
            self._set_vals(currency, np.concatenate([vals, np.zeros(len(vals), dtype=vals.dtype)]))
        return slot

    def _exact(self, currency: str) -> npt.NDArray[Any]:
        """The currency's balances as Python ints from now on (one no longer fits int64)."""
        return self._set_vals(currency, self._vals[currency].astype(object))

    def _add(self, currency: str, slot: int, delta: int) -> None:
        cells = self._cells[currency]
        value = cells[slot] + delta
        try:
            cells[slot] = value
        except ValueError:
            self._exact(currency)[slot] = value

    # ---- transfers -------------------------------------------------------------------
    def transfer(self, currency: str, src: LedgerKey, dst: LedgerKey, amount: int,
                 reason: str = "") -> None:
        """Move ``amount`` minor units from ``src`` to ``dst`` (a negative amount moves the
        other way; 0 is allowed and creates both keys). Validated before anything changes."""
        if type(amount) is not int:
            raise TypeError(f"amount must be an int, got {type(amount).__name__} {amount!r}")
        index = self._index.get(currency)
        if index is None:
            if not isinstance(currency, str) or not currency:
                raise TypeError(f"currency must be a non-empty str, got {currency!r}")
            self._check_key(src, "src")
            self._check_key(dst, "dst")
            s = d = None
        else:
            s = index.get(src)
            if s is None:
                self._check_key(src, "src")
            d = index.get(dst)
            if d is None:
                self._check_key(dst, "dst")
        if src == dst:
            raise InvalidInputError(f"transfer of {amount} from {src!r} to itself")
        if index is None:
            self._add_currency(currency)
        if s is None:
            s = self._add_key(currency, src)
        if d is None:
            d = self._add_key(currency, dst)
        cells = self._cells[currency]
        new_src, new_dst = cells[s] - amount, cells[d] + amount
        try:
            cells[s] = new_src
            cells[d] = new_dst
        except ValueError:
            cells = self._exact(currency)
            cells[s] = new_src
            cells[d] = new_dst
        self._counts[currency] += 1
        if self._journal is not None:
            self._journal.append(Transfer(currency, src, dst, amount, reason))

    def resolve(self, currency: str, keys: list[LedgerKey]) -> KeySlots | None:
        """``keys`` resolved for repeated :meth:`transfer_many` calls, or None while one of
        them (or the currency) is new to the ledger: a transfer creates keys, this does not."""
        index = self._index.get(currency)
        if index is None:
            return None
        found = list(map(index.get, keys))
        if None in found:
            return None
        slots = np.array(found, dtype=np.intp)
        distinct = len(np.unique(slots)) == len(slots)
        return KeySlots(keys, slots, self, currency, distinct)

    def transfer_many(self, currency: str, srcs: Sequence[LedgerKey], dst: LedgerKey,
                      amounts: Sequence[int] | npt.NDArray[np.int64], reason: str = "") -> None:
        """``transfer(currency, srcs[i], dst, amounts[i], reason)`` for every i, in order, with
        the same balances, transfer count and recorded transfers; validated in full before
        anything changes. For one payment per position (funding), where a call per transfer
        would dominate the cost: ``srcs`` may be :class:`KeySlots` from :meth:`resolve`, and
        ``amounts`` a 1-D int64 array."""
        n = len(srcs)
        if len(amounts) != n:
            raise InvalidInputError(f"{n} sources but {len(amounts)} amounts")
        if not n:
            return
        if isinstance(amounts, np.ndarray):
            if amounts.ndim != 1 or amounts.dtype != np.int64:
                raise TypeError(f"amounts must be a 1-D int64 array, got {amounts.dtype} "
                                f"of shape {amounts.shape}")
        elif not {*map(type, amounts)} <= {int}:
            bad = next(a for a in amounts if type(a) is not int)
            raise TypeError(f"amount must be an int, got {type(bad).__name__} {bad!r}")
        index = self._index.get(currency)
        if index is None and (not isinstance(currency, str) or not currency):
            raise TypeError(f"currency must be a non-empty str, got {currency!r}")
        known = index if index is not None else {}
        d = known.get(dst)
        if d is None:
            self._check_key(dst, "dst")
        if (type(srcs) is KeySlots and srcs.ledger is self and srcs.currency == currency
                and len(srcs.slots) == n):
            slots = srcs.slots
            if d is not None and (slots == d).any():
                raise InvalidInputError(f"transfer from {dst!r} to itself")
            distinct = srcs.distinct
        else:
            if dst in srcs:
                raise InvalidInputError(f"transfer from {dst!r} to itself")
            found = list(map(known.get, srcs))
            for key, slot in zip(srcs, found):
                if slot is None:
                    self._check_key(key, "src")
            if index is None:
                index = self._add_currency(currency)
            if None in found:  # new keys are created in the order they appear
                add = self._add_key
                found = [index[key] if key in index else add(currency, key) for key in srcs]
            slots = np.array(found, dtype=np.intp)
            distinct = len(np.unique(slots)) == n
        if d is None:
            d = self._add_key(currency, dst)
        if distinct:
            self._debit(currency, slots, amounts)
        else:  # a source listed twice is debited twice, one after the other
            for slot, amount in zip(slots.tolist(), _listed(amounts)):
                self._add(currency, slot, -amount)
        self._add(currency, d, exact_sum(amounts))
        self._counts[currency] += n
        if self._journal is not None:
            self._journal.extend(Transfer(currency, key, dst, amount, reason)
                                 for key, amount in zip(srcs, _listed(amounts)))

    def _debit(self, currency: str, slots: npt.NDArray[np.intp],
               amounts: Sequence[int] | npt.NDArray[np.int64]) -> None:
        """Subtracts ``amounts`` at distinct ``slots``: in int64 when no result can leave its
        range (bounded by the extremes), otherwise exactly in Python ints."""
        vals = self._vals[currency]
        if vals.dtype != object:
            try:
                column = np.asarray(amounts, dtype=np.int64)
            except OverflowError:
                column = None
            if column is not None:
                old = vals[slots]
                if (int(old.min()) - int(column.max()) >= INT64_MIN
                        and int(old.max()) - int(column.min()) <= INT64_MAX):
                    vals[slots] = old - column
                    return
            vals = self._exact(currency)
        vals[slots] -= np.array(_listed(amounts), dtype=object)

    @staticmethod
    def _check_key(key: object, name: str) -> None:
        # Only keys of the documented shapes: mixed shapes would make sorted() fail later.
        ok = type(key) is tuple and bool(key)
        if ok:
            kind, rest = key[0], key[1:]  # type: ignore[index]
            if kind in ("insurance", "fees", "external"):
                ok = not rest
            elif kind == "wallet":
                ok = len(rest) == 1 and type(rest[0]) is int and rest[0] >= 0
            elif kind == "cost":
                ok = (len(rest) == 2 and type(rest[0]) is int and rest[0] >= 0
                      and isinstance(rest[1], str) and bool(rest[1]))
            elif kind == "funding":
                ok = len(rest) == 1 and isinstance(rest[0], str) and bool(rest[0])
            else:
                ok = False
        if not ok:
            raise InvalidInputError(f"{name}={key!r} is not a ledger key (use wallet(), cost(), ...)")

    # ---- queries ---------------------------------------------------------------------
    def balance(self, currency: str, key: LedgerKey) -> int:
        index = self._index.get(currency)
        if index is None:
            return 0
        slot = index.get(key)
        return 0 if slot is None else self._cells[currency][slot]  # type: ignore[no-any-return]

    def balances(self, currency: str) -> dict[LedgerKey, int]:
        """All balances of one currency, in sorted key order."""
        if currency not in self._index:
            return {}
        book = self._book(currency)
        return {k: book[k] for k in sorted(book)}

    def currencies(self) -> list[str]:
        return sorted(self._index)

    def items(self) -> list[tuple[str, LedgerKey, int]]:
        """Every (currency, key, balance), sorted: the canonical order for hashing/snapshots."""
        return [(c, k, v) for c in sorted(self._index) for k, v in sorted(self._book(c).items())]

    def sum(self, currency: str) -> int:
        index = self._index.get(currency)
        return 0 if index is None else sum(self._vals[currency][:len(index)].tolist())

    @property
    def transfers(self) -> list[Transfer]:
        """Recorded transfers (only with ``record=True``)."""
        if self._journal is None:
            raise InvalidInputError("this Ledger was created with record=False")
        return list(self._journal)

    def audit(self) -> dict[str, CurrencyAudit]:
        """Per-currency totals by ledger kind, recomputed from the balances."""
        out: dict[str, CurrencyAudit] = {}
        for currency in sorted(self._index):
            by_kind = dict.fromkeys(_KINDS, 0)
            for key, value in self._book(currency).items():
                by_kind[key[0]] += value  # type: ignore[index]
            out[currency] = CurrencyAudit(
                total=sum(by_kind.values()), wallets=by_kind["wallet"], costs=by_kind["cost"],
                insurance=by_kind["insurance"], fees=by_kind["fees"],
                funding=by_kind["funding"], external=by_kind["external"],
                transfers=self._counts[currency])
        return out

    def check_balanced(self) -> None:
        """Raise InvariantViolation naming the first currency whose ledgers do not sum to 0."""
        for currency, audit in self.audit().items():
            if audit.total != 0:
                raise InvariantViolation(f"ledger sum of {currency} is {audit.total}, must be 0")
