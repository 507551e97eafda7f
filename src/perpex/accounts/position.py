"""Positions and the fill math: opening adds cost, closing realises a proportional share.

A position holds a signed quantity (long > 0) and a signed cost in the BitMEX convention of
:mod:`perpex.instruments` (long inverse cost < 0, long linear cost > 0), so the unrealised PnL is
``value_at_mark - cost`` on either side.

Partial close (MECHANICS §1.2, BitMEX): ``new_cost = cost * new_qty / old_qty``, rounded half away
from zero; the released share ``cost - new_cost`` is exact, so the rounding remainder stays in the
position's cost and nothing is lost. A fill that crosses zero is a close of the whole position
followed by an open of the rest, with the fill's exec cost split pro rata (exact for inverse
contracts, whose exec cost is a per-contract amount times qty).

Every fill satisfies ``cost_after == cost_before + exec_cost + realised``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from perpex.accounts._position import Position
from perpex.accounts.ledger import FEES, Ledger, LedgerKey, cost, funding, wallet
from perpex.errors import InvalidInputError, InvalidQuantityError
from perpex.rounding import div_round_half_away

__all__ = ["Position", "apply_fill", "book_fee", "book_fill", "book_funding", "book_funding_many"]


def _check_fill(qty: int, exec_cost: int) -> None:
    if type(qty) is not int:
        raise TypeError(f"qty must be an int, got {type(qty).__name__} {qty!r}")
    if qty == 0:
        raise InvalidQuantityError("qty=0 must be non-zero")
    if type(exec_cost) is not int:
        raise TypeError(f"exec_cost must be an int, got {type(exec_cost).__name__} {exec_cost!r}")


def apply_fill(position: Position, qty: int, exec_cost: int) -> int:
    """Apply a fill of signed ``qty`` (buy > 0) with signed ``exec_cost`` to ``position`` and
    return the trading PnL it realises (0 for a pure increase). Adds it to ``realised_pnl``."""
    _check_fill(qty, exec_cost)
    old_qty = position.qty
    if old_qty == 0 or (old_qty > 0) == (qty > 0):
        position.qty = old_qty + qty
        position.cost += exec_cost
        return 0
    if abs(qty) <= abs(old_qty):
        close_qty, close_cost, open_qty, open_cost = qty, exec_cost, 0, 0
    else:
        close_qty, open_qty = -old_qty, qty + old_qty
        # The opening share is rounded; the closing share takes the exact remainder.
        open_cost = div_round_half_away(exec_cost * open_qty, qty)
        close_cost = exec_cost - open_cost
    kept_qty = old_qty + close_qty
    kept_cost = div_round_half_away(position.cost * kept_qty, old_qty)
    released = position.cost - kept_cost
    realised = -close_cost - released
    position.qty = kept_qty + open_qty
    position.cost = kept_cost + open_cost
    position.realised_pnl += realised
    return realised


def book_fill(ledger: Ledger, currency: str, buyer: Position, seller: Position, qty: int,
              exec_cost: int) -> tuple[int, int]:
    """Book one fill of ``qty`` > 0 contracts between two positions in the same contract.

    ``exec_cost`` is the buyer's (``instrument.exec_cost(qty, price)``); the seller's is its
    negative. Moves the exec cost between the two cost ledgers, applies both sides with
    :func:`apply_fill`, and moves each side's realised PnL from its cost ledger to its wallet.
    Returns ``(buyer_realised, seller_realised)``. A self-trade (same position) nets to zero
    cost and realises nothing new beyond the round trip.

    The exchange books its fills through :func:`perpex._fills.book_trade` (this, then
    :func:`book_fee`, taken natively when every amount fits int64).
    """
    _check_fill(qty, exec_cost)
    if qty < 0:
        raise InvalidQuantityError(f"qty={qty} must be > 0 (the buyer's side)")
    if buyer.symbol != seller.symbol:
        raise InvalidInputError(f"buyer symbol {buyer.symbol!r} != seller symbol {seller.symbol!r}")
    symbol = buyer.symbol
    buyer_cost, seller_cost = cost(buyer.account, symbol), cost(seller.account, symbol)
    if buyer is not seller:
        if buyer_cost == seller_cost:
            raise InvalidInputError(f"two Position objects for account {buyer.account} {symbol}")
        ledger.transfer(currency, buyer_cost, seller_cost, exec_cost, "fill")
    realised_buy = apply_fill(buyer, qty, exec_cost)
    realised_sell = apply_fill(seller, -qty, -exec_cost)
    if realised_buy:
        ledger.transfer(currency, buyer_cost, wallet(buyer.account), realised_buy, "realised")
    if realised_sell:
        ledger.transfer(currency, seller_cost, wallet(seller.account), realised_sell, "realised")
    return realised_buy, realised_sell


def book_fee(ledger: Ledger, currency: str, position: Position, fee: int) -> None:
    """Charge a commission (a maker rebate is a negative fee) into the fee ledger."""
    if type(fee) is not int:
        raise TypeError(f"fee must be an int, got {type(fee).__name__} {fee!r}")
    ledger.transfer(currency, wallet(position.account), FEES, fee, "fee")
    position.realised_pnl -= fee


def book_funding(ledger: Ledger, currency: str, position: Position, payment: int) -> None:
    """Settle one funding payment (> 0 paid by the position, < 0 received) against the
    contract's funding clearing ledger."""
    if type(payment) is not int:
        raise TypeError(f"payment must be an int, got {type(payment).__name__} {payment!r}")
    ledger.transfer(currency, wallet(position.account), funding(position.symbol), payment, "funding")
    position.realised_pnl -= payment


def book_funding_many(ledger: Ledger, currency: str, symbol: str, positions: Sequence[Position],
                      payments: Sequence[int] | npt.NDArray[np.int64],
                      wallets: Sequence[LedgerKey]) -> list[int]:
    """:func:`book_funding` for every position of one contract, in order, as one bulk ledger
    call. ``wallets[i]`` must be ``wallet(positions[i].account)`` (callers that pay funding
    often keep these keys, or :class:`~perpex.accounts.ledger.KeySlots` of them, rather than
    build one per payment). ``payments`` may be an int64 array. Returns the payments as a list
    of ints, which the caller may keep (it needs them again for its events)."""
    if not len(positions) == len(payments) == len(wallets):
        raise InvalidInputError(f"{len(positions)} positions, {len(payments)} payments and "
                                f"{len(wallets)} wallets must match")
    ledger.transfer_many(currency, wallets, funding(symbol), payments, "funding")
    pays = payments.tolist() if isinstance(payments, np.ndarray) else list(payments)
    for position, payment in zip(positions, pays):
        position.realised_pnl -= payment
    return pays
