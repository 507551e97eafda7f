"""The perpex exception hierarchy: the single source of truth.

Malformed input raises one of these and changes nothing. Each class also derives from the
matching builtin so that callers who catch ``ValueError``/``KeyError``/... keep working.
Business rejections (margin, post-only, FOK, limits) are *not* exceptions: they are order
outcomes with a BitMEX-style reason text.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error perpex raises on purpose."""


class InvalidInputError(EngineError, ValueError):
    """A value is malformed or out of range (generic)."""


class InvalidPriceError(InvalidInputError):
    """A price is NaN, infinite, non-positive, off the tick grid or otherwise unusable."""


class InvalidQuantityError(InvalidInputError):
    """A quantity is non-positive or not a multiple of the lot size."""


class InvalidLeverageError(InvalidInputError):
    """Leverage outside (0, max] for the instrument's risk limit."""


class DuplicateOrderIdError(InvalidInputError):
    """An order id (or a live client order id) is already in use, or not increasing."""


class NonMonotonicTimeError(InvalidInputError):
    """A command's timestamp is earlier than the previous command's."""


class InvalidConfigError(InvalidInputError):
    """An instrument, scenario or engine configuration is impossible."""


class UnknownOrderError(EngineError, KeyError):
    """The order id is unknown, already finished, or belongs to another account."""


class UnknownAccountError(EngineError, KeyError):
    """The account id is unknown."""


class UnknownSymbolError(EngineError, KeyError):
    """The symbol is not listed."""


class ArithmeticOverflowError(EngineError, OverflowError):
    """A value, or a product such as qty x price notional, does not fit in 64 bits."""


class InsufficientFundsError(EngineError, ValueError):
    """A withdrawal exceeds the available balance."""


class InsufficientMarginError(EngineError):
    """An order would breach initial margin (raised only by strict helpers; the Exchange
    reports this as a Rejected order)."""


class InvariantViolation(EngineError, AssertionError):
    """An internal invariant is broken; the engine halts."""


class EngineHaltedError(EngineError, RuntimeError):
    """The engine halted after an invariant violation and refuses further commands."""


class CorruptJournalError(EngineError, ValueError):
    """A journal record in the middle of the log is corrupt, or the sequence has a gap."""


class CorruptSnapshotError(EngineError, ValueError):
    """A snapshot does not verify (bad magic, version, checksum or hash)."""


__all__ = [name for name, obj in list(globals().items())
           if isinstance(obj, type) and issubclass(obj, Exception)]
