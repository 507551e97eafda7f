# cython: language_level=3
"""One account's position in one contract, as an extension type.

Every fill reads and writes two of these, and the pre-trade check reads one per contract of
the account, so the engine's Cython modules read the fields from the object's C layout rather
than through attribute lookups. The amounts are int64 fields while they fit, and Python ints
beyond (the reference fill math of :mod:`perpex.accounts.position` keeps them exact there).

The object also carries where the ledger keeps its cost and its account's wallet (see
:mod:`perpex._fills`) and its key's entries in the engine's live-order tables (see
:mod:`perpex._core`): caches, never pickled, compared or hashed."""

cimport cython
from libc.stdint cimport int64_t

from perpex._checked cimport as_int64

import copyreg
import math

from perpex.errors import InvalidInputError, InvalidLeverageError

_FIELDS = ("account", "symbol", "risk_limit", "qty", "cost", "realised_pnl", "leverage",
           "extra_margin")
_INTS = ("account", "risk_limit", "qty", "cost", "realised_pnl", "extra_margin")


# no_gc: a position refers to ints, strs, its key tuple, a ledger's slot index and the engine's
# live-order and order-margin tables (whose dicts and levels hold ints), none of which refers
# back, so it cannot be part of a cycle; untracked, it costs the collector nothing
@cython.no_gc
cdef class Position:
    """One account's position in one contract.

    ``leverage``: 0 means cross margin (BitMEX's convention); > 0 is isolated at that leverage.
    ``extra_margin``: margin added to an isolated position on top of cost / leverage.
    ``risk_limit``: the authorised risk limit in minor settle units (margin follows it, §2.2).
    ``realised_pnl``: trading PnL plus fees (paid < 0, rebates > 0) plus funding, lifetime.
    """

    def __init__(self, account, symbol, risk_limit, qty=0, cost=0, realised_pnl=0,
                 leverage=0.0, extra_margin=0):
        values = (account, symbol, risk_limit, qty, cost, realised_pnl, leverage, extra_margin)
        _check(values)
        self._set(values)

    cdef _set(self, tuple values):
        (self.account, self.symbol, self.risk_limit, qty, cost, realised_pnl,
         self.leverage, self.extra_margin) = values
        self._amounts(qty, cost, realised_pnl)
        self.key = (self.account, self.symbol)
        self.slot_index = None  # no ledger slots remembered (perpex._fills)
        self.queued = False  # (perhaps not queued: perpex._core queues it again)
        self.live = self.live_tab = self.levels = self.levels_tab = None  # (nothing remembered)

    cdef int _amounts(self, object qty, object cost, object realised_pnl) except -1:
        # int64 fields when all three fit, else the three objects in ``wide``
        cdef int64_t q, c, r
        if as_int64(qty, &q) and as_int64(cost, &c) and as_int64(realised_pnl, &r):
            self.q, self.c, self.r = q, c, r
            self.wide = None
        else:
            self.wide = (qty, cost, realised_pnl)
        return 0

    @property
    def qty(self):
        return pos_qty(self)

    @qty.setter
    def qty(self, value):
        self._amounts(value, pos_cost(self), pos_pnl(self))

    @property
    def cost(self):
        return pos_cost(self)

    @cost.setter
    def cost(self, value):
        self._amounts(pos_qty(self), value, pos_pnl(self))

    @property
    def realised_pnl(self):
        return pos_pnl(self)

    @realised_pnl.setter
    def realised_pnl(self, value):
        self._amounts(pos_qty(self), pos_cost(self), value)

    @property
    def is_cross(self):
        return self.leverage == 0

    @property
    def is_flat(self):
        return self.qty == 0

    def as_tuple(self):
        """The fields in their declared order."""
        return (self.account, self.symbol, self.risk_limit, self.qty, self.cost,
                self.realised_pnl, self.leverage, self.extra_margin)

    def __reduce__(self):
        return (copyreg.__newobj__, (Position,), self.as_tuple())

    def __setstate__(self, state):
        values = tuple(state)
        if len(values) != len(_FIELDS):
            raise InvalidInputError(f"a Position's state has {len(_FIELDS)} fields, "
                                    f"got {len(values)}")
        self._set(values)

    def __eq__(self, other):
        if type(other) is not Position:
            return NotImplemented
        return self.as_tuple() == (<Position>other).as_tuple()

    __hash__ = None  # mutable, compared by value

    def __repr__(self):
        return "Position(" + ", ".join(
            f"{k}={v!r}" for k, v in zip(_FIELDS, self.as_tuple())) + ")"


cdef Position flat_position(object account, str symbol, object risk_limit):
    cdef Position pos = Position.__new__(Position)
    pos._set((account, symbol, risk_limit, 0, 0, 0, 0.0, 0))
    return pos


cdef _check(tuple values):
    fields = dict(zip(_FIELDS, values))
    for name in _INTS:
        value = fields[name]
        if type(value) is not int:
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    account, symbol, leverage = fields["account"], fields["symbol"], fields["leverage"]
    if account < 0:
        raise InvalidInputError(f"account={account} must be >= 0")
    if not isinstance(symbol, str) or not symbol:
        raise TypeError(f"symbol must be a non-empty str, got {symbol!r}")
    if fields["risk_limit"] <= 0:
        raise InvalidInputError(f"risk_limit={fields['risk_limit']} must be > 0")
    if fields["extra_margin"] < 0:
        raise InvalidInputError(f"extra_margin={fields['extra_margin']} must be >= 0")
    if fields["qty"] == 0 and fields["cost"] != 0:
        raise InvalidInputError(f"a flat position must have cost 0, got cost={fields['cost']}")
    if isinstance(leverage, bool) or not isinstance(leverage, (int, float)):
        raise TypeError(f"leverage must be a float, got {type(leverage).__name__}")
    if not math.isfinite(leverage) or leverage < 0:
        raise InvalidLeverageError(f"leverage={leverage} must be 0 (cross) or > 0")
