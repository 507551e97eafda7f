"""perpex: a BitMEX-style crypto derivatives exchange engine with a native C++ order book.

    from perpex import Exchange, presets
    ex = Exchange([presets.XBTUSD()])
"""

from __future__ import annotations

from typing import Any

from perpex import errors
from perpex._native import OrderBook as NativeOrderBook

__version__ = "0.1.0"

# Heavier layers load on first use, so `import perpex` stays cheap for book-only callers.
_LAZY = {
    "Exchange": ("perpex.exchange", "Exchange"),
    "Book": ("perpex.book", "Book"),
    "Execution": ("perpex.orders", "Execution"),
    "presets": ("perpex.presets", None),
    "instruments": ("perpex.instruments", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'perpex' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


__all__ = ["errors", "NativeOrderBook", "Exchange", "Book", "Execution", "presets", "instruments",
           "__version__"]
