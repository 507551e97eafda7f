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

from collections.abc import Sequence
from typing import NamedTuple, Union

from perpex.errors import InvalidInputError, InvariantViolation

__all__ = [
    "EXTERNAL",
    "FEES",
    "INSURANCE",
    "CurrencyAudit",
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


class Ledger:
    """Balances per currency and ledger key; see the module docstring."""

    __slots__ = ("_books", "_counts", "_journal")

    def __init__(self, record: bool = False) -> None:
        self._books: dict[str, dict[LedgerKey, int]] = {}
        self._counts: dict[str, int] = {}
        self._journal: list[Transfer] | None = [] if record else None

    def transfer(self, currency: str, src: LedgerKey, dst: LedgerKey, amount: int,
                 reason: str = "") -> None:
        """Move ``amount`` minor units from ``src`` to ``dst`` (a negative amount moves the
        other way; 0 is allowed and creates both keys). Validated before anything changes."""
        if type(amount) is not int:
            raise TypeError(f"amount must be an int, got {type(amount).__name__} {amount!r}")
        book = self._books.get(currency)
        if book is None:
            if not isinstance(currency, str) or not currency:
                raise TypeError(f"currency must be a non-empty str, got {currency!r}")
            self._check_key(src, "src")
            self._check_key(dst, "dst")
        else:
            if src not in book:
                self._check_key(src, "src")
            if dst not in book:
                self._check_key(dst, "dst")
        if src == dst:
            raise InvalidInputError(f"transfer of {amount} from {src!r} to itself")
        if book is None:
            book = self._books[currency] = {}
            self._counts[currency] = 0
        book[src] = book.get(src, 0) - amount
        book[dst] = book.get(dst, 0) + amount
        self._counts[currency] += 1
        if self._journal is not None:
            self._journal.append(Transfer(currency, src, dst, amount, reason))

    def transfer_many(self, currency: str, srcs: Sequence[LedgerKey], dst: LedgerKey,
                      amounts: Sequence[int], reason: str = "") -> None:
        """``transfer(currency, srcs[i], dst, amounts[i], reason)`` for every i, in order, with
        the same balances, transfer count and recorded transfers; validated in full before
        anything changes. For one payment per position (funding), where a call per transfer
        would dominate the cost."""
        n = len(srcs)
        if len(amounts) != n:
            raise InvalidInputError(f"{n} sources but {len(amounts)} amounts")
        if not n:
            return
        if not {*map(type, amounts)} <= {int}:
            bad = next(a for a in amounts if type(a) is not int)
            raise TypeError(f"amount must be an int, got {type(bad).__name__} {bad!r}")
        book = self._books.get(currency)
        if book is None:
            if not isinstance(currency, str) or not currency:
                raise TypeError(f"currency must be a non-empty str, got {currency!r}")
        known = book if book is not None else {}
        if dst not in known:
            self._check_key(dst, "dst")
        if dst in srcs:
            raise InvalidInputError(f"transfer from {dst!r} to itself")
        if book is None or not self._debit_known(book, srcs, amounts):
            for key in srcs:
                if key not in known:
                    self._check_key(key, "src")
            if book is None:
                book = self._books[currency] = {}
                self._counts[currency] = 0
            get = book.get
            for key, amount in zip(srcs, amounts):
                book[key] = get(key, 0) - amount
        book[dst] = book.get(dst, 0) + sum(amounts)
        self._counts[currency] += n
        if self._journal is not None:
            self._journal.extend(Transfer(currency, key, dst, amount, reason)
                                 for key, amount in zip(srcs, amounts))

    @staticmethod
    def _debit_known(book: dict[LedgerKey, int], srcs: Sequence[LedgerKey],
                     amounts: Sequence[int]) -> bool:
        """Debits every source if all are known keys (the usual case: one look-up each, no
        validation pass); otherwise undoes what it did and returns False."""
        get = book.get
        done = 0
        for done, (key, amount) in enumerate(zip(srcs, amounts)):
            old = get(key)
            if old is None:
                break
            book[key] = old - amount
        else:
            return True
        # in reverse, so a source listed twice gets back exactly what it had
        for key, amount in reversed(list(zip(srcs[:done], amounts[:done]))):
            book[key] += amount
        return False

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
        book = self._books.get(currency)
        return 0 if book is None else book.get(key, 0)

    def balances(self, currency: str) -> dict[LedgerKey, int]:
        """All balances of one currency, in sorted key order."""
        book = self._books.get(currency, {})
        return {k: book[k] for k in sorted(book)}

    def currencies(self) -> list[str]:
        return sorted(self._books)

    def items(self) -> list[tuple[str, LedgerKey, int]]:
        """Every (currency, key, balance), sorted: the canonical order for hashing/snapshots."""
        return [(c, k, v) for c in sorted(self._books) for k, v in sorted(self._books[c].items())]

    def sum(self, currency: str) -> int:
        return sum(self._books.get(currency, {}).values())

    @property
    def transfers(self) -> list[Transfer]:
        """Recorded transfers (only with ``record=True``)."""
        if self._journal is None:
            raise InvalidInputError("this Ledger was created with record=False")
        return list(self._journal)

    def audit(self) -> dict[str, CurrencyAudit]:
        """Per-currency totals by ledger kind, recomputed from the balances."""
        out: dict[str, CurrencyAudit] = {}
        for currency in sorted(self._books):
            by_kind = dict.fromkeys(_KINDS, 0)
            for key, value in self._books[currency].items():
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
