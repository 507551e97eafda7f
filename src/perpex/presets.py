"""Default instruments (MECHANICS "Decisions" 2) and reference tier tables, as data.

Each function returns a fresh :class:`~perpex.instruments.Instrument`; keyword arguments
override any field (``XBTUSD(maint_margin=0.004)`` gives the May-2020 vintage).
Where the sources give no value, the choice is marked "perpex default".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from perpex.instruments import ContractType, Instrument, Tier, TierTable

__all__ = [
    "ETHUSD",
    "HUOBI_BTC_ADJUSTMENT_FACTORS_2019",
    "OKEX_BTC_SWAP_TIERS",
    "XBTUSD",
    "XBTUSDT",
    "XBTZ",
    "XBTZ_DEFAULT_EXPIRY_MS",
]

HOUR_MS = 3_600_000
XBT = 100_000_000  # XBt per XBT
USDT = 1_000_000  # USDt per USDT

XBTZ_DEFAULT_EXPIRY_MS = 1_577_448_000_000
"""2019-12-27 12:00 UTC: last Friday of December 2019, the BitMEX quarterly settlement time."""


def _make(defaults: dict[str, Any], overrides: dict[str, Any]) -> Instrument:
    unknown = sorted(set(overrides) - set(Instrument.__dataclass_fields__) - {""})
    private = sorted(k for k in overrides if k.startswith("_"))
    if unknown or private:
        raise TypeError(f"unknown instrument field(s): {', '.join(unknown + private)}")
    return Instrument(**{**defaults, **overrides})


def XBTUSD(**overrides: Any) -> Instrument:
    """Inverse perpetual as of 2019-07 (§1.4): 1 contract = 1 USD, tick 0.5, IM 1% / MM 0.5%,
    risk limit 200 XBT + 100 XBT steps, maker -0.025% / taker 0.075%, funding 04/12/20 UTC."""
    return _make(dict(
        symbol="XBTUSD", contract_type=ContractType.INVERSE, underlying="XBT",
        quote_currency="USD", settle_currency="XBt", multiplier=-100_000_000,
        tick_size=Decimal("0.5"), lot_size=1, max_order_qty=10_000_000,
        max_price=Decimal("1000000"), init_margin=0.01, maint_margin=0.005,
        risk_limit=200 * XBT, risk_step=100 * XBT, maker_fee=-0.00025, taker_fee=0.00075,
        settlement_fee=0.0, funding_interval_ms=8 * HOUR_MS, funding_offset_ms=4 * HOUR_MS,
    ), overrides)


def ETHUSD(**overrides: Any) -> Instrument:
    """Quanto perpetual: 100 XBt per USD of ETH price per contract, tick 0.05; risk limit
    50 XBT + 50 XBT steps, IM 2% / MM 0.8% (~2020 table, §2.2); fees as XBTUSD."""
    return _make(dict(
        symbol="ETHUSD", contract_type=ContractType.QUANTO, underlying="ETH",
        quote_currency="USD", settle_currency="XBt", multiplier=100,
        tick_size=Decimal("0.05"), lot_size=1, max_order_qty=10_000_000,
        max_price=Decimal("100000"), init_margin=0.02, maint_margin=0.008,
        risk_limit=50 * XBT, risk_step=50 * XBT, maker_fee=-0.00025, taker_fee=0.00075,
        settlement_fee=0.0, funding_interval_ms=8 * HOUR_MS, funding_offset_ms=4 * HOUR_MS,
    ), overrides)


def XBTUSDT(**overrides: Any) -> Instrument:
    """Linear USDT perpetual, USDt-settled: multiplier 1 USDt per USD, i.e. 1 contract =
    0.000001 XBT; lot 1,000 contracts (0.001 XBT) keeps every value on whole USDt at tick 0.5.
    perpex defaults: risk limit 1,000,000 USDT + 500,000 USDT steps, IM 1% / MM 0.5%, fees and
    funding schedule as XBTUSD."""
    return _make(dict(
        symbol="XBTUSDT", contract_type=ContractType.LINEAR, underlying="XBT",
        quote_currency="USDT", settle_currency="USDt", multiplier=1,
        tick_size=Decimal("0.5"), lot_size=1_000, max_order_qty=10_000_000_000,
        max_price=Decimal("1000000"), init_margin=0.01, maint_margin=0.005,
        risk_limit=1_000_000 * USDT, risk_step=500_000 * USDT, maker_fee=-0.00025,
        taker_fee=0.00075, settlement_fee=0.0, funding_interval_ms=8 * HOUR_MS,
        funding_offset_ms=4 * HOUR_MS,
    ), overrides)


def XBTZ(expiry_ms: int = XBTZ_DEFAULT_EXPIRY_MS, **overrides: Any) -> Instrument:
    """Dated inverse future: XBTUSD's contract terms, no funding, settled at the 30-minute
    TWAP of the index ending at ``expiry_ms``, settlement fee 0.05% (§11)."""
    return XBTUSD(**{
        "symbol": "XBTZ", "funding_interval_ms": None, "funding_offset_ms": 0,
        "expiry_ms": expiry_ms, "settlement_window_ms": HOUR_MS // 2,
        "settlement_fee": 0.0005, **overrides,
    })


def _okex_tiers() -> TierTable:
    rows = [(0, 999, 0.005, 100.0), (1_000, 9_999, 0.01, 50.0), (10_000, 14_999, 0.015, 30.0),
            (15_000, 24_999, 0.02, 20.0), (25_000, 49_999, 0.025, 15.0),
            (50_000, 74_999, 0.03, 10.0), (75_000, 99_999, 0.035, 9.0)]
    return TierTable(
        tiers=tuple(Tier(i, lo, hi, mmr, lev) for i, (lo, hi, mmr, lev) in enumerate(rows, start=1)),
        extension_contracts=10_000, extension_mmr_step=0.005, extension_last_max=1_899_999)


OKEX_BTC_SWAP_TIERS: TierTable = _okex_tiers()
"""OKEx BTC coin-margined perpetual swap tiers from 31 May 2019 (O2): tiers 1-7 explicit,
then +10,000 contracts and +0.5% MMR per tier up to 1,890,000-1,899,999 at 93.5% (1x)."""

HUOBI_BTC_ADJUSTMENT_FACTORS_2019: dict[int, float] = {5: 0.03, 10: 0.08, 20: 0.15}
"""Huobi HBDM BTC adjustment factor by leverage for the first tier (H1's 2019 text, §2.4).
Margin ratio = equity / used margin - factor; equivalent MMR = factor / leverage. Further
published points (10x with 1,800 net contracts -> 10%; 20x with 11,000 -> 28%) come from
different schedules and are not a complete table."""
