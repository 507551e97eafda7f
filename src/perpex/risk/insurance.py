"""The insurance fund (MECHANICS §8.1, §8.3; RELIABILITY B2.1, M3, M4).

Each liquidation fill of ``q`` contracts at ``X`` by the engine that took the position over at
the bankruptcy price ``Bk`` books ``surplus = value(q, X) - value(q, Bk)`` to the fund, with
``q`` signed as the *position* being closed (a Sell closes a long). The surplus is positive
when ``X`` is better than ``Bk`` and negative when the fund pays. Values are the instrument's
integer fill values, so the surplus is exactly the difference of the two fills' exec costs and
money is conserved to the unit.

The fund never goes below zero: a loss larger than the balance is only partly absorbed and the
remainder is returned as the shortfall that auto-deleveraging (or, in OKEx mode, clawback) must
cover.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from perpex.errors import InsufficientFundsError, InvalidInputError, InvalidPriceError
from perpex.rounding import check_int
from perpex.instruments import Instrument
# the rules below in C, unchecked: the engine's steps call them with arguments they built
from perpex.risk._fund import affordable as _affordable_fill, surplus as _surplus

__all__ = ["InsuranceFund", "affordable_fill", "clawback_ratio", "clawback_shares", "surplus"]

_SIDES = {"Buy": -1, "Sell": 1}


def surplus(fill_qty: int, fill_price: int, bankruptcy_price: int, instrument: Instrument,
            side: str) -> int:
    """Insurance-fund surplus of one liquidation fill (minor settle units; < 0: the fund pays).

    ``fill_qty`` > 0 contracts; prices in ticks; ``side`` is the liquidation order's side
    ("Sell" closes a liquidated long, "Buy" a liquidated short).
    """
    check_int("fill_qty", fill_qty, 1)
    return _surplus(instrument, _checked_sign(fill_price, bankruptcy_price, instrument, side)
                    * fill_qty, fill_price, bankruptcy_price)


def _checked_sign(fill_price: int, bankruptcy_price: int, instrument: Instrument, side: str) -> int:
    """The liquidation order's prices and side checked; its sign (1: a Sell closing a long)."""
    check_int("fill_price", fill_price, 1)
    check_int("bankruptcy_price", bankruptcy_price, 1)
    if side not in _SIDES:
        raise InvalidInputError(f"side={side!r} must be 'Buy' or 'Sell'")
    if fill_price > instrument.max_price_ticks or bankruptcy_price > instrument.max_price_ticks:
        raise InvalidPriceError(
            f"fill_price={fill_price} / bankruptcy_price={bankruptcy_price} above the maximum "
            f"{instrument.max_price_ticks} ticks of {instrument.symbol}")
    return _SIDES[side]


def affordable_fill(budget: int | Fraction, fill_price: int, bankruptcy_price: int,
                    instrument: Instrument, side: str, available: int) -> tuple[int, int | Fraction]:
    """How many of ``available`` contracts a liquidation order can take at ``fill_price`` when
    its losses against ``bankruptcy_price`` may total at most ``budget`` (minor units), and
    the part of the budget that uses up in the worst case.

    A fill's surplus is rounded once per fill. Inverse values are whole units per contract,
    so their loss is exactly linear. Linear and quanto values round the fill's total, which
    can cost up to one unit more than the exact loss per fill, so each contract is charged
    its exact loss plus one unit: however the order splits into fills, the booked losses then
    never exceed the budget. Prices at least as good as bankruptcy cost nothing (rounding is
    monotone, so such a fill's surplus is never negative).
    """
    check_int("available", available, 0)
    sign = _checked_sign(fill_price, bankruptcy_price, instrument, side)
    return _affordable_fill(budget, fill_price, bankruptcy_price, instrument, sign, available)


class InsuranceFund:
    """One currency's fund balance (minor units), never negative."""

    __slots__ = ("_balance",)

    def __init__(self, balance: int = 0) -> None:
        self._balance = check_int("balance", balance, 0)

    @property
    def balance(self) -> int:
        return self._balance

    def can_cover(self, deficit: int) -> bool:
        """True when the fund alone can pay ``deficit`` (>= 0) without going negative."""
        return check_int("deficit", deficit, 0) <= self._balance

    def credit(self, amount: int) -> None:
        self._balance += check_int("amount", amount, 0)

    def debit(self, amount: int) -> None:
        """Pay ``amount`` out; raises InsufficientFundsError (changing nothing) beyond the balance."""
        check_int("amount", amount, 0)
        if amount > self._balance:
            raise InsufficientFundsError(
                f"amount={amount} exceeds the insurance fund balance {self._balance}")
        self._balance -= amount

    def absorb(self, amount: int) -> int:
        """Book a liquidation surplus (``amount`` >= 0) or loss (< 0) and return the part of a
        loss the fund could not pay (0 when covered): the shortfall that goes to ADL."""
        if type(amount) is not int:
            raise TypeError(f"amount must be an int, got {type(amount).__name__} {amount!r}")
        if amount >= 0:
            self._balance += amount
            return 0
        paid = min(self._balance, -amount)
        self._balance -= paid
        return -amount - paid

    def export_state(self) -> dict[str, int]:
        return {"balance": self._balance}


def clawback_ratio(total_loss: int, risk_reserve: int, total_net_profit: int) -> Fraction:
    """OKEx clawback (§8.3): ``(totalLoss - riskReserve) / totalNetProfit``, 0 when the reserve
    covers the loss, capped at 1 (profits are never clawed back beyond themselves)."""
    check_int("total_loss", total_loss, 0)
    check_int("risk_reserve", risk_reserve, 0)
    check_int("total_net_profit", total_net_profit, 0)
    deficit = total_loss - risk_reserve
    if deficit <= 0:
        return Fraction(0)
    if total_net_profit == 0:
        return Fraction(1)
    return min(Fraction(1), Fraction(deficit, total_net_profit))


def clawback_shares(profits: Mapping[int, int], deficit: int) -> dict[int, int]:
    """Split ``deficit`` over profitable accounts in proportion to their profit. Each share is
    floored, then the leftover units go one each to the largest remainders (ties: lower
    account id first), so the shares sum exactly to ``min(deficit, total profit)``."""
    check_int("deficit", deficit, 0)
    accounts = sorted(profits)
    for acc in accounts:
        check_int(f"profit of account {acc}", profits[acc], 0)
    total = sum(profits[a] for a in accounts)
    due = min(deficit, total)
    if due == 0:
        return {a: 0 for a in accounts}
    shares = {a: profits[a] * due // total for a in accounts}
    leftover = due - sum(shares.values())
    by_remainder = sorted(accounts, key=lambda a: (-(profits[a] * due % total), a))
    for acc in by_remainder[:leftover]:
        shares[acc] += 1
    return shares
