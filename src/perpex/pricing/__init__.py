"""The price pipeline: index -> mark -> funding, and dated-futures settlement.

Prices are ints in 1e-8 of the quote currency (``to_e8`` converts human numbers once, at
entry); times are ints of simulated milliseconds; rates are floats. Money appears only in
``funding_payments`` and ``settlement_fees``, each with a named rounding.
"""

from __future__ import annotations

from perpex.pricing._units import E8, to_e8
from perpex.pricing.funding import (
    Funding,
    FundingConfig,
    FundingFixing,
    capped_rate,
    clamped_rate,
    funding_payments,
    funding_times,
    interest_rate,
    mul_rate_half_away,
    next_funding_time,
    premium_index,
    twap,
)
from perpex.pricing.index import ConstituentStatus, Index, IndexConfig, IndexPrint
from perpex.pricing.mark import (
    FuturesFairBasis,
    ImpactPrices,
    LastPriceProtected,
    MovingAverageBasis,
    fair_basis_rate,
    funding_basis,
    futures_fair_price,
    impact_prices,
    perpetual_fair_price,
)
from perpex.pricing.settlement import (
    SETTLEMENT_WINDOW_MS,
    SettlementTwap,
    expiry_ms,
    settlement_fees,
    twap_e8,
)

__all__ = [
    "E8", "ConstituentStatus", "Funding", "FundingConfig", "FundingFixing",
    "FuturesFairBasis", "ImpactPrices", "Index", "IndexConfig", "IndexPrint",
    "LastPriceProtected", "MovingAverageBasis", "SETTLEMENT_WINDOW_MS", "SettlementTwap",
    "capped_rate", "clamped_rate", "expiry_ms", "fair_basis_rate", "funding_basis",
    "funding_payments", "funding_times", "futures_fair_price", "impact_prices",
    "interest_rate", "mul_rate_half_away", "next_funding_time", "perpetual_fair_price",
    "premium_index", "settlement_fees", "to_e8",
    "twap", "twap_e8",
]
