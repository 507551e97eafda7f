"""Accounts layer: the double-entry ledger, positions and fill math, and margin requirements.

All amounts are integer minor units of the settle currency; see :mod:`perpex.instruments` for
the signed value convention and :mod:`perpex.rounding` for every rounding rule.
"""

from __future__ import annotations

from perpex.accounts.ledger import (
    EXTERNAL,
    FEES,
    INSURANCE,
    CurrencyAudit,
    Ledger,
    LedgerKey,
    Transfer,
    cost,
    funding,
    key_name,
    wallet,
)
from perpex.accounts.position import Position, apply_fill, book_fee, book_fill, book_funding

__all__ = [
    "EXTERNAL",
    "FEES",
    "INSURANCE",
    "CurrencyAudit",
    "Ledger",
    "LedgerKey",
    "Position",
    "Transfer",
    "apply_fill",
    "book_fee",
    "book_fill",
    "book_funding",
    "cost",
    "funding",
    "key_name",
    "wallet",
]
