"""A pure-Python price-time matching book on sortedcontainers: the baseline peer.

This is the book a competent Python user would write in an afternoon and then tune a little:
one ``SortedDict`` per side keyed so that index 0 is always the best level (bids are keyed by
the negated price), a ``deque`` of orders per level, and a dict from order id to order.
Orders are plain lists ``[order_id, account, side, price, leaves]``: attribute-free access by
index is the cheapest mutable record CPython offers.

Semantics match the native book for the operations the comparison flow uses: fills at the
maker's price, market remainders canceled, quantity reductions keep priority, self-trades
allowed.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from sortedcontainers import SortedDict

from commands import BUY, SELL, decode, replay
from tape import Fill

try:
    from perpex.errors import DuplicateOrderIdError, InvalidQuantityError, UnknownOrderError
except ImportError:  # the bench can still run its pure-Python parts without perpex
    DuplicateOrderIdError = ValueError  # type: ignore[misc,assignment]
    InvalidQuantityError = ValueError  # type: ignore[misc,assignment]
    UnknownOrderError = KeyError  # type: ignore[misc,assignment]

# order record slots
_ID = 0
_ACCOUNT = 1
_SIDE = 2
_PRICE = 3
_LEAVES = 4

Order = list[int]


class SortedBook:
    """Price-time priority limit order book with an append-only fill tape in ``fills``."""

    __slots__ = ("_bids", "_asks", "_orders", "fills")

    def __init__(self) -> None:
        self._bids: SortedDict = SortedDict()  # -price -> deque[Order]
        self._asks: SortedDict = SortedDict()  # price -> deque[Order]
        self._orders: dict[int, Order] = {}
        self.fills: list[Fill] = []

    # ---------------------------------------------------------------- commands
    def add_limit(self, order_id: int, account: int, side: int, price: int, qty: int) -> int:
        """Matches what crosses, rests the remainder; returns the resting leaves."""
        if qty <= 0:
            raise InvalidQuantityError(f"qty={qty} must be > 0 contracts")
        if order_id in self._orders:
            raise DuplicateOrderIdError(f"order_id={order_id} is already live")
        leaves = self._match(order_id, side, price, qty)
        if leaves:
            order = [order_id, account, side, price, leaves]
            self._orders[order_id] = order
            if side == BUY:
                levels, key = self._bids, -price
            else:
                levels, key = self._asks, price
            level = levels.get(key)
            if level is None:
                levels[key] = deque((order,))
            else:
                level.append(order)
        return leaves

    def add_market(self, order_id: int, account: int, side: int, qty: int) -> int:
        """Sweeps the opposite side; the unfilled remainder is canceled. Returns 0."""
        if qty <= 0:
            raise InvalidQuantityError(f"qty={qty} must be > 0 contracts")
        self._match(order_id, side, 0, qty)
        return 0

    def cancel(self, order_id: int) -> int:
        """Removes a resting order; returns its canceled leaves."""
        order = self._orders.pop(order_id, None)
        if order is None:
            raise UnknownOrderError(f"order_id={order_id} is not resting")
        levels, key = (
            (self._bids, -order[_PRICE]) if order[_SIDE] == BUY else (self._asks, order[_PRICE])
        )
        level = levels[key]
        if level[0] is order:
            level.popleft()
        else:
            level.remove(order)
        if not level:
            del levels[key]
        return order[_LEAVES]

    def amend_qty(self, order_id: int, qty: int) -> int:
        """Sets the leaves to ``qty``: a reduction keeps priority, an increase goes to the back."""
        if qty <= 0:
            raise InvalidQuantityError(f"qty={qty} must be > 0 contracts")
        order = self._orders.get(order_id)
        if order is None:
            raise UnknownOrderError(f"order_id={order_id} is not resting")
        if qty > order[_LEAVES]:
            level = (self._bids[-order[_PRICE]] if order[_SIDE] == BUY
                     else self._asks[order[_PRICE]])
            level.remove(order)
            level.append(order)
        order[_LEAVES] = qty
        return qty

    def _match(self, taker_id: int, side: int, limit: int, qty: int) -> int:
        """Takes liquidity up to ``limit`` (0 = no limit); returns the untraded quantity."""
        if side == BUY:
            levels, sign = self._asks, 1
        else:
            levels, sign = self._bids, -1
        fills = self.fills
        orders = self._orders
        while qty and levels:
            key = levels.keys()[0]
            price = key * sign
            if limit and (price > limit if sign == 1 else price < limit):
                break
            level = levels[key]
            while level:
                maker = level[0]
                m_leaves = maker[_LEAVES]
                if m_leaves <= qty:
                    qty -= m_leaves
                    fills.append((maker[_ID], taker_id, price, m_leaves))
                    level.popleft()
                    del orders[maker[_ID]]
                    if not qty:
                        break
                else:
                    maker[_LEAVES] = m_leaves - qty
                    fills.append((maker[_ID], taker_id, price, qty))
                    qty = 0
                    break
            if not level:
                del levels[key]
        return qty

    # ----------------------------------------------------------------- queries
    def best_bid(self) -> int:
        """Highest bid price in ticks, 0 when there are no bids."""
        return -self._bids.keys()[0] if self._bids else 0

    def best_ask(self) -> int:
        """Lowest ask price in ticks, 0 when there are no asks."""
        return self._asks.keys()[0] if self._asks else 0

    @property
    def order_count(self) -> int:
        return len(self._orders)

    def is_live(self, order_id: int) -> bool:
        return order_id in self._orders

    def account_of(self, order_id: int) -> int:
        return self._orders[order_id][_ACCOUNT]

    def leaves(self, order_id: int) -> int:
        return self._orders[order_id][_LEAVES]

    def level_quantities(self, side: int, n: int) -> list[int]:
        """Total leaves of the best ``n`` levels of one side, best first."""
        levels = self._bids if side == BUY else self._asks
        return [sum(o[_LEAVES] for o in levels[k]) for k in levels.keys()[:n]]

    def depth(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(price, total leaves) per level, best first, like the native ``depth``."""
        bids = [(-k, sum(o[_LEAVES] for o in self._bids[k])) for k in self._bids.keys()[:n]]
        asks = [(k, sum(o[_LEAVES] for o in self._asks[k])) for k in self._asks.keys()[:n]]
        return bids, asks

    # ------------------------------------------------------------------ replay
    def replay(self, cmds: np.ndarray[Any, Any]) -> None:
        """Applies a whole command array (adds, market orders, cancels, quantity amends)."""
        replay_rows(self, decode(cmds))


def replay_rows(book: SortedBook, rows: list[tuple[int, int, int, int, int, int, int]]) -> None:
    """The timed loop of the baseline peer: one method call per message."""
    replay(rows, book.add_limit, book.add_market, book.cancel, book.amend_qty)


__all__ = ["SortedBook", "replay_rows", "BUY", "SELL"]
