from collections.abc import Iterable
from fractions import Fraction

from perpex.accounts._levels import LevelTerms
from perpex.instruments import Instrument

def surplus(inst: Instrument, position_qty: int, fill_price: int, bankruptcy_price: int,
            terms: LevelTerms | None = None) -> int: ...
def affordable(budget: int | Fraction, fill_price: int, bankruptcy_price: int, inst: Instrument,
               sign: int, available: int,
               terms: LevelTerms | None = None) -> tuple[int, int | Fraction]: ...
def walk(budget: int | Fraction, levels: Iterable[tuple[int, int]], bankruptcy_price: int,
         inst: Instrument, sign: int, wanted: int,
         terms: LevelTerms | None = None) -> tuple[int, int]: ...
