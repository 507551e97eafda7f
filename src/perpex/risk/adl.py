"""Auto-deleveraging (MECHANICS §8.2, "Decisions" 11; RELIABILITY P3).

Ranking, exactly as BitMEX documents it, with signed BitMEX values (§0)::

    PNL%              = (MarkValue - AvgEntryValue) / |AvgEntryValue|
    EffectiveLeverage = |MarkValue| / (MarkValue - BankruptValue)
    score             = PNL% * EffectiveLeverage   if PNL% > 0
                      = PNL% / EffectiveLeverage   if PNL% < 0   (0 when flat on PnL)

``AvgEntryValue`` is the position's cost and ``BankruptValue = cost - collateral`` (the value
at which ``collateral + UPnL`` is zero, as in :mod:`perpex.risk.prices`), so
``MarkValue - BankruptValue`` is the position's equity. Every key is an exact
:class:`~fractions.Fraction`, so ties are real ties and are broken by account id ascending.
A losing position whose mark value rounds to 0 (an inverse contract at a vast mark, a linear
one at a tiny mark) has no leverage to divide by: its score is minus infinity, and it ranks
behind every position with a finite score.
Longs and shorts form separate queues, highest score first. Deleveraged counterparties fill at
the bankruptcy price of the liquidated position, in queue order, until it is exhausted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cmp_to_key
from fractions import Fraction
from typing import NamedTuple

from perpex.errors import InvalidInputError, InvalidPriceError
from perpex.rounding import check_int
from perpex.instruments import Instrument

__all__ = [
    "AdlCandidate",
    "AdlFill",
    "adl_position",
    "adl_queue",
    "adl_score",
    "deleverage_percentile",
    "plan_adl",
    "rank_scores",
]


class AdlCandidate(NamedTuple):
    """An opposing position: account id, signed qty, signed cost, collateral (as prices.py)."""

    account: int
    qty: int
    cost: int
    collateral: int


class AdlFill(NamedTuple):
    """One deleverage execution: ``qty`` contracts of ``account`` closed at ``price_ticks``."""

    account: int
    qty: int
    price_ticks: int


def adl_score(instrument: Instrument, qty: int, cost: int, collateral: int, mark_e8: int) -> Fraction:
    """The §8.2 ranking score of one position at ``mark_e8`` (exact). A losing position worth
    0 at the mark has no finite score (InvalidInputError); the queues rank it last."""
    num, den = _score_ratio(instrument, qty, cost, collateral, mark_e8)
    if not den:
        raise InvalidInputError(f"position qty={qty} is worth 0 at mark_e8={mark_e8} at a loss: "
                                "its score is minus infinity (it ranks last)")
    return Fraction(num, den)


def _score_ratio(instrument: Instrument, qty: int, cost: int, collateral: int,
                 mark_e8: int) -> tuple[int, int]:
    """:func:`adl_score` as an unreduced numerator and denominator >= 0: one position's place
    compares these by cross-multiplying, which is exact and spares a gcd per candidate. A
    denominator of 0 (with numerator -1) is minus infinity."""
    for name, value in (("qty", qty), ("cost", cost), ("collateral", collateral), ("mark_e8", mark_e8)):
        check_int(name, value)
    if qty == 0 or cost == 0:
        raise InvalidInputError(f"qty={qty} and cost={cost} must describe an open position")
    if mark_e8 <= 0:
        raise InvalidPriceError(f"mark_e8={mark_e8} must be > 0")
    mark_value = instrument.mark_value(qty, mark_e8)
    equity = mark_value - (cost - collateral)
    if equity <= 0:
        raise InvalidInputError(
            f"position qty={qty} has equity {equity} <= 0 at mark_e8={mark_e8}: it is bankrupt "
            "and must be liquidated, not ranked as an ADL counterparty")
    # PNL% = pnl / |cost| and EffectiveLeverage = |mark value| / equity
    pnl = mark_value - cost
    if pnl > 0:
        return pnl * abs(mark_value), abs(cost) * equity
    if pnl < 0:
        if mark_value == 0:  # a loss over an effective leverage of 0
            return -1, 0
        return pnl * equity, abs(cost) * abs(mark_value)
    return 0, 1


def rank_scores(scores: Mapping[int, Fraction | int]) -> list[int]:
    """Account ids ordered highest score first; equal scores by account id ascending."""
    for acc in scores:
        check_int("account", acc, 0)
    return sorted(scores, key=lambda acc: (-Fraction(scores[acc]), acc))


def adl_queue(instrument: Instrument, candidates: Iterable[AdlCandidate], mark_e8: int,
              side: str) -> list[AdlCandidate]:
    """The deleverage queue of one side (``"Long"`` or ``"Short"``), highest score first."""
    ranked = _ranked(instrument, _side_pool(candidates, side), mark_e8)
    return [c for _, c in sorted(ranked, key=cmp_to_key(_queue_order))]


def adl_position(instrument: Instrument, candidates: Iterable[AdlCandidate], mark_e8: int,
                 side: str, account: int) -> tuple[int, int] | None:
    """Where ``account`` stands in the deleverage queue of ``side`` that :func:`adl_queue`
    builds from the same arguments: ``(place, length)`` with place 1 at the front, ready for
    :func:`deleverage_percentile`; None when the account holds nothing on that side. It
    counts the candidates ranked ahead instead of ordering the queue, so one position costs
    O(n); the same inputs raise the same errors as :func:`adl_queue`."""
    check_int("account", account, 0)
    ranked = _ranked(instrument, _side_pool(candidates, side), mark_e8)
    own = next((r for r in ranked if r[1].account == account), None)
    if own is None:
        return None
    return sum(_queue_order(r, own) < 0 for r in ranked) + 1, len(ranked)


_Ranked = tuple[tuple[int, int], AdlCandidate]


def _ranked(instrument: Instrument, pool: list[AdlCandidate], mark_e8: int) -> list[_Ranked]:
    return [(_score_ratio(instrument, c.qty, c.cost, c.collateral, mark_e8), c) for c in pool]


def _queue_order(a: _Ranked, b: _Ranked) -> int:
    """< 0 when ``a`` goes before ``b``: a higher score first (minus infinity last), an equal
    one by account ascending. Scores compare by cross-multiplying, exact without a gcd."""
    (n, d), (num, den) = a[0], b[0]
    diff = (num * d - n * den) if d and den else (den > 0) - (d > 0)
    return diff or a[1].account - b[1].account


def _side_pool(candidates: Iterable[AdlCandidate], side: str) -> list[AdlCandidate]:
    """The candidates of ``side`` ("Long" or "Short"), checked: int quantities, account ids
    >= 0, each account once."""
    if side not in ("Long", "Short"):
        raise InvalidInputError(f"side={side!r} must be 'Long' or 'Short'")
    sign = 1 if side == "Long" else -1
    pool = [c for c in candidates if check_int("qty", c.qty) * sign > 0]
    accounts = [check_int("account", c.account, 0) for c in pool]
    if len(set(accounts)) != len(accounts):
        raise InvalidInputError(f"duplicate account in ADL candidates: {sorted(accounts)}")
    return pool


def deleverage_percentile(position: int, queue_length: int) -> int:
    """The indicator quintile of the ``position``-th entry (1 = front) of a queue of
    ``queue_length``, in percent: ``20 * ceil(5 * position / queue_length)``. 20 means the
    front fifth of the queue (deleveraged first, five lights), 100 the back fifth."""
    check_int("queue_length", queue_length, 1)
    check_int("position", position, 1)
    if position > queue_length:
        raise InvalidInputError(f"position={position} must be <= queue_length={queue_length}")
    return 20 * (-(-5 * position // queue_length))


def plan_adl(liquidated_side: str, qty: int, bankruptcy_price: int,
             candidates: Sequence[tuple[int, int]]) -> list[AdlFill]:
    """Fills that close ``qty`` contracts of a liquidated ``"Long"``/``"Short"`` position
    against ``candidates`` — ``(account, signed qty)`` of the opposing side, already in queue
    order — each at ``bankruptcy_price`` ticks. Stops when ``qty`` is exhausted or the queue
    is; the planned quantity is ``min(qty, total opposing qty)``."""
    if liquidated_side not in ("Long", "Short"):
        raise InvalidInputError(f"liquidated_side={liquidated_side!r} must be 'Long' or 'Short'")
    check_int("qty", qty, 1)
    check_int("bankruptcy_price", bankruptcy_price, 1)
    opposing = -1 if liquidated_side == "Long" else 1
    seen: set[int] = set()
    for account, held in candidates:
        check_int("account", account, 0)
        check_int("candidate qty", held)
        if held * opposing <= 0:
            raise InvalidInputError(
                f"account {account} holds {held}: ADL counterparties of a liquidated "
                f"{liquidated_side} must be on the opposite side")
        if account in seen:
            raise InvalidInputError(f"account {account} appears twice in the ADL queue")
        seen.add(account)
    fills = []
    left = qty
    for account, held in candidates:
        if left == 0:
            break
        take = min(left, abs(held))
        fills.append(AdlFill(account, take, bankruptcy_price))
        left -= take
    return fills
