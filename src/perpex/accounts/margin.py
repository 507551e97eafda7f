"""Margin requirements as pure functions (MECHANICS §2.1, §2.2, §3.2).

Every requirement is rounded **up** (``Rounding.CEIL``) so the exchange is never short by a
fraction of a unit; every amount is integer minor settle units. Nothing here mutates state.

Terms (BitMEX, recommended rule of §3.2):

- order margin    IM on the opening part of open orders (bids and offers netted), plus the
                  fair-price premium of orders priced through the mark, plus a taker-fee reserve;
                  reduce-only orders and the part of an order that closes the position carry none.
- posInit         isolated: ``|cost| / leverage + extra_margin``; cross: ``|cost| x IM%(steps)``.
- posComm         commission to close at the bankruptcy price (taker rate).
- maintenance     ``MM%(steps) x |cost| + posComm + funding reserve`` (MM on entry value, as
                  BitMEX's isolated-margin example WE-20 shows).
- liquidate when  ``posInit + posComm + UPnL(mark) <= maintenance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import NamedTuple

from perpex.accounts._levels import LevelTerms
from perpex.errors import InvalidInputError, InvalidLeverageError, InvalidPriceError
from perpex.instruments import E8, ContractType, Instrument
from perpex.rounding import _CEIL, apply_rate, div_by_rate, exact_rate

__all__ = [
    "ContractValue",
    "OpenOrder",
    "OrderMargin",
    "PositionMargin",
    "available_balance",
    "commission_to_close",
    "funding_reserve",
    "is_liquidatable",
    "level_order_margin",
    "maintenance_margin",
    "order_margin",
    "position_init_margin",
]


class OpenOrder(NamedTuple):
    """A resting order as the margin calculation sees it: signed leaves qty (buy > 0)."""

    qty: int
    price_ticks: int
    reduce_only: bool = False


class OrderMargin(NamedTuple):
    initial: int
    premium: int
    fee_reserve: int

    @property
    def total(self) -> int:
        return self.initial + self.premium + self.fee_reserve


class PositionMargin(NamedTuple):
    init: int
    commission: int

    @property
    def total(self) -> int:
        return self.init + self.commission


def _check_rate(name: str, rate: float | Fraction) -> float | Fraction:
    num, _ = exact_rate(rate, name)
    if num < 0:
        raise InvalidInputError(f"{name}={rate} must be >= 0")
    return rate


def _opening_legs(orders: list[OpenOrder], capacity: int, side: int) -> list[tuple[int, int]]:
    """(contracts, price_ticks) of each order's opening part. The first ``capacity`` contracts,
    taken from the most aggressive orders (they fill first), close the position instead."""
    ranked = sorted(range(len(orders)), key=lambda i: (-side * orders[i].price_ticks, i))
    legs = []
    for i in ranked:
        n = abs(orders[i].qty)
        closing = min(capacity, n)
        capacity -= closing
        if n > closing:
            legs.append((n - closing, orders[i].price_ticks))
    return legs


def order_margin(instrument: Instrument, position_qty: int, orders: Iterable[OpenOrder],
                 init_rate: float | Fraction, *, mark_e8: int | None = None,
                 best_bid_ticks: int | None = None, fee_rate: float | None = None) -> OrderMargin:
    """Margin held for open orders (§2.1).

    Netting: with opening bids B and opening offers S (contracts), IM is charged on the smaller
    side in full and on ``|B - S|`` contracts of the larger side, taking that side's
    highest-valued contracts first (S7: bid 20 @ 100 and offer 15 @ 150 -> IM on 5 bids and
    15 offers). Offers are valued at ``max(limit, best bid)``. The premium (100% of the loss
    against the mark of a buy above / sell below the mark) applies to every opening contract.
    The fee reserve is ``fee_rate`` (default: taker fee, never below 0) on the charged value.
    """
    _check_rate("init_rate", init_rate)
    if type(position_qty) is not int:
        raise TypeError(f"position_qty must be an int, got {type(position_qty).__name__}")
    buys: list[OpenOrder] = []
    sells: list[OpenOrder] = []
    for order in orders:
        if type(order.qty) is not int or order.qty == 0:
            raise InvalidInputError(f"order qty={order.qty!r} must be a non-zero int")
        if type(order.price_ticks) is not int or order.price_ticks <= 0:
            raise InvalidPriceError(f"order price_ticks={order.price_ticks!r} must be an int > 0")
        if not order.reduce_only:
            (buys if order.qty > 0 else sells).append(order)
    if mark_e8 is not None and (type(mark_e8) is not int or mark_e8 <= 0):
        raise InvalidPriceError(f"mark_e8={mark_e8!r} must be an int > 0")
    buy_legs = _opening_legs(buys, max(0, -position_qty), +1)
    sell_legs = _opening_legs(sells, max(0, position_qty), -1)
    if best_bid_ticks is not None:
        sell_legs = [(n, max(p, best_bid_ticks)) for n, p in sell_legs]

    value = instrument.value
    n_buy = sum(n for n, _ in buy_legs)
    n_sell = sum(n for n, _ in sell_legs)
    small, large, excess = (sell_legs, buy_legs, n_buy - n_sell) if n_buy >= n_sell else (
        buy_legs, sell_legs, n_sell - n_buy)
    charged = sum(abs(value(n, p)) for n, p in small)
    for n, p in sorted(large, key=lambda leg: -instrument.unit_value(leg[1])):
        if excess <= 0:
            break
        take = min(n, excess)
        charged += abs(value(take, p))
        excess -= take

    premium = 0
    if mark_e8 is not None:
        for sign, legs in ((1, buy_legs), (-1, sell_legs)):
            for n, p in legs:
                price_e8 = instrument.ticks_to_e8(p)
                if sign * (price_e8 - mark_e8) > 0:  # buy above / sell below the mark
                    premium += abs(value(n, p) - instrument.mark_value(n, mark_e8))

    rate = instrument.taker_fee if fee_rate is None else fee_rate
    fee_num, _ = exact_rate(rate, "fee_rate")
    fee_reserve = apply_rate(charged, rate, _CEIL) if fee_num > 0 else 0
    return OrderMargin(apply_rate(charged, init_rate, _CEIL), premium, fee_reserve)


class ContractValue:
    """An instrument's contract-value constants for :func:`level_order_margin`.

    ``per_contract``: the value of ``n`` contracts at a tick is always ``n`` times the value of
    one (inverse contracts, whose value is rounded per contract, and linear or quanto ones whose
    contract value at a tick is a whole number of minor units). Only then does order margin
    depend on open orders through their contracts per price level alone.

    ``terms``: these constants for the native order-margin index, or None when the contract
    is not valued per contract or a constant is beyond 64 bits (it then takes the Python
    calculation)."""

    __slots__ = ("instrument", "inverse", "per_contract", "value_num", "value_den",
                 "e8_per_tick", "multiplier", "fee_num", "fee_den", "terms", "_mark")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.inverse = instrument.contract_type is ContractType.INVERSE
        # the instrument's own value ratio: inverse |m| / price is num / (ticks x den), rounded;
        # linear and quanto, ticks x num / den (in lowest terms)
        self.value_num, self.value_den = instrument._value_num, instrument._value_den
        self.per_contract = self.inverse or self.value_den == 1
        self.e8_per_tick = instrument.e8_per_tick
        self.multiplier = instrument.multiplier
        fee_num, fee_den = exact_rate(instrument.taker_fee, "taker_fee")
        self.fee_num, self.fee_den = (fee_num, fee_den) if fee_num > 0 else (0, 1)
        self.terms: LevelTerms | None = None
        if self.per_contract:
            try:
                self.terms = LevelTerms(self.inverse, self.value_num, self.value_den,
                                        self.e8_per_tick, self.fee_num, self.fee_den)
            except OverflowError:
                pass
        self._mark: tuple[int, int | None] = (0, None)  # the last mark asked for and its unit

    def mark_unit(self, mark_e8: int) -> int | None:
        """``instrument.mark_value(1, mark_e8)`` when ``mark_value(n, mark_e8)`` is ``n`` times
        it for every ``n`` (always for inverse contracts), else None."""
        if self._mark[0] == mark_e8:
            return self._mark[1]
        unit = self._mark_unit(mark_e8)
        self._mark = (mark_e8, unit)
        return unit

    def _mark_unit(self, mark_e8: int) -> int | None:
        if not self.inverse and (self.multiplier * mark_e8) % E8:
            return None
        return self.instrument.mark_value(1, mark_e8)


def level_order_margin(cv: ContractValue, position_qty: int, buys: Mapping[int, int],
                       buy_prices: Sequence[int], sells: Mapping[int, int],
                       sell_prices: Sequence[int], init_rate: tuple[int, int], *,
                       mark_e8: int | None = None, best_bid_ticks: int | None = None) -> int:
    """:func:`order_margin`'s total for open orders given as contracts per price level
    (``buys[p]``, ``sells[p]`` > 0 for every price in the ascending ``buy_prices`` /
    ``sell_prices``), with ``init_rate`` as an exact ``(num, den)`` pair, den > 0, and the
    instrument's taker fee as the fee rate. Equal to ``order_margin(...).total`` for the same
    orders whenever ``cv.per_contract`` holds and ``cv.mark_unit(mark_e8)`` is not None
    (callers check both): every leg's charge and premium is then its contracts times a
    per-contract amount, so neither how a level splits into orders nor their order matters.

    One pass per side, most aggressive level first (the order in which the position's
    closing contracts are taken). The netting needs no sort: the larger side is charged on
    its ``excess`` highest-valued opening contracts, which in that order are its first ones
    when value rises with aggressiveness (inverse sells, linear buys) and its last ones
    otherwise."""
    inverse, vn, vd = cv.inverse, cv.value_num, cv.value_den
    cap_b = -position_qty if position_qty < 0 else 0
    cap_s = position_qty if position_qty > 0 else 0
    nb = sum(buys.values()) - cap_b if buy_prices else 0
    ns = sum(sells.values()) - cap_s if sell_prices else 0
    if nb < 0:
        nb = 0
    if ns < 0:
        ns = 0
    if not nb and not ns:
        return 0
    # charged opening contracts of each side: positions [lo, hi) in its pass order
    if nb >= ns:
        s_lo, s_hi = 0, ns
        b_lo, b_hi = (ns, nb) if inverse else (0, nb - ns)
    else:
        b_lo, b_hi = 0, nb
        s_lo, s_hi = (0, ns - nb) if inverse else (nb, ns)
    # premium: buys above the mark (p > buy_over), sells below it (p < sell_under)
    m1 = buy_over = sell_under = 0
    if mark_e8 is not None:
        unit_at_mark = cv.mark_unit(mark_e8)
        if unit_at_mark is None:
            raise InvalidInputError(f"{cv.instrument.symbol}: contract value at mark_e8={mark_e8} "
                                    "is not per contract; use order_margin")
        m1 = unit_at_mark
        buy_over = mark_e8 // cv.e8_per_tick
        sell_under = -(-mark_e8 // cv.e8_per_tick)
    elif buy_prices:
        buy_over = buy_prices[-1]
    # buys pass most aggressive (highest) first, sells lowest first; a premium is due beyond
    # the mark: buys above it, sells below it (sign flips the comparison)
    charged = premium = 0
    if nb:
        c, pr = _side_levels(reversed(buy_prices), buys, cap_b, b_lo, b_hi, 1, buy_over, 0,
                             inverse, vn, vd, m1)
        charged, premium = charged + c, premium + pr
    if ns:
        # offers are valued at no less than the best bid
        c, pr = _side_levels(sell_prices, sells, cap_s, s_lo, s_hi, -1, sell_under,
                             best_bid_ticks or 0, inverse, vn, vd, m1)
        charged, premium = charged + c, premium + pr
    rn, rd = init_rate
    return -((-charged * rn) // rd) + premium - ((-charged * cv.fee_num) // cv.fee_den)


def _side_levels(prices: Iterable[int], counts: Mapping[int, int], cap: int, lo: int, hi: int,
                 sign: int, beyond: int, floor: int, inverse: bool, vn: int, vd: int,
                 m1: int) -> tuple[int, int]:
    """One side's pass of :func:`level_order_margin`: (charged value, premium). The first
    ``cap`` contracts close the position and carry nothing; of the rest, those at positions
    [lo, hi) are charged; every level with ``sign * p > sign * beyond`` pays the premium."""
    charged = premium = 0
    at = 0
    for p in prices:
        n = counts[p]
        if cap:
            if cap >= n:
                cap -= n
                continue
            n, cap = n - cap, 0
        if p < floor:
            p = floor
        if inverse:  # Instrument.unit_value: |m| / price rounded half up, per contract
            d = p * vd
            unit = (2 * vn + d) // (2 * d)
            value = -unit
        else:
            value = unit = p * vn
        first, at = (at if at > lo else lo), at + n
        last = at if at < hi else hi
        if last > first:
            charged += (last - first) * unit
        if sign * p > sign * beyond:
            premium += n * abs(value - m1)
        elif at >= hi:
            break
    return charged, premium


def position_init_margin(cost: int, *, leverage: float, init_rate: float,
                         extra_margin: int = 0) -> int:
    """posInit: isolated (``leverage > 0``) ``ceil(|cost| / leverage) + extra_margin``;
    cross (``leverage == 0``) ``ceil(|cost| x init_rate)``."""
    if leverage == 0:
        return apply_rate(abs(cost), _check_rate("init_rate", init_rate), _CEIL)
    num, _ = exact_rate(leverage, "leverage")
    if num < 0:
        raise InvalidLeverageError(f"leverage={leverage} must be 0 (cross) or > 0")
    return div_by_rate(abs(cost), leverage, _CEIL) + extra_margin


def commission_to_close(instrument: Instrument, qty: int, bankruptcy_ticks: int | None,
                        fee_rate: float | None = None) -> int:
    """posComm: the taker fee on the position's value at its bankruptcy price (0 when the
    bankruptcy price is unreachable, e.g. a 1x inverse short, whose value there is 0)."""
    if qty == 0 or bankruptcy_ticks is None:
        return 0
    rate = instrument.taker_fee if fee_rate is None else fee_rate
    return max(0, instrument.fee(instrument.value(qty, bankruptcy_ticks), rate))


def funding_reserve(instrument: Instrument, qty: int, mark_e8: int, funding_rate: float) -> int:
    """The next funding payment, reserved only for the paying side (long when F > 0, short
    when F < 0), on the mark value, rounded up."""
    num, _ = exact_rate(funding_rate, "funding_rate")
    if qty == 0 or num == 0 or (num > 0) != (qty > 0):
        return 0
    return apply_rate(abs(instrument.mark_value(qty, mark_e8)), abs(funding_rate), _CEIL)


def maintenance_margin(cost: int, maint_rate: float, *, commission: int = 0,
                       funding: int = 0) -> int:
    """``ceil(MM% x |cost|) + posComm + funding reserve``; ``maint_rate`` is MM%(steps) from
    :meth:`Instrument.maint_rate` for the authorised risk limit."""
    return apply_rate(abs(cost), _check_rate("maint_rate", maint_rate), _CEIL) \
        + commission + funding


def is_liquidatable(position_margin: int, unrealised_pnl: int, maintenance: int) -> bool:
    """BitMEX trigger: margin plus unrealised PnL at the mark at or below maintenance."""
    return position_margin + unrealised_pnl <= maintenance


def available_balance(wallet_balance: int, *, position_margin: int, order_margin: int,
                      cross_unrealised: Iterable[int] = ()) -> int:
    """Wallet minus every position's margin (isolated and cross) and all order margin, minus
    the unrealised losses of cross positions. Unrealised profit never counts (no portfolio
    margining, §2.1); an isolated position's losses are bounded by its own margin."""
    return (wallet_balance - position_margin - order_margin
            + sum(min(0, u) for u in cross_unrealised))
