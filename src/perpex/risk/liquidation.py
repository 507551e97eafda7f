"""Liquidation policy as pure functions (MECHANICS §2.3, §2.4, §3, §7; "Decisions" 3 and 8).

:func:`assess` looks at one position at one mark price and answers two questions: is it below
maintenance, and which order should the liquidation engine send. It returns data; it never
touches an exchange, a book or a ledger, so the same call is usable from the Exchange, from a
reference model and from tests.

Position data (:class:`RiskPosition`) follows :mod:`perpex.risk.prices`: signed ``qty`` (long >
0), signed ``cost`` in the BitMEX convention, and ``collateral``, the money that absorbs losses
before the position is bankrupt (isolated: posInit; cross: posInit + available balance).

Modes (:class:`RiskMode`):

- BITMEX: trigger when the mark crosses the liquidation price of the configured variant, rounded
  to the tick towards the entry side (Decision 3), with MM%(authorised risk-limit steps), the
  exit fee and the funding reserve of the paying side. At the lowest risk limit the engine takes
  the whole position over at the bankruptcy price; above it, a FillOrKill reduces the position
  to the highest lower risk limit whose maintenance rate clears the mark (§7.1); if no lower
  limit does, the whole position is taken over.
- OKEX: margin ratio ``(collateral + UPnL) / |value at mark|`` against ``MMR(tier) + fee``.
  Tiers 1-2, or a ratio below tier 1's requirement, mean full takeover; otherwise the position
  is cut two tiers down (``to_tier1``: straight to tier 1) and kept at that tier's maximum.
- HUOBI: ``equity / used margin - adjustment factor <= 0``; tier 1 means full takeover, a higher
  tier is cut to the net-position limit of the highest lower tier that clears the trigger.

A pro-rata reduction keeps ``collateral / |cost|`` and therefore the margin ratio unchanged;
what changes is the requirement of the lower tier. That is why the "repeat until the new tier's
requirement is met" of §7.2 resolves in one plan: the plan walks down tier by tier (two at a
time in OKEx mode) until the requirement is met, and the Exchange re-assesses after the fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from fractions import Fraction

from perpex.accounts.margin import commission_to_close, funding_reserve, maintenance_margin
from perpex.errors import InvalidConfigError, InvalidInputError, InvalidLeverageError, InvalidPriceError
from perpex.instruments import HuobiTier, Instrument, TierTable, huobi_table
from perpex.presets import HUOBI_BTC_ADJUSTMENT_FACTORS_2019, OKEX_BTC_SWAP_TIERS
from perpex.risk.prices import (
    _RECOMMENDED, _V3, LiquidationVariant, bankruptcy_price, bankruptcy_ticks, liquidation_ticks,
    risk_prices, round_toward_entry,
)
from perpex.rounding import check_int, div_round_half_away, exact_rate

__all__ = [
    "Action",
    "Assessment",
    "HuobiTier",
    "LiquidationConfig",
    "LiquidationOrder",
    "RiskMode",
    "RiskPosition",
    "assess",
    "bitmex_liquidation_ticks",
    "placeable_ticks",
]


class RiskMode(Enum):
    BITMEX = "bitmex"
    OKEX = "okex"
    HUOBI = "huobi"


# the members as globals, here and for the mixins that test the mode: an enum class attribute
# costs several times a global (see perpex.rounding)
_BITMEX, _OKEX, _HUOBI = RiskMode.BITMEX, RiskMode.OKEX, RiskMode.HUOBI


class Action(Enum):
    NONE = "none"
    PARTIAL = "partial"
    FULL = "full"


def _rate(name: str, value: float) -> Fraction:
    return Fraction(*_exact(name, value))


def _exact(name: str, value: float) -> tuple[int, int]:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a float rate, got bool {value!r}")
    return exact_rate(value, name)


def _rate_sign(name: str, value: float) -> int:
    num = _exact(name, value)[0]
    return (num > 0) - (num < 0)




def _default_huobi() -> tuple[HuobiTier, ...]:
    return (HuobiTier(10**12, HUOBI_BTC_ADJUSTMENT_FACTORS_2019),)


@dataclass(frozen=True)
class LiquidationConfig:
    """Which liquidation policy runs, and its parameters.

    ``variant``: the liquidation-price variant of :mod:`perpex.risk.prices` (BitMEX mode).
    ``tiers`` / ``liquidation_fee_rate`` / ``to_tier1`` / ``clawback`` / ``price_offset_ticks``:
    OKEx mode (``tiers`` serves the contracts without a table of their own,
    ``Instrument.okex_tiers``); partial-liquidation orders are priced ``price_offset_ticks`` better than the
    bankruptcy price for the liquidated trader (perpex default 1 tick), takeovers at it.
    ``tier_leverage`` (OKEx mode): each tier's max leverage caps an isolated position of its
    size, so orders that would grow one past it, and leverage raised above it, are refused.
    Off by default: a tier table counts contracts whatever they are worth, so the configured
    one fits the coin-margined swap it comes from but not, say, XBTUSDT's tiny contracts; give
    such a contract its own ``okex_tiers`` before turning this on.
    ``repost_after_ms`` (OKEx mode): None (default) runs the cycle of §7.2 in one instant: the
    partial-liquidation order is ImmediateOrCancel, and what it does not fill is taken over at
    once. A number of milliseconds of simulated time (OKEx: about a minute, 60_000) makes the
    order rest in the book instead, with the position frozen (the trader's orders, cancels and
    margin changes in that contract are refused with "Position in liquidation"). The wait ends
    when the order does (filled, or canceled by ADL), or when that time has passed: at the
    instant itself when a clock command (``advance``, ``update_index``, ...) runs time through
    it (or when the clock starts, if it had not yet), or at the first mark update from then on,
    what is left of the order is canceled and the position is assessed again, which posts the
    next order, waiting from that instant, if it still needs one. A verdict of full
    liquidation meanwhile cancels the order and takes the position over.
    A frozen position may stay below its requirement while it waits: that is the cycle.
    ``huobi_tiers``: Huobi mode; ascending net-position limits with factors per leverage.
    """

    mode: RiskMode = RiskMode.BITMEX
    variant: LiquidationVariant = LiquidationVariant.RECOMMENDED
    tiers: TierTable = OKEX_BTC_SWAP_TIERS
    liquidation_fee_rate: float = 0.00075
    to_tier1: bool = False
    clawback: bool = False
    price_offset_ticks: int = 1
    tier_leverage: bool = False
    repost_after_ms: int | None = None
    huobi_tiers: tuple[HuobiTier, ...] = field(default_factory=_default_huobi)

    def __post_init__(self) -> None:
        if not isinstance(self.mode, RiskMode):
            raise InvalidConfigError(f"mode={self.mode!r} must be a RiskMode")
        if not isinstance(self.variant, LiquidationVariant):
            raise InvalidConfigError(f"variant={self.variant!r} must be a LiquidationVariant")
        if not isinstance(self.tiers, TierTable):
            raise InvalidConfigError(f"tiers={self.tiers!r} must be a TierTable")
        for name in ("to_tier1", "clawback", "tier_leverage"):
            if type(getattr(self, name)) is not bool:
                raise InvalidConfigError(f"{name}={getattr(self, name)!r} must be a bool")
        if self.mode is not _OKEX and (self.to_tier1 or self.clawback or self.tier_leverage
                                       or self.repost_after_ms is not None):
            raise InvalidConfigError(
                f"to_tier1={self.to_tier1} / clawback={self.clawback} / tier_leverage="
                f"{self.tier_leverage} / repost_after_ms={self.repost_after_ms} apply only to "
                f"mode=OKEX, not {self.mode.name}")
        if self.repost_after_ms is not None and (type(self.repost_after_ms) is not int
                                                 or self.repost_after_ms <= 0):
            raise InvalidConfigError(f"repost_after_ms={self.repost_after_ms!r} must be None or an "
                                     "int > 0 (milliseconds)")
        if self.mode is not _BITMEX and self.variant is not _RECOMMENDED:
            raise InvalidConfigError(
                f"variant={self.variant.name} applies only to mode=BITMEX, not {self.mode.name}")
        if not 0 <= _rate("liquidation_fee_rate", self.liquidation_fee_rate) < 1:
            raise InvalidConfigError(f"liquidation_fee_rate={self.liquidation_fee_rate} must be within [0, 1)")
        if type(self.price_offset_ticks) is not int or self.price_offset_ticks < 0:
            raise InvalidConfigError(f"price_offset_ticks={self.price_offset_ticks!r} must be an int >= 0")
        object.__setattr__(self, "huobi_tiers", huobi_table(self.huobi_tiers))


@dataclass(frozen=True)
class RiskPosition:
    """The position as the liquidation policy sees it.

    ``leverage``: 0 = cross, > 0 isolated (Huobi mode needs the chosen leverage, > 0).
    ``risk_steps``: authorised risk-limit steps (BitMEX); never below what ``|cost|`` needs.
    ``funding_rate``: the next funding rate, for the paying side's reserve (BitMEX).
    ``tier_contracts``: contracts that choose the tier when it is not ``|qty|`` (OKEx cross: the
    sum over expiries; Huobi: the net position summed over expiries).
    """

    instrument: Instrument
    qty: int
    cost: int
    collateral: int
    leverage: float = 0.0
    risk_steps: int = 0
    funding_rate: float = 0.0
    tier_contracts: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.instrument, Instrument):
            raise TypeError(f"instrument must be an Instrument, got {self.instrument!r}")
        for name in ("qty", "cost"):
            value = getattr(self, name)
            if type(value) is not int or value == 0:
                raise InvalidInputError(f"{name}={value!r} must be a non-zero int (an open position)")
        if (self.cost > 0) != ((self.qty > 0) != self.instrument.is_inverse):
            raise InvalidInputError(f"cost={self.cost} has the wrong sign for qty={self.qty}")
        check_int("collateral", self.collateral, 0)
        check_int("risk_steps", self.risk_steps, 0)
        # validated without building Fractions: this runs for every assessment
        if _rate_sign("leverage", self.leverage) < 0:
            raise InvalidLeverageError(f"leverage={self.leverage} must be 0 (cross) or > 0")
        _rate_sign("funding_rate", self.funding_rate)
        if self.tier_contracts is not None:
            check_int("tier_contracts", self.tier_contracts, abs(self.qty))

    @property
    def tier_count(self) -> int:
        """The contracts that choose the tier: ``tier_contracts``, else the position's own."""
        return abs(self.qty) if self.tier_contracts is None else self.tier_contracts


@dataclass(frozen=True)
class LiquidationOrder:
    """The order the liquidation engine sends (BitMEX spellings). ``takeover``: the engine
    takes the whole position at ``price_ticks`` (the bankruptcy price) and works it."""

    side: str
    qty: int
    price_ticks: int
    time_in_force: str
    takeover: bool


@dataclass(frozen=True)
class Assessment:
    """The verdict at one mark. ``margin_ratio`` / ``requirement`` are exact fractions in the
    mode's own terms (BitMEX: none; OKEx: ratio vs MMR + fee; Huobi: ratio after the factor
    vs 0). ``target_tier`` is risk-limit steps (BitMEX) or a tier number (OKEx, Huobi)."""

    liquidate: bool
    action: Action
    order: LiquidationOrder | None
    bankruptcy_ticks: int | None
    liquidation_ticks: int | None
    maintenance: int
    equity: int
    margin_ratio: Fraction | None
    requirement: Fraction | None
    current_tier: int
    target_tier: int | None
    keep_qty: int


def _safe(pos: RiskPosition, bankruptcy_ticks: int | None, liquidation_ticks: int | None,
          maintenance: int, equity: int, margin_ratio: Fraction | None,
          requirement: Fraction | None, current_tier: int) -> Assessment:
    """The verdict that leaves ``pos`` alone; a liquidating one is made from it by :func:`_act`."""
    return Assessment(False, Action.NONE, None, bankruptcy_ticks, liquidation_ticks, maintenance,
                      equity, margin_ratio, requirement, current_tier, None, abs(pos.qty))


def _act(safe: Assessment, action: Action, order: LiquidationOrder, target: int, keep: int) -> Assessment:
    return replace(safe, liquidate=True, action=action, order=order, target_tier=target, keep_qty=keep)


def _check_mark(mark_e8: int) -> None:
    if type(mark_e8) is not int or mark_e8 <= 0:
        raise InvalidPriceError(f"mark_e8={mark_e8!r} must be an int > 0")


def _scaled(pos: RiskPosition, keep: int) -> RiskPosition:
    """The position after a pro-rata close down to ``|keep|`` contracts: cost rounds like a
    partial close (half away), collateral floors (the exchange never credits a fraction)."""
    sign = 1 if pos.qty > 0 else -1
    return RiskPosition(
        pos.instrument, sign * keep, div_round_half_away(pos.cost * keep, abs(pos.qty)),
        pos.collateral * keep // abs(pos.qty), pos.leverage, pos.risk_steps, pos.funding_rate,
        None if pos.tier_contracts is None else pos.tier_contracts - (abs(pos.qty) - keep))


def _raw_bk_ticks(pos: RiskPosition, config: LiquidationConfig) -> int | None:
    """The bankruptcy price rounded towards the entry side (None: unreachable)."""
    inst = pos.instrument
    if config.variant is not _V3:  # integer arithmetic, same ticks
        return bankruptcy_ticks(inst, pos.qty, pos.cost, pos.collateral)
    return round_toward_entry(inst, pos.qty, bankruptcy_price(
        inst, pos.qty, pos.cost, pos.collateral, variant=config.variant))


def placeable_ticks(instrument: Instrument, qty: int, bk: int | None) -> int:
    """The bankruptcy price ``bk`` as a price an order can carry."""
    # an unreachable bankruptcy price (1x inverse short) or one beyond the price grid is
    # capped at the instrument's maximum price: the order must still be placeable
    if bk is None:
        return instrument.max_price_ticks if qty < 0 else 1
    return max(1, min(bk, instrument.max_price_ticks))


def _bk_ticks(pos: RiskPosition, config: LiquidationConfig) -> int:
    return placeable_ticks(pos.instrument, pos.qty, _raw_bk_ticks(pos, config))


def _close_side(qty: int) -> str:
    return "Sell" if qty > 0 else "Buy"


def _offset(pos: RiskPosition, ticks: int, offset: int) -> int:
    # "better for the liquidated trader": a sell above, a buy below the bankruptcy price
    inst = pos.instrument
    return min(inst.max_price_ticks, ticks + offset) if pos.qty > 0 else max(1, ticks - offset)


def _lot_floor(pos: RiskPosition, n: int) -> int:
    return n - n % pos.instrument.lot_size


# ---- BitMEX -------------------------------------------------------------------------------

def bitmex_liquidation_ticks(instrument: Instrument, qty: int, cost: int, collateral: int, steps: int,
                             funding_rate: float, variant: LiquidationVariant) -> int | None:
    """The BitMEX liquidation price of ``variant`` in ticks (rounded towards the entry side,
    None: unreachable) at MM%(``steps``), with the paying side's ``funding_rate`` reserve: the
    trigger both :func:`assess` and the Exchange's liquidation index use."""
    if variant is _RECOMMENDED:  # integer arithmetic, same ticks
        return liquidation_ticks(instrument, qty, cost, collateral, instrument.maint_rate(steps),
                                 funding_rate=funding_rate)
    return risk_prices(instrument, qty, cost, collateral, instrument.maint_rate(steps),
                       funding_rate=funding_rate, variant=variant).liquidation_ticks


def _mark_at_or_beyond(instrument: Instrument, qty: int, mark_e8: int, liq: int | None) -> bool:
    """Whether the mark has reached the liquidation price ``liq`` (ticks) of a position of
    ``qty`` contracts (never, without a liquidation price)."""
    if liq is None:
        return False
    liq_e8 = instrument.ticks_to_e8(liq)
    return mark_e8 <= liq_e8 if qty > 0 else mark_e8 >= liq_e8


def _keep_for_limit(pos: RiskPosition, limit: int) -> int:
    """Largest lot multiple whose pro-rata |cost| fits under the risk limit ``limit``."""
    n = abs(pos.qty)
    keep = _lot_floor(pos, min(n, limit * n // abs(pos.cost)))
    while keep > 0 and abs(div_round_half_away(pos.cost * keep, n)) > limit:
        keep -= pos.instrument.lot_size
    return keep


def _assess_bitmex(pos: RiskPosition, mark_e8: int, config: LiquidationConfig) -> Assessment:
    inst = pos.instrument
    steps = max(pos.risk_steps, inst.risk_steps(pos.cost))
    liq = bitmex_liquidation_ticks(inst, pos.qty, pos.cost, pos.collateral, steps, pos.funding_rate,
                                   config.variant)
    below = _mark_at_or_beyond(inst, pos.qty, mark_e8, liq)
    bk = _raw_bk_ticks(pos, config)
    comm = commission_to_close(inst, pos.qty, bk)
    maint = maintenance_margin(pos.cost, inst.maint_rate(steps), commission=comm,
                               funding=funding_reserve(inst, pos.qty, mark_e8, pos.funding_rate))
    equity = pos.collateral + comm + inst.unrealised_pnl(pos.qty, pos.cost, mark_e8)
    safe = _safe(pos, bk, liq, maint, equity, None, None, steps)
    if not below:
        return safe
    for target in range(steps - 1, -1, -1):
        keep = _keep_for_limit(pos, inst.risk_limit_for_steps(target))
        if keep <= 0:
            break
        if keep == abs(pos.qty):
            continue
        scaled = _scaled(pos, keep)
        if not _mark_at_or_beyond(inst, scaled.qty, mark_e8, bitmex_liquidation_ticks(
                inst, scaled.qty, scaled.cost, scaled.collateral, target, scaled.funding_rate,
                config.variant)):
            order = LiquidationOrder(_close_side(pos.qty), abs(pos.qty) - keep,
                                     placeable_ticks(inst, pos.qty, bk), "FillOrKill", False)
            return _act(safe, Action.PARTIAL, order, target, keep)
    order = LiquidationOrder(_close_side(pos.qty), abs(pos.qty), placeable_ticks(inst, pos.qty, bk),
                             "GoodTillCancel", True)
    return _act(safe, Action.FULL, order, 0, 0)


# ---- OKEx and Huobi -----------------------------------------------------------------------

def _equity_and_value(pos: RiskPosition, mark_e8: int) -> tuple[int, int]:
    inst = pos.instrument
    value = abs(inst.mark_value(pos.qty, mark_e8))
    return pos.collateral + inst.unrealised_pnl(pos.qty, pos.cost, mark_e8), value


def _full(pos: RiskPosition, safe: Assessment) -> Assessment:
    # the safe verdict holds the placeable bankruptcy price (_bk_ticks) of this position
    assert safe.bankruptcy_ticks is not None
    order = LiquidationOrder(_close_side(pos.qty), abs(pos.qty), safe.bankruptcy_ticks,
                             "GoodTillCancel", True)
    return _act(safe, Action.FULL, order, 1, 0)


def _partial(pos: RiskPosition, config: LiquidationConfig, keep: int, target: int,
             safe: Assessment) -> Assessment:
    offset = config.price_offset_ticks if config.mode is _OKEX else 0
    assert safe.bankruptcy_ticks is not None  # as in _full
    order = LiquidationOrder(_close_side(pos.qty), abs(pos.qty) - keep,
                             _offset(pos, safe.bankruptcy_ticks, offset), "GoodTillCancel", False)
    return _act(safe, Action.PARTIAL, order, target, keep)


def okex_tiers(inst: Instrument, config: LiquidationConfig) -> TierTable:
    """The OKEx tier table of ``inst``: its own, else the configured one."""
    return inst.okex_tiers if inst.okex_tiers is not None else config.tiers


def huobi_tiers(inst: Instrument, config: LiquidationConfig) -> tuple[HuobiTier, ...]:
    """The Huobi adjustment-factor table of ``inst``: its own, else the configured one."""
    return inst.huobi_tiers if inst.huobi_tiers is not None else config.huobi_tiers


def _assess_okex(pos: RiskPosition, mark_e8: int, config: LiquidationConfig) -> Assessment:
    table = okex_tiers(pos.instrument, config)
    fee = _rate("liquidation_fee_rate", config.liquidation_fee_rate)
    contracts = pos.tier_count
    tier = table.tier_for(contracts)
    equity, value = _equity_and_value(pos, mark_e8)
    ratio = Fraction(equity, value)

    def requirement(number: int) -> Fraction:
        return _rate("mmr", table.tier_for(_tier_max(table, number)).mmr) + fee

    need = requirement(tier.number)
    maint = -(-value * need.numerator // need.denominator)
    safe = _safe(pos, _bk_ticks(pos, config), None, maint, equity, ratio, need, tier.number)
    if ratio >= need:
        return safe
    if tier.number <= 2 or ratio < requirement(1):
        return _full(pos, safe)
    target = tier.number
    while True:
        target = 1 if config.to_tier1 else max(1, target - 2)
        if ratio >= requirement(target):
            break
    # other expiries that share the tier stay open, so only this position's contracts shrink
    others = contracts - abs(pos.qty)
    keep = _lot_floor(pos, max(0, _tier_max(table, target) - others))
    if keep <= 0:
        return _full(pos, safe)
    return _partial(pos, config, keep, target, safe)


def _tier_max(table: TierTable, number: int) -> int:
    if number <= len(table.tiers):
        return table.tiers[number - 1].max_contracts
    last = table.tiers[-1]
    return last.max_contracts + (number - len(table.tiers)) * table.extension_contracts


def _assess_huobi(pos: RiskPosition, mark_e8: int, config: LiquidationConfig) -> Assessment:
    lev_num, lev_den = exact_rate(pos.leverage, "leverage")
    if lev_num == 0 or lev_den != 1:
        raise InvalidLeverageError(f"leverage={pos.leverage} must be a whole leverage > 0 in Huobi mode")
    lev = lev_num
    tiers = huobi_tiers(pos.instrument, config)
    if lev not in tiers[0].factors:
        raise InvalidLeverageError(
            f"leverage={lev} is not in the adjustment-factor table {sorted(tiers[0].factors)}")
    net = pos.tier_count
    index = next((i for i, t in enumerate(tiers) if net <= t.max_net_contracts), None)
    if index is None:
        raise InvalidInputError(f"net position {net} is above the last Huobi tier "
                                f"limit {tiers[-1].max_net_contracts}")
    equity, value = _equity_and_value(pos, mark_e8)
    # used margin = position value / leverage, so equity / used margin = equity * L / value
    level = Fraction(equity * lev, value)

    def ratio(i: int) -> Fraction:
        return level - _rate("factor", tiers[i].factors[lev])

    maint = -(-value * _rate("factor", tiers[index].factors[lev]) // lev)
    current = ratio(index)
    safe = _safe(pos, _bk_ticks(pos, config), None, maint, equity, current, Fraction(0), index + 1)
    if current > 0:
        return safe
    others = net - abs(pos.qty)
    for i in range(index - 1, -1, -1):
        if ratio(i) > 0:
            keep = _lot_floor(pos, max(0, tiers[i].max_net_contracts - others))
            if keep > 0:
                return _partial(pos, config, keep, i + 1, safe)
            break
    return _full(pos, safe)


def assess(position: RiskPosition, mark_e8: int, config: LiquidationConfig) -> Assessment:
    """Whether ``position`` is below maintenance at ``mark_e8``, and the order that fixes it."""
    if not isinstance(position, RiskPosition):
        raise TypeError(f"position must be a RiskPosition, got {type(position).__name__}")
    if not isinstance(config, LiquidationConfig):
        raise TypeError(f"config must be a LiquidationConfig, got {type(config).__name__}")
    _check_mark(mark_e8)
    if config.mode is _BITMEX:
        return _assess_bitmex(position, mark_e8, config)
    if config.mode is _OKEX:
        return _assess_okex(position, mark_e8, config)
    return _assess_huobi(position, mark_e8, config)
