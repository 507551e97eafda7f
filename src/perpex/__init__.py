"""perpex: a BitMEX-style crypto derivatives exchange engine with a native C++ order book."""

from __future__ import annotations

from perpex import errors
from perpex._native import OrderBook as NativeOrderBook

__version__ = "0.1.0"

__all__ = ["errors", "NativeOrderBook", "__version__"]
