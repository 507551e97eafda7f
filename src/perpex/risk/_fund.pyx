# cython: language_level=3
"""The insurance fund's arithmetic for the liquidation engine's own orders (MECHANICS §8.1), in
C: a liquidation fill's surplus against the bankruptcy price, how many contracts a budget covers
at one price, and how far an order walks the book within it. :mod:`perpex.risk.insurance`
states the rules and publishes them, checked, as ``surplus`` and ``affordable_fill``; the
engine's steps call these with arguments they built (perpex._lots over the native book's
levels, perpex.exchange_deleverage over its depth lists), so each call is a C call there.

``terms`` is the contract's ``ContractValue.terms`` (None: valued through the instrument's
method), ``sign`` is 1 for a Sell closing a long and -1 for a Buy closing a short."""

from fractions import Fraction

from perpex.accounts._levels cimport LevelTerms, contract_value

# what a fill no worse than bankruptcy costs a linear or quanto budget: nothing, as a Fraction
# like the loss of a worse fill, so the budget's type does not depend on the price
cdef object _NOTHING = Fraction(0)


cpdef object surplus(inst, position_qty, fill_price, bankruptcy_price, terms=None):
    """The fund's surplus of a fill of ``position_qty`` contracts (signed as the position closed)
    at ``fill_price`` against ``bankruptcy_price`` (minor settle units; < 0: the fund pays)."""
    return (contract_value(inst, terms, position_qty, fill_price)
            - contract_value(inst, terms, position_qty, bankruptcy_price))


cdef object _per_contract(inst, terms, object vpt, int sign, fill_price, bankruptcy_price):
    """What one contract filled at ``fill_price`` charges the budget (<= 0: nothing); ``vpt``
    is a linear or quanto contract's value per tick (:func:`_value_per_tick`)."""
    if vpt is None:
        # inverse: whole units per contract, so the loss is exactly linear and an int stays
        # an int
        return -surplus(inst, sign, fill_price, bankruptcy_price, terms)
    # the exact (unrounded) loss of one contract, plus the per-fill rounding allowance
    ticks = sign * (bankruptcy_price - fill_price)
    return ticks * vpt + 1 if ticks > 0 else _NOTHING


cdef inline object _covered(budget, per, available):
    """How many of ``available`` contracts ``budget`` pays for at ``per`` each."""
    # // floors exactly for int and Fraction operands alike
    return available if per <= 0 else min(available, max(0, budget // per))


cdef object _value_per_tick(inst, terms):
    """None for an inverse contract, else its exact value per tick (once per call below, not
    per level)."""
    if (<LevelTerms?>terms).inverse if terms is not None else inst.is_inverse:
        return None
    return inst.value_per_tick()


cpdef tuple affordable(budget, fill_price, bankruptcy_price, inst, int sign, available,
                       terms=None):
    """``affordable_fill`` of valid arguments: (the contracts of ``available`` the budget
    covers at ``fill_price``, the part of the budget they use up in the worst case)."""
    per = _per_contract(inst, terms, _value_per_tick(inst, terms), sign, fill_price,
                        bankruptcy_price)
    n = _covered(budget, per, available)
    return n, per * n if per > 0 else per * 0  # zero of per's type: an int budget stays one


cpdef tuple walk(budget, levels, bankruptcy_price, inst, int sign, wanted, terms=None):
    """How far an engine order for ``wanted`` contracts walks ``levels`` ((price, contracts),
    best first) when its losses may total at most ``budget``: the contracts it takes and the
    price of the last level it reaches (0 when none), level by level as :func:`affordable`."""
    vpt = _value_per_tick(inst, terms)
    take, limit = 0, 0
    for px, level in levels:
        if take == wanted:
            break
        per = _per_contract(inst, terms, vpt, sign, px, bankruptcy_price)
        n = _covered(budget, per, min(level, wanted - take))
        if n <= 0:
            break
        if per > 0:
            budget -= per * n
        take += n
        limit = px
    return take, limit
